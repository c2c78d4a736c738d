//! Required environment variables: present, and of the expected shape (URL,
//! PostgreSQL URL, integer, port, one of a set, S3 bucket name, JSON with keys).
//! Messages describe what is wrong with a value without ever showing it.

use crate::preflight::dburl;
use crate::preflight::environ::Env;
use crate::preflight::spec::{EnvKind, EnvRule};
use crate::report::{CheckOutcome, Code, Finding};

/// Why `v` is not a valid S3 bucket name, per S3's naming rules.
pub fn bucket_name_problem(v: &str) -> Option<(String, String)> {
    if v.starts_with("s3://") || v.starts_with("arn:") || v.starts_with("http") {
        return Some((
            "is a URL or ARN, not a bucket name".into(),
            "set the bare bucket name (`my-bucket`), without `s3://`, `arn:aws:s3:::` or a path"
                .into(),
        ));
    }
    let hint = "bucket names are 3-63 characters of lowercase letters, digits, `.` and `-`, starting and ending with a letter or digit".to_string();
    if v.len() < 3 || v.len() > 63 {
        return Some((
            format!("is {} characters long; bucket names have 3 to 63", v.len()),
            hint,
        ));
    }
    if v.chars().any(|c| c.is_ascii_uppercase()) {
        return Some(("contains uppercase letters".into(), hint));
    }
    if v.trim() != v {
        return Some((
            "has leading or trailing whitespace".into(),
            "remove the whitespace (often a trailing newline from `echo`)".into(),
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Some((
            "contains characters other than lowercase letters, digits, `.` and `-`".into(),
            hint,
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(v.chars().next()) || !edge_ok(v.chars().last()) {
        return Some(("does not start and end with a letter or digit".into(), hint));
    }
    if v.contains("..") || v.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some(("has `..` or is an IP address".into(), hint));
    }
    None
}

fn looks_like_url(v: &str) -> bool {
    let Some((scheme, rest)) = v.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    scheme_ok && !host.is_empty() && !v.contains(char::is_whitespace)
}

/// `(problem, hint)` when `v` does not fit the rule.
fn problem(rule: &EnvRule, v: &str) -> Option<(String, String)> {
    match rule.kind {
        EnvKind::String => None,
        EnvKind::Url => (!looks_like_url(v)).then(|| ("is not an absolute URL (`scheme://host/…`)".into(), "set a full URL including the scheme".into())),
        EnvKind::PostgresUrl => dburl::parse(v).err().map(|e| {
            (format!("is not a valid PostgreSQL connection string: {e}"), "use `postgresql://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full`; percent-encode special characters in the password".into())
        }),
        EnvKind::Integer => v.trim().parse::<i64>().is_err().then(|| ("is not an integer".into(), "set a whole number".into())),
        EnvKind::Port => match v.parse::<u16>() {
            Ok(p) if p > 0 => None,
            _ => Some(("is not a port number from 1 to 65535".into(), "set a port such as `3000`".into())),
        },
        EnvKind::OneOf => (!rule.values.iter().any(|x| x == v)).then(|| {
            (format!("is not one of {}", rule.values.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", ")), "set one of the listed values".into())
        }),
        EnvKind::S3Bucket => bucket_name_problem(v),
        EnvKind::Json => match serde_json::from_str::<serde_json::Value>(v) {
            Err(e) => Some((format!("is not valid JSON (line {}, column {})", e.line(), e.column()), "check the quoting of the value in the task definition".into())),
            Ok(j) => {
                let missing: Vec<&String> = rule.keys.iter().filter(|k| j.get(k.as_str()).is_none()).collect();
                (!missing.is_empty()).then(|| {
                    (format!("is JSON without the keys {}", missing.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")), "add the missing keys".into())
                })
            }
        },
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
