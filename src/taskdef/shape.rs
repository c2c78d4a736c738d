//! Finding the task definitions and containers in each input shape, and reading
//! a container's fields in either spelling (ECS's camelCase, CloudFormation's
//! PascalCase).

use super::doc::{Node, Value};
use crate::report::render::escape_line;

pub struct Task<'a> {
    /// How the report names it: the family, or the template's logical id.
    pub label: String,
    pub kind: &'static str,
    /// The task-level object (`executionRoleArn`, …); none for a bare array.
    pub props: Option<&'a Node>,
    pub containers: Vec<&'a Node>,
    /// From `taskDefinitionArn`, when the file has one.
    pub region: Option<String>,
    /// CloudFormation's PascalCase keys, else ECS's camelCase.
    pub pascal: bool,
}

/// Whether an `environment` entry sets its variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given {
    Yes,
    /// Empty, blank, `null`, `AWS::NoValue`, or not a scalar: preflight sees the
    /// variable unset or empty (`env-missing`).
    Empty,
    /// An `Fn::If` one of whose branches sets nothing.
    Maybe,
}

pub struct EnvEntry<'a> {
    pub name: String,
    pub node: &'a Node,
    pub value_node: &'a Node,
    /// `None` for a value known only at deploy time (an intrinsic function).
    pub value: Option<String>,
    /// For an intrinsic value: the text CloudFormation substitutes into (a
    /// `Fn::Sub` template), to find dynamic references in.
    pub template: Option<String>,
    pub given: Given,
}

/// A secret's `valueFrom` as written.
pub enum ValueFromNode {
    Missing,
    /// `null`, a number, a list or a map: ECS takes a string only.
    NotString,
    /// Known only at deploy time.
    Intrinsic,
    Str(String),
}

pub struct SecretEntry<'a> {
    pub name: String,
    pub node: &'a Node,
    pub value_node: Option<&'a Node>,
    pub value_from: ValueFromNode,
}

/// A port mapping's container side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    Port(u32),
    /// `containerPortRange` (`"8000-8010"`).
    Range(u32, u32),
    /// Known only at deploy time.
    Unknown,
    /// No container port, or one ECS would refuse.
    Invalid,
}

/// A `healthCheck`'s `command`.
pub enum HealthCommand {
    /// Missing, empty, not a list, or `["NONE"]` (which turns the check off).
    Off,
    /// Known only at deploy time.
    Unknown,
    Cmd(Vec<String>),
}

pub struct Container<'a> {
    pub node: &'a Node,
    pub name: String,
    pub env_key: Option<&'a Node>,
    pub env: Vec<EnvEntry<'a>>,
    pub secrets: Vec<SecretEntry<'a>>,
    /// Where variables may come from that the lint cannot see.
    pub maybe_from: Option<&'static str>,
    pub ports_key: Option<&'a Node>,
    /// (container side, protocol). The whole list is `None` when it is itself
    /// an intrinsic.
    pub ports: Option<Vec<(Mapped, String)>>,
    /// The `healthCheck` node and its command.
    pub health: Option<(&'a Node, HealthCommand)>,
    pub essential: Option<(&'a Node, bool)>,
    /// The `readonlyRootFilesystem` node, when it is true.
    pub readonly_root: Option<&'a Node>,
    pub mounts: Vec<String>,
    pub log_config: bool,
}

fn text(n: &Node) -> Option<String> {
    n.scalar_text().map(|s| s.into_owned())
}

/// CloudFormation's quota on resources per template; more is not a template
/// CloudFormation deploys, and each task definition is a report section.
const MAX_RESOURCES: usize = 500;

/// How many names an error lists before it counts the rest.
const MAX_NAMES: usize = 10;

/// The task definitions in a file, whatever its shape.
pub fn tasks(root: &Node) -> Result<Vec<Task<'_>>, String> {
    fn seq<'n>(n: &'n Node, what: &str) -> Result<Vec<&'n Node>, String> {
        match n.as_seq() {
            Some(s) => Ok(s.iter().collect()),
            None if n.is_intrinsic() => Err(format!("`{what}` (line {}) is an intrinsic function, so its containers are known only at deploy time", n.line)),
            None => Err(format!("`{what}` (line {}) is not a list", n.line)),
        }
    }
    if root.as_seq().is_some() {
        return Ok(vec![Task {
            label: "containerDefinitions".into(),
            kind: "a bare `containerDefinitions` array",
            props: None,
            containers: seq(root, "containerDefinitions")?,
            region: None,
            pascal: false,
        }]);
    }
    if root.as_map().is_none() {
        return Err("the file holds neither an object nor a list".into());
    }
    if let Some(res) = root.field("Resources", true) {
        let res = res.as_map().unwrap_or_default();
        if res.len() > MAX_RESOURCES {
            return Err(format!(
                "the template has {} resources; CloudFormation takes at most {MAX_RESOURCES}",
                res.len()
            ));
        }
        let mut out = Vec::new();
        for (k, r) in res {
            if r.field("Type", true).and_then(Node::as_str) != Some("AWS::ECS::TaskDefinition") {
                continue;
            }
            let id = escape_line(k.as_str().unwrap_or("?")).into_owned();
            let props = r
                .field("Properties", true)
                .filter(|p| p.as_map().is_some())
                .ok_or_else(|| format!("resource `{id}` (line {}) has no `Properties`", k.line))?;
            let defs = props.field("ContainerDefinitions", true).ok_or_else(|| {
                format!(
                    "resource `{id}` (line {}) has no `ContainerDefinitions`",
                    k.line
                )
            })?;
            out.push(Task {
                label: id,
                kind: "CloudFormation `AWS::ECS::TaskDefinition`",
                props: Some(props),
                containers: seq(defs, "ContainerDefinitions")?,
                region: None,
                pascal: true,
            });
        }
        if out.is_empty() {
            return Err(
                "the CloudFormation template has no `AWS::ECS::TaskDefinition` resource".into(),
            );
        }
        return Ok(out);
    }
    let (td, kind) = match root.field("taskDefinition", false) {
        Some(td) if td.as_map().is_some() => (td, "`describe-task-definition` output"),
        _ if root.field("taskDefinitionArn", false).is_some() => (root, "a task definition"),
        _ => (root, "`register-task-definition` input"),
    };
    let defs = td.field("containerDefinitions", false).ok_or(
        "the file has no `containerDefinitions`, `taskDefinition` or CloudFormation `Resources`",
    )?;
    let region = td
        .field("taskDefinitionArn", false)
        .and_then(Node::as_str)
        .and_then(|a| a.split(':').nth(3))
        .filter(|r| !r.is_empty())
        .map(String::from);
    Ok(vec![Task {
        label: td
            .field("family", false)
            .and_then(Node::as_str)
            .map(|f| format!("family `{}`", escape_line(f)))
            .unwrap_or_else(|| "task definition".into()),
        kind,
        props: Some(td),
        containers: seq(defs, "containerDefinitions")?,
        region,
        pascal: false,
    }])
}

/// The repository's last component of an image reference (`…/scalemap-api:v1`
/// → `scalemap-api`).
pub fn repository_of(image: &str) -> Option<String> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    let repo = last.split(':').next().unwrap_or(last);
    (!repo.is_empty()).then(|| repo.to_string())
}

/// An image's text with what CloudFormation fills in left out: a `!Sub`/`Fn::Sub`
/// template as written, an `Fn::Join`'s literal parts joined. Only for finding
/// the spec and ECR; a repository name that is itself a substitution is not
/// guessed.
pub fn template_text(n: &Node) -> Option<String> {
    if let Some(s) = n.as_str() {
        return Some(s.to_string());
    }
    if let (Some(_), Value::String(s)) = (&n.tag, &n.value) {
        return Some(s.clone());
    }
    if let (Some(t), Value::Seq(v)) = (&n.tag, &n.value) {
        if t == "!Sub" {
            return v.first().and_then(Node::as_str).map(String::from);
        }
    }
    if let Some(sub) = n.get("Fn::Sub").filter(|_| n.is_intrinsic()) {
        return sub
            .as_str()
            .or_else(|| sub.as_seq().and_then(|v| v.first()).and_then(Node::as_str))
            .map(String::from);
    }
    let parts = n
        .get("Fn::Join")
        .filter(|_| n.is_intrinsic())?
        .as_seq()?
        .get(1)?
        .as_seq()?;
    Some(parts.iter().filter_map(Node::as_str).collect())
}

/// The repository a container runs, when its image says.
fn container_repository(c: &Node, pascal: bool) -> Option<String> {
    c.field("image", pascal)
        .and_then(template_text)
        .and_then(|i| repository_of(&i))
        .filter(|r| !r.contains(['$', '{', '}']))
}

/// The repositories the file's containers run, for finding `images/<repo>.toml`.
pub fn image_repositories(root: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for t in tasks(root).unwrap_or_default() {
        for c in t.containers {
            if let Some(r) = container_repository(c, t.pascal) {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
    }
    out
}

pub fn name_of(c: &Node, pascal: bool) -> String {
    c.field("name", pascal)
        .and_then(Node::as_str)
        .unwrap_or("(unnamed)")
        .to_string()
}

fn essential(c: &Node, pascal: bool) -> bool {
    c.field("essential", pascal)
        .and_then(Node::as_bool)
        .unwrap_or(true)
}

/// At most [`MAX_NAMES`] names, quoted and escaped, then how many more.
fn list_names(names: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = names.collect();
    let mut out: Vec<String> = all
        .iter()
        .take(MAX_NAMES)
        .map(|n| format!("`{}`", escape_line(n)))
        .collect();
    if all.len() > MAX_NAMES {
        out.push(format!("and {} more", all.len() - MAX_NAMES));
    }
    out.join(", ")
}

/// A picked container and the repository its image names, if any.
pub type Picked<'a> = (&'a Task<'a>, Container<'a>, Option<String>);

/// The containers to check: `--container`, else those running `--image`'s
/// repository, else those whose repository has a spec (`has_spec`), else each
/// task's only (essential) container. A container given by an intrinsic
/// (`Fn::If`) is no candidate.
pub fn pick<'a>(
    tasks: &'a [Task<'a>],
    container: Option<&str>,
    repository: Option<&str>,
    has_spec: &dyn Fn(&str) -> bool,
) -> Result<Vec<Picked<'a>>, String> {
    let all = || {
        tasks.iter().flat_map(|t| {
            t.containers
                .iter()
                .filter(|c| !c.is_intrinsic())
                .map(move |c| (t, *c))
        })
    };
    let done = |got: Vec<(&'a Task<'a>, &'a Node)>| {
        got.into_iter()
            .map(|(t, c)| Ok((t, read(c, t.pascal)?, container_repository(c, t.pascal))))
            .collect::<Result<Vec<_>, String>>()
    };
    if let Some(want) = container {
        let got: Vec<_> = all()
            .filter(|(t, c)| name_of(c, t.pascal) == want)
            .collect();
        if got.is_empty() {
            return Err(format!(
                "no container is named `{}` (the file has {})",
                escape_line(want),
                list_names(all().map(|(t, c)| name_of(c, t.pascal)))
            ));
        }
        return done(got);
    }
    if let Some(repo) = repository {
        let got: Vec<_> = all()
            .filter(|(t, c)| container_repository(c, t.pascal).as_deref() == Some(repo))
            .collect();
        if !got.is_empty() {
            return done(got);
        }
    }
    let with_spec: Vec<_> = all()
        .filter(|(t, c)| container_repository(c, t.pascal).is_some_and(|r| has_spec(&r)))
        .collect();
    if !with_spec.is_empty() {
        return done(with_spec);
    }
    let mut out = Vec::new();
    for t in tasks {
        let named: Vec<&Node> = t
            .containers
            .iter()
            .copied()
            .filter(|c| !c.is_intrinsic())
            .collect();
        let pool: Vec<&Node> = if named.len() == 1 {
            named
        } else {
            named
                .into_iter()
                .filter(|c| essential(c, t.pascal))
                .collect()
        };
        match pool.as_slice() {
            [one] => out.push((t, *one)),
            [] => return Err(format!("{} has no containers", t.label)),
            many => {
                return Err(format!(
                    "{} has {} essential containers ({}), so which one is the app is not clear",
                    t.label,
                    many.len(),
                    list_names(many.iter().map(|c| name_of(c, t.pascal)))
                ))
            }
        }
    }
    done(out)
}

/// How an `environment` value sets its variable.
fn given(v: &Node) -> Given {
    if v.is_no_value() {
        return Given::Empty;
    }
    if let Some((a, b)) = v.if_branches() {
        let unset = |n: &Node| given(n) != Given::Yes;
        return if unset(a) || unset(b) {
            Given::Maybe
        } else {
            Given::Yes
        };
    }
    if v.is_intrinsic() {
        return Given::Yes;
    }
    match v.scalar_text() {
        Some(t) if !t.trim().is_empty() => Given::Yes,
        _ => Given::Empty,
    }
}

fn read(c: &Node, pascal: bool) -> Result<Container<'_>, String> {
    let list = |key: &str| -> Result<Option<&Node>, String> {
        match c.field_entry(key, pascal) {
            Some((k, v)) if v.as_seq().is_none() && !v.is_intrinsic() && v.value != Value::Null => {
                Err(format!(
                    "`{}` (line {}) of container `{}` is not a list",
                    k.as_str().unwrap_or(key),
                    k.line,
                    escape_line(&name_of(c, pascal))
                ))
            }
            other => Ok(other.map(|(_, v)| v)),
        }
    };
    let env_key = c.field_entry("environment", pascal).map(|(k, _)| k);
    let mut maybe_from = None;
    let mut env = Vec::new();
    if let Some(list) = list("environment")? {
        match list.as_seq() {
            Some(items) => {
                for e in items {
                    if e.is_intrinsic() {
                        maybe_from = Some("an `environment` entry chosen at deploy time");
                        continue;
                    }
                    let (Some(name), Some(v)) = (
                        e.field("name", pascal).and_then(Node::as_str),
                        e.field("value", pascal),
                    ) else {
                        continue;
                    };
                    env.push(EnvEntry {
                        name: name.to_string(),
                        node: e,
                        value_node: v,
                        value: text(v),
                        template: v.is_intrinsic().then(|| template_text(v)).flatten(),
                        given: given(v),
                    });
                }
            }
            None if list.is_intrinsic() => {
                maybe_from = Some("an `environment` list known only at deploy time")
            }
            None => {}
        }
    }
    let mut secrets = Vec::new();
    match list("secrets")? {
        Some(l) if l.is_intrinsic() => {
            maybe_from = Some("a `secrets` list known only at deploy time")
        }
        Some(l) => {
            for s in l.as_seq().unwrap_or_default() {
                if s.is_intrinsic() {
                    maybe_from = Some("a `secrets` entry chosen at deploy time");
                    continue;
                }
                let Some(name) = s.field("name", pascal).and_then(Node::as_str) else {
                    continue;
                };
                let vf = s.field("valueFrom", pascal);
                secrets.push(SecretEntry {
                    name: name.to_string(),
                    node: s,
                    value_node: vf,
                    value_from: match vf {
                        None => ValueFromNode::Missing,
                        Some(v) if v.is_intrinsic() => ValueFromNode::Intrinsic,
                        Some(v) => match v.as_str() {
                            Some(s) => ValueFromNode::Str(s.to_string()),
                            None => ValueFromNode::NotString,
                        },
                    },
                });
            }
        }
        None => {}
    }
    if c.field("environmentFiles", pascal)
        .is_some_and(|f| f.is_intrinsic() || f.as_seq().is_some_and(|s| !s.is_empty()))
    {
        maybe_from = Some("`environmentFiles`, whose contents (in S3) are not read");
    }
    let ports_key = c.field_entry("portMappings", pascal).map(|(k, _)| k);
    let ports = match list("portMappings")? {
        None => Some(vec![]),
        Some(p) if p.is_intrinsic() => None,
        Some(p) => Some(
            p.as_seq()
                .unwrap_or_default()
                .iter()
                .map(|m| {
                    let port = |n: &Node| -> Mapped {
                        if n.is_intrinsic() {
                            return Mapped::Unknown;
                        }
                        match text(n).and_then(|t| t.parse::<u32>().ok()) {
                            Some(p) if (1..=65535).contains(&p) => Mapped::Port(p),
                            _ => Mapped::Invalid,
                        }
                    };
                    let side = if m.is_intrinsic() {
                        Mapped::Unknown
                    } else if let Some(p) = m.field("containerPort", pascal) {
                        port(p)
                    } else if let Some(r) = m.field("containerPortRange", pascal) {
                        if r.is_intrinsic() {
                            Mapped::Unknown
                        } else {
                            r.as_str()
                                .and_then(|r| r.split_once('-'))
                                .and_then(|(a, b)| {
                                    Some((
                                        a.trim().parse::<u32>().ok()?,
                                        b.trim().parse::<u32>().ok()?,
                                    ))
                                })
                                .filter(|(a, b)| a <= b)
                                .map_or(Mapped::Invalid, |(a, b)| Mapped::Range(a, b))
                        }
                    } else {
                        Mapped::Invalid
                    };
                    let proto = m
                        .field("protocol", pascal)
                        .and_then(Node::as_str)
                        .unwrap_or("tcp")
                        .to_ascii_lowercase();
                    (side, proto)
                })
                .collect(),
        ),
    };
    let health = c
        .field("healthCheck", pascal)
        .filter(|h| !matches!(h.value, Value::Null) && !h.is_no_value())
        .map(|h| {
            if h.is_intrinsic() {
                return (h, HealthCommand::Unknown);
            }
            let cmd = match h.field("command", pascal) {
                Some(cmd) if cmd.is_intrinsic() => HealthCommand::Unknown,
                Some(cmd) => match cmd.as_seq() {
                    Some(items) if items.iter().any(Node::is_intrinsic) => HealthCommand::Unknown,
                    Some(items) => {
                        let v: Vec<String> = items.iter().filter_map(text).collect();
                        if v.is_empty() || v[0] == "NONE" {
                            HealthCommand::Off
                        } else {
                            HealthCommand::Cmd(v)
                        }
                    }
                    None => HealthCommand::Off,
                },
                None => HealthCommand::Off,
            };
            (h, cmd)
        });
    let log_config = c.field("logConfiguration", pascal).is_some_and(|l| {
        l.is_intrinsic()
            || l.field("logDriver", pascal)
                .is_some_and(|d| d.is_intrinsic() || d.as_str().is_some_and(|s| !s.is_empty()))
    });
    Ok(Container {
        node: c,
        name: name_of(c, pascal),
        env_key,
        env,
        secrets,
        maybe_from,
        ports_key,
        ports,
        health,
        essential: c
            .field("essential", pascal)
            .and_then(|n| n.as_bool().map(|b| (n, b))),
        readonly_root: c
            .field("readonlyRootFilesystem", pascal)
            .filter(|n| n.as_bool() == Some(true)),
        mounts: c
            .field("mountPoints", pascal)
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                m.field("containerPath", pascal)
                    .and_then(Node::as_str)
                    .map(String::from)
            })
            .collect(),
        log_config,
    })
}

/// What in a container ECS fetches with the task execution role: `secrets`, a
/// private-registry login, a log driver's `secretOptions`, an ECR image, the
/// `awslogs` driver
/// (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html>).
pub fn execution_role_needs(c: &Node, pascal: bool) -> Vec<&'static str> {
    fn f<'n>(n: &'n Node, key: &str, pascal: bool) -> Option<&'n Node> {
        n.field(key, pascal)
            .filter(|v| v.value != Value::Null && !v.is_no_value())
    }
    let nonempty = |n: Option<&Node>| {
        n.is_some_and(|v| v.is_intrinsic() || v.as_seq().is_some_and(|s| !s.is_empty()))
    };
    let mut out = Vec::new();
    if nonempty(f(c, "secrets", pascal)) {
        out.push("`secrets`");
    }
    if f(c, "repositoryCredentials", pascal).is_some() {
        out.push("`repositoryCredentials`");
    }
    if f(c, "image", pascal)
        .and_then(template_text)
        .is_some_and(|i| i.contains(".dkr.ecr."))
    {
        out.push("an ECR image");
    }
    if let Some(l) = f(c, "logConfiguration", pascal) {
        if nonempty(f(l, "secretOptions", pascal)) {
            out.push("log `secretOptions`");
        }
        if f(l, "logDriver", pascal).and_then(Node::as_str) == Some("awslogs") {
            out.push("the `awslogs` log driver");
        }
    }
    out
}
