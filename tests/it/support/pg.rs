//! Throwaway PostgreSQL 15 clusters with TLS, for preflight's tests.
//!
//! initdb runs once per test binary into a template; each cluster copies it, gets
//! its own port, certificate and `pg_hba.conf`, and is stopped when dropped. As root
//! (CI), the server runs as the `postgres` user, since PostgreSQL refuses root.

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder, X509NameRef, X509};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tempfile::TempDir;

pub const BIN: &str = "/usr/lib/postgresql/15/bin";
pub const PASSWORD: &str = "CANARY-pg-7c1d2e";

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// Runs a PostgreSQL binary as the user that owns the clusters.
fn pg(bin: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &format!("{BIN}/{bin}")]);
        c
    } else {
        Command::new(format!("{BIN}/{bin}"))
    }
}

fn chown_postgres(p: &Path) {
    if is_root() {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(p)
            .status()
            .unwrap()
            .success();
        assert!(ok, "chown {}", p.display());
    }
}

fn run(mut c: Command, what: &str) {
    let out = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the server on `data`, logging to `data/log`, and waits until it accepts.
fn pg_ctl_start(data: &Path, what: &str) {
    let mut c = pg("pg_ctl");
    c.args(["-D"])
        .arg(data)
        .args(["-l"])
        .arg(data.join("log"))
        .args(["-w", "-t", "30", "start"]);
    run(c, what);
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
const TEMPLATE_PREFIX: &str = "shipcheck-pg-template-";

/// At exit: the template (40 MiB) would otherwise stay in /tmp after every run.
extern "C" fn remove_template() {
    if let Some(data) = TEMPLATE.get() {
        if let Some(dir) = data.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn template() -> &'static Path {
    TEMPLATE.get_or_init(|| {
        assert!(
            Path::new(BIN).join("initdb").exists(),
            "PostgreSQL 15 is not installed: `.ci/run` installs postgresql-15"
        );
        // A process that died (a killed test run) cannot remove its own.
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name
                    .strip_prefix(TEMPLATE_PREFIX)
                    .and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = std::env::temp_dir().join(format!("{TEMPLATE_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // SAFETY: registering a plain function with no captured state.
        unsafe { libc::atexit(remove_template) };
        std::fs::create_dir_all(&dir).unwrap();
        chown_postgres(&dir);
        let mut c = pg("initdb");
        c.args(["-D"]).arg(dir.join("data")).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ]);
        run(c, "initdb");
        dir.join("data")
    })
}

pub struct Ca {
    pub cert: X509,
    key: PKey<Private>,
}

fn name(cn: &str) -> openssl::x509::X509Name {
    let mut n = X509NameBuilder::new().unwrap();
    n.append_entry_by_text("CN", cn).unwrap();
    n.build()
}

fn key() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

fn days(n: u32) -> Asn1Time {
    Asn1Time::days_from_now(n).unwrap()
}

/// A v3 certificate builder with everything but extensions and the signature set.
fn cert_builder(
    serial: u32,
    subject: &X509NameRef,
    issuer: &X509NameRef,
    key: &PKey<Private>,
    not_before: Asn1Time,
    not_after: Asn1Time,
) -> X509Builder {
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(subject).unwrap();
    b.set_issuer_name(issuer).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&not_before).unwrap();
    b.set_not_after(&not_after).unwrap();
    b
}

fn ca_extensions(b: &mut X509Builder) {
    b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()
            .unwrap(),
    )
    .unwrap();
}

impl Ca {
    pub fn new(cn: &str) -> Ca {
        let key = key();
        let mut b = cert_builder(1, &name(cn), &name(cn), &key, days(0), days(365));
        ca_extensions(&mut b);
        b.sign(&key, MessageDigest::sha256()).unwrap();
        Ca {
            cert: b.build(),
            key,
        }
    }

    /// A builder for a certificate `self` issues to `cn`, valid from now for `valid_days`.
    fn issue(&self, serial: u32, cn: &str, valid_days: u32) -> (X509Builder, PKey<Private>) {
        let key = key();
        let b = cert_builder(
            serial,
            &name(cn),
            self.cert.subject_name(),
            &key,
            days(0),
            days(valid_days),
        );
        (b, key)
    }

    /// The CA's private key (the registry tests sign Bearer tokens with it).
    pub fn key(&self) -> &PKey<Private> {
        &self.key
    }

    /// A CA whose certificate `self` signs (for chains longer than leaf + root).
    pub fn intermediate(&self, cn: &str) -> Ca {
        let (mut b, key) = self.issue(3, cn, 365);
        ca_extensions(&mut b);
        b.sign(&self.key, MessageDigest::sha256()).unwrap();
        Ca {
            cert: b.build(),
            key,
        }
    }

    /// A client certificate for user `cn` (PostgreSQL's `cert` auth maps CN to user).
    pub fn client(&self, cn: &str) -> (X509, PKey<Private>) {
        let (mut b, key) = self.issue(7, cn, 30);
        b.sign(&self.key, MessageDigest::sha256()).unwrap();
        (b.build(), key)
    }

    /// A PEM CRL signed by this CA revoking `serials` (server certificates have
    /// serial 2), made with the `openssl ca` command in `dir`.
    pub fn crl(&self, dir: &Path, serials: &[u32]) -> Vec<u8> {
        let work = tempfile::tempdir_in(dir).unwrap();
        let w = work.path();
        std::fs::write(w.join("ca.pem"), self.cert.to_pem().unwrap()).unwrap();
        std::fs::write(
            w.join("ca.key"),
            self.key.private_key_to_pem_pkcs8().unwrap(),
        )
        .unwrap();
        let mut index = String::new();
        for s in serials {
            index.push_str(&format!(
                "R\t301231000000Z\t240101000000Z\t{s:02X}\tunknown\t/CN=revoked\n"
            ));
        }
        std::fs::write(w.join("index.txt"), index).unwrap();
        std::fs::write(w.join("crlnumber"), "01\n").unwrap();
        std::fs::write(
            w.join("ca.cnf"),
            format!(
                "[ca]\ndefault_ca = d\n[d]\ndatabase = {0}/index.txt\ncrlnumber = {0}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n",
                w.display()
            ),
        )
        .unwrap();
        let mut c = Command::new("openssl");
        c.args(["ca", "-gencrl", "-batch", "-config"])
            .arg(w.join("ca.cnf"))
            .arg("-keyfile")
            .arg(w.join("ca.key"))
            .arg("-cert")
            .arg(w.join("ca.pem"))
            .arg("-out")
            .arg(w.join("crl.pem"));
        run(c, "openssl ca -gencrl");
        std::fs::read(w.join("crl.pem")).unwrap()
    }

    /// A server certificate for `dns` names and `127.0.0.1`, valid in [from, to] (unix seconds).
    pub fn server(&self, dns: &[&str], ip: bool, from: i64, to: i64) -> (X509, PKey<Private>) {
        let key = key();
        let mut b = cert_builder(
            2,
            &name(dns.first().copied().unwrap_or("server")),
            self.cert.subject_name(),
            &key,
            Asn1Time::from_unix(from).unwrap(),
            Asn1Time::from_unix(to).unwrap(),
        );
        let mut san = SubjectAlternativeName::new();
        for d in dns {
            san.dns(d);
        }
        if ip {
            san.ip("127.0.0.1");
        }
        let ext = san
            .build(&b.x509v3_context(Some(&self.cert), None))
            .unwrap();
        b.append_extension(ext).unwrap();
        b.sign(&self.key, MessageDigest::sha256()).unwrap();
        (b.build(), key)
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub enum Tls {
    Off,
    On {
        cert: X509,
        key: PKey<Private>,
    },
    /// A leaf and the intermediates the server sends after it.
    Chain {
        certs: Vec<X509>,
        key: PKey<Private>,
    },
}

/// What a cluster needs beyond TLS and pg_hba: extra `postgresql.conf` lines and
/// files placed in its data directory (a CA for client certificates, a CRL).
#[derive(Default)]
pub struct Extra<'a> {
    pub conf: &'a str,
    pub files: Vec<(&'a str, Vec<u8>)>,
}

pub struct Cluster {
    pub dir: TempDir,
    pub port: u16,
}

impl Cluster {
    /// Starts a cluster; `hba` lines replace pg_hba.conf (the local trust line is kept).
    pub fn start(tls: Tls, hba: &[&str]) -> Cluster {
        Cluster::start_with(tls, hba, Extra::default())
    }

    pub fn start_with(tls: Tls, hba: &[&str], extra: Extra) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("shipcheck-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        let ok = Command::new("cp")
            .arg("-a")
            .arg(template())
            .arg(&data)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let port = free_port();
        let mut conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\nshared_buffers = 16MB\nmax_connections = 10\nlog_min_messages = warning\n",
            data.display()
        );
        let tls = match tls {
            Tls::On { cert, key } => Tls::Chain {
                certs: vec![cert],
                key,
            },
            other => other,
        };
        if let Tls::Chain { certs, key } = &tls {
            let mut pem = Vec::new();
            for c in certs {
                pem.extend(c.to_pem().unwrap());
            }
            std::fs::write(data.join("server.crt"), pem).unwrap();
            std::fs::write(
                data.join("server.key"),
                key.private_key_to_pem_pkcs8().unwrap(),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        } else {
            conf.push_str("ssl = off\n");
        }
        conf.push_str(extra.conf);
        conf.push('\n');
        for (name, bytes) in &extra.files {
            std::fs::write(data.join(name), bytes).unwrap();
        }
        let mut pgconf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        pgconf.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), pgconf).unwrap();
        let mut hba_text = String::from("local all all trust\nlocal replication all trust\n");
        for l in hba {
            hba_text.push_str(l);
            hba_text.push('\n');
        }
        std::fs::write(data.join("pg_hba.conf"), hba_text).unwrap();
        chown_postgres(dir.path());
        if is_root() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        pg_ctl_start(&data, "pg_ctl start");
        let mut psql = Command::new("psql");
        psql.args(["-X", "-q", "-h"])
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
            ])
            .arg(format!("CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'"))
            .args(["-c", "CREATE DATABASE app OWNER app"]);
        run(psql, "psql create role");
        Cluster { dir, port }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs SQL as the superuser over the cluster's socket.
    pub fn sql(&self, q: &str) {
        let mut psql = Command::new("psql");
        psql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.data())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                q,
            ]);
        run(psql, "psql");
    }

    /// A hot standby of this cluster (`pg_basebackup -R`), on its own port and
    /// socket directory, with the same TLS files and pg_hba.
    pub fn standby(&self) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("shipcheck-pg-standby-")
            .tempdir()
            .unwrap();
        chown_postgres(dir.path());
        if is_root() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let data = dir.path().join("data");
        let mut c = pg("pg_basebackup");
        c.args(["-D"])
            .arg(&data)
            .args(["-R", "-X", "stream", "-c", "fast", "-h"])
            .arg(self.data())
            .args(["-p", &self.port.to_string(), "-U", "postgres"]);
        run(c, "pg_basebackup");
        let port = free_port();
        let mut pgconf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        pgconf.push_str(&format!(
            "\nport = {port}\nunix_socket_directories = '{}'\nhot_standby = on\n",
            data.display()
        ));
        std::fs::write(data.join("postgresql.conf"), pgconf).unwrap();
        chown_postgres(dir.path());
        pg_ctl_start(&data, "pg_ctl start standby");
        Cluster { dir, port }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = pg("pg_ctl")
            .args(["-D"])
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// `hostssl` and `host` for 127.0.0.1 with passwords.
pub const HBA_ANY: &[&str] = &[
    "hostssl all all 127.0.0.1/32 scram-sha-256",
    "host all all 127.0.0.1/32 scram-sha-256",
];
pub const HBA_SSL_ONLY: &[&str] = &["hostssl all all 127.0.0.1/32 scram-sha-256"];
