//! The runtime part of a spec file: the `[preflight]` table, what the container
//! needs at start (variables, secrets, PostgreSQL, S3). preflight enforces it when
//! the container starts; image-check validates it with the rest of the file and
//! lints task definitions against it, so both read it through this one module.

use crate::specfile::{SpecError, SpecText};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvKind {
    String,
    Url,
    PostgresUrl,
    Integer,
    Port,
    OneOf,
    S3Bucket,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretKind {
    /// Guess from the value's shape (Stripe, OpenAI and PEM prefixes; JSON objects).
    Auto,
    String,
    Stripe,
    Openai,
    Cognito,
    Pem,
}

#[derive(Debug, Clone)]
pub struct EnvRule {
    pub name: String,
    pub kind: EnvKind,
    pub values: Vec<String>,
    pub keys: Vec<String>,
    pub optional: bool,
}

#[derive(Debug, Clone)]
pub struct SecretRule {
    pub name: String,
    pub kind: SecretKind,
}

#[derive(Debug, Clone)]
pub struct PostgresRule {
    pub url_env: String,
    /// Probe even when the variable is unset (then that is the finding).
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct S3Rule {
    pub bucket_env: String,
    pub required: bool,
    /// When set, put and delete a small object under this prefix.
    pub write_prefix: Option<String>,
    /// Path-style addressing; default: on when an endpoint override is set.
    pub path_style: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    name: Spanned<String>,
    kind: Option<EnvKind>,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    optional: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    name: Spanned<String>,
    kind: Option<SecretKind>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostgres {
    url_env: Option<Spanned<String>>,
    #[serde(default)]
    required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawS3 {
    bucket_env: Option<Spanned<String>>,
    #[serde(default)]
    required: bool,
    write_prefix: Option<String>,
    path_style: Option<bool>,
}

/// The `[preflight]` table as TOML gives it, with spans for the errors that
/// validation finds after deserializing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRuntime {
    timeout: Option<Spanned<String>>,
    fingerprint_key: Option<Spanned<String>>,
    #[serde(default)]
    env: Vec<RawEnv>,
    #[serde(default)]
    secret: Vec<RawSecret>,
    // Not `Spanned` (toml cannot span `postgres.required = true`): the line
    // comes from `SpecText::line_of_key`.
    postgres: Option<RawPostgres>,
    s3: Option<RawS3>,
    health_path: Option<Spanned<String>>,
}

/// A validated runtime spec.
#[derive(Debug, Clone, Default)]
pub struct RuntimeSpec {
    pub path: Option<PathBuf>,
    pub timeout: Option<Duration>,
    /// A pepper for secret fingerprints; `SHIPCHECK_FINGERPRINT_KEY` wins over it.
    pub fingerprint_key: Option<String>,
    pub env: Vec<EnvRule>,
    pub secrets: Vec<SecretRule>,
    pub postgres: Option<PostgresRule>,
    pub s3: Option<S3Rule>,
    /// The path the server answers health checks on (`/api/health`); the
    /// task-definition lint checks the container health check calls it.
    pub health_path: Option<String>,
    /// Where each variable the spec names is named (1-based line), for findings
    /// that point at the spec.
    pub lines: Vec<(String, usize)>,
}

impl RuntimeSpec {
    /// The runtime part of the file at `path`; the whole file is validated, and a
    /// file without a `[preflight]` table is an error (it says nothing to check).
    pub fn load(path: &std::path::Path) -> Result<RuntimeSpec, SpecError> {
        Self::from_file(path, &SpecText::read(path)?)
    }

    /// As [`RuntimeSpec::load`], on text already read.
    pub fn parse(path: &std::path::Path, text: &str) -> Result<RuntimeSpec, SpecError> {
        Self::from_file(path, text)
    }

    fn from_file(path: &std::path::Path, text: &str) -> Result<RuntimeSpec, SpecError> {
        match super::SpecFile::parse(path, text)?.runtime {
            Some(r) => Ok(r),
            None => Err(SpecText { path, text }.invalid(0, "the file has no `[preflight]` table")),
        }
    }

    /// The line of the spec that names `var`, when the spec names it.
    pub fn line_of(&self, var: &str) -> Option<usize> {
        self.lines.iter().find(|(n, _)| n == var).map(|(_, l)| *l)
    }
}

impl RawRuntime {
    /// Validates the table; `at` is where the `[preflight]` header is, for errors
    /// about the table as a whole.
    pub(crate) fn validate(self, st: &SpecText) -> Result<RuntimeSpec, SpecError> {
        let timeout = match &self.timeout {
            None => None,
            Some(t) => Some(
                parse_timeout(t.get_ref())
                    .map_err(|e| st.invalid(t.span().start, format!("`timeout` {e}")))?,
            ),
        };
        let fingerprint_key = match self.fingerprint_key {
            // An empty key makes every fingerprint a plain, unkeyed hash.
            Some(k) if k.get_ref().is_empty() => {
                return Err(st.invalid(k.span().start, "`fingerprint_key` is empty"));
            }
            k => k.map(Spanned::into_inner),
        };
        let health_path = match self.health_path {
            Some(h)
                if !h.get_ref().starts_with('/')
                    || h.get_ref().chars().any(char::is_whitespace) =>
            {
                return Err(st.invalid(
                    h.span().start,
                    "`health_path` must be a URL path starting with `/`, like `/api/health`",
                ));
            }
            h => h.map(Spanned::into_inner),
        };
        let mut lines = Vec::new();
        let name = |lines: &mut Vec<(String, usize)>,
                    table: &str,
                    n: &Spanned<String>|
         -> Result<String, SpecError> {
            check_var_name(n.get_ref())
                .map_err(|e| st.invalid(n.span().start, format!("a `{table}` rule: {e}")))?;
            lines.push((n.get_ref().clone(), st.line_of(n.span().start)));
            Ok(n.get_ref().clone())
        };
        let mut env = Vec::new();
        for r in self.env {
            let kind = r.kind.unwrap_or(EnvKind::String);
            let n = name(&mut lines, "env", &r.name)?;
            if kind == EnvKind::OneOf && r.values.is_empty() {
                return Err(st.invalid(
                    r.name.span().start,
                    format!("`{}` is `one-of` but lists no `values`", r.name.get_ref()),
                ));
            }
            env.push(EnvRule {
                name: n,
                kind,
                values: r.values,
                keys: r.keys,
                optional: r.optional,
            });
        }
        let mut secrets = Vec::new();
        for r in self.secret {
            secrets.push(SecretRule {
                name: name(&mut lines, "secret", &r.name)?,
                kind: r.kind.unwrap_or(SecretKind::Auto),
            });
        }
        let postgres = match self.postgres {
            None => None,
            Some(p) => {
                let url_env = match &p.url_env {
                    Some(n) => name(&mut lines, "postgres", n)?,
                    None => {
                        let line = st.line_of_key(&["preflight", "postgres"]).unwrap_or(1);
                        lines.push(("DATABASE_URL".into(), line));
                        "DATABASE_URL".into()
                    }
                };
                Some(PostgresRule {
                    url_env,
                    required: p.required,
                })
            }
        };
        let s3 = match self.s3 {
            None => None,
            Some(s) => {
                let bucket_env = match &s.bucket_env {
                    Some(n) => name(&mut lines, "s3", n)?,
                    None => {
                        let line = st.line_of_key(&["preflight", "s3"]).unwrap_or(1);
                        lines.push(("S3_BUCKET_NAME".into(), line));
                        "S3_BUCKET_NAME".into()
                    }
                };
                Some(S3Rule {
                    bucket_env,
                    required: s.required,
                    write_prefix: s.write_prefix,
                    path_style: s.path_style,
                })
            }
        };
        Ok(RuntimeSpec {
            path: Some(st.path.to_path_buf()),
            timeout,
            fingerprint_key,
            env,
            secrets,
            postgres,
            s3,
            health_path,
            lines,
        })
    }
}

/// The longest `--timeout` or spec `timeout`: a probe deadline beyond this is a
/// typo (`5m` for `5s`, `10y`), and keeping deadlines small keeps every sum of them
/// far from overflowing.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// The shortest deadline a probe can honestly report on.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);

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

/// An absolute URL with a host, as the WHATWG URL parser (Node's `new URL()`,
/// what the server will parse it with) reads it: a port out of range, an
/// unclosed `[`, a bad percent-escape or an impossible IPv4 address fail there
/// at start, so here too. Whitespace is refused outright (a pasted newline).
fn looks_like_url(v: &str) -> bool {
    v.contains("://")
        && !v.contains(char::is_whitespace)
        && url::Url::parse(v).is_ok_and(|u| u.has_host() && u.host_str() != Some(""))
}

impl EnvRule {
    /// `(problem, hint)` when `v` does not fit the rule, never quoting `v`.
    /// `postgres-url` is not checked here: its parser (libpq's rules) is
    /// preflight's, which checks it at container start.
    pub fn value_problem(&self, v: &str) -> Option<(String, String)> {
        let rule = self;
        match rule.kind {
            EnvKind::String => None,
            EnvKind::Url => (!looks_like_url(v)).then(|| {
                (
                    "is not an absolute URL (`scheme://host/…`)".into(),
                    "set a full URL including the scheme".into(),
                )
            }),
            EnvKind::PostgresUrl => None,
            EnvKind::Integer => v
                .trim()
                .parse::<i64>()
                .is_err()
                .then(|| ("is not an integer".into(), "set a whole number".into())),
            EnvKind::Port => match v.parse::<u16>() {
                Ok(p) if p > 0 => None,
                _ => Some((
                    "is not a port number from 1 to 65535".into(),
                    "set a port such as `3000`".into(),
                )),
            },
            EnvKind::OneOf => (!rule.values.iter().any(|x| x == v)).then(|| {
                (
                    format!(
                        "is not one of {}",
                        rule.values
                            .iter()
                            .map(|x| format!("`{x}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "set one of the listed values".into(),
                )
            }),
            EnvKind::S3Bucket => bucket_name_problem(v),
            EnvKind::Json => match serde_json::from_str::<serde_json::Value>(v) {
                Err(e) => Some((
                    format!(
                        "is not valid JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                    "check the quoting of the value in the task definition".into(),
                )),
                Ok(j) => {
                    let missing: Vec<&String> = rule
                        .keys
                        .iter()
                        .filter(|k| j.get(k.as_str()).is_none())
                        .collect();
                    (!missing.is_empty()).then(|| {
                        (
                            format!(
                                "is JSON without the keys {}",
                                missing
                                    .iter()
                                    .map(|k| format!("`{k}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            "add the missing keys".into(),
                        )
                    })
                }
            },
        }
    }
}

/// A probe deadline: a duration like `5s` or `1500ms`, more than 0 and at most
/// [`MAX_TIMEOUT`]. The error never quotes the value.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    // humantime's own errors quote the input; a value that long is not a duration.
    let d = if s.len() > 64 {
        None
    } else {
        humantime::parse_duration(s).ok()
    };
    match d {
        None => Err("is not a duration like `5s` or `1500ms`".into()),
        Some(d) if d.is_zero() => Err("must be more than 0".into()),
        // Below this no probe can do more than report its own deadline as the
        // server's silence, which would blame the wrong party.
        Some(d) if d < MIN_TIMEOUT => Err(format!(
            "is shorter than the minimum of {}ms",
            MIN_TIMEOUT.as_millis()
        )),
        Some(d) if d > MAX_TIMEOUT => Err(format!(
            "is longer than the maximum of {}s",
            MAX_TIMEOUT.as_secs()
        )),
        Some(d) => Ok(d),
    }
}

/// An environment variable's name as shells and ECS take it. The error never quotes
/// the name: `--require DB_PASSWORD=hunter2` is an easy slip, and then it is a value.
pub fn check_var_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else if name.is_empty() {
        Err("the variable name is empty".into())
    } else {
        Err("the variable name is not letters, digits and `_` (not shown: a `NAME=VALUE` slip would put a value there)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile F5: values the server's `new URL()` throws on passed the `url`
    /// kind (a port out of range, an unclosed `[`, a bad escape, an impossible
    /// IPv4 address); Node 20 is the oracle for each.
    #[test]
    fn the_url_kind_agrees_with_the_whatwg_parser() {
        for ok in [
            "https://api.example.com/v1?x=1#f",
            "http://user:pw@127.0.0.1:8080/",
            "http://[::1]:3000",
            "redis://cache.internal:6379/0",
            "https://xn--bcher-kva.example/",
        ] {
            assert!(looks_like_url(ok), "{ok}");
        }
        for bad in [
            "http://u:pw@[bad",
            "http://[::1",
            "http://example.com:99999",
            "http://example.com:-1",
            "http://%zz",
            "http://xn--",
            "http://1.2.3.4.5",
            "http://256.1.1.1",
            "mailto:x",
            "http:/x",
            "http://",
            "https://exa mple.com",
            "https://example.com\n",
            "/relative/path",
        ] {
            assert!(!looks_like_url(bad), "{bad:?}");
        }
    }

    #[test]
    fn timeouts_are_bounded_and_never_overflow() {
        for bad in [
            "0s",
            "0ms",
            "10y",
            "601s",
            "500000000000y",
            "18446744073709551615s",
            "99999999999999999999999999999999ns",
            "soon",
            "",
            "5",
            "-5s",
            "1ns",
            "999us",
            "9ms",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_timeout("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_timeout("10m"), Ok(MAX_TIMEOUT));
        let e = parse_timeout("CANARY").unwrap_err();
        assert!(!e.contains("CANARY"), "{e}");
    }
}
