//! PostgreSQL, step by step, so a failure names its step: DNS → TCP connect →
//! SSLRequest → TLS handshake → authentication → query.
//!
//! The SSLRequest is sent here (not by the driver) so that a server that accepts and
//! never answers, or answers `N`, is told apart from a TLS failure; the handshake
//! uses postgres-native-tls with a verifying native-tls connector built from our own
//! libpq-style parse; tokio-postgres then runs startup and auth over that stream.
//! TLS failures are classified from OpenSSL's verify result and explained from the
//! server's certificate, fetched by a second, non-verifying handshake.

use crate::preflight::dburl::{self, Host, SslMode, Target};
use crate::preflight::environ::Env;
use crate::preflight::spec::PostgresRule;
use crate::report::{CheckOutcome, Code, Finding};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::TlsConnect;

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
const RDS_HINT: &str = "ship the CA bundle in the image (for RDS: AWS's `global-bundle.pem`) and point `sslrootcert=/path/global-bundle.pem` at it in `DATABASE_URL`; for Node's `pg`, set `NODE_EXTRA_CA_CERTS` to the bundle or pass `ssl: { ca }` and remove `sslmode` from the URL (pg lets the URL's sslmode override `ssl`)";

struct Deadline(Instant);

impl Deadline {
    fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

pub async fn probe(env: &Env, rule: &PostgresRule, timeout: Duration) -> CheckOutcome {
    let name = "postgres";
    let Some(url) = env.get(&rule.url_env) else {
        return CheckOutcome::from_findings(
            name,
            vec![Finding::error(
                Code::EnvMissing,
                &rule.url_env,
                format!(
                    "`{}` is not set, so the database cannot be reached",
                    rule.url_env
                ),
            )
            .hint(format!(
                "add `{}` to the task definition's `secrets`",
                rule.url_env
            ))],
        );
    };
    let params = match dburl::parse(url.expose()) {
        Ok(p) => p,
        Err(e) => {
            return CheckOutcome::from_findings(
                name,
                vec![Finding::error(Code::PgUrlInvalid, &rule.url_env, format!("`{}` cannot be parsed: {e}", rule.url_env))
                    .hint("use `postgresql://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full&sslrootcert=/path/ca.pem`; percent-encode special characters in the password")],
            )
        }
    };
    let t = match dburl::resolve(params, env) {
        Ok(t) => t,
        Err(e) => {
            return CheckOutcome::from_findings(
                name,
                vec![Finding::error(
                    Code::PgUrlInvalid,
                    rule.url_env.clone(),
                    e.to_string(),
                )],
            )
        }
    };
    let deadline = Deadline(Instant::now() + timeout);
    let mut findings = Vec::new();
    for h in &t.hosts {
        match attempt(&t, h, &deadline, timeout).await {
            Ok(detail) => return CheckOutcome::from_findings(name, vec![]).detail(detail),
            Err(f) => findings.push(f),
        }
        if deadline.left().is_zero() {
            break;
        }
    }
    CheckOutcome::from_findings(name, findings)
}

async fn attempt(
    t: &Target,
    h: &Host,
    deadline: &Deadline,
    total: Duration,
) -> Result<String, Finding> {
    let hp = format!("{}:{}", h.name, h.port);
    let subject = hp.clone();
    let mode = format!("sslmode={} ({})", t.sslmode.as_str(), t.sslmode_from);
    if h.name.starts_with('/') {
        return unix_socket(t, h, deadline, &mode).await;
    }
    // DNS
    let addrs: Vec<std::net::SocketAddr> = match tokio::time::timeout(deadline.left(), tokio::net::lookup_host((h.name.as_str(), h.port))).await {
        Err(_) => {
            return Err(Finding::error(Code::PgTimeout, &subject, format!("DNS lookup of `{}` did not finish within {}", h.name, secs(total)))
                .hint("the VPC's DNS resolver is not answering; check the task's network configuration"))
        }
        Ok(Err(e)) => {
            return Err(Finding::error(Code::PgDns, &subject, format!("DNS: `{}` does not resolve ({e})", h.name))
                .hint("check the host in `DATABASE_URL` (RDS endpoints look like `NAME.ID.REGION.rds.amazonaws.com`) and, for a private endpoint, that the task runs in the database's VPC"))
        }
        Ok(Ok(a)) => a.collect(),
    };
    // TCP
    let connect_budget = t
        .connect_timeout
        .map(|c| c.min(deadline.left()))
        .unwrap_or(deadline.left());
    let mut last = None;
    let mut stream = None;
    for addr in &addrs {
        match tokio::time::timeout(connect_budget, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Ok(Err(e)) => last = Some(Err(e)),
            Err(_) => last = Some(Ok(())),
        }
    }
    let mut stream = match (stream, last) {
        (Some(s), _) => s,
        (None, Some(Ok(()))) | (None, None) => {
            return Err(Finding::error(Code::PgTimeout, &subject, format!("TCP connect to `{hp}` timed out after {}", secs(connect_budget)))
                .hint("a timeout, not a refusal, means packets are dropped: allow the task's security group in the database's security group on this port (inbound TCP), and check the route between their subnets"))
        }
        (None, Some(Err(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(Finding::error(Code::PgConnectionRefused, &subject, format!("TCP: connection to `{hp}` refused; nothing listens there"))
                .hint("check the port in `DATABASE_URL` and that the database is running"))
        }
        (None, Some(Err(e))) => {
            return Err(Finding::error(Code::PgUnreachable, &subject, format!("TCP: cannot reach `{hp}`: {e}"))
                .hint("check the task's subnets and route tables"))
        }
    };
    let _ = stream.set_nodelay(true);
    // SSLRequest
    let use_tls = match t.sslmode {
        SslMode::Disable | SslMode::Allow => false,
        _ => {
            let answer = tokio::time::timeout(deadline.left(), async {
                stream.write_all(&SSL_REQUEST).await?;
                let mut b = [0u8; 1];
                stream.read_exact(&mut b).await?;
                Ok::<u8, std::io::Error>(b[0])
            })
            .await;
            match answer {
                Err(_) => {
                    return Err(Finding::error(Code::PgTimeout, &subject, format!("`{hp}` accepted the TCP connection but did not answer the SSLRequest within {}", secs(total)))
                        .hint("something that is not PostgreSQL (or a stuck proxy) holds this port; check the host and port in `DATABASE_URL`"))
                }
                Ok(Err(e)) => {
                    return Err(Finding::error(Code::PgError, &subject, format!("`{hp}` closed the connection during the SSLRequest: {e}"))
                        .hint("check that this host and port serve PostgreSQL"))
                }
                Ok(Ok(b'S')) => true,
                Ok(Ok(b'N')) if t.sslmode == SslMode::Prefer => false,
                Ok(Ok(b'N')) => {
                    return Err(Finding::error(Code::PgNoSsl, &subject, format!("the server does not support SSL, but {mode} requires it"))
                        .hint("turn on `ssl` on the server (RDS always supports it: check the host is really the database), or, for local development only, use `sslmode=disable`"))
                }
                Ok(Ok(other)) => {
                    return Err(Finding::error(Code::PgError, &subject, format!("`{hp}` answered the SSLRequest with byte {other:#04x}; it does not speak PostgreSQL's protocol"))
                        .hint("check the host and port in `DATABASE_URL`"))
                }
            }
        }
    };
    let cfg = driver_config(t);
    if !use_tls {
        let (version, _) = startup(stream, &cfg, &subject, deadline, total).await?;
        return Ok(format!(
            "PostgreSQL {version} at `{hp}` as `{}` on `{}`, no TLS, {mode}",
            t.user, t.dbname
        ));
    }
    // TLS handshake
    let connector = tls_connector(t, false)
        .map_err(|(msg, hint)| Finding::error(Code::TlsHandshake, &subject, msg).hint(hint))?;
    let tls = postgres_native_tls::TlsConnector::new(connector, &h.name);
    let tls_stream = match tokio::time::timeout(deadline.left(), tls.connect(stream)).await {
        Err(_) => {
            return Err(Finding::error(Code::PgTimeout, &subject, format!("the TLS handshake with `{hp}` did not finish within {}", secs(total)))
                .hint("the server accepted SSL but stalled; check for a proxy between the task and the database"))
        }
        Ok(Err(e)) => return Err(classify_tls(t, h, &e.to_string(), deadline, &mode).await),
        Ok(Ok(s)) => s,
    };
    let (version, tls_version) = startup(tls_stream, &cfg, &subject, deadline, total).await?;
    Ok(format!(
        "PostgreSQL {version} at `{hp}` as `{}` on `{}`, {}, {mode}",
        t.user,
        t.dbname,
        tls_version.unwrap_or_else(|| "TLS".into())
    ))
}

fn driver_config(t: &Target) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.user(&t.user)
        .dbname(&t.dbname)
        .application_name("shipcheck-preflight");
    if let Some(p) = &t.password {
        c.password(p.expose().as_bytes());
    }
    // The stream is already encrypted (or deliberately not): the driver must not
    // send a second SSLRequest.
    c.ssl_mode(tokio_postgres::config::SslMode::Disable);
    c
}

/// A native-tls connector for the sslmode: system roots plus every certificate of
/// `sslrootcert` (libpq's `system` means system roots only).
fn tls_connector(
    t: &Target,
    diagnostic: bool,
) -> Result<native_tls::TlsConnector, (String, String)> {
    let mut b = native_tls::TlsConnector::builder();
    b.min_protocol_version(Some(native_tls::Protocol::Tlsv12));
    if diagnostic {
        b.danger_accept_invalid_certs(true)
            .danger_accept_invalid_hostnames(true);
        return b.build().map_err(|e| {
            (
                format!("cannot set up TLS: {e}"),
                "this is a bug in preflight's TLS setup".into(),
            )
        });
    }
    let mut effective = t.sslmode;
    if let Some(path) = t.rootcert.as_deref().filter(|p| *p != "system") {
        let pem = std::fs::read(path).map_err(|e| {
            (
                format!("`sslrootcert={path}` cannot be read: {e}"),
                "ship the CA bundle in the image at that path (COPY it in the Dockerfile)"
                    .to_string(),
            )
        })?;
        let certs = native_tls::Certificate::stack_from_pem(&pem).map_err(|e| {
            (
                format!("`sslrootcert={path}` is not a PEM certificate bundle: {e}"),
                "use the PEM bundle as downloaded, not DER".to_string(),
            )
        })?;
        if certs.is_empty() {
            return Err((
                format!("`sslrootcert={path}` holds no certificates"),
                "use the CA bundle's PEM file".into(),
            ));
        }
        for c in certs {
            b.add_root_certificate(c);
        }
        // libpq: `require` with a root certificate file verifies the chain.
        if effective == SslMode::Require {
            effective = SslMode::VerifyCa;
        }
    }
    match effective {
        SslMode::VerifyFull => {}
        SslMode::VerifyCa => {
            b.danger_accept_invalid_hostnames(true);
        }
        _ => {
            b.danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
    }
    b.build().map_err(|e| {
        (
            format!("cannot set up TLS: {e}"),
            "check `sslrootcert`".into(),
        )
    })
}

/// Startup, authentication and a query over an established stream.
async fn startup<S>(
    stream: S,
    cfg: &tokio_postgres::Config,
    subject: &str,
    deadline: &Deadline,
    total: Duration,
) -> Result<(String, Option<String>), Finding>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connected = tokio::time::timeout(
        deadline.left(),
        cfg.connect_raw(stream, tokio_postgres::NoTls),
    )
    .await;
    let (client, connection) = match connected {
        Err(_) => {
            return Err(Finding::error(Code::PgTimeout, subject, format!("the server did not finish authentication within {}", secs(total)))
                .hint("the server accepted the connection but did not answer the startup message; check that this is PostgreSQL and that it is not overloaded"))
        }
        Ok(Err(e)) => return Err(classify_db(&e, subject)),
        Ok(Ok(pair)) => pair,
    };
    let conn = tokio::spawn(connection);
    let q = "SELECT current_setting('server_version'), (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid())";
    let row = tokio::time::timeout(deadline.left(), client.query_one(q, &[])).await;
    let result = match row {
        Err(_) => Err(Finding::error(
            Code::PgTimeout,
            subject,
            format!("`SELECT` did not return within {}", secs(total)),
        )
        .hint("the database is overloaded or locked; check its metrics")),
        Ok(Err(e)) => Err(classify_db(&e, subject)),
        Ok(Ok(r)) => Ok((r.get::<_, String>(0), r.get::<_, Option<String>>(1))),
    };
    drop(client);
    conn.abort();
    result
}

fn classify_db(e: &tokio_postgres::Error, subject: &str) -> Finding {
    let Some(db) = e.as_db_error() else {
        return Finding::error(
            Code::PgError,
            subject,
            format!("the connection failed: {}", crate::cli::chain(e)),
        )
        .hint("check the server's log for this connection");
    };
    let msg = db.message();
    let code = db.code();
    let (c, hint) = if *code == SqlState::INVALID_PASSWORD {
        (Code::PgAuthFailed, "the password in `DATABASE_URL` is not the database's: if the secret was rotated, tasks started before the rotation still hold the old value (they read secrets only at start) — compare fingerprints and force a new deployment".to_string())
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        (
            Code::PgDatabaseMissing,
            "create the database, or fix the name after the last `/` in `DATABASE_URL`".into(),
        )
    } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        if msg.contains("no encryption") {
            (Code::PgHbaRejected, "the server only accepts encrypted connections from here: set `sslmode=verify-full` (with `sslrootcert`) in `DATABASE_URL`".into())
        } else {
            (Code::PgHbaRejected, "add a `pg_hba.conf` entry for this client (RDS: check `rds.force_ssl` and the user's grants)".into())
        }
    } else if *code == SqlState::CANNOT_CONNECT_NOW {
        (
            Code::PgStartingUp,
            "the database is starting or recovering; retry after it is available".into(),
        )
    } else if *code == SqlState::TOO_MANY_CONNECTIONS {
        (Code::PgTooManyConnections, "lower the app's pool size per task, or raise `max_connections` (RDS: the parameter group)".into())
    } else {
        (
            Code::PgError,
            "see the server's log for this SQLSTATE".into(),
        )
    };
    Finding::error(c, subject, format!("SQLSTATE {}: {msg}", code.code())).hint(hint)
}

/// Describes a failed handshake from OpenSSL's verify result and the server's
/// certificate, which a second, non-verifying handshake fetches.
async fn classify_tls(t: &Target, h: &Host, err: &str, deadline: &Deadline, mode: &str) -> Finding {
    let subject = format!("{}:{}", h.name, h.port);
    let lower = err.to_ascii_lowercase();
    let cert = peer_certificate(t, h, deadline).await;
    let info = cert.as_ref().map(CertInfo::from);
    let issuer = info
        .as_ref()
        .map(|i| i.issuer.clone())
        .unwrap_or_else(|| "an unknown issuer".into());
    if lower.contains("certificate has expired") {
        let when = info
            .as_ref()
            .map(|i| format!(" on {} (valid from {})", i.not_after, i.not_before))
            .unwrap_or_default();
        return Finding::error(Code::TlsExpired, subject, format!("TLS: the server's certificate expired{when}; {mode}"))
            .hint("rotate the server's certificate (RDS: modify the instance to a current CA); until then nothing that verifies can connect");
    }
    if lower.contains("not yet valid") {
        let when = info
            .as_ref()
            .map(|i| format!(" until {}", i.not_before))
            .unwrap_or_default();
        return Finding::error(
            Code::TlsNotYetValid,
            subject,
            format!("TLS: the server's certificate is not valid{when}; {mode}"),
        )
        .hint(
            "check the clocks of the server and this container, or the certificate's start date",
        );
    }
    if lower.contains("hostname mismatch") || lower.contains("ip address mismatch") {
        let names = info
            .as_ref()
            .map(|i| i.names.join("`, `"))
            .unwrap_or_default();
        return Finding::error(Code::TlsHostnameMismatch, subject, format!("TLS: the certificate is not valid for `{}`; it is valid for `{names}`; {mode}", h.name))
            .hint("connect with one of the names the certificate lists (the RDS endpoint, not a CNAME or IP), or, if you must, use `sslmode=verify-ca`");
    }
    if lower.contains("self-signed")
        || lower.contains("self signed")
        || lower.contains("local issuer")
        || lower.contains("unable to verify")
        || lower.contains("certificate verify failed")
    {
        let why = if lower.contains("self") {
            "self-signed certificate in certificate chain"
        } else {
            "unable to get local issuer certificate"
        };
        let given = match &t.rootcert {
            Some(p) => format!("`sslrootcert={p}` does not contain it"),
            None => "no `sslrootcert` is set and the system roots do not contain it".into(),
        };
        return Finding::error(Code::TlsUnknownCa, subject, format!("TLS: {why}: the chain is issued by `{issuer}`, which is not trusted; {given}; {mode}"))
            .hint(RDS_HINT);
    }
    Finding::error(
        Code::TlsHandshake,
        subject,
        format!("TLS handshake failed: {err}; {mode}"),
    )
    .hint("check that the server's TLS settings allow TLS 1.2 or newer")
}

async fn peer_certificate(
    t: &Target,
    h: &Host,
    deadline: &Deadline,
) -> Option<openssl::x509::X509> {
    let fetch = async {
        let mut s = TcpStream::connect((h.name.as_str(), h.port)).await.ok()?;
        s.write_all(&SSL_REQUEST).await.ok()?;
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.ok()?;
        if b[0] != b'S' {
            return None;
        }
        let c = tokio_native_tls::TlsConnector::from(tls_connector(t, true).ok()?);
        let tls = c.connect(&h.name, s).await.ok()?;
        let der = tls.get_ref().peer_certificate().ok()??.to_der().ok()?;
        openssl::x509::X509::from_der(&der).ok()
    };
    tokio::time::timeout(deadline.left(), fetch)
        .await
        .ok()
        .flatten()
}

struct CertInfo {
    issuer: String,
    names: Vec<String>,
    not_before: String,
    not_after: String,
}

impl From<&openssl::x509::X509> for CertInfo {
    fn from(c: &openssl::x509::X509) -> Self {
        let cn = |n: &openssl::x509::X509NameRef| {
            n.entries_by_nid(openssl::nid::Nid::COMMONNAME)
                .next()
                .and_then(|e| e.data().to_string().ok())
                .unwrap_or_else(|| "(no common name)".into())
        };
        let mut names: Vec<String> = c
            .subject_alt_names()
            .map(|sans| {
                sans.iter()
                    .filter_map(|g| {
                        g.dnsname().map(String::from).or_else(|| {
                            g.ipaddress().map(|ip| match ip.len() {
                                4 => std::net::Ipv4Addr::from(
                                    <[u8; 4]>::try_from(ip).unwrap_or_default(),
                                )
                                .to_string(),
                                16 => std::net::Ipv6Addr::from(
                                    <[u8; 16]>::try_from(ip).unwrap_or_default(),
                                )
                                .to_string(),
                                _ => "(ip)".into(),
                            })
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            names.push(cn(c.subject_name()));
        }
        CertInfo {
            issuer: cn(c.issuer_name()),
            names,
            not_before: c.not_before().to_string(),
            not_after: c.not_after().to_string(),
        }
    }
}

async fn unix_socket(
    t: &Target,
    h: &Host,
    deadline: &Deadline,
    mode: &str,
) -> Result<String, Finding> {
    let mut cfg = driver_config(t);
    cfg.host_path(&h.name).port(h.port);
    let subject = format!("{}/.s.PGSQL.{}", h.name, h.port);
    match tokio::time::timeout(deadline.left(), cfg.connect(tokio_postgres::NoTls)).await {
        Err(_) => Err(Finding::error(
            Code::PgTimeout,
            &subject,
            "the server did not answer on its Unix socket",
        )
        .hint("check the server is running")),
        Ok(Err(e)) if e.as_db_error().is_some() => Err(classify_db(&e, &subject)),
        Ok(Err(e)) => Err(Finding::error(
            Code::PgConnectionRefused,
            &subject,
            format!(
                "cannot connect to the Unix socket: {}",
                crate::cli::chain(&e)
            ),
        )
        .hint("check the socket directory in `DATABASE_URL` and that the server is running")),
        Ok(Ok((client, conn))) => {
            let task = tokio::spawn(conn);
            let v = client
                .query_one("SELECT current_setting('server_version')", &[])
                .await
                .map_err(|e| classify_db(&e, &subject))?;
            task.abort();
            Ok(format!(
                "PostgreSQL {} at `{subject}` as `{}` on `{}`, Unix socket, {mode}",
                v.get::<_, String>(0),
                t.user,
                t.dbname
            ))
        }
    }
}
