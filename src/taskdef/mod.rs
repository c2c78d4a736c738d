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
mod shape;

use crate::report::{CheckOutcome, Code, Finding, Location, Section};
use crate::spec::runtime::RuntimeSpec;
use doc::Node;
pub use shape::{image_repositories, repository_of};
use shape::{Container, Task};
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
    let picked = shape::pick(&tasks, None, repository)?;
    let mut out: Option<TaskVar> = None;
    for (_, c) in &picked {
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
    match set.as_slice() {
        [] => c.maybe_from.map_or(TaskVar::Unset, TaskVar::Unknown),
        [first, rest @ ..] if rest.iter().all(|v| v == first) => match first {
            Some(v) => TaskVar::Set(v.clone()),
            None => TaskVar::Unknown("an `environment` value known only at deploy time"),
        },
        _ => TaskVar::Unknown("`environment` entries that set it differently"),
    }
}

/// What the lint checks against.
pub struct Lint<'a> {
    /// FILE as the user named it; every location points there.
    pub file: &'a str,
    pub container: Option<&'a str>,
    pub runtime: Option<&'a RuntimeSpec>,
    /// Ports the spec's image part requires (`[config] ports`), normalised.
    pub spec_ports: &'a [String],
    pub image: Option<&'a ImageFacts>,
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
        let picked = shape::pick(
            &tasks,
            self.container,
            self.image.and_then(|i| i.repository.as_deref()),
        )
        .map_err(shape_err)?;
        Ok(picked
            .into_iter()
            .map(|(task, c)| self.section(task, &c))
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
        for (name, why) in self.required() {
            let given =
                c.env.iter().any(|e| e.name == name) || c.secrets.iter().any(|s| s.name == name);
            if given || self.in_image(&name) {
                continue;
            }
            let line = self
                .runtime
                .and_then(|r| r.line_of(&name))
                .map(|l| format!(" (spec line {l})"))
                .unwrap_or_default();
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
        for s in &c.secrets {
            if let Some(e) = c.env.iter().find(|e| e.name == s.name) {
                out.push(
                    Finding::warning(
                        Code::TaskdefEnvDuplicate,
                        &s.name,
                        format!("`{}` is in both `environment` (line {}) and `secrets` of container `{}`; which one the container sees is not documented", s.name, e.node.line, c.name),
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
            let shape = match e.value.as_deref() {
                Some(v) => secret_shape(&e.name, v).or_else(|| {
                    (spec_secrets.contains(&e.name.as_str()) && !v.is_empty())
                        .then_some("a value the spec lists as a secret (`[[preflight.secret]]`)")
                }),
                None => None,
            };
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
        let region = task.region.clone().or_else(|| {
            c.env
                .iter()
                .find(|e| e.name == "AWS_REGION" || e.name == "AWS_DEFAULT_REGION")
                .and_then(|e| e.value.clone())
        });
        let mut out = Vec::new();
        for s in &c.secrets {
            let Some(v) = &s.value_from else { continue };
            match check_value_from(v) {
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
                Ok(Some(arn_region)) => {
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
                Ok(None) => {}
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
            props.get(key).is_some_and(|n| {
                n.is_intrinsic() || n.as_str().is_some_and(|s| !s.trim().is_empty())
            })
        };
        let mut needs = Vec::new();
        if !c.secrets.is_empty() {
            needs.push("`secrets`");
        }
        if c.image.as_deref().is_some_and(|i| i.contains(".dkr.ecr.")) {
            needs.push("an ECR image");
        }
        if c.log_driver.as_deref() == Some("awslogs") {
            needs.push("the `awslogs` log driver");
        }
        if !needs.is_empty() && !has("executionRoleArn") {
            out.push(
                Finding::error(
                    Code::TaskdefExecutionRoleMissing,
                    &c.name,
                    format!("the task has no `executionRoleArn`, which ECS needs for {} of container `{}`; the task will not start", needs.join(", "), c.name),
                )
                .hint("set `executionRoleArn` to a role with `AmazonECSTaskExecutionRolePolicy` and `secretsmanager:GetSecretValue` on the secrets")
                .at(self.at(props)),
            );
        }
        let s3 = self
            .runtime
            .and_then(|r| r.s3.as_ref())
            .filter(|s| s.required);
        let static_keys = c
            .env
            .iter()
            .map(|e| &e.name)
            .chain(c.secrets.iter().map(|s| &s.name))
            .any(|n| n == "AWS_ACCESS_KEY_ID");
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
            if mapped
                .iter()
                .any(|(n, pr)| n.as_deref().is_none_or(|n| n == num) && pr.as_str() == proto)
            {
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
        match &c.health {
            None => vec![Finding::warning(
                Code::TaskdefHealthcheckMissing,
                &c.name,
                format!("container `{}` has no `healthCheck`, so ECS counts it healthy as soon as it runs", c.name),
            )
            .hint(match path {
                Some(p) => format!("add `\"healthCheck\": {{\"command\": [\"CMD-SHELL\", \"wget -qO- http://localhost:$PORT{p} || exit 1\"]}}` (or curl, if the image has it)"),
                None => "add a `healthCheck` whose `command` calls the server's health endpoint".into(),
            })
            .at(self.at(c.node))],
            Some((node, cmd)) => match (path, cmd) {
                (Some(p), Some(cmd)) if !cmd.contains(p) => vec![Finding::warning(
                    Code::TaskdefHealthcheckPath,
                    &c.name,
                    format!("the `healthCheck` of container `{}` does not call the spec's `health_path` `{p}`", c.name),
                )
                .hint(format!("make the command request `{p}` (e.g. `wget -qO- http://localhost:$PORT{p} || exit 1`)"))
                .at(self.at(node))],
                _ => vec![],
            },
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

/// What secret a plain value looks like, if any; the value is never returned.
pub fn secret_shape(name: &str, v: &str) -> Option<&'static str> {
    let v = v.trim();
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
    if v.contains("{{resolve:secretsmanager:") || v.contains("{{resolve:ssm-secure:") {
        return Some("a CloudFormation dynamic reference, which resolves to the secret's value");
    }
    if url_has_password(v) {
        return Some("a URL with a password");
    }
    if v.split_whitespace().any(|kv| {
        kv.split_once('=')
            .is_some_and(|(k, val)| k.eq_ignore_ascii_case("password") && !val.is_empty())
    }) {
        return Some("a connection string with a password");
    }
    if name == "AWS_SECRET_ACCESS_KEY" && v.len() == 40 {
        return Some("an AWS secret access key");
    }
    None
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

/// Checks a `secrets[].valueFrom` as ECS reads it. `Ok(Some(region))` for an ARN
/// (whose region the caller compares with the task's), `Ok(None)` for a
/// parameter name; `Err((message, hint))` for what ECS rejects. The value is
/// never quoted (a secret pasted where its ARN belongs is an easy slip).
pub fn check_value_from(v: &str) -> Result<Option<String>, (String, String)> {
    let full = "write the full ARN, e.g. `arn:aws:secretsmanager:eu-west-1:123456789012:secret:NAME-AbCdEf` (`aws secretsmanager describe-secret --secret-id NAME --query ARN`)";
    if v.is_empty() {
        return Err(("is empty".into(), full.into()));
    }
    if v.contains(['*', '?']) {
        return Err((
            "holds a wildcard (`*` or `?`); ECS fetches exactly one secret and never expands wildcards".into(),
            full.into(),
        ));
    }
    if let Some(rest) = v.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.split(':').collect();
        let ok_region = |r: &str| {
            !r.is_empty()
                && r.split('-').count() >= 3
                && r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        let ok_account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
        if parts.len() < 5 || parts[0].is_empty() {
            return Err((
                "is a partial ARN (too few `:`-separated fields)".into(),
                full.into(),
            ));
        }
        let (service, region, account) = (parts[1], parts[2], parts[3]);
        if !ok_region(region) || !ok_account(account) {
            return Err((
                "is an ARN without a valid region or 12-digit account; ECS rejects partial ARNs"
                    .into(),
                full.into(),
            ));
        }
        match service {
            "secretsmanager" => {
                if parts.get(4) != Some(&"secret") || parts.get(5).is_none_or(|n| n.is_empty()) {
                    return Err((
                        "is a Secrets Manager ARN without `secret:NAME`".into(),
                        full.into(),
                    ));
                }
                match parts.len() {
                    6 | 9 => Ok(Some(region.to_string())),
                    7 | 8 => Err((
                        "names a JSON key or version without all three of `:json-key:version-stage:version-id`; ECS rejects it".into(),
                        "end it so the three fields are all there, empty ones included: `…:secret:NAME:KEY::` for a JSON key".into(),
                    )),
                    _ => Err((
                        "has more fields than `…:secret:NAME:json-key:version-stage:version-id`".into(),
                        full.into(),
                    )),
                }
            }
            "ssm" => {
                if parts.len() == 5
                    && parts[4]
                        .strip_prefix("parameter")
                        .is_some_and(|p| p.starts_with('/') && p.len() > 1)
                {
                    Ok(Some(region.to_string()))
                } else {
                    Err((
                        "is an SSM ARN that is not `…:parameter/NAME`".into(),
                        "write `arn:aws:ssm:REGION:ACCOUNT:parameter/NAME` (for `/app/db-url`: `…:parameter/app/db-url`)".into(),
                    ))
                }
            }
            _ => Err((
                "is an ARN of neither Secrets Manager nor SSM Parameter Store".into(),
                full.into(),
            )),
        }
    } else if v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'))
    {
        // ECS reads a bare name as an SSM parameter in the task's region.
        Ok(None)
    } else {
        Err((
            "is neither an ARN nor an SSM parameter name (letters, digits, `_.-/`)".into(),
            full.into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_from_is_read_as_ecs_reads_it() {
        let ok = [
            (
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
                Some("eu-west-1"),
            ),
            (
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf:url::",
                Some("eu-west-1"),
            ),
            (
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db:url:AWSCURRENT:",
                Some("eu-west-1"),
            ),
            (
                "arn:aws:ssm:us-east-1:123456789012:parameter/app/db",
                Some("us-east-1"),
            ),
            ("/app/db", None),
            ("db_url", None),
        ];
        for (v, r) in ok {
            assert_eq!(check_value_from(v).unwrap().as_deref(), r, "{v}");
        }
        for v in [
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-??????",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:*",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db:url",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db:url:x",
            "arn:aws:secretsmanager:eu-west-1::secret:db",
            "arn:aws:secretsmanager:::secret:db",
            "arn:aws:s3:::bucket",
            "arn:aws:ssm:eu-west-1:123456789012:db",
            "sk_live_CANARY with spaces",
            "",
        ] {
            let (m, _) = check_value_from(v).unwrap_err();
            assert!(!m.contains("CANARY"), "{v}: {m}");
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
            format!(r#"{{"name": "a", "environment": [{}, {}]}}"#, env("\"a\""), env("\"b\"")),
        ] {
            assert!(matches!(var(&unknown), TaskVar::Unknown(_)), "{unknown}");
        }
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
}
