//! preflight against real peers on loopback: PostgreSQL 15 clusters with good,
//! untrusted, misnamed and expired certificates and with SSL off; moto for S3; a
//! socket that accepts and never answers; the exec path; and secret canaries.

use crate::support::moto::Moto;
use crate::support::pg::{now, Ca, Cluster, Tls, HBA_ANY, HBA_SSL_ONLY, PASSWORD};
use crate::support::{json_lines, Run};
use std::process::Command;
use tempfile::TempDir;

/// Runs preflight with exactly `env` (plus PATH), so nothing from the developer's
/// or CI's environment (AWS credentials, NODE_ENV, trust stores) leaks in.
fn preflight(args: &[&str], env: &[(&str, &str)]) -> Run {
    crate::support::run_preflight(args, env, true)
}

/// The one probe's findings as (code, message) from a `--format json` run.
fn probe_findings(run: &Run, probe: &str) -> Vec<(String, String)> {
    json_lines(&run.stderr)
        .into_iter()
        .filter(|l| l["type"] == "check" && l["name"] == probe)
        .flat_map(|l| l["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn probe_detail(run: &Run, probe: &str) -> String {
    json_lines(&run.stderr)
        .into_iter()
        .find(|l| l["type"] == "check" && l["name"] == probe)
        .and_then(|l| l["detail"].as_str().map(String::from))
        .unwrap_or_default()
}

fn url(port: u16, user: &str, pw: &str, db: &str, query: &str) -> String {
    format!("postgresql://{user}:{pw}@localhost:{port}/{db}{query}")
}

struct TlsPeers {
    _dir: TempDir,
    ca_file: String,
    good: Cluster,
    other_host: Cluster,
    expired: Cluster,
}

fn tls_peers() -> TlsPeers {
    let dir = TempDir::new().unwrap();
    let ca = Ca::new("shipcheck test CA");
    let ca_file = dir.path().join("ca.pem");
    // A bundle with an unrelated certificate first: every certificate must be loaded.
    let decoy = Ca::new("unrelated decoy CA");
    let mut bundle = decoy.cert.to_pem().unwrap();
    bundle.extend(ca.cert.to_pem().unwrap());
    std::fs::write(&ca_file, bundle).unwrap();
    let (cert, key) = ca.server(&["localhost"], true, now() - 3600, now() + 86400);
    let good = Cluster::start(Tls::On { cert, key }, HBA_SSL_ONLY);
    let (cert, key) = ca.server(&["db.other.internal"], false, now() - 3600, now() + 86400);
    let other_host = Cluster::start(Tls::On { cert, key }, HBA_ANY);
    let (cert, key) = ca.server(&["localhost"], true, 1_577_836_800, 1_609_459_200);
    let expired = Cluster::start(Tls::On { cert, key }, HBA_ANY);
    TlsPeers {
        ca_file: ca_file.display().to_string(),
        _dir: dir,
        good,
        other_host,
        expired,
    }
}

#[test]
fn postgres_tls_and_auth_failures_are_named_precisely() {
    let p = tls_peers();
    let root = format!("?sslmode=verify-full&sslrootcert={}", p.ca_file);
    let pg = |u: String, extra: &[(&str, &str)]| {
        let mut env = vec![("DATABASE_URL", u.as_str())];
        env.extend_from_slice(extra);
        preflight(&["--format", "json", "--timeout", "5s"], &env)
    };

    // A good chain: passes, and says which TLS version and sslmode were used.
    let run = pg(url(p.good.port, "app", PASSWORD, "app", &root), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = probe_detail(&run, "postgres");
    assert!(
        d.contains("PostgreSQL 15.")
            && d.contains("TLSv1.3")
            && d.contains("sslmode=verify-full (from DATABASE_URL)"),
        "{d}"
    );

    // No sslmode in the URL and NODE_ENV=production: verify-full is the default.
    let run = pg(
        url(
            p.good.port,
            "app",
            PASSWORD,
            "app",
            &format!("?sslrootcert={}", p.ca_file),
        ),
        &[("NODE_ENV", "production")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        probe_detail(&run, "postgres").contains("verify-full (default for NODE_ENV=production)")
    );
    // PGSSLROOTCERT is honoured like libpq does.
    let run = pg(
        url(p.good.port, "app", PASSWORD, "app", "?sslmode=verify-full"),
        &[("PGSSLROOTCERT", &p.ca_file)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // The CA is not given: unknown CA, naming the issuer.
    let run = pg(
        url(p.good.port, "app", PASSWORD, "app", "?sslmode=verify-full"),
        &[],
    );
    assert_eq!(run.code, 1);
    let f = probe_findings(&run, "postgres");
    assert_eq!(f[0].0, "tls-unknown-ca", "{f:?}");
    assert!(f[0].1.contains("`shipcheck test CA`"), "{f:?}");
    assert!(
        run.stderr.contains("sslrootcert"),
        "the hint says how to fix it"
    );

    // A certificate for another host name: lists the names it is valid for.
    let run = pg(url(p.other_host.port, "app", PASSWORD, "app", &root), &[]);
    let f = probe_findings(&run, "postgres");
    assert_eq!(f[0].0, "tls-hostname-mismatch", "{f:?}");
    assert!(f[0].1.contains("`db.other.internal`"), "{f:?}");
    // verify-ca accepts it (chain checked, name not).
    let run = pg(
        url(
            p.other_host.port,
            "app",
            PASSWORD,
            "app",
            &format!("?sslmode=verify-ca&sslrootcert={}", p.ca_file),
        ),
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // An expired certificate: says when.
    let run = pg(url(p.expired.port, "app", PASSWORD, "app", &root), &[]);
    let f = probe_findings(&run, "postgres");
    assert_eq!(f[0].0, "tls-expired", "{f:?}");
    assert!(f[0].1.contains("Jan  1 00:00:00 2021 GMT"), "{f:?}");

    // Authentication and database failures, by SQLSTATE.
    let run = pg(url(p.good.port, "app", "wrong-password", "app", &root), &[]);
    let f = probe_findings(&run, "postgres");
    assert_eq!(f[0].0, "pg-auth-failed", "{f:?}");
    assert!(f[0].1.contains("28P01"));
    let run = pg(url(p.good.port, "app", PASSWORD, "nosuchdb", &root), &[]);
    assert_eq!(probe_findings(&run, "postgres")[0].0, "pg-database-missing");
    // pg_hba accepts only SSL here: a plaintext connection is rejected with a hint.
    let run = pg(
        url(p.good.port, "app", PASSWORD, "app", "?sslmode=disable"),
        &[],
    );
    let f = probe_findings(&run, "postgres");
    assert_eq!(f[0].0, "pg-hba-rejected", "{f:?}");
    assert!(f[0].1.contains("no encryption"), "{f:?}");
}

#[test]
fn postgres_without_ssl_refused_and_silent_peers() {
    let plain = Cluster::start(Tls::Off, HBA_ANY);
    let run = preflight(
        &["--format", "json"],
        &[(
            "DATABASE_URL",
            &url(plain.port, "app", PASSWORD, "app", "?sslmode=require"),
        )],
    );
    assert_eq!(probe_findings(&run, "postgres")[0].0, "pg-no-ssl");
    // prefer falls back to plaintext, and says so.
    let run = preflight(
        &["--format", "json"],
        &[("DATABASE_URL", &url(plain.port, "app", PASSWORD, "app", ""))],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(probe_detail(&run, "postgres").contains("no TLS, sslmode=prefer (libpq's default)"));

    // A port nobody listens on.
    let port = crate::support::pg::free_port();
    let run = preflight(
        &["--format", "json"],
        &[("DATABASE_URL", &url(port, "app", PASSWORD, "app", ""))],
    );
    assert_eq!(
        probe_findings(&run, "postgres")[0].0,
        "pg-connection-refused"
    );

    // A socket that accepts and never answers: the deadline holds and the step is named.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(2).collect();
        std::thread::sleep(std::time::Duration::from_secs(4));
        drop(conns);
    });
    let started = std::time::Instant::now();
    let run = preflight(
        &["--format", "json", "--timeout", "1s"],
        &[(
            "DATABASE_URL",
            &url(port, "app", PASSWORD, "app", "?sslmode=require"),
        )],
    );
    let f = probe_findings(&run, "postgres");
    assert_eq!(f[0].0, "pg-timeout", "{f:?}");
    assert!(f[0].1.contains("did not answer the SSLRequest"), "{f:?}");
    // Generous bound: this asserts "does not hang", not speed.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "preflight hung"
    );
    let run = preflight(
        &["--format", "json", "--timeout", "1s"],
        &[(
            "DATABASE_URL",
            &url(port, "app", PASSWORD, "app", "?sslmode=disable"),
        )],
    );
    assert_eq!(probe_findings(&run, "postgres")[0].0, "pg-timeout");
    holder.join().unwrap();
    // A host that does not resolve.
    let run = preflight(
        &["--format", "json"],
        &[("DATABASE_URL", "postgresql://app@db.invalid/app")],
    );
    assert_eq!(probe_findings(&run, "postgres")[0].0, "pg-dns");
}

fn aws_env(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".into()),
        ("AWS_SECRET_ACCESS_KEY", "CANARY-aws-secret-51f0".into()),
        ("AWS_REGION", "eu-west-1".into()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
    ]
}

fn with<'a>(
    base: &'a [(&'static str, String)],
    extra: &[(&'static str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    v.extend_from_slice(extra);
    v
}

#[test]
fn s3_bucket_present_absent_unreachable_and_no_credentials() {
    let moto = Moto::start();
    moto.create_bucket("scalemap-uploads");
    let base = aws_env(&moto);

    let run = preflight(
        &["--format", "json"],
        &with(&base, &[("S3_BUCKET_NAME", "scalemap-uploads")]),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = probe_detail(&run, "s3");
    assert!(
        d.contains("credentials from environment variables") && d.contains("(path-style)"),
        "{d}"
    );

    let run = preflight(
        &["--format", "json"],
        &with(&base, &[("S3_BUCKET_NAME", "no-such-bucket-here")]),
    );
    assert_eq!(run.code, 1);
    assert_eq!(probe_findings(&run, "s3")[0].0, "s3-no-such-bucket");

    let dead = format!("http://127.0.0.1:{}", crate::support::pg::free_port());
    let run = preflight(
        &["--format", "json"],
        &with(
            &base,
            &[
                ("S3_BUCKET_NAME", "scalemap-uploads"),
                ("AWS_ENDPOINT_URL_S3", &dead),
            ],
        ),
    );
    assert_eq!(
        probe_findings(&run, "s3")[0].0,
        "s3-unreachable",
        "{}",
        run.stderr
    );

    let run = preflight(
        &["--format", "json"],
        &[
            ("S3_BUCKET_NAME", "scalemap-uploads"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", &moto.endpoint()),
        ],
    );
    let f = probe_findings(&run, "s3");
    assert_eq!(f[0].0, "s3-no-credentials", "{f:?}");
    assert!(run.stderr.contains("taskRoleArn"));

    // Incident 5: the bucket variable missing from the task definition.
    let (_t, spec) =
        spec_file("[preflight]\n[preflight.s3]\nrequired = true\nwrite_prefix = \"health/\"\n");
    let run = preflight(
        &["--format", "json", "--spec", spec.as_str()],
        &with(&base, &[]),
    );
    assert_eq!(probe_findings(&run, "s3")[0].0, "env-missing");
    // The write probe puts and deletes an object.
    let run = preflight(
        &["--format", "json", "--spec", spec.as_str()],
        &with(&base, &[("S3_BUCKET_NAME", "scalemap-uploads")]),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(probe_detail(&run, "s3").contains("write probe ok"));
}

/// S3 over HTTPS: the trust store comes from `SSL_CERT_FILE` like the system's would.
#[test]
fn s3_over_tls_uses_the_system_trust_store() {
    let t = TempDir::new().unwrap();
    let ca = Ca::new("shipcheck s3 CA");
    let (cert, key) = ca.server(&["localhost"], true, now() - 3600, now() + 86400);
    let (cert_path, key_path, ca_path) = (
        t.path().join("s3.crt"),
        t.path().join("s3.key"),
        t.path().join("ca.pem"),
    );
    std::fs::write(&cert_path, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::write(&ca_path, ca.cert.to_pem().unwrap()).unwrap();
    let moto = Moto::start_tls(&cert_path, &key_path);
    let endpoint = format!("https://localhost:{}", moto.port);
    let other = t.path().join("other.pem");
    std::fs::write(&other, Ca::new("unrelated CA").cert.to_pem().unwrap()).unwrap();
    let env = |trust: &str| {
        vec![
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "x".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", endpoint.clone()),
            ("S3_BUCKET_NAME", "no-such-bucket-tls".to_string()),
            ("SSL_CERT_FILE", trust.to_string()),
        ]
    };
    let run_with = |trust: &str| {
        let e = env(trust);
        let pairs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        preflight(&["--format", "json"], &pairs)
    };
    let missing = t.path().join("missing.pem");
    let cases = [
        // Trusted: the request reaches moto over TLS, which says the bucket is absent.
        (ca_path.as_path(), "s3-no-such-bucket"),
        // An untrusted server certificate: S3 cannot be reached.
        (other.as_path(), "s3-unreachable"),
        // `SSL_CERT_FILE` naming nothing: the variable is named (tests/it/aws_chain.rs
        // covers an empty store, which is `no-ca-certificates`).
        (missing.as_path(), "ca-path-missing"),
    ];
    for (trust, code) in cases {
        let run = run_with(trust.to_str().unwrap());
        assert_eq!(probe_findings(&run, "s3")[0].0, code, "{}", run.stderr);
    }
}

#[test]
fn exec_replaces_preflight_with_the_server() {
    // Same PID: the shell prints its own PID, which must be preflight's.
    let mut c = Command::new(env!("CARGO_BIN_EXE_preflight"));
    c.args([
        "--require",
        "PORT",
        "--",
        "sh",
        "-c",
        "echo pid=$$ port=$PORT; exit 7",
    ])
    .env("PORT", "3000")
    .env("NO_COLOR", "1");
    let child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "the server's exit code is the container's"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("pid={pid} port=3000")
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ok    env"),
        "the report goes to stderr"
    );

    // A failing probe: the server does not start.
    let run = preflight(
        &["--require", "PORT", "--", "sh", "-c", "echo started"],
        &[],
    );
    assert_eq!(run.code, 1);
    assert!(!run.stdout.contains("started"));
    // --warn-only starts it anyway; --check-only never does.
    // (flag, PORT, what the server printed): PORT unset fails the probe.
    let cases = [
        ("--warn-only", None, "started"),
        ("--check-only", Some("1"), ""),
    ];
    for (flag, port, out) in cases {
        let env: Vec<(&str, &str)> = port.map(|p| ("PORT", p)).into_iter().collect();
        let run = preflight(
            &[flag, "--require", "PORT", "--", "sh", "-c", "echo started"],
            &env,
        );
        assert_eq!((run.code, run.stdout.trim()), (0, out), "{flag}");
    }
    // A COMMAND that does not exist: 127, like a shell.
    let run = preflight(
        &["--require", "PORT", "--", "/nonexistent/server"],
        &[("PORT", "1")],
    );
    assert_eq!(run.code, 127);
    assert!(run.stderr.contains("cannot start `/nonexistent/server`"));
    // Flags say what a spec can: kinds, and their values.
    let run = preflight(
        &[
            "--format",
            "json",
            "--require",
            "PORT:port",
            "--require",
            "NODE_ENV:one-of=production,staging",
            "--secret",
            "KEY:stripe",
        ],
        &[("PORT", "http"), ("NODE_ENV", "prod"), ("KEY", "pk_live_x")],
    );
    assert_eq!(run.code, 1);
    let codes: Vec<String> = ["env", "secrets"]
        .iter()
        .flat_map(|p| probe_findings(&run, p))
        .map(|f| f.0)
        .collect();
    assert_eq!(
        codes,
        ["env-malformed", "env-malformed", "secret-publishable-key"]
    );
    assert_eq!(preflight(&["--require", "X:uuid"], &[]).code, 2);
    // Usage and spec errors: 2.
    assert_eq!(preflight(&["--timeout", "soon"], &[]).code, 2);
    assert_eq!(
        preflight(&[], &[]).code,
        2,
        "nothing to check is not a pass"
    );
    let (_t, bad) = spec_file("[preflight]\n[[preflight.env]]\nname = \"X\"\nkind = \"uuid\"\n");
    let run = preflight(&["--spec", bad.as_str()], &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("spec.toml:4:"), "{}", run.stderr);
    let run = preflight(&["--format", "json", "--spec", bad.as_str()], &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(r#""code":"spec-invalid""#),
        "{}",
        run.stderr
    );
    // $SHIPCHECK_PREFLIGHT names the spec when --spec does not.
    let run = preflight(&[], &[("SHIPCHECK_PREFLIGHT", bad.as_str())]);
    assert_eq!(run.code, 2);
}

#[test]
fn secret_values_never_appear_in_any_output() {
    const CANARY: &str = "CANARY-s3cr3t-0b5e";
    let p = tls_peers();
    let (_t, spec) = spec_file(
        "[preflight]\n[[preflight.env]]\nname = \"BUCKET\"\nkind = \"s3-bucket\"\n[[preflight.env]]\nname = \"PORT\"\nkind = \"port\"\n\
         [[preflight.secret]]\nname = \"STRIPE_SECRET_KEY\"\nkind = \"stripe\"\n[[preflight.secret]]\nname = \"WHOLE\"\n\
         [[preflight.secret]]\nname = \"COGNITO\"\nkind = \"cognito\"\n[[preflight.secret]]\nname = \"PEM\"\nkind = \"pem\"\n",
    );
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let urls = [
        url(
            p.good.port,
            "app",
            CANARY,
            "app",
            &format!("?sslmode=verify-full&sslrootcert={}", p.ca_file),
        ),
        url(p.good.port, "app", CANARY, "app", "?sslmode=verify-full"),
        url(
            p.expired.port,
            "app",
            CANARY,
            "app",
            &format!("?sslmode=verify-full&sslrootcert={}", p.ca_file),
        ),
        url(crate::support::pg::free_port(), "app", CANARY, "app", ""),
        url(
            silent.local_addr().unwrap().port(),
            "app",
            CANARY,
            "app",
            "?sslmode=require",
        ),
        format!("postgresql://app:{CANARY}@localhost:99999/app"),
        format!("host=localhost password={CANARY} sslmode=bogus"),
        format!("postgresql://app:{CANARY}/x@localhost/app"),
        format!("host=localhost password={CANARY} extra"),
    ];
    let whole = format!("{{\"password\":\"{CANARY}\"}}");
    let cognito = format!("{{\"userPoolId\":\"{CANARY}\"}}");
    let pem = format!("-----BEGIN KEY-----\\n{CANARY}\\n-----END KEY-----");
    let stripe = format!("pk_live_{CANARY}");
    let bucket = format!("s3://{CANARY}");
    for u in &urls {
        for format in ["human", "json"] {
            let run = preflight(
                &[
                    "--format",
                    format,
                    "--timeout",
                    "1s",
                    "--spec",
                    spec.as_str(),
                    "--secret",
                    "DATABASE_URL",
                ],
                &[
                    ("DATABASE_URL", u),
                    ("BUCKET", &bucket),
                    ("PORT", CANARY),
                    ("STRIPE_SECRET_KEY", &stripe),
                    ("WHOLE", &whole),
                    ("COGNITO", &cognito),
                    ("PEM", &pem),
                    ("SHIPCHECK_FINGERPRINT_KEY", "k"),
                ],
            );
            assert_ne!(run.code, 0);
            assert!(
                !run.stderr.contains(CANARY) && !run.stdout.contains(CANARY),
                "canary leaked for {format}:\n{}",
                run.stderr
            );
            assert!(!run.stderr.contains("s3cr3t"), "no part of it either");
        }
    }
    drop(silent);
}

#[test]
fn fingerprint_matches_what_the_task_reports() {
    let run = preflight(
        &["--format", "json", "--secret", "SESSION_SECRET"],
        &[
            ("SESSION_SECRET", "rotated-value-1"),
            ("SHIPCHECK_FINGERPRINT_KEY", "pepper"),
        ],
    );
    assert_eq!(run.code, 0);
    let f = probe_findings(&run, "secrets");
    assert_eq!(f[0].0, "secret-fingerprint");
    let reported = f[0]
        .1
        .trim_start_matches("fingerprint `")
        .trim_end_matches('`')
        .to_string();
    assert_eq!(fingerprint_of("rotated-value-1\n"), reported);
    assert_ne!(
        fingerprint_of("rotated-value-2\n"),
        reported,
        "a rotated value has another fingerprint"
    );
}

/// `preflight --fingerprint` of `value` on stdin, as an operator would run it.
fn fingerprint_of(value: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .arg("--fingerprint")
        .env("SHIPCHECK_FINGERPRINT_KEY", "pepper")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A spec file in a temp dir; keep the dir alive while the path is used.
fn spec_file(text: &str) -> (TempDir, String) {
    let t = TempDir::new().unwrap();
    let p = t.path().join("spec.toml");
    std::fs::write(&p, text).unwrap();
    let p = p.display().to_string();
    (t, p)
}
