//! preflight's reading of a connection string against libpq's own: each row runs
//! `psql` (libpq 15) on the same string and environment, aimed at a closed loopback
//! port, and checks that both accept it or both reject it. libpq's verdict is
//! "accepted" when it got as far as connecting ("connection to server …"); any other
//! failure is a rejection before connecting. Rows where preflight deliberately differs
//! say why, and the test checks that they still differ, so the reasons stay true.
//!
//! Every row names 127.0.0.1 (or gives `hostaddr`), so libpq never looks a name up:
//! no traffic leaves loopback.

use shipcheck::preflight::dburl;
use shipcheck::preflight::environ::Env;
use shipcheck::preflight::probes::postgres;
use std::process::Command;

/// psql (not libpq) reads an argument with no `=` and no `postgresql://` as a bare
/// database name; `PQconnectdb`, which apps call with `DATABASE_URL`, rejects it.
const PSQL_DBNAME: &str =
    "psql takes a string without `=` as a database name; PQconnectdb rejects it";

const PSQL: &str = "/usr/lib/postgresql/15/bin/psql";

/// A connection string, its environment, and whether preflight should agree.
type Row = (String, Vec<(&'static str, &'static str)>, Want);

enum Want {
    Agree,
    Differ(&'static str),
}
use Want::*;

/// `true` when libpq accepted the string (it went on to connect).
fn libpq_accepts(s: &str, env: &[(&str, &str)], home: &std::path::Path) -> (bool, String) {
    let out = Command::new("timeout")
        .args(["20", PSQL, "-X", "-w", "-c", "select 1", s])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("PGSYSCONFDIR", home)
        .envs(env.iter().copied())
        .output()
        .expect("psql runs (postgresql-client-15 is installed)");
    assert!(!out.status.success(), "nothing listens on port 1: {s}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    // libpq reports bad integer settings after naming the server, but before any
    // packet is sent: those are rejections of the string.
    let connected = err.contains("connection to server") && !err.contains("invalid ");
    (connected, err)
}

fn preflight_accepts(s: &str, env: &[(&str, &str)]) -> bool {
    let env = Env::from_pairs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    // As the probe does: the service file step, then libpq's environment.
    let read = |p: &str| -> Result<Option<Vec<u8>>, String> { Ok(std::fs::read(p).ok()) };
    dburl::parse(s)
        .and_then(|p| dburl::apply_service(p, &env, None, &read))
        .and_then(|p| dburl::resolve(p, &env, &postgres::os_user()))
        .is_ok()
}

#[test]
fn libpq_parse_verdicts_agree_with_psql() {
    let t = "host=127.0.0.1 port=1";
    let every_libpq15_keyword = format!(
        "{t} user=u password=p passfile=/nonexistent channel_binding=prefer connect_timeout=5 \
         dbname=d client_encoding=UTF8 options='-c geqo=off' application_name=a \
         fallback_application_name=f keepalives=1 keepalives_idle=30 keepalives_interval=5 \
         keepalives_count=3 tcp_user_timeout=1000 sslmode=prefer sslcompression=0 \
         sslcert=/nonexistent/c sslkey=/nonexistent/k sslpassword=x sslrootcert=/nonexistent/r \
         sslcrl=/nonexistent/crl sslcrldir=/nonexistent/crldir sslsni=1 requirepeer=postgres \
         ssl_min_protocol_version=TLSv1.2 ssl_max_protocol_version=TLSv1.3 gssencmode=disable \
         krbsrvname=postgres gsslib=gssapi replication=false target_session_attrs=any"
    );
    let rows: Vec<Row> = vec![
        // Accepted by both.
        ("postgresql://u:pw@127.0.0.1:1/db".into(), vec![], Agree),
        ("postgresql://u:pa%40ss@127.0.0.1:1/db?sslmode=verify-full&sslrootcert=/nonexistent".into(), vec![], Agree),
        ("postgresql://u:pa?ss#w@127.0.0.1:1/db".into(), vec![], Agree),
        (every_libpq15_keyword, vec![], Agree),
        ("postgresql://127.0.0.1:1/db?ssl=true".into(), vec![], Agree),
        (format!("{t} requiressl=1"), vec![], Agree),
        ("postgresql://127.0.0.1:1,127.0.0.1:1/db".into(), vec![], Agree),
        ("host=127.0.0.1,127.0.0.1 port=1".into(), vec![], Agree),
        ("host=127.0.0.1 port=' 1 '".into(), vec![], Agree),
        ("host=localhost hostaddr=127.0.0.1 port=1".into(), vec![], Agree),
        ("hostaddr=127.0.0.1 host=localhost port=1".into(), vec![], Agree),
        ("postgresql://localhost:1/db?hostaddr=127.0.0.1".into(), vec![], Agree),
        (format!("{t} connect_timeout=-1"), vec![], Agree),
        (format!("{t} ssl_min_protocol_version=tlsv1.3"), vec![], Agree),
        (format!("{t} ssl_min_protocol_version=TLSv1 ssl_max_protocol_version=TLSv1"), vec![], Agree),
        (format!("{t} target_session_attrs=prefer-standby"), vec![], Agree),
        (format!("{t} sslrootcert=system"), vec![], Agree),
        (format!("{t} password=''"), vec![("PGPASSWORD", "x")], Agree),
        ("dbname=x".into(), vec![("PGHOST", "127.0.0.1,127.0.0.1"), ("PGPORT", "1")], Agree),
        ("dbname=x".into(), vec![("PGHOST", "127.0.0.1,127.0.0.1"), ("PGPORT", "1,1")], Agree),
        ("dbname=x".into(), vec![("PGHOSTADDR", "127.0.0.1"), ("PGPORT", "1")], Agree),
        (t.into(), vec![("PGSSLMODE", "require"), ("PGCONNECT_TIMEOUT", "3")], Agree),
        (t.into(), vec![("PGTARGETSESSIONATTRS", "read-write"), ("PGSSLMINPROTOCOLVERSION", "TLSv1.3")], Agree),
        ("postgresql://127.0.0.1:1/db?port=1".into(), vec![("PGPORT", "x")], Agree),
        ("postgresql://u:@127.0.0.1:1/db?".into(), vec![], Agree),
        ("postgresql://:pw@127.0.0.1:1?application_name=a%20b".into(), vec![], Agree),
        (format!("{t} keepalives=' 1'"), vec![], Agree),
        // A password is bytes in libpq: one that percent-decodes to non-UTF-8 is fine.
        ("postgresql://u:%FFpw%FE@127.0.0.1:1/db".into(), vec![], Agree),
        ("postgresql://u@127.0.0.1:1/db?password=%C3%28".into(), vec![], Agree),
        ("postgresql://u@127.0.0.1:1/db?application_name=%FF".into(), vec![], Agree),
        (format!("{t} replication=database"), vec![], Agree),
        (format!("{t} replication=On"), vec![], Agree),
        (format!("{t} replication=of"), vec![], Agree),
        // No host anywhere: libpq's socket directory, which it goes on to connect to.
        ("dbname=x user=u".into(), vec![("PGPORT", "1")], Agree),
        (t.into(), vec![("PGPORT", ""), ("PGSSLMINPROTOCOLVERSION", ""), ("PGHOST", "")], Agree),
        // Rejected by both.
        (t.into(), vec![("PGSSLMODE", "")], Agree),
        (t.into(), vec![("PGCONNECT_TIMEOUT", "")], Agree),
        (t.into(), vec![("PGTARGETSESSIONATTRS", "")], Agree),
        (format!("{t} keepalives=''"), vec![], Agree),
        (format!("{t} keepalives=99999999999"), vec![], Agree),
        ("postgresql://127.0.0.1:1/db?&".into(), vec![], Agree),
        ("postgresql://127.0.0.1:1/db?sslmode=require#x".into(), vec![], Agree),
        (format!("{t} hostaddr=127.0.0.1,"), vec![], Agree),
        (format!("{t} sslmode=verify"), vec![], Agree),
        ("postgresql://127.0.0.1:1/db?sslmode=no-verify".into(), vec![], Agree),
        ("postgresql://127.0.0.1:1/db?ssl=1".into(), vec![], Agree),
        ("postgresql://127.0.0.1:1/db?uselibpqcompat=true".into(), vec![], Agree),
        (format!("{t} ssl=true"), vec![], Agree),
        (format!("{t} connect_timeout=5s"), vec![], Agree),
        (format!("{t} connect_timeout="), vec![], Agree),
        (format!("{t} sslmod=require"), vec![], Agree),
        ("postgresql://127.0.0.1:1/db?sslmode".into(), vec![], Agree),
        ("postgresql://127.0.0.1:1/db?options=-c%20a=b".into(), vec![], Agree),
        ("postgresql://u:p%zz@127.0.0.1:1/db".into(), vec![], Agree),
        ("postgresql://u:p%00q@127.0.0.1:1/db".into(), vec![], Agree),
        (format!("{t} password='abc"), vec![], Agree),
        (format!("{t} password=a b"), vec![], Agree),
        ("host=127.0.0.1,127.0.0.1,127.0.0.1 port=1,2".into(), vec![], Agree),
        ("host=localhost,localhost hostaddr=127.0.0.1 port=1".into(), vec![], Agree),
        (format!("{t} ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2"), vec![], Agree),
        (format!("{t} ssl_max_protocol_version=TLSv1.1"), vec![], Agree),
        (format!("{t} ssl_min_protocol_version=TLSv2"), vec![], Agree),
        (format!("{t} target_session_attrs=master"), vec![], Agree),
        (format!("{t} channel_binding=yes"), vec![], Agree),
        (format!("{t} gssencmode=always"), vec![], Agree),
        ("host=127.0.0.1 port=99999".into(), vec![], Agree),
        ("host=127.0.0.1 port=0".into(), vec![], Agree),
        (format!("{t} keepalives_idle=x"), vec![], Agree),
        ("postgresql://[::1:1/db".into(), vec![], Agree),
        ("postgresql://[]:1/db".into(), vec![], Agree),
        ("mysql://u:p@127.0.0.1:1/db?sslmode=require".into(), vec![], Agree),
        ("{\"username\":\"u\",\"password\":\"p=q\"}".into(), vec![], Agree),
        ("mysql://u:p@127.0.0.1:1/db".into(), vec![], Differ(PSQL_DBNAME)),
        ("{\"username\":\"u\",\"password\":\"p\"}".into(), vec![], Differ(PSQL_DBNAME)),
        ("postgresql://u:pa/ss@127.0.0.1:1/db".into(), vec![], Agree),
        (t.into(), vec![("PGSSLMODE", "bogus")], Agree),
        (t.into(), vec![("PGSSLMODE", "no-verify")], Agree),
        (t.into(), vec![("PGCONNECT_TIMEOUT", "abc")], Agree),
        (t.into(), vec![("PGTARGETSESSIONATTRS", "master")], Agree),
        (t.into(), vec![("PGSSLMAXPROTOCOLVERSION", "TLSv1.1")], Agree),
        ("dbname=x".into(), vec![("PGHOST", "127.0.0.1,127.0.0.1,127.0.0.1"), ("PGPORT", "1,2")], Agree),
        ("dbname=x".into(), vec![("PGHOST", "a,b"), ("PGHOSTADDR", "127.0.0.1"), ("PGPORT", "1")], Agree),
        (format!("{t} hostaddr=localhost"), vec![], Agree),
        // Deliberate differences.
        (format!("{t} require_auth=password"), vec![], Differ("a libpq 16 keyword: accepted for apps that link a newer libpq")),
        (format!("{t} sslrootcert=system sslmode=require"), vec![], Differ("libpq 16 refuses a weak sslmode with sslrootcert=system; libpq 15 reads a file named `system`")),
        ("host=a&b=c hostaddr=127.0.0.1 port=1".into(), vec![], Differ("an implausible host name is a parse error, never a name to look up or print")),
        ("postgresql://u:p@s@s/db?hostaddr=127.0.0.1&port=1".into(), vec![], Differ("a host containing `@` is the tail of an unencoded password")),
        (format!("{t} service=nosuch"), vec![], Agree),
        ("postgresql://127.0.0.1:1/db\n".into(), vec![], Differ("trailing whitespace after a URI is an error; libpq keeps it in the last field")),
        (format!("{t} replication=bogus"), vec![], Differ("libpq sends any `replication` value and the server refuses this one; preflight cannot send it, so it refuses it first")),
        ("postgresql://127.0.0.1:1/db?user=%FF".into(), vec![], Differ("libpq sends a user name that is not UTF-8 and the server finds no such role in a UTF8 database; preflight's driver takes names as text, so it refuses it first")),
    ];
    let home = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (s, env, want) in &rows {
        let (libpq, why) = libpq_accepts(s, env, home.path());
        let ours = preflight_accepts(s, env);
        let ok = match want {
            Agree => libpq == ours,
            Differ(_) => libpq != ours,
        };
        if !ok {
            let note = match want {
                Agree => "should agree".to_string(),
                Differ(r) => format!("documented as differing ({r}) but agrees"),
            };
            failures.push(format!(
                "{s:?} env {env:?}: libpq accepts={libpq}, preflight accepts={ours}, {note}\n  psql: {}",
                why.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
