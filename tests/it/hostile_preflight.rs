//! What the hostile tester broke in preflight, kept broken-proof: an endpoint URL the
//! AWS SDK rejects was echoed whole by the SDK's own error (password included), and a
//! FIFO or `/dev/zero` named by an AWS or TLS variable hung the start past every
//! deadline and SIGTERM, or exhausted memory.

use crate::support::run_preflight;
use std::process::Command;
use tempfile::TempDir;

const CANARY: &str = "CANARYpw9Z";

fn s3_env(extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("S3_BUCKET_NAME", "hostile-bucket"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "not-a-real-secret"),
        ("AWS_REGION", "us-east-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.retain(|(n, _)| n != k);
        env.push((k.to_string(), v.clone()));
    }
    env
}

#[test]
fn endpoint_urls_with_secrets_are_never_echoed_even_when_the_sdk_rejects_them() {
    let endpoints = [
        format!("http://user:{CANARY}@127.0.0.1:1/path?x={CANARY}#{CANARY}"),
        format!("http://user:{CANARY}@127.0.0.1:notaport"),
        format!("http://user:{CANARY}@"),
        format!("ftp://user:{CANARY}@127.0.0.1:1"),
        format!("http://user:{CANARY}@127.0.0.1:1 "),
        format!("http://user:{CANARY}@127.0.0.1:1\\@x"),
        format!("http://user:{CANARY}@127.0.0.1%2F:1"),
        format!("user:{CANARY}@127.0.0.1:1"),
        format!("http://127.0.0.1:1/?token={CANARY}"),
    ];
    for ep in &endpoints {
        for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"] {
            for format in ["human", "json"] {
                let env = s3_env(&[(var, ep.clone())]);
                let r = run_preflight(
                    &["--check-only", "--timeout", "3s", "--format", format],
                    &env,
                    false,
                );
                let all = format!("{}{}", r.stdout, r.stderr);
                assert!(!all.contains(CANARY), "{var}={ep:?} ({format}):\n{all}");
                assert_eq!(r.code, 1, "{var}={ep:?} ({format}):\n{all}");
            }
        }
    }
}

/// A FIFO must not block preflight, whatever reads it; `timeout` only bounds the
/// test if that regresses (the probe's own deadline is the thing under test).
#[test]
fn fifos_and_devices_named_by_aws_or_tls_variables_are_refused_without_reading() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo = fifo.display().to_string();
    let role = (
        "AWS_ROLE_ARN",
        "arn:aws:iam::123456789012:role/r".to_string(),
    );
    for path in [fifo.as_str(), "/dev/zero", "/tmp"] {
        for var in [
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "SSL_CERT_FILE",
        ] {
            let env = s3_env(&[(var, path.to_string()), role.clone()]);
            let mut c = Command::new("timeout");
            c.args(["-s", "KILL", "60", env!("CARGO_BIN_EXE_preflight")])
                .args(["--check-only", "--timeout", "3s", "--format", "json"])
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("HOME", dir.path())
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
            for (k, v) in &env {
                c.env(k, v);
            }
            let out = c.output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{var}={path}:\n{err}");
            assert!(
                err.contains("\"file-refused\"") && err.contains(var),
                "{var}={path}:\n{err}"
            );
        }
    }
}

/// A spec whose probes are all optional, with their variables unset, used to exit 2
/// with an empty report: it is `nothing-to-check`, said in both formats.
#[test]
fn a_spec_of_only_optional_unset_probes_says_nothing_to_check() {
    let dir = TempDir::new().unwrap();
    for body in [
        "[preflight]\n[preflight.postgres]\n",
        "[preflight]\n[preflight.s3]\nrequired = false\n",
    ] {
        let spec = dir.path().join("s.toml");
        std::fs::write(&spec, body).unwrap();
        let spec = spec.display().to_string();
        for format in ["human", "json"] {
            let no_env: [(&str, &str); 0] = [];
            let r = run_preflight(
                &["--spec", spec.as_str(), "--format", format, "--", "true"],
                &no_env,
                false,
            );
            assert_eq!(r.code, 2, "{body} ({format}): {}", r.stderr);
            assert!(
                r.stderr.contains("nothing to check") || r.stderr.contains("nothing-to-check"),
                "{body} ({format}): {}",
                r.stderr
            );
        }
    }
}

/// `--require DB_PASSWORD=hunter2` (a value where a name belongs) was printed as a
/// variable name; so was a spec `name` holding one.
#[test]
fn a_value_where_a_variable_name_belongs_is_refused_without_quoting_it() {
    let dir = TempDir::new().unwrap();
    let spec = dir.path().join("s.toml");
    std::fs::write(
        &spec,
        format!("[preflight]\n[[preflight.env]]\nname = \"A={CANARY}\"\n"),
    )
    .unwrap();
    let spec = spec.display().to_string();
    let no_env: [(&str, &str); 0] = [];
    let cases: Vec<Vec<String>> = vec![
        vec!["--require".into(), format!("DB_PASSWORD={CANARY}")],
        vec!["--require".into(), format!("={CANARY}")],
        vec!["--secret".into(), format!("{CANARY} X")],
        vec!["--spec".into(), spec],
    ];
    for args in cases {
        for format in ["human", "json"] {
            let mut a = args.clone();
            a.extend(["--format".into(), format.into(), "--check-only".into()]);
            let r = run_preflight(&a, &no_env, false);
            let all = format!("{}{}", r.stdout, r.stderr);
            assert_eq!(r.code, 2, "{args:?} ({format}): {all}");
            assert!(!all.contains(CANARY), "{args:?} ({format}): {all}");
        }
    }
}
