//! The preflight spec: the `[preflight]` table of an image spec (so one
//! `images/<repo>.toml` can carry both), or of a file of its own. The file is read
//! by [`crate::spec`], the one parser both tools share; this module adds what only
//! preflight has: the `--require`/`--secret` flags and where the spec is found.
//!
//! With no spec, preflight probes PostgreSQL when `DATABASE_URL` is set and S3 when
//! `S3_BUCKET_NAME` is set; `--require` and `--secret` add to whatever the spec says.

pub use crate::spec::runtime::{
    check_var_name, parse_timeout, EnvKind, EnvRule, PostgresRule, RuntimeSpec as Spec, S3Rule,
    SecretKind, SecretRule, MAX_TIMEOUT, MIN_TIMEOUT,
};
pub use crate::specfile::SpecError;
use std::path::{Path, PathBuf};

/// A kind named on the command line, spelled exactly as in the spec.
fn kind_named<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s)).ok()
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
        // Exactly what the app reads: its task's four variables and four secrets.
        let mut env: Vec<&str> = s.env.iter().map(|e| e.name.as_str()).collect();
        env.sort();
        assert_eq!(env, ["AWS_REGION", "NODE_ENV", "PORT", "S3_BUCKET_NAME"]);
        assert!(s.env.iter().all(|e| !e.optional));
        let mut secrets: Vec<&str> = s.secrets.iter().map(|e| e.name.as_str()).collect();
        secrets.sort();
        assert_eq!(
            secrets,
            [
                "COGNITO_CONFIG",
                "DATABASE_URL",
                "OPENAI_API_KEY",
                "STRIPE_SECRET_KEY"
            ]
        );
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
