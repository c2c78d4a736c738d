//! Required environment variables: present, and of the expected shape (URL,
//! PostgreSQL URL, integer, port, one of a set, S3 bucket name, JSON with keys).
//! Messages describe what is wrong with a value without ever showing it.

use crate::preflight::dburl;
use crate::preflight::environ::Env;
use crate::preflight::spec::{EnvKind, EnvRule};
use crate::report::{CheckOutcome, Code, Finding};

pub use crate::spec::runtime::bucket_name_problem;

/// `(problem, hint)` when `v` does not fit the rule: the shared check (which the
/// task-definition lint runs on literal values too), and the PostgreSQL URL
/// parser, which only preflight has.
fn problem(rule: &EnvRule, v: &str) -> Option<(String, String)> {
    match rule.kind {
        EnvKind::PostgresUrl => dburl::parse(v).err().map(|e| {
            (format!("is not a valid PostgreSQL connection string: {e}"), "use `postgresql://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full`; percent-encode special characters in the password".into())
        }),
        _ => rule.value_problem(v),
    }
}

pub fn probe(env: &Env, rules: &[EnvRule]) -> CheckOutcome {
    let mut findings = Vec::new();
    let mut well_formed = 0;
    let mut optional_unset = 0;
    for rule in rules {
        match env.get(&rule.name) {
            None if rule.optional => optional_unset += 1,
            None => findings.push(
                Finding::error(Code::EnvMissing, &rule.name, format!("`{}` is not set", rule.name))
                    .hint(format!("add `{}` to the container's environment (ECS: the task definition's `environment` or `secrets`)", rule.name)),
            ),
            Some(v) => match problem(rule, v.expose()) {
                Some((what, hint)) => findings.push(Finding::error(Code::EnvMalformed, &rule.name, format!("`{}` {what}", rule.name)).hint(hint)),
                None => well_formed += 1,
            },
        }
    }
    // The summary counts what the findings do not contradict: a set but malformed
    // variable is not "well formed".
    let mut detail = format!(
        "{well_formed} of {} variables set and well formed",
        rules.len()
    );
    if optional_unset > 0 {
        detail.push_str(&format!("; {optional_unset} optional not set"));
    }
    CheckOutcome::from_findings("env", findings).detail(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, kind: EnvKind) -> EnvRule {
        EnvRule {
            name: name.into(),
            kind,
            values: vec!["production".into()],
            keys: vec!["a".into()],
            optional: false,
        }
    }

    #[test]
    fn shapes() {
        assert!(bucket_name_problem("scalemap-uploads").is_none());
        for bad in [
            "s3://scalemap-uploads",
            "Scalemap",
            "ab",
            "-abc",
            "a..b",
            "192.168.1.1",
            "has_underscore",
        ] {
            assert!(bucket_name_problem(bad).is_some(), "{bad}");
        }
        assert!(problem(&rule("X", EnvKind::Url), "https://api.example.com/x").is_none());
        assert!(problem(&rule("X", EnvKind::Url), "api.example.com").is_some());
        assert!(problem(&rule("X", EnvKind::Port), "0").is_some());
        assert!(problem(&rule("X", EnvKind::OneOf), "prod").is_some());
        assert!(problem(&rule("X", EnvKind::Json), "{\"a\":1}").is_none());
        assert!(problem(&rule("X", EnvKind::Json), "{\"b\":1}").is_some());
        assert!(problem(
            &rule("X", EnvKind::PostgresUrl),
            "postgres://u@h/db?sslmode=verify-full"
        )
        .is_none());
    }

    #[test]
    fn postgres_urls_are_judged_by_libpqs_rules_without_echo() {
        for bad in [
            "{\"username\":\"CANARY-u\",\"password\":\"CANARY-p\"}",
            "host=h&user=u&password=CANARY-p",
            "postgres://u:CANARY@p/x@h/db",
            "postgres://u@h/db?sslmode=CANARY",
        ] {
            let (what, _) = problem(&rule("X", EnvKind::PostgresUrl), bad).expect(bad);
            assert!(!what.contains("CANARY"), "{bad}: {what}");
        }
        let (what, _) = problem(&rule("X", EnvKind::PostgresUrl), "{\"a\":1}").unwrap();
        assert!(what.contains(":KEY::"), "{what}");
        // sslcrldir is a libpq 15 keyword.
        assert!(problem(&rule("X", EnvKind::PostgresUrl), "host=h sslcrldir=/crl").is_none());
    }

    #[test]
    fn never_prints_values() {
        let env = Env::from_pairs([("B", "s3://CANARY-value"), ("P", "CANARY")]);
        let out = probe(
            &env,
            &[
                rule("B", EnvKind::S3Bucket),
                rule("P", EnvKind::Port),
                rule("MISSING", EnvKind::String),
            ],
        );
        let text = format!("{out:?}");
        assert!(!text.contains("CANARY"), "{text}");
        assert_eq!(out.findings.len(), 3);
    }

    #[test]
    fn summary_line_agrees_with_findings() {
        let env = Env::from_pairs([("P", "http"), ("OK", "x")]);
        let mut optional = rule("OPT", EnvKind::String);
        optional.optional = true;
        let out = probe(
            &env,
            &[
                rule("P", EnvKind::Port),
                rule("OK", EnvKind::String),
                optional,
            ],
        );
        assert_eq!(out.findings.len(), 1);
        assert_eq!(
            out.detail.as_deref(),
            Some("1 of 3 variables set and well formed; 1 optional not set")
        );
    }
}
