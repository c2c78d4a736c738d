//! Finding the task definitions and containers in each input shape, and reading
//! a container's fields in either spelling (ECS's camelCase, CloudFormation's
//! PascalCase).

use super::doc::{Node, Value};

pub struct Task<'a> {
    /// How the report names it: the family, or the template's logical id.
    pub label: String,
    pub kind: &'static str,
    /// The task-level object (`executionRoleArn`, …); none for a bare array.
    pub props: Option<&'a Node>,
    pub containers: Vec<&'a Node>,
    /// From `taskDefinitionArn`, when the file has one.
    pub region: Option<String>,
}

pub struct EnvEntry<'a> {
    pub name: String,
    pub node: &'a Node,
    pub value_node: &'a Node,
    /// `None` for a value known only at deploy time (an intrinsic function).
    pub value: Option<String>,
}

pub struct SecretEntry<'a> {
    pub name: String,
    pub node: &'a Node,
    pub value_node: Option<&'a Node>,
    /// `None` when missing or known only at deploy time.
    pub value_from: Option<String>,
}

pub struct Container<'a> {
    pub node: &'a Node,
    pub name: String,
    pub image: Option<String>,
    pub env_key: Option<&'a Node>,
    pub env: Vec<EnvEntry<'a>>,
    pub secrets: Vec<SecretEntry<'a>>,
    /// Where variables may come from that the lint cannot see.
    pub maybe_from: Option<&'static str>,
    pub ports_key: Option<&'a Node>,
    /// (containerPort, protocol); a port known only at deploy time is `None`.
    /// The whole list is `None` when it is itself an intrinsic.
    pub ports: Option<Vec<(Option<String>, String)>>,
    /// The `healthCheck` node and its command joined with spaces (`None` when
    /// the command is known only at deploy time).
    pub health: Option<(&'a Node, Option<String>)>,
    pub essential: Option<(&'a Node, bool)>,
    /// The `readonlyRootFilesystem` node, when it is true.
    pub readonly_root: Option<&'a Node>,
    pub mounts: Vec<String>,
    pub log_config: bool,
    pub log_driver: Option<String>,
}

fn text(n: &Node) -> Option<String> {
    n.scalar_text().map(|s| s.into_owned())
}

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
        }]);
    }
    if root.as_map().is_none() {
        return Err("the file holds neither an object nor a list".into());
    }
    if let Some(res) = root.get("Resources") {
        let mut out = Vec::new();
        for (k, r) in res.as_map().unwrap_or_default() {
            if r.get("Type").and_then(Node::as_str) != Some("AWS::ECS::TaskDefinition") {
                continue;
            }
            let id = k.as_str().unwrap_or("?").to_string();
            let props = r
                .get("Properties")
                .filter(|p| p.as_map().is_some())
                .ok_or_else(|| format!("resource `{id}` (line {}) has no `Properties`", k.line))?;
            let defs = props.get("ContainerDefinitions").ok_or_else(|| {
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
            });
        }
        if out.is_empty() {
            return Err(
                "the CloudFormation template has no `AWS::ECS::TaskDefinition` resource".into(),
            );
        }
        return Ok(out);
    }
    let (td, kind) = match root.get("taskDefinition") {
        Some(td) if td.as_map().is_some() => (td, "`describe-task-definition` output"),
        _ if root.get("taskDefinitionArn").is_some() => (root, "a task definition"),
        _ => (root, "`register-task-definition` input"),
    };
    let defs = td.get("containerDefinitions").ok_or(
        "the file has no `containerDefinitions`, `taskDefinition` or CloudFormation `Resources`",
    )?;
    let region = td
        .get("taskDefinitionArn")
        .and_then(Node::as_str)
        .and_then(|a| a.split(':').nth(3))
        .filter(|r| !r.is_empty())
        .map(String::from);
    Ok(vec![Task {
        label: td
            .get("family")
            .and_then(Node::as_str)
            .map(|f| format!("family `{f}`"))
            .unwrap_or_else(|| "task definition".into()),
        kind,
        props: Some(td),
        containers: seq(defs, "containerDefinitions")?,
        region,
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
/// the spec; a repository name that is itself a substitution is not guessed.
fn image_text(n: &Node) -> Option<String> {
    if let Some(s) = n.as_str() {
        return Some(s.to_string());
    }
    if let (Some(_), Value::String(s)) = (&n.tag, &n.value) {
        return Some(s.clone());
    }
    if let Some(sub) = n.get("Fn::Sub") {
        return sub
            .as_str()
            .or_else(|| sub.as_seq().and_then(|v| v.first()).and_then(Node::as_str))
            .map(String::from);
    }
    let parts = n.get("Fn::Join")?.as_seq()?.get(1)?.as_seq()?;
    Some(parts.iter().filter_map(Node::as_str).collect())
}

/// The repositories the file's containers run, for finding `images/<repo>.toml`.
pub fn image_repositories(root: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for t in tasks(root).unwrap_or_default() {
        for c in t.containers {
            let repo = c
                .get("image")
                .and_then(image_text)
                .and_then(|i| repository_of(&i))
                .filter(|r| !r.contains(['$', '{', '}']));
            if let Some(r) = repo {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
    }
    out
}

fn name_of(c: &Node) -> String {
    c.get("name")
        .and_then(Node::as_str)
        .unwrap_or("(unnamed)")
        .to_string()
}

fn essential(c: &Node) -> bool {
    c.get("essential").and_then(Node::as_bool).unwrap_or(true)
}

/// The containers to check: `--container`, else those running `--image`'s
/// repository, else each task's only (essential) container.
pub fn pick<'a>(
    tasks: &'a [Task<'a>],
    container: Option<&str>,
    repository: Option<&str>,
) -> Result<Vec<(&'a Task<'a>, Container<'a>)>, String> {
    let all = || {
        tasks
            .iter()
            .flat_map(|t| t.containers.iter().map(move |c| (t, *c)))
    };
    let names = || {
        all()
            .map(|(_, c)| format!("`{}`", crate::report::render::escape_line(&name_of(c))))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(want) = container {
        let got: Vec<_> = all().filter(|(_, c)| name_of(c) == want).collect();
        if got.is_empty() {
            return Err(format!(
                "no container is named `{}` (the file has {})",
                crate::report::render::escape_line(want),
                names()
            ));
        }
        return got.into_iter().map(|(t, c)| Ok((t, read(c)))).collect();
    }
    if let Some(repo) = repository {
        let got: Vec<_> = all()
            .filter(|(_, c)| {
                c.get("image")
                    .and_then(Node::as_str)
                    .and_then(repository_of)
                    .as_deref()
                    == Some(repo)
            })
            .collect();
        if !got.is_empty() {
            return Ok(got.into_iter().map(|(t, c)| (t, read(c))).collect());
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        let pool: Vec<&Node> = if t.containers.len() == 1 {
            t.containers.clone()
        } else {
            t.containers
                .iter()
                .copied()
                .filter(|c| essential(c))
                .collect()
        };
        match pool.as_slice() {
            [one] => out.push((t, read(one))),
            [] => return Err(format!("{} has no containers", t.label)),
            many => {
                return Err(format!(
                    "{} has {} essential containers ({}), so which one is the app is not clear",
                    t.label,
                    many.len(),
                    many.iter()
                        .map(|c| format!("`{}`", crate::report::render::escape_line(&name_of(c))))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
    }
    Ok(out)
}

fn read(c: &Node) -> Container<'_> {
    let env_key = c.entry("environment").map(|(k, _)| k);
    let env_node = c.get("environment");
    let mut maybe_from = None;
    let mut env = Vec::new();
    if let Some(list) = env_node {
        match list.as_seq() {
            Some(items) => {
                for e in items {
                    let (Some(name), Some(v)) =
                        (e.get("name").and_then(Node::as_str), e.get("value"))
                    else {
                        continue;
                    };
                    env.push(EnvEntry {
                        name: name.to_string(),
                        node: e,
                        value_node: v,
                        value: text(v),
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
    for s in c.get("secrets").and_then(Node::as_seq).unwrap_or_default() {
        let Some(name) = s.get("name").and_then(Node::as_str) else {
            continue;
        };
        let vf = s.get("valueFrom");
        secrets.push(SecretEntry {
            name: name.to_string(),
            node: s,
            value_node: vf,
            value_from: vf.and_then(Node::as_str).map(String::from),
        });
    }
    if c.get("environmentFiles")
        .is_some_and(|f| f.is_intrinsic() || f.as_seq().is_some_and(|s| !s.is_empty()))
    {
        maybe_from = Some("`environmentFiles`, whose contents (in S3) are not read");
    }
    let ports_key = c.entry("portMappings").map(|(k, _)| k);
    let ports = match c.get("portMappings") {
        None => Some(vec![]),
        Some(p) if p.is_intrinsic() => None,
        Some(p) => Some(
            p.as_seq()
                .unwrap_or_default()
                .iter()
                .map(|m| {
                    let port = m.get("containerPort").and_then(text);
                    let proto = m
                        .get("protocol")
                        .and_then(Node::as_str)
                        .unwrap_or("tcp")
                        .to_ascii_lowercase();
                    (port, proto)
                })
                .collect(),
        ),
    };
    let health = c
        .get("healthCheck")
        .filter(|h| !matches!(h.value, Value::Null))
        .map(|h| {
            let cmd = h.get("command").and_then(|cmd| {
                cmd.as_seq()?
                    .iter()
                    .map(text)
                    .collect::<Option<Vec<_>>>()
                    .map(|v| v.join(" "))
            });
            (h, cmd)
        });
    let log = c
        .get("logConfiguration")
        .filter(|l| !matches!(l.value, Value::Null));
    Container {
        node: c,
        name: name_of(c),
        image: c.get("image").and_then(Node::as_str).map(String::from),
        env_key,
        env,
        secrets,
        maybe_from,
        ports_key,
        ports,
        health,
        essential: c.get("essential").and_then(|n| n.as_bool().map(|b| (n, b))),
        readonly_root: c
            .get("readonlyRootFilesystem")
            .filter(|n| n.as_bool() == Some(true)),
        mounts: c
            .get("mountPoints")
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .filter_map(|m| {
                m.get("containerPath")
                    .and_then(Node::as_str)
                    .map(String::from)
            })
            .collect(),
        log_config: log.is_some(),
        log_driver: log
            .and_then(|l| l.get("logDriver"))
            .and_then(Node::as_str)
            .map(String::from),
    }
}
