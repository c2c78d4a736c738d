//! PostgreSQL, step by step, connecting the way libpq 15 connects, so a failure
//! names its step and preflight agrees with what the app's driver (and `psql` in a
//! debug shell) will see: DNS (or `hostaddr`) → TCP → SSLRequest → TLS → startup and
//! authentication → one query.
//!
//! libpq is followed where it decides the verdict: hosts and their addresses are
//! tried in order and `connect_timeout` bounds each attempt as a whole; `allow` and
//! `prefer` retry on a new connection exactly when libpq does; server certificates
//! are verified against `sslrootcert` (default `~/.postgresql/root.crt`) with CRLs,
//! client certificates are presented, and host names are matched by libpq's rules
//! rather than OpenSSL's; the password file is read per host; and
//! `target_session_attrs` is checked with the same questions libpq asks. The TLS
//! stack is OpenSSL (as in libpq) driven directly, because native-tls can express
//! neither CRLs nor libpq's name matching.

use crate::preflight::dburl::{self, Host, Replication, SessionAttrs, SslMode, Target, TlsVersion};
use crate::preflight::environ::Env;
use crate::preflight::spec::PostgresRule;
use crate::redact::Secret;
use crate::report::{CheckOutcome, Code, Finding, Severity};
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslMode as OpenSslMode, SslOptions,
    SslVerifyMode, SslVersion,
};
use openssl::x509::store::{X509Lookup, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509Ref, X509};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::error::SqlState;

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
const RDS_HINT: &str = "ship the CA bundle in the image (for RDS: AWS's `global-bundle.pem`) and point `sslrootcert=/path/global-bundle.pem` at it in `DATABASE_URL`; for Node's `pg`, set `NODE_EXTRA_CA_CERTS` to the bundle or pass `ssl: { ca }` and remove `sslmode` from the URL (pg lets the URL's sslmode override `ssl`)";
/// Files preflight reads on libpq's behalf (certificates, keys, CRLs, the password
/// file) are small; anything larger is refused rather than read into memory.
const FILE_CAP: u64 = 4 << 20;
/// libpq's own limit on an error message read before authentication.
const MAX_ERRLEN: usize = 30_000;
/// Findings per probe: a URL with thousands of hosts must not print thousands of lines.
const MAX_FINDINGS: usize = 20;

struct Deadline(Instant);

impl Deadline {
    fn left(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Where a failed attempt leaves the host list, as libpq 15 decides it: connection
/// failures and timeouts move on, a server that answered and refused ends the run
/// (libpq's `error_return`), and a server of the wrong kind moves to the next host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Addr,
    Host,
    Stop,
}

struct Fail {
    finding: Finding,
    next: Next,
    /// The server sent an ErrorResponse after startup (what libpq's `allow` and
    /// `prefer` retry on), as opposed to a client-side or transport failure.
    server_said: bool,
}

impl Fail {
    fn new(finding: Finding, next: Next) -> Fail {
        Fail {
            finding,
            next,
            server_said: false,
        }
    }
}

/// The step an attempt was in, for naming what a timeout interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Tcp,
    SslRequest,
    Tls,
    Auth,
    Query,
}

/// What a connected session told us.
struct Session {
    version: String,
    tls_version: Option<String>,
    read_only: bool,
    in_recovery: bool,
    /// Failures libpq recovered from (a TLS failure under `prefer`), reported as
    /// warnings so a revoked or untrusted certificate is never a silent pass.
    warnings: Vec<Finding>,
}

/// Everything an attempt needs that does not change between hosts.
struct Ctx<'a> {
    t: &'a Target,
    tls: Result<TlsCfg, Finding>,
    passfile: Option<Passfile>,
    mode: String,
    total: Duration,
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
    // The variable's bytes, as libpq reads them: a password need not be UTF-8.
    let bytes = env
        .bytes(&rule.url_env)
        .unwrap_or_else(|| Secret::new(url.expose().as_bytes().to_vec()));
    let params = match dburl::parse_bytes(bytes.expose()) {
        Ok(p) => p,
        Err(e) => {
            return CheckOutcome::from_findings(
                name,
                vec![Finding::error(Code::PgUrlInvalid, &rule.url_env, format!("`{}` cannot be parsed: {e}", rule.url_env))
                    .hint("use `postgresql://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full&sslrootcert=/path/ca.pem`; percent-encode special characters in the password")],
            )
        }
    };
    // libpq reads the service file before the environment; `read_small` keeps a
    // FIFO or device there from blocking or filling memory.
    let home = env.plain("HOME");
    let read = |path: &str| -> Result<Option<Vec<u8>>, String> {
        let p = Path::new(path);
        // libpq `stat`s the file (following links): nothing there is no file.
        if std::fs::metadata(p).is_err() {
            return Ok(None);
        }
        read_small(p).map(Some)
    };
    let params = match dburl::apply_service(params, env, home, &read) {
        Ok(p) => p,
        Err(e) => {
            return CheckOutcome::from_findings(
                name,
                vec![
                    Finding::error(Code::PgUrlInvalid, &rule.url_env, e.to_string()).hint(
                        "fix the service file, or put the connection settings in the URL itself",
                    ),
                ],
            )
        }
    };
    let t = match dburl::resolve(params, env, &os_user()) {
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
    probe_target(&t, env, &rule.url_env, timeout).await
}

/// Everything after parsing: connect to a resolved [`Target`] as libpq would.
/// Public so tests can set [`Target`] fields directly.
pub async fn probe_target(t: &Target, env: &Env, var: &str, timeout: Duration) -> CheckOutcome {
    let name = "postgres";
    if let Err(f) = check_settings(t, var) {
        return CheckOutcome::from_findings(name, vec![f]);
    }
    // libpq 16+: `sslrootcert=system` makes verify-full the default sslmode.
    let adjusted;
    let mut t = t;
    if t.rootcert.as_deref() == Some("system") && t.sslmode_from == "libpq's default" {
        let mut a = t.clone();
        a.sslmode = SslMode::VerifyFull;
        a.sslmode_from = "default for sslrootcert=system";
        adjusted = a;
        t = &adjusted;
    }
    let home = env.plain("HOME").map(PathBuf::from);
    let mut notes = differences(t, env, var);
    let (passfile, ignored) = Passfile::load(t, home.as_deref());
    notes.extend(ignored);
    let ctx = Ctx {
        t,
        tls: TlsCfg::build(t, home.as_deref()),
        passfile,
        mode: format!("sslmode={} ({})", t.sslmode.as_str(), t.sslmode_from),
        total: timeout,
    };
    let deadline = Deadline(Instant::now() + timeout);
    let (outcome, failures) = connect(&ctx, &deadline).await;
    match outcome {
        Ok((detail, warnings)) => {
            notes.extend(warnings);
            CheckOutcome::from_findings(name, notes).detail(detail)
        }
        Err(()) => {
            notes.extend(summarize(failures));
            CheckOutcome::from_findings(name, notes)
        }
    }
}

/// libpq's `requirepeer` check over a Unix socket: the kernel's record of the
/// server process's user (`SO_PEERCRED`) must be the named OS user, before a byte is
/// sent; libpq ends the connection attempt otherwise.
fn peer_is(stream: &tokio::net::UnixStream, want: &str, s: &str) -> Result<(), Fail> {
    let fail = |msg: String| {
        Fail::new(
            Finding::error(Code::PgError, s, msg).hint(
                "`requirepeer` (or `PGREQUIREPEER`) must name the OS user the server runs as (usually `postgres`), or be removed",
            ),
            Next::Stop,
        )
    };
    let uid = stream
        .peer_cred()
        .map_err(|e| {
            fail(format!(
                "could not get the socket peer's credentials for `requirepeer`: {e}"
            ))
        })?
        .uid();
    match user_name(uid) {
        None => Err(fail(format!(
            "`requirepeer` is set, and the server's OS user ID {uid} has no name here (libpq: local user with ID {uid} does not exist)"
        ))),
        Some(name) if name != want => Err(fail(format!(
            "`requirepeer` names `{}`, but the server runs as OS user `{}` (libpq refuses the connection)",
            server_text(want),
            server_text(&name)
        ))),
        Some(_) => Ok(()),
    }
}

/// The name the password database gives `uid` (`getpwuid_r`), if any.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf` outlives its use below.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    (rc == 0 && !found.is_null() && !pw.pw_name.is_null())
        .then(|| {
            // SAFETY: getpwuid_r succeeded, so pw_name points at a NUL-terminated
            // string inside `buf`.
            unsafe { std::ffi::CStr::from_ptr(pw.pw_name) }
                .to_str()
                .ok()
                .map(String::from)
        })
        .flatten()
}

/// libpq 15's default user: the effective user's name from the password database
/// (`getpwuid(geteuid())`), never `$USER`.
pub fn os_user() -> dburl::OsUser {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    dburl::OsUser {
        uid,
        name: user_name(uid),
    }
}

/// Notes and warnings about what preflight checked that the app's driver may do
/// otherwise: libpq's defaults (which node-postgres does not share), a password
/// that is not UTF-8, and a `replication` connection preflight cannot open.
fn differences(t: &Target, env: &Env, var: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if t.user_defaulted {
        // Whether `$USER` agrees, without showing it: it is a variable's value.
        let here = match env.get("USER") {
            None => "unset here",
            Some(u) if *u.expose() == t.user => "the same name here",
            Some(_) => "a different name here",
        };
        out.push(
            Finding::note(
                Code::PgDriverDiffers,
                var,
                format!(
                    "no user is named (`{var}` or `PGUSER`), so libpq's default was used: the effective OS user `{}`; node-postgres would use `$USER` instead ({here})",
                    server_text(&t.user)
                ),
            )
            .hint(format!("name the user in `{var}` so that every driver connects as the same role")),
        );
    }
    if t.host_defaulted {
        out.push(
            Finding::note(
                Code::PgDriverDiffers,
                var,
                format!(
                    "no host is named (`{var}`, `PGHOST` or `PGHOSTADDR`), so libpq's default was used: the Unix socket in `{}` (Debian's libpq; other builds use `/tmp`); node-postgres would connect to `localhost` over TCP instead",
                    dburl::DEFAULT_SOCKET_DIR
                ),
            )
            .hint(format!("name the host in `{var}` so that every driver connects to the same server")),
        );
    }
    if t.password
        .as_ref()
        .is_some_and(|p| std::str::from_utf8(p.expose()).is_err())
    {
        out.push(
            Finding::note(
                Code::PgDriverDiffers,
                var,
                "the password is not UTF-8 text: libpq sends its bytes as they are, and so did preflight, but node-postgres cannot (it decodes a URL's password with `decodeURIComponent`, which throws `URI malformed`, and Node reads environment variables as UTF-8)",
            )
            .hint("if a Node app reads this URL, choose a password of UTF-8 text"),
        );
    }
    let replication = match t.replication {
        Replication::Off => None,
        Replication::Physical => Some("a physical replication connection"),
        Replication::Database => Some("a logical replication connection (`database`)"),
    };
    if let Some(what) = replication {
        out.push(
            Finding::new(
                Code::PgReplicationNotChecked,
                Severity::Warning,
                var,
                format!("`replication` asks for {what}, which preflight's driver cannot open: it checked an ordinary session instead, which the server matches against other `pg_hba.conf` lines and roles than the app's"),
            )
            .hint("replication connections need a `replication` line in `pg_hba.conf` (physical) and a role with `REPLICATION`; check them with `psql \"$DATABASE_URL\" -c 'IDENTIFY_SYSTEM'`"),
        );
    }
    out
}

/// The note [`differences`] gives for a URL or `PGPASSWORD` password, for one
/// that came from the password file (known only once a host's line matched).
fn binary_passfile_note(file: Option<&str>, password: Option<&Secret<Vec<u8>>>) -> Option<Finding> {
    let file = file?;
    std::str::from_utf8(password?.expose()).is_err().then(|| {
        Finding::note(
            Code::PgDriverDiffers,
            file,
            format!("the password from file `{file}` is not UTF-8 text: libpq sends its bytes as they are, and so did preflight, but node-postgres reads the password file as UTF-8 and would send another password"),
        )
        .hint("if a Node app reads this file, choose a password of UTF-8 text")
    })
}

/// Settings libpq rejects before it connects anywhere.
fn check_settings(t: &Target, var: &str) -> Result<(), Finding> {
    if let (Some(min), Some(max)) = (t.ssl_min_protocol_version, t.ssl_max_protocol_version) {
        if min > max {
            return Err(Finding::error(
                Code::PgUrlInvalid,
                var,
                format!(
                    "invalid SSL protocol version range: `ssl_min_protocol_version={}` is above `ssl_max_protocol_version={}`",
                    tls_name(min),
                    tls_name(max)
                ),
            )
            .hint("swap the two values, or drop `ssl_max_protocol_version`"));
        }
    }
    // libpq 16+: `sslrootcert=system` exists to verify against public CAs, and any
    // mode weaker than verify-full would make it pointless.
    if t.rootcert.as_deref() == Some("system")
        && t.sslmode != SslMode::VerifyFull
        && t.sslmode_from != "libpq's default"
    {
        return Err(Finding::error(
            Code::PgUrlInvalid,
            var,
            format!(
                "weak sslmode `{}` may not be used with `sslrootcert=system` (use `verify-full`)",
                t.sslmode.as_str()
            ),
        )
        .hint("with the system's CA store, only `sslmode=verify-full` proves who the server is"));
    }
    // libpq with `gssencmode=require` refuses to fall back to TLS or plaintext, and
    // without a Kerberos ticket it never even connects; preflight's driver has no
    // GSSAPI at all, so a pass here would be a pass for a connection it never made.
    if t.gss_required {
        return Err(Finding::error(
            Code::PgGssRequired,
            var,
            "`gssencmode=require` asks for GSSAPI (Kerberos) encryption, which preflight cannot check; libpq fails the connection without a Kerberos credential cache (`GSSAPI encryption required but was impossible`)",
        )
        .hint("for an encrypted connection to RDS use `sslmode=verify-full` with `sslrootcert`, and drop `gssencmode=require` (or `PGGSSENCMODE=require`)"));
    }
    Ok(())
}

fn tls_name(v: TlsVersion) -> &'static str {
    match v {
        TlsVersion::Tls1_0 => "TLSv1",
        TlsVersion::Tls1_1 => "TLSv1.1",
        TlsVersion::Tls1_2 => "TLSv1.2",
        TlsVersion::Tls1_3 => "TLSv1.3",
    }
}

/// libpq's host loop: every host, every address of it, in order; for
/// `prefer-standby` a first pass that accepts only standbys, then one that takes any.
async fn connect(
    ctx: &Ctx<'_>,
    deadline: &Deadline,
) -> (Result<(String, Vec<Finding>), ()>, Vec<Finding>) {
    let t = ctx.t;
    let passes: &[SessionAttrs] = if t.target_session_attrs == SessionAttrs::PreferStandby {
        &[SessionAttrs::Standby, SessionAttrs::Any]
    } else {
        std::slice::from_ref(&t.target_session_attrs)
    };
    let mut failures = Vec::new();
    for &want in passes {
        for h in &t.hosts {
            let addrs = match addresses(h, deadline, ctx.total).await {
                Ok(a) => a,
                Err(f) => {
                    failures.push(f);
                    if deadline.left().is_zero() {
                        return (Err(()), failures);
                    }
                    continue;
                }
            };
            for addr in addrs {
                let budget = t
                    .connect_timeout
                    .map(|c| c.min(deadline.left()))
                    .unwrap_or(deadline.left());
                let mut step = Step::Tcp;
                let r = tokio::time::timeout(budget, attempt(ctx, h, &addr, &mut step)).await;
                match r {
                    Ok(Ok(s)) => match session_matches(want, &s) {
                        None => return (Ok((describe(ctx, h, &addr, &s), s.warnings)), failures),
                        Some(why) => {
                            failures.push(
                                Finding::error(
                                    Code::PgSessionAttrs,
                                    subject(h, &addr),
                                    format!(
                                        "`{}` {why}, but `target_session_attrs={}` asks for {}",
                                        subject(h, &addr),
                                        t.target_session_attrs.as_str(),
                                        wanted(want)
                                    ),
                                )
                                .hint("list the server of that kind in `DATABASE_URL` (for RDS: the cluster endpoint for writes, the reader endpoint for reads), or change `target_session_attrs`"),
                            );
                            break;
                        }
                    },
                    Ok(Err(fail)) => {
                        failures.push(fail.finding);
                        match fail.next {
                            Next::Addr => {}
                            Next::Host => break,
                            Next::Stop => return (Err(()), failures),
                        }
                    }
                    Err(_) => failures.push(timed_out(ctx, h, &addr, step, budget)),
                }
                if deadline.left().is_zero() {
                    return (Err(()), failures);
                }
            }
        }
    }
    (Err(()), failures)
}

fn wanted(a: SessionAttrs) -> &'static str {
    match a {
        SessionAttrs::ReadWrite => "a server that accepts writes",
        SessionAttrs::ReadOnly => "a read-only server",
        SessionAttrs::Primary => "a primary (not in recovery)",
        SessionAttrs::Standby | SessionAttrs::PreferStandby => "a standby (in recovery)",
        SessionAttrs::Any => "any server",
    }
}

/// libpq's checks after authentication; `Some(reason)` when the server is of the
/// wrong kind.
fn session_matches(want: SessionAttrs, s: &Session) -> Option<&'static str> {
    match want {
        SessionAttrs::Any | SessionAttrs::PreferStandby => None,
        SessionAttrs::ReadWrite if s.read_only => Some(if s.in_recovery {
            "is a hot standby (read-only)"
        } else {
            "is read-only (`default_transaction_read_only` is on)"
        }),
        SessionAttrs::ReadOnly if !s.read_only => Some("accepts writes"),
        SessionAttrs::Primary if s.in_recovery => Some("is a standby (in recovery)"),
        SessionAttrs::Standby if !s.in_recovery => Some("is a primary (not in recovery)"),
        _ => None,
    }
}

fn describe(ctx: &Ctx<'_>, h: &Host, addr: &Addr, s: &Session) -> String {
    let t = ctx.t;
    let how = match (addr, &s.tls_version) {
        (Addr::Unix(_), _) => "Unix socket".to_string(),
        (_, Some(v)) => v.clone(),
        (_, None) => "no TLS".into(),
    };
    let role = if s.in_recovery { ", standby" } else { "" };
    format!(
        "PostgreSQL {} at `{}` as `{}` on `{}`{role}, {how}, {}",
        s.version,
        subject(h, addr),
        t.user,
        t.dbname,
        ctx.mode
    )
}

enum Addr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

fn subject(h: &Host, addr: &Addr) -> String {
    match addr {
        Addr::Unix(p) => p.display().to_string(),
        Addr::Tcp(sa) => match &h.hostaddr {
            Some(_) => format!("{}:{} ({})", h.name, h.port, sa.ip()),
            None => format!("{}:{}", h.name, h.port),
        },
    }
}

/// The addresses libpq would try for a host: `hostaddr` as given (no lookup), a
/// socket path, or every address DNS returns.
async fn addresses(h: &Host, deadline: &Deadline, total: Duration) -> Result<Vec<Addr>, Finding> {
    let hp = format!("{}:{}", h.name, h.port);
    if let Some(a) = h.hostaddr.as_deref().filter(|a| !a.is_empty()) {
        return match a.parse::<IpAddr>() {
            Ok(ip) => Ok(vec![Addr::Tcp(SocketAddr::new(ip, h.port))]),
            Err(_) => Err(Finding::error(
                Code::PgUrlInvalid,
                &hp,
                "`hostaddr` is not a numeric IPv4 or IPv6 address",
            )
            .hint("`hostaddr` takes an address such as `10.0.0.5`; put names in `host`")),
        };
    }
    if h.name.starts_with('/') {
        return Ok(vec![Addr::Unix(
            Path::new(&h.name).join(format!(".s.PGSQL.{}", h.port)),
        )]);
    }
    if let Ok(ip) = h.name.parse::<IpAddr>() {
        return Ok(vec![Addr::Tcp(SocketAddr::new(ip, h.port))]);
    }
    match tokio::time::timeout(deadline.left(), tokio::net::lookup_host((h.name.as_str(), h.port))).await {
        Err(_) => Err(Finding::error(Code::PgTimeout, &hp, format!("DNS lookup of `{}` did not finish within {}", h.name, secs(total)))
            .hint("the VPC's DNS resolver is not answering; check the task's network configuration")),
        Ok(Err(e)) => Err(Finding::error(Code::PgDns, &hp, format!("DNS: `{}` does not resolve ({e})", h.name))
            .hint("check the host in `DATABASE_URL` (RDS endpoints look like `NAME.ID.REGION.rds.amazonaws.com`) and, for a private endpoint, that the task runs in the database's VPC")),
        Ok(Ok(a)) => Ok(a.map(Addr::Tcp).collect()),
    }
}

fn timed_out(ctx: &Ctx<'_>, h: &Host, addr: &Addr, step: Step, budget: Duration) -> Finding {
    let s = subject(h, addr);
    let within = match ctx.t.connect_timeout {
        Some(c) if c <= budget => format!("`connect_timeout` ({})", secs(c)),
        _ => secs(ctx.total),
    };
    let (msg, hint) = match step {
        Step::Tcp => (
            format!("TCP connect to `{s}` timed out after {within}"),
            "a timeout, not a refusal, means packets are dropped: allow the task's security group in the database's security group on this port (inbound TCP), and check the route between their subnets",
        ),
        Step::SslRequest => (
            format!("`{s}` accepted the TCP connection but did not answer the SSLRequest within {within}"),
            "something that is not PostgreSQL (or a stuck proxy) holds this port; check the host and port in `DATABASE_URL`",
        ),
        Step::Tls => (
            format!("the TLS handshake with `{s}` did not finish within {within}"),
            "the server accepted SSL but stalled; check for a proxy between the task and the database",
        ),
        Step::Auth => (
            format!("`{s}` did not finish startup and authentication within {within}"),
            "the server accepted the connection but did not answer the startup message; check that this is PostgreSQL and that it is not overloaded",
        ),
        Step::Query => (
            format!("`SELECT` on `{s}` did not return within {within}"),
            "the database is overloaded or locked; check its metrics",
        ),
    };
    Finding::error(Code::PgTimeout, s, msg).hint(hint)
}

/// One attempt at one address, with libpq's `allow`/`prefer` retries on a new
/// connection to the same address.
async fn attempt(ctx: &Ctx<'_>, h: &Host, addr: &Addr, step: &mut Step) -> Result<Session, Fail> {
    let s = subject(h, addr);
    let sa = match addr {
        Addr::Unix(path) => {
            // libpq never negotiates SSL over a Unix socket, whatever the sslmode.
            let stream = tokio::net::UnixStream::connect(path).await.map_err(|e| {
                Fail::new(
                    Finding::error(
                        Code::PgConnectionRefused,
                        &s,
                        format!("cannot connect to the Unix socket `{s}`: {e}"),
                    )
                    .hint("check the socket directory in `DATABASE_URL` and that the server is running"),
                    Next::Addr,
                )
            })?;
            if let Some(want) = ctx.t.requirepeer.as_deref() {
                peer_is(&stream, want, &s)?;
            }
            return startup(ctx, h, stream, None, &s, step)
                .await
                .map_err(|f| f.0);
        }
        Addr::Tcp(sa) => *sa,
    };
    match ctx.t.sslmode {
        SslMode::Disable => plain(ctx, h, sa, &s, step).await.map_err(|f| f.0),
        SslMode::Allow => match plain(ctx, h, sa, &s, step).await {
            Ok(x) => Ok(x),
            // libpq: any server error on the plaintext try means one more try with SSL.
            Err(ServerErr(first)) if first.server_said => {
                match secure(ctx, h, sa, &s, step).await {
                    Ok(x) => Ok(x),
                    Err(Secure::Refused(f)) | Err(Secure::Failed(f)) => Err(f),
                }
            }
            Err(ServerErr(f)) => Err(f),
        },
        SslMode::Prefer => match secure(ctx, h, sa, &s, step).await {
            Ok(x) => Ok(x),
            // libpq retries without SSL when the handshake fails or the server
            // refuses us over SSL; keep the SSL-side cause when the plaintext try is
            // refused only for being plaintext.
            Err(Secure::Refused(first)) => match plain(ctx, h, sa, &s, step).await {
                Ok(mut x) => {
                    let mut w = first.finding;
                    w.severity = Severity::Warning;
                    w.message = format!(
                        "{}; libpq's `prefer` then connected without TLS, as the app will",
                        w.message
                    );
                    x.warnings.push(w);
                    Ok(x)
                }
                Err(ServerErr(second)) if second.finding.code == Code::PgHbaRejected => Err(first),
                Err(ServerErr(second)) => Err(second),
            },
            Err(Secure::Failed(f)) => Err(f),
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            match secure(ctx, h, sa, &s, step).await {
                Ok(x) => Ok(x),
                Err(Secure::Refused(f)) | Err(Secure::Failed(f)) => Err(f),
            }
        }
    }
}

struct ServerErr(Fail);

enum Secure {
    /// libpq's `prefer` retries these without SSL.
    Refused(Fail),
    /// Not retried.
    Failed(Fail),
}

async fn tcp(sa: SocketAddr, s: &str, step: &mut Step) -> Result<TcpStream, Fail> {
    *step = Step::Tcp;
    match TcpStream::connect(sa).await {
        Ok(st) => {
            let _ = st.set_nodelay(true);
            Ok(st)
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(Fail::new(
            Finding::error(
                Code::PgConnectionRefused,
                s,
                format!("TCP: connection to `{s}` refused; nothing listens there"),
            )
            .hint("check the port in `DATABASE_URL` and that the database is running"),
            Next::Addr,
        )),
        Err(e) => Err(Fail::new(
            Finding::error(
                Code::PgUnreachable,
                s,
                format!("TCP: cannot reach `{s}`: {e}"),
            )
            .hint("check the task's subnets and route tables"),
            Next::Addr,
        )),
    }
}

async fn plain(
    ctx: &Ctx<'_>,
    h: &Host,
    sa: SocketAddr,
    s: &str,
    step: &mut Step,
) -> Result<Session, ServerErr> {
    let stream = tcp(sa, s, step).await.map_err(ServerErr)?;
    startup(ctx, h, stream, None, s, step).await
}

async fn secure(
    ctx: &Ctx<'_>,
    h: &Host,
    sa: SocketAddr,
    s: &str,
    step: &mut Step,
) -> Result<Session, Secure> {
    let mut stream = tcp(sa, s, step).await.map_err(Secure::Failed)?;
    *step = Step::SslRequest;
    let answer = async {
        stream.write_all(&SSL_REQUEST).await?;
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).await?;
        Ok::<u8, std::io::Error>(b[0])
    }
    .await;
    let refuse = |f: Finding| Secure::Failed(Fail::new(f, Next::Stop));
    match answer {
        Err(e) => {
            return Err(refuse(
                Finding::error(Code::PgError, s, format!("`{s}` closed the connection during the SSLRequest: {e}"))
                    .hint("check that this host and port serve PostgreSQL"),
            ))
        }
        Ok(b'S') => {}
        Ok(b'N') if matches!(ctx.t.sslmode, SslMode::Prefer | SslMode::Allow) => {
            return startup(ctx, h, stream, None, s, step)
                .await
                .map_err(|e| Secure::Failed(e.0));
        }
        Ok(b'N') => {
            return Err(refuse(
                Finding::error(Code::PgNoSsl, s, format!("the server does not support SSL, but {} requires it", ctx.mode))
                    .hint("turn on `ssl` on the server (RDS always supports it: check the host is really the database), or, for local development only, use `sslmode=disable`"),
            ))
        }
        Ok(b'E') => {
            // A host earlier in the list (or an earlier attempt on this one) may have
            // had the password in cleartext: this text is checked like any other.
            let withheld = Withheld::new(ctx.t.password.as_ref(), ctx.t.options.as_deref());
            return Err(refuse(ssl_request_error(&mut stream, s, &withheld).await));
        }
        Ok(other) => {
            return Err(refuse(
                Finding::error(Code::PgError, s, format!("`{s}` answered the SSLRequest with byte {other:#04x}; it does not speak PostgreSQL's protocol"))
                    .hint("check the host and port in `DATABASE_URL`"),
            ))
        }
    }
    *step = Step::Tls;
    // Set-up problems (an unreadable client key, say) surface only now, after the
    // server said `S`, as in libpq, where `prefer` then retries without SSL.
    let cfg = match &ctx.tls {
        Ok(c) => c,
        Err(f) => {
            let mut f = f.clone();
            f.subject = s.to_string();
            if f.code == Code::TlsUnknownCa {
                // Name the chain the server sends, so the fix (which CA bundle)
                // is obvious; a non-verifying handshake on this connection shows it.
                if let Some((top, issuer)) = sent_chain_top(stream).await {
                    f.message = format!(
                        "{}; the server's chain ends at `{top}`, issued by `{issuer}`",
                        f.message
                    );
                }
            }
            return Err(Secure::Refused(Fail::new(f, Next::Stop)));
        }
    };
    let seen = Arc::new(Mutex::new(VerifyFailure::default()));
    let ssl = cfg.ssl(&h.name, seen.clone()).map_err(|e| {
        refuse(
            Finding::error(Code::TlsHandshake, s, format!("cannot set up TLS: {e}"))
                .hint("check the TLS settings in `DATABASE_URL`"),
        )
    })?;
    let mut tls = tokio_openssl::SslStream::new(ssl, stream).map_err(|e| {
        refuse(
            Finding::error(Code::TlsHandshake, s, format!("cannot set up TLS: {e}"))
                .hint("check the TLS settings in `DATABASE_URL`"),
        )
    })?;
    if let Err(e) = Pin::new(&mut tls).connect().await {
        let failure = seen.lock().map(|v| v.clone()).unwrap_or_default();
        let f = classify_tls(ctx, s, cfg, &failure, &e.to_string());
        return Err(Secure::Refused(Fail::new(f, Next::Stop)));
    }
    if cfg.verify == Verify::Full {
        if let Err(f) = check_peer_name(ctx, h, s, tls.ssl().peer_certificate().as_deref()) {
            return Err(Secure::Refused(Fail::new(f, Next::Stop)));
        }
    }
    let version = tls.ssl().version_str().to_string();
    startup(ctx, h, tls, Some(version), s, step)
        .await
        .map_err(|e| {
            if e.0.server_said {
                Secure::Refused(e.0)
            } else {
                Secure::Failed(e.0)
            }
        })
}

/// A client context as `SslConnector::builder` makes one (its options, modes,
/// cipher list and peer verification), without its `set_default_verify_paths`:
/// that reads the file `SSL_CERT_FILE` names at once, a FIFO there held the
/// probe past every deadline, and the store it fills is replaced by the one
/// libpq's settings choose anyway.
fn client_context() -> Result<SslContextBuilder, openssl::error::ErrorStack> {
    let mut b = SslContextBuilder::new(SslMethod::tls_client())?;
    let opts = (SslOptions::ALL
        | SslOptions::NO_COMPRESSION
        | SslOptions::NO_SSLV2
        | SslOptions::NO_SSLV3
        | SslOptions::SINGLE_DH_USE
        | SslOptions::SINGLE_ECDH_USE)
        & !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
    b.set_options(opts);
    b.set_mode(
        OpenSslMode::AUTO_RETRY
            | OpenSslMode::ACCEPT_MOVING_WRITE_BUFFER
            | OpenSslMode::ENABLE_PARTIAL_WRITE
            | OpenSslMode::RELEASE_BUFFERS,
    );
    b.set_cipher_list("DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK")?;
    b.set_verify(SslVerifyMode::PEER);
    Ok(b)
}

/// (subject, issuer) of the last certificate the server sends, from a handshake
/// that verifies nothing and is then dropped.
async fn sent_chain_top(stream: TcpStream) -> Option<(String, String)> {
    let mut b = client_context().ok()?;
    b.set_verify(SslVerifyMode::NONE);
    let ssl = Ssl::new(&b.build()).ok()?;
    let mut tls = tokio_openssl::SslStream::new(ssl, stream).ok()?;
    Pin::new(&mut tls).connect().await.ok()?;
    let chain = tls.ssl().peer_cert_chain()?;
    let top = chain.iter().last()?;
    Some((cn(top.subject_name()), cn(top.issuer_name())))
}

/// Reads the ErrorResponse a server sends instead of `S`/`N` (a failure to start a
/// backend, usually), in the v3 format or the older bare-string one, within
/// libpq's length limit. Only the server's own text is shown.
async fn ssl_request_error<S: AsyncRead + Unpin>(
    stream: &mut S,
    s: &str,
    withheld: &Withheld,
) -> Finding {
    let mut head = [0u8; 4];
    let read = async {
        stream.read_exact(&mut head).await?;
        let len = u32::from_be_bytes(head) as usize;
        if (8..=MAX_ERRLEN).contains(&len) {
            let mut body = vec![0; len - 4];
            stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(parse_error_fields(&body))
        } else {
            // Protocol 2: a NUL-terminated string follows the `E`; read up to the
            // NUL (a peer that keeps talking without one meets the attempt's deadline).
            let mut body = head.to_vec();
            let mut chunk = [0u8; 512];
            while !body.contains(&0) && body.len() < MAX_ERRLEN {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
            Ok((
                None,
                Some(String::from_utf8_lossy(&body[..end]).into_owned()),
            ))
        }
    };
    let (code, msg) = read.await.unwrap_or((None, None));
    let msg = msg
        .map(|m| withheld.shown(&m))
        .unwrap_or_else(|| "(no readable message)".into());
    let code_part = code
        .as_ref()
        .map(|c| format!("SQLSTATE {} ", sqlstate(c)))
        .unwrap_or_default();
    let finding_code = match code.as_deref() {
        Some("53300") => Code::PgTooManyConnections,
        Some("57P03") => Code::PgStartingUp,
        _ => Code::PgError,
    };
    Finding::error(
        finding_code,
        s,
        format!("`{s}` answered the SSLRequest with an error: {code_part}{msg}"),
    )
    .hint("the server could not start a session for this connection; see its log")
}

/// (SQLSTATE, message) from an ErrorResponse body.
fn parse_error_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let mut code = None;
    let mut msg = None;
    let mut rest = body;
    while let Some((&kind, tail)) = rest.split_first() {
        if kind == 0 {
            break;
        }
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        let value = String::from_utf8_lossy(&tail[..end]).into_owned();
        match kind {
            b'C' => code = Some(value),
            b'M' => msg = Some(value),
            _ => {}
        }
        rest = tail.get(end + 1..).unwrap_or(&[]);
    }
    (code, msg)
}

/// The most characters of server-supplied text (error messages, versions, names in
/// certificates) a finding shows.
const SERVER_TEXT_MAX: usize = 200;

/// Server-supplied text as a finding shows it: one line, control characters
/// written as escapes (so a hostile server can neither forge a line nor repaint a
/// terminal), at most [`SERVER_TEXT_MAX`] characters, and marked when cut.
fn server_text(s: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let piece = crate::report::render::escape_line(c.encode_utf8(&mut buf));
        let len = piece.chars().count();
        if n + len > SERVER_TEXT_MAX {
            out.push_str(&format!("… (cut at {SERVER_TEXT_MAX} characters)"));
            return out;
        }
        out.push_str(&piece);
        n += len;
    }
    out
}

/// Values a server message must not show: the password (its bytes, and its text
/// when it is UTF-8) and the `options` value, whole, unescaped as the server
/// unescapes it (`pg_split_opts`: whitespace separates, `\\` escapes), per word,
/// and per `name=value` value. Shorter than 3 bytes is too common to withhold on.
///
/// A server that asked for the password in cleartext can also quote a piece of it,
/// or change its case: any [`PW_PIECE`] bytes of the password in a row, compared
/// without regard to ASCII case, withhold the text too (the password's own bytes and
/// their lossy UTF-8 reading both count).
struct Withheld {
    values: Vec<(Vec<u8>, &'static str)>,
    /// Every `PW_PIECE`-byte window of the password, ASCII-lowercased.
    pw_pieces: Vec<Vec<u8>>,
}

/// The shortest run of the password's bytes that withholds server text. Shorter
/// runs are too common in ordinary messages (`pass`, `user`) to be telling.
const PW_PIECE: usize = 6;

impl Withheld {
    fn new(password: Option<&Secret<Vec<u8>>>, options: Option<&str>) -> Withheld {
        const PW: &str = "the password";
        const OPT: &str = "a value from `options`/`PGOPTIONS`";
        let mut v: Vec<(Vec<u8>, &'static str)> = Vec::new();
        let mut pw_pieces = Vec::new();
        if let Some(p) = password {
            let lossy = String::from_utf8_lossy(p.expose())
                .into_owned()
                .into_bytes();
            for form in [p.expose().as_slice(), lossy.as_slice()] {
                pw_pieces.extend(form.windows(PW_PIECE).map(|w| w.to_ascii_lowercase()));
            }
            v.push((p.expose().clone(), PW));
            v.push((lossy, PW));
        }
        if let Some(o) = options {
            v.push((o.as_bytes().to_vec(), OPT));
            let words = split_opts(o);
            v.push((words.join(" ").into_bytes(), OPT));
            for w in &words {
                v.push((w.as_bytes().to_vec(), OPT));
                if let Some((_, value)) = w.split_once('=') {
                    v.push((value.as_bytes().to_vec(), OPT));
                }
            }
        }
        v.retain(|(c, _)| c.len() >= 3);
        Withheld {
            values: v,
            pw_pieces,
        }
    }

    fn found_in(&self, text: &str) -> Option<&'static str> {
        let text = text.as_bytes();
        if let Some(what) = self
            .values
            .iter()
            .find(|(c, _)| text.windows(c.len()).any(|w| w == c.as_slice()))
            .map(|(_, what)| *what)
        {
            return Some(what);
        }
        let lower = text.to_ascii_lowercase();
        lower
            .windows(PW_PIECE)
            .any(|w| self.pw_pieces.iter().any(|p| p.as_slice() == w))
            .then_some("part of the password")
    }

    /// Server text that is not an error (the version string a server reports) as
    /// the pass line shows it: escaped and cut, or withheld as [`Self::shown`] does.
    fn shown_value(&self, raw: &str) -> String {
        match self.found_in(raw) {
            Some(what) => format!("(the server's text contained {what}, so it is not shown)"),
            None => server_text(raw),
        }
    }

    /// Server text as a finding shows it: escaped and cut by [`server_text`], or,
    /// when the raw text quotes a withheld value, a sentence saying so. The whole
    /// text goes: a `<redacted>` marker in place would show where the value matched
    /// (`<redacted> authentication failed` says the password is `password`). The
    /// raw text is checked, before escaping or cutting could hide part of a match.
    fn shown(&self, raw: &str) -> String {
        match self.found_in(raw) {
            Some(what) => format!("the server's error text contained {what}, so it is not shown"),
            None => server_text(raw),
        }
    }
}

/// A SQLSTATE as the server sent it, when it has a SQLSTATE's shape (five digits or
/// capital letters); any other text in that field is the server's, shown nowhere,
/// since a hostile server that had the password could put a piece of it there.
fn sqlstate(c: &str) -> String {
    if c.len() == 5
        && c.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        c.to_string()
    } else {
        "(not a SQLSTATE; not shown)".to_string()
    }
}

/// The server's reading of `options` (`pg_split_opts`): words separated by
/// whitespace, a backslash taking the next character literally.
fn split_opts(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_whitespace() {
            if in_word {
                out.push(std::mem::take(&mut cur));
                in_word = false;
            }
            continue;
        }
        in_word = true;
        if c == '\\' {
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else {
            cur.push(c);
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Startup, authentication and one query over an established stream.
async fn startup<S>(
    ctx: &Ctx<'_>,
    h: &Host,
    stream: S,
    tls_version: Option<String>,
    s: &str,
    step: &mut Step,
) -> Result<Session, ServerErr>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    *step = Step::Auth;
    let t = ctx.t;
    // libpq with `channel_binding=require` accepts only SCRAM-SHA-256-PLUS, which
    // exists only over TLS: without TLS it fails before any password goes out, and
    // so does this (the driver here cannot bind to a stream it did not encrypt).
    if t.channel_binding_required && tls_version.is_none() {
        return Err(ServerErr(Fail::new(
            Finding::error(
                Code::PgError,
                s,
                "`channel_binding=require` needs TLS, and this connection has none (libpq: `channel binding required, but SSL not in use`)",
            )
            .hint("use `sslmode=require` or stronger with `channel_binding=require`, or drop `channel_binding=require` (or `PGCHANNELBINDING`)"),
            Next::Stop,
        )));
    }
    let mut cfg = tokio_postgres::Config::new();
    cfg.user(&t.user).dbname(&t.dbname).application_name(
        t.application_name
            .as_deref()
            .unwrap_or("shipcheck-preflight"),
    );
    if let Some(o) = t.options.as_deref().filter(|o| !o.is_empty()) {
        cfg.options(o);
    }
    // libpq: an empty password is no password, and then the password file speaks.
    let mut from_file = None;
    let password = match t.password.as_ref().filter(|p| !p.expose().is_empty()) {
        Some(p) => Some(p.clone()),
        None => ctx.passfile.as_ref().and_then(|pf| {
            let found = pf.lookup(h, t)?;
            from_file = Some(pf.path.clone());
            Some(found)
        }),
    };
    if let Some(p) = password.as_ref().filter(|p| !p.expose().is_empty()) {
        cfg.password(p.expose());
    }
    // The stream is already encrypted (or deliberately not): the driver must not
    // send a second SSLRequest.
    cfg.ssl_mode(tokio_postgres::config::SslMode::Disable);
    // A server that asks for the password in cleartext has it, and a hostile one
    // could put it in its error text; the server also quotes `options` values (after
    // its own unescaping) when it rejects them, and those may be secrets too.
    let withheld = Withheld::new(password.as_ref(), t.options.as_deref());
    let (client, connection) = match cfg.connect_raw(stream, tokio_postgres::NoTls).await {
        Ok(pair) => pair,
        Err(e) => {
            return Err(ServerErr(classify_db(
                &e,
                s,
                from_file.as_deref(),
                &withheld,
            )))
        }
    };
    let conn = tokio::spawn(connection);
    *step = Step::Query;
    let q = "SELECT current_setting('server_version'), (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()), current_setting('transaction_read_only'), pg_is_in_recovery()::text";
    let result = match client.simple_query(q).await {
        Err(e) => Err(ServerErr(classify_db(&e, s, None, &withheld))),
        Ok(msgs) => {
            let row = msgs.into_iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
                _ => None,
            });
            let col = |i: usize| {
                row.as_ref()
                    .and_then(|r| r.try_get(i).ok().flatten())
                    .map(String::from)
            };
            match col(0) {
                None => Err(ServerErr(Fail::new(
                    Finding::error(
                        Code::PgError,
                        s,
                        format!("`{s}` answered the check query without a row"),
                    )
                    .hint("check that this host and port serve PostgreSQL"),
                    Next::Stop,
                ))),
                Some(version) => Ok(Session {
                    version: withheld.shown_value(&version),
                    tls_version: tls_version.or_else(|| col(1).map(|v| withheld.shown_value(&v))),
                    read_only: col(2).as_deref() == Some("on"),
                    in_recovery: col(3).as_deref() == Some("true"),
                    warnings: binary_passfile_note(from_file.as_deref(), password.as_ref())
                        .into_iter()
                        .collect(),
                }),
            }
        }
    };
    // libpq sends `client_encoding` at startup and the server ends the connection
    // when it knows no such encoding (or cannot convert to it); the driver here
    // always speaks UTF-8, so the server is asked the same question instead.
    let result = match (result, t.client_encoding.as_deref()) {
        (Ok(session), Some(enc)) => match client_encoding_problem(&client, enc).await {
            Some(why) => Err(ServerErr(Fail {
                finding: Finding::error(Code::PgError, s, why).hint(
                    "fix `client_encoding` / `PGCLIENTENCODING` (`UTF8` for a UTF-8 database), or remove it",
                ),
                next: Next::Stop,
                server_said: true,
            })),
            None => Ok(session),
        },
        (r, _) => r,
    };
    drop(client);
    conn.abort();
    result
}

/// Whether the server would refuse `enc` as the startup `client_encoding`, as its
/// own check does: an encoding name it knows, and (unless either side is
/// `SQL_ASCII` or they are the same) a default conversion both ways. The value is
/// never quoted back: it is input, and it goes to the server only as a parameter.
async fn client_encoding_problem(client: &tokio_postgres::Client, enc: &str) -> Option<String> {
    let q = "SELECT e >= 0, e < 0 OR e = d OR e = 0 OR d = 0 OR (\
             EXISTS (SELECT 1 FROM pg_catalog.pg_conversion WHERE condefault AND conforencoding = d AND contoencoding = e) \
             AND EXISTS (SELECT 1 FROM pg_catalog.pg_conversion WHERE condefault AND conforencoding = e AND contoencoding = d)) \
             FROM (SELECT pg_catalog.pg_char_to_encoding($1::text::name) AS e, \
             pg_catalog.pg_char_to_encoding(pg_catalog.getdatabaseencoding()) AS d) x";
    let row = client.query_opt(q, &[&enc]).await.ok()??;
    let known: bool = row.try_get(0).ok()?;
    let convertible: bool = row.try_get(1).ok()?;
    if !known {
        Some("the server knows no encoding named by `client_encoding`/`PGCLIENTENCODING`: libpq sends it at startup and the server refuses the connection (SQLSTATE 22023, `invalid value for parameter \"client_encoding\"`)".into())
    } else if !convertible {
        Some("the server cannot convert between the database's encoding and the one `client_encoding`/`PGCLIENTENCODING` names: libpq sends it at startup and the server refuses the connection (`conversion between … is not supported`)".into())
    } else {
        None
    }
}

fn classify_db(
    e: &tokio_postgres::Error,
    subject: &str,
    passfile: Option<&str>,
    withheld: &Withheld,
) -> Fail {
    let Some(db) = e.as_db_error() else {
        let text = crate::cli::chain(e);
        if text.contains("password missing") {
            return Fail::new(
                Finding::error(Code::PgNoPassword, subject, "the server asks for a password, but no password was supplied (libpq: `fe_sendauth: no password supplied`)")
                    .hint("put the password in `DATABASE_URL` (percent-encoded), `PGPASSWORD` or the password file; an empty password counts as none"),
                Next::Stop,
            );
        }
        let lower = text.to_ascii_lowercase();
        if lower.contains("alert")
            && (lower.contains("certificate") || lower.contains("unknown ca"))
        {
            return Fail::new(
                Finding::error(Code::PgClientCert, subject, format!("the server rejected the client certificate: {}", withheld.shown(&text)))
                    .hint("the server must trust the CA that issued `sslcert` (its `ssl_ca_file`), and the certificate must be current"),
                Next::Stop,
            );
        }
        return Fail::new(
            Finding::error(
                Code::PgError,
                subject,
                format!("the connection failed: {}", withheld.shown(&text)),
            )
            .hint("check the server's log for this connection"),
            Next::Stop,
        );
    };
    let raw = db.message();
    let msg = withheld.shown(raw);
    let code = db.code();
    let mut next = Next::Stop;
    let (c, hint) = if *code == SqlState::INVALID_PASSWORD {
        (Code::PgAuthFailed, "the password in `DATABASE_URL` is not the database's: if the secret was rotated, tasks started before the rotation still hold the old value (they read secrets only at start) — compare fingerprints and force a new deployment".to_string())
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        (
            Code::PgDatabaseMissing,
            "create the database, or fix the name after the last `/` in `DATABASE_URL`".into(),
        )
    } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        if raw.contains("no encryption") {
            (Code::PgHbaRejected, "the server only accepts encrypted connections from here: set `sslmode=verify-full` (with `sslrootcert`) in `DATABASE_URL`".into())
        } else if raw.contains("certificate") {
            (Code::PgClientCert, "this server wants a client certificate: set `sslcert` and `sslkey` (or ship `~/.postgresql/postgresql.crt` and `.key`)".into())
        } else {
            (Code::PgHbaRejected, "add a `pg_hba.conf` entry for this client (RDS: check `rds.force_ssl` and the user's grants)".into())
        }
    } else if *code == SqlState::CANNOT_CONNECT_NOW {
        // libpq moves on to the next host when one is still starting up.
        next = Next::Host;
        (
            Code::PgStartingUp,
            "the database is starting or recovering; retry after it is available".into(),
        )
    } else if *code == SqlState::TOO_MANY_CONNECTIONS {
        (Code::PgTooManyConnections, "lower the app's pool size per task, or raise `max_connections` (RDS: the parameter group)".into())
    } else if code.code().starts_with("22") || code.code().starts_with("42") {
        (
            Code::PgError,
            "check `options` / `PGOPTIONS`: the server rejected a setting passed at startup".into(),
        )
    } else {
        (
            Code::PgError,
            "see the server's log for this SQLSTATE".into(),
        )
    };
    let from = match (passfile, c) {
        (Some(p), Code::PgAuthFailed) => format!(" (password retrieved from file `{p}`)"),
        _ => String::new(),
    };
    Fail {
        finding: Finding::error(
            c,
            subject,
            format!("SQLSTATE {}: {msg}{from}", sqlstate(code.code())),
        )
        .hint(hint),
        next,
        server_said: true,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verify {
    None,
    Chain,
    Full,
}

/// The TLS side of a Target, decided once: an OpenSSL connector with libpq's root,
/// CRL, client-certificate and protocol settings.
struct TlsCfg {
    context: SslContext,
    verify: Verify,
    /// How the roots were chosen, for messages.
    roots: String,
}

/// What the verify callback saw when OpenSSL rejected the chain.
#[derive(Debug, Clone, Default)]
struct VerifyFailure {
    code: Option<i32>,
    error: String,
    /// The top of the chain as built from what the server sent: (subject, issuer).
    top: Option<(String, String)>,
    /// The certificate the error is about.
    cert: Option<CertInfo>,
}

fn ssl_version(v: TlsVersion) -> SslVersion {
    match v {
        TlsVersion::Tls1_0 => SslVersion::TLS1,
        TlsVersion::Tls1_1 => SslVersion::TLS1_1,
        TlsVersion::Tls1_2 => SslVersion::TLS1_2,
        TlsVersion::Tls1_3 => SslVersion::TLS1_3,
    }
}

/// A small regular file, or why not: libpq-style files may be missing, and a FIFO
/// or device where a file belongs must not block or fill memory.
fn read_small(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::metadata(path).map_err(|e| e.to_string())?;
    if let Some(why) = crate::specfile::stat_refusal(path, FILE_CAP) {
        return Err(format!("it {why}"));
    }
    let mut buf = Vec::new();
    use std::io::Read;
    std::fs::File::open(path)
        .and_then(|f| f.take(FILE_CAP).read_to_end(&mut buf))
        .map_err(|e| e.to_string())?;
    Ok(buf)
}

/// The system's CA store, loaded as the S3 probe's is: rustls-native-certs reads
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` when set, else the distributions' bundle files
/// and directories (openssl-probe's list, which holds where each distribution's
/// OpenSSL, libpq's, looks by default). OpenSSL's own `set_default_paths` is not
/// used: the static binary's vendored OpenSSL looks under `/usr/local/ssl`, which
/// no distribution fills, and its by-hash directory lookup opens files during the
/// handshake, unguarded (a FIFO named `<hash>.0` in `SSL_CERT_DIR` held the probe
/// past every deadline). The directory loader reads regular files only; the file
/// `SSL_CERT_FILE` names is refused, like the S3 probe's, unless it is a regular
/// file of sane size, before anything opens it.
fn system_roots(store: &mut X509StoreBuilder) -> Result<usize, Finding> {
    let mut n = 0;
    for der in crate::aws::native_certs().map_err(|r| r.finding())? {
        if let Ok(c) = X509::from_der(der.as_ref()) {
            // A root listed twice (a bundle and a directory) is not worth failing on.
            let _ = store.add_cert(c);
            n += 1;
        }
    }
    Ok(n)
}

/// Said after the store's name when it holds nothing, so "not trusted by the
/// system's CA store" does not send anyone looking for the wrong CA.
fn empty_store(n: usize) -> &'static str {
    if n == 0 {
        ", which holds no certificates (the image has no CA bundle, or `SSL_CERT_FILE`/`SSL_CERT_DIR` name none)"
    } else {
        ""
    }
}

fn home_file(home: Option<&Path>, name: &str) -> Option<String> {
    home.map(|h| h.join(".postgresql").join(name).display().to_string())
}

impl TlsCfg {
    fn build(t: &Target, home: Option<&Path>) -> Result<TlsCfg, Finding> {
        let setup = |e: openssl::error::ErrorStack| {
            Finding::error(
                Code::TlsHandshake,
                "postgres",
                format!("cannot set up TLS: {e}"),
            )
            .hint("this is a bug in preflight's TLS setup")
        };
        let mut b = client_context().map_err(setup)?;
        // libpq 15's default floor is TLSv1.2.
        let min = t.ssl_min_protocol_version.unwrap_or(TlsVersion::Tls1_2);
        b.set_min_proto_version(Some(ssl_version(min)))
            .map_err(setup)?;
        b.set_max_proto_version(t.ssl_max_protocol_version.map(ssl_version))
            .map_err(setup)?;
        let mut store = X509StoreBuilder::new().map_err(setup)?;
        let root = t
            .rootcert
            .clone()
            .filter(|r| !r.is_empty())
            .or_else(|| home_file(home, "root.crt"));
        let (verify, roots) = if root.as_deref() == Some("system") {
            let n = system_roots(&mut store)?;
            (
                Verify::Full,
                format!(
                    "the system's CA store (`sslrootcert=system`){}",
                    empty_store(n)
                ),
            )
        } else if let Some(path) = root.as_deref().filter(|p| Path::new(p).exists()) {
            let pem = read_small(Path::new(path)).map_err(|e| {
                Finding::error(
                    Code::TlsUnknownCa,
                    "postgres",
                    format!("root certificate file `{path}` cannot be read: {e}"),
                )
                .hint("ship the CA bundle in the image at that path (COPY it in the Dockerfile)")
            })?;
            let certs = X509::stack_from_pem(&pem).unwrap_or_default();
            if certs.is_empty() {
                return Err(Finding::error(
                    Code::TlsUnknownCa,
                    "postgres",
                    format!("root certificate file `{path}` holds no PEM certificates"),
                )
                .hint("use the CA bundle's PEM file as downloaded, not DER"));
            }
            for c in certs {
                store.add_cert(c).map_err(setup)?;
            }
            load_crls(&mut store, t, home)?;
            // libpq verifies the chain whenever the root file exists, whatever the
            // sslmode; only verify-full adds the name check.
            let v = if t.sslmode == SslMode::VerifyFull {
                Verify::Full
            } else {
                Verify::Chain
            };
            (v, format!("`sslrootcert={path}`"))
        } else if matches!(t.sslmode, SslMode::VerifyCa | SslMode::VerifyFull) {
            if t.rootcert.is_none() && t.sslmode_from.contains("NODE_ENV") {
                // preflight's production default stands in for Node's `pg`, which
                // verifies against the system's CA store.
                let n = system_roots(&mut store)?;
                (
                    Verify::Full,
                    format!("the system's CA store (Node's default){}", empty_store(n)),
                )
            } else {
                let shown = root.unwrap_or_else(|| "~/.postgresql/root.crt".into());
                return Err(Finding::error(
                    Code::TlsUnknownCa,
                    "postgres",
                    format!("root certificate file `{shown}` does not exist, and sslmode={} needs one to verify the server (libpq fails here)", t.sslmode.as_str()),
                )
                .hint(RDS_HINT));
            }
        } else {
            (Verify::None, "none (the chain is not verified)".to_string())
        };
        b.set_cert_store(store.build());
        b.set_verify(if verify == Verify::None {
            SslVerifyMode::NONE
        } else {
            SslVerifyMode::PEER
        });
        client_cert(&mut b, t, home)?;
        Ok(TlsCfg {
            context: b.build(),
            verify,
            roots,
        })
    }

    fn ssl(
        &self,
        host: &str,
        seen: Arc<Mutex<VerifyFailure>>,
    ) -> Result<openssl::ssl::Ssl, openssl::error::ErrorStack> {
        let mut c = Ssl::new(&self.context)?;
        // libpq sends SNI for names, never for address literals.
        if host.parse::<IpAddr>().is_err() && !host.is_empty() {
            c.set_hostname(host)?;
        }
        if self.verify != Verify::None {
            c.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| {
                if !ok {
                    if let Ok(mut v) = seen.lock() {
                        if v.code.is_none() {
                            let err = ctx.error();
                            v.code = Some(err.as_raw());
                            v.error = err.error_string().to_string();
                            v.cert = ctx.current_cert().map(CertInfo::from);
                            v.top = ctx.chain().and_then(|ch| {
                                ch.iter()
                                    .last()
                                    .map(|c| (cn(c.subject_name()), cn(c.issuer_name())))
                            });
                        }
                    }
                }
                ok
            });
        }
        Ok(c)
    }
}

/// libpq: `sslcrl`/`sslcrldir` (default `~/.postgresql/root.crl`) are loaded into
/// the root store; a file that cannot be loaded is silently ignored.
fn load_crls(store: &mut X509StoreBuilder, t: &Target, home: Option<&Path>) -> Result<(), Finding> {
    let file = t.sslcrl.clone().filter(|s| !s.is_empty());
    let dir = t.sslcrldir.clone().filter(|s| !s.is_empty());
    let file = if file.is_none() && dir.is_none() {
        home_file(home, "root.crl")
    } else {
        file
    };
    if file.is_none() && dir.is_none() {
        return Ok(());
    }
    // OpenSSL reads these itself, blocking: a FIFO or a huge file must be refused
    // here, or it would hang the probe past every deadline.
    let unsafe_file =
        |p: &Path| crate::specfile::stat_refusal(p, FILE_CAP).map(|why| format!("it {why}"));
    let refuse = |what: &str, why: String| {
        Finding::error(Code::TlsHandshake, "postgres", format!("CRL `{what}` cannot be used: {why}"))
            .hint("`sslcrl` must name a PEM CRL file, `sslcrldir` a directory of hashed CRL files (`openssl rehash`)")
    };
    let mut ok = true;
    if let Some(f) = &file {
        if let Some(why) = unsafe_file(Path::new(f)) {
            return Err(refuse(f, why));
        }
        ok = Path::new(f).is_file()
            && store
                .add_lookup(X509Lookup::file())
                .and_then(|l| l.load_crl_file(f, openssl::ssl::SslFiletype::PEM))
                .is_ok();
    }
    if let (true, Some(d)) = (ok, &dir) {
        if let Ok(entries) = std::fs::read_dir(d) {
            for e in entries.flatten().take(10_000) {
                if e.path().is_dir() {
                    continue;
                }
                if let Some(why) = unsafe_file(&e.path()) {
                    return Err(refuse(&e.path().display().to_string(), why));
                }
            }
        }
        ok = store
            .add_lookup(X509Lookup::hash_dir())
            .and_then(|l| l.add_dir(d, openssl::ssl::SslFiletype::PEM))
            .is_ok();
    }
    if ok {
        let _ = store.set_flags(X509VerifyFlags::CRL_CHECK | X509VerifyFlags::CRL_CHECK_ALL);
    }
    Ok(())
}

/// libpq's client certificate: `sslcert` (default `~/.postgresql/postgresql.crt`)
/// when it exists, with `sslkey` (default `~/.postgresql/postgresql.key`), its
/// permission rule and `sslpassword`.
fn client_cert(b: &mut SslContextBuilder, t: &Target, home: Option<&Path>) -> Result<(), Finding> {
    let bad =
        |msg: String, hint: &str| Finding::error(Code::PgClientCert, "postgres", msg).hint(hint);
    let Some(cert_path) = t
        .sslcert
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| home_file(home, "postgresql.crt"))
    else {
        return Ok(());
    };
    match std::fs::metadata(&cert_path) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(())
        }
        Err(e) => {
            return Err(bad(
                format!("could not open certificate file `{cert_path}`: {e}"),
                "check `sslcert` and the file's permissions",
            ))
        }
        Ok(_) => {}
    }
    let pem = read_small(Path::new(&cert_path)).map_err(|e| {
        bad(
            format!("could not read certificate file `{cert_path}`: {e}"),
            "check `sslcert`",
        )
    })?;
    let mut chain = X509::stack_from_pem(&pem).unwrap_or_default().into_iter();
    let Some(leaf) = chain.next() else {
        return Err(bad(
            format!("could not read certificate file `{cert_path}`: no PEM certificate in it"),
            "`sslcert` must be a PEM certificate (with its chain, if any)",
        ));
    };
    b.set_certificate(&leaf).map_err(|e| {
        bad(
            format!("could not use certificate file `{cert_path}`: {e}"),
            "check `sslcert`",
        )
    })?;
    for c in chain {
        b.add_extra_chain_cert(c).map_err(|e| {
            bad(
                format!("could not use certificate file `{cert_path}`: {e}"),
                "check `sslcert`",
            )
        })?;
    }
    let key_path = t
        .sslkey
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| home_file(home, "postgresql.key"))
        .unwrap_or_default();
    let md = std::fs::metadata(&key_path).map_err(|_| {
        bad(
            format!("certificate present, but not private key file `{key_path}`"),
            "set `sslkey` to the certificate's private key",
        )
    })?;
    if !md.is_file() {
        return Err(bad(
            format!("private key file `{key_path}` is not a regular file"),
            "set `sslkey` to the key file",
        ));
    }
    {
        use std::os::unix::fs::MetadataExt;
        let mode = md.mode();
        let loose = if md.uid() == 0 {
            mode & 0o037
        } else {
            mode & 0o077
        };
        if loose != 0 {
            return Err(bad(
                format!("private key file `{key_path}` has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root"),
                "`chmod 0600` the key in the image (COPY --chmod=0600), owned by the user the server runs as",
            ));
        }
    }
    let pem = read_small(Path::new(&key_path)).map_err(|e| {
        bad(
            format!("could not load private key file `{key_path}`: {e}"),
            "check `sslkey`",
        )
    })?;
    let pass: Option<Secret<Vec<u8>>> = t.sslpassword.clone().filter(|p| !p.expose().is_empty());
    // Never let OpenSSL prompt on a terminal: no sslpassword means an empty one.
    let key = openssl::pkey::PKey::private_key_from_pem_callback(&pem, |buf| {
        let p = pass.as_ref().map(|p| p.expose().as_slice()).unwrap_or_default();
        let n = p.len().min(buf.len());
        buf[..n].copy_from_slice(&p[..n]);
        Ok(n)
    })
    .map_err(|_| {
        bad(
            format!("could not load private key file `{key_path}`: bad decrypt or not a PEM private key"),
            if t.sslpassword.is_some() {
                "`sslpassword` does not decrypt this key"
            } else {
                "the key is encrypted (or not PEM): set `sslpassword`, or ship an unencrypted key with mode 0600"
            },
        )
    })?;
    b.set_private_key(&key)
        .and_then(|_| b.check_private_key())
        .map_err(|_| {
            bad(
                format!("certificate does not match private key file `{key_path}`"),
                "`sslcert` and `sslkey` must be a pair",
            )
        })
}

fn cn(n: &openssl::x509::X509NameRef) -> String {
    n.entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
        .map(|s| server_text(&s))
        .unwrap_or_else(|| "(no common name)".into())
}

#[derive(Debug, Clone)]
struct CertInfo {
    subject: String,
    not_before: String,
    not_after: String,
}

fn ip_string(ip: &[u8]) -> Option<IpAddr> {
    match ip.len() {
        4 => <[u8; 4]>::try_from(ip).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(ip).ok().map(IpAddr::from),
        _ => None,
    }
}

impl From<&X509Ref> for CertInfo {
    fn from(c: &X509Ref) -> Self {
        CertInfo {
            subject: cn(c.subject_name()),
            not_before: c.not_before().to_string(),
            not_after: c.not_after().to_string(),
        }
    }
}

/// libpq's wildcard rule: `*.` as the whole leftmost label, matching exactly one
/// non-empty label, case-insensitively.
fn wildcard_matches(pattern: &str, host: &str) -> bool {
    let (p, h) = (pattern.as_bytes(), host.as_bytes());
    if p.len() < 3 || p[0] != b'*' || p[1] != b'.' || p.len() > h.len() {
        return false;
    }
    let start = h.len() - p.len() + 1;
    if !p[1..].eq_ignore_ascii_case(&h[start..]) {
        return false;
    }
    // No dot left of where the pattern's suffix begins.
    !h[..start].contains(&b'.')
}

fn name_matches(name: &str, host: &str) -> bool {
    name.eq_ignore_ascii_case(host) || wildcard_matches(name, host)
}

/// libpq (`inet_aton` for IPv4, `inet_pton` for IPv6): whether an iPAddress SAN
/// is the host string's address.
fn ip_matches(ip: &[u8], host: &str) -> bool {
    match (ip_string(ip), host.parse::<IpAddr>()) {
        (Some(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// libpq's `pgtls_verify_peer_name_matches_certificate_guts`: SANs of the host's
/// type (DNS or IP) exclude the CN; DNS SANs are compared as names even to an IP
/// literal; the CN is the fallback. Returns (matched, names examined).
fn peer_name_matches(cert: &X509Ref, host: &str) -> (bool, Vec<String>) {
    let host_is_ip = host.parse::<IpAddr>().is_ok();
    let mut check_cn = true;
    let mut seen = Vec::new();
    if let Some(sans) = cert.subject_alt_names() {
        for g in sans.iter() {
            let (is_ip, matched) = if let Some(d) = g.dnsname() {
                seen.push(server_text(d));
                // An embedded NUL is an attack (CVE-2009-4034): never a match.
                (false, !d.contains('\0') && name_matches(d, host))
            } else if let Some(ip) = g.ipaddress() {
                seen.push(
                    ip_string(ip)
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| "(ip)".into()),
                );
                (true, ip_matches(ip, host))
            } else {
                continue;
            };
            if is_ip == host_is_ip {
                check_cn = false;
            }
            if matched {
                return (true, seen);
            }
        }
    }
    if check_cn {
        for e in cert
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        {
            if let Ok(s) = e.data().to_string() {
                seen.push(server_text(&s));
                if !s.contains('\0') && name_matches(&s, host) {
                    return (true, seen);
                }
            }
        }
    }
    (false, seen)
}

fn check_peer_name(
    ctx: &Ctx<'_>,
    h: &Host,
    s: &str,
    cert: Option<&X509Ref>,
) -> Result<(), Finding> {
    if h.name.is_empty() {
        return Err(Finding::error(
            Code::TlsHostnameMismatch,
            s,
            format!(
                "host name must be specified for a verified SSL connection; {}",
                ctx.mode
            ),
        )
        .hint("give `host` (the name on the certificate) along with `hostaddr`"));
    }
    let Some(cert) = cert else {
        return Err(Finding::error(
            Code::TlsHandshake,
            s,
            format!("the server sent no certificate; {}", ctx.mode),
        )
        .hint("check the server's `ssl_cert_file`"));
    };
    let (ok, names) = peer_name_matches(cert, &h.name);
    if ok {
        return Ok(());
    }
    let names = if names.is_empty() {
        "no names".to_string()
    } else {
        format!("`{}`", names.join("`, `"))
    };
    Err(Finding::error(Code::TlsHostnameMismatch, s, format!("TLS: the certificate is not valid for `{}`; it is valid for {names}; {}", h.name, ctx.mode))
        .hint("connect with one of the names the certificate lists (the RDS endpoint, not a CNAME or IP; with `hostaddr`, `host` must still be that name), or, if you must, use `sslmode=verify-ca`"))
}

// OpenSSL's X509_V_ERR_* numbers (stable across OpenSSL versions).
const V_UNABLE_TO_GET_ISSUER_CERT: i32 = 2;
const V_UNABLE_TO_GET_CRL: i32 = 3;
const V_CERT_NOT_YET_VALID: i32 = 9;
const V_CERT_HAS_EXPIRED: i32 = 10;
const V_CRL_NOT_YET_VALID: i32 = 11;
const V_CRL_HAS_EXPIRED: i32 = 12;
const V_DEPTH_ZERO_SELF_SIGNED: i32 = 18;
const V_SELF_SIGNED_IN_CHAIN: i32 = 19;
const V_UNABLE_TO_GET_ISSUER_LOCALLY: i32 = 20;
const V_UNABLE_TO_VERIFY_LEAF: i32 = 21;
const V_CERT_REVOKED: i32 = 23;

/// Describes a failed handshake from what the verify callback saw, or, when the
/// failure was not about the chain, from OpenSSL's error.
fn classify_tls(ctx: &Ctx<'_>, s: &str, cfg: &TlsCfg, v: &VerifyFailure, err: &str) -> Finding {
    let mode = &ctx.mode;
    let Some(code) = v.code else {
        // An alert about a certificate that the *server* sent (OpenSSL names a
        // received alert `… alert …`; our own verify failures have a code):
        // under TLS 1.2 this is how it refuses the client certificate, inside the
        // handshake (under 1.3 it comes after, as a connection error).
        let lower = err.to_ascii_lowercase();
        if lower.contains(" alert ")
            && [
                "unknown ca",
                "bad certificate",
                "certificate unknown",
                "certificate required",
                "certificate expired",
                "certificate revoked",
                "unsupported certificate",
            ]
            .iter()
            .any(|a| lower.contains(a))
        {
            return Finding::error(
                Code::PgClientCert,
                s,
                format!("the server rejected the client certificate during the TLS handshake: {}; {mode}", server_text(err)),
            )
            .hint("the server must trust the CA that issued `sslcert` (its `ssl_ca_file`), the certificate must be current, and a server that requires one needs `sslcert`/`sslkey`");
        }
        return Finding::error(
            Code::TlsHandshake,
            s,
            format!("TLS handshake failed: {}; {mode}", server_text(err)),
        )
        .hint(protocol_hint(ctx.t));
    };
    let about = v
        .cert
        .as_ref()
        .map(|c| format!("`{}`", c.subject))
        .unwrap_or_else(|| "the server's certificate".into());
    match code {
        V_CERT_HAS_EXPIRED => {
            let when = v
                .cert
                .as_ref()
                .map(|i| format!(" on {} (valid from {})", i.not_after, i.not_before))
                .unwrap_or_default();
            Finding::error(Code::TlsExpired, s, format!("TLS: the server's certificate {about} expired{when}; {mode}"))
                .hint("rotate the server's certificate (RDS: modify the instance to a current CA); until then nothing that verifies can connect")
        }
        V_CERT_NOT_YET_VALID => {
            let when = v.cert.as_ref().map(|i| format!(" until {}", i.not_before)).unwrap_or_default();
            Finding::error(Code::TlsNotYetValid, s, format!("TLS: the server's certificate {about} is not valid{when}; {mode}"))
                .hint("check the clocks of the server and this container, or the certificate's start date")
        }
        V_CERT_REVOKED => Finding::error(Code::TlsRevoked, s, format!("TLS: certificate {about} has been revoked (per the CRL); {mode}"))
            .hint("the server presents a revoked certificate: install a new one on the server; do not remove the CRL to make this pass"),
        V_UNABLE_TO_GET_CRL | V_CRL_HAS_EXPIRED | V_CRL_NOT_YET_VALID => Finding::error(
            Code::TlsHandshake,
            s,
            format!("TLS: {} for {about}: with a CRL configured, libpq checks every certificate in the chain; {mode}", v.error),
        )
        .hint("put a current CRL from each CA in the chain into `sslcrl` / `sslcrldir`"),
        V_DEPTH_ZERO_SELF_SIGNED | V_SELF_SIGNED_IN_CHAIN | V_UNABLE_TO_GET_ISSUER_LOCALLY
        | V_UNABLE_TO_GET_ISSUER_CERT | V_UNABLE_TO_VERIFY_LEAF => {
            let (top, issuer) = v.top.clone().unwrap_or_else(|| ("the server's certificate".into(), "an unknown issuer".into()));
            Finding::error(Code::TlsUnknownCa, s, format!("TLS: {}: the chain the server sent ends at `{top}`, issued by `{issuer}`, which is not trusted by {}; {mode}", v.error, cfg.roots))
                .hint(RDS_HINT)
        }
        _ => Finding::error(Code::TlsHandshake, s, format!("TLS: certificate verify failed: {} ({about}); {mode}", v.error))
            .hint("check the server's certificate chain"),
    }
}

fn protocol_hint(t: &Target) -> String {
    let min = t.ssl_min_protocol_version.unwrap_or(TlsVersion::Tls1_2);
    match t.ssl_max_protocol_version {
        Some(max) => format!("the server's TLS versions must overlap {}..{} (`ssl_min_protocol_version`/`ssl_max_protocol_version`), and it must accept any client certificate sent", tls_name(min), tls_name(max)),
        None => format!("the server must offer {} or newer (`ssl_min_protocol_version`), and accept any client certificate sent", tls_name(min)),
    }
}

/// libpq's password file, read once; looked up per host at connect time.
struct Passfile {
    path: String,
    /// Bytes, as libpq reads them: a password in it need not be UTF-8.
    text: Secret<Vec<u8>>,
}

impl Passfile {
    /// The file, or `None`; plus a warning when libpq would ignore it for its
    /// permissions (libpq prints the same warning on stderr).
    fn load(t: &Target, home: Option<&Path>) -> (Option<Passfile>, Vec<Finding>) {
        if t.password.as_ref().is_some_and(|p| !p.expose().is_empty()) {
            return (None, vec![]);
        }
        let Some(path) = t
            .passfile
            .clone()
            .filter(|p| !p.is_empty())
            .or_else(|| home.map(|h| h.join(".pgpass").display().to_string()))
        else {
            return (None, vec![]);
        };
        let Ok(md) = std::fs::metadata(&path) else {
            return (None, vec![]);
        };
        let warn = |msg: String| {
            vec![
                Finding::new(Code::PgPassfileIgnored, Severity::Warning, &path, msg)
                    .hint("`chmod 0600` the password file"),
            ]
        };
        if !md.is_file() {
            return (
                None,
                warn(format!(
                    "password file `{path}` is not a plain file; libpq ignores it"
                )),
            );
        }
        use std::os::unix::fs::MetadataExt;
        if md.mode() & 0o077 != 0 {
            return (None, warn(format!("password file `{path}` has group or world access; permissions should be u=rw (0600) or less; libpq ignores it")));
        }
        match read_small(Path::new(&path)) {
            Ok(b) => (
                Some(Passfile {
                    path,
                    text: Secret::new(b),
                }),
                vec![],
            ),
            Err(_) => (None, vec![]),
        }
    }

    /// libpq's `passwordFromFile` for one host.
    fn lookup(&self, h: &Host, t: &Target) -> Option<Secret<Vec<u8>>> {
        let host = if h.name.is_empty() {
            h.hostaddr.clone().unwrap_or_default()
        } else {
            h.name.clone()
        };
        let host = if host.is_empty() || host == "/var/run/postgresql" {
            "localhost".to_string()
        } else {
            host
        };
        let port = h.port.to_string();
        passfile_lookup(self.text.expose(), &host, &port, &t.dbname, &t.user)
    }
}

/// libpq's `pwdfMatchesString`: one field against a token, `*` alone matching
/// anything and `\` escaping the next character; the rest of the line on a match.
fn field_matches<'a>(buf: &'a [u8], token: &[u8]) -> Option<&'a [u8]> {
    if buf.len() >= 2 && buf[0] == b'*' && buf[1] == b':' {
        return Some(&buf[2..]);
    }
    let mut i = 0;
    let mut j = 0;
    let mut bslash = false;
    while i < buf.len() {
        if buf[i] == b'\\' && !bslash {
            i += 1;
            bslash = true;
        }
        let c = buf.get(i).copied();
        if c == Some(b':') && j == token.len() && !bslash {
            return Some(&buf[i + 1..]);
        }
        bslash = false;
        if j == token.len() {
            return None;
        }
        if c == Some(token[j]) {
            i += 1;
            j += 1;
        } else {
            return None;
        }
    }
    None
}

fn passfile_lookup(
    text: &[u8],
    host: &str,
    port: &str,
    db: &str,
    user: &str,
) -> Option<Secret<Vec<u8>>> {
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let rest = field_matches(line, host.as_bytes())
            .and_then(|r| field_matches(r, port.as_bytes()))
            .and_then(|r| field_matches(r, db.as_bytes()))
            .and_then(|r| field_matches(r, user.as_bytes()));
        let Some(rest) = rest else { continue };
        let mut out = Vec::new();
        let mut i = 0;
        while i < rest.len() && rest[i] != b':' {
            if rest[i] == b'\\' && i + 1 < rest.len() {
                i += 1;
            }
            out.push(rest[i]);
            i += 1;
        }
        return Some(Secret::new(out));
    }
    None
}

/// One finding per distinct cause, with a count, so a URL with many hosts that
/// all fail the same way reads as one line. The count is of attempts, not of
/// distinct names: a URL listing the same host 2000 times says 2000.
fn summarize(failures: Vec<Finding>) -> Vec<Finding> {
    struct Group {
        key: String,
        finding: Finding,
        subjects: Vec<String>,
        count: usize,
    }
    let mut groups: Vec<Group> = Vec::new();
    for f in failures {
        let key = format!(
            "{}\u{0}{}",
            f.code.as_str(),
            f.message.replace(&f.subject, "")
        );
        match groups.iter_mut().find(|g| g.key == key) {
            Some(g) => {
                g.count += 1;
                if !g.subjects.contains(&f.subject) {
                    g.subjects.push(f.subject.clone());
                }
            }
            None => {
                let subj = f.subject.clone();
                groups.push(Group {
                    key,
                    finding: f,
                    subjects: vec![subj],
                    count: 1,
                });
            }
        }
    }
    let total = groups.len();
    let mut out: Vec<Finding> = groups
        .into_iter()
        .take(MAX_FINDINGS)
        .map(|g| {
            let mut f = g.finding;
            if g.count > 1 {
                let shown: Vec<&str> = g.subjects.iter().take(3).map(String::as_str).collect();
                let more = g.subjects.len().saturating_sub(3);
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                f.message = format!(
                    "{} (the same on {} hosts: `{}`{more})",
                    f.message,
                    g.count,
                    shown.join("`, `")
                );
                f.subject = format!("{} hosts", g.count);
            }
            f
        })
        .collect();
    if total > MAX_FINDINGS {
        out.push(Finding::error(
            Code::PgError,
            "postgres",
            format!(
                "{} more distinct failures were not listed",
                total - MAX_FINDINGS
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_only_one_whole_leftmost_label() {
        assert!(wildcard_matches("*.example.com", "db.example.com"));
        assert!(wildcard_matches("*.Example.COM", "DB.example.com"));
        assert!(!wildcard_matches("*.example.com", "a.b.example.com"));
        assert!(!wildcard_matches("*.example.com", "example.com"));
        assert!(!wildcard_matches("*.example.com", ".example.com"));
        assert!(!wildcard_matches("db*.example.com", "db1.example.com"));
        assert!(!wildcard_matches("*", "localhost"));
        assert!(!wildcard_matches("*.com", "example.org"));
    }

    fn cert(cn: &str, dns: &[&str], ips: &[&str]) -> X509 {
        use openssl::x509::extension::SubjectAlternativeName;
        let key =
            openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(1024).unwrap()).unwrap();
        let mut n = openssl::x509::X509NameBuilder::new().unwrap();
        n.append_entry_by_text("CN", cn).unwrap();
        let n = n.build();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&n).unwrap();
        b.set_issuer_name(&n).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        if !dns.is_empty() || !ips.is_empty() {
            let mut san = SubjectAlternativeName::new();
            for d in dns {
                san.dns(d);
            }
            for i in ips {
                san.ip(i);
            }
            let ext = san.build(&b.x509v3_context(None, None)).unwrap();
            b.append_extension(ext).unwrap();
        }
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        b.build()
    }

    #[test]
    fn peer_names_follow_libpq_san_and_cn_rules() {
        let m = |c: &X509, h: &str| peer_name_matches(c, h).0;
        // No SAN: the CN decides.
        assert!(m(&cert("db.example.com", &[], &[]), "db.example.com"));
        // A DNS SAN excludes the CN for a name.
        let c = cert("db.example.com", &["a.example.com"], &[]);
        assert!(!m(&c, "db.example.com"));
        assert!(m(&c, "A.Example.com"));
        // An IP SAN does not exclude the CN for a name...
        assert!(m(
            &cert("db.example.com", &[], &["10.0.0.1"]),
            "db.example.com"
        ));
        // ...and a DNS SAN does not exclude the CN for an IP literal.
        assert!(m(&cert("10.0.0.1", &["x.example.com"], &[]), "10.0.0.1"));
        // An IP SAN matches the host string's address, IPv4 and IPv6.
        let c = cert("n", &[], &["10.0.0.1", "::1"]);
        assert!(m(&c, "10.0.0.1") && m(&c, "::1") && m(&c, "0:0::1"));
        assert!(!m(&c, "10.0.0.2"));
        // An IP SAN excludes the CN for an IP literal.
        assert!(!m(&cert("10.0.0.2", &[], &["10.0.0.1"]), "10.0.0.2"));
        // Wildcards in SANs and CNs.
        assert!(m(&cert("n", &["*.example.com"], &[]), "db.example.com"));
        assert!(!m(&cert("n", &["*.example.com"], &[]), "a.db.example.com"));
        assert!(m(&cert("*.example.com", &[], &[]), "db.example.com"));
    }

    #[test]
    fn passfile_fields_escapes_and_wildcards_follow_libpq() {
        let text = "# comment\n\
                    other:5432:app:app:nope\n\
                    localhost:5432:app:app:right\\:one\\\\\n";
        let p = passfile_lookup(text.as_bytes(), "localhost", "5432", "app", "app").unwrap();
        assert_eq!(p.expose(), b"right:one\\");
        let text = "*:*:*:app:any\n";
        assert_eq!(
            passfile_lookup(text.as_bytes(), "h", "1", "d", "app")
                .unwrap()
                .expose(),
            b"any"
        );
        assert!(passfile_lookup(text.as_bytes(), "h", "1", "d", "other").is_none());
        // An escaped colon belongs to the field.
        let text = "a\\:b:5432:*:*:pw\r\n";
        assert_eq!(
            passfile_lookup(text.as_bytes(), "a:b", "5432", "d", "u")
                .unwrap()
                .expose(),
            b"pw"
        );
        // `*` only as a whole field, not a prefix.
        assert!(passfile_lookup(b"loc*:5432:*:*:pw\n", "localhost", "5432", "d", "u").is_none());
        // A line without a password field yields an empty password, as in libpq.
        assert_eq!(
            passfile_lookup(b"*:*:*:*\n", "h", "1", "d", "u"),
            None,
            "four fields do not match: the user field needs its colon"
        );
        assert_eq!(
            passfile_lookup(b"*:*:*:*:\n", "h", "1", "d", "u")
                .unwrap()
                .expose(),
            b""
        );
    }

    #[test]
    fn passfile_and_crl_fifos_or_loose_files_never_block_or_pass_silently() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([("HOME", dir.path().to_str().unwrap())]);
        let mut t = dburl::resolve(
            dburl::parse("postgresql://u@h/db").unwrap(),
            &env,
            &dburl::OsUser::named("u"),
        )
        .unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        t.passfile = Some(fifo.display().to_string());
        let (pf, w) = Passfile::load(&t, None);
        assert!(pf.is_none());
        assert!(w[0].message.contains("is not a plain file"), "{w:?}");
        let loose = dir.path().join("loose");
        std::fs::write(&loose, "*:*:*:*:pw\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o604)).unwrap();
        t.passfile = Some(loose.display().to_string());
        let (pf, w) = Passfile::load(&t, None);
        assert!(pf.is_none());
        assert!(
            w[0].message
                .contains("permissions should be u=rw (0600) or less"),
            "{w:?}"
        );
        assert!(!format!("{w:?}").contains("pw\\n"));
        // A CRL that is a FIFO is refused before OpenSSL would block on it.
        t.sslcrl = Some(fifo.display().to_string());
        t.sslmode = SslMode::VerifyFull;
        let ca = cert("ca", &[], &[]);
        let root = dir.path().join("root.pem");
        std::fs::write(&root, ca.to_pem().unwrap()).unwrap();
        t.rootcert = Some(root.display().to_string());
        let e = TlsCfg::build(&t, None)
            .err()
            .expect("a FIFO CRL is refused");
        assert!(e.message.contains("not a regular file"), "{}", e.message);
        t.sslcrl = None;
        let crldir = dir.path().join("crls");
        std::fs::create_dir(&crldir).unwrap();
        std::fs::create_dir(crldir.join("sub")).unwrap();
        t.sslcrldir = Some(crldir.display().to_string());
        assert!(TlsCfg::build(&t, None).is_ok(), "a subdirectory is fine");
        std::fs::rename(&fifo, crldir.join("abcd1234.r0")).unwrap();
        assert!(
            TlsCfg::build(&t, None).is_err(),
            "a FIFO in the CRL directory is refused"
        );
        // A password in the URL means the file is never read.
        t.password = Some(Secret::new(b"given".to_vec()));
        assert!(Passfile::load(&t, None).1.is_empty());
        // Hostile lines never panic.
        for text in [
            "\\",
            ":",
            "\\:",
            "*",
            "*:",
            "a\\",
            "\\\\:\\",
            "::::",
            "\u{0}:\u{0}",
        ] {
            let _ = passfile_lookup(text.as_bytes(), "a", "1", "d", "u");
            let _ = passfile_lookup(text.as_bytes(), "", "", "", "");
        }
    }

    #[test]
    fn error_response_fields_are_read_without_panicking_on_truncation() {
        let body = b"SFATAL\0C53300\0Msorry, too many clients already\0\0";
        let (c, m) = parse_error_fields(body);
        assert_eq!(c.as_deref(), Some("53300"));
        assert_eq!(m.as_deref(), Some("sorry, too many clients already"));
        for n in 0..body.len() {
            let _ = parse_error_fields(&body[..n]);
        }
        assert_eq!(server_text("a\nb\u{1b}[31m"), "a\\nb\\x1b[31m");
    }

    #[test]
    fn server_text_is_escaped_and_cut_with_a_mark() {
        assert_eq!(server_text("a\nb\u{1b}[31m"), "a\\nb\\x1b[31m");
        assert_eq!(server_text("ok"), "ok");
        let long = "x".repeat(1000);
        let shown = server_text(&long);
        assert!(shown.starts_with(&"x".repeat(SERVER_TEXT_MAX)), "{shown}");
        assert!(shown.ends_with("… (cut at 200 characters)"), "{shown}");
        assert_eq!(shown.chars().filter(|&c| c == 'x').count(), SERVER_TEXT_MAX);
        // Escapes count toward the cap and are never split.
        let shown = server_text(&"\u{1b}".repeat(100));
        assert!(shown.contains("(cut at"), "{shown}");
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert!(
            shown.split("… (cut").next().unwrap().ends_with("\\x1b"),
            "{shown}"
        );
    }

    #[test]
    fn options_and_password_values_are_withheld_from_server_text() {
        assert_eq!(
            split_opts("-c  a=b\\ c\t-c\\\\d=e "),
            vec!["-c", "a=b c", "-c\\d=e"]
        );
        let pw = Secret::new(b"pa\xffss".to_vec());
        let w = Withheld::new(Some(&pw), Some("-c statement_timeout=top\\ secret"));
        for (raw, hidden) in [
            (
                "invalid value for parameter \"statement_timeout\": \"top secret\"",
                true,
            ),
            ("bad -c statement_timeout=top\\ secret", true),
            ("password pa\u{fffd}ss rejected", true),
            ("invalid value for parameter \"x\": \"y\"", false),
        ] {
            let shown = w.shown(raw);
            assert_eq!(shown.contains("is not shown"), hidden, "{raw}: {shown}");
            assert!(
                !shown.contains("top secret") && !shown.contains("pa\u{fffd}ss"),
                "{shown}"
            );
        }
        assert!(w
            .shown("password pa\u{fffd}ss")
            .contains("contained the password"));
        assert!(w
            .shown("\"top secret\"")
            .contains("a value from `options`/`PGOPTIONS`"));
        // A match cut off by the cap is still withheld: the raw text is checked.
        let raw = format!("{}top secret", "x".repeat(195));
        assert!(w.shown(&raw).contains("is not shown"));
        // Short words are too common to withhold on.
        let w = Withheld::new(None, Some("-c a=on"));
        assert_eq!(w.shown("a is on"), "a is on");
    }

    #[test]
    fn server_text_quoting_part_of_the_password_is_withheld() {
        let pw = Secret::new(b"Kx9QzCANARYv4W".to_vec());
        let w = Withheld::new(Some(&pw), None);
        for raw in [
            "bad password starting Kx9QzC",
            "bad password ending ARYv4W",
            "x9QzCANARYvy",
            "bad password KX9QZCANARYV4W",
        ] {
            let shown = w.shown(raw);
            assert!(
                shown.contains("part of the password") || shown.contains("contained the password"),
                "{raw}: {shown}"
            );
        }
        // Five bytes in a row and ordinary words are not enough.
        assert_eq!(
            w.shown("password authentication failed for user \"Kx9Qz\""),
            "password authentication failed for user \"Kx9Qz\""
        );
        assert!(w
            .shown_value("PostgreSQL Kx9QzCANARYv4W")
            .contains("not shown"));
        assert_eq!(w.shown_value("15.4"), "15.4");
    }

    #[test]
    fn many_hosts_failing_alike_give_one_finding_with_a_count() {
        let fs: Vec<Finding> = (0..1000)
            .map(|i| {
                let s = format!("h{i}:5432");
                Finding::error(
                    Code::PgConnectionRefused,
                    &s,
                    format!("TCP: connection to `{s}` refused; nothing listens there"),
                )
            })
            .chain(std::iter::once(Finding::error(
                Code::PgDns,
                "x:1",
                "DNS: `x` does not resolve",
            )))
            .collect();
        let out = summarize(fs);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(
            out[0].message.contains("the same on 1000 hosts"),
            "{}",
            out[0].message
        );
        assert!(out[0].message.contains("997 more"), "{}", out[0].message);
        assert_eq!(out[1].code, Code::PgDns);
        // The same host listed many times counts every attempt.
        let same: Vec<Finding> = (0..2000)
            .map(|_| {
                Finding::error(
                    Code::PgConnectionRefused,
                    "127.0.0.1:1",
                    "TCP: connection to `127.0.0.1:1` refused; nothing listens there",
                )
            })
            .collect();
        let out = summarize(same);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0]
                .message
                .ends_with("(the same on 2000 hosts: `127.0.0.1:1`)"),
            "{}",
            out[0].message
        );
        assert_eq!(out[0].subject, "2000 hosts");
    }
}
