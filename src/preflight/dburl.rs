//! `DATABASE_URL` parsed with libpq's rules, in both its URI form
//! (`postgresql://user:pw@host:port,host2/db?sslmode=verify-full`) and its keyword
//! form (`host=db user=app sslmode=require`), then resolved with libpq's environment
//! variables and defaults into the [`Target`] the probe connects to.
//!
//! The reading follows libpq 15's `fe-connect.c` step by step (`conninfo_parse`,
//! `conninfo_uri_parse_options`, `conninfo_add_defaults`, `pqConnectOptions2`), so a
//! string `psql` accepts is accepted here and one it rejects is rejected, with the
//! deliberate differences listed on [`parse`]. tokio-postgres's own parser rejects
//! `sslmode=verify-ca|verify-full` and `sslrootcert`, which are exactly what a
//! production URL should carry, hence a parser of our own.
//!
//! The input holds a password, so no error ever quotes any part of it: errors say
//! which part is wrong (the 2nd host name, the value of `sslmode`, the 3rd query
//! parameter) and how, never what it was. The password is wrapped in [`Secret`] the
//! moment it is read, and kept as bytes: libpq sends a password's bytes as they are,
//! so one that percent-decodes (or arrives in the environment) as something other
//! than UTF-8 is still a password. Values preflight needs as text (host names, the
//! user, paths) are refused when they are not UTF-8, each with the reason.

use crate::preflight::environ::Env;
use crate::redact::Secret;
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The name TLS verifies against (and DNS resolves when `hostaddr` is unset); a
    /// leading `/` makes it a Unix-socket directory, as in libpq. Empty when only a
    /// `hostaddr` was given for this slot: libpq then has no name to verify a
    /// certificate against (`verify-full` fails).
    pub name: String,
    /// libpq's `hostaddr`: the numeric address to connect to, with no name lookup.
    pub hostaddr: Option<String>,
    /// In [`ConnParams`], 0 means the string gave no port for this host; in
    /// [`Target`] it is always the port to use.
    pub port: u16,
}

/// What a connection string says, before defaults from the environment.
#[derive(Debug, Clone, Default)]
pub struct ConnParams {
    /// The string's hosts alone (no environment), paired as libpq pairs them; names
    /// or ports the string leaves out are empty / 0. [`resolve`] recomputes the list
    /// from `host_list`/`hostaddr_list`/`port_list` with the environment applied.
    pub hosts: Vec<Host>,
    pub user: Option<String>,
    pub password: Option<Secret<Vec<u8>>>,
    pub dbname: Option<String>,
    pub sslmode: Option<SslMode>,
    pub sslrootcert: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub application_name: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
    pub sslpassword: Option<Secret<Vec<u8>>>,
    pub sslcrl: Option<String>,
    pub sslcrldir: Option<String>,
    pub ssl_min_protocol_version: Option<TlsVersion>,
    pub ssl_max_protocol_version: Option<TlsVersion>,
    pub target_session_attrs: Option<SessionAttrs>,
    pub options: Option<String>,
    pub passfile: Option<String>,
    pub replication: Option<Replication>,
    /// `gssencmode` as the string set it (already checked against libpq's choices).
    pub gssencmode: Option<String>,
    /// `client_encoding` as the string set it; libpq sends it at startup.
    pub client_encoding: Option<String>,
    /// `service` as the string set it (even to the empty string); see
    /// [`apply_service`].
    pub service: Option<String>,
    /// `requirepeer` as the string set it.
    pub requirepeer: Option<String>,
    /// `channel_binding` as the string set it (checked against libpq's choices).
    pub channel_binding: Option<String>,
    /// libpq's raw comma-separated `host`, `hostaddr` and `port` values as the string
    /// set them (URI hosts and ports are joined with commas, as libpq does).
    pub host_list: Option<String>,
    pub hostaddr_list: Option<String>,
    pub port_list: Option<String>,
    /// Canonical names of the keywords the string set, even to an empty value: in
    /// libpq a keyword the string sets (even to `''`) is never taken from the
    /// environment.
    pub set: BTreeSet<&'static str>,
}

/// `ssl_min_protocol_version` / `ssl_max_protocol_version` values libpq accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls1_0,
    Tls1_1,
    Tls1_2,
    Tls1_3,
}

impl TlsVersion {
    /// libpq compares these case-insensitively (`pg_strcasecmp`).
    pub fn parse(s: &str) -> Option<TlsVersion> {
        Some(match s.to_ascii_lowercase().as_str() {
            "tlsv1" => TlsVersion::Tls1_0,
            "tlsv1.1" => TlsVersion::Tls1_1,
            "tlsv1.2" => TlsVersion::Tls1_2,
            "tlsv1.3" => TlsVersion::Tls1_3,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tls1_0 => "TLSv1",
            TlsVersion::Tls1_1 => "TLSv1.1",
            TlsVersion::Tls1_2 => "TLSv1.2",
            TlsVersion::Tls1_3 => "TLSv1.3",
        }
    }
}

/// libpq's `target_session_attrs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionAttrs {
    #[default]
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    PreferStandby,
}

impl SessionAttrs {
    pub fn parse(s: &str) -> Option<SessionAttrs> {
        Some(match s {
            "any" => SessionAttrs::Any,
            "read-write" => SessionAttrs::ReadWrite,
            "read-only" => SessionAttrs::ReadOnly,
            "primary" => SessionAttrs::Primary,
            "standby" => SessionAttrs::Standby,
            "prefer-standby" => SessionAttrs::PreferStandby,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SessionAttrs::Any => "any",
            SessionAttrs::ReadWrite => "read-write",
            SessionAttrs::ReadOnly => "read-only",
            SessionAttrs::Primary => "primary",
            SessionAttrs::Standby => "standby",
            SessionAttrs::PreferStandby => "prefer-standby",
        }
    }
}

/// libpq's `replication`, as the server reads it: libpq 15 sends any non-empty value
/// in the startup packet, and the server takes `database` or a boolean
/// (`parse_bool`: `true`/`false`/`yes`/`no`/`on`/`off`/`1`/`0`, any case, any
/// unambiguous prefix) and refuses the connection on anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Replication {
    /// Not sent, empty, or a false boolean: an ordinary session.
    #[default]
    Off,
    /// A true boolean: a physical replication (walsender) connection.
    Physical,
    /// `database`: a logical replication connection to the database.
    Database,
}

impl Replication {
    /// `None` when the server would refuse the value.
    pub fn parse(v: &[u8]) -> Option<Replication> {
        if v.is_empty() {
            return Some(Replication::Off);
        }
        // The server compares `database` exactly (strcmp).
        if v == b"database" {
            return Some(Replication::Database);
        }
        let lower = v.to_ascii_lowercase();
        // PostgreSQL's `parse_bool_with_len`: a prefix of the word, but `o` alone is
        // ambiguous between `on` and `off`, and `1`/`0` only whole.
        let prefix_of = |word: &[u8], min: usize| lower.len() >= min && word.starts_with(&lower);
        let on = match lower[0] {
            b't' => prefix_of(b"true", 1).then_some(true),
            b'f' => prefix_of(b"false", 1).then_some(false),
            b'y' => prefix_of(b"yes", 1).then_some(true),
            b'n' => prefix_of(b"no", 1).then_some(false),
            b'o' if prefix_of(b"on", 2) => Some(true),
            b'o' if prefix_of(b"off", 2) => Some(false),
            b'1' if lower.len() == 1 => Some(true),
            b'0' if lower.len() == 1 => Some(false),
            _ => None,
        }?;
        Some(if on {
            Replication::Physical
        } else {
            Replication::Off
        })
    }
}

/// The effective OS user, which libpq 15 uses when nothing names a user
/// (`pg_fe_getauthname`: `getpwuid(geteuid())`, never `$USER`). `name` is `None`
/// when the user ID has no entry in the password database; libpq then fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsUser {
    pub uid: u32,
    pub name: Option<String>,
}

impl OsUser {
    pub fn named(name: &str) -> OsUser {
        OsUser {
            uid: 0,
            name: Some(name.to_string()),
        }
    }
}

/// Everything the probe decided before connecting: the URL with libpq's environment
/// variables and defaults applied, and where the sslmode came from, for the report.
#[derive(Debug, Clone)]
pub struct Target {
    pub hosts: Vec<Host>,
    /// True when a host slot was empty and got libpq's default socket directory.
    pub host_defaulted: bool,
    pub user: String,
    /// True when nothing named a user and libpq's default (the OS user) applied.
    pub user_defaulted: bool,
    pub dbname: String,
    /// From the URL or `PGPASSWORD`, as bytes; the password file is consulted per
    /// host at connect time, as libpq does.
    pub password: Option<Secret<Vec<u8>>>,
    /// `passfile` / `PGPASSFILE`; `None` means `~/.pgpass`.
    pub passfile: Option<String>,
    pub sslmode: SslMode,
    pub sslmode_from: &'static str,
    /// `sslrootcert` / `PGSSLROOTCERT`; the literal `system` is kept as is.
    pub rootcert: Option<String>,
    /// `sslcert`/`sslkey` (and `PGSSLCERT`/`PGSSLKEY`); `None` means libpq's
    /// `~/.postgresql/postgresql.crt|key` defaults, used when those files exist.
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
    pub sslpassword: Option<Secret<Vec<u8>>>,
    pub sslcrl: Option<String>,
    pub sslcrldir: Option<String>,
    /// libpq's default minimum is TLSv1.2; `None` only when set to the empty string.
    pub ssl_min_protocol_version: Option<TlsVersion>,
    pub ssl_max_protocol_version: Option<TlsVersion>,
    pub connect_timeout: Option<Duration>,
    pub target_session_attrs: SessionAttrs,
    /// `options` / `PGOPTIONS`, passed to the server at startup.
    pub options: Option<String>,
    pub application_name: Option<String>,
    /// What `replication` asks for; preflight's driver can open only ordinary
    /// sessions, so the probe says when this is not [`Replication::Off`].
    pub replication: Replication,
    /// `gssencmode=require` (string or `PGGSSENCMODE`): libpq then insists on GSSAPI
    /// encryption, which preflight's driver cannot do, so the probe refuses.
    pub gss_required: bool,
    /// `client_encoding` / `PGCLIENTENCODING` unless empty or libpq's `auto` (exactly
    /// so, in lowercase: libpq turns it into the locale's encoding): the server refuses the connection
    /// when it knows no such encoding, so the probe asks it.
    pub client_encoding: Option<String>,
    /// `requirepeer` / `PGREQUIREPEER` unless empty: over a Unix socket, the OS user
    /// that must own the server process (libpq asks the kernel, `SO_PEERCRED`).
    pub requirepeer: Option<String>,
    /// `channel_binding=require` (string or `PGCHANNELBINDING`): libpq then accepts
    /// only SCRAM with channel binding, which needs TLS.
    pub channel_binding_required: bool,
}

/// Why a connection string cannot be used. The text names positions and kinds only,
/// never any part of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, UrlError> {
    Err(UrlError(s.into()))
}

/// libpq's parsers use C's `isspace` in the "C" locale (Rust's
/// `is_ascii_whitespace` lacks the vertical tab).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// libpq's `conninfo_uri_decode`: `%XX` becomes the byte, a `%` not followed by two
/// hex digits and `%00` are errors, everything else is kept as is. The result is
/// bytes, as in libpq: whether it must be UTF-8 depends on the field.
fn decode(b: &[u8], what: &str) -> Result<Vec<u8>, UrlError> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        match (hex(i + 1), hex(i + 2)) {
            (Some(hi), Some(lo)) => {
                let c = (hi * 16 + lo) as u8;
                if c == 0 {
                    return err(format!("the {what} contains `%00`, which libpq forbids"));
                }
                out.push(c);
                i += 3;
            }
            _ => {
                return err(format!(
                    "the {what} has a `%` not followed by two hex digits (write a literal `%` as `%25`)"
                ))
            }
        }
    }
    Ok(out)
}

/// Why a field preflight needs as text cannot be anything but UTF-8, where libpq
/// would pass the bytes on: said in the error, since libpq accepts the string.
fn why_text(key: &str) -> &'static str {
    match key {
        "user" | "dbname" => "libpq sends the bytes as they are, but role and database names in a UTF8 database are UTF-8, so the server would not find it (and preflight's driver takes names only as text)",
        "host" | "hostaddr" => "host names and addresses are ASCII, and preflight's socket paths are UTF-8",
        "options" => "libpq sends the bytes as they are, but preflight's driver takes `options` only as text, so it cannot pass them on to check them",
        "port" => "ports are digits",
        _ => "preflight opens files only by UTF-8 paths; rename the file or its directory",
    }
}

/// `v` as text for `key`, or an error that names the field and why it must be text.
fn text(v: Vec<u8>, key: &str, place: &str) -> Result<String, UrlError> {
    String::from_utf8(v).map_err(|_| {
        UrlError(format!(
            "{place} is not UTF-8 (after percent-decoding): {}",
            why_text(key)
        ))
    })
}

/// libpq's `pqParseIntParam`: optional whitespace, an optional sign, decimal digits
/// that fit a C `int`, optional whitespace.
fn c_int(s: &str) -> Option<i32> {
    let t = s.trim_matches(|c: char| c.is_ascii() && is_space(c as u8));
    t.parse::<i64>().ok().and_then(|v| i32::try_from(v).ok())
}

/// libpq's `connect_timeout`: negative or 0 means none, and under 2 s counts as 2 s.
pub fn connect_timeout(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs.max(2)))
}

fn parse_connect_timeout(v: &str, what: &str) -> Result<Option<Duration>, UrlError> {
    match c_int(v) {
        Some(n) => Ok(connect_timeout(n.max(0) as u64)),
        None => err(format!("{what} is not a whole number of seconds")),
    }
}

/// Every keyword libpq 15 knows (`PQconninfoOptions` in fe-connect.c, REL_15_STABLE)
/// with its environment variable.
const LIBPQ15: &[(&str, Option<&str>)] = &[
    ("service", Some("PGSERVICE")),
    ("user", Some("PGUSER")),
    ("password", Some("PGPASSWORD")),
    ("passfile", Some("PGPASSFILE")),
    ("channel_binding", Some("PGCHANNELBINDING")),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    ("dbname", Some("PGDATABASE")),
    ("host", Some("PGHOST")),
    ("hostaddr", Some("PGHOSTADDR")),
    ("port", Some("PGPORT")),
    ("client_encoding", Some("PGCLIENTENCODING")),
    ("options", Some("PGOPTIONS")),
    ("application_name", Some("PGAPPNAME")),
    ("fallback_application_name", None),
    ("keepalives", None),
    ("keepalives_idle", None),
    ("keepalives_interval", None),
    ("keepalives_count", None),
    ("tcp_user_timeout", None),
    ("sslmode", Some("PGSSLMODE")),
    ("sslcompression", Some("PGSSLCOMPRESSION")),
    ("sslcert", Some("PGSSLCERT")),
    ("sslkey", Some("PGSSLKEY")),
    ("sslpassword", None),
    ("sslrootcert", Some("PGSSLROOTCERT")),
    ("sslcrl", Some("PGSSLCRL")),
    ("sslcrldir", Some("PGSSLCRLDIR")),
    ("sslsni", Some("PGSSLSNI")),
    ("requirepeer", Some("PGREQUIREPEER")),
    ("ssl_min_protocol_version", Some("PGSSLMINPROTOCOLVERSION")),
    ("ssl_max_protocol_version", Some("PGSSLMAXPROTOCOLVERSION")),
    ("gssencmode", Some("PGGSSENCMODE")),
    ("krbsrvname", Some("PGKRBSRVNAME")),
    ("gsslib", Some("PGGSSLIB")),
    ("replication", None),
    ("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
];

/// Keywords of libpq 16 and later. libpq 15 rejects them, but an app linking a newer
/// libpq (or a driver that ignores them) accepts them, so preflight does too.
const LIBPQ16_PLUS: &[&str] = &[
    "require_auth",
    "sslcertmode",
    "load_balance_hosts",
    "gssdelegation",
    "sslnegotiation",
];

fn canonical(k: &str) -> Option<&'static str> {
    LIBPQ15
        .iter()
        .map(|(k, _)| *k)
        .chain(LIBPQ16_PLUS.iter().copied())
        .find(|w| *w == k)
}

/// A known keyword within two edits of `k`, for typo hints that do not echo input.
fn suggest(k: &str) -> Option<&'static str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != *cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()]
    }
    // Long inputs cannot be within two edits of a keyword; skip the quadratic work.
    if k.len() > 40 {
        return None;
    }
    LIBPQ15
        .iter()
        .map(|(k, _)| *k)
        .filter(|w| dist(k, w) <= 2)
        .min_by_key(|w| dist(k, w))
}

/// Parameters of other drivers and tools that people carry into `DATABASE_URL`, with
/// what libpq wants instead. Naming them echoes nothing: they are our constants.
fn foreign_parameter(k: &str) -> Option<String> {
    let (who, instead) = match k {
        "uselibpqcompat" => (
            "node-postgres",
            "remove it: libpq always has libpq semantics",
        ),
        "ssl" => (
            "node-postgres/JDBC",
            "use `sslmode=require` (or `verify-full`); libpq maps only `ssl=true` in a URI",
        ),
        "sslaccept"
        | "sslidentity"
        | "schema"
        | "connection_limit"
        | "pool_timeout"
        | "pgbouncer"
        | "statement_cache_size"
        | "socket_timeout" => (
            "Prisma",
            "remove it from the URL the app's libpq-compatible driver reads",
        ),
        "sslfactory" | "currentSchema" | "loggerLevel" | "sslrootcertfile" => {
            ("JDBC", "use libpq's `sslmode`/`sslrootcert` instead")
        }
        _ => return None,
    };
    Some(format!(
        "`{k}` is a {who} parameter that libpq rejects; {instead}"
    ))
}

/// Reads a connection string as libpq 15 does.
///
/// Deliberate differences, each stricter than libpq and each a string whose
/// connection libpq would fail or misdirect anyway: a host name that is not
/// plausible (it contains `=`, `&`, `@`, whitespace, `?`, …) is an error here
/// rather than a DNS lookup of part of the password; so is a URI database name
/// containing `@`; leading or trailing whitespace around a URI; an empty or blank
/// string; a numeric `hostaddr` that Rust's `IpAddr` does not read (`127.1`); and
/// a value that is not UTF-8 where preflight needs text (see [`why_text`]; the
/// password and `sslpassword` are bytes, as in libpq). `service` is recorded here and
/// expanded by [`apply_service`], which reads files.
pub fn parse(s: &str) -> Result<ConnParams, UrlError> {
    parse_bytes(s.as_bytes())
}

/// [`parse`] on the bytes of a variable, which need not be UTF-8: libpq reads
/// `getenv`'s bytes, and so does this.
pub fn parse_bytes(s: &[u8]) -> Result<ConnParams, UrlError> {
    let start = s.iter().position(|&b| !is_space(b)).unwrap_or(s.len());
    let lead = &s[start..];
    if lead.is_empty() {
        return err("it is empty");
    }
    if lead.starts_with(b"{") {
        return err("it is a JSON object, not a connection string: an ECS `secrets` entry that names a whole Secrets Manager secret needs `:KEY::` after the ARN to pick one key (for example `…:secret:NAME:url::`)");
    }
    for prefix in [&b"postgresql://"[..], &b"postgres://"[..]] {
        if let Some(rest) = s.strip_prefix(prefix) {
            if rest.last().is_some_and(|&b| is_space(b)) {
                return err("the URI ends in whitespace (a trailing newline?), which libpq keeps as part of the last field");
            }
            return parse_uri(rest);
        }
        if lead.starts_with(prefix) {
            return err(
                "there is whitespace before `postgresql://`, so libpq does not read it as a URI",
            );
        }
    }
    if lead.starts_with(b"jdbc:") {
        return err("it is a JDBC URL: libpq takes it without the `jdbc:` prefix, with `user`/`password` in the user info or query");
    }
    if let Some(i) = find(lead, b"://") {
        let scheme = &lead[..i];
        if !scheme.is_empty()
            && scheme[0].is_ascii_alphabetic()
            && scheme
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || b"+.-".contains(&c))
        {
            return err("the scheme is not `postgresql://` or `postgres://` (libpq takes only these, in lowercase)");
        }
    }
    parse_keywords(s)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// libpq's `conninfo_parse`, byte for byte.
fn parse_keywords(b: &[u8]) -> Result<ConnParams, UrlError> {
    let mut p = ConnParams::default();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        if is_space(b[i]) {
            i += 1;
            continue;
        }
        n += 1;
        let name_start = i;
        let name_end;
        loop {
            if i >= b.len() || b[i] == b'=' {
                name_end = i;
                break;
            }
            if is_space(b[i]) {
                name_end = i;
                while i < b.len() && is_space(b[i]) {
                    i += 1;
                }
                break;
            }
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            let what = if b[name_start..].contains(&b'&') {
                "(parameters are separated by spaces, not `&`)"
            } else {
                "(quote values with spaces: `password='a b'`)"
            };
            return err(format!(
                "the {} parameter has no `=value` {what}",
                ordinal(n)
            ));
        }
        i += 1;
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            loop {
                if i >= b.len() {
                    return err(format!(
                        "the quoted value of the {} parameter is not closed",
                        ordinal(n)
                    ));
                }
                match b[i] {
                    b'\\' => {
                        i += 1;
                        if i < b.len() {
                            value.push(b[i]);
                            i += 1;
                        }
                    }
                    b'\'' => {
                        i += 1;
                        break;
                    }
                    c => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() {
                if is_space(b[i]) {
                    i += 1;
                    break;
                }
                if b[i] == b'\\' {
                    i += 1;
                    if i < b.len() {
                        value.push(b[i]);
                        i += 1;
                    }
                } else {
                    value.push(b[i]);
                    i += 1;
                }
            }
        }
        // A name that is not UTF-8 is no keyword libpq knows either; the lossy form
        // only has to fail the lookup.
        let name = String::from_utf8_lossy(&b[name_start..name_end]).into_owned();
        let place = format!("the {} parameter", ordinal(n));
        set_keyword(&mut p, &name, value, &place, false)?;
    }
    finish(p)
}

/// libpq's `conninfo_uri_parse_options`. `b` is what follows the scheme.
fn parse_uri(b: &[u8]) -> Result<ConnParams, UrlError> {
    let mut p = ConnParams::default();
    // User info ends at the FIRST `@`, and only if it comes before any `/`: an
    // unencoded `@` in a password makes the rest of the password the host.
    let mut i = b
        .iter()
        .position(|&c| c == b'@' || c == b'/')
        .unwrap_or(b.len());
    if i < b.len() && b[i] == b'@' {
        let userinfo = &b[..i];
        let (user, password) = match userinfo.iter().position(|&c| c == b':') {
            Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            p.user = Some(text(decode(user, "user name")?, "user", "the user name")?);
            p.set.insert("user");
        }
        if let Some(pw) = password.filter(|pw| !pw.is_empty()) {
            p.password = Some(Secret::new(decode(pw, "password")?));
            p.set.insert("password");
        }
        i += 1;
    } else {
        i = 0;
    }
    let mut hostbuf = Vec::new();
    let mut portbuf = Vec::new();
    let mut nhost = 0;
    let term;
    loop {
        nhost += 1;
        let host_end;
        if b.get(i) == Some(&b'[') {
            let start = i + 1;
            let close = b[start..].iter().position(|&c| c == b']');
            let Some(close) = close.map(|c| start + c) else {
                return err(format!(
                    "the {} host is an IPv6 address without its closing `]`",
                    ordinal(nhost)
                ));
            };
            if close == start {
                return err(format!(
                    "the {} host is an empty IPv6 address `[]`",
                    ordinal(nhost)
                ));
            }
            hostbuf.extend_from_slice(&b[start..close]);
            i = close + 1;
            if i < b.len() && !matches!(b[i], b':' | b'/' | b'?' | b',') {
                return err(format!(
                    "the {} host has text after its IPv6 address where `:`, `/`, `?` or `,` belongs",
                    ordinal(nhost)
                ));
            }
            host_end = i;
        } else {
            let start = i;
            while i < b.len() && !matches!(b[i], b':' | b'/' | b'?' | b',') {
                i += 1;
            }
            hostbuf.extend_from_slice(&b[start..i]);
            host_end = i;
        }
        let mut t = b.get(host_end).copied();
        if t == Some(b':') {
            let start = host_end + 1;
            i = start;
            while i < b.len() && !matches!(b[i], b'/' | b'?' | b',') {
                i += 1;
            }
            portbuf.extend_from_slice(&b[start..i]);
            t = b.get(i).copied();
        }
        if t != Some(b',') {
            term = t;
            break;
        }
        i += 1;
        hostbuf.push(b',');
        portbuf.push(b',');
    }
    if !hostbuf.is_empty() {
        p.host_list = Some(text(
            decode(&hostbuf, "host list")?,
            "host",
            "the host list",
        )?);
        p.set.insert("host");
    }
    if !portbuf.is_empty() {
        p.port_list = Some(text(
            decode(&portbuf, "port list")?,
            "port",
            "the port list",
        )?);
        p.set.insert("port");
    }
    let mut term = term;
    if term == Some(b'/') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i] != b'?' {
            i += 1;
        }
        let db = &b[start..i];
        if db.contains(&b'@') {
            return err("the database name contains `@`: an unencoded `@` or `/` in the password? percent-encode them as `%40` and `%2F`");
        }
        if !db.is_empty() {
            p.dbname = Some(text(
                decode(db, "database name")?,
                "dbname",
                "the database name",
            )?);
            p.set.insert("dbname");
        }
        term = b.get(i).copied();
    }
    if term == Some(b'?') {
        parse_query(&mut p, &b[i + 1..])?;
    }
    finish(p)
}

/// libpq's `conninfo_uri_parse_params`.
fn parse_query(p: &mut ConnParams, q: &[u8]) -> Result<(), UrlError> {
    let mut rest = q;
    let mut n = 0;
    while !rest.is_empty() {
        n += 1;
        let (pair, next) = match rest.iter().position(|&c| c == b'&') {
            Some(a) => (&rest[..a], &rest[a + 1..]),
            None => (rest, &b""[..]),
        };
        rest = next;
        let place = format!("the {} query parameter", ordinal(n));
        let Some(eq) = pair.iter().position(|&c| c == b'=') else {
            if pair.contains(&b'@') {
                return err(format!("{place} has no `=` and contains `@`: an unencoded `?` and `@` in the password? write them as `%3F` and `%40`"));
            }
            return err(format!("{place} has no `=`"));
        };
        let (k, v) = (&pair[..eq], &pair[eq + 1..]);
        if v.contains(&b'=') {
            return err(format!(
                "{place} has a second `=` (percent-encode `=` in values as `%3D`)"
            ));
        }
        // A name that is not UTF-8 is no keyword; the lossy form only fails the lookup.
        let k = String::from_utf8_lossy(&decode(k, &format!("name of {place}"))?).into_owned();
        let known = canonical(&k).or(if k == "ssl" { Some("ssl") } else { None });
        let what = match known {
            Some(k) => format!("value of `{k}`"),
            None => format!("value of {place}"),
        };
        let v = decode(v, &what)?;
        // libpq's JDBC compatibility: only the exact pair `ssl=true` is mapped.
        if k == "ssl" && v == b"true" {
            set_keyword(p, "sslmode", b"require".to_vec(), &place, true)?;
        } else {
            set_keyword(p, &k, v, &place, true)?;
        }
    }
    Ok(())
}

fn one_of(what: &str, choices: &str) -> UrlError {
    UrlError(format!("{what} is not one of {choices}"))
}

const SSLMODES: &str = "disable|allow|prefer|require|verify-ca|verify-full";

fn parse_sslmode(v: &str, what: &str) -> Result<SslMode, UrlError> {
    if v == "no-verify" {
        return err(format!("{what} is `no-verify`, node-postgres syntax that libpq rejects; libpq's equivalent is `sslmode=require` (encrypted, certificate not checked)"));
    }
    SslMode::parse(v).ok_or_else(|| one_of(what, SSLMODES))
}

fn parse_tls(v: &str, what: &str) -> Result<Option<TlsVersion>, UrlError> {
    if v.is_empty() {
        return Ok(None);
    }
    TlsVersion::parse(v)
        .map(Some)
        .ok_or_else(|| one_of(what, "TLSv1|TLSv1.1|TLSv1.2|TLSv1.3"))
}

fn parse_session_attrs(v: &str, what: &str) -> Result<SessionAttrs, UrlError> {
    SessionAttrs::parse(v).ok_or_else(|| {
        one_of(
            what,
            "any|read-write|read-only|primary|standby|prefer-standby",
        )
    })
}

fn check_choice(v: &str, what: &str, choices: &[&str]) -> Result<(), UrlError> {
    if choices.contains(&v) {
        Ok(())
    } else {
        Err(one_of(what, &choices.join("|")))
    }
}

fn set_keyword(
    p: &mut ConnParams,
    k: &str,
    v: Vec<u8>,
    place: &str,
    in_uri: bool,
) -> Result<(), UrlError> {
    // libpq's backwards compatibility: `requiressl=1…` is `sslmode=require`, anything
    // else `sslmode=prefer`.
    let (k, v) = if k == "requiressl" {
        let mode = if v.starts_with(b"1") {
            "require"
        } else {
            "prefer"
        };
        ("sslmode", mode.as_bytes().to_vec())
    } else {
        (k, v)
    };
    let Some(key) = canonical(k) else {
        if let Some(msg) = foreign_parameter(k) {
            return err(msg);
        }
        let kind = if in_uri { "query parameter" } else { "keyword" };
        return err(match suggest(k) {
            Some(s) => format!("{place} is not a {kind} libpq knows (did you mean `{s}`?)"),
            None => format!("{place} is not a {kind} libpq knows"),
        });
    };
    p.set.insert(key);
    let what = format!("the value of `{key}`");
    // Secrets stay bytes, as libpq sends them.
    match key {
        "password" => {
            p.password = Some(Secret::new(v));
            return Ok(());
        }
        "sslpassword" => {
            p.sslpassword = Some(Secret::new(v));
            return Ok(());
        }
        "replication" => {
            p.replication = Some(Replication::parse(&v).ok_or_else(|| {
                UrlError(format!("{what} is not one the server accepts (`database`, or a boolean: `true`/`on`/`yes`/`1`, `false`/`off`/`no`/`0`): libpq sends it as it is and the server refuses the connection"))
            })?);
            return Ok(());
        }
        _ => {}
    }
    // Values checked against a fixed set, and values whose exact bytes decide
    // nothing here (the server turns non-ASCII in `application_name` into `?`), are
    // read leniently: anything not UTF-8 fails the set's check as it does in libpq.
    // The rest must be text, and saying why is part of the error.
    let lenient = !matches!(
        key,
        "host"
            | "hostaddr"
            | "port"
            | "user"
            | "dbname"
            | "options"
            | "sslrootcert"
            | "passfile"
            | "sslcert"
            | "sslkey"
            | "sslcrl"
            | "sslcrldir"
    );
    let v = if lenient {
        String::from_utf8_lossy(&v).into_owned()
    } else {
        text(v, key, &what)?
    };
    match key {
        "host" => p.host_list = Some(v),
        "hostaddr" => p.hostaddr_list = Some(v),
        "port" => p.port_list = Some(v),
        "user" => p.user = Some(v),
        "dbname" => p.dbname = Some(v),
        "sslmode" => p.sslmode = Some(parse_sslmode(&v, &what)?),
        "sslrootcert" => p.sslrootcert = Some(v),
        "connect_timeout" => p.connect_timeout = parse_connect_timeout(&v, &what)?,
        "application_name" => p.application_name = Some(v),
        "options" => p.options = Some(v),
        "passfile" => p.passfile = Some(v),
        "sslcert" => p.sslcert = Some(v),
        "sslkey" => p.sslkey = Some(v),
        "sslcrl" => p.sslcrl = Some(v),
        "sslcrldir" => p.sslcrldir = Some(v),
        "ssl_min_protocol_version" => p.ssl_min_protocol_version = parse_tls(&v, &what)?,
        "ssl_max_protocol_version" => p.ssl_max_protocol_version = parse_tls(&v, &what)?,
        "target_session_attrs" => p.target_session_attrs = Some(parse_session_attrs(&v, &what)?),
        "channel_binding" => {
            check_choice(&v, &what, &["disable", "prefer", "require"])?;
            p.channel_binding = Some(v);
        }
        "gssencmode" => {
            check_choice(&v, &what, &["disable", "prefer", "require"])?;
            p.gssencmode = Some(v);
        }
        "client_encoding" => p.client_encoding = Some(v),
        "service" => p.service = Some(v),
        "requirepeer" => p.requirepeer = Some(v),
        // libpq 15 reads these as integers when it opens the socket and fails the
        // connection on anything else.
        "keepalives"
        | "keepalives_idle"
        | "keepalives_interval"
        | "keepalives_count"
        | "tcp_user_timeout"
            if c_int(&v).is_none() =>
        {
            return err(format!("{what} is not an integer"));
        }
        // Accepted by libpq; nothing preflight checks depends on them. The libpq 16+
        // keywords among them (`require_auth`, `sslnegotiation`,
        // `load_balance_hosts`, …) are accepted on purpose and not acted on.
        _ => {}
    }
    Ok(())
}

/// Checks what the string alone decides and fills [`ConnParams::hosts`].
fn finish(mut p: ConnParams) -> Result<ConnParams, UrlError> {
    if let Some(mode) = p.sslmode {
        if p.sslrootcert.as_deref() == Some("system") && mode != SslMode::VerifyFull {
            return Err(weak_system(mode, "the connection string"));
        }
    }
    if let (Some(min), Some(max)) = (p.ssl_min_protocol_version, p.ssl_max_protocol_version) {
        if min > max {
            return Err(inverted(min, max));
        }
    }
    let src = Sources {
        host: "",
        hostaddr: "",
        port: "",
    };
    // Only a `hostaddr` in the string fixes the number of hosts: otherwise `PGHOSTADDR`
    // may still decide it, so list lengths are checked by `resolve`.
    p.hosts = if p.hostaddr_list.as_deref().is_some_and(|s| !s.is_empty()) {
        build_hosts(
            p.host_list.as_deref(),
            p.hostaddr_list.as_deref(),
            p.port_list.as_deref(),
            &src,
            0,
            "",
        )?
        .0
    } else {
        lenient_hosts(&p, &src)?
    };
    Ok(p)
}

fn weak_system(mode: SslMode, from: &str) -> UrlError {
    UrlError(format!(
        "`sslmode={}` from {from} is weaker than `sslrootcert=system` allows: libpq 16 and later refuse it (use `sslmode=verify-full`)",
        mode.as_str()
    ))
}

fn inverted(min: TlsVersion, max: TlsVersion) -> UrlError {
    UrlError(format!(
        "the TLS version range is inverted: `ssl_min_protocol_version` `{}` is above `ssl_max_protocol_version` `{}`",
        min.as_str(),
        max.as_str()
    ))
}

/// Where each list came from, for messages (`""` = the connection string).
struct Sources<'a> {
    host: &'a str,
    hostaddr: &'a str,
    port: &'a str,
}

fn in_source(src: &str) -> String {
    if src.is_empty() {
        String::new()
    } else {
        format!(" in `{src}`")
    }
}

/// The string's hosts with ports paired leniently, for a view of the string alone.
fn lenient_hosts(p: &ConnParams, src: &Sources) -> Result<Vec<Host>, UrlError> {
    let names: Vec<&str> = match p.host_list.as_deref() {
        Some(h) if !h.is_empty() => h.split(',').collect(),
        _ => vec![],
    };
    for (i, n) in names.iter().enumerate() {
        check_host_name(n, i, names.len(), src.host)?;
    }
    let ports = match p.port_list.as_deref() {
        Some(s) if !s.is_empty() => s
            .split(',')
            .enumerate()
            .map(|(i, x)| parse_port(x, i, src.port))
            .collect::<Result<Vec<_>, _>>()?,
        _ => vec![],
    };
    let n = names.len().max(ports.len());
    Ok((0..n)
        .map(|i| Host {
            name: names.get(i).map(|s| s.to_string()).unwrap_or_default(),
            hostaddr: None,
            port: match ports.len() {
                1 => ports[0],
                _ => ports.get(i).copied().unwrap_or(0),
            },
        })
        .collect())
}

/// `port` elements: empty means libpq's default (0 here, 5432 once resolved).
fn parse_port(s: &str, i: usize, src: &str) -> Result<u16, UrlError> {
    if s.is_empty() {
        return Ok(0);
    }
    if s.contains('@') {
        return err(format!(
            "the {} port{} contains `@`: an unencoded `@` in the password? write it as `%40`",
            ordinal(i + 1),
            in_source(src)
        ));
    }
    match c_int(s) {
        Some(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => err(format!(
            "the {} port{} is not a number from 1 to 65535",
            ordinal(i + 1),
            in_source(src)
        )),
    }
}

/// libpq hands any host string to `getaddrinfo`; preflight first insists it could be
/// a host name, an IP address or a socket directory, so that a password fragment or
/// a whole `&`-joined string is reported as a parse error, never printed as a host.
fn check_host_name(h: &str, i: usize, n: usize, src: &str) -> Result<(), UrlError> {
    if h.is_empty() {
        return Ok(());
    }
    let which = if n == 1 {
        format!("the host name{}", in_source(src))
    } else {
        format!("the {} host name{}", ordinal(i + 1), in_source(src))
    };
    let socket = h.starts_with('/');
    let bad = h.chars().find(|&c| {
        if socket {
            c.is_control() || c.is_whitespace() || "=&@?".contains(c)
        } else {
            !(c.is_ascii_alphanumeric() || "-._:%".contains(c))
        }
    });
    let Some(c) = bad else {
        return Ok(());
    };
    let (kind, advice) = match c {
        '=' | '&' => (
            format!("`{c}`"),
            "a keyword string joined with `&`? separate `key=value` pairs with spaces, or use a `postgresql://` URI",
        ),
        '@' => ("`@`".into(), "an unencoded `@` in the password? write it as `%40`"),
        '/' => ("`/`".into(), "an unencoded `/` in the password? write it as `%2F`"),
        '?' | '#' | ',' | ';' | '\'' | '"' | '\\' => (format!("`{c}`"), "host names are letters, digits, `-` and `.`"),
        c if c.is_whitespace() => (
            "whitespace".into(),
            "a stray space or newline? remove it",
        ),
        c if c.is_control() => ("a control character".into(), "remove it"),
        c if !c.is_ascii() => (
            "a non-ASCII character".into(),
            "use the punycode form of an internationalised name",
        ),
        _ => (
            "a character host names do not have".into(),
            "host names are letters, digits, `-` and `.`",
        ),
    };
    err(format!("{which} contains {kind}: {advice}"))
}

fn check_hostaddr(a: &str, i: usize, n: usize, src: &str) -> Result<(), UrlError> {
    if a.is_empty() {
        return Ok(());
    }
    // An IPv6 zone (`fe80::1%eth0`) is fine for getaddrinfo.
    let ip = a.split_once('%').map(|(ip, _)| ip).unwrap_or(a);
    if ip.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let which = if n == 1 {
        format!("`hostaddr`{}", in_source(src))
    } else {
        format!("the {} `hostaddr`{}", ordinal(i + 1), in_source(src))
    };
    err(format!(
        "{which} is not a numeric IP address: `hostaddr` takes an address, a name goes in `host`"
    ))
}

/// libpq's `pqConnectOptions2` host, hostaddr and port pairing. Unset names become
/// `default_host`; unset ports become `default_port` (0 in the string-only view).
fn build_hosts(
    host: Option<&str>,
    hostaddr: Option<&str>,
    port: Option<&str>,
    src: &Sources,
    default_port: u16,
    default_host: &str,
) -> Result<(Vec<Host>, bool), UrlError> {
    let addrs: Option<Vec<&str>> = hostaddr
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').collect());
    let names: Option<Vec<&str>> = host
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').collect());
    let n = addrs
        .as_ref()
        .or(names.as_ref())
        .map(|v| v.len())
        .unwrap_or(1);
    if let (Some(a), Some(h)) = (&addrs, &names) {
        if a.len() != h.len() {
            return err(format!(
                "there are {} host names{} but {} `hostaddr` values{}: libpq needs one of each per host",
                h.len(),
                in_source(src.host),
                a.len(),
                in_source(src.hostaddr)
            ));
        }
    }
    let ports: Vec<u16> = match port.filter(|s| !s.is_empty()) {
        None => vec![default_port; n],
        Some(s) => {
            let v = s
                .split(',')
                .enumerate()
                .map(|(i, x)| parse_port(x, i, src.port))
                .collect::<Result<Vec<_>, _>>()?;
            if v.len() == 1 {
                vec![v[0]; n]
            } else if v.len() != n {
                return err(format!(
                    "there are {} ports{} for {n} hosts: give one port for all hosts or one per host",
                    v.len(),
                    in_source(src.port)
                ));
            } else {
                v
            }
        }
    };
    let mut out = Vec::with_capacity(n);
    let mut defaulted = false;
    for (i, &p) in ports.iter().enumerate() {
        let addr = addrs.as_ref().map(|a| a[i]).filter(|a| !a.is_empty());
        let name = names.as_ref().map(|h| h[i]).unwrap_or("");
        check_host_name(name, i, n, src.host)?;
        if let Some(a) = addr {
            check_hostaddr(a, i, n, src.hostaddr)?;
        }
        let default = name.is_empty() && addr.is_none();
        defaulted |= default;
        out.push(Host {
            name: if default {
                default_host.to_string()
            } else {
                name.to_string()
            },
            hostaddr: addr.map(String::from),
            port: if p == 0 { default_port } else { p },
        });
    }
    Ok((out, defaulted))
}

/// Where libpq connects when neither the string nor `PGHOST`/`PGHOSTADDR` names a
/// host: its compiled-in Unix-socket directory, Debian's and Ubuntu's
/// (`DEFAULT_PGSOCKET_DIR`; upstream builds use `/tmp`). node-postgres would use
/// `localhost` over TCP instead, which the probe says in a note.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";
const DEFAULT_PORT: u16 = 5432;

/// Debian's libpq looks for `pg_service.conf` here when `PGSYSCONFDIR` is unset.
pub const DEFAULT_SYSCONFDIR: &str = "/etc/postgresql-common";

/// How [`apply_service`] reads a service file: `Ok(None)` when there is none at
/// that path, `Err(why)` when it cannot be used (not a regular file, too large).
pub type ReadServiceFile<'a> = &'a dyn Fn(&str) -> Result<Option<Vec<u8>>, String>;

/// libpq 15's service step (`parseServiceInfo`): with `service` in the string (or
/// `PGSERVICE`), the named `[section]` of `PGSERVICEFILE` (which must exist when
/// set), else `~/.pg_service.conf`, else `PGSYSCONFDIR/pg_service.conf`, supplies
/// the keywords the string left unset, ahead of the environment. A service found
/// nowhere, a line without `=`, a keyword libpq does not know (exactly spelled, no
/// spaces around `=`) and a nested `service` are errors, as in libpq. Errors name
/// the file and line, never a value or the service's name.
pub fn apply_service(
    mut p: ConnParams,
    env: &Env,
    home: Option<&str>,
    read: ReadServiceFile,
) -> Result<ConnParams, UrlError> {
    let name = match p.service.clone() {
        Some(n) => n.into_bytes(),
        None => match env.raw("PGSERVICE") {
            Some(v) => v.expose().clone().into_bytes(),
            None => return Ok(p),
        },
    };
    let mut files: Vec<(String, bool)> = Vec::new();
    match env.raw("PGSERVICEFILE") {
        Some(f) => files.push((f.expose().clone(), true)),
        None => {
            if let Some(h) = home.filter(|h| !h.is_empty()) {
                files.push((format!("{h}/.pg_service.conf"), false));
            }
        }
    }
    let sysconf = env
        .raw("PGSYSCONFDIR")
        .map(|v| v.expose().clone())
        .unwrap_or_else(|| DEFAULT_SYSCONFDIR.to_string());
    files.push((format!("{sysconf}/pg_service.conf"), false));
    // libpq reads the system file only when the user's file does not define the
    // service.
    for (path, must_exist) in &files {
        let bytes = match read(path) {
            Ok(Some(b)) => b,
            Ok(None) if *must_exist => {
                return err(format!(
                    "`PGSERVICEFILE` names `{path}`, which does not exist (libpq fails here)"
                ))
            }
            Ok(None) => continue,
            Err(why) => return err(format!("the service file `{path}` cannot be used: {why}")),
        };
        if service_section(&mut p, &bytes, &name, path)? {
            return Ok(p);
        }
    }
    err("`service` (or `PGSERVICE`) names a service that no service file defines (libpq: `definition of service … not found`)")
}

/// Applies the `[name]` section of one service file; `Ok(false)` when the file has
/// no such section.
fn service_section(
    p: &mut ConnParams,
    file: &[u8],
    name: &[u8],
    path: &str,
) -> Result<bool, UrlError> {
    let mut in_group = false;
    let mut found = false;
    for (n, raw) in file.split(|&b| b == b'\n').enumerate() {
        let line_no = n + 1;
        let mut line = raw;
        while line.last().is_some_and(|b| b.is_ascii_whitespace()) {
            line = &line[..line.len() - 1];
        }
        while line.first().is_some_and(|b| b.is_ascii_whitespace()) {
            line = &line[1..];
        }
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        if line[0] == b'[' {
            if in_group {
                break;
            }
            // libpq compares the name's bytes and wants `]` right after them.
            in_group = line.len() > name.len() + 1
                && &line[1..=name.len()] == name
                && line[name.len() + 1] == b']';
            found |= in_group;
            continue;
        }
        if !in_group {
            continue;
        }
        let at = format!("service file `{path}`, line {line_no}");
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            return err(format!(
                "{at} has no `=` (libpq: syntax error in service file)"
            ));
        };
        let (key, value) = (&line[..eq], &line[eq + 1..]);
        if key == b"service" {
            return err(format!(
                "{at} names another service; libpq does not support nested service specifications"
            ));
        }
        let key = std::str::from_utf8(key).ok().and_then(|k| {
            LIBPQ15
                .iter()
                .map(|(k, _)| *k)
                .chain(LIBPQ16_PLUS.iter().copied())
                .find(|known| *known == k)
        });
        let Some(key) = key else {
            return err(format!("{at} sets a keyword libpq does not know, spelled exactly and without spaces around `=` (libpq: syntax error in service file)"));
        };
        let canon = canonical(key).unwrap_or(key);
        if p.set.contains(canon) {
            continue;
        }
        set_keyword(p, key, value.to_vec(), &at, false)
            .map_err(|e| UrlError(format!("{at}: {e}")))?;
    }
    Ok(found)
}

/// libpq's `conninfo_add_defaults` and `pqConnectOptions2`: the environment fills
/// every keyword the string did not set, then libpq's defaults (the OS user
/// `os_user`, the socket directory) fill the rest, and the combined values are
/// checked.
pub fn resolve(p: ConnParams, env: &Env, os_user: &OsUser) -> Result<Target, UrlError> {
    let set = |k: &str| p.set.contains(k);
    // An environment variable, when the string did not set its keyword. libpq takes
    // a variable that is set but empty as the empty value, which some keywords
    // reject (`PGSSLMODE=` is an error in psql), so empty values are kept here.
    let from_env = |k: &str, var: &str| -> Option<String> {
        (!set(k))
            .then(|| env.raw(var).map(|v| v.expose().clone()))
            .flatten()
    };
    let rootcert = p
        .sslrootcert
        .clone()
        .or_else(|| from_env("sslrootcert", "PGSSLROOTCERT"));
    let system = rootcert.as_deref() == Some("system");
    let (sslmode, sslmode_from) = if let Some(m) = p.sslmode {
        (m, "from DATABASE_URL")
    } else if let Some(v) = from_env("sslmode", "PGSSLMODE") {
        (parse_sslmode(&v, "`PGSSLMODE`")?, "from PGSSLMODE")
    } else if from_env("sslmode", "PGREQUIRESSL").is_some_and(|v| v.starts_with('1')) {
        (SslMode::Require, "from PGREQUIRESSL")
    } else if system {
        (
            SslMode::VerifyFull,
            "default for sslrootcert=system (libpq 16+)",
        )
    } else if env.is_production() {
        (SslMode::VerifyFull, "default for NODE_ENV=production")
    } else {
        (SslMode::Prefer, "libpq's default")
    };
    if system && sslmode != SslMode::VerifyFull {
        let from = if p.sslmode.is_some() {
            "the connection string"
        } else {
            "the environment"
        };
        return Err(weak_system(sslmode, from));
    }
    let connect_timeout = match from_env("connect_timeout", "PGCONNECT_TIMEOUT") {
        Some(v) => parse_connect_timeout(&v, "`PGCONNECT_TIMEOUT`")?,
        None => p.connect_timeout,
    };
    let tls = |k: &str, var: &str, given: Option<TlsVersion>, default: Option<TlsVersion>| {
        if set(k) {
            Ok(given)
        } else {
            match from_env(k, var) {
                Some(v) => parse_tls(&v, &format!("`{var}`")),
                None => Ok(default),
            }
        }
    };
    let ssl_min = tls(
        "ssl_min_protocol_version",
        "PGSSLMINPROTOCOLVERSION",
        p.ssl_min_protocol_version,
        Some(TlsVersion::Tls1_2),
    )?;
    let ssl_max = tls(
        "ssl_max_protocol_version",
        "PGSSLMAXPROTOCOLVERSION",
        p.ssl_max_protocol_version,
        None,
    )?;
    if let (Some(min), Some(max)) = (ssl_min, ssl_max) {
        if min > max {
            return Err(inverted(min, max));
        }
    }
    let target_session_attrs = match (
        p.target_session_attrs,
        from_env("target_session_attrs", "PGTARGETSESSIONATTRS"),
    ) {
        (Some(a), _) => a,
        (None, Some(v)) => parse_session_attrs(&v, "`PGTARGETSESSIONATTRS`")?,
        (None, None) => SessionAttrs::Any,
    };
    for (k, var) in [
        ("channel_binding", "PGCHANNELBINDING"),
        ("gssencmode", "PGGSSENCMODE"),
    ] {
        if let Some(v) = from_env(k, var) {
            check_choice(&v, &format!("`{var}`"), &["disable", "prefer", "require"])?;
        }
    }
    let gss_required = p
        .gssencmode
        .clone()
        .or_else(|| from_env("gssencmode", "PGGSSENCMODE"))
        .is_some_and(|v| v == "require");
    let host_env = from_env("host", "PGHOST");
    let addr_env = from_env("hostaddr", "PGHOSTADDR");
    let port_env = from_env("port", "PGPORT");
    let src = Sources {
        host: if set("host") { "" } else { "PGHOST" },
        hostaddr: if set("hostaddr") { "" } else { "PGHOSTADDR" },
        port: if set("port") { "" } else { "PGPORT" },
    };
    let (hosts, host_defaulted) = build_hosts(
        p.host_list.as_deref().or(host_env.as_deref()),
        p.hostaddr_list.as_deref().or(addr_env.as_deref()),
        p.port_list.as_deref().or(port_env.as_deref()),
        &src,
        DEFAULT_PORT,
        DEFAULT_SOCKET_DIR,
    )?;
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let named_user = nonempty(p.user.clone().or_else(|| from_env("user", "PGUSER")));
    let user_defaulted = named_user.is_none();
    let user = match named_user {
        Some(u) => u,
        // libpq 15 (`pg_fe_getauthname`) fails the connection when the effective
        // user ID has no name, as in a container run with a numeric `--user`.
        None => os_user.name.clone().ok_or_else(|| {
            UrlError(format!(
                "no user is named (`DATABASE_URL` or `PGUSER`), and libpq's default, the OS user, cannot be used: local user with ID {} does not exist (libpq fails here too)",
                os_user.uid
            ))
        })?,
    };
    let dbname = nonempty(
        p.dbname
            .clone()
            .or_else(|| from_env("dbname", "PGDATABASE")),
    )
    .unwrap_or_else(|| user.clone());
    let password = match p.password {
        Some(pw) => Some(pw),
        None if !set("password") => env.bytes("PGPASSWORD"),
        None => None,
    }
    .filter(|pw| !pw.expose().is_empty());
    let or_env = |v: Option<String>, k: &str, var: &str| nonempty(v.or_else(|| from_env(k, var)));
    Ok(Target {
        hosts,
        host_defaulted,
        user,
        user_defaulted,
        dbname,
        password,
        passfile: or_env(p.passfile, "passfile", "PGPASSFILE"),
        sslmode,
        sslmode_from,
        rootcert: nonempty(rootcert),
        sslcert: or_env(p.sslcert, "sslcert", "PGSSLCERT"),
        sslkey: or_env(p.sslkey, "sslkey", "PGSSLKEY"),
        sslpassword: p.sslpassword.filter(|pw| !pw.expose().is_empty()),
        sslcrl: or_env(p.sslcrl, "sslcrl", "PGSSLCRL"),
        sslcrldir: or_env(p.sslcrldir, "sslcrldir", "PGSSLCRLDIR"),
        ssl_min_protocol_version: ssl_min,
        ssl_max_protocol_version: ssl_max,
        connect_timeout,
        target_session_attrs,
        options: or_env(p.options, "options", "PGOPTIONS"),
        application_name: or_env(p.application_name, "application_name", "PGAPPNAME"),
        replication: p.replication.unwrap_or_default(),
        gss_required,
        client_encoding: or_env(p.client_encoding, "client_encoding", "PGCLIENTENCODING")
            .filter(|e| e != "auto"),
        requirepeer: or_env(p.requirepeer, "requirepeer", "PGREQUIREPEER"),
        channel_binding_required: p
            .channel_binding
            .or_else(|| from_env("channel_binding", "PGCHANNELBINDING"))
            .is_some_and(|v| v == "require"),
    })
}

/// Characters no message of this module contains: a `password=` value with one of
/// them can only show up in a message by being echoed, so the fuzz oracle checks
/// those values and leaves out ones that could be fixed text (`TLSv1.3`, `%2F`).
const NEVER_IN_MESSAGES: &[char] = &['!', '$', '^', '~', '*', '<', '>'];

const FUZZ_CANARY: &str = "Xq9ZkW2v";

/// The fuzz target's body, also run on the stored corpus by `cargo test`: builds a
/// connection string (and environment) around a password canary from `data`, parses
/// and resolves it, and panics if anything panics or an error shows the canary or
/// any `password=` value.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    const CANARY: &str = FUZZ_CANARY;
    let (sel, raw_tail) = match data.split_first() {
        Some((s, t)) => (*s, t),
        None => (0, &[][..]),
    };
    check_service_file(raw_tail);
    let tail = String::from_utf8_lossy(raw_tail).into_owned();
    let c = CANARY;
    let mut env: Vec<(String, String)> = vec![("PGPASSWORD".into(), c.into())];
    let os_user = OsUser::named("fuzzuser");
    // Bytes as the environment may hold them (not UTF-8), percent-decoded
    // passwords that are not UTF-8, and the OS user lookup failing.
    match sel % 16 {
        12 => {
            let mut input = format!("postgresql://u:{c}@h/db?").into_bytes();
            input.extend_from_slice(raw_tail);
            return check_bytes(&input, &Env::from_pairs(env), &os_user);
        }
        13 => {
            let mut input = format!("host=h password={c} ").into_bytes();
            input.extend_from_slice(raw_tail);
            let env = Env::from_byte_pairs([("PGPASSWORD".to_string(), raw_tail.to_vec())]);
            return check_bytes(&input, &env, &os_user);
        }
        14 => {
            let hex: String = raw_tail.iter().map(|b| format!("%{b:02X}")).collect();
            let input = format!("postgresql://{hex}:{c}{hex}@/{hex}?{tail}");
            return check_bytes(input.as_bytes(), &Env::from_pairs(env), &os_user);
        }
        15 => {
            let nobody = OsUser {
                uid: 4242,
                name: None,
            };
            let input = format!("postgresql://:{c}@h/db?{tail}");
            return check_bytes(input.as_bytes(), &Env::from_pairs(env), &nobody);
        }
        _ => {}
    }
    let input = match sel % 12 {
        0 => format!("postgresql://u:{c}{tail}"),
        1 => format!("postgresql://u:{tail}{c}@h/db"),
        2 => format!("postgresql://{tail}&password={c}"),
        3 => format!("postgres://{tail}?password={c}"),
        4 => format!("host=h password={c}{tail}"),
        5 => format!("{tail} password='{c}'"),
        6 => format!("password={c} {tail}"),
        7 => format!("host=h&user=u&password={c}{tail}"),
        8 => {
            // Every environment variable resolve() reads gets the canary too.
            for var in [
                "PGHOST",
                "PGHOSTADDR",
                "PGPORT",
                "PGSSLMODE",
                "PGCONNECT_TIMEOUT",
                "PGSSLMINPROTOCOLVERSION",
                "PGTARGETSESSIONATTRS",
                "PGCHANNELBINDING",
            ] {
                env.push((var.into(), format!("{tail}{c}")));
            }
            format!("postgresql://u:{c}@/db")
        }
        9 => {
            let var = [
                "PGHOST",
                "PGPORT",
                "PGSSLMODE",
                "PGCONNECT_TIMEOUT",
                "PGSSLMAXPROTOCOLVERSION",
            ][usize::from(sel / 12) % 5];
            env.push((var.into(), format!("{c}{tail}")));
            format!("host=h password={c}")
        }
        10 => format!("postgresql://u:{c}@{tail}"),
        _ => tail.clone(),
    };
    check_bytes(input.as_bytes(), &Env::from_pairs(env), &os_user);
}

/// The bytes as a service file for `service=s`: its `[s]` section is applied to a
/// string that holds the canary, and no error may show the canary or a
/// `password=` value of the file.
fn check_service_file(file: &[u8]) {
    let input = format!("service=s password={FUZZ_CANARY}");
    let env = Env::from_pairs([("PGSERVICEFILE".to_string(), "/f".to_string())]);
    let read =
        |p: &str| -> Result<Option<Vec<u8>>, String> { Ok((p == "/f").then(|| file.to_vec())) };
    let outcome = parse(&input)
        .and_then(|p| apply_service(p, &env, None, &read))
        .and_then(|p| resolve(p, &env, &OsUser::named("fuzzuser")));
    let Err(e) = outcome else { return };
    let shown = format!("{e} {e:?}");
    assert_not_shown(&input, FUZZ_CANARY, &shown);
    assert_not_shown(&String::from_utf8_lossy(file), FUZZ_CANARY, &shown);
}

/// Parses and resolves `input`; panics if an error shows the canary or a password.
fn check_bytes(input: &[u8], env: &Env, os_user: &OsUser) {
    let outcome = parse_bytes(input).and_then(|p| resolve(p, env, os_user));
    let Err(e) = outcome else { return };
    let input = String::from_utf8_lossy(input);
    assert_not_shown(&input, FUZZ_CANARY, &format!("{e} {e:?}"));
}

/// The fuzz oracle: no 4-byte piece of `canary`, and no `password=` value that
/// could not be fixed text, appears in `shown`.
fn assert_not_shown(input: &str, canary: &str, shown: &str) {
    for w in canary.as_bytes().windows(4) {
        let w = std::str::from_utf8(w).unwrap_or_default();
        assert!(
            !shown.contains(w),
            "canary piece leaked for {input:?}: {shown}"
        );
    }
    for v in password_values(input) {
        if v.chars().count() >= 4 && v.contains(NEVER_IN_MESSAGES) {
            assert!(
                !shown.contains(&v),
                "password leaked for {input:?}: {shown}"
            );
        }
    }
}

/// Every `password=` value and URI password in `s`, roughly as a human reads them.
fn password_values(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("password=") {
        rest = &rest[i + "password=".len()..];
        let v = rest.trim_start_matches('\'');
        let end = v.find([' ', '&', '\'', '\t', '\n']).unwrap_or(v.len());
        out.push(v[..end].to_string());
    }
    if let Some(after) = s.split_once("://").map(|(_, a)| a) {
        if let Some((ui, _)) = after.split_once('@') {
            if let Some((_, pw)) = ui.split_once(':') {
                out.push(pw.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn target(s: &str, pairs: &[(&str, &str)]) -> Result<Target, UrlError> {
        parse(s).and_then(|p| resolve(p, &env(pairs), &OsUser::named("osuser")))
    }

    fn hp(t: &Target) -> Vec<(String, Option<String>, u16)> {
        t.hosts
            .iter()
            .map(|h| (h.name.clone(), h.hostaddr.clone(), h.port))
            .collect()
    }

    fn h(name: &str, port: u16) -> (String, Option<String>, u16) {
        (name.into(), None, port)
    }

    #[test]
    fn uri_form() {
        let p = parse("postgresql://app:p%40ss:w@db.example.com:6432/scalemap?sslmode=verify-full&sslrootcert=/certs/rds.pem&connect_timeout=7").unwrap();
        assert_eq!(p.user.as_deref(), Some("app"));
        assert_eq!(p.password.as_ref().unwrap().expose(), b"p@ss:w");
        assert_eq!(
            p.hosts,
            vec![Host {
                name: "db.example.com".into(),
                hostaddr: None,
                port: 6432
            }]
        );
        assert_eq!(p.dbname.as_deref(), Some("scalemap"));
        assert_eq!(p.sslmode, Some(SslMode::VerifyFull));
        assert_eq!(p.sslrootcert.as_deref(), Some("/certs/rds.pem"));
        assert_eq!(p.connect_timeout, Some(Duration::from_secs(7)));
        let p = parse("postgres://[::1]:5433,h2/db").unwrap();
        assert_eq!(
            p.hosts,
            vec![
                Host {
                    name: "::1".into(),
                    hostaddr: None,
                    port: 5433
                },
                Host {
                    name: "h2".into(),
                    hostaddr: None,
                    port: 0
                }
            ]
        );
        let p = parse("postgresql:///db?host=/var/run/postgresql").unwrap();
        assert_eq!(p.hosts[0].name, "/var/run/postgresql");
    }

    #[test]
    fn uri_user_info_ends_at_the_first_at_sign_before_any_slash_as_in_libpq() {
        // `?` and `#` do not end the user info in libpq: only `@` and `/` do.
        let p = parse("postgres://u:pa?ss#w@h/db").unwrap();
        assert_eq!(p.password.unwrap().expose(), b"pa?ss#w");
        assert_eq!(p.hosts[0].name, "h");
        // The first `@` ends it, so the rest of an unencoded password is the host.
        let e = parse("postgres://u:pa@ss@h/db").unwrap_err();
        assert!(e.0.contains("host name contains `@`"), "{e}");
        // A `/` ends the authority first: the password's tail lands in the db name.
        let e = parse("postgres://u:pa/ss@h/db").unwrap_err();
        assert!(e.0.contains("database name contains `@`"), "{e}");
        let e = parse("postgres://u:p@ss/word@h/db").unwrap_err();
        assert!(e.0.contains("database name contains `@`"), "{e}");
        let e = parse("postgres://u:p@ss:word@h/db").unwrap_err();
        assert!(e.0.contains("port contains `@`"), "{e}");
        let e = parse("postgres://u:p@ss?word@h/db").unwrap_err();
        assert!(e.0.contains("`%3F` and `%40`"), "{e}");
    }

    #[test]
    fn keyword_form() {
        let p =
            parse("host=db port=5432 dbname=x user=u password='a \\'b' sslmode=verify-ca").unwrap();
        assert_eq!(p.password.unwrap().expose(), b"a 'b");
        assert_eq!(p.sslmode, Some(SslMode::VerifyCa));
        assert_eq!(
            p.hosts,
            vec![Host {
                name: "db".into(),
                hostaddr: None,
                port: 5432
            }]
        );
        // Spaces around `=`, backslash escapes outside quotes, every libpq 15 keyword.
        let p = parse("host = db password=a\\ b sslcrldir=/crl gsslib=gssapi sslsni=1 requirepeer=pg krbsrvname=x replication=database sslcompression=0 keepalives=1 keepalives_idle=30 tcp_user_timeout=0 client_encoding=UTF8 fallback_application_name=x service=s channel_binding=prefer gssencmode=disable").unwrap();
        assert_eq!(p.password.unwrap().expose(), b"a b");
        assert_eq!(p.sslcrldir.as_deref(), Some("/crl"));
        for (k, _) in LIBPQ15 {
            parse(&format!("{k}=''"))
                .map(|_| ())
                .or_else(|e| {
                    // Keywords whose empty value libpq rejects too.
                    assert!(e.0.contains(k), "{k}: {e}");
                    Ok::<(), ()>(())
                })
                .unwrap();
        }
    }

    #[test]
    fn passwords_are_bytes_and_need_not_be_utf8_as_in_libpq() {
        // Percent-decoded, in the user info and in the query.
        let p = parse("postgres://u:%FFpw%FE@h/db").unwrap();
        assert_eq!(p.password.unwrap().expose(), b"\xffpw\xfe");
        let p = parse("postgres://u@h/db?password=%C3%28x&sslpassword=%80").unwrap();
        assert_eq!(p.password.unwrap().expose(), b"\xc3(x");
        assert_eq!(p.sslpassword.unwrap().expose(), b"\x80");
        // Raw bytes, as a variable may hold them, in both forms.
        let p = parse_bytes(b"host=h password=a\xffb").unwrap();
        assert_eq!(p.password.unwrap().expose(), b"a\xffb");
        let p = parse_bytes(b"postgresql://u:\xff\xfe@h/db").unwrap();
        assert_eq!(p.password.unwrap().expose(), b"\xff\xfe");
        // PGPASSWORD's bytes, not its lossy text.
        let env = Env::from_byte_pairs([("PGPASSWORD".to_string(), b"e\xffpw".to_vec())]);
        let t = resolve(parse("host=h").unwrap(), &env, &OsUser::named("u")).unwrap();
        assert_eq!(t.password.unwrap().expose(), b"e\xffpw");
        // Values whose exact bytes decide nothing here are read leniently...
        parse("postgres://u@h/db?application_name=%FF").unwrap();
        // ...and values checked against a set fail the check, as in libpq.
        let e = parse("postgres://u@h/db?sslmode=%FF").unwrap_err();
        assert!(e.0.contains("`sslmode` is not one of"), "{e}");
    }

    #[test]
    fn text_fields_that_are_not_utf8_are_refused_saying_why() {
        for (s, want) in [
            ("postgres://%FFu@h/db", "user name is not UTF-8"),
            ("postgres://u@h/d%FFb", "database name is not UTF-8"),
            ("postgres://u@h%FF/db", "host list is not UTF-8"),
            ("postgres://u@h/db?user=%FF", "`user` is not UTF-8"),
            (
                "postgres://u@h/db?options=-c%20x%3D%FF",
                "`options` is not UTF-8",
            ),
            (
                "postgres://u@h/db?sslrootcert=/c%FF",
                "`sslrootcert` is not UTF-8",
            ),
            (
                "postgres://u@h/db?passfile=/p%FF",
                "`passfile` is not UTF-8",
            ),
        ] {
            let e = parse(s).unwrap_err();
            assert!(e.0.contains(want), "{s}: {e}");
            assert!(
                e.0.contains("libpq") || e.0.contains("preflight"),
                "{s}: says why: {e}"
            );
        }
        let e = parse("postgres://u@h/db?user=%FF").unwrap_err();
        assert!(e.0.contains("UTF8 database"), "{e}");
    }

    #[test]
    fn defaults_follow_libpq_the_os_user_and_the_socket_directory() {
        // No host anywhere: libpq's Unix-socket directory, not `localhost`.
        let t = target("dbname=d user=u", &[]).unwrap();
        assert_eq!(hp(&t), vec![h(DEFAULT_SOCKET_DIR, 5432)]);
        assert!(t.host_defaulted && !t.user_defaulted);
        // An empty element of a host list gets the default too.
        let t = target("host=a, port=1", &[]).unwrap();
        assert_eq!(hp(&t), vec![h("a", 1), h(DEFAULT_SOCKET_DIR, 1)]);
        assert!(t.host_defaulted);
        // A hostaddr alone is no default host.
        let t = target("hostaddr=127.0.0.1 user=u", &[]).unwrap();
        assert!(!t.host_defaulted);
        // No user anywhere: the OS user, never `$USER`.
        let t = target("host=h", &[("USER", "someone-else")]).unwrap();
        assert_eq!((t.user.as_str(), t.dbname.as_str()), ("osuser", "osuser"));
        assert!(t.user_defaulted && !t.host_defaulted);
        let t = target("host=h", &[("PGUSER", "pu")]).unwrap();
        assert_eq!(t.user, "pu");
        assert!(!t.user_defaulted);
        // An effective user ID without a name fails, as in libpq 15.
        let nobody = OsUser {
            uid: 4242,
            name: None,
        };
        let e = resolve(parse("host=h").unwrap(), &env(&[]), &nobody).unwrap_err();
        assert!(
            e.0.contains("local user with ID 4242 does not exist"),
            "{e}"
        );
        resolve(parse("host=h user=u").unwrap(), &env(&[]), &nobody).unwrap();
    }

    #[test]
    fn replication_values_are_the_servers() {
        for (v, want) in [
            ("database", Some(Replication::Database)),
            ("true", Some(Replication::Physical)),
            ("T", Some(Replication::Physical)),
            ("tr", Some(Replication::Physical)),
            ("On", Some(Replication::Physical)),
            ("yes", Some(Replication::Physical)),
            ("1", Some(Replication::Physical)),
            ("false", Some(Replication::Off)),
            ("of", Some(Replication::Off)),
            ("no", Some(Replication::Off)),
            ("0", Some(Replication::Off)),
            ("", Some(Replication::Off)),
            ("o", None),
            ("Database", None),
            ("bogus", None),
            ("truex", None),
            ("10", None),
            ("onn", None),
        ] {
            assert_eq!(Replication::parse(v.as_bytes()), want, "{v:?}");
        }
        let t = target("host=h user=u replication=database", &[]).unwrap();
        assert_eq!(t.replication, Replication::Database);
        let e = parse("host=h replication=hunterpw").unwrap_err();
        assert!(
            e.0.contains("`replication`") && !e.0.contains("hunter"),
            "{e}"
        );
    }

    #[test]
    fn host_and_port_lists_follow_libpq() {
        // One port applies to every host.
        let t = target("host=a,b,c port=6000", &[]).unwrap();
        assert_eq!(hp(&t), vec![h("a", 6000), h("b", 6000), h("c", 6000)]);
        // A mismatch is an error.
        assert!(target("host=a,b,c port=1,2", &[])
            .unwrap_err()
            .0
            .contains("2 ports"));
        // URI hosts without ports: libpq stores the port list `,` and ignores PGPORT.
        let t = target("postgres://a,b/db", &[("PGPORT", "7000")]).unwrap();
        assert_eq!(hp(&t), vec![h("a", 5432), h("b", 5432)]);
        // One URI host without a port: PGPORT applies.
        let t = target("postgres://a/db", &[("PGPORT", "7000")]).unwrap();
        assert_eq!(hp(&t), vec![h("a", 7000)]);
        // An empty element of a list is libpq's default.
        let t = target("postgres://a:1,b/db", &[]).unwrap();
        assert_eq!(hp(&t), vec![h("a", 1), h("b", 5432)]);
        // PGHOST/PGPORT lists.
        let t = target("dbname=x", &[("PGHOST", "p,q"), ("PGPORT", "1,2")]).unwrap();
        assert_eq!(hp(&t), vec![h("p", 1), h("q", 2)]);
        let e = target("dbname=x", &[("PGHOST", "p,q"), ("PGPORT", "1,2,3")]).unwrap_err();
        assert!(e.0.contains("in `PGPORT`"), "{e}");
        // The string's hosts win over PGHOST, even when the string's port comes alone.
        let t = target("postgres://:6000/db", &[("PGHOST", "envhost")]).unwrap();
        assert_eq!(hp(&t), vec![h("envhost", 6000)]);
        // Percent-decoding happens on the whole list, as in libpq.
        let t = target("postgres://a%2Cb/db", &[]).unwrap();
        assert_eq!(t.hosts.len(), 2);
        // Ports read as libpq reads integers.
        let t = target("host=a port=' 6000 '", &[]).unwrap();
        assert_eq!(t.hosts[0].port, 6000);
        for bad in ["port=0", "port=65536", "port=x", "port=-1"] {
            assert!(target(bad, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostaddr_connects_without_lookup_and_verifies_host_in_either_order() {
        for s in [
            "host=db.internal hostaddr=10.0.0.5 port=5432",
            "hostaddr=10.0.0.5 host=db.internal port=5432",
            "postgres://db.internal:5432/x?hostaddr=10.0.0.5",
        ] {
            let t = target(s, &[]).unwrap();
            assert_eq!(
                hp(&t),
                vec![("db.internal".into(), Some("10.0.0.5".into()), 5432)],
                "{s}"
            );
        }
        let t = target("dbname=x", &[("PGHOSTADDR", "127.0.0.1")]).unwrap();
        assert_eq!(
            hp(&t),
            vec![(String::new(), Some("127.0.0.1".into()), 5432)]
        );
        assert!(target("host=a,b hostaddr=127.0.0.1", &[])
            .unwrap_err()
            .0
            .contains("2 host names"));
        assert!(target("hostaddr=db.example.com", &[])
            .unwrap_err()
            .0
            .contains("not a numeric IP address"));
    }

    #[test]
    fn implausible_hosts_are_parse_errors_naming_position_and_kind() {
        for (s, want) in [
            ("host=h&user=u&password=secretpw", "host name contains `&`"),
            (
                "postgres://u:secretpw@a,b c/db",
                "2nd host name contains whitespace",
            ),
            ("host='/tmp&password=secretpw'", "contains `&`"),
            ("host=a?b", "contains `?`"),
        ] {
            let e = target(s, &[]).unwrap_err();
            assert!(e.0.contains(want), "{s}: {e}");
        }
        let e = target("dbname=x", &[("PGHOST", "a=secretpw")]).unwrap_err();
        assert!(e.0.contains("in `PGHOST`"), "{e}");
        // Socket directories and IPv6 are fine.
        target("host=/var/run/postgresql", &[]).unwrap();
        target("postgres://[fe80::1%25eth0]:5432/db", &[]).unwrap();
    }

    #[test]
    fn ssl_true_means_require_in_a_uri_and_node_postgres_syntax_is_named() {
        assert_eq!(
            parse("postgres://h/db?ssl=true").unwrap().sslmode,
            Some(SslMode::Require)
        );
        assert_eq!(
            parse("host=h requiressl=1").unwrap().sslmode,
            Some(SslMode::Require)
        );
        for (s, want) in [
            ("postgres://h/db?ssl=1", "node-postgres"),
            ("postgres://h/db?sslmode=no-verify", "`sslmode=require`"),
            ("postgres://h/db?uselibpqcompat=true", "node-postgres"),
            ("host=h ssl=true", "node-postgres"),
            ("postgres://h/db?sslaccept=strict", "Prisma"),
        ] {
            let e = parse(s).unwrap_err();
            assert!(e.0.contains(want), "{s}: {e}");
        }
        let e = target("host=h", &[("PGSSLMODE", "no-verify")]).unwrap_err();
        assert!(
            e.0.contains("`PGSSLMODE`") && e.0.contains("node-postgres"),
            "{e}"
        );
    }

    #[test]
    fn invalid_environment_values_are_errors_as_in_psql() {
        for (var, val, want) in [
            ("PGSSLMODE", "verify", "`PGSSLMODE` is not one of"),
            (
                "PGCONNECT_TIMEOUT",
                "5s",
                "`PGCONNECT_TIMEOUT` is not a whole number",
            ),
            (
                "PGTARGETSESSIONATTRS",
                "master",
                "`PGTARGETSESSIONATTRS` is not one of",
            ),
            (
                "PGSSLMINPROTOCOLVERSION",
                "TLSv2",
                "`PGSSLMINPROTOCOLVERSION` is not one of",
            ),
            ("PGCHANNELBINDING", "yes", "`PGCHANNELBINDING`"),
            ("PGPORT", "x", "port in `PGPORT`"),
            // Set but empty is the empty value in libpq, not unset.
            ("PGSSLMODE", "", "`PGSSLMODE` is not one of"),
            (
                "PGCONNECT_TIMEOUT",
                "",
                "`PGCONNECT_TIMEOUT` is not a whole number",
            ),
        ] {
            let e = target("host=h", &[(var, val)]).unwrap_err();
            assert!(e.0.contains(want), "{var}: {e}");
        }
        // The string's value wins and the environment is not read at all.
        let t = target("host=h connect_timeout=0", &[("PGCONNECT_TIMEOUT", "x")]).unwrap();
        assert_eq!(t.connect_timeout, None);
        let t = target("host=h", &[("PGCONNECT_TIMEOUT", "1")]).unwrap();
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(2)));
        let t = target("host=h connect_timeout=-5", &[]).unwrap();
        assert_eq!(t.connect_timeout, None);
        let t = target("host=h", &[("PGREQUIRESSL", "1")]).unwrap();
        assert_eq!(
            (t.sslmode, t.sslmode_from),
            (SslMode::Require, "from PGREQUIRESSL")
        );
    }

    #[test]
    fn tls_version_range_and_session_attrs() {
        let t = target("host=h", &[]).unwrap();
        assert_eq!(t.ssl_min_protocol_version, Some(TlsVersion::Tls1_2));
        let t = target("host=h ssl_min_protocol_version=tlsv1.3", &[]).unwrap();
        assert_eq!(t.ssl_min_protocol_version, Some(TlsVersion::Tls1_3));
        // libpq's default minimum TLSv1.2 is above a maximum of TLSv1.1.
        assert!(target("host=h ssl_max_protocol_version=TLSv1.1", &[])
            .unwrap_err()
            .0
            .contains("inverted"));
        assert!(
            parse("host=h ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2")
                .unwrap_err()
                .0
                .contains("inverted")
        );
        target(
            "host=h ssl_min_protocol_version=TLSv1 ssl_max_protocol_version=TLSv1",
            &[],
        )
        .unwrap();
        for (v, a) in [
            ("any", SessionAttrs::Any),
            ("read-write", SessionAttrs::ReadWrite),
            ("read-only", SessionAttrs::ReadOnly),
            ("primary", SessionAttrs::Primary),
            ("standby", SessionAttrs::Standby),
            ("prefer-standby", SessionAttrs::PreferStandby),
        ] {
            let t = target(&format!("host=h target_session_attrs={v}"), &[]).unwrap();
            assert_eq!(t.target_session_attrs, a);
        }
        let t = target("host=h", &[("PGTARGETSESSIONATTRS", "standby")]).unwrap();
        assert_eq!(t.target_session_attrs, SessionAttrs::Standby);
        assert!(parse("host=h target_session_attrs=master").is_err());
    }

    #[test]
    fn sslrootcert_system_makes_verify_full_the_default_and_refuses_weaker_modes() {
        let t = target("host=h sslrootcert=system", &[]).unwrap();
        assert_eq!(t.sslmode, SslMode::VerifyFull);
        assert!(t.sslmode_from.contains("sslrootcert=system"));
        let e = parse("host=h sslrootcert=system sslmode=require").unwrap_err();
        assert!(e.0.contains("libpq 16"), "{e}");
        let e = target(
            "host=h",
            &[("PGSSLROOTCERT", "system"), ("PGSSLMODE", "prefer")],
        )
        .unwrap_err();
        assert!(e.0.contains("`sslmode=prefer`"), "{e}");
        // The NODE_ENV=production default stays.
        let t = target("host=h", &[("NODE_ENV", "production")]).unwrap();
        assert_eq!(t.sslmode, SslMode::VerifyFull);
        assert_eq!(target("host=h", &[]).unwrap().sslmode, SslMode::Prefer);
    }

    #[test]
    fn service_files_fill_what_the_string_left_unset_as_libpq_15_does() {
        let files: std::collections::HashMap<&str, &[u8]> = [
            (
                "/svc",
                &b"# c\n[other]\nhost=o\n[app]   \n  host=db \nport=6432\npassword=Kx9Q@z=\nport=1\n[next]\nhost=n\n"[..],
            ),
            ("/home/u/.pg_service.conf", &b"[mine]\nhost=home\n"[..]),
            ("/etc/postgresql-common/pg_service.conf", &b"[app]\nhost=sys\n[mine]\nhost=sys\n"[..]),
            ("/bad", &b"[app]\nhost = db\n[nest]\nservice=app\n[noeq]\nhost\n[mode]\nsslmode=nope\n"[..]),
        ]
        .into_iter()
        .collect();
        let read =
            |p: &str| -> Result<Option<Vec<u8>>, String> { Ok(files.get(p).map(|b| b.to_vec())) };
        let svc = |s: &str, pairs: &[(&str, &str)]| {
            let e = env(pairs);
            apply_service(parse(s).unwrap(), &e, Some("/home/u"), &read)
                .and_then(|p| resolve(p, &e, &OsUser::named("u")))
        };
        let t = svc(
            "service=app port=5433",
            &[("PGSERVICEFILE", "/svc"), ("PGHOST", "env")],
        )
        .unwrap();
        // The string wins, the file beats the environment, the first line wins.
        assert_eq!(hp(&t), vec![h("db", 5433)]);
        assert_eq!(t.password.unwrap().expose(), b"Kx9Q@z=");
        let t = svc("postgresql:///db?service=app", &[("PGSERVICEFILE", "/svc")]).unwrap();
        assert_eq!(hp(&t), vec![h("db", 6432)]);
        // `PGSERVICE`, then the user's file, then the system's.
        let t = svc("dbname=d", &[("PGSERVICE", "mine")]).unwrap();
        assert_eq!(hp(&t), vec![h("home", 5432)]);
        let t = svc("service=app", &[]).unwrap();
        assert_eq!(hp(&t), vec![h("sys", 5432)]);
        for (s, pairs, says) in [
            (
                "service=nope",
                vec![("PGSERVICEFILE", "/svc")],
                "no service file defines",
            ),
            (
                "service=''",
                vec![("PGSERVICEFILE", "/svc")],
                "no service file defines",
            ),
            ("host=h", vec![("PGSERVICE", "")], "no service file defines"),
            (
                "service=app",
                vec![("PGSERVICEFILE", "/missing")],
                "`PGSERVICEFILE` names `/missing`, which does not exist",
            ),
            (
                "service=app",
                vec![("PGSERVICEFILE", "/bad")],
                "line 2 sets a keyword libpq does not know",
            ),
            (
                "service=nest",
                vec![("PGSERVICEFILE", "/bad")],
                "line 4 names another service",
            ),
            (
                "service=noeq",
                vec![("PGSERVICEFILE", "/bad")],
                "line 6 has no `=`",
            ),
            (
                "service=mode",
                vec![("PGSERVICEFILE", "/bad")],
                "line 8: the value of `sslmode` is not one of",
            ),
        ] {
            let e = svc(s, &pairs).unwrap_err().to_string();
            assert!(e.contains(says), "{s} {pairs:?}: {e}");
            assert!(
                !e.contains("Kx9Q") && !e.contains("nope") && !e.contains("mine"),
                "{e}"
            );
        }
        // No service named: nothing is read.
        let none =
            |_: &str| -> Result<Option<Vec<u8>>, String> { panic!("read without a service") };
        assert!(apply_service(parse("host=h").unwrap(), &env(&[]), None, &none).is_ok());
    }

    #[test]
    fn channel_binding_require_from_the_string_or_pgchannelbinding() {
        let cb = |s: &str, e: &[(&str, &str)]| target(s, e).unwrap().channel_binding_required;
        assert!(cb("host=h channel_binding=require", &[]));
        assert!(cb("host=h", &[("PGCHANNELBINDING", "require")]));
        assert!(!cb(
            "host=h channel_binding=prefer",
            &[("PGCHANNELBINDING", "require")]
        ));
    }

    #[test]
    fn requirepeer_from_the_string_or_pgrequirepeer_unless_empty() {
        let rp = |s: &str, e: &[(&str, &str)]| target(s, e).unwrap().requirepeer;
        assert_eq!(
            rp("host=/s requirepeer=postgres", &[]).as_deref(),
            Some("postgres")
        );
        assert_eq!(
            rp("host=/s", &[("PGREQUIREPEER", "pg")]).as_deref(),
            Some("pg")
        );
        assert_eq!(
            rp("host=/s requirepeer=''", &[("PGREQUIREPEER", "pg")]),
            None
        );
    }

    #[test]
    fn client_encoding_is_kept_for_the_server_to_judge_except_libpqs_auto() {
        let enc = |s: &str, e: &[(&str, &str)]| target(s, e).unwrap().client_encoding;
        assert_eq!(
            enc("host=h client_encoding=bogus", &[]).as_deref(),
            Some("bogus")
        );
        assert_eq!(
            enc("host=h", &[("PGCLIENTENCODING", "LATIN1")]).as_deref(),
            Some("LATIN1")
        );
        assert_eq!(enc("host=h client_encoding=auto", &[]), None);
        // libpq compares with `strcmp`: `AUTO` is a name the server must know.
        assert_eq!(
            enc("host=h client_encoding=AUTO", &[]).as_deref(),
            Some("AUTO")
        );
        assert_eq!(
            enc("host=h client_encoding=''", &[("PGCLIENTENCODING", "x")]),
            None
        );
    }

    #[test]
    fn gssencmode_require_from_the_string_or_pggssencmode_is_kept_for_the_probe() {
        assert!(
            target("host=h gssencmode=require", &[])
                .unwrap()
                .gss_required
        );
        assert!(
            target("postgresql://h/db", &[("PGGSSENCMODE", "require")])
                .unwrap()
                .gss_required
        );
        // The string wins over the environment, as everywhere in libpq.
        let t = target("host=h gssencmode=disable", &[("PGGSSENCMODE", "require")]).unwrap();
        assert!(!t.gss_required);
        assert!(
            !target("host=h gssencmode=prefer", &[])
                .unwrap()
                .gss_required
        );
    }

    #[test]
    fn environment_fills_only_what_the_string_left_unset() {
        let t = target(
            "host=h",
            &[
                ("PGUSER", "eu"),
                ("PGDATABASE", "edb"),
                ("PGPASSWORD", "epw"),
                ("PGOPTIONS", "-c geqo=off"),
                ("PGAPPNAME", "app"),
                ("PGSSLCERT", "/c"),
                ("PGSSLKEY", "/k"),
                ("PGSSLCRL", "/crl"),
                ("PGSSLCRLDIR", "/crldir"),
                ("PGPASSFILE", "/pgpass"),
                ("PGSSLROOTCERT", "/ca"),
            ],
        )
        .unwrap();
        assert_eq!((t.user.as_str(), t.dbname.as_str()), ("eu", "edb"));
        assert_eq!(t.password.unwrap().expose(), b"epw");
        assert_eq!(t.options.as_deref(), Some("-c geqo=off"));
        assert_eq!(t.application_name.as_deref(), Some("app"));
        assert_eq!(
            (
                t.sslcert.as_deref(),
                t.sslkey.as_deref(),
                t.sslcrl.as_deref()
            ),
            (Some("/c"), Some("/k"), Some("/crl"))
        );
        assert_eq!(t.sslcrldir.as_deref(), Some("/crldir"));
        assert_eq!(t.passfile.as_deref(), Some("/pgpass"));
        assert_eq!(t.rootcert.as_deref(), Some("/ca"));
        // `password=''` in the string blocks PGPASSWORD (libpq then reads the passfile).
        let t = target("host=h password=''", &[("PGPASSWORD", "epw")]).unwrap();
        assert!(t.password.is_none());
        // dbname defaults to the user.
        let t = target("host=h user=u", &[]).unwrap();
        assert_eq!(t.dbname, "u");
    }

    #[test]
    fn rejects_with_reasons_and_never_echoes_the_input() {
        for (s, want) in [
            ("mysql://u:hunterpw@h/db", "scheme"),
            ("postgres://u:hunterpw@h:99999/db", "port"),
            (
                "postgres://u:hunterpw@h/db?sslmode=verifyhunterpw",
                "`sslmode` is not one of",
            ),
            (
                "postgres://u:hunterpw@h/db?connect_timeout=5;hunterpw",
                "`connect_timeout` is not a whole",
            ),
            (
                "host=h password=hunterpw sslmode=hunterpw",
                "`sslmode` is not one of",
            ),
            (
                "host=h password=x connect_timeout=hunterpw",
                "`connect_timeout`",
            ),
            (
                "postgres://u:hunterpw@h/db?sslmod=require",
                "did you mean `sslmode`",
            ),
            ("host=h password=hunter pw", "quote values"),
            ("postgres://u@h/db?hunterpw", "no `=`"),
            (
                "postgres://u@h/db?sslmode=require&hunterpw=1",
                "2nd query parameter",
            ),
            ("postgres://u@h/db?hunterpw=1", "1st query parameter"),
            ("postgres://u:hunter%zzpw@h/db", "password has a `%`"),
            ("postgres://u:hunter%00pw@h/db", "`%00`"),
            ("postgres://u@h/db?options=-c%20a=hunterpw", "second `=`"),
            ("postgres://u:hunterpw@h/db\n", "trailing newline"),
            (" postgres://u:hunterpw@h/db", "whitespace before"),
            ("jdbc:postgresql://h/db?password=hunterpw", "JDBC"),
            (
                "{\"username\":\"hunterpw\",\"password\":\"hunterpw\"}",
                ":KEY::",
            ),
            ("host=h password='hunterpw", "not closed"),
            ("postgres://u:hunterpw@[::1/db", "closing `]`"),
            ("postgres://u:hunterpw@[::1]x/db", "IPv6"),
            ("", "empty"),
        ] {
            let e = parse(s).unwrap_err();
            assert!(e.0.contains(want), "{s}: {e}");
            assert!(
                !e.0.contains("hunter") && !format!("{e:?}").contains("hunter"),
                "{s}: {e}"
            );
        }
    }

    #[test]
    fn canary_never_leaks_from_any_position_failure_class_or_format() {
        const C: &str = "CANARYs3cr3t";
        // Every failure class, with the canary in every position a value can take.
        let classes = [
            "sslmode={C}",
            "connect_timeout={C}",
            "port={C}",
            "host=a&password={C}",
            "hostaddr={C}",
            "target_session_attrs={C}",
            "ssl_min_protocol_version={C}",
            "channel_binding={C}",
            "gssencmode={C}",
            "keepalives_idle={C}",
            "{C}=1",
            "{C}",
            "password={C}'",
        ];
        for class in classes {
            let kw = class.replace("{C}", C);
            let uri_q = format!("postgresql://u:{C}@h/db?{}", kw.replace(' ', "&"));
            for s in [
                format!("password={C} {kw}"),
                format!("{kw} password={C}"),
                uri_q,
            ] {
                if let Err(e) = parse(&s).and_then(|p| resolve(p, &env(&[]), &OsUser::named("u"))) {
                    let text = format!("{e} {e:?}");
                    assert!(
                        !text.contains("CANARY") && !text.contains("s3cr3t"),
                        "{s}: {text}"
                    );
                }
            }
        }
        for (var, _) in [
            ("PGHOST", 0),
            ("PGHOSTADDR", 0),
            ("PGPORT", 0),
            ("PGSSLMODE", 0),
            ("PGCONNECT_TIMEOUT", 0),
            ("PGTARGETSESSIONATTRS", 0),
            ("PGSSLMAXPROTOCOLVERSION", 0),
        ] {
            let val = format!("a=&{C}");
            let e = target("host=h", &[(var, &val)]);
            if var == "PGHOST" {
                assert!(e.is_ok(), "the string's host wins");
            }
            let e = target("dbname=d", &[(var, &val)]).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(
                !text.contains("CANARY") && !text.contains("s3cr3t"),
                "{var}: {text}"
            );
        }
        // The URI shapes the issue names.
        for s in [
            format!("postgresql://u:{C}@x/y@h/db"),
            format!("postgresql://u:a@{C}@h/db"),
            format!("host=h&user=u&password={C}"),
            format!("postgresql://u:{C}@h/db?sslmode=require;password={C}"),
            format!("postgresql://u:{C}@h/db?connect_timeout=5;password={C}"),
        ] {
            let e = parse(&s).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(
                !text.contains("CANARY") && !text.contains("s3cr3t"),
                "{s}: {text}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "password leaked")]
    fn fuzz_oracle_catches_an_echoed_password() {
        assert_not_shown("host=h password=ab!cd", "Xq9ZkW2v", "bad value `ab!cd`");
    }

    #[test]
    #[should_panic(expected = "canary piece leaked")]
    fn fuzz_oracle_catches_part_of_the_canary() {
        assert_not_shown("x", "Xq9ZkW2v", "host `9ZkW` unknown");
    }

    #[test]
    fn fuzz_corpus_replays_without_panic_or_leak() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/dburl");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/dburl exists") {
            let path = entry.unwrap().path();
            fuzz_one(&std::fs::read(&path).unwrap());
            n += 1;
        }
        assert!(n > 0, "the corpus is empty");
        // And every template over a few fixed tails.
        for sel in 0..=255u8 {
            for tail in [
                "",
                "@h/db",
                "h&user=u",
                ":99999",
                "?sslmode=bad",
                "'",
                "%",
                "[",
                ",,",
            ] {
                let mut d = vec![sel];
                d.extend_from_slice(tail.as_bytes());
                fuzz_one(&d);
            }
        }
    }
}
