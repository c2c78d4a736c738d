//! Everything preflight knows: the spec, the environment snapshot, the probes, and
//! [`run`], which runs every probe concurrently under per-probe deadlines and an
//! overall one, so a peer that never answers cannot hang the container's start.

pub mod app;
pub mod dburl;
pub mod environ;
pub mod exec;
pub mod probes;
pub mod spec;
pub mod stop;

use crate::report::{CheckOutcome, Code, Finding, Report, Section};
use environ::Env;
use spec::{EnvRule, PostgresRule, S3Rule, SecretRule, Spec};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The spec plus what the flags add, with the built-in defaults filled in.
pub fn effective(mut spec: Spec, require: &[EnvRule], secrets: &[SecretRule], env: &Env) -> Spec {
    // A flag replaces the spec's rule for the same variable: the command line is
    // the more specific statement.
    for r in require {
        spec.env.retain(|e| e.name != r.name);
        spec.env.push(r.clone());
    }
    for s in secrets {
        spec.secrets.retain(|e| e.name != s.name);
        spec.secrets.push(s.clone());
    }
    if spec.postgres.is_none() && env.get("DATABASE_URL").is_some() {
        spec.postgres = Some(PostgresRule {
            url_env: "DATABASE_URL".into(),
            required: false,
        });
    }
    if spec.s3.is_none() && env.get("S3_BUCKET_NAME").is_some() {
        spec.s3 = Some(S3Rule {
            bucket_env: "S3_BUCKET_NAME".into(),
            required: false,
            write_prefix: None,
            path_style: None,
        });
    }
    spec
}

type Probe<'a> = (
    &'static str,
    Pin<Box<dyn Future<Output = CheckOutcome> + Send + 'a>>,
);

/// Runs every probe concurrently. Each has `timeout`; the whole run has `timeout`
/// plus a second of grace, after which unfinished probes are reported as timed out.
pub async fn run(spec: &Spec, env: &Env, timeout: Duration) -> Report {
    let mut probes: Vec<Probe> = Vec::new();
    if !spec.env.is_empty() {
        probes.push((
            "env",
            Box::pin(async { probes::env::probe(env, &spec.env) }),
        ));
    }
    if !spec.secrets.is_empty() {
        probes.push((
            "secrets",
            Box::pin(async {
                probes::secrets::probe(env, &spec.secrets, spec.fingerprint_key.as_deref())
            }),
        ));
    }
    if let Some(rule) = &spec.postgres {
        if rule.required || env.get(&rule.url_env).is_some() {
            probes.push((
                "postgres",
                Box::pin(probes::postgres::probe(env, rule, timeout)),
            ));
        }
    }
    if let Some(rule) = &spec.s3 {
        if rule.required || env.get(&rule.bucket_env).is_some() {
            probes.push(("s3", Box::pin(probes::s3::probe(env, rule, timeout))));
        }
    }
    // Saturating: the CLI and spec cap deadlines at ten minutes, but `run` is also
    // called from tests and other code with any Duration.
    let overall = timeout.saturating_add(Duration::from_secs(1));
    let per_probe = timeout.saturating_add(Duration::from_millis(250));
    let handles: Vec<_> = probes
        .into_iter()
        .map(|(name, fut)| {
            let started = Instant::now();
            // A library that panics (the AWS SDK's signer does on a credential
            // holding a control character, deep inside a role chain where we
            // cannot check it first) costs that probe, never the report.
            let fut = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut));
            async move {
                match tokio::time::timeout(per_probe, fut).await {
                    Ok(Ok(outcome)) => outcome.duration(started.elapsed()),
                    Ok(Err(_)) => CheckOutcome::not_run(
                        name,
                        Finding::error(
                            Code::ProbeCrashed,
                            name,
                            format!("the `{name}` probe failed inside a library and could not check"),
                        )
                        .hint(if name == "s3" {
                            "look for a control character (a pasted newline) in the AWS credentials each profile of the chain yields, `credential_process` output included"
                        } else {
                            "please report it; run with `--format json` for the rest of the report"
                        }),
                    )
                    .duration(started.elapsed()),
                    Err(_) => CheckOutcome::from_findings(
                        name,
                        vec![Finding::error(Code::ProbeTimeout, name, format!("the probe did not finish within {:.1}s", timeout.as_secs_f64()))
                            .hint("a dependency accepted the connection but never answered; raise `--timeout` only if it is known to be slow")],
                    )
                    .duration(started.elapsed()),
                }
            }
        })
        .collect();
    let checks = match tokio::time::timeout(overall, futures_util::future::join_all(handles)).await
    {
        Ok(c) => c,
        Err(_) => vec![CheckOutcome::not_run(
            "preflight",
            Finding::error(
                Code::ProbeTimeout,
                "preflight",
                "the run did not finish within its overall deadline",
            ),
        )],
    };
    let mut notes = Vec::new();
    match &spec.path {
        Some(p) => notes.push(format!("spec `{}`", p.display())),
        None => notes.push("no spec file: probes from flags, PostgreSQL when DATABASE_URL is set, S3 when S3_BUCKET_NAME is set".into()),
    }
    let mut report = Report::new("preflight");
    report.sections.push(Section {
        target: "preflight".into(),
        notes,
        checks,
    });
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_arithmetic_saturates_instead_of_panicking() {
        let env = Env::from_pairs([("PORT", "3000")]);
        let spec = effective(
            Spec::default(),
            &[spec::parse_require("PORT:port").unwrap()],
            &[],
            &env,
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let report = rt.block_on(run(&spec, &env, Duration::MAX));
        assert_eq!(report.exit_code(false), 0);
    }
}
