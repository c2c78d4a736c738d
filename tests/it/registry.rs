//! image-check against real registries on loopback: Debian's `docker-registry`
//! (plain HTTP, TLS with a test CA, htpasswd Basic, Bearer tokens from a small
//! token server), fixtures pushed with `skopeo copy`, and ECR's token from
//! `moto_server`. Every verdict the offline fixtures give, the pushed fixtures
//! give too.

use crate::support::fixture::{build_layout, write_oci_dir};
use crate::support::image::findings;
use crate::support::moto::Moto;
use crate::support::registry::{push, tls_files, Auth, Registry, TokenServer};
use crate::support::{image_check_env, json_lines, project_root, Run};
use std::collections::BTreeSet;
use std::path::Path;
use tempfile::TempDir;

const SPEC: &str = "images/scalemap-api.toml";
/// A password no output may ever show.
const CANARY: &str = "CANARY-pw-5f3a";

/// Fixtures a registry can hold: the damaged ones (a truncated or flipped blob)
/// are refused by the registry on push, so they stay with the offline tests.
const PUSHABLE: &[&str] = &[
    "healthy",
    "empty-dist",
    "zero-byte-bundle",
    "whiteout-bundle",
    "opaque-dist",
    "symlinked-bundle",
    "dangling-bundle",
    "dir-replaced-by-file",
    "user-missing",
    "missing-frontend-css",
    "path-escape",
    "hardening-arm64",
    "divergence-whiteout",
];

/// Storage with `recipes` pushed as `scalemap-api:<recipe>`, served by an open
/// plain-HTTP registry that is dropped once the push is done.
fn storage_with(recipes: &[&str]) -> (TempDir, TempDir) {
    let storage = TempDir::new().unwrap();
    let work = TempDir::new().unwrap();
    let open = Registry::start(storage.path(), Auth::Open, None);
    for r in recipes {
        let dir = work.path().join(r);
        write_oci_dir(&build_layout(r, "v1"), &dir);
        push(
            &format!("oci:{}:v1", dir.display()),
            &open,
            &format!("scalemap-api:{r}"),
        );
    }
    (storage, work)
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    image_check_env(args, project_root(), env)
}

fn verdict(r: &Run) -> (i32, BTreeSet<(String, String, String)>) {
    (
        r.code,
        findings(&json_lines(&r.stdout)).into_iter().collect(),
    )
}

#[test]
fn fixtures_pushed_to_a_registry_give_the_offline_verdicts() {
    let (storage, work) = storage_with(PUSHABLE);
    let reg = Registry::start(storage.path(), Auth::Open, None);
    let spec = project_root().join(SPEC).display().to_string();
    let mut codes = BTreeSet::new();
    for r in PUSHABLE {
        let offline = run(
            &[
                "--format",
                "json",
                "--spec",
                &spec,
                &format!("oci:{}:v1", work.path().join(r).display()),
            ],
            &[],
        );
        let reference = format!("docker://{}/scalemap-api:{r}", reg.host());
        let online = run(
            &[
                "--format",
                "json",
                "--spec",
                &spec,
                "--insecure-http",
                &reference,
            ],
            &[],
        );
        assert_ne!(offline.code, 2, "{r}: {}", offline.stderr);
        assert_eq!(
            verdict(&online),
            verdict(&offline),
            "{r}: {}",
            online.stderr
        );
        codes.insert(offline.code);
    }
    assert_eq!(
        codes,
        BTreeSet::from([0, 1]),
        "the set has passing and failing images"
    );
}

#[test]
fn spec_lookup_and_the_verbs_work_on_registry_references() {
    let (storage, _work) = storage_with(&["healthy", "multi-platform-pushable"]);
    let reg = Registry::start(storage.path(), Auth::Open, None);
    let r = format!("docker://{}/scalemap-api:healthy", reg.host());
    // No `--spec`: the repository's last component names `images/scalemap-api.toml`.
    let out = run(&["--insecure-http", &r], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(SPEC), "{}", out.stdout);
    let ls = run(&["ls", "--insecure-http", &r, "/app/dist"], &[]);
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    assert!(ls.stdout.contains("index.js"), "{}", ls.stdout);
    let cat = run(&["cat", "--insecure-http", &r, "/etc/passwd"], &[]);
    assert_eq!(cat.code, 0, "{}", cat.stderr);
    assert!(cat.stdout.contains("root:"), "{}", cat.stdout);
    let why = run(&["why", "--insecure-http", &r, "/app/dist/index.js"], &[]);
    assert_eq!(why.code, 0, "{}", why.stderr);
    assert!(why.stdout.contains("layer"), "{}", why.stdout);

    // An index: platforms chosen as offline, on the registry's copy.
    let m = format!(
        "docker://{}/scalemap-api:multi-platform-pushable",
        reg.host()
    );
    let out = run(&["--insecure-http", &m], &[]);
    assert_eq!(
        out.code, 0,
        "linux/amd64 is healthy: {}{}",
        out.stdout, out.stderr
    );
    let out = run(&["--insecure-http", "--platform", "linux/arm64", &m], &[]);
    assert_eq!(
        out.code, 1,
        "linux/arm64 has an empty dist: {}{}",
        out.stdout, out.stderr
    );
    let out = run(
        &[
            "--insecure-http",
            "--format",
            "json",
            "--platform",
            "all",
            &m,
        ],
        &[],
    );
    let targets = json_lines(&out.stdout)
        .iter()
        .filter(|l| l["type"] == "summary")
        .map(|l| l["targets"].as_array().unwrap().len())
        .next();
    assert_eq!(targets, Some(2), "attestations are skipped: {}", out.stdout);
    let out = run(&["--insecure-http", "--platform", "linux/s390x", &m], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("linux/amd64, linux/arm64"),
        "{}",
        out.stderr
    );
}

#[test]
fn missing_repository_tag_and_digest_are_told_apart() {
    let (storage, _work) = storage_with(&["healthy"]);
    let reg = Registry::start(storage.path(), Auth::Open, None);
    let h = reg.host();
    let out = run(
        &["--insecure-http", &format!("docker://{h}/scalemap-api:v9")],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("the tag `v9` does not exist") && out.stderr.contains("`healthy`"),
        "{}",
        out.stderr
    );
    let out = run(
        &["--insecure-http", &format!("docker://{h}/nothing-here:v1")],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("the repository `nothing-here` does not exist"),
        "{}",
        out.stderr
    );
    let d = format!("sha256:{}", "0".repeat(64));
    let out = run(
        &[
            "--insecure-http",
            "--format",
            "json",
            &format!("docker://{h}/scalemap-api@{d}"),
        ],
        &[],
    );
    assert_eq!(out.code, 2);
    let f = findings(&json_lines(&out.stdout));
    assert_eq!(f[0].0, "registry-not-found", "{f:?}");
    assert!(
        out.stderr
            .contains(&format!("the manifest `{d}` does not exist")),
        "{}",
        out.stderr
    );
}

#[test]
fn tls_with_a_test_ca_and_plain_http_only_on_loopback() {
    let (storage, _work) = storage_with(&["healthy"]);
    let certs = TempDir::new().unwrap();
    let (ca, cert, key) = tls_files(certs.path());
    let reg = Registry::start(storage.path(), Auth::Open, Some((&cert, &key)));
    let r = format!("docker://{}/scalemap-api:healthy", reg.host());
    let out = run(&["--format", "json", &r], &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert_eq!(findings(&json_lines(&out.stdout))[0].0, "tls-unknown-ca");
    assert!(out.stderr.contains("--ca-file"), "{}", out.stderr);
    let out = run(&["--ca-file", ca.to_str().unwrap(), &r], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // The same name over localhost: the certificate names it too.
    let local = format!("docker://localhost:{}/scalemap-api:healthy", reg.port);
    let out = run(&["--ca-file", ca.to_str().unwrap(), &local], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // A plain-HTTP registry asked for TLS says what it is.
    let plain = Registry::start(storage.path(), Auth::Open, None);
    let out = run(
        &[&format!("docker://{}/scalemap-api:healthy", plain.host())],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("plain HTTP") && out.stderr.contains("--insecure-http"),
        "{}",
        out.stderr
    );
    // `--insecure-http` is refused off loopback, before any connection.
    let out = run(
        &["--insecure-http", "docker://registry.example.com/app:v1"],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("only for loopback registries"),
        "{}",
        out.stderr
    );
    let out = run(&["--ca-file", "/nonexistent/ca.pem", &r], &[]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("`--ca-file`"), "{}", out.stderr);
}

/// The system roots are loaded through the loader preflight's probes share, which
/// refuses `SSL_CERT_FILE` unless it is a regular file: image-check's registry
/// client read a FIFO there with no deadline (`--timeout` ignored, killed at 10 s)
/// and `/dev/zero` without a bound. `timeout` only bounds the test.
#[test]
fn a_fifo_or_device_as_ssl_cert_file_is_refused_before_any_connection() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // A FIFO whose name is not UTF-8: the loader opens what `var_os` gives.
    use std::os::unix::ffi::OsStrExt;
    let odd = dir.path().join(std::ffi::OsStr::from_bytes(b"fifo-\xff"));
    assert!(std::process::Command::new("mkfifo")
        .arg(&odd)
        .status()
        .unwrap()
        .success());
    for bad in [
        fifo.as_os_str(),
        std::ffi::OsStr::new("/dev/zero"),
        odd.as_os_str(),
    ] {
        let out = std::process::Command::new("timeout")
            .args(["-s", "KILL", "60", env!("CARGO_BIN_EXE_image-check")])
            .args(["--timeout", "3s", "docker://127.0.0.1:1/app:v1"])
            .env_clear()
            .env("HOME", dir.path())
            .env("SSL_CERT_FILE", bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(
            err.contains("`SSL_CERT_FILE` names") && err.contains("not a regular file"),
            "{bad:?}: {err}"
        );
    }
}

fn write_auth(path: &Path, host: &str, user: &str, pass: &str) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        serde_json::json!({"auths": {host: {"auth": b64}}}).to_string(),
    )
    .unwrap();
}

#[test]
fn basic_auth_sources_in_their_order_and_refusals_name_the_source() {
    let (storage, _work) = storage_with(&["healthy"]);
    let reg = Registry::start(
        storage.path(),
        Auth::Basic(vec![("ci".into(), "good-pass".into())]),
        None,
    );
    let h = reg.host();
    let r = format!("docker://{h}/scalemap-api:healthy");
    let t = TempDir::new().unwrap();
    let home = t.path().join("home");
    let home_s = home.to_str().unwrap();

    let out = run(
        &["--insecure-http", "--format", "json", &r],
        &[("HOME", home_s)],
    );
    assert_eq!(out.code, 2);
    assert_eq!(findings(&json_lines(&out.stdout))[0].0, "registry-auth");
    assert!(
        out.stderr.contains("none were found") && out.stderr.contains("config.json"),
        "{}",
        out.stderr
    );

    let out = run(&["--insecure-http", "--creds", "ci:good-pass", &r], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // A wrong password is named by its source and never shown.
    let bad = format!("ci:{CANARY}");
    for format in ["human", "json", "junit", "github"] {
        let out = run(
            &["--insecure-http", "--format", format, "--creds", &bad, &r],
            &[],
        );
        assert_eq!(out.code, 2);
        assert!(
            out.stderr
                .contains("refused the credentials from `--creds`"),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains(CANARY) && !out.stdout.contains(CANARY));
    }

    let file = t.path().join("creds");
    std::fs::write(&file, "ci:good-pass\n").unwrap();
    let out = run(
        &[
            "--insecure-http",
            "--creds-file",
            file.to_str().unwrap(),
            &r,
        ],
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    // ~/.docker/config.json `auths`.
    write_auth(&home.join(".docker/config.json"), &h, "ci", "good-pass");
    let out = run(&["--insecure-http", &r], &[("HOME", home_s)]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // A key given twice keeps its last value, as Go's encoding/json (docker,
    // skopeo) reads the file; refusing it disagreed with them (hostile F10).
    let twice = t.path().join("twice.json");
    let written = std::fs::read_to_string(home.join(".docker/config.json")).unwrap();
    std::fs::write(
        &twice,
        format!(
            r#"{{"auths":{{"{h}":{{"auth":"bm90OnRoaXM="}}}},{}"#,
            &written[1..]
        ),
    )
    .unwrap();
    let out = run(
        &["--insecure-http", &r],
        &[("REGISTRY_AUTH_FILE", twice.to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    // REGISTRY_AUTH_FILE comes first: its wrong entry is used and named.
    let first = t.path().join("auth.json");
    write_auth(&first, &h, "ci", CANARY);
    let first_s = first.to_str().unwrap();
    let out = run(
        &["--insecure-http", &r],
        &[("HOME", home_s), ("REGISTRY_AUTH_FILE", first_s)],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`REGISTRY_AUTH_FILE`"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(CANARY));
    // … and `--creds` comes before it.
    let out = run(
        &["--insecure-http", "--creds", "ci:good-pass", &r],
        &[("HOME", home_s), ("REGISTRY_AUTH_FILE", first_s)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    // $XDG_RUNTIME_DIR/containers/auth.json, before Docker's file.
    let xdg = t.path().join("run");
    write_auth(&xdg.join("containers/auth.json"), &h, "ci", "good-pass");
    write_auth(&home.join(".docker/config.json"), &h, "ci", CANARY);
    let out = run(
        &["--insecure-http", &r],
        &[("HOME", home_s), ("XDG_RUNTIME_DIR", xdg.to_str().unwrap())],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    // credHelpers: `docker-credential-test get` answers for this host only.
    let bin = t.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\nif [ \"$server\" = \"{h}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"ci\",\"Secret\":\"good-pass\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        home.join(".docker/config.json"),
        serde_json::json!({"auths": {}, "credHelpers": {h.clone(): "test"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = run(
        &["--insecure-http", &r],
        &[("HOME", home_s), ("PATH", &path)],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The helper not knowing the host is no credential: anonymous, and refused.
    std::fs::write(
        home.join(".docker/config.json"),
        serde_json::json!({"credsStore": "test"}).to_string(),
    )
    .unwrap();
    let other = format!("docker://localhost:{}/scalemap-api:healthy", reg.port);
    let out = run(
        &["--insecure-http", &other],
        &[("HOME", home_s), ("PATH", &path)],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("docker-credential-test") && out.stderr.contains("none were found"),
        "{}",
        out.stderr
    );
    // A helper that answers and exits but leaves a child holding its stdout:
    // the answer is waited for only until the deadline, and the child is killed.
    std::fs::write(
        &helper,
        "#!/bin/sh
read server
printf '{\"Username\":\"ci\",\"Secret\":\"good-pass\"}'
sleep 120 &
exit 0
",
    )
    .unwrap();
    let out = run(
        &["--insecure-http", "--timeout", "3s", &other],
        &[("HOME", home_s), ("PATH", &path)],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("kept its output open"),
        "{}",
        out.stderr
    );
}

#[test]
fn bearer_tokens_from_the_challenge_realm() {
    let (storage, _work) = storage_with(&["healthy"]);
    let tokens = TokenServer::start(Some(("ci", "token-pass")));
    let reg = Registry::start(
        storage.path(),
        Auth::Token {
            realm: tokens.realm(),
            cert: tokens.cert.clone(),
        },
        None,
    );
    let r = format!("docker://{}/scalemap-api:healthy", reg.host());
    let out = run(&["--insecure-http", "--creds", "ci:token-pass", &r], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(tokens.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let out = run(&["--insecure-http", &r], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("refused anonymous access"),
        "{}",
        out.stderr
    );
    let out = run(
        &["--insecure-http", "--creds", &format!("ci:{CANARY}"), &r],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`--creds`") && !out.stderr.contains(CANARY),
        "{}",
        out.stderr
    );
}

/// The AWS environment of an ECR test: moto's endpoint and fake keys.
fn moto_aws(endpoint: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "AKIDTESTING"),
        ("AWS_SECRET_ACCESS_KEY", "testing-secret"),
        ("AWS_REGION", "us-east-1"),
    ]
}

#[test]
fn ecr_token_from_moto_authenticates_a_bare_reference() {
    let (storage, _work) = storage_with(&["healthy"]);
    let moto = Moto::start();
    // moto's GetAuthorizationToken: base64 `AWS:123456789012-auth-token`, expired in 2015.
    let reg = Registry::start(
        storage.path(),
        Auth::Basic(vec![("AWS".into(), "123456789012-auth-token".into())]),
        None,
    );
    let ep = moto.endpoint();
    let aws = moto_aws(&ep);
    let h = reg.host();
    let out = run(
        &["--registry", &h, "--insecure-http", "scalemap-api:healthy"],
        &aws,
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(SPEC),
        "the bare name finds its spec: {}",
        out.stdout
    );

    // A registry that does not take the token: refreshed once, then named.
    let other = Registry::start(
        storage.path(),
        Auth::Basic(vec![("AWS".into(), "another-password".into())]),
        None,
    );
    let out = run(
        &[
            "--registry",
            &other.host(),
            "--insecure-http",
            "scalemap-api:healthy",
        ],
        &aws,
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("ECR GetAuthorizationToken")
            && out.stderr.contains("environment variables"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("123456789012-auth-token"),
        "{}",
        out.stderr
    );
    // `--registry` is only for bare references.
    let out = run(
        &[
            "--registry",
            &h,
            "--insecure-http",
            &format!("docker://{h}/scalemap-api:healthy"),
        ],
        &aws,
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`--registry` is for bare references"),
        "{}",
        out.stderr
    );
}

/// ECR answering 403 to a valid token means the principal lacks a pull
/// permission: the message names the principal (from STS, at moto) and the
/// permission, and never the token.
#[test]
fn an_ecr_403_names_the_principal_and_the_missing_permission() {
    let moto = Moto::start();
    let (port, _) = crate::support::registry::canned("403 Forbidden", "", 20);
    let ep = moto.endpoint();
    let aws = moto_aws(&ep);
    let out = run(
        &[
            "--registry",
            &format!("127.0.0.1:{port}"),
            "--insecure-http",
            "scalemap-api:healthy",
        ],
        &aws,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("denied")
            && out.stderr.contains("principal `arn:aws:")
            && out.stderr.contains("lacks `ecr:BatchGetImage`")
            && out.stderr.contains("on `scalemap-api`"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("123456789012-auth-token") && !out.stderr.contains("testing-secret"),
        "{}",
        out.stderr
    );
}

#[test]
fn rate_limits_and_failures_are_retried_then_named() {
    use std::sync::atomic::Ordering;
    let (port, count) =
        crate::support::registry::canned("429 Too Many Requests", "Retry-After: 0\r\n", 20);
    let r = format!("docker://127.0.0.1:{port}/app:v1");
    let out = run(&["--insecure-http", "--format", "json", &r], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`429 Too Many Requests` 5 times"),
        "{}",
        out.stderr
    );
    assert_eq!(count.load(Ordering::SeqCst), 5, "one try and four retries");
    assert_eq!(
        findings(&json_lines(&out.stdout))[0].0,
        "registry-unavailable"
    );
    // A registry that asks to wait longer than image-check does is named at once.
    let (port, count) =
        crate::support::registry::canned("503 Service Unavailable", "Retry-After: 3600\r\n", 20);
    let out = run(
        &[
            "--insecure-http",
            &format!("docker://127.0.0.1:{port}/app:v1"),
        ],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("asked to wait 1h"), "{}", out.stderr);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // One within image-check's own cap but past the deadline is named as the
    // wait it is, at once, not as a deadline that passed (hostile F5).
    let (port, count) =
        crate::support::registry::canned("503 Service Unavailable", "Retry-After: 59\r\n", 20);
    let out = run(
        &[
            "--insecure-http",
            "--timeout",
            "5s",
            &format!("docker://127.0.0.1:{port}/app:v1"),
        ],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("asked to wait 59s")
            && out.stderr.contains("past the `--timeout` of 5s"),
        "{}",
        out.stderr
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// Challenges and token answers that are the registry's or its token service's
/// fault are named as theirs, never as the user's credentials, and nothing is
/// guessed: an unterminated quote (F9), a `file:` realm (F8), a token holding a
/// line break (F11), a token answer past its 1 MiB limit (F6).
#[test]
fn malformed_challenges_and_token_answers_are_named_as_the_registrys() {
    use crate::support::registry::{canned, canned_with_body};
    use std::sync::atomic::Ordering;
    let check = |challenge: String, want: &str| {
        let headers: &'static str =
            Box::leak(format!("WWW-Authenticate: {challenge}\r\n").into_boxed_str());
        let (port, count) = canned("401 Unauthorized", headers, 10);
        let out = run(
            &[
                "--insecure-http",
                "--format",
                "json",
                "--creds",
                "u:CANARYpw",
                &format!("docker://127.0.0.1:{port}/app:v1"),
            ],
            &[],
        );
        assert_eq!(out.code, 2, "{want}: {}{}", out.stdout, out.stderr);
        let f = &findings(&json_lines(&out.stdout))[0];
        assert_eq!(f.0, "registry-auth", "{want}: {f:?}");
        assert!(out.stdout.contains(want), "{want}: {}", out.stdout);
        assert!(
            !out.stdout.contains("refused the credentials"),
            "{}",
            out.stdout
        );
        assert!(!(out.stdout + &out.stderr).contains("CANARY"));
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "{want}: asked the registry once"
        );
    };
    check(
        r#"Bearer realm="http://127.0.0.1:1/token,service=x"#.into(),
        "cannot be parsed",
    );
    check(
        r#"Bearer realm="file:///etc/passwd""#.into(),
        "`file:` is not HTTPS",
    );
    let (tok, _) = canned_with_body(
        "200 OK",
        "Content-Type: application/json\r\n".into(),
        br#"{"token":"TOKSECRET\r\nX-Injected: yes"}"#.to_vec(),
        10,
    );
    check(
        format!(r#"Bearer realm="http://127.0.0.1:{tok}/token",service="x""#),
        "a token that cannot be sent in an HTTP header",
    );
    let mut huge = br#"{"token":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'a', 3 << 20));
    huge.extend(br#""}"#);
    let (tok, _) = canned_with_body("200 OK", String::new(), huge, 10);
    check(
        format!(r#"Bearer realm="http://127.0.0.1:{tok}/token",service="x""#),
        "with more than 1024 KiB",
    );
}

#[test]
fn a_registry_that_never_answers_ends_at_the_timeout() {
    let port = crate::support::registry::blackhole(std::time::Duration::from_secs(30));
    let r = format!("docker://127.0.0.1:{port}/app:v1");
    let out = run(&["--insecure-http", "--timeout", "1s", &r], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("the `--timeout` of 1s passed"),
        "{}",
        out.stderr
    );
    // Nothing listening at all is said as such, at once: no retries for a
    // registry that never answered (they would outlast this 2s timeout and
    // end in the timeout's message instead).
    let closed = crate::support::pg::free_port();
    let out = run(
        &[
            "--insecure-http",
            "--timeout",
            "2s",
            &format!("docker://127.0.0.1:{closed}/app:v1"),
        ],
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("connection refused"), "{}", out.stderr);
}

/// A layer the registry no longer serves (deleted after the push): the check
/// could not run, and its code says it is the registry's answer
/// (`registry-not-found`), as for a missing manifest, not a corrupt image.
#[test]
fn a_blob_the_registry_lost_is_named_with_a_registry_code() {
    use std::io::{Read, Write};
    let (storage, work) = storage_with(&["healthy"]);
    let reg = Registry::start(storage.path(), Auth::Open, None);
    let manifest = crate::support::registry::manifest(&reg, "scalemap-api", "healthy");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    // A warm cache first: the layer's facts are then known without the blob.
    let cache = work.path().join("cache");
    let cache_dir = cache.to_str().unwrap();
    let r = format!("docker://{}/scalemap-api:healthy", reg.host());
    let warm = || {
        run(
            &[
                "--insecure-http",
                "--cache-dir",
                cache_dir,
                "--format",
                "json",
                &r,
            ],
            &[],
        )
    };
    assert_eq!(warm().code, 0);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", reg.port)).unwrap();
    write!(
        s,
        "DELETE /v2/scalemap-api/blobs/{layer} HTTP/1.0\r\nHost: {}\r\n\r\n",
        reg.host()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.contains(" 202 "), "{resp}");
    let cold = run(
        &["--insecure-http", "--no-cache", "--format", "json", &r],
        &[],
    );
    assert_eq!(cold.code, 2, "{}", cold.stdout);
    let f = findings(&json_lines(&cold.stdout));
    assert_eq!(f[0].0, "registry-not-found", "{f:?}");
    // The warm run, whose cache knows every layer, fails as the cold run does,
    // as the pull would.
    let out = warm();
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert_eq!(out.stdout, cold.stdout);
}

/// A registry (or a proxy) that sends wrong bytes for a blob: the digest
/// catches it, in the config and in a layer alike, and the check could not run
/// (exit 2), never a verdict on bytes the image does not hold.
#[test]
fn wrong_bytes_for_a_digest_are_caught_mid_stream() {
    let (storage, _work) = storage_with(&["healthy"]);
    let reg = Registry::start(storage.path(), Auth::Open, None);
    let manifest = crate::support::registry::manifest(&reg, "scalemap-api", "healthy");
    let config = manifest["config"]["size"].as_u64().unwrap() as usize;
    let biggest = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap() as usize)
        .max()
        .unwrap();
    assert!(config >= 500 && biggest > config + 600, "{manifest}");
    // 600 bytes into a response lands in the config's body; past the config's
    // whole response, only a layer is long enough to be hit.
    for after in [600, config + 600] {
        let proxy = crate::support::registry::ResetProxy::corrupting(reg.port, after);
        let r = format!("docker://127.0.0.1:{}/scalemap-api:healthy", proxy.port);
        let out = run(&["--insecure-http", &r], &[]);
        assert!(
            proxy.cut.load(std::sync::atomic::Ordering::SeqCst),
            "the proxy flipped a byte: {}{}",
            out.stdout,
            out.stderr
        );
        let said = format!("{}{}", out.stdout, out.stderr);
        assert_eq!(out.code, 2, "{after}: {said}");
        assert!(
            said.contains("hash to") || said.contains("hashes to"),
            "{after}: {said}"
        );
    }
}

#[test]
fn a_blob_broken_mid_stream_resumes_with_range_and_is_still_verified() {
    let (storage, _work) = storage_with(&["healthy", "empty-dist"]);
    let reg = Registry::start(storage.path(), Auth::Open, None);
    let spec = project_root().join(SPEC).display().to_string();
    for (recipe, code) in [("healthy", 0), ("empty-dist", 1)] {
        // A response head is under 400 bytes: cutting 600 bytes into the first
        // blob of at least 500 bytes (the config, then the layers) lands in its body.
        let manifest = crate::support::registry::manifest(&reg, "scalemap-api", recipe);
        assert!(
            manifest["config"]["size"].as_u64().unwrap() >= 500,
            "{manifest}"
        );
        let cut = 600;
        let proxy = crate::support::registry::ResetProxy::start(reg.port, cut);
        let r = format!("docker://127.0.0.1:{}/scalemap-api:{recipe}", proxy.port);
        let out = run(&["--insecure-http", "--spec", &spec, &r], &[]);
        assert!(
            proxy.cut.load(std::sync::atomic::Ordering::SeqCst),
            "the proxy broke a blob download: {}{}",
            out.stdout,
            out.stderr
        );
        assert_eq!(out.code, code, "{recipe}: {}{}", out.stdout, out.stderr);
    }
}

/// A layer whose transfer stalls past the deadline, or breaks on every resume,
/// is a transport failure: `registry-unavailable`, naming the host and how far
/// the blob got, never a size mismatch with a "the image is corrupt" hint (the
/// image is fine; the network was not).
#[test]
fn a_blob_that_stalls_or_keeps_breaking_is_a_transport_failure_not_a_corrupt_image() {
    use crate::support::registry::{manifest, Fault, ResetProxy};
    let (storage, _work) = storage_with(&["node-entry-past-budget"]);
    let reg = Registry::start(storage.path(), Auth::Open, None);
    let m = manifest(&reg, "scalemap-api", "node-entry-past-budget");
    let big = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|l| l["size"].as_u64())
        .unwrap();
    assert!(big["size"].as_u64().unwrap() > 100_000, "{m}");
    let digest = big["digest"].as_str().unwrap().to_string();
    let only = Some(digest.clone());
    for (fault, timeout, want) in [
        (
            Fault {
                after: 20_000,
                stall: true,
                only: only.clone(),
                ..Fault::default()
            },
            "4s",
            "deadline passed while reading the blob",
        ),
        (
            Fault {
                after: 20_000,
                every: true,
                only: only.clone(),
                ..Fault::default()
            },
            "60s",
            "broke mid-blob",
        ),
    ] {
        let proxy = ResetProxy::with_fault(reg.port, fault);
        let r = format!(
            "docker://127.0.0.1:{}/scalemap-api:node-entry-past-budget",
            proxy.port
        );
        let out = run(
            &[
                "--insecure-http",
                "--no-cache",
                "--timeout",
                timeout,
                "--format",
                "json",
                &r,
            ],
            &[],
        );
        assert!(
            proxy.cut.load(std::sync::atomic::Ordering::SeqCst),
            "{want}: no fault"
        );
        assert_eq!(out.code, 2, "{want}: {}{}", out.stdout, out.stderr);
        let f = json_lines(&out.stdout)
            .into_iter()
            .flat_map(|l| l["findings"].as_array().cloned().unwrap_or_default())
            .find(|f| f["severity"] == "error")
            .unwrap_or_else(|| panic!("{want}: {}", out.stdout));
        assert_eq!(f["code"], "registry-unavailable", "{want}: {f}");
        let msg = f["message"].as_str().unwrap();
        assert!(msg.contains(want), "{msg}");
        assert!(msg.contains(&format!("127.0.0.1:{}", proxy.port)), "{msg}");
        assert!(msg.contains("bytes in"), "{msg}");
        assert!(!msg.contains("descriptor says"), "{msg}");
        assert!(!f["hint"].as_str().unwrap().contains("corrupt"), "{f}");
    }
}

/// A redirect to another host that answers 401 is that host's refusal of the
/// URL it was given, named as such: no credentials were sent there, so neither
/// the registry nor `--creds` is blamed (hostile F7).
#[test]
fn a_401_from_a_redirect_target_is_named_as_the_targets() {
    use crate::support::registry::canned;
    let (storage, _) = canned("401 Unauthorized", "", 10);
    let location: &'static str = Box::leak(
        format!("Location: http://127.0.0.1:{storage}/signed?X-Amz-Signature=abc\r\n")
            .into_boxed_str(),
    );
    let (port, _) = canned("307 Temporary Redirect", location, 10);
    let out = run(
        &[
            "--insecure-http",
            "--creds",
            "u:CANARYpw",
            "--format",
            "json",
            &format!("docker://127.0.0.1:{port}/app:v1"),
        ],
        &[],
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    let f = &findings(&json_lines(&out.stdout))[0];
    assert_eq!(f.0, "registry-auth", "{f:?}");
    assert!(
        out.stdout.contains(&format!(
            "redirected the manifest `v1` to `127.0.0.1:{storage}`, which answered `401 Unauthorized`"
        )) || out.stdout.contains(&format!("to `127.0.0.1:{storage}`, which answered `401")),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("refused the credentials"),
        "{}",
        out.stdout
    );
    assert!(!(out.stdout + &out.stderr).contains("CANARY"));
}
