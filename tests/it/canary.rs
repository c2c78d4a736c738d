//! Secret canaries: one distinctive string placed in every input position preflight
//! reads (environment values of every kind, secrets of every kind, whole-JSON keys
//! and values, spec values, flag values, the server's arguments), run in both
//! output formats, and never allowed to appear on stdout or stderr.
//!
//! The positions are a table: add a [`Row`] for each new input or failure class
//! (DATABASE_URL forms against the test clusters, S3 endpoints with userinfo, …).
//! Each row names a finding code its JSON run must contain, so a row that stops
//! reaching its position fails instead of passing vacuously.

use crate::support::Run;
use std::process::Command;
use tempfile::TempDir;

pub const CANARY: &str = "CANARY-s3cr3t-7f1d";

/// Parts of the canary that must not appear either (a value printed in part).
const FRAGMENTS: [&str; 2] = ["CANARY", "s3cr3t"];

/// Runs preflight with exactly `env` (plus PATH and a bare HOME), so nothing from
/// the developer's or CI's environment reaches it.
pub fn preflight_env(args: &[String], env: &[(String, String)]) -> Run {
    crate::support::run_preflight(args, env, true)
}

/// One input position holding the canary.
pub struct Row {
    pub name: String,
    /// Arguments before `--format`, which the harness adds.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// A spec file's text; the harness writes it and passes `--spec FILE`.
    pub spec: Option<String>,
    /// Arguments after `--` (the server's command).
    pub command: Vec<String>,
    /// A finding code the JSON run must report: proof the position was reached.
    pub expect: &'static str,
}

pub fn row(name: impl Into<String>, expect: &'static str) -> Row {
    Row {
        name: name.into(),
        args: vec![],
        env: vec![],
        spec: None,
        command: vec![],
        expect,
    }
}

impl Row {
    pub fn arg(mut self, a: impl Into<String>) -> Row {
        self.args.push(a.into());
        self
    }
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Row {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn spec(mut self, text: impl Into<String>) -> Row {
        self.spec = Some(text.into());
        self
    }
    pub fn command(mut self, argv: &[&str]) -> Row {
        self.command = argv.iter().map(|s| s.to_string()).collect();
        self
    }
}

/// Runs every row in both formats; panics listing every leak and every row that
/// did not reach its position.
pub fn check(rows: &[Row]) {
    let mut problems = Vec::new();
    for r in rows {
        let dir = TempDir::new().unwrap();
        for format in ["human", "json"] {
            let mut args = r.args.clone();
            // A row that sets a flag itself keeps it (a repeated flag is another error).
            let has = |f: &str| r.args.iter().any(|a| a.starts_with(f));
            if !has("--timeout") {
                args.extend(["--timeout".into(), "2s".into()]);
            }
            args.extend(["--format".into(), format.into()]);
            if let Some(text) = &r.spec {
                let p = dir.path().join("spec.toml");
                std::fs::write(&p, text).unwrap();
                args.extend(["--spec".into(), p.display().to_string()]);
            }
            if !r.command.is_empty() {
                args.push("--".into());
                args.extend(r.command.iter().cloned());
            }
            let run = preflight_env(&args, &r.env);
            for frag in FRAGMENTS {
                if run.stdout.contains(frag) || run.stderr.contains(frag) {
                    problems.push(format!(
                        "{} [{format}]: `{frag}` leaked:\n{}{}",
                        r.name, run.stdout, run.stderr
                    ));
                }
            }
            if format == "json" && !run.stderr.contains(&format!("\"code\":\"{}\"", r.expect)) {
                problems.push(format!(
                    "{} [json]: no `{}` finding, so the position was not reached:\n{}",
                    r.name, r.expect, run.stderr
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The environment-variable kinds, each with malformed (and where the kind allows
/// one, well-formed) values that hold the canary.
fn env_rows() -> Vec<Row> {
    let c = CANARY;
    let lower = "canary-s3cr3t-7f1d";
    let cases: Vec<(&str, String, &'static str)> = vec![
        ("url", format!("not a url {c}"), "env-malformed"),
        (
            "url",
            format!("https://app:{c}@api.example.com/x?token={c}"),
            "env-missing",
        ),
        ("url", format!("https://{c}"), "env-missing"),
        (
            "postgres-url",
            format!("postgresql://app:{c}@localhost:99999/app"),
            "env-malformed",
        ),
        (
            "postgres-url",
            format!("host=localhost password={c} sslmode=bogus"),
            "env-malformed",
        ),
        (
            "postgres-url",
            format!("host=localhost password={c} extra"),
            "env-malformed",
        ),
        (
            "postgres-url",
            format!("postgresql://app:{c}@localhost/app?sslmode=verify-full"),
            "env-missing",
        ),
        ("integer", c.to_string(), "env-malformed"),
        ("integer", format!("12{c}"), "env-malformed"),
        ("port", c.to_string(), "env-malformed"),
        ("port", format!("99999{c}"), "env-malformed"),
        ("one-of=production,staging", c.to_string(), "env-malformed"),
        ("s3-bucket", format!("s3://{c}"), "env-malformed"),
        ("s3-bucket", c.to_string(), "env-malformed"),
        ("s3-bucket", format!("{lower}.."), "env-malformed"),
        ("s3-bucket", format!("arn:aws:s3:::{c}"), "env-malformed"),
        ("json=a", format!("{{\"a\":\"{c}\""), "env-malformed"),
        ("json=a", format!("{{\"{c}\":\"{c}\"}}"), "env-malformed"),
        ("json=a", format!("{{\"a\":\"{c}\"}}"), "env-missing"),
        ("json", format!("[\"{c}\"]"), "env-missing"),
        ("string", c.to_string(), "env-missing"),
    ];
    cases
        .into_iter()
        .map(|(kind, value, expect)| {
            // A second, unset variable proves the probe ran when the value itself passes.
            row(format!("env {kind} = {value:?}"), expect)
                .arg("--require")
                .arg(format!("VALUE:{kind}"))
                .arg("--require")
                .arg("UNSET_PROOF")
                .env("VALUE", value)
        })
        .collect()
}

/// The secret kinds, valid and malformed, with and without a fingerprint key.
fn secret_rows() -> Vec<Row> {
    let c = CANARY;
    let k = c.replace('-', "");
    let cases: Vec<(&str, String, &'static str)> = vec![
        ("auto", c.to_string(), "secret-missing"),
        ("auto", format!("{c}\n"), "secret-malformed"),
        ("auto", format!("sk_test_{c}"), "secret-missing"),
        ("auto", format!("pk_live_{c}"), "secret-missing"),
        ("string", format!(" {c} "), "secret-malformed"),
        ("stripe", format!("pk_live_{c}"), "secret-publishable-key"),
        // A Stripe key is letters and digits after its prefix.
        ("stripe", format!("sk_test_{k}"), "secret-test-key-in-production"),
        ("stripe", format!("sk_live_{k}"), "secret-missing"),
        ("stripe", format!("sk_live_{c}"), "secret-malformed"),
        ("stripe", c.to_string(), "secret-malformed"),
        ("openai", format!("sk-proj-{c}"), "secret-missing"),
        ("openai", c.to_string(), "secret-malformed"),
        ("pem", format!("-----BEGIN KEY-----\\n{c}\\n-----END KEY-----"), "secret-malformed"),
        ("pem", format!("-----BEGIN KEY-----\n{c}\n-----END KEY-----"), "secret-missing"),
        ("pem", c.to_string(), "secret-malformed"),
        ("cognito", format!("{{\"userPoolId\":\"{c}\",\"region\":\"eu-west-1\"}}"), "secret-malformed"),
        ("cognito", format!("{{\"userPoolId\":\"eu-west-1_Ab1\",\"clientId\":\"{c}\",\"region\":\"{c}\"}}"), "secret-malformed"),
        ("cognito", format!("{{\"userPoolId\":\"eu-west-1_Ab1\",\"clientId\":\"{c}\",\"region\":\"eu-west-1\"}}"), "secret-missing"),
        ("cognito", format!("not json {c}"), "secret-malformed"),
        ("auto", format!("{{\"{c}\":\"{c}\"}}"), "secret-whole-json"),
        ("stripe", format!("{{\"password\":\"{c}\",\"{c}-key\":1}}"), "secret-whole-json"),
        ("auto", format!("{{\"nested\":{{\"{c}\":[\"{c}\"]}}}}"), "secret-whole-json"),
    ];
    let mut rows = Vec::new();
    for (kind, value, expect) in cases {
        for fingerprint in [false, true] {
            let mut r = row(
                format!("secret {kind} = {value:?} (fingerprint {fingerprint})"),
                expect,
            )
            .arg("--secret")
            .arg(format!("VALUE:{kind}"))
            .arg("--secret")
            .arg("UNSET_PROOF")
            .env("VALUE", value.clone())
            .env("NODE_ENV", "production");
            if fingerprint {
                r = r.env("SHIPCHECK_FINGERPRINT_KEY", CANARY);
            }
            rows.push(r);
        }
    }
    rows
}

/// Spec values (a secret pepper, durations, lists) and spec type errors, whose
/// serde messages would quote the value.
fn spec_rows() -> Vec<Row> {
    let c = CANARY;
    let secret = "[[preflight.secret]]\nname = \"S\"\n";
    [
        (
            format!("[preflight]\nfingerprint_key = \"{c}\"\n{secret}"),
            "secret-fingerprint",
        ),
        (
            format!("[preflight]\nfingerprint_key = [\"{c}\"]\n{secret}"),
            "spec-invalid",
        ),
        (
            format!("[preflight]\nfingerprint_key = {{ k = \"{c}\" }}\n"),
            "spec-invalid",
        ),
        (
            format!("[preflight]\ntimeout = \"{c}\"\n{secret}"),
            "spec-invalid",
        ),
        (
            format!("[preflight]\ntimeout = \"5{c}\"\n{secret}"),
            "spec-invalid",
        ),
        (
            format!("[preflight]\ntimeout = [\"{c}\"]\n"),
            "spec-invalid",
        ),
        (
            format!("[preflight]\n[[preflight.env]]\nname = \"E\"\nvalues = \"{c}\"\n"),
            "spec-invalid",
        ),
        (
            format!("[preflight]\n[[preflight.env]]\nname = \"E\"\noptional = \"{c}\"\n"),
            "spec-invalid",
        ),
        (
            format!("[preflight]\n[[preflight.env]]\nname = \"E\"\nkeys = [1, \"{c}\"]\n"),
            "spec-invalid",
        ),
        (
            format!("[preflight]\n[preflight.s3]\nwrite_prefix = 7\npath_style = \"{c}\"\n"),
            "spec-invalid",
        ),
        (
            format!("[preflight]\nfingerprint_key = \"{c}\n"),
            "spec-invalid",
        ),
        // serde and toml quote unknown variants and keys; a key can be a pasted secret.
        (
            format!("[preflight]\n[[preflight.env]]\nname = \"E\"\nkind = \"one-of={c}\"\n"),
            "spec-invalid",
        ),
        (format!("[preflight]\n{c} = 1\n{secret}"), "spec-invalid"),
        (
            format!("[preflight]\n[preflight.{c}]\nx = 1\n"),
            "spec-invalid",
        ),
        (
            format!("[preflight]\n[[preflight.env]]\nname = \"E\"\n{c} = \"x\"\n"),
            "spec-invalid",
        ),
        (format!("[preflight]\n{c} = 1\n{c} = 2\n"), "spec-invalid"),
        (format!("[preflight]\n{c} =\n"), "spec-invalid"),
        (format!("[preflight]\n{c}.x = 1\n{c} = 2\n"), "spec-invalid"),
    ]
    .into_iter()
    .map(|(text, expect)| {
        row(format!("spec {text:?}"), expect)
            .spec(text)
            .env("S", "value")
    })
    .collect()
}

/// Flag values, arguments in the wrong place, and the server's arguments.
fn flag_rows() -> Vec<Row> {
    let c = CANARY;
    let mut rows = vec![
        row("--timeout value", "usage-invalid")
            .arg("--timeout")
            .arg(c),
        row("--timeout=value", "usage-invalid").arg(format!("--timeout=5{c}")),
        row("--require kind", "usage-invalid")
            .arg("--require")
            .arg(format!("X:{c}")),
        row("--require one-of without values", "usage-invalid")
            .arg("--require")
            .arg(format!("X:one-of{c}")),
        row("--require ARGS on a kind that takes none", "usage-invalid")
            .arg("--require")
            .arg(format!("X:url=https://u:{c}@h")),
        row("--require= ARGS on port", "usage-invalid").arg(format!("--require=X:port={c}")),
        row("--secret kind", "usage-invalid")
            .arg("--secret")
            .arg(format!("X:{c}")),
        row("an unknown flag", "usage-invalid").arg(format!("--{c}")),
        row("an unknown flag with a value", "usage-invalid").arg(format!("--token={c}")),
        row("a value before --", "usage-invalid").arg(c),
        row("an unknown --format", "usage-invalid")
            .arg("--require")
            .arg("X")
            .arg("--format")
            .arg(c),
    ];
    // The server's arguments are never printed, whether it starts or not.
    rows.push(
        row("argv of a server that cannot start", "exec-failed")
            .arg("--require")
            .arg("PORT")
            .env("PORT", "3000")
            .command(&["/nonexistent/server", c, &format!("--password={c}")]),
    );
    rows.push(
        row(
            "argv of a server not started after a failure",
            "env-missing",
        )
        .arg("--require")
        .arg("UNSET_PROOF")
        .command(&["sh", "-c", "exit 0", c]),
    );
    rows.push(
        row("argv with --warn-only", "env-missing")
            .arg("--warn-only")
            .arg("--require")
            .arg("UNSET_PROOF")
            .command(&["sh", "-c", "exit 0", c]),
    );
    rows
}

/// `DATABASE_URL` forms that need no server: a closed loopback port and parse
/// errors. Rows against the test clusters and the hostile forms of issue 7 (an
/// unencoded `@`, `&`-joined keywords, `;password=` riding on `sslmode=`) belong
/// here too; every host must be loopback, so no row sends a DNS query.
fn database_url_rows() -> Vec<Row> {
    let c = CANARY;
    let port = crate::support::pg::free_port();
    [
        (
            format!("postgresql://app:{c}@127.0.0.1:{port}/app"),
            "pg-connection-refused",
        ),
        (
            format!("postgresql://app:{c}@127.0.0.1:{port}/app?sslmode=require"),
            "pg-connection-refused",
        ),
        (
            format!("postgresql://{c}:{c}@127.0.0.1:{port}/{c}"),
            "pg-connection-refused",
        ),
        (
            format!("postgresql://app:{c}@127.0.0.1:99999/app"),
            "pg-url-invalid",
        ),
        (
            format!("host=127.0.0.1 port={port} user=app password={c}"),
            "pg-connection-refused",
        ),
        (
            format!("host=127.0.0.1 port={port} password='{c} x' sslmode=bogus"),
            "pg-url-invalid",
        ),
        (
            format!("host=127.0.0.1 password={c} extra"),
            "pg-url-invalid",
        ),
        (
            format!("host=127.0.0.1 port={port} password={c} replication={c}"),
            "pg-url-invalid",
        ),
        (
            format!("postgresql://app:{c}@127.0.0.1:{port}/app?user=%FF{c}"),
            "pg-url-invalid",
        ),
        (
            format!("postgresql://app:%FF{c}@127.0.0.1:{port}/app"),
            "pg-connection-refused",
        ),
        (
            format!("postgresql://app:{c}@127.0.0.1:{port}/app?options=%FF{c}"),
            "pg-url-invalid",
        ),
    ]
    .into_iter()
    .map(|(url, expect)| row(format!("DATABASE_URL {url:?}"), expect).env("DATABASE_URL", url))
    .collect()
}

#[test]
fn canaries_in_database_url_never_reach_output() {
    check(&database_url_rows());
}

#[test]
fn canaries_in_environment_values_never_reach_output() {
    check(&env_rows());
}

#[test]
fn canaries_in_secrets_and_whole_json_keys_never_reach_output() {
    check(&secret_rows());
}

#[test]
fn canaries_in_spec_values_never_reach_output() {
    check(&spec_rows());
}

#[test]
fn canaries_in_flags_and_server_arguments_never_reach_output() {
    check(&flag_rows());
}

/// `preflight --fingerprint` with `stdin` as the input position.
fn fingerprint_run(args: &[&str], key: Option<&str>, stdin: &str) -> Run {
    use std::io::Write;
    let mut c = Command::new(env!("CARGO_BIN_EXE_preflight"));
    c.arg("--fingerprint")
        .args(args)
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(k) = key {
        c.env("SHIPCHECK_FINGERPRINT_KEY", k);
    }
    let mut child = c.spawn().unwrap();
    // The child may exit before reading (no key): a broken pipe is not a failure.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn canaries_in_fingerprint_input_and_key_never_reach_output() {
    let value = format!("{CANARY}\n");
    let cases = [
        (vec![], Some(CANARY), value.clone(), 0),
        (vec!["--format", "json"], Some(CANARY), value.clone(), 0),
        (vec![], None, value.clone(), 2),
        (vec!["--format", "json"], None, value.clone(), 2),
        (vec![], Some(CANARY), format!("{CANARY}\u{fffd}"), 0),
    ];
    for (args, key, input, code) in cases {
        let run = fingerprint_run(&args, key, &input);
        assert_eq!(run.code, code, "{args:?} {key:?}: {}", run.stderr);
        for frag in FRAGMENTS {
            assert!(
                !run.stdout.contains(frag) && !run.stderr.contains(frag),
                "{args:?} {key:?}: `{frag}` leaked:\n{}{}",
                run.stdout,
                run.stderr
            );
        }
    }
}
