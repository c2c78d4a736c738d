//! The deploy-time lint: an ECS task definition checked against the image's spec
//! (the runtime part, which preflight enforces when the container starts) and,
//! with `--image`, the image's config. What preflight would report at container
//! start, when a deploy is already rolling, is reported here in CI instead, each
//! finding at its line in the task-definition file.
//!
//! Inputs ([`shape`]): `aws ecs describe-task-definition` output (with or without
//! its `taskDefinition` wrapper), `register-task-definition` input, a bare
//! `containerDefinitions` array, and CloudFormation templates in JSON or YAML
//! (`cdk synth` output included). An intrinsic function (`Ref`, `Fn::Sub`,
//! `!GetAtt`, …) counts as provided, value unknown at lint time. No value from
//! the file is ever printed: any of them may be a secret pasted in the wrong place.

pub mod doc;
mod fuzz;
pub use fuzz::fuzz_taskdef;
mod shape;

use crate::report::{CheckOutcome, Code, Finding, Location, Section};
use crate::spec::runtime::RuntimeSpec;
use crate::spec::SpecFile;
use doc::Node;
pub use shape::{image_repositories, repository_of};
use shape::{Container, Given, HealthCommand, Mapped, Task, ValueFromNode};
use std::path::Path;

/// What the lint needs from the image's config (`--image`).
#[derive(Debug, Clone, Default)]
pub struct ImageFacts {
    /// The repository's last component (`scalemap-api`), to pick the container.
    pub repository: Option<String>,
    /// `ENV`, as `NAME=VALUE` entries split once.
    pub env: Vec<(String, String)>,
    /// `EXPOSE`, normalised (`3000/tcp`).
    pub ports: Vec<String>,
    pub workdir: Option<String>,
}

/// Why a task-definition file could not be checked at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    #[error("cannot read task definition `{path}`: {why}")]
    Read { path: String, why: String },
    #[error("{path}:{line}:{col}: {message}")]
    Parse {
        path: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Shape { path: String, message: String },
}

impl LintError {
    pub fn hint(&self) -> Option<String> {
        match self {
            LintError::Shape { .. } => Some("FILE is `aws ecs describe-task-definition` output, `register-task-definition` input, a `containerDefinitions` array, or a CloudFormation template with an `AWS::ECS::TaskDefinition`; pick a container with `--container NAME`".into()),
            _ => None,
        }
    }

    pub fn location(&self) -> Option<Location> {
        match self {
            LintError::Parse {
                path, line, col, ..
            } => Some(Location::at(path.clone(), *line, *col)),
            LintError::Read { path, .. } | LintError::Shape { path, .. } => Some(Location {
                file: path.clone(),
                line: None,
                column: None,
            }),
        }
    }
}

/// Reads and parses FILE (a regular file, at most [`doc::MAX_FILE_BYTES`]).
pub fn read(path: &Path) -> Result<Node, LintError> {
    let shown = path.display().to_string();
    let bytes =
        crate::specfile::read_capped(path, doc::MAX_FILE_BYTES).map_err(|why| LintError::Read {
            path: shown.clone(),
            why,
        })?;
    let text = String::from_utf8(bytes).map_err(|_| LintError::Read {
        path: shown.clone(),
        why: "it is not UTF-8 text".into(),
    })?;
    doc::parse(&text).map_err(|e| LintError::Parse {
        path: shown,
        line: e.line,
        col: e.col,
        message: e.message,
    })
}

/// What a task definition does to one variable of its container's environment.
/// ECS starts the container with `environment` and `secrets` over the image's
/// ENV (Docker's `--env`), so whatever the task sets wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskVar {
    /// `environment` sets it to this value.
    Set(String),
    /// Nothing in the task sets it: the image's ENV decides.
    Unset,
    /// Set, or maybe set, from what the lint cannot read; says from where.
    Unknown(&'static str),
}

/// What the task definition in `root` does to the variable `name` of the
/// container `IMAGE --taskdef` checks (picked as the lint picks it: by
/// `repository`, else the only essential one). Several picked containers that
/// disagree are [`TaskVar::Unknown`]; a file with no container to pick is the
/// lint's error, returned as its message.
pub fn variable(root: &Node, repository: Option<&str>, name: &str) -> Result<TaskVar, String> {
    let tasks = shape::tasks(root)?;
    let picked = shape::pick(&tasks, None, repository, &|_| false)?;
    let mut out: Option<TaskVar> = None;
    for (_, c, _) in &picked {
        let v = container_var(c, name);
        match &out {
            Some(o) if *o != v => {
                return Ok(TaskVar::Unknown("containers that set it differently"))
            }
            _ => out = Some(v),
        }
    }
    Ok(out.unwrap_or(TaskVar::Unset))
}

fn container_var(c: &Container, name: &str) -> TaskVar {
    if c.secrets.iter().any(|s| s.name == name) {
        return TaskVar::Unknown("a `secrets` entry");
    }
    // `environment` wins over `environmentFiles` (ECS's documented order).
    let set: Vec<&Option<String>> = c
        .env
        .iter()
        .filter(|e| e.name == name)
        .map(|e| &e.value)
        .collect();
    // Docker applies `environment` in order, so the last entry of a name is the
    // one the container sees (the lint's `taskdef-env-duplicate` says so too).
    match set.last() {
        None => c.maybe_from.map_or(TaskVar::Unset, TaskVar::Unknown),
        Some(Some(v)) => TaskVar::Set(v.clone()),
        Some(None) => TaskVar::Unknown("an `environment` value known only at deploy time"),
    }
}

/// What the lint checks against.
#[derive(Clone, Copy)]
pub struct Lint<'a> {
    /// FILE as the user named it; every location points there.
    pub file: &'a str,
    pub container: Option<&'a str>,
    /// The spec's runtime part when one spec is given for every container
    /// (`--spec`, or the image's own spec).
    pub runtime: Option<&'a RuntimeSpec>,
    /// Ports the spec's image part requires (`[config] ports`), normalised.
    pub spec_ports: &'a [String],
    pub image: Option<&'a ImageFacts>,
    /// The specs by repository (found as `images/<repository>.toml`, or
    /// `--spec`'s file stem). With no `--container` or `--image`, the containers
    /// whose image has a spec are the ones checked (not a sidecar that happens
    /// to be essential); without `runtime`, each against its own image's spec.
    pub specs: &'a [(String, SpecFile)],
}

impl Lint<'_> {
    fn at(&self, n: &Node) -> Option<Location> {
        Some(Location::at(self.file, n.line, n.col))
    }

    /// One report section per checked container.
    pub fn run(&self, root: &Node) -> Result<Vec<Section>, LintError> {
        let shape_err = |message: String| LintError::Shape {
            path: self.file.to_string(),
            message,
        };
        let tasks = shape::tasks(root).map_err(shape_err)?;
        let image_repo = self.image.and_then(|i| i.repository.as_deref());
        let spec_of = |repo: &str| self.specs.iter().find(|(r, _)| r == repo).map(|(_, s)| s);
        let has_spec = |repo: &str| spec_of(repo).is_some();
        let picked =
            shape::pick(&tasks, self.container, image_repo, &has_spec).map_err(shape_err)?;
        Ok(picked
            .into_iter()
            .map(|(task, c, repo)| {
                let mut l = *self;
                if self.runtime.is_none() {
                    if let Some(s) = repo.as_deref().and_then(spec_of) {
                        l.runtime = s.runtime.as_ref();
                        l.spec_ports = s
                            .image
                            .config
                            .as_ref()
                            .map(|c| c.ports.as_slice())
                            .unwrap_or_default();
                    }
                }
                l.section(task, &c)
            })
            .collect())
    }

    fn section(&self, task: &Task, c: &Container) -> Section {
        let mut notes = vec![format!("task definition: {} ({})", task.label, task.kind)];
        match self.runtime {
            Some(r) => notes.push(match &r.path {
                Some(p) => format!("runtime spec: `{}` `[preflight]`", p.display()),
                None => "runtime spec: `[preflight]`".into(),
            }),
            None => notes.push(
                "no runtime spec (`[preflight]`): required variables were not checked".into(),
            ),
        }
        if self.image.is_none() {
            notes.push("no `--image`: the image's ENV, EXPOSE and WORKDIR were not read".into());
        }
        let conditional = task.containers.iter().filter(|c| c.is_intrinsic()).count();
        if conditional > 0 {
            notes.push(format!("{conditional} container definition(s) given by an intrinsic function (`Fn::If`) were not checked"));
        }
        if task.props.is_none() {
            notes.push("a bare `containerDefinitions` array has no task-level fields: `executionRoleArn` and `taskRoleArn` were not checked".into());
        }
        // Without a runtime part, the lint cannot know what the container needs:
        // that check could not run, and is never a pass.
        let env = match self.runtime {
            Some(_) => CheckOutcome::from_findings("env", self.env(c)),
            None => CheckOutcome::not_run(
                "env",
                Finding::error(
                    Code::TaskdefNoSpec,
                    &c.name,
                    "no spec with a `[preflight]` table was given or found, so the variables the container needs were not checked",
                )
                .hint("pass `--spec images/<repo>.toml`, or run from the directory holding `images/<repo>.toml` for the container's image"),
            ),
        };
        let mut checks = vec![
            env,
            CheckOutcome::from_findings("secrets", self.secrets(task, c)),
        ];
        if task.props.is_some() {
            checks.push(CheckOutcome::from_findings("roles", self.roles(task, c)));
        }
        checks.push(CheckOutcome::from_findings("logs", self.logs(c)));
        checks.push(CheckOutcome::from_findings("ports", self.ports(c)));
        checks.push(CheckOutcome::from_findings("health", self.health(c)));
        checks.push(CheckOutcome::from_findings("container", self.container(c)));
        Section {
            target: format!("{} container `{}`", task.label, c.name),
            notes,
            checks,
        }
    }

    /// The variables the runtime spec requires, once each, with what makes them
    /// required.
    fn required(&self) -> Vec<(String, &'static str)> {
        let mut out: Vec<(String, &'static str)> = Vec::new();
        let mut add = |n: &str, why: &'static str| {
            if !out.iter().any(|(m, _)| m == n) {
                out.push((n.to_string(), why));
            }
        };
        if let Some(r) = self.runtime {
            for e in r.env.iter().filter(|e| !e.optional) {
                add(&e.name, "`[[preflight.env]]`");
            }
            for s in &r.secrets {
                add(&s.name, "`[[preflight.secret]]`");
            }
            if let Some(p) = r.postgres.as_ref().filter(|p| p.required) {
                add(&p.url_env, "`[preflight.postgres]` (required)");
            }
            if let Some(s) = r.s3.as_ref().filter(|s| s.required) {
                add(&s.bucket_env, "`[preflight.s3]` (required)");
            }
        }
        out
    }

    fn in_image(&self, name: &str) -> bool {
        self.image
            .is_some_and(|i| i.env.iter().any(|(k, v)| k == name && !v.is_empty()))
    }

    fn env(&self, c: &Container) -> Vec<Finding> {
        let mut out = Vec::new();
        let env_at = c.env_key.or(Some(c.node)).and_then(|n| self.at(n));
        // Docker applies `environment` in order, so the last entry of a name is
        // what the container sees; ECS documents no order for `secrets` against
        // `environment` (reported below).
        let mut last: std::collections::BTreeMap<&str, &shape::EnvEntry> =
            std::collections::BTreeMap::new();
        let mut first_line: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::new();
        for e in &c.env {
            if let Some(line) = first_line.get(e.name.as_str()) {
                out.push(
                    Finding::warning(
                        Code::TaskdefEnvDuplicate,
                        &e.name,
                        format!("`{}` is in the `environment` of container `{}` twice (first at line {line}); the container sees the last one", e.name, c.name),
                    )
                    .hint("keep one entry per variable")
                    .at(self.at(e.node)),
                );
            }
            first_line.entry(e.name.as_str()).or_insert(e.node.line);
            last.insert(e.name.as_str(), e);
        }
        for (name, why) in self.required() {
            let in_secrets = c.secrets.iter().any(|s| s.name == name);
            let entry = last.get(name.as_str());
            let given = entry.map(|e| e.given);
            if in_secrets || given == Some(Given::Yes) || self.in_image(&name) {
                continue;
            }
            let line = self
                .runtime
                .and_then(|r| r.line_of(&name))
                .map(|l| format!(" (spec line {l})"))
                .unwrap_or_default();
            if let Some(e) = entry.filter(|e| e.given == Given::Maybe) {
                out.push(
                    Finding::note(
                        Code::TaskdefEnvMaybe,
                        &name,
                        format!("`{name}` is required by {why}{line}; in container `{}` an `Fn::If` sets it in only one of its branches", c.name),
                    )
                    .hint(format!("make sure the condition holds where the task runs, or set `{name}` in both branches"))
                    .at(self.at(e.value_node)),
                );
                continue;
            }
            if let Some(e) = entry {
                out.push(
                    Finding::error(
                        Code::TaskdefEnvMissing,
                        &name,
                        format!("`{name}` is required by {why}{line} but container `{}` sets it empty (an empty or blank value, `null`, or `AWS::NoValue`); preflight will exit at container start", c.name),
                    )
                    .hint(format!("give `{name}` its value in the container's `environment`"))
                    .at(self.at(e.value_node)),
                );
                continue;
            }
            if let Some(from) = c.maybe_from {
                out.push(
                    Finding::note(
                        Code::TaskdefEnvMaybe,
                        &name,
                        format!("`{name}` is required by {why}{line}; container `{}` may get it from {from}", c.name),
                    )
                    .hint(format!("to have the lint check it, set `{name}` in `environment` or `secrets`"))
                    .at(env_at.clone()),
                );
                continue;
            }
            let image_hint = if self.image.is_none() {
                "; if the image's ENV sets it, pass `--image IMAGE` so the lint can see that"
            } else {
                ""
            };
            out.push(
                Finding::error(
                    Code::TaskdefEnvMissing,
                    &name,
                    format!("`{name}` is required by {why}{line} but container `{}` gets it from neither `environment`, `secrets` nor the image's ENV; preflight will exit at container start", c.name),
                )
                .hint(format!("add `{{\"name\": \"{name}\", \"value\": …}}` to the container's `environment` (or a `secrets` entry for a secret){image_hint}"))
                .at(env_at.clone()),
            );
        }
        // What preflight would say of a literal value at container start
        // (`env-malformed`), said here: the same check, from the shared spec.
        if let Some(r) = self.runtime {
            let bucket = r.s3.as_ref().map(|s| s.bucket_env.as_str());
            for (name, e) in &last {
                let (Some(v), Given::Yes) = (e.value.as_deref(), e.given) else {
                    continue;
                };
                let problem = r
                    .env
                    .iter()
                    .filter(|rule| rule.name == *name)
                    .find_map(|rule| rule.value_problem(v))
                    .or_else(|| {
                        (bucket == Some(*name))
                            .then(|| crate::spec::runtime::bucket_name_problem(v))
                            .flatten()
                    });
                if let Some((what, hint)) = problem {
                    out.push(
                        Finding::error(
                            Code::TaskdefEnvMalformed,
                            *name,
                            format!("`{name}` in the `environment` of container `{}` {what}; preflight will exit at container start", c.name),
                        )
                        .hint(hint)
                        .at(self.at(e.value_node)),
                    );
                }
            }
        }
        for s in &c.secrets {
            if let Some(line) = first_line.get(s.name.as_str()) {
                out.push(
                    Finding::warning(
                        Code::TaskdefEnvDuplicate,
                        &s.name,
                        format!("`{}` is in both `environment` (line {line}) and `secrets` of container `{}`; which one the container sees is not documented", s.name, c.name),
                    )
                    .hint("keep one: `secrets` for a secret, `environment` for anything else")
                    .at(self.at(s.node)),
                );
            }
        }
        let spec_secrets: Vec<&str> = self
            .runtime
            .map(|r| r.secrets.iter().map(|s| s.name.as_str()).collect())
            .unwrap_or_default();
        for e in &c.env {
            // A CloudFormation dynamic reference inside `Fn::Sub` resolves to the
            // secret's value in the deployed task definition just as a literal one.
            let shape = match (&e.value, &e.template) {
                (Some(v), _) => secret_shape(&e.name, v),
                (None, Some(t)) => dynamic_reference(t),
                (None, None) => None,
            }
            .or_else(|| {
                // A spec secret in plain `environment` is in the task definition
                // whatever writes its value.
                (spec_secrets.contains(&e.name.as_str()) && e.given != Given::Empty)
                    .then_some("a value the spec lists as a secret (`[[preflight.secret]]`)")
            });
            if let Some(shape) = shape {
                out.push(
                    Finding::error(
                        Code::TaskdefSecretInEnvironment,
                        &e.name,
                        format!("`{}` in the `environment` of container `{}` holds {shape} in plain text (not shown); anyone who can describe the task definition can read it", e.name, c.name),
                    )
                    .hint("store it in Secrets Manager and reference it from `secrets` (`valueFrom`: the secret's ARN); rotate it, since it has been in the task definition")
                    .at(self.at(e.value_node)),
                );
            }
        }
        out
    }

    fn secrets(&self, task: &Task, c: &Container) -> Vec<Finding> {
        // The region is printed, so only a value shaped like a region is taken:
        // an `environment` value is never echoed (the fuzz target's canary in
        // `AWS_REGION` would have been printed in the region warning).
        let region = task.region.clone().filter(|r| is_region(r)).or_else(|| {
            c.env
                .iter()
                .find(|e| e.name == "AWS_REGION" || e.name == "AWS_DEFAULT_REGION")
                .and_then(|e| e.value.clone())
                .filter(|r| is_region(r))
        });
        let mut out = Vec::new();
        for s in &c.secrets {
            let checked = match &s.value_from {
                ValueFromNode::Str(v) => check_value_from(v),
                ValueFromNode::Intrinsic => continue,
                ValueFromNode::Missing => {
                    Err(("is missing; ECS requires it".into(), full_arn_hint().into()))
                }
                ValueFromNode::NotString => Err((
                    "is not a string; ECS takes the secret's ARN or the parameter's name".into(),
                    full_arn_hint().into(),
                )),
            };
            match checked {
                Err((msg, hint)) => out.push(
                    Finding::error(
                        Code::TaskdefSecretRefInvalid,
                        &s.name,
                        format!(
                            "`valueFrom` of secret `{}` in container `{}` {msg}",
                            s.name, c.name
                        ),
                    )
                    .hint(hint)
                    .at(self.at(s.value_node.unwrap_or(s.node))),
                ),
                Ok(ValueFrom::Arn {
                    region: arn_region,
                    partial,
                }) => {
                    if partial {
                        out.push(
                            Finding::warning(
                                Code::TaskdefSecretRefPartial,
                                &s.name,
                                format!("`valueFrom` of secret `{}` in container `{}` is a partial Secrets Manager ARN (no `-` and six characters after the name); ECS documents the full ARN, and a partial one works only while exactly one secret's name fits, and not at all for a name that itself ends in `-` and six characters", s.name, c.name),
                            )
                            .hint(full_arn_hint())
                            .at(self.at(s.value_node.unwrap_or(s.node))),
                        );
                    }
                    if let Some(r) = region.as_deref().filter(|r| *r != arn_region) {
                        out.push(
                            Finding::warning(
                                Code::TaskdefSecretRegion,
                                &s.name,
                                format!("secret `{}` of container `{}` is in `{arn_region}` but the task runs in `{r}`", s.name, c.name),
                            )
                            .hint("ECS can fetch it across regions, but the secret's own region must stay up for tasks to start; replicate it to the task's region and point `valueFrom` there")
                            .at(self.at(s.value_node.unwrap_or(s.node))),
                        );
                    }
                }
                Ok(ValueFrom::ParameterName) => {}
            }
        }
        out
    }

    fn roles(&self, task: &Task, c: &Container) -> Vec<Finding> {
        let mut out = Vec::new();
        let Some(props) = task.props else {
            return out;
        };
        let has = |key: &str| {
            props.field(key, task.pascal).is_some_and(|n| {
                n.is_intrinsic() || n.as_str().is_some_and(|s| !s.trim().is_empty())
            })
        };
        // The execution role serves the whole task: any container's secrets,
        // registry login, log secrets, ECR image or awslogs need it.
        let mut needs: Vec<String> = Vec::new();
        for other in &task.containers {
            for n in shape::execution_role_needs(other, task.pascal) {
                let name = shape::name_of(other, task.pascal);
                let what = if name == c.name {
                    n.to_string()
                } else {
                    format!(
                        "{n} of container `{}`",
                        crate::report::render::escape_line(&name)
                    )
                };
                if !needs.contains(&what) {
                    needs.push(what);
                }
            }
        }
        if !needs.is_empty() && !has("executionRoleArn") {
            needs.truncate(6);
            out.push(
                Finding::error(
                    Code::TaskdefExecutionRoleMissing,
                    &c.name,
                    format!("the task has no `executionRoleArn`, which ECS needs for {} (task of container `{}`); the task will not start", needs.join(", "), c.name),
                )
                .hint("set `executionRoleArn` to a role with `AmazonECSTaskExecutionRolePolicy` and `secretsmanager:GetSecretValue` on the secrets")
                .at(self.at(props)),
            );
        }
        let s3 = self
            .runtime
            .and_then(|r| r.s3.as_ref())
            .filter(|s| s.required);
        // The SDK's environment provider needs both keys, each non-empty.
        let set = |name: &str| {
            c.secrets.iter().any(|s| s.name == name)
                || c.env
                    .iter()
                    .rev()
                    .find(|e| e.name == name)
                    .is_some_and(|e| e.given == Given::Yes)
        };
        let static_keys = set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY");
        if s3.is_some() && !has("taskRoleArn") && !static_keys {
            out.push(
                Finding::error(
                    Code::TaskdefTaskRoleMissing,
                    &c.name,
                    format!("the spec requires the S3 probe but the task has no `taskRoleArn`, so the AWS SDK in container `{}` finds no credentials (preflight reports `s3-no-credentials`; the app, `s3 down`)", c.name),
                )
                .hint("set `taskRoleArn` to a role allowed `s3:ListBucket` (and `s3:PutObject`/`s3:DeleteObject` for a write probe) on the bucket")
                .at(self.at(props)),
            );
        }
        out
    }

    fn logs(&self, c: &Container) -> Vec<Finding> {
        if c.log_config {
            return vec![];
        }
        vec![Finding::warning(
            Code::TaskdefLogsMissing,
            &c.name,
            format!("container `{}` has no `logConfiguration`, so preflight's report (and the server's output) is lost when the task stops", c.name),
        )
        .hint("add `\"logConfiguration\": {\"logDriver\": \"awslogs\", \"options\": {…}}`")
        .at(self.at(c.node))]
    }

    fn ports(&self, c: &Container) -> Vec<Finding> {
        let mut want: Vec<(String, &str)> = self
            .spec_ports
            .iter()
            .map(|p| (p.clone(), "the spec names"))
            .collect();
        for p in self.image.iter().flat_map(|i| &i.ports) {
            if !want.iter().any(|(w, _)| w == p) {
                want.push((p.clone(), "the image EXPOSEs"));
            }
        }
        let Some(mapped) = &c.ports else {
            // An intrinsic port list: what it holds is known at deploy time only.
            return vec![];
        };
        let mut out = Vec::new();
        for (p, why) in want {
            let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
            let Ok(n) = num.parse::<u32>() else { continue };
            if mapped.iter().any(|(m, pr)| {
                pr.as_str() == proto
                    && match m {
                        Mapped::Port(x) => *x == n,
                        Mapped::Range(a, b) => (*a..=*b).contains(&n),
                        Mapped::Unknown => true,
                        Mapped::Invalid => false,
                    }
            }) {
                continue;
            }
            out.push(
                Finding::error(
                    Code::TaskdefPortMissing,
                    &c.name,
                    format!("port `{p}` {why} is not in the `portMappings` of container `{}`; a load balancer cannot reach the server", c.name),
                )
                .hint(format!("add `{{\"containerPort\": {num}, \"protocol\": \"{proto}\"}}` to `portMappings`"))
                .at(self.at(c.ports_key.unwrap_or(c.node))),
            );
        }
        out
    }

    fn health(&self, c: &Container) -> Vec<Finding> {
        let path = self.runtime.and_then(|r| r.health_path.as_deref());
        let missing = |what: String, at: &Node| {
            vec![Finding::warning(Code::TaskdefHealthcheckMissing, &c.name, what)
                .hint(match path {
                    Some(p) => format!("add `\"healthCheck\": {{\"command\": [\"CMD-SHELL\", \"wget -qO- http://localhost:$PORT{p} || exit 1\"]}}` (or curl, if the image has it)"),
                    None => "add a `healthCheck` whose `command` calls the server's health endpoint".into(),
                })
                .at(self.at(at))]
        };
        match &c.health {
            None => missing(
                format!("container `{}` has no `healthCheck`, so ECS counts it healthy as soon as it runs", c.name),
                c.node,
            ),
            Some((node, HealthCommand::Off)) => missing(
                format!("the `healthCheck` of container `{}` has no command (or `NONE`), so ECS counts it healthy as soon as it runs", c.name),
                node,
            ),
            Some((node, HealthCommand::Cmd(cmd))) => match path {
                Some(p) if !calls_path(cmd, p) => vec![Finding::warning(
                    Code::TaskdefHealthcheckPath,
                    &c.name,
                    format!("the `healthCheck` of container `{}` does not request the spec's `health_path` `{p}`", c.name),
                )
                .hint(format!("make the command request `{p}` (e.g. `wget -qO- http://localhost:$PORT{p} || exit 1`)"))
                .at(self.at(node))],
                _ => vec![],
            },
            Some((_, HealthCommand::Unknown)) => vec![],
        }
    }

    fn container(&self, c: &Container) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(n) = c.essential.filter(|(_, e)| !e).map(|(n, _)| n) {
            out.push(
                Finding::error(
                    Code::TaskdefNotEssential,
                    &c.name,
                    format!("the app container `{}` has `essential: false`, so the task keeps running (and counts as healthy) after the server exits", c.name),
                )
                .hint("set `\"essential\": true` on the app container")
                .at(self.at(n)),
            );
        }
        if let (Some(n), Some(wd)) = (
            c.readonly_root,
            self.image.and_then(|i| i.workdir.as_deref()),
        ) {
            let mounted = c
                .mounts
                .iter()
                .any(|m| wd == m || wd.starts_with(&format!("{}/", m.trim_end_matches('/'))));
            if !mounted && wd != "/" {
                out.push(
                    Finding::note(
                        Code::TaskdefReadonlyWorkdir,
                        &c.name,
                        format!("container `{}` has a read-only root filesystem and no volume at the image's WORKDIR `{wd}`; an app that writes there (caches, uploads, temp files) fails at run time", c.name),
                    )
                    .hint(format!("if the app writes under `{wd}`, mount a volume there (`mountPoints`) or point it at one"))
                    .at(self.at(n)),
                );
            }
        }
        out
    }
}

/// Whether a health-check command requests `path` from a URL: a word holding
/// `://` whose path is `path` exactly (then the end, `?` or `#`). A mention
/// elsewhere (`echo /api/health`) or a longer path (`/api/healthz`) is not it.
fn calls_path(cmd: &[String], path: &str) -> bool {
    cmd.iter()
        .flat_map(|a| {
            a.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '|' | '&'))
        })
        .filter_map(|w| w.split_once("://").map(|(_, rest)| rest))
        .any(|rest| {
            let p = rest.find('/').map_or("", |i| &rest[i..]);
            let p = p.split(['?', '#']).next().unwrap_or("");
            p == path
        })
}

/// A CloudFormation dynamic reference that resolves to a secret's value.
fn dynamic_reference(v: &str) -> Option<&'static str> {
    (v.contains("{{resolve:secretsmanager:") || v.contains("{{resolve:ssm-secure:"))
        .then_some("a CloudFormation dynamic reference, which resolves to the secret's value")
}

/// What secret a plain value looks like, if any; the value is never returned.
pub fn secret_shape(name: &str, v: &str) -> Option<&'static str> {
    // Quotes pasted along with a key are not part of it.
    let v = v.trim().trim_matches(['"', '\'']).trim();
    if ["sk_live_", "rk_live_", "sk_test_", "rk_test_"]
        .iter()
        .any(|p| v.starts_with(p))
    {
        return Some("a Stripe secret key");
    }
    if v.starts_with("sk-") && v.len() >= 20 {
        return Some("an API secret key (`sk-…`)");
    }
    if v.contains("-----BEGIN") && v.contains("PRIVATE KEY") {
        return Some("a PEM private key");
    }
    if let Some(d) = dynamic_reference(v) {
        return Some(d);
    }
    if url_has_password(v) {
        return Some("a URL with a password");
    }
    if has_password_keyword(v) {
        return Some("a connection string with a password");
    }
    if name == "AWS_SECRET_ACCESS_KEY" && v.len() == 40 {
        return Some("an AWS secret access key");
    }
    None
}

/// A `password`/`pwd` keyword with a non-empty value: libpq's `key = value`
/// (spaces around `=` optional), ADO.NET/JDBC's `Password=…;`, and a URL's
/// `?password=` query parameter, which libpq takes as the password.
fn has_password_keyword(v: &str) -> bool {
    let b = v.as_bytes();
    let lower = v.to_ascii_lowercase();
    for key in ["password", "pwd"] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(key).map(|i| i + from) {
            from = i + key.len();
            // A keyword starts the text or follows a separator.
            let starts = i == 0 || matches!(b[i - 1], b' ' | b'\t' | b';' | b'?' | b'&' | b',');
            let rest = v[from..].trim_start_matches([' ', '\t']);
            if starts {
                if let Some(val) = rest.strip_prefix('=') {
                    let val = val.trim_start_matches([' ', '\t']);
                    if val
                        .chars()
                        .next()
                        .is_some_and(|c| !matches!(c, ';' | '&' | ' ' | '\t'))
                    {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// `scheme://user:PASSWORD@host…` with a non-empty password (libpq and WHATWG
/// URLs put it there).
fn url_has_password(v: &str) -> bool {
    let Some((_, rest)) = v.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo
            .split_once(':')
            .is_some_and(|(_, pw)| !pw.is_empty()),
        None => false,
    }
}

fn full_arn_hint() -> &'static str {
    "write the full ARN, e.g. `arn:aws:secretsmanager:eu-west-1:123456789012:secret:NAME-AbCdEf` (`aws secretsmanager describe-secret --secret-id NAME --query ARN`)"
}

/// Shaped like an AWS region (`eu-west-1`, `us-gov-west-1`, `cn-north-1`).
/// Two letters, one or more words, a number: `eu-west-1`, `us-gov-west-1`,
/// `ap-southeast-3`, `us-iso-east-1`. Anything else is never printed.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    let word = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(word)
        && parts
            .last()
            .is_some_and(|n| (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The AWS partitions an ARN names.
fn is_partition(p: &str) -> bool {
    matches!(
        p,
        "aws"
            | "aws-cn"
            | "aws-us-gov"
            | "aws-iso"
            | "aws-iso-b"
            | "aws-iso-e"
            | "aws-iso-f"
            | "aws-eusc"
    )
}

/// What a valid `secrets[].valueFrom` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueFrom {
    /// An SSM parameter name, read in the task's own region.
    ParameterName,
    /// An ARN, whose region the caller compares with the task's.
    Arn {
        region: String,
        /// A Secrets Manager ARN without the six characters Secrets Manager adds
        /// to the name.
        partial: bool,
    },
}

/// Checks a `secrets[].valueFrom` as ECS reads it; `Err((message, hint))` for
/// what ECS rejects. The value is never quoted (a secret pasted where its ARN
/// belongs is an easy slip). The rules and where they are from:
///
/// - ECS takes the full ARN of a Secrets Manager secret, or an SSM parameter's
///   full ARN or, in the task's region only, its name
///   (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-ssm-paramstore.html>,
///   <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Secret.html>).
/// - A Secrets Manager ARN is `…:secret:NAME` or
///   `…:secret:NAME:json-key:version-stage:version-id`: "these parameters are
///   optional, but if you do not use them, you must include the colons", and a
///   version stage and a version ID are not both given
///   (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html>).
///   The ECS agent agrees: it splits the ARN's resource on `:` and takes 2 or 5
///   fields, nothing else (`getASMParametersFromInput` in
///   <https://github.com/aws/amazon-ecs-agent/blob/master/agent/taskresource/asmsecret/asmsecret.go>).
/// - A secret's name is ASCII letters, digits and `/_+=.@-`; its ARN ends in
///   `-` and six random characters. An ARN without them is a partial ARN, which
///   Secrets Manager matches only while exactly one secret fits, and misreads
///   when the name itself ends in `-` and six characters
///   (`SecretId` in
///   <https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html>,
///   <https://docs.aws.amazon.com/secretsmanager/latest/userguide/whats-in-a-secret.html>):
///   a warning, not an error.
/// - An SSM parameter name is `a-zA-Z0-9_.-` and `/`; a name in a hierarchy is
///   written fully qualified, with its leading `/`; at most 15 levels and 1011
///   characters; its ARN is `…:parameter/NAME` with the name's leading `/`
///   dropped (`/app/db` → `…:parameter/app/db`)
///   (<https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-parameter-name-constraints.html>).
pub fn check_value_from(v: &str) -> Result<ValueFrom, (String, String)> {
    let full = full_arn_hint();
    if v.is_empty() {
        return Err(("is empty".into(), full.into()));
    }
    // A secret pasted where its reference belongs: it would be looked up as a
    // parameter name, and it now sits in the task definition.
    if let Some(shape) = secret_shape("", v) {
        return Err((
            format!("holds {shape} itself (not shown), not a reference to one"),
            "store it in Secrets Manager, put the secret's ARN in `valueFrom`, and rotate it"
                .into(),
        ));
    }
    if v.contains(['*', '?']) {
        return Err((
            "holds a wildcard (`*` or `?`); ECS fetches exactly one secret and never expands wildcards".into(),
            full.into(),
        ));
    }
    let Some(rest) = v.strip_prefix("arn:") else {
        let name = match v.rsplit_once(':') {
            Some((name, sel)) if is_selector(sel) => name,
            _ => v,
        };
        return check_parameter_name(name).map(|()| ValueFrom::ParameterName);
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let ok_account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
    if parts.len() < 5 || !is_partition(parts[0]) {
        return Err((
            "is a partial ARN (too few `:`-separated fields)".into(),
            full.into(),
        ));
    }
    let (service, region, account) = (parts[1], parts[2], parts[3]);
    if !is_region(region) || !ok_account(account) {
        return Err((
            "is an ARN without a valid region or 12-digit account; ECS rejects partial ARNs".into(),
            full.into(),
        ));
    }
    match service {
        "secretsmanager" => {
            let name = parts.get(5).copied().unwrap_or("");
            if parts[4] != "secret" || name.is_empty() {
                return Err((
                    "is a Secrets Manager ARN without `secret:NAME`".into(),
                    full.into(),
                ));
            }
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
            {
                return Err((
                    "names a secret with a character Secrets Manager names never hold (they are ASCII letters, digits and `/_+=.@-`)".into(),
                    full.into(),
                ));
            }
            match parts.len() {
                6 => {}
                9 if !parts[7].is_empty() && !parts[8].is_empty() => {
                    return Err((
                        "gives both a version stage and a version ID; ECS takes one of them".into(),
                        "keep one: `…:secret:NAME:KEY:AWSPREVIOUS:` or `…:secret:NAME:KEY::VERSION-ID`".into(),
                    ))
                }
                9 => {}
                7 | 8 => {
                    return Err((
                        "names a JSON key or version without all three of `:json-key:version-stage:version-id`; ECS rejects it".into(),
                        "end it so the three fields are all there, empty ones included: `…:secret:NAME:KEY::` for a JSON key".into(),
                    ))
                }
                _ => {
                    return Err((
                        "has more fields than `…:secret:NAME:json-key:version-stage:version-id`".into(),
                        full.into(),
                    ))
                }
            }
            let partial = !name.rsplit_once('-').is_some_and(|(base, suffix)| {
                !base.is_empty()
                    && suffix.len() == 6
                    && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
            });
            Ok(ValueFrom::Arn {
                region: region.to_string(),
                partial,
            })
        }
        "ssm" => {
            let name = parts[4];
            let ok = (parts.len() == 5 || (parts.len() == 6 && is_selector(parts[5])))
                && name.strip_prefix("parameter/").is_some_and(|n| {
                    !n.starts_with('/') && check_parameter_name(&format!("/{n}")).is_ok()
                });
            if ok {
                Ok(ValueFrom::Arn {
                    region: region.to_string(),
                    partial: false,
                })
            } else {
                Err((
                    "is an SSM ARN that is not `…:parameter/NAME` with a valid parameter name".into(),
                    "write `arn:aws:ssm:REGION:ACCOUNT:parameter/NAME` (for `/app/db-url`: `…:parameter/app/db-url`, one `/`)".into(),
                ))
            }
        }
        _ => Err((
            "is an ARN of neither Secrets Manager nor SSM Parameter Store".into(),
            full.into(),
        )),
    }
}

/// A parameter selector after the name (`/app/db:3`, `/app/db:prod`): the ECS
/// agent hands `valueFrom` to SSM's `GetParameters` as it is (`ssmsecret.go` in
/// the agent), which takes `name:version` and `name:label`
/// (<https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameters.html>).
/// A label is letters, digits, `.`, `-`, `_`, at most 100, not starting with a
/// digit, `aws` or `ssm`.
fn is_selector(s: &str) -> bool {
    if !s.is_empty() && s.len() <= 100 && s.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let lower = s.to_ascii_lowercase();
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && !s.as_bytes()[0].is_ascii_digit()
        && !lower.starts_with("aws")
        && !lower.starts_with("ssm")
}

/// An SSM parameter name as ECS passes it to `GetParameters`.
fn check_parameter_name(v: &str) -> Result<(), (String, String)> {
    let full = "write the parameter's name (`/app/db-url`) or the secret's full ARN";
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'))
    {
        return Err((
            "is neither an ARN nor an SSM parameter name (letters, digits, `_.-/`)".into(),
            full.into(),
        ));
    }
    if v.contains('/') && !v.starts_with('/') {
        return Err((
            "is a parameter name in a hierarchy without its leading `/`; SSM reads only fully qualified names".into(),
            "start it with `/` (`/app/db-url`)".into(),
        ));
    }
    if v == "/" || v.contains("//") || v.ends_with('/') {
        return Err((
            "is a parameter name with an empty level (`//`, or `/` at the end)".into(),
            full.into(),
        ));
    }
    if v.split('/').filter(|l| !l.is_empty()).count() > 15 || v.len() > 1011 {
        return Err((
            "is longer than an SSM parameter name can be (15 levels, 1011 characters)".into(),
            full.into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules cited at [`check_value_from`], each with a value that keeps
    /// it and one that breaks it.
    #[test]
    fn value_from_is_read_as_ecs_reads_it() {
        let sm = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:";
        let arn = |region: &str, partial| ValueFrom::Arn {
            region: region.into(),
            partial,
        };
        let ok = [
            (format!("{sm}db-AbCdEf"), arn("eu-west-1", false)),
            (format!("{sm}prod/db_x+=.@-AbCdEf"), arn("eu-west-1", false)),
            (format!("{sm}db-AbCdEf:url::"), arn("eu-west-1", false)),
            (
                format!("{sm}db-AbCdEf::AWSPREVIOUS:"),
                arn("eu-west-1", false),
            ),
            (
                format!("{sm}db-AbCdEf:::9d4cb84b-ad69"),
                arn("eu-west-1", false),
            ),
            (
                format!("{sm}db-AbCdEf:url:AWSCURRENT:"),
                arn("eu-west-1", false),
            ),
            // Partial ARNs: Secrets Manager matches them, ECS documents the full one.
            (format!("{sm}db"), arn("eu-west-1", true)),
            (format!("{sm}db:url:AWSCURRENT:"), arn("eu-west-1", true)),
            (format!("{sm}prod/db-url"), arn("eu-west-1", true)),
            (
                "arn:aws:ssm:us-east-1:123456789012:parameter/app/db".into(),
                arn("us-east-1", false),
            ),
            (
                "arn:aws:ssm:us-east-1:123456789012:parameter/db".into(),
                arn("us-east-1", false),
            ),
            (
                "arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/db".into(),
                arn("us-gov-west-1", false),
            ),
            ("/app/db".into(), ValueFrom::ParameterName),
            ("/app/db:3".into(), ValueFrom::ParameterName),
            ("/app/db:prod-1".into(), ValueFrom::ParameterName),
            (
                "arn:aws:ssm:us-east-1:123456789012:parameter/app/db:3".into(),
                arn("us-east-1", false),
            ),
            ("db_url".into(), ValueFrom::ParameterName),
            (
                "/aws/reference/secretsmanager/db".into(),
                ValueFrom::ParameterName,
            ),
        ];
        for (v, want) in ok {
            assert_eq!(check_value_from(&v), Ok(want), "{v}");
        }
        for v in [
            format!("{sm}db-??????"),
            format!("{sm}*"),
            format!("{sm}db:url"),
            format!("{sm}db:url:x"),
            format!("{sm}db-AbCdEf:url:AWSPREVIOUS:9d4cb84b"),
            format!("{sm}db-AbCdEf:a:b:c:d"),
            format!("{sm}db CANARY-AbCdEf"),
            format!("{sm}db#CANARY"),
            sm.to_string(),
            "arn:aws:secretsmanager:eu-west-1::secret:db".into(),
            "arn:aws:secretsmanager:::secret:db".into(),
            "arn:aws:secretsmanager:eu-west-1:123456789012".into(),
            "arn:aws:s3:::bucket".into(),
            "arn:aws:ssm:eu-west-1:123456789012:db".into(),
            "arn:aws:ssm:eu-west-1:123456789012:parameter//app/db".into(),
            "arn:aws:ssm:eu-west-1:123456789012:parameter/".into(),
            "arn:aws:ssm:eu-west-1:123456789012:parameter/a b".into(),
            "app/db".into(),
            "/app/db:aws-x".into(),
            "/app/db:1:2".into(),
            "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db:ssm".into(),
            "/app//db".into(),
            "/app/".into(),
            format!("/{}", "a/".repeat(15) + "b"),
            "x".repeat(1012),
            "sk_live_CANARY with spaces".into(),
            String::new(),
        ] {
            let (m, h) = check_value_from(&v).unwrap_err();
            assert!(!m.contains("CANARY") && !h.contains("CANARY"), "{v}: {m}");
        }
    }

    /// The checks the fixtures' healthy tasks pass silently, each made to fire.
    #[test]
    fn ports_health_essential_region_and_readonly_checks_fire() {
        let spec = crate::spec::SpecFile::parse(
            Path::new("s.toml"),
            "[config]\nports = [\"3000\"]\n[preflight]\nhealth_path = \"/api/health\"\n[[preflight.env]]\nname = \"PORT\"\n",
        )
        .unwrap();
        let doc = doc::parse(
            r#"{"taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/x:1",
  "executionRoleArn": "arn:aws:iam::123456789012:role/e",
  "containerDefinitions": [{
    "name": "api", "essential": false, "readonlyRootFilesystem": true,
    "portMappings": [{"containerPort": 8080}],
    "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:3000/ || exit 1"]},
    "logConfiguration": {"logDriver": "awslogs"},
    "environment": [{"name": "PORT", "value": "3000"}],
    "secrets": [{"name": "K", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf"},
                {"name": "PORT", "valueFrom": "/app/port"}]
  }]}"#,
        )
        .unwrap();
        let facts = ImageFacts {
            workdir: Some("/app".into()),
            ..ImageFacts::default()
        };
        let ports = spec.image.config.as_ref().unwrap().ports.clone();
        let lint = Lint {
            file: "td.json",
            container: None,
            runtime: spec.runtime.as_ref(),
            spec_ports: &ports,
            image: Some(&facts),
            specs: &[],
        };
        let sections = lint.run(&doc).unwrap();
        let got: Vec<(Code, usize)> = sections[0]
            .checks
            .iter()
            .flat_map(|c| &c.findings)
            .map(|f| (f.code, f.location.as_ref().unwrap().line.unwrap()))
            .collect();
        for want in [
            (Code::TaskdefEnvDuplicate, 10),
            (Code::TaskdefSecretRegion, 9),
            (Code::TaskdefPortMissing, 5),
            (Code::TaskdefHealthcheckPath, 6),
            (Code::TaskdefNotEssential, 4),
            (Code::TaskdefReadonlyWorkdir, 4),
        ] {
            assert!(got.contains(&want), "{want:?} in {got:?}");
        }
        assert_eq!(got.len(), 6, "{got:?}");
    }

    /// Fuzzing planted a secret in `AWS_REGION` and found it in the region
    /// warning: a region from the file is printed only when shaped like one.
    #[test]
    fn region_from_environment_is_never_an_echoed_secret() {
        let td = |region: &str, arn: &str| {
            format!(
                r#"{{"taskDefinitionArn": "{arn}", "containerDefinitions": [{{"name": "api",
  "environment": [{{"name": "AWS_REGION", "value": "{region}"}}],
  "secrets": [{{"name": "K", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf"}}]}}]}}"#
            )
        };
        let regions = |text: &str| -> Vec<String> {
            let lint = Lint {
                file: "td.json",
                container: None,
                runtime: None,
                spec_ports: &[],
                image: None,
                specs: &[],
            };
            lint.run(&doc::parse(text).unwrap()).unwrap()[0]
                .checks
                .iter()
                .flat_map(|c| &c.findings)
                .filter(|f| f.code == Code::TaskdefSecretRegion)
                .map(|f| f.message.clone())
                .collect()
        };
        let got = regions(&td("eu-west-1", ""));
        assert!(got.len() == 1 && got[0].contains("`eu-west-1`"), "{got:?}");
        for (region, arn) in [
            ("sk_live_CANARY", ""),
            ("eu-CANARY-1", ""),
            ("x", "arn:aws:ecs:CANARY:123456789012:task-definition/x:1"),
        ] {
            let got = regions(&td(region, arn));
            assert!(got.iter().all(|m| !m.contains("CANARY")), "{got:?}");
        }
    }

    /// `NODE_ENV` as ECS gives it to the container: `environment` (over
    /// `environmentFiles`), a secret or an intrinsic is a value unknown here,
    /// nothing is the image's.
    #[test]
    fn a_variable_is_read_as_ecs_sets_it() {
        let var = |c: &str| {
            let doc = doc::parse(&format!(r#"{{"containerDefinitions": [{c}]}}"#)).unwrap();
            variable(&doc, None, "NODE_ENV").unwrap()
        };
        let env = |v: &str| format!(r#"{{"name": "NODE_ENV", "value": {v}}}"#);
        assert_eq!(
            var(&format!(
                r#"{{"name": "a", "environment": [{}]}}"#,
                env("\"production\"")
            )),
            TaskVar::Set("production".into())
        );
        assert_eq!(
            var(&format!(
                r#"{{"name": "a", "environment": [{}], "environmentFiles": [{{"value": "arn:aws:s3:::b/x.env", "type": "s3"}}]}}"#,
                env("\"\"")
            )),
            TaskVar::Set(String::new())
        );
        assert_eq!(var(r#"{"name": "a", "environment": []}"#), TaskVar::Unset);
        assert_eq!(var(r#"{"name": "a"}"#), TaskVar::Unset);
        for unknown in [
            r#"{"name": "a", "secrets": [{"name": "NODE_ENV", "valueFrom": "/p"}]}"#.to_string(),
            r#"{"name": "a", "environmentFiles": [{"value": "arn:aws:s3:::b/x.env", "type": "s3"}]}"#.into(),
            r#"{"name": "a", "environment": {"Ref": "Env"}}"#.into(),
            format!(r#"{{"name": "a", "environment": [{}]}}"#, env(r#"{"Ref": "Env"}"#)),
        ] {
            assert!(matches!(var(&unknown), TaskVar::Unknown(_)), "{unknown}");
        }
        // Listed twice: the container runtime keeps the last (hostile round 2, M1:
        // the lint said so while the node check judged neither).
        assert_eq!(
            var(&format!(
                r#"{{"name": "a", "environment": [{}, {}]}}"#,
                env("\"a\""),
                env("\"b\"")
            )),
            TaskVar::Set("b".into())
        );
        // Two essential containers: which one is the app is the lint's error.
        let doc =
            doc::parse(r#"{"containerDefinitions": [{"name": "a"}, {"name": "b"}]}"#).unwrap();
        assert!(variable(&doc, None, "NODE_ENV").is_err());
    }

    #[test]
    fn secret_shapes_are_named_never_returned() {
        for (n, v) in [
            ("STRIPE_SECRET_KEY", "sk_live_CANARY0000"),
            ("DATABASE_URL", "postgres://app:CANARY@db.internal:5432/app"),
            ("DATABASE_URL", "host=db password=CANARY"),
            (
                "KEY",
                "-----BEGIN PRIVATE KEY-----\nCANARY\n-----END PRIVATE KEY-----",
            ),
            ("X", "{{resolve:secretsmanager:db:SecretString:password}}"),
        ] {
            let s = secret_shape(n, v).unwrap();
            assert!(!s.contains("CANARY"), "{s}");
        }
        for (n, v) in [
            ("DATABASE_URL", "postgres://app@db.internal/app"),
            ("NODE_ENV", "production"),
            ("PORT", "3000"),
            ("S3_BUCKET_NAME", "scalemap-uploads"),
            ("URL", "https://example.com/a:b@c"),
        ] {
            assert_eq!(secret_shape(n, v), None, "{n}");
        }
    }

    /// The findings (code, line) of linting `td` against `spec` (a TOML spec
    /// file), with no image.
    fn codes(td: &str, spec: &str) -> Vec<(Code, usize)> {
        let spec = crate::spec::SpecFile::parse(Path::new("s.toml"), spec).unwrap();
        let ports = spec
            .image
            .config
            .as_ref()
            .map(|c| c.ports.clone())
            .unwrap_or_default();
        let lint = Lint {
            file: "td",
            container: None,
            runtime: spec.runtime.as_ref(),
            spec_ports: &ports,
            image: None,
            specs: &[],
        };
        lint.run(&doc::parse(td).unwrap())
            .unwrap()
            .iter()
            .flat_map(|s| &s.checks)
            .flat_map(|c| &c.findings)
            .map(|f| (f.code, f.location.as_ref().unwrap().line.unwrap_or(0)))
            .collect()
    }

    const BUCKET: &str = "[preflight]\n[preflight.s3]\nrequired = true\n";

    /// A container of a `register-task-definition` input with a task role, logs
    /// and a health check, so only what a test varies can fire.
    fn register(container: &str) -> String {
        format!(
            "{{\"taskRoleArn\": \"r\", \"containerDefinitions\": [{{\"name\": \"api\", \"logConfiguration\": {{\"logDriver\": \"json-file\"}},\n\"healthCheck\": {{\"command\": [\"CMD\", \"true\"]}},\n{container}}}]}}"
        )
    }

    /// Hostile H1: an empty, blank, `null` or `AWS::NoValue` value provides
    /// nothing (preflight's `env-missing`); the last of repeated keys counts.
    #[test]
    fn empty_values_do_not_provide_a_variable() {
        for v in [
            "\"\"",
            "\"  \"",
            "null",
            "{\"Ref\": \"AWS::NoValue\"}",
            "[]",
        ] {
            let td = register(&format!(
                "\"environment\": [{{\"name\": \"S3_BUCKET_NAME\",\n\"value\": {v}}}]"
            ));
            assert_eq!(
                codes(&td, BUCKET),
                vec![(Code::TaskdefEnvMissing, 4)],
                "{v}"
            );
        }
        let td = register(
            "\"environment\": [{\"name\": \"S3_BUCKET_NAME\", \"value\": \"my-bucket\",\n\"value\": \"\"}]",
        );
        assert_eq!(codes(&td, BUCKET), vec![(Code::TaskdefEnvMissing, 4)]);
        let yaml = "Resources:\n  T:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      TaskRoleArn: r\n      ContainerDefinitions:\n        - Name: api\n          LogConfiguration: {LogDriver: json-file}\n          HealthCheck: {Command: [CMD, 'true']}\n          Environment:\n            - Name: S3_BUCKET_NAME\n              Value: VALUE\n";
        for v in ["!Ref AWS::NoValue", "null", "~", "", "!!str"] {
            let got = codes(&yaml.replace("VALUE", v), BUCKET);
            assert_eq!(got.len(), 1, "{v}: {got:?}");
            assert_eq!(got[0].0, Code::TaskdefEnvMissing, "{v}");
        }
        // Hostile H1/M10: empty static keys, or one key alone, are no credentials.
        for env in [
            "{\"name\": \"AWS_ACCESS_KEY_ID\", \"value\": \"\"}, {\"name\": \"AWS_SECRET_ACCESS_KEY\", \"value\": \"\"}",
            "{\"name\": \"AWS_ACCESS_KEY_ID\", \"value\": \"AKIAEXAMPLE\"}",
        ] {
            let td = format!("{{\"containerDefinitions\": [{{\"name\": \"api\", \"logConfiguration\": {{\"logDriver\": \"json-file\"}}, \"healthCheck\": {{\"command\": [\"CMD\", \"true\"]}}, \"environment\": [{env}, {{\"name\": \"S3_BUCKET_NAME\", \"value\": \"my-bucket\"}}]}}]}}");
            assert_eq!(codes(&td, BUCKET), vec![(Code::TaskdefTaskRoleMissing, 1)], "{env}");
        }
    }

    /// Hostile M2: an `Fn::If` that may set nothing is a note, not a pass; an
    /// intrinsic `secrets` list or entry makes a variable possibly provided.
    #[test]
    fn conditional_values_and_lists_are_possibly_provided() {
        let y = "Resources:\n  T:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      TaskRoleArn: r\n      ExecutionRoleArn: e\n      ContainerDefinitions:\n        - Name: api\n          LogConfiguration: {LogDriver: json-file}\n          HealthCheck: {Command: [CMD, 'true']}\n          BODY\n";
        for body in [
            "Environment:\n            - Name: S3_BUCKET_NAME\n              Value: !If [IsProd, !Ref B, !Ref AWS::NoValue]",
            "Environment:\n            - Name: S3_BUCKET_NAME\n              Value: !If [IsProd, !Ref B, '']",
            "Environment:\n            - !If [IsProd, {Name: S3_BUCKET_NAME, Value: my-bucket}, !Ref AWS::NoValue]",
            "Secrets: !If [IsProd, [], !Ref AWS::NoValue]",
        ] {
            let got = codes(&y.replace("BODY", body), BUCKET);
            assert_eq!(got.iter().map(|c| c.0).collect::<Vec<_>>(), vec![Code::TaskdefEnvMaybe], "{body}");
        }
        let got = codes(
            &y.replace("BODY", "Environment:\n            - Name: !!str S3_BUCKET_NAME\n              Value: !!str my-bucket"),
            BUCKET,
        );
        assert!(got.is_empty(), "{got:?}");
    }

    /// Hostile M1: keys are read as the input shape spells them; a stray
    /// lowercase `environment:` in a template is not the list CloudFormation
    /// deploys, nor a PascalCase `Environment` in ECS JSON.
    #[test]
    fn keys_are_matched_in_their_shapes_exact_case() {
        let y = "Resources:\n  T:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      TaskRoleArn: r\n      ContainerDefinitions:\n        - Name: api\n          LogConfiguration: {LogDriver: json-file}\n          HealthCheck: {Command: [CMD, 'true']}\n          Environment: []\n          environment:\n            - Name: S3_BUCKET_NAME\n              Value: my-bucket\n";
        assert_eq!(codes(y, BUCKET), vec![(Code::TaskdefEnvMissing, 10)]);
        let td = register(
            "\"environment\": [{\"name\": \"S3_BUCKET_NAME\", \"value\": \"my-bucket\"}],\n\"Environment\": []",
        );
        assert!(codes(&td, BUCKET).is_empty());
    }

    /// Hostile H3: a dynamic reference inside `Fn::Sub`, a spec secret whose
    /// value is an intrinsic, a `!!str`-tagged key, and a key pasted as
    /// `valueFrom` are all secrets in the task definition.
    #[test]
    fn secrets_behind_intrinsics_and_tags_are_secret_in_environment() {
        let spec = "[preflight]\n[[preflight.secret]]\nname = \"STRIPE_SECRET_KEY\"\n";
        let y = "Resources:\n  T:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      ContainerDefinitions:\n        - Name: api\n          LogConfiguration: {LogDriver: json-file}\n          HealthCheck: {Command: [CMD, 'true']}\n          Environment:\n            - Name: NAME\n              Value: VALUE\n";
        for (name, v) in [
            (
                "X",
                "!Sub '{{resolve:secretsmanager:prod/stripe:SecretString:key}}'",
            ),
            ("X", "{'Fn::Sub': '{{resolve:ssm-secure:/db/pw}}'}"),
            ("STRIPE_SECRET_KEY", "!Ref StripeKeyParam"),
            ("X", "!!str sk_live_CANARY123456"),
        ] {
            let spec = if name == "X" { "[preflight]\n" } else { spec };
            let got = codes(&y.replace("NAME", name).replace("VALUE", v), spec);
            assert_eq!(got, vec![(Code::TaskdefSecretInEnvironment, 11)], "{v}");
        }
        let (m, _) = check_value_from("sk_live_CANARY123456").unwrap_err();
        assert!(m.contains("Stripe") && !m.contains("CANARY"), "{m}");
    }

    /// Hostile H4: a secret without a string `valueFrom` is an error, not a
    /// silent pass.
    #[test]
    fn a_secret_without_a_string_value_from_is_invalid() {
        for vf in [
            "",
            ", \"valueFrom\": null",
            ", \"valueFrom\": 3",
            ", \"valueFrom\": {}",
        ] {
            let td = format!(
                "[{{\"name\": \"api\", \"logConfiguration\": {{\"logDriver\": \"json-file\"}}, \"healthCheck\": {{\"command\": [\"CMD\", \"true\"]}},\n\"secrets\": [{{\"name\": \"S3_BUCKET_NAME\"{vf}}}]}}]"
            );
            let got = codes(&td, BUCKET);
            assert_eq!(got.len(), 1, "{vf}: {got:?}");
            assert_eq!(got[0].0, Code::TaskdefSecretRefInvalid, "{vf}");
        }
    }

    /// Hostile H5: the execution role serves every container, and ECS also
    /// needs it for an ECR image written as `Fn::Sub`, log `secretOptions` and
    /// `repositoryCredentials`.
    #[test]
    fn the_execution_role_is_required_by_anything_in_the_task() {
        let base = "{\"taskRoleArn\": \"r\", \"containerDefinitions\": [{\"name\": \"api\", \"essential\": true, \"logConfiguration\": {\"logDriver\": \"json-file\"}, \"healthCheck\": {\"command\": [\"CMD\", \"true\"]}, \"environment\": [{\"name\": \"S3_BUCKET_NAME\", \"value\": \"my-bucket\"}]API}SIDECAR]}";
        for (api, sidecar) in [
            (", \"image\": {\"Fn::Sub\": \"${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/api:1\"}", ""),
            ("", ", {\"name\": \"log\", \"essential\": false, \"secrets\": [{\"name\": \"K\", \"valueFrom\": \"/k\"}]}"),
            ("", ", {\"name\": \"log\", \"essential\": false, \"logConfiguration\": {\"logDriver\": \"splunk\", \"secretOptions\": [{\"name\": \"t\", \"valueFrom\": \"/t\"}]}}"),
            (", \"repositoryCredentials\": {\"credentialsParameter\": \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:r-AbCdEf\"}", ""),
        ] {
            let td = base.replace("API", api).replace("SIDECAR", sidecar);
            let got = codes(&td, BUCKET);
            assert_eq!(got, vec![(Code::TaskdefExecutionRoleMissing, 1)], "{api}{sidecar}");
        }
    }

    /// Hostile H6: a mapping without a container port matches nothing, and a
    /// `containerPortRange` matches the ports inside it.
    #[test]
    fn port_mappings_without_the_port_do_not_match_it() {
        let spec = "[config]\nports = [\"3000\"]\n[preflight]\n";
        for (m, missing) in [
            ("{\"containerPortRange\": \"8000-8010\"}", true),
            ("{\"containerPortRange\": \"2990-3010\"}", false),
            ("{\"hostPort\": 80}", true),
            ("{\"containerPort\": null}", true),
            ("{\"containerPort\": \"3000\"}", false),
            ("{\"containerPort\": 3000, \"protocol\": \"udp\"}", true),
        ] {
            let td = register(&format!("\"portMappings\": [{m}]"));
            let got = codes(&td, spec);
            assert_eq!(
                got == vec![(Code::TaskdefPortMissing, 3)],
                missing,
                "{m}: {got:?}"
            );
            assert!(missing || got.is_empty(), "{m}: {got:?}");
        }
    }

    /// Hostile M4: a variable twice in `environment` is a warning; the
    /// container sees the last entry.
    #[test]
    fn a_variable_twice_in_environment_is_a_duplicate() {
        let td = register(
            "\"environment\": [{\"name\": \"S3_BUCKET_NAME\", \"value\": \"my-bucket\"},\n{\"name\": \"S3_BUCKET_NAME\", \"value\": \"\"}]",
        );
        let mut got = codes(&td, BUCKET);
        got.sort();
        assert_eq!(
            got,
            vec![(Code::TaskdefEnvMissing, 4), (Code::TaskdefEnvDuplicate, 4)]
        );
    }

    /// Hostile M5: a health check must request the spec's path from a URL; no
    /// command, an empty one or `NONE` is no health check.
    #[test]
    fn health_checks_must_request_the_health_path() {
        let spec = "[preflight]\nhealth_path = \"/api/health\"\n";
        let td = |hc: &str| {
            format!("[{{\"name\": \"api\", \"logConfiguration\": {{\"logDriver\": \"json-file\"}},\n\"healthCheck\": {hc}}}]")
        };
        for (hc, want) in [
            ("{\"command\": [\"CMD-SHELL\", \"curl -f http://localhost:3000/api/health || exit 1\"]}", None),
            ("{\"command\": [\"CMD\", \"wget\", \"-qO-\", \"http://127.0.0.1:3000/api/health?full=1\"]}", None),
            ("{\"command\": [\"CMD-SHELL\", \"curl -f http://localhost:3000/api/healthz\"]}", Some(Code::TaskdefHealthcheckPath)),
            ("{\"command\": [\"CMD-SHELL\", \"echo /api/health; exit 0\"]}", Some(Code::TaskdefHealthcheckPath)),
            ("{\"command\": [\"NONE\"]}", Some(Code::TaskdefHealthcheckMissing)),
            ("{\"command\": []}", Some(Code::TaskdefHealthcheckMissing)),
            ("{\"command\": \"curl http://localhost/api/health\"}", Some(Code::TaskdefHealthcheckMissing)),
            ("{}", Some(Code::TaskdefHealthcheckMissing)),
        ] {
            let got: Vec<Code> = codes(&td(hc), spec).into_iter().map(|c| c.0).collect();
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "{hc}");
        }
    }

    /// Hostile M9: connection strings and URLs that carry a password in the
    /// forms libpq, ADO.NET and JDBC take, and a quoted key.
    #[test]
    fn password_keywords_in_every_connection_string_form() {
        for v in [
            "host=db user=app password = CANARY dbname=app",
            "postgres://app@db/app?password=CANARY",
            "postgres://app@db/app?sslmode=require&password=CANARY",
            "Server=db;Database=app;User Id=app;Password=CANARY;",
            "Server=db;Uid=app;Pwd=CANARY;",
            "\"sk_live_CANARY\"",
        ] {
            assert!(secret_shape("X", v).is_some(), "{v}");
        }
        for v in [
            "password=",
            "host=db passwordless=true",
            "Password=;",
            "https://x/reset-password",
        ] {
            assert_eq!(secret_shape("X", v), None, "{v}");
        }
    }

    /// Hostile L2: only region-shaped text is printed as a region, and ARNs
    /// name a known partition.
    #[test]
    fn regions_and_partitions_are_checked_before_use() {
        for r in [
            "eu-west-1",
            "us-gov-west-1",
            "ap-southeast-3",
            "us-iso-east-1",
            "cn-north-1",
        ] {
            assert!(is_region(r), "{r}");
        }
        for r in [
            "sk-live-canary123456",
            "eu-west",
            "EU-west-1",
            "e-west-1",
            "eu--1",
            "eu-west-123",
        ] {
            assert!(!is_region(r), "{r}");
        }
        assert!(check_value_from("arn:bogus:ssm:eu-west-1:123456789012:parameter/x").is_err());
        assert!(check_value_from("arn:aws-cn:ssm:cn-north-1:123456789012:parameter/x").is_ok());
    }

    /// Hostile M7: an ambiguous bare array of 100,000 essential containers
    /// names ten of them, not all (a 1 MB message), and a template over
    /// CloudFormation's 500 resources is refused, not linted section by section.
    #[test]
    fn huge_files_give_bounded_messages() {
        let many = format!(
            "[{}]",
            (0..100_000)
                .map(|i| format!("{{\"name\": \"c{i}\"}}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let lint = Lint {
            file: "td",
            container: None,
            runtime: None,
            spec_ports: &[],
            image: None,
            specs: &[],
        };
        let e = lint
            .run(&doc::parse(&many).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(e.len() < 400 && e.contains("and 99990 more"), "{e}");
        let res = (0..501)
            .map(|i| format!("\"R{i}\": {{\"Type\": \"AWS::S3::Bucket\"}}"))
            .collect::<Vec<_>>()
            .join(",");
        let e = lint
            .run(&doc::parse(&format!("{{\"Resources\": {{{res}}}}}")).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("at most 500"), "{e}");
    }

    /// Hostile L9/L7: an `environment` that is not a list is refused (it was
    /// ignored), and a `logConfiguration` without a `logDriver` is no log
    /// configuration (ECS refuses it).
    #[test]
    fn wrongly_typed_lists_and_log_configurations() {
        let lint = Lint {
            file: "td",
            container: None,
            runtime: None,
            spec_ports: &[],
            image: None,
            specs: &[],
        };
        for key in ["environment", "secrets", "portMappings"] {
            let td = format!("[{{\"name\": \"api\",\n\"{key}\": {{\"name\": \"X\"}}}}]");
            let e = lint
                .run(&doc::parse(&td).unwrap())
                .err()
                .unwrap()
                .to_string();
            assert!(
                e.contains(&format!("`{key}` (line 2)")) && e.contains("not a list"),
                "{e}"
            );
        }
        let got = codes(
            "[{\"name\": \"api\", \"logConfiguration\": {}, \"healthCheck\": {\"command\": [\"CMD\", \"true\"]}}]",
            "[preflight]\n",
        );
        assert_eq!(got, vec![(Code::TaskdefLogsMissing, 1)]);
    }

    /// Hostile M3: literal values are checked by the rule preflight applies at
    /// container start (the same code), never quoted.
    #[test]
    fn literal_values_are_checked_against_their_kind() {
        let spec = "[preflight]\n[[preflight.env]]\nname = \"NODE_ENV\"\nkind = \"one-of\"\nvalues = [\"production\"]\n[[preflight.env]]\nname = \"PORT\"\nkind = \"port\"\n[preflight.s3]\nbucket_env = \"B\"\n";
        let td = |env: &str| register(&format!("\"environment\": [{env}]"));
        let ok = "{\"name\": \"NODE_ENV\", \"value\": \"production\"}, {\"name\": \"PORT\", \"value\": \"3000\"}, {\"name\": \"B\", \"value\": \"my-bucket\"}";
        assert!(codes(&td(ok), spec).is_empty());
        let bad = "{\"name\": \"NODE_ENV\", \"value\": \"CANARYdev\"},\n{\"name\": \"PORT\", \"value\": \"http\"},\n{\"name\": \"B\", \"value\": \"s3://CANARY\"}";
        let got = codes(&td(bad), spec);
        assert_eq!(
            got,
            vec![
                (Code::TaskdefEnvMalformed, 5),
                (Code::TaskdefEnvMalformed, 3),
                (Code::TaskdefEnvMalformed, 4)
            ]
        );
        let r = {
            let spec = crate::spec::SpecFile::parse(Path::new("s.toml"), spec).unwrap();
            let lint = Lint {
                file: "td",
                container: None,
                runtime: spec.runtime.as_ref(),
                spec_ports: &[],
                image: None,
                specs: &[],
            };
            format!("{:?}", lint.run(&doc::parse(&td(bad)).unwrap()).unwrap())
        };
        assert!(!r.contains("CANARY"), "{r}");
    }
}
