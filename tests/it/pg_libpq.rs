//! preflight's postgres probe against libpq's connection rules, on real PostgreSQL 15
//! clusters on loopback, with `psql` (libpq 15) run on the same URLs as a second
//! opinion: roots and CRLs, host-name matching with `hostaddr`, IP SANs and
//! wildcards, protocol bounds, `allow`/`prefer` retries, client certificates,
//! `options`, password files, `connect_timeout` across hosts, `target_session_attrs`
//! against a hot standby, an `E` reply to the SSLRequest, and many failing hosts.
//!
//! Each row states the verdict libpq gives; preflight must give the same, and `psql`
//! is run to prove the row's claim, unless the row says why libpq 15 differs.

use crate::support::pg::{
    free_port, is_root, now, Ca, Cluster, Extra, Tls, HBA_ANY, HBA_SSL_ONLY, PASSWORD,
};
use shipcheck::preflight::environ::Env;
use shipcheck::preflight::probes::postgres;
use shipcheck::preflight::spec::PostgresRule;
use shipcheck::report::{CheckOutcome, Severity, Status};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

struct Probe {
    rt: tokio::runtime::Runtime,
    home: TempDir,
}

impl Probe {
    fn new() -> Probe {
        Probe {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            home: TempDir::new().unwrap(),
        }
    }

    /// The probe with variables as the kernel holds them (bytes, UTF-8 or not).
    fn check_bytes(&self, url: &[u8], env: &[(&str, &[u8])]) -> CheckOutcome {
        let mut pairs: Vec<(String, Vec<u8>)> = vec![
            ("DATABASE_URL".into(), url.to_vec()),
            (
                "HOME".into(),
                self.home.path().as_os_str().as_bytes().to_vec(),
            ),
        ];
        for (k, v) in env {
            pairs.retain(|p| p.0 != *k);
            pairs.push((k.to_string(), v.to_vec()));
        }
        let env = Env::from_byte_pairs(pairs);
        let rule = PostgresRule {
            url_env: "DATABASE_URL".into(),
            required: true,
        };
        self.rt
            .block_on(postgres::probe(&env, &rule, Duration::from_secs(15)))
    }

    /// The probe on `url` with exactly `env` (plus an empty HOME unless given).
    fn check(&self, url: &str, env: &[(&str, &str)]) -> CheckOutcome {
        let home = self.home.path().display().to_string();
        let mut pairs: Vec<(String, String)> =
            vec![("DATABASE_URL".into(), url.into()), ("HOME".into(), home)];
        for (k, v) in env {
            pairs.retain(|p| p.0 != *k);
            pairs.push((k.to_string(), v.to_string()));
        }
        let env = Env::from_pairs(pairs);
        // The probe's own entry point: parse, libpq's environment, then connect.
        let rule = PostgresRule {
            url_env: "DATABASE_URL".into(),
            required: true,
        };
        self.rt
            .block_on(postgres::probe(&env, &rule, Duration::from_secs(15)))
    }
}

/// psql's verdict on a URL: true when it connected and ran `SELECT 1`.
fn psql_ok(url: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut c = Command::new("psql");
    c.args(["-X", "-w", "-A", "-t", "-c", "SELECT 1", "-d", url])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("psql runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct Row<'a> {
    name: &'a str,
    url: String,
    env: Vec<(&'a str, String)>,
    /// None: passes; Some(code): fails with this code first.
    fails_with: Option<&'a str>,
    /// Why psql (libpq 15) deliberately gives another verdict, if it does.
    psql_differs: Option<&'a str>,
    /// Text the first finding (or the pass detail) must contain.
    says: Option<String>,
}

fn row<'a>(name: &'a str, url: String, fails_with: Option<&'a str>) -> Row<'a> {
    Row {
        name,
        url,
        env: vec![],
        fails_with,
        psql_differs: None,
        says: None,
    }
}

fn run_rows(p: &Probe, rows: &[Row]) {
    let mut problems = Vec::new();
    for r in rows {
        let env: Vec<(&str, &str)> = r.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = p.check(&r.url, &env);
        let errors: Vec<_> = out
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        let text = format!("{:?} {:?}", out.detail, out.findings);
        assert!(
            !text.contains(PASSWORD) && !text.contains(OPT_CANARY),
            "{}: the password or an options value reached the output: {text}",
            r.name
        );
        match r.fails_with {
            None if out.status != Status::Passed => {
                problems.push(format!("{}: expected a pass, got {text}", r.name))
            }
            Some(code) if errors.first().map(|f| f.code.as_str()) != Some(code) => {
                problems.push(format!("{}: expected `{code}`, got {text}", r.name))
            }
            _ => {}
        }
        if let Some(s) = &r.says {
            if !text.contains(s.as_str()) {
                problems.push(format!("{}: expected it to say {s:?}: {text}", r.name));
            }
        }
        if r.psql_differs.is_none() {
            let (ok, stderr) = psql_ok(&r.url, &env);
            if ok != r.fails_with.is_none() {
                problems.push(format!(
                    "{}: psql (libpq) says {} ({}), the row says {}",
                    r.name,
                    if ok { "pass" } else { "fail" },
                    stderr.trim(),
                    if r.fails_with.is_none() {
                        "pass"
                    } else {
                        "fail"
                    }
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p.display().to_string()
}

/// A secret-looking value put in `options`: the server quotes it when it rejects it.
const OPT_CANARY: &str = "CANARYopt5x";

fn u(host: &str, port: u16, q: &str) -> String {
    format!("postgresql://app:{PASSWORD}@{host}:{port}/app?{q}")
}

#[test]
fn tls_roots_crls_names_protocols_and_retries_agree_with_libpq() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let ca = Ca::new("libpq rows CA");
    let wrong = Ca::new("some other CA");
    let ca_file = write(d, "ca.pem", &ca.cert.to_pem().unwrap(), 0o644);
    let wrong_file = write(d, "wrong.pem", &wrong.cert.to_pem().unwrap(), 0o644);
    let (cert, key) = ca.server(
        &["localhost", "db.test.internal"],
        true,
        now() - 3600,
        now() + 86400,
    );
    let main = Cluster::start(Tls::On { cert, key }, HBA_SSL_ONLY);
    let (cert, key) = ca.server(&["localhost"], false, now() - 3600, now() + 86400);
    let tls12 = Cluster::start_with(
        Tls::On { cert, key },
        HBA_ANY,
        Extra {
            conf: "ssl_max_protocol_version = 'TLSv1.2'",
            ..Extra::default()
        },
    );
    let (cert, key) = ca.server(&["*.test.internal"], false, now() - 3600, now() + 86400);
    let wild = Cluster::start(Tls::On { cert, key }, HBA_ANY);
    // A chain: root → intermediate → leaf, the server sending leaf + intermediate.
    let inter = ca.intermediate("libpq rows intermediate");
    let (leaf, key) = inter.server(&["localhost"], true, now() - 3600, now() + 86400);
    let chain = Cluster::start(
        Tls::Chain {
            certs: vec![leaf, inter.cert.clone()],
            key,
        },
        HBA_ANY,
    );
    // CRLs: one revoking the server certificates' serial, one revoking another.
    let crl_revoked = write(d, "revoked.crl", &ca.crl(d, &[2]), 0o644);
    let crl_other = write(d, "other.crl", &ca.crl(d, &[99]), 0o644);
    let crldir = d.join("crls");
    std::fs::create_dir(&crldir).unwrap();
    let hash = Command::new("openssl")
        .args(["crl", "-hash", "-noout", "-in", &crl_revoked])
        .output()
        .unwrap();
    let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
    assert!(!hash.is_empty());
    std::fs::copy(&crl_revoked, crldir.join(format!("{hash}.r0"))).unwrap();
    let crldir = crldir.display().to_string();
    let missing = d.join("missing.pem").display().to_string();

    let (m, t12, w, c) = (main.port, tls12.port, wild.port, chain.port);
    let vf = |extra: &str| format!("sslmode=verify-full&sslrootcert={ca_file}{extra}");
    let mut rows = vec![
        row(
            "verify-full with the right CA",
            u("localhost", m, &vf("")),
            None,
        ),
        row(
            "require verifies the chain when sslrootcert exists",
            u(
                "localhost",
                m,
                &format!("sslmode=require&sslrootcert={wrong_file}"),
            ),
            Some("tls-unknown-ca"),
        ),
        row(
            "require with a missing sslrootcert does not verify",
            u(
                "localhost",
                m,
                &format!("sslmode=require&sslrootcert={missing}"),
            ),
            None,
        ),
        row(
            "verify-ca with a missing sslrootcert is an error",
            u(
                "localhost",
                m,
                &format!("sslmode=verify-ca&sslrootcert={missing}"),
            ),
            Some("tls-unknown-ca"),
        ),
        row(
            "prefer with a wrong CA, server takes only SSL",
            u(
                "localhost",
                m,
                &format!("sslmode=prefer&sslrootcert={wrong_file}"),
            ),
            Some("tls-unknown-ca"),
        ),
        Row {
            says: Some("TlsUnknownCa, severity: Warning".into()),
            ..row(
                "prefer with a wrong CA falls back to plaintext",
                u(
                    "localhost",
                    t12,
                    &format!("sslmode=prefer&sslrootcert={wrong_file}"),
                ),
                None,
            )
        },
        Row {
            says: Some("TlsRevoked, severity: Warning".into()),
            ..row(
                "a revoked certificate under prefer: plaintext, with a warning",
                u(
                    "localhost",
                    t12,
                    &format!("sslmode=prefer&sslrootcert={ca_file}&sslcrl={crl_revoked}"),
                ),
                None,
            )
        },
        row(
            "allow retries with SSL when plaintext is rejected",
            u("localhost", m, "sslmode=allow"),
            None,
        ),
        row(
            "disable against an SSL-only server",
            u("localhost", m, "sslmode=disable"),
            Some("pg-hba-rejected"),
        ),
        row(
            "an IP literal host matches an IP SAN",
            u("127.0.0.1", m, &vf("")),
            None,
        ),
        row(
            "an IP literal host against DNS SANs only",
            u("127.0.0.1", t12, &vf("")),
            Some("tls-hostname-mismatch"),
        ),
        row(
            "hostaddr connects, host is verified",
            u("db.test.internal", m, &vf("&hostaddr=127.0.0.1")),
            None,
        ),
        row(
            "hostaddr with a host the certificate does not name",
            u("other.test.internal", m, &vf("&hostaddr=127.0.0.1")),
            Some("tls-hostname-mismatch"),
        ),
        row(
            "a wildcard matches one leftmost label",
            u("db.test.internal", w, &vf("&hostaddr=127.0.0.1")),
            None,
        ),
        row(
            "a wildcard does not match two labels",
            u("a.b.test.internal", w, &vf("&hostaddr=127.0.0.1")),
            Some("tls-hostname-mismatch"),
        ),
        row(
            "a wildcard does not match the bare domain",
            u("test.internal", w, &vf("&hostaddr=127.0.0.1")),
            Some("tls-hostname-mismatch"),
        ),
        row(
            "a server below ssl_min_protocol_version fails the handshake",
            u(
                "localhost",
                t12,
                &format!("sslmode=require&sslrootcert={ca_file}&ssl_min_protocol_version=TLSv1.3"),
            ),
            Some("tls-handshake"),
        ),
        row(
            "prefer falls back to plaintext when the handshake fails",
            u(
                "localhost",
                t12,
                "sslmode=prefer&ssl_min_protocol_version=TLSv1.3",
            ),
            None,
        ),
        Row {
            says: Some("TLSv1.2".into()),
            ..row(
                "ssl_max_protocol_version caps the version",
                u("localhost", m, &vf("&ssl_max_protocol_version=TLSv1.2")),
                None,
            )
        },
        row(
            "an inverted protocol range is an error",
            u(
                "localhost",
                m,
                &vf("&ssl_min_protocol_version=TLSv1.3&ssl_max_protocol_version=TLSv1.2"),
            ),
            Some("pg-url-invalid"),
        ),
        row(
            "a CRL revoking the server certificate",
            u("localhost", m, &vf(&format!("&sslcrl={crl_revoked}"))),
            Some("tls-revoked"),
        ),
        row(
            "a CRL revoking another certificate",
            u("localhost", m, &vf(&format!("&sslcrl={crl_other}"))),
            None,
        ),
        row(
            "a missing CRL file is ignored",
            u("localhost", m, &vf(&format!("&sslcrl={missing}"))),
            None,
        ),
        row(
            "a CRL directory revoking the server certificate",
            u("localhost", m, &vf(&format!("&sslcrldir={crldir}"))),
            Some("tls-revoked"),
        ),
        row(
            "a revoked certificate under require with the root file present",
            u(
                "localhost",
                m,
                &format!("sslmode=require&sslrootcert={ca_file}&sslcrl={crl_revoked}"),
            ),
            Some("tls-revoked"),
        ),
        Row {
            says: Some("ends at `libpq rows intermediate`, issued by `libpq rows CA`".into()),
            ..row(
                "an untrusted chain names its top certificate",
                u(
                    "localhost",
                    c,
                    &format!("sslmode=verify-full&sslrootcert={wrong_file}"),
                ),
                Some("tls-unknown-ca"),
            )
        },
        row(
            "the root verifies a chain with an intermediate the server sends",
            u("localhost", c, &vf("")),
            None,
        ),
    ];
    rows.push(row(
        "a server that refuses ends the host list (libpq 15's error_return)",
        format!("postgresql://app:{PASSWORD}@localhost:{m},localhost:{t12}/app?sslmode=disable"),
        Some("pg-hba-rejected"),
    ));
    rows.push(row(
        "a TLS failure ends the host list",
        format!("postgresql://app:{PASSWORD}@localhost:{m},localhost:{t12}/app?sslmode=require&sslrootcert={wrong_file}"),
        Some("tls-unknown-ca"),
    ));
    // The same rows through PG* variables where libpq reads them.
    rows.push(Row {
        env: vec![("PGSSLROOTCERT", ca_file.clone())],
        ..row(
            "PGSSLROOTCERT",
            u("localhost", m, "sslmode=verify-full"),
            None,
        )
    });
    let p = Probe::new();
    run_rows(&p, &rows);
}

#[test]
fn client_certificates_and_keys_agree_with_libpq() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let ca = Ca::new("client rows CA");
    let ca_pem = ca.cert.to_pem().unwrap();
    let ca_file = write(d, "ca.pem", &ca_pem, 0o644);
    let (cert, key) = ca.server(&["localhost"], true, now() - 3600, now() + 86400);
    let k = Cluster::start_with(
        Tls::On { cert, key },
        &["hostssl all all 127.0.0.1/32 cert"],
        Extra {
            conf: "ssl_ca_file = 'ca.pem'",
            files: vec![("ca.pem", ca_pem.clone())],
        },
    );
    let (ccert, ckey) = ca.client("app");
    let cert_file = write(d, "app.crt", &ccert.to_pem().unwrap(), 0o644);
    let key_pem = ckey.private_key_to_pem_pkcs8().unwrap();
    let key_file = write(d, "app.key", &key_pem, 0o600);
    let loose_key = write(d, "loose.key", &key_pem, 0o644);
    let enc = ckey
        .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"key-pass-1")
        .unwrap();
    let enc_key = write(d, "enc.key", &enc, 0o600);
    let (stranger_cert, stranger_key) = Ca::new("stranger").client("app");
    let other_cert = write(d, "other.crt", &stranger_cert.to_pem().unwrap(), 0o644);
    let stranger_key = write(
        d,
        "stranger.key",
        &stranger_key.private_key_to_pem_pkcs8().unwrap(),
        0o600,
    );
    let base = |q: &str| {
        format!(
            "postgresql://app@localhost:{}/app?sslmode=verify-full&sslrootcert={ca_file}{q}",
            k.port
        )
    };
    let rows = vec![
        row(
            "a client certificate and key",
            base(&format!("&sslcert={cert_file}&sslkey={key_file}")),
            None,
        ),
        row("no client certificate", base(""), Some("pg-client-cert")),
        Row {
            says: Some("has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root".into()),
            ..row(
                "a key readable by others",
                base(&format!("&sslcert={cert_file}&sslkey={loose_key}")),
                Some("pg-client-cert"),
            )
        },
        row(
            "an encrypted key with its sslpassword",
            base(&format!("&sslcert={cert_file}&sslkey={enc_key}&sslpassword=key-pass-1")),
            None,
        ),
        row(
            "an encrypted key with a wrong sslpassword",
            base(&format!("&sslcert={cert_file}&sslkey={enc_key}&sslpassword=wrong")),
            Some("pg-client-cert"),
        ),
        row(
            "a key that is not the certificate's",
            base(&format!("&sslcert={other_cert}&sslkey={key_file}")),
            Some("pg-client-cert"),
        ),
        // TLS 1.2: the server refuses the certificate inside the handshake, with
        // an alert both clients read. Under TLS 1.3 it refuses after the
        // handshake, and on a loaded machine the reset can overtake the alert
        // (for libpq as for preflight), so the row would test the scheduler.
        row(
            "a certificate from a CA the server does not trust",
            base(&format!(
                "&sslcert={other_cert}&sslkey={stranger_key}&ssl_max_protocol_version=TLSv1.2"
            )),
            Some("pg-client-cert"),
        ),
        row(
            "a certificate without its key file",
            base(&format!("&sslcert={cert_file}&sslkey={}/none.key", d.display())),
            Some("pg-client-cert"),
        ),
    ];
    let p = Probe::new();
    run_rows(&p, &rows);

    // libpq's defaults: ~/.postgresql/postgresql.crt and .key. libpq 15 finds the
    // home directory in the password database, libpq 16+ (and preflight) in $HOME,
    // so psql is not asked here.
    let pgdir = p.home.path().join(".postgresql");
    std::fs::create_dir(&pgdir).unwrap();
    write(&pgdir, "postgresql.crt", &ccert.to_pem().unwrap(), 0o644);
    write(&pgdir, "postgresql.key", &key_pem, 0o600);
    write(&pgdir, "root.crt", &ca_pem, 0o644);
    let out = p.check(
        &format!(
            "postgresql://app@localhost:{}/app?sslmode=verify-full",
            k.port
        ),
        &[],
    );
    assert_eq!(out.status, Status::Passed, "{:?}", out.findings);
    std::fs::set_permissions(
        pgdir.join("postgresql.key"),
        std::fs::Permissions::from_mode(0o604),
    )
    .unwrap();
    let out = p.check(
        &format!(
            "postgresql://app@localhost:{}/app?sslmode=verify-full",
            k.port
        ),
        &[],
    );
    assert_eq!(
        out.findings[0].code.as_str(),
        "pg-client-cert",
        "{:?}",
        out.findings
    );
}

#[test]
fn options_passwords_timeouts_and_many_hosts_agree_with_libpq() {
    let dir = TempDir::new().unwrap();
    let d = dir.path();
    let plain = Cluster::start(Tls::Off, HBA_ANY);
    let pp = plain.port;
    // A host that completes TCP (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sp = silent.local_addr().unwrap().port();
    // A server that answers the SSLRequest with an ErrorResponse.
    let erring = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = erring.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in erring.incoming().take(8) {
            let Ok(mut s) = s else { continue };
            let mut req = [0u8; 8];
            let _ = s.read_exact(&mut req);
            let body = b"SFATAL\0C53300\0Msorry, too many clients already\0\0";
            let mut msg = vec![b'E'];
            msg.extend(((body.len() + 4) as u32).to_be_bytes());
            msg.extend_from_slice(body);
            let _ = s.write_all(&msg);
        }
    });
    let good_pass = write(
        d,
        "pgpass",
        format!("localhost:{pp}:app:app:{PASSWORD}\n").as_bytes(),
        0o600,
    );
    let loose_pass = write(
        d,
        "pgpass-loose",
        format!("localhost:{pp}:app:app:{PASSWORD}\n").as_bytes(),
        0o644,
    );
    let wrong_pass = write(d, "pgpass-wrong", b"*:*:*:app:not-it\n", 0o600);
    // The OS user the test clusters run as: `postgres` under root (CI).
    let server_os_user = if is_root() {
        "postgres".to_string()
    } else {
        let out = Command::new("id").arg("-un").output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let services = write(
        d,
        "pg_service.conf",
        format!("[app]\nhost=localhost\nport={pp}\ndbname=app\nuser=app\npassword={PASSWORD}\nsslmode=disable\n[spaced]\nhost = localhost\n").as_bytes(),
        0o644,
    );
    let dead: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let nopw = |q: &str| format!("postgresql://app@localhost:{pp}/app?sslmode=disable{q}");
    let rows = vec![
        row(
            "a bad setting in options",
            u("localhost", pp, "sslmode=disable&options=-c%20statement_timeout%3Dbogus"),
            Some("pg-error"),
        ),
        row(
            "a good setting in options",
            u("localhost", pp, "sslmode=disable&options=-c%20search_path%3Dpublic"),
            None,
        ),
        // Regression: `gssencmode=require` used to pass, though libpq (no Kerberos
        // ticket here, as in a container) never connects and preflight cannot do GSSAPI.
        row(
            "gssencmode=require is refused as libpq refuses it",
            u("localhost", pp, "gssencmode=require"),
            Some("pg-gss-required"),
        ),
        Row {
            env: vec![("PGGSSENCMODE", "require".into())],
            ..row(
                "PGGSSENCMODE=require is refused too",
                u("localhost", pp, "sslmode=disable"),
                Some("pg-gss-required"),
            )
        },
        row(
            "gssencmode=prefer falls back as libpq does",
            u("localhost", pp, "gssencmode=prefer"),
            None,
        ),
        // Regression: `channel_binding=require` was accepted and ignored, so a
        // plaintext connection passed here; libpq refuses it before any password
        // goes out (SCRAM-SHA-256-PLUS needs TLS).
        row(
            "channel_binding=require without TLS",
            u("localhost", pp, "sslmode=disable&channel_binding=require"),
            Some("pg-error"),
        ),
        Row {
            env: vec![("PGCHANNELBINDING", "require".into())],
            ..row(
                "PGCHANNELBINDING=require over a Unix socket",
                format!(
                    "postgresql://app:{PASSWORD}@/app?host={}&port={pp}",
                    plain.data().display()
                ),
                Some("pg-error"),
            )
        },
        // Regression: `requirepeer` was accepted and ignored, so a socket served by
        // another OS user passed here and failed libpq before a byte was sent.
        row(
            "requirepeer naming another OS user than the server's",
            format!(
                "postgresql://app:{PASSWORD}@/app?host={}&port={pp}&requirepeer=shipcheck-nobody",
                plain.data().display()
            ),
            Some("pg-error"),
        ),
        row(
            "requirepeer naming the server's OS user",
            format!(
                "postgresql://app:{PASSWORD}@/app?host={}&port={pp}&requirepeer={server_os_user}",
                plain.data().display()
            ),
            None,
        ),
        Row {
            env: vec![("PGREQUIREPEER", "shipcheck-nobody".into())],
            ..row(
                "PGREQUIREPEER, and only over a Unix socket",
                u("localhost", pp, "sslmode=disable"),
                None,
            )
        },
        // Regression: `service` was accepted and ignored, so preflight checked the
        // URL alone where libpq takes the host, user and password from the file (or
        // fails on a service the file does not define).
        Row {
            env: vec![("PGSERVICEFILE", services.clone())],
            ..row("a service from the service file", "service=app".into(), None)
        },
        Row {
            env: vec![("PGSERVICEFILE", services.clone()), ("PGPORT", "1".into())],
            ..row(
                "the service file beats the environment",
                "postgresql:///?service=app".into(),
                None,
            )
        },
        Row {
            env: vec![("PGSERVICEFILE", services.clone())],
            ..row(
                "a service the file does not define",
                "service=absent host=localhost".into(),
                Some("pg-url-invalid"),
            )
        },
        Row {
            env: vec![("PGSERVICEFILE", services.clone())],
            ..row(
                "a service line with spaces around `=`",
                "service=spaced".into(),
                Some("pg-url-invalid"),
            )
        },
        // Regression: `client_encoding` was accepted and ignored, so a typo passed
        // here and failed the app's first connection (the server refuses it).
        row(
            "a client_encoding the server does not know",
            u("localhost", pp, &format!("sslmode=disable&client_encoding={OPT_CANARY}")),
            Some("pg-error"),
        ),
        Row {
            env: vec![("PGCLIENTENCODING", "AUTO".into())],
            ..row(
                "PGCLIENTENCODING=AUTO is not libpq's `auto`",
                u("localhost", pp, "sslmode=disable"),
                Some("pg-error"),
            )
        },
        row(
            "a client_encoding with no conversion to the database's",
            u("localhost", pp, "sslmode=disable&client_encoding=MULE_INTERNAL"),
            Some("pg-error"),
        ),
        row(
            "client_encoding=auto and another spelling of an encoding",
            u("localhost", pp, "sslmode=disable&client_encoding=auto"),
            None,
        ),
        Row {
            env: vec![("PGCLIENTENCODING", "latin-1".into())],
            ..row(
                "PGCLIENTENCODING with a name the server knows",
                u("localhost", pp, "sslmode=disable"),
                None,
            )
        },
        Row {
            says: Some("no password was supplied".into()),
            ..row(
                "an empty password is no password",
                format!("postgresql://app:@localhost:{pp}/app?sslmode=disable"),
                Some("pg-no-password"),
            )
        },
        row("a password file", nopw(&format!("&passfile={good_pass}")), None),
        row(
            "a password file with group/world access is ignored",
            nopw(&format!("&passfile={loose_pass}")),
            Some("pg-no-password"),
        ),
        Row {
            says: Some(format!("password retrieved from file `{wrong_pass}`")),
            ..row(
                "a wrong password from the password file",
                nopw(&format!("&passfile={wrong_pass}")),
                Some("pg-auth-failed"),
            )
        },
        Row {
            says: Some(format!("127.0.0.1:{pp}")),
            ..row(
                "connect_timeout moves past a silent first host",
                format!(
                    "postgresql://app:{PASSWORD}@127.0.0.1:{sp},127.0.0.1:{pp}/app?sslmode=disable&connect_timeout=2"
                ),
                None,
            )
        },
        Row {
            says: Some("Unix socket".into()),
            ..row(
                "a Unix socket directory as host",
                format!(
                    "postgresql://app@/app?host={}&port={pp}",
                    plain.data().display()
                ),
                None,
            )
        },
        row(
            "an E reply ends the host list",
            format!("postgresql://app:{PASSWORD}@127.0.0.1:{ep},127.0.0.1:{pp}/app?sslmode=prefer"),
            Some("pg-too-many-connections"),
        ),
        row(
            "refused hosts are skipped in order",
            format!(
                "postgresql://app:{PASSWORD}@127.0.0.1:{},127.0.0.1:{},127.0.0.1:{pp}/app?sslmode=disable",
                dead[0], dead[1]
            ),
            None,
        ),
        Row {
            says: Some("sorry, too many clients already".into()),
            ..row(
                "an E reply to the SSLRequest is shown",
                u("127.0.0.1", ep, "sslmode=require"),
                Some("pg-too-many-connections"),
            )
        },
        row(
            "replication=false is an ordinary session",
            u("localhost", pp, "sslmode=disable&replication=of"),
            None,
        ),
        row(
            "a replication value the server refuses",
            u("localhost", pp, "sslmode=disable&replication=bogus"),
            Some("pg-url-invalid"),
        ),
        Row {
            says: Some("which preflight's driver cannot open".into()),
            psql_differs: Some("libpq opens a walsender connection, which `app` may not (no REPLICATION); preflight cannot open one, checks an ordinary session and warns"),
            ..row(
                "replication=database is not checked, and says so",
                u("localhost", pp, "sslmode=disable&replication=database"),
                None,
            )
        },
        Row {
            says: Some("contained a value from `options`/`PGOPTIONS`".into()),
            ..row(
                "a rejected options value is withheld, as the server quotes it",
                u("localhost", pp, &format!("sslmode=disable&options=-c%20statement_timeout%3D{OPT_CANARY}")),
                Some("pg-error"),
            )
        },
        Row {
            says: Some("contained a value from `options`/`PGOPTIONS`".into()),
            env: vec![("PGOPTIONS", format!("-c statement_timeout={OPT_CANARY}\\ x"))],
            ..row(
                "a PGOPTIONS value is withheld in its unescaped form",
                format!("postgresql://app:{PASSWORD}@localhost:{pp}/app?sslmode=disable"),
                Some("pg-error"),
            )
        },
    ];
    let p = Probe::new();
    run_rows(&p, &rows);

    // ~/.pgpass through HOME, and the warning libpq prints when it ignores it.
    let pgpass = p.home.path().join(".pgpass");
    std::fs::write(&pgpass, format!("localhost:{pp}:app:app:{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = p.check(&nopw(""), &[]);
    assert_eq!(out.status, Status::Passed, "{:?}", out.findings);
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = p.check(&nopw(""), &[]);
    let codes: Vec<&str> = out.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes,
        ["pg-passfile-ignored", "pg-no-password"],
        "{:?}",
        out.findings
    );
    assert!(out.findings[0]
        .message
        .contains("has group or world access"));

    // Many hosts failing alike: one finding with a count, not one per host.
    let hosts: Vec<String> = (0..200).map(|_| format!("127.0.0.1:{}", dead[2])).collect();
    let url = format!(
        "postgresql://app:{PASSWORD}@{}/app?sslmode=disable",
        hosts.join(",")
    );
    let out = p.check(&url, &[]);
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
    assert_eq!(out.findings[0].code.as_str(), "pg-connection-refused");
    // Every attempt counts, also when the hosts are one host listed 200 times.
    assert!(
        out.findings[0]
            .message
            .contains("(the same on 200 hosts: `"),
        "{}",
        out.findings[0].message
    );
    drop(silent);
}

#[test]
fn target_session_attrs_against_a_hot_standby_agree_with_libpq() {
    let primary = Cluster::start(Tls::Off, HBA_ANY);
    let standby = primary.standby();
    let (pr, sb) = (primary.port, standby.port);
    let url = |ports: &[u16], attrs: &str| {
        let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        format!(
            "postgresql://app:{PASSWORD}@{}/app?sslmode=disable&target_session_attrs={attrs}",
            hosts.join(",")
        )
    };
    let on = |port: u16| Some(format!("127.0.0.1:{port}"));
    let rows = vec![
        Row {
            says: Some(format!("`127.0.0.1:{sb}` is a hot standby")),
            ..row(
                "read-write reaching only a standby",
                url(&[sb], "read-write"),
                Some("pg-session-attrs"),
            )
        },
        Row {
            says: on(pr),
            ..row(
                "read-write skips the standby",
                url(&[sb, pr], "read-write"),
                None,
            )
        },
        Row {
            says: on(sb),
            ..row(
                "read-only skips the primary",
                url(&[pr, sb], "read-only"),
                None,
            )
        },
        row(
            "standby reaching only a primary",
            url(&[pr], "standby"),
            Some("pg-session-attrs"),
        ),
        Row {
            says: on(pr),
            ..row("primary skips the standby", url(&[sb, pr], "primary"), None)
        },
        Row {
            says: on(sb),
            ..row(
                "prefer-standby finds the standby",
                url(&[pr, sb], "prefer-standby"),
                None,
            )
        },
        Row {
            says: on(pr),
            ..row(
                "prefer-standby settles for a primary",
                url(&[pr], "prefer-standby"),
                None,
            )
        },
        row("any takes the first", url(&[sb, pr], "any"), None),
    ];
    let p = Probe::new();
    run_rows(&p, &rows);
}

/// A hostile server asks for the password in cleartext and echoes it in its error:
/// the finding must not carry it.
#[test]
fn a_server_echoing_the_cleartext_password_is_scrubbed() {
    let port = cleartext_server(2, |_, s, pw| {
        let body = format!("SFATAL\0C28P01\0Mpassword authentication failed: you sent {pw}\0\0");
        pg_msg(s, b'E', body.as_bytes());
    });
    let p = Probe::new();
    let out = p.check(&u("127.0.0.1", port, "sslmode=disable"), &[]);
    assert_eq!(
        out.findings[0].code.as_str(),
        "pg-auth-failed",
        "{:?}",
        out.findings
    );
    let text = format!("{:?}", out.findings);
    assert!(
        text.contains("contained the password, so it is not shown") && !text.contains("you sent"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
}

/// A hostile server on loopback for `rounds` connections: it takes the startup
/// message, asks for the password in cleartext, and hands the connection, its
/// round and the password it was sent to `reply`. Its port.
fn cleartext_server(
    rounds: usize,
    reply: impl Fn(usize, &mut std::net::TcpStream, String) + Send + 'static,
) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (i, s) in l.incoming().take(rounds).enumerate() {
            let Ok(mut s) = s else { continue };
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_err() {
                continue;
            }
            let mut startup = vec![0u8; u32::from_be_bytes(len) as usize - 4];
            let _ = s.read_exact(&mut startup);
            let _ = s.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]);
            let mut head = [0u8; 5];
            if s.read_exact(&mut head).is_err() {
                continue;
            }
            let mut pw =
                vec![0u8; u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize - 4];
            let _ = s.read_exact(&mut pw);
            let pw = String::from_utf8_lossy(&pw)
                .trim_end_matches('\0')
                .to_string();
            reply(i, &mut s, pw);
        }
    });
    port
}

/// Writes one protocol message: type byte, length, body.
fn pg_msg(s: &mut std::net::TcpStream, t: u8, body: &[u8]) {
    let mut m = vec![t];
    m.extend(((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    let _ = s.write_all(&m);
}

/// Regression: only a server message quoting the whole password was withheld. A
/// hostile server that asks for the password in cleartext can quote a piece of it,
/// change its case, or report it as its version on a pass; none of it may reach
/// the report, in either format.
#[test]
fn a_server_quoting_part_of_the_cleartext_password_is_scrubbed() {
    let port = cleartext_server(3, |i, s, pw| {
        let fail = |s: &mut std::net::TcpStream, text: String| {
            let body = format!("SFATAL\0C28P01\0M{text}\0\0");
            pg_msg(s, b'E', body.as_bytes());
        };
        match i {
            0 => fail(s, format!("no: it starts {}", &pw[..8])),
            1 => fail(s, format!("no: {}", pw.to_uppercase())),
            _ => {
                pg_msg(s, b'R', &0u32.to_be_bytes());
                pg_msg(s, b'K', &[0, 0, 0, 1, 0, 0, 0, 2]);
                pg_msg(s, b'Z', b"I");
                let mut q = [0u8; 5];
                if s.read_exact(&mut q).is_err() {
                    return;
                }
                let mut rest = vec![0u8; u32::from_be_bytes([q[1], q[2], q[3], q[4]]) as usize - 4];
                let _ = s.read_exact(&mut rest);
                let mut t = 1u16.to_be_bytes().to_vec();
                t.extend_from_slice(b"v\0");
                t.extend(0u32.to_be_bytes());
                t.extend(0u16.to_be_bytes());
                t.extend(25u32.to_be_bytes());
                t.extend((-1i16).to_be_bytes());
                t.extend((-1i32).to_be_bytes());
                t.extend(0u16.to_be_bytes());
                pg_msg(s, b'T', &t);
                let version = format!("15.0 {pw}");
                let mut d = 1u16.to_be_bytes().to_vec();
                d.extend((version.len() as u32).to_be_bytes());
                d.extend_from_slice(version.as_bytes());
                pg_msg(s, b'D', &d);
                pg_msg(s, b'C', b"SELECT 1\0");
                pg_msg(s, b'Z', b"I");
                let _ = s.read(&mut [0u8; 64]);
            }
        }
    });
    let p = Probe::new();
    for round in 0..3 {
        let out = p.check(&u("127.0.0.1", port, "sslmode=disable"), &[]);
        let text = format!("{:?} {:?}", out.detail, out.findings);
        for i in 0..PASSWORD.len() - 5 {
            let piece = &PASSWORD[i..i + 6];
            assert!(
                !text.to_uppercase().contains(&piece.to_uppercase()),
                "round {round}: `{piece}` shown: {text}"
            );
        }
        assert!(text.contains("not shown"), "round {round}: {text}");
    }
}

/// `sslrootcert=system` (libpq 16+): the system store (here `SSL_CERT_FILE`), and
/// verify-full unless the URL asks for a weaker mode, which is an error. libpq 15
/// reads `system` as a file name, so psql is not asked.
#[test]
fn sslrootcert_system_uses_the_system_store_with_verify_full() {
    let dir = TempDir::new().unwrap();
    let ca = Ca::new("system store CA");
    let ca_file = write(dir.path(), "ca.pem", &ca.cert.to_pem().unwrap(), 0o644);
    let (cert, key) = ca.server(&["localhost"], true, now() - 3600, now() + 86400);
    let c = Cluster::start(Tls::On { cert, key }, HBA_ANY);
    let run = |url: String, cert_file: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args(["--format", "json", "--timeout", "10s", "--check-only"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("SSL_CERT_FILE", cert_file)
            .env("SSL_CERT_DIR", dir.path().join("none"))
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(u("localhost", c.port, "sslrootcert=system"), &ca_file);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("default for sslrootcert=system"), "{err}");
    // Not in the system store: the pass above came from it, not from skipping checks.
    let other = write(
        dir.path(),
        "other.pem",
        &Ca::new("x").cert.to_pem().unwrap(),
        0o644,
    );
    let (code, err) = run(u("localhost", c.port, "sslrootcert=system"), &other);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("tls-unknown-ca"), "{err}");
    let (code, err) = run(
        u("localhost", c.port, "sslrootcert=system&sslmode=require"),
        &ca_file,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("pg-url-invalid") && err.contains("weaker than `sslrootcert=system` allows"),
        "{err}"
    );
}

/// The system store is read without waiting on what it names: `SSL_CERT_FILE` as
/// a FIFO or a device is refused (`file-refused`, as the S3 probe refuses it),
/// and a FIFO in `SSL_CERT_DIR` under the issuer's hash name (what OpenSSL's
/// by-hash lookup opened during the handshake, holding the probe past every
/// deadline and SIGTERM) is skipped. `timeout` only bounds the test.
#[test]
fn sslrootcert_system_never_waits_on_a_fifo_or_device_in_the_trust_store() {
    let dir = TempDir::new().unwrap();
    let ca = Ca::new("system store CA");
    let (cert, key) = ca.server(&["localhost"], true, now() - 3600, now() + 86400);
    let c = Cluster::start(Tls::On { cert, key }, HBA_ANY);
    let other = write(
        dir.path(),
        "other.pem",
        &Ca::new("x").cert.to_pem().unwrap(),
        0o644,
    );
    let mkfifo = |p: &Path| {
        assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
    };
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let hashed = dir.path().join("hashed");
    std::fs::create_dir(&hashed).unwrap();
    mkfifo(&hashed.join(format!("{:08x}.0", ca.cert.subject_name_hash())));
    let run = |cert_file: &str, cert_dir: &Path| {
        let out = Command::new("timeout")
            .args(["-s", "KILL", "60", env!("CARGO_BIN_EXE_preflight")])
            .args(["--format", "json", "--timeout", "5s", "--check-only"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("SSL_CERT_FILE", cert_file)
            .env("SSL_CERT_DIR", cert_dir)
            .env("DATABASE_URL", u("localhost", c.port, "sslrootcert=system"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let none = dir.path().join("none");
    for bad in [fifo.to_str().unwrap(), "/dev/zero", "/dev/urandom"] {
        let (code, err) = run(bad, &none);
        assert_eq!(code, Some(1), "{bad}: {err}");
        assert!(
            err.contains("\"file-refused\"") && err.contains("SSL_CERT_FILE"),
            "{bad}: {err}"
        );
    }
    let (code, err) = run(&other, &hashed);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("tls-unknown-ca"), "{err}");
    assert!(!err.contains("holds no certificates"), "{err}");
    // An empty store is named as such (hostile F8), not only "not trusted".
    let (code, err) = run(none.to_str().unwrap(), &none);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("tls-unknown-ca") && err.contains("holds no certificates"),
        "{err}"
    );
}

/// psql's verdict with arguments and variables as bytes (UTF-8 or not).
fn psql_ok_bytes(url: &[u8], env: &[(&str, &[u8])]) -> (bool, String) {
    let mut c = Command::new("psql");
    c.args(["-X", "-w", "-A", "-t", "-c", "SELECT 1", "-d"])
        .arg(OsStr::from_bytes(url))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, OsStr::from_bytes(v));
    }
    let out = c.output().expect("psql runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A SCRAM-SHA-256 verifier for `password`'s bytes, as the server stores one
/// (RFC 5802 / 7677). A UTF8 database cannot take a password that is not UTF-8 in
/// `ALTER ROLE … PASSWORD '…'` (it refuses the literal), but it stores a verifier
/// as it is, and libpq's SCRAM sends such a password's bytes unprepared.
fn scram_verifier(password: &[u8]) -> String {
    use openssl::base64::encode_block;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::Signer;
    let salt = b"shipcheck-salt16";
    let iterations = 4096;
    let mut salted = [0u8; 32];
    openssl::pkcs5::pbkdf2_hmac(
        password,
        salt,
        iterations,
        MessageDigest::sha256(),
        &mut salted,
    )
    .unwrap();
    let hmac = |data: &[u8]| {
        let key = PKey::hmac(&salted).unwrap();
        let mut s = Signer::new(MessageDigest::sha256(), &key).unwrap();
        s.update(data).unwrap();
        s.sign_to_vec().unwrap()
    };
    let client_key = hmac(b"Client Key");
    let stored_key = openssl::sha::sha256(&client_key);
    let server_key = hmac(b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        encode_block(salt),
        encode_block(&stored_key),
        encode_block(&server_key)
    )
}

/// A password that is not UTF-8 used to be `pg-url-invalid` (after
/// percent-decoding) or silently changed (from the environment or the password
/// file); libpq sends its bytes, and so must preflight, with a note that
/// node-postgres cannot.
#[test]
fn a_password_that_is_not_utf8_is_sent_as_bytes_as_libpq_does() {
    const SECRET: &[u8] = b"\xffCANARY-bytes\xfe";
    let c = Cluster::start(Tls::Off, HBA_ANY);
    c.sql(&format!(
        "ALTER ROLE app PASSWORD '{}'",
        scram_verifier(SECRET)
    ));
    let pp = c.port;
    let dir = TempDir::new().unwrap();
    let passfile = dir.path().join("pgpass");
    let mut line = format!("localhost:{pp}:app:app:").into_bytes();
    line.extend_from_slice(SECRET);
    line.push(b'\n');
    std::fs::write(&passfile, &line).unwrap();
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pct = "%FFCANARY-bytes%FE";
    let raw_url = {
        let mut u = b"postgresql://app:".to_vec();
        u.extend_from_slice(SECRET);
        u.extend_from_slice(format!("@localhost:{pp}/app?sslmode=disable").as_bytes());
        u
    };
    let no_pw = format!("postgresql://app@localhost:{pp}/app?sslmode=disable");
    let with_passfile = format!("{no_pw}&passfile={}", passfile.display());
    // (what, URL, variables, passes)
    type Case<'a> = (&'a str, Vec<u8>, Vec<(&'a str, &'a [u8])>, bool);
    let cases: Vec<Case> = vec![
        (
            "percent-encoded in the URL",
            format!("postgresql://app:{pct}@localhost:{pp}/app?sslmode=disable").into_bytes(),
            vec![],
            true,
        ),
        (
            "percent-encoded in the query",
            format!("{no_pw}&password={pct}").into_bytes(),
            vec![],
            true,
        ),
        ("raw bytes in DATABASE_URL", raw_url, vec![], true),
        (
            "raw bytes in PGPASSWORD",
            no_pw.clone().into_bytes(),
            vec![("PGPASSWORD", SECRET)],
            true,
        ),
        (
            "raw bytes in the password file",
            with_passfile.into_bytes(),
            vec![],
            true,
        ),
        (
            "other bytes are another password",
            format!("postgresql://app:%FF%FE@localhost:{pp}/app?sslmode=disable").into_bytes(),
            vec![],
            false,
        ),
    ];
    let p = Probe::new();
    for (what, url, env, passes) in cases {
        let out = p.check_bytes(&url, &env);
        let text = format!("{:?} {:?}", out.detail, out.findings);
        assert!(!text.contains("CANARY-bytes"), "{what}: {text}");
        let (ok, stderr) = psql_ok_bytes(&url, &env);
        assert_eq!(ok, passes, "{what}: psql says {stderr}");
        if passes {
            assert_eq!(out.status, Status::Passed, "{what}: {text}");
            let note = out
                .findings
                .iter()
                .find(|f| f.code.as_str() == "pg-driver-differs")
                .unwrap_or_else(|| panic!("{what}: no note: {text}"));
            assert!(
                note.message.contains("not UTF-8") && note.message.contains("node-postgres"),
                "{what}: {}",
                note.message
            );
        } else {
            assert_eq!(
                out.findings.last().map(|f| f.code.as_str()),
                Some("pg-auth-failed"),
                "{what}: {text}"
            );
        }
    }
}

/// With no user, libpq connects as the effective OS user (never `$USER`); with no
/// host, to its Unix-socket directory (Debian: `/var/run/postgresql`), never
/// `localhost`. preflight used node-postgres's defaults instead; now it follows
/// libpq and says, in a note, what node-postgres would do.
#[test]
fn libpq_defaults_for_user_and_host_agree_with_psql() {
    let sockets = Path::new(shipcheck::preflight::dburl::DEFAULT_SOCKET_DIR);
    if !sockets.is_dir() {
        // What the postgresql-common package makes (and a reboot may clear).
        assert!(
            is_root(),
            "{} is missing; create it for the postgres user",
            sockets.display()
        );
        std::fs::create_dir_all(sockets).unwrap();
        let ok = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(sockets)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    // The cluster listens on its own socket directory ('.', its data directory)
    // and on libpq's default one, under its own port.
    let c = Cluster::start_with(
        Tls::Off,
        HBA_ANY,
        Extra {
            conf: "unix_socket_directories = '.,/var/run/postgresql'",
            ..Extra::default()
        },
    );
    let me = postgres::os_user().name.expect("the test user has a name");
    c.sql(&format!("CREATE ROLE \"{me}\" LOGIN"));
    let pp = c.port;
    let data = c.data().display().to_string();
    let rows = vec![
        Row {
            says: Some(format!("/var/run/postgresql/.s.PGSQL.{pp}` as `app`")),
            ..row(
                "no host: libpq's socket directory",
                format!("postgresql://app@:{pp}/app"),
                None,
            )
        },
        Row {
            says: Some(format!("as `{me}` on `postgres`")),
            env: vec![("USER", "someone-else".into())],
            ..row(
                "no user: the OS user, not $USER",
                format!("postgresql:///postgres?host={data}&port={pp}"),
                None,
            )
        },
        Row {
            says: Some("node-postgres would use `$USER` instead (a different name here)".into()),
            env: vec![("USER", "someone-else".into())],
            ..row(
                "no user and no host",
                format!("postgresql:///postgres?port={pp}"),
                None,
            )
        },
        Row {
            says: Some("node-postgres would connect to `localhost` over TCP instead".into()),
            env: vec![("PGPORT", pp.to_string()), ("PGUSER", "app".into())],
            ..row("no host in the string or PGHOST", "dbname=app".into(), None)
        },
    ];
    let p = Probe::new();
    run_rows(&p, &rows);
    // A named user and host give no note.
    let out = p.check(&format!("postgresql://app@/app?host={data}&port={pp}"), &[]);
    assert_eq!(out.status, Status::Passed, "{:?}", out.findings);
    assert!(out.findings.is_empty(), "{:?}", out.findings);
}

/// An effective user ID with no name (a container run with a numeric `--user`):
/// libpq 15 cannot default the user and fails; so does preflight, saying why.
#[test]
fn an_os_user_without_a_name_fails_as_in_libpq() {
    if !is_root() {
        return;
    }
    let url = "postgresql://127.0.0.1:1/db?sslmode=disable";
    let run = |prog: &str, args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=54321", "--regid=54321", "--clear-groups", prog])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", url)
            .env("HOME", "/nonexistent")
            .output()
            .expect("setpriv runs")
    };
    let psql = run("psql", &["-X", "-w", "-c", "select 1", url]);
    let psql_err = String::from_utf8_lossy(&psql.stderr);
    assert!(
        psql_err.contains("local user with ID 54321 does not exist"),
        "{psql_err}"
    );
    let pf = run(env!("CARGO_BIN_EXE_preflight"), &["--format", "json"]);
    let err = String::from_utf8_lossy(&pf.stderr);
    assert_eq!(pf.status.code(), Some(1), "{err}");
    assert!(
        err.contains("\"pg-url-invalid\"")
            && err.contains("local user with ID 54321 does not exist"),
        "{err}"
    );
}
