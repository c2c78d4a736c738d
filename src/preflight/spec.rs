//! The preflight spec: the `[preflight]` table of an image spec (so one
//! `images/<repo>.toml` can carry both), or of a file of its own.
//!
//! With no spec, preflight probes PostgreSQL when `DATABASE_URL` is set and S3 when
//! `S3_BUCKET_NAME` is set; `--require` and `--secret` add to whatever the spec says.

pub use crate::specfile::SpecError;
use crate::specfile::SpecText;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvRule {
    pub name: String,
    #[serde(default = "default_env_kind")]
    pub kind: EnvKind,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub optional: bool,
}

fn default_env_kind() -> EnvKind {
    EnvKind::String
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRule {
    pub name: String,
    #[serde(default = "default_secret_kind")]
    pub kind: SecretKind,
}

fn default_secret_kind() -> SecretKind {
    SecretKind::Auto
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresRule {
    #[serde(default = "default_url_env")]
    pub url_env: String,
    /// Probe even when the variable is unset (then that is the finding).
    #[serde(default)]
    pub required: bool,
}

fn default_url_env() -> String {
    "DATABASE_URL".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Rule {
    #[serde(default = "default_bucket_env")]
    pub bucket_env: String,
    #[serde(default)]
    pub required: bool,
    /// When set, put and delete a small object under this prefix.
    pub write_prefix: Option<String>,
    /// Path-style addressing; default: on when an endpoint override is set.
    pub path_style: Option<bool>,
}

fn default_bucket_env() -> String {
    "S3_BUCKET_NAME".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreflight {
    timeout: Option<String>,
    fingerprint_key: Option<String>,
    #[serde(default)]
    env: Vec<EnvRule>,
    #[serde(default)]
    secret: Vec<SecretRule>,
    postgres: Option<PostgresRule>,
    s3: Option<S3Rule>,
}

#[derive(Debug, Deserialize)]
struct RawFile {
    preflight: Option<RawPreflight>,
}

#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub path: Option<PathBuf>,
    pub timeout: Option<Duration>,
    /// A pepper for secret fingerprints; `SHIPCHECK_FINGERPRINT_KEY` wins over it.
    pub fingerprint_key: Option<String>,
    pub env: Vec<EnvRule>,
    pub secrets: Vec<SecretRule>,
    pub postgres: Option<PostgresRule>,
    pub s3: Option<S3Rule>,
}

impl Spec {
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        Spec::parse(path, &SpecText::read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
        let st = SpecText { path, text };
        let invalid = |offset: usize, message: String| st.invalid(offset, message);
        let raw: RawFile = st.parse()?;
        let Some(p) = raw.preflight else {
            return Err(invalid(0, "the file has no `[preflight]` table".into()));
        };
        let timeout = match &p.timeout {
            None => None,
            Some(t) => Some(parse_timeout(t).map_err(|e| {
                let at = text.find("timeout").unwrap_or(0);
                invalid(at, format!("`timeout` {e}"))
            })?),
        };
        let names = p
            .env
            .iter()
            .map(|r| ("env", r.name.as_str()))
            .chain(p.secret.iter().map(|r| ("secret", r.name.as_str())))
            .chain(p.postgres.iter().map(|r| ("postgres", r.url_env.as_str())))
            .chain(p.s3.iter().map(|r| ("s3", r.bucket_env.as_str())));
        for (table, name) in names {
            if let Err(e) = check_var_name(name) {
                let at = text
                    .find(&format!("[[preflight.{table}"))
                    .or_else(|| text.find(&format!("[preflight.{table}")))
                    .unwrap_or(0);
                return Err(invalid(at, format!("a `{table}` rule: {e}")));
            }
        }
        for r in &p.env {
            if r.kind == EnvKind::OneOf && r.values.is_empty() {
                let at = text.find(&format!("\"{}\"", r.name)).unwrap_or(0);
                return Err(invalid(
                    at,
                    format!("`{}` is `one-of` but lists no `values`", r.name),
                ));
            }
        }
        Ok(Spec {
            path: Some(path.to_path_buf()),
            timeout,
            fingerprint_key: match p.fingerprint_key {
                // An empty key makes every fingerprint a plain, unkeyed hash.
                Some(k) if k.is_empty() => {
                    let at = text.find("fingerprint_key").unwrap_or(0);
                    return Err(invalid(at, "`fingerprint_key` is empty".into()));
                }
                k => k,
            },
            env: p.env,
            secrets: p.secret,
            postgres: p.postgres,
            s3: p.s3,
        })
    }
}

/// The longest `--timeout` or spec `timeout`: a probe deadline beyond this is a
/// typo (`5m` for `5s`, `10y`), and keeping deadlines small keeps every sum of them
/// far from overflowing.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// The shortest deadline a probe can honestly report on.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);

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

/// A kind named on the command line, spelled exactly as in the spec.
fn kind_named<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s)).ok()
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

/// `--require NAME[:KIND[=ARGS]]`: `PORT:port`, `NODE_ENV:one-of=production,staging`,
/// `CONFIG:json=userPoolId,clientId`.
pub fn parse_require(s: &str) -> Result<EnvRule, String> {
    let (name, kind) = s.split_once(':').unwrap_or((s, "string"));
    let (kind, args) = match kind.split_once('=') {
        Some((k, a)) => (k, Some(a)),
        None => (kind, None),
    };
    check_var_name(name)?;
    // The kind is not quoted back: a mistaken `NAME:VALUE` would put a value here.
    let kind: EnvKind = kind_named(kind).ok_or_else(|| {
        "the kind after `:` is not one of string, url, postgres-url, integer, port, one-of, s3-bucket, json".to_string()
    })?;
    // The spec ignores `values`/`keys` on other kinds; a flag that says more than
    // it does is refused instead (without quoting ARGS, which may be a value).
    if args.is_some() && !matches!(kind, EnvKind::OneOf | EnvKind::Json) {
        return Err("`=ARGS` is only for `one-of` (the values) and `json` (the keys); this kind takes none (not shown: it may hold a value)".to_string());
    }
    let args = args.unwrap_or("");
    let list: Vec<String> = args
        .split(',')
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect();
    if kind == EnvKind::OneOf && list.is_empty() {
        return Err("`one-of` needs values: `NAME:one-of=a,b`".into());
    }
    Ok(EnvRule {
        name: name.to_string(),
        kind,
        values: if kind == EnvKind::OneOf {
            list.clone()
        } else {
            vec![]
        },
        keys: if kind == EnvKind::Json { list } else { vec![] },
        optional: false,
    })
}

/// `--secret NAME[:KIND]`: `STRIPE_SECRET_KEY:stripe`.
pub fn parse_secret(s: &str) -> Result<SecretRule, String> {
    let (name, kind) = s.split_once(':').unwrap_or((s, "auto"));
    check_var_name(name)?;
    let kind: SecretKind = kind_named(kind).ok_or_else(|| {
        "the kind after `:` is not one of auto, string, stripe, openai, cognito, pem".to_string()
    })?;
    Ok(SecretRule {
        name: name.to_string(),
        kind,
    })
}

/// `--spec`, else `$SHIPCHECK_PREFLIGHT`, else `/etc/shipcheck/preflight.toml` when it exists.
pub fn locate(flag: Option<&Path>, env: Option<&str>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        return Some(PathBuf::from(e));
    }
    let default = Path::new("/etc/shipcheck/preflight.toml");
    default.is_file().then(|| default.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_preflight_table_of_an_image_spec() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/images/scalemap-api.toml"
        ))
        .unwrap();
        let s = Spec::parse(Path::new("images/scalemap-api.toml"), &text).unwrap();
        assert!(s
            .env
            .iter()
            .any(|e| e.name == "S3_BUCKET_NAME" && e.kind == EnvKind::S3Bucket));
        assert!(s.postgres.is_some() && s.s3.is_some());
    }

    #[test]
    fn flags_say_what_the_spec_can() {
        let r = parse_require("NODE_ENV:one-of=production,staging").unwrap();
        assert_eq!((r.kind, r.values.len()), (EnvKind::OneOf, 2));
        assert_eq!(parse_require("PORT:port").unwrap().kind, EnvKind::Port);
        assert_eq!(parse_require("X").unwrap().kind, EnvKind::String);
        assert_eq!(parse_require("C:json=a,b").unwrap().keys, vec!["a", "b"]);
        assert!(parse_require("X:uuid").is_err());
        assert!(parse_require("X:one-of").is_err());
        // ARGS on a kind that takes none is refused, never quoted.
        for bad in ["X:url=https://u:CANARY@h", "X:port=CANARY", "X:string="] {
            let e = parse_require(bad).unwrap_err();
            assert!(
                e.contains("only for `one-of`") && !e.contains("CANARY"),
                "{bad}: {e}"
            );
        }
        assert_eq!(parse_secret("K:stripe").unwrap().kind, SecretKind::Stripe);
        assert!(parse_secret("K:aws").is_err());
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

    #[test]
    fn an_empty_fingerprint_key_is_refused() {
        let e =
            Spec::parse(Path::new("p.toml"), "[preflight]\nfingerprint_key = \"\"\n").unwrap_err();
        assert!(e.to_string().contains("`fingerprint_key` is empty"), "{e}");
    }

    #[test]
    fn errors_point_at_lines() {
        let e = Spec::parse(
            Path::new("p.toml"),
            "[preflight]\n[[preflight.env]]\nname = \"X\"\nkind = \"uuid\"\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("p.toml:4: `preflight.env.kind`: unknown value (not shown"),
            "{e}"
        );
        let e = Spec::parse(Path::new("p.toml"), "[preflight]\ntimeout = \"soon\"\n").unwrap_err();
        assert!(e.to_string().starts_with("p.toml:2:"), "{e}");
        let e = Spec::parse(Path::new("p.toml"), "[preflight]\n\ntimeout = \"0s\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("p.toml:3: `timeout` must be more than 0"),
            "{e}"
        );
        let e = Spec::parse(Path::new("p.toml"), "[preflight]\ntimeout = \"10y\"\n").unwrap_err();
        assert!(e.to_string().contains("longer than the maximum"), "{e}");
        let e = Spec::parse(Path::new("p.toml"), "[config]\nuser = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("no `[preflight]` table"), "{e}");
    }
}
