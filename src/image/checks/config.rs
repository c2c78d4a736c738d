//! Spec `[config]` rules against the image config: user, workdir, exposed ports,
//! environment, and entrypoint/cmd prefixes.

use crate::image::spec::{normalize_port, ConfigRule, UserRule};
use crate::report::{CheckOutcome, Code, Finding};
use oci_spec::image::ImageConfiguration;

/// Whether a Docker `USER` value means root (empty means root too).
pub fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("");
    name.is_empty() || name == "root" || name == "0"
}

/// The last value of `key` in a `KEY=VALUE` list, as the runtime applies them.
pub fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|e| e.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

fn show(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub fn check(cfg: &ImageConfiguration, rule: &ConfigRule) -> CheckOutcome {
    let c = cfg.config().clone().unwrap_or_default();
    let mut findings = Vec::new();
    let user = c.user().clone().unwrap_or_default();
    match &rule.user {
        Some(UserRule::NonRoot) if is_root(&user) => findings.push(
            Finding::error(
                Code::ConfigUserRoot,
                "USER",
                if user.is_empty() {
                    "the image has no USER, so it runs as root".to_string()
                } else {
                    format!("USER is `{user}`, which is root")
                },
            )
            .hint("add `USER node` (or another unprivileged user) to the final stage of the Dockerfile"),
        ),
        Some(UserRule::Exactly(want)) if *want != user => findings.push(
            Finding::error(Code::ConfigUserMismatch, "USER", format!("USER is `{user}`, the spec wants `{want}`"))
                .hint(format!("set `USER {want}` in the final stage of the Dockerfile")),
        ),
        _ => {}
    }
    if let Some(want) = &rule.workdir {
        let have = c.working_dir().clone().unwrap_or_default();
        let norm = |s: &str| {
            let t = s.trim_end_matches('/');
            if t.is_empty() {
                "/".to_string()
            } else {
                t.to_string()
            }
        };
        if norm(&have) != norm(want) {
            findings.push(
                Finding::error(
                    Code::ConfigWorkdirMismatch,
                    "WORKDIR",
                    format!("WORKDIR is `{}`, the spec wants `{want}`", if have.is_empty() { "/" } else { &have }),
                )
                .hint(format!("set `WORKDIR {want}` in the final stage; relative paths in CMD resolve against it")),
            );
        }
    }
    let exposed: Vec<String> = c
        .exposed_ports()
        .clone()
        .unwrap_or_default()
        .iter()
        .filter_map(|p| normalize_port(p))
        .collect();
    for p in &rule.ports {
        if !exposed.contains(p) {
            findings.push(
                Finding::error(
                    Code::ConfigPortMissing,
                    p,
                    format!(
                        "port `{p}` is not exposed (EXPOSE has {})",
                        if exposed.is_empty() {
                            "nothing".into()
                        } else {
                            exposed.join(", ")
                        }
                    ),
                )
                .hint(format!(
                    "add `EXPOSE {p}` to the Dockerfile and make the server listen on it"
                )),
            );
        }
    }
    let env = c.env().clone().unwrap_or_default();
    for (k, want) in &rule.env {
        match (env_value(&env, k), want) {
            (None, _) => findings.push(
                Finding::error(
                    Code::ConfigEnvMissing,
                    k,
                    format!("`{k}` is not set in the image config"),
                )
                .hint(format!(
                    "add `ENV {k}={}` to the final stage",
                    want.as_deref().unwrap_or("…")
                )),
            ),
            (Some(have), Some(w)) if have != w => findings.push(
                Finding::error(
                    Code::ConfigEnvMismatch,
                    k,
                    format!("`{k}` is `{have}`, the spec wants `{w}`"),
                )
                .hint(format!("set `ENV {k}={w}` in the final stage")),
            ),
            _ => {}
        }
    }
    let prefixes = [
        (
            Code::ConfigEntrypointMismatch,
            "ENTRYPOINT",
            &rule.entrypoint,
            c.entrypoint().clone().unwrap_or_default(),
        ),
        (
            Code::ConfigCmdMismatch,
            "CMD",
            &rule.cmd,
            c.cmd().clone().unwrap_or_default(),
        ),
    ];
    for (code, name, want, have) in prefixes {
        if let Some(want) = want {
            if !have.starts_with(want) {
                findings.push(
                    Finding::error(
                        code,
                        name,
                        format!(
                            "{name} is `{}`, which does not start with `{}`",
                            show(&have),
                            show(want)
                        ),
                    )
                    .hint(format!("set `{name} {}` in the Dockerfile", show(want))),
                );
            }
        }
    }
    CheckOutcome::from_findings("config", findings)
}
