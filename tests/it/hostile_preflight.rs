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
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
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

/// The AWS files read at their defaults under `HOME` (no variable names them) are
/// held to the same rule: a FIFO `~/.aws/config` hung the start even with keys in
/// the environment.
#[test]
fn fifos_at_the_aws_files_default_paths_are_refused_without_reading() {
    for file in ["config", "credentials"] {
        let home = TempDir::new().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        let path = home.path().join(".aws").join(file);
        assert!(Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap()
            .success());
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", "60", env!("CARGO_BIN_EXE_preflight")])
            .args(["--check-only", "--timeout", "3s", "--format", "json"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
        for (k, v) in s3_env(&[]) {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "~/.aws/{file}:\n{err}");
        assert!(
            err.contains("\"file-refused\"") && err.contains(&format!(".aws/{file}` (read when `")),
            "~/.aws/{file}:\n{err}"
        );
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

/// A server's own text (an `E` reply to the SSLRequest, `server_version`) was shown
/// raw and uncut: a hostile server could fill a log line with megabytes or with
/// terminal escapes. Each is escaped and cut at 200 characters, marked as cut.
#[test]
fn server_text_in_findings_is_escaped_and_cut() {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    let evil = format!("EVIL\u{1b}[2J\nforged line {}", "v".repeat(5000));
    // Answers the SSLRequest with an ErrorResponse.
    let erring = TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = erring.local_addr().unwrap().port();
    let msg = evil.clone();
    std::thread::spawn(move || {
        for s in erring.incoming().take(4) {
            let Ok(mut s) = s else { continue };
            let mut req = [0u8; 8];
            let _ = s.read_exact(&mut req);
            let body = format!("SFATAL\0C08P01\0M{msg}\0\0");
            let mut out = vec![b'E'];
            out.extend(((body.len() + 4) as u32).to_be_bytes());
            out.extend_from_slice(body.as_bytes());
            let _ = s.write_all(&out);
        }
    });
    // Completes startup without authentication and answers the check query with a
    // `server_version` of its choosing.
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let fp = fake.local_addr().unwrap().port();
    let version = evil.clone();
    std::thread::spawn(move || {
        for s in fake.incoming().take(4) {
            let Ok(mut s) = s else { continue };
            let _ = fake_server(&mut s, &version);
        }
    });
    for format in ["human", "json"] {
        for (url, what) in [
            (
                format!("postgresql://app:pw@127.0.0.1:{ep}/app?sslmode=require"),
                "E reply",
            ),
            (
                format!("postgresql://app:pw@127.0.0.1:{fp}/app?sslmode=disable"),
                "server_version",
            ),
        ] {
            let r = run_preflight(
                &["--format", format, "--check-only", "--timeout", "10s"],
                &[("DATABASE_URL", url.as_str())],
                false,
            );
            let raw = format!("{}{}", r.stdout, r.stderr);
            assert!(!raw.contains("\u{1b}"), "{what} ({format}): a raw escape");
            assert!(
                !raw.contains("\\u001b"),
                "{what} ({format}): escaped only by JSON"
            );
            // What a reader sees: the JSON strings decoded, or the human text.
            let all = if format == "json" {
                crate::support::json_lines(&r.stderr)
                    .iter()
                    .flat_map(|l| {
                        let findings = l["findings"].as_array().cloned().unwrap_or_default();
                        std::iter::once(l["detail"].clone())
                            .chain(findings.into_iter().map(|f| f["message"].clone()))
                    })
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                raw.clone()
            };
            assert!(
                all.contains("EVIL\\x1b[2J\\nforged line"),
                "{what} ({format}): {all}"
            );
            assert!(
                all.contains("… (cut at 200 characters)"),
                "{what} ({format}): {all}"
            );
            assert!(
                !all.contains(&"v".repeat(250)),
                "{what} ({format}): not cut"
            );
            assert!(
                !all.lines()
                    .any(|l| l.trim_start().starts_with("forged line")),
                "{what} ({format}): a forged line"
            );
        }
    }
}

/// The server side of PostgreSQL's protocol, just far enough: AuthenticationOk,
/// ReadyForQuery, then one row for the probe's query.
fn fake_server(s: &mut std::net::TcpStream, version: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut startup = vec![0u8; u32::from_be_bytes(len) as usize - 4];
    s.read_exact(&mut startup)?;
    let msg = |tag: u8, body: &[u8]| {
        let mut m = vec![tag];
        m.extend(((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    };
    s.write_all(&msg(b'R', &0u32.to_be_bytes()))?;
    s.write_all(&msg(b'Z', b"I"))?;
    let mut tag = [0u8; 1];
    s.read_exact(&mut tag)?;
    s.read_exact(&mut len)?;
    let mut query = vec![0u8; u32::from_be_bytes(len) as usize - 4];
    s.read_exact(&mut query)?;
    let mut desc = 4u16.to_be_bytes().to_vec();
    for name in ["a", "b", "c", "d"] {
        desc.extend_from_slice(name.as_bytes());
        desc.push(0);
        desc.extend(0u32.to_be_bytes());
        desc.extend(0u16.to_be_bytes());
        desc.extend(25u32.to_be_bytes());
        desc.extend((-1i16).to_be_bytes());
        desc.extend((-1i32).to_be_bytes());
        desc.extend(0u16.to_be_bytes());
    }
    s.write_all(&msg(b'T', &desc))?;
    let mut row = 4u16.to_be_bytes().to_vec();
    for v in [Some(version), None, Some("off"), Some("false")] {
        match v {
            Some(v) => {
                row.extend((v.len() as u32).to_be_bytes());
                row.extend_from_slice(v.as_bytes());
            }
            None => row.extend((-1i32).to_be_bytes()),
        }
    }
    s.write_all(&msg(b'D', &row))?;
    s.write_all(&msg(b'C', b"SELECT 1\0"))?;
    s.write_all(&msg(b'Z', b"I"))?;
    // Hold the connection until the client closes it.
    let mut rest = [0u8; 64];
    while s.read(&mut rest)? > 0 {}
    Ok(())
}

/// An S3 endpoint answering with `statuses` in turn (the last one from then on),
/// counting requests: a transient 5xx is a fault moto cannot be asked for.
fn s3_answering(
    statuses: &'static [&'static str],
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut s) = stream else { break };
            let n = c.fetch_add(1, Ordering::SeqCst);
            let mut r = BufReader::new(s.try_clone().unwrap());
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
            }
            let status = statuses[n.min(statuses.len() - 1)];
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nx-amz-bucket-region: us-east-1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, count)
}

/// Hostile F10: S3 was asked once, so one transient 503 SlowDown failed the
/// start that the app's SDK (three attempts) would have survived; a lasting
/// one still fails, after three requests.
#[test]
fn s3_retries_a_transient_error_as_the_apps_sdk_would() {
    let run = |port: u16| {
        let env = s3_env(&[("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))]);
        run_preflight(
            &["--check-only", "--timeout", "5s", "--format", "json"],
            &env,
            false,
        )
    };
    let (port, count) = s3_answering(&["503 Slow Down", "200 OK"]);
    let r = run(port);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
    let (port, count) = s3_answering(&["503 Slow Down"]);
    let r = run(port);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);
}
