//! `DATABASE_URL` parsed with libpq's rules, in both its URI form
//! (`postgresql://user:pw@host:port,host2/db?sslmode=verify-full`) and its keyword
//! form (`host=db user=app sslmode=require`).
//!
//! tokio-postgres's own parser rejects `sslmode=verify-ca|verify-full` and
//! `sslrootcert`, which are exactly what a production URL should carry, so preflight
//! parses the string itself and builds the driver's config from the result. The
//! password is wrapped in [`Secret`] the moment it is read.

use crate::preflight::environ::Env;
use crate::redact::Secret;
use percent_encoding::percent_decode_str;
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
    /// leading `/` makes it a Unix-socket directory, as in libpq.
    pub name: String,
    /// libpq's `hostaddr`: the numeric address to connect to, with no name lookup.
    pub hostaddr: Option<String>,
    pub port: u16,
}

/// What a connection string says, before defaults from the environment.
#[derive(Debug, Clone, Default)]
pub struct ConnParams {
    pub hosts: Vec<Host>,
    pub user: Option<String>,
    pub password: Option<Secret<String>>,
    pub dbname: Option<String>,
    pub sslmode: Option<SslMode>,
    pub sslrootcert: Option<String>,
    pub connect_timeout: Option<Duration>,
    pub application_name: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
    pub sslpassword: Option<Secret<String>>,
    pub sslcrl: Option<String>,
    pub sslcrldir: Option<String>,
    pub ssl_min_protocol_version: Option<TlsVersion>,
    pub ssl_max_protocol_version: Option<TlsVersion>,
    pub target_session_attrs: Option<SessionAttrs>,
    pub options: Option<String>,
    pub passfile: Option<String>,
}

/// `ssl_min_protocol_version` / `ssl_max_protocol_version` values libpq accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls1_0,
    Tls1_1,
    Tls1_2,
    Tls1_3,
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

/// Everything the probe decided before connecting: the URL with libpq's environment
/// variables and defaults applied, and where the sslmode came from, for the report.
#[derive(Debug, Clone)]
pub struct Target {
    pub hosts: Vec<Host>,
    pub user: String,
    pub dbname: String,
    /// From the URL or `PGPASSWORD`; the password file is consulted per host at
    /// connect time, as libpq does.
    pub password: Option<Secret<String>>,
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
    pub sslpassword: Option<Secret<String>>,
    pub sslcrl: Option<String>,
    pub sslcrldir: Option<String>,
    pub ssl_min_protocol_version: Option<TlsVersion>,
    pub ssl_max_protocol_version: Option<TlsVersion>,
    pub connect_timeout: Option<Duration>,
    pub target_session_attrs: SessionAttrs,
    /// `options` / `PGOPTIONS`, passed to the server at startup.
    pub options: Option<String>,
    pub application_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, UrlError> {
    Err(UrlError(s.into()))
}

fn decode(s: &str, what: &str) -> Result<String, UrlError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            UrlError(format!(
                "the {what} is not valid UTF-8 after percent-decoding"
            ))
        })
}

pub fn parse(s: &str) -> Result<ConnParams, UrlError> {
    let s = s.trim();
    if s.is_empty() {
        return err("it is empty");
    }
    if let Some(rest) = s
        .strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
    {
        parse_uri(rest)
    } else if s.contains("://") {
        let scheme = s.split("://").next().unwrap_or("");
        err(format!(
            "the scheme `{scheme}://` is not `postgresql://` or `postgres://`"
        ))
    } else if s.contains('=') {
        parse_keywords(s)
    } else {
        err("it is neither a `postgresql://` URI nor `key=value` pairs")
    }
}

fn parse_port(s: &str) -> Result<u16, UrlError> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => err("a port is not a number from 1 to 65535"),
    }
}

/// The parameters libpq accepts; error messages may name these, never the input.
const KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
    "sslcert",
    "sslkey",
];

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
    KEYWORDS
        .iter()
        .copied()
        .filter(|w| dist(k, w) <= 2)
        .min_by_key(|w| dist(k, w))
}

fn parse_uri(rest: &str) -> Result<ConnParams, UrlError> {
    let mut p = ConnParams::default();
    // `/`, `?` or `#` in an unencoded password end the authority early; the `@`
    // then shows up later. Say so without echoing any of it.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if !rest[..authority_end].contains('@') && rest[authority_end..].contains('@') {
        return err("the user info contains `/`, `?` or `#`: percent-encode them in the password (`/` is `%2F`, `?` is `%3F`, `#` is `%23`)");
    }
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match main.find('/') {
        Some(i) => (&main[..i], Some(&main[i + 1..])),
        None => (main, None),
    };
    // The password may contain `@` when not encoded; the last `@` ends userinfo.
    let (userinfo, hostspec) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if let Some(ui) = userinfo {
        let (u, pw) = match ui.split_once(':') {
            Some((u, pw)) => (u, Some(pw)),
            None => (ui, None),
        };
        if !u.is_empty() {
            p.user = Some(decode(u, "user name")?);
        }
        if let Some(pw) = pw {
            p.password = Some(Secret::new(decode(pw, "password")?));
        }
    }
    for h in hostspec.split(',').filter(|h| !h.is_empty()) {
        let (name, port) = if let Some(rest) = h.strip_prefix('[') {
            let (addr, after) = rest
                .split_once(']')
                .ok_or_else(|| UrlError("an IPv6 host is missing its closing `]`".into()))?;
            let port = match after.strip_prefix(':') {
                Some(port) => Some(parse_port(port)?),
                None if after.is_empty() => None,
                None => return err("unexpected text after an IPv6 host"),
            };
            (addr.to_string(), port)
        } else {
            match h.rsplit_once(':') {
                Some((n, port)) => (decode(n, "host")?, Some(parse_port(port)?)),
                None => (decode(h, "host")?, None),
            }
        };
        p.hosts.push(Host {
            name,
            hostaddr: None,
            port: port.unwrap_or(0),
        });
    }
    if let Some(db) = path.filter(|d| !d.is_empty()) {
        p.dbname = Some(decode(db, "database name")?);
    }
    if let Some(q) = query {
        for pair in q.split('&').filter(|x| !x.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| UrlError("a query parameter has no `=`".into()))?;
            let k = decode(k, "parameter name")?;
            let v = decode(v, "parameter value")?;
            set_keyword(&mut p, &k, v)?;
        }
    }
    Ok(p)
}

/// libpq's defaults and environment variables applied to a parsed URL.
pub fn resolve(p: ConnParams, env: &Env) -> Result<Target, UrlError> {
    let (sslmode, sslmode_from) = match (p.sslmode, env.plain("PGSSLMODE").and_then(SslMode::parse))
    {
        (Some(m), _) => (m, "from DATABASE_URL"),
        (None, Some(m)) => (m, "from PGSSLMODE"),
        (None, None) if env.is_production() => {
            (SslMode::VerifyFull, "default for NODE_ENV=production")
        }
        (None, None) => (SslMode::Prefer, "libpq's default"),
    };
    let default_port = env
        .plain("PGPORT")
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    let mut hosts = p.hosts;
    if hosts.is_empty() {
        hosts.push(Host {
            name: String::new(),
            hostaddr: None,
            port: 0,
        });
    }
    for h in &mut hosts {
        if h.name.is_empty() {
            h.name = env.plain("PGHOST").unwrap_or("localhost").to_string();
        }
        if h.port == 0 {
            h.port = default_port;
        }
    }
    let user = p
        .user
        .or_else(|| env.plain("PGUSER").map(String::from))
        .or_else(|| env.plain("USER").map(String::from))
        .unwrap_or_else(|| "postgres".into());
    Ok(Target {
        hosts,
        dbname: p
            .dbname
            .or_else(|| env.plain("PGDATABASE").map(String::from))
            .unwrap_or_else(|| user.clone()),
        user,
        password: p.password.or_else(|| env.get("PGPASSWORD").cloned()),
        sslmode,
        sslmode_from,
        rootcert: p
            .sslrootcert
            .or_else(|| env.plain("PGSSLROOTCERT").map(String::from)),
        connect_timeout: p.connect_timeout.or_else(|| {
            env.plain("PGCONNECT_TIMEOUT")
                .and_then(|s| s.parse().ok())
                .and_then(connect_timeout)
        }),
        sslcert: p.sslcert,
        sslkey: p.sslkey,
        sslpassword: p.sslpassword,
        sslcrl: p.sslcrl,
        sslcrldir: p.sslcrldir,
        ssl_min_protocol_version: p.ssl_min_protocol_version,
        ssl_max_protocol_version: p.ssl_max_protocol_version,
        target_session_attrs: p.target_session_attrs.unwrap_or_default(),
        options: p.options,
        application_name: p.application_name,
        passfile: p.passfile,
    })
}

/// libpq's reading of `connect_timeout`: 0 means none, and under 2 s counts as 2 s.
pub fn connect_timeout(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs.max(2)))
}

fn set_keyword(p: &mut ConnParams, k: &str, v: String) -> Result<(), UrlError> {
    match k {
        "host" | "hostaddr" => {
            let ports: Vec<u16> = p.hosts.iter().map(|h| h.port).collect();
            p.hosts = v
                .split(',')
                .enumerate()
                .map(|(i, n)| Host { name: n.to_string(), hostaddr: None, port: ports.get(i).copied().unwrap_or(0) })
                .collect();
        }
        "port" => {
            let ports = v.split(',').map(parse_port).collect::<Result<Vec<_>, _>>()?;
            if p.hosts.is_empty() {
                p.hosts = ports.iter().map(|&port| Host { name: String::new(), hostaddr: None, port }).collect();
            } else {
                for (i, h) in p.hosts.iter_mut().enumerate() {
                    h.port = *ports.get(i).or(ports.first()).unwrap_or(&0);
                }
            }
        }
        "user" => p.user = Some(v),
        "password" => p.password = Some(Secret::new(v)),
        "dbname" => p.dbname = Some(v),
        "sslmode" => {
            p.sslmode = Some(SslMode::parse(&v).ok_or_else(|| {
                UrlError(format!("`sslmode={v}` is not one of disable, allow, prefer, require, verify-ca, verify-full"))
            })?)
        }
        "sslrootcert" => p.sslrootcert = Some(v),
        "connect_timeout" => {
            let secs: u64 = v.parse().map_err(|_| UrlError(format!("`connect_timeout={v}` is not a whole number of seconds")))?;
            p.connect_timeout = connect_timeout(secs);
        }
        "application_name" => p.application_name = Some(v),
        // Accepted by libpq; preflight does not need them.
        "options" | "target_session_attrs" | "sslcert" | "sslkey" | "sslcompression" | "keepalives"
        | "keepalives_idle" | "keepalives_interval" | "keepalives_count" | "gssencmode" | "channel_binding"
        | "fallback_application_name" | "client_encoding" | "sslsni" | "load_balance_hosts" | "ssl_min_protocol_version"
        | "ssl_max_protocol_version" | "krbsrvname" | "service" | "passfile" | "requirepeer" | "sslcrl" | "sslpassword"
        | "tcp_user_timeout" | "replication" | "require_auth" | "sslcertmode" | "sslnegotiation" => {}
        other => {
            return err(match suggest(other) {
                Some(k) => format!("a parameter is not one libpq knows (did you mean `{k}`?)"),
                None => "a parameter is not one libpq knows".into(),
            })
        }
    }
    Ok(())
}

fn parse_keywords(s: &str) -> Result<ConnParams, UrlError> {
    let mut p = ConnParams::default();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return err(
                "a keyword is missing `=value` (quote values with spaces: `password='a b'`)",
            );
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return err("a quoted value is not closed"),
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return err("a quoted value ends in `\\`"),
                    },
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        set_keyword(&mut p, &key, value)?;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_form() {
        let p = parse("postgresql://app:p%40ss:w@db.example.com:6432/scalemap?sslmode=verify-full&sslrootcert=/certs/rds.pem&connect_timeout=7").unwrap();
        assert_eq!(p.user.as_deref(), Some("app"));
        assert_eq!(p.password.as_ref().unwrap().expose(), "p@ss:w");
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
        let p = parse("postgres://u:pa@ss@h/db").unwrap();
        assert_eq!(p.password.unwrap().expose(), "pa@ss");
        let p = parse("postgresql:///db?host=/var/run/postgresql").unwrap();
        assert_eq!(p.hosts[0].name, "/var/run/postgresql");
    }

    #[test]
    fn keyword_form() {
        let p =
            parse("host=db port=5432 dbname=x user=u password='a \\'b' sslmode=verify-ca").unwrap();
        assert_eq!(p.password.unwrap().expose(), "a 'b");
        assert_eq!(p.sslmode, Some(SslMode::VerifyCa));
        assert_eq!(
            p.hosts,
            vec![Host {
                name: "db".into(),
                hostaddr: None,
                port: 5432
            }]
        );
    }

    #[test]
    fn rejects_with_reasons_and_never_echoes_the_password() {
        for (s, want) in [
            ("mysql://u:secretpw@h/db", "scheme"),
            ("postgres://u:secretpw@h:99999/db", "port"),
            (
                "postgres://u:secretpw@h/db?sslmode=verify",
                "sslmode=verify",
            ),
            (
                "postgres://u:secretpw@h/db?sslmod=require",
                "did you mean `sslmode`",
            ),
            ("postgres://u:secret/pw@h/db", "percent-encode"),
            ("postgres://u:secret?pw@h/db", "percent-encode"),
            ("host=h password=secret pw", "quote values"),
            ("postgres://u@h/db?secretpw", "no `=`"),
            ("postgres://u@h/db?secretpw=1", "not one libpq knows"),
            ("", "empty"),
        ] {
            let e = parse(s).unwrap_err();
            assert!(e.0.contains(want), "{s}: {e}");
            assert!(!e.0.contains("secret") && !e.0.contains("pw"), "{s}: {e}");
        }
    }
}
