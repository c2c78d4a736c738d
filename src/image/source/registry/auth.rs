//! Registry credentials: where they come from, in a fixed order, and how a
//! registry's `WWW-Authenticate` challenge is answered.
//!
//! The order is `--creds`/`--creds-file`, ECR in-process (for ECR hosts and bare
//! references, see `ecr`), `REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//! then Docker's `config.json` (`$DOCKER_CONFIG` or `~/.docker`: `credHelpers`,
//! then `credsStore`, then `auths`, as the Docker CLI reads them), then anonymous.
//! The first source that has credentials for the host is used, and a refusal
//! names it. Passwords and tokens are [`Secret`]s from the moment they are read;
//! a file or helper output that cannot be parsed is described, never quoted.

use crate::redact::Secret;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How environment variables are looked up: the process environment in the
/// binary, a map in unit tests.
pub type Env = std::sync::Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where a credential came from, as a refusal names it (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    FlagFile(String),
    Ecr { region: String, provider: String },
    AuthFile { what: String },
    Helper { name: String, file: String },
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Flag => "`--creds`".into(),
            Source::FlagFile(p) => format!("`--creds-file` `{p}`"),
            Source::Ecr { region, provider } => format!(
                "ECR GetAuthorizationToken (region `{region}`, AWS credentials from {provider})"
            ),
            Source::AuthFile { what } => what.clone(),
            Source::Helper { name, file } => {
                format!("credential helper `docker-credential-{name}` (named in `{file}`)")
            }
        }
    }
}

#[derive(Clone)]
pub struct Credential {
    pub user: String,
    pub password: Secret<String>,
    pub source: Source,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("user", &self.user)
            .field("password", &self.password)
            .field("source", &self.source)
            .finish()
    }
}

impl Credential {
    /// `Basic base64(user:password)`, itself a secret.
    pub fn basic(&self) -> Secret<String> {
        let raw = format!("{}:{}", self.user, self.password.expose());
        Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }
}

/// `USER:PASS` as `--creds` takes it (the password may hold `:`).
pub fn parse_user_pass(s: &str, source: Source) -> Result<Credential, String> {
    let s = s.trim_end_matches(['\n', '\r']);
    match s.split_once(':') {
        Some((u, p)) if !u.is_empty() && !p.is_empty() => Ok(Credential {
            user: u.to_string(),
            password: Secret::new(p.to_string()),
            source,
        }),
        _ => Err("is not `USER:PASSWORD` with both parts non-empty".into()),
    }
}

/// Reads a small regular file without blocking on a FIFO or device: the same
/// rule as every other file a user or variable names here.
pub fn read_small_file(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot be read ({})", e.kind()))?;
    let md = f
        .metadata()
        .map_err(|e| format!("cannot be read ({})", e.kind()))?;
    if !md.is_file() {
        return Err("is not a regular file".into());
    }
    let mut out = Vec::new();
    f.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot be read ({})", e.kind()))?;
    if out.len() as u64 > cap {
        return Err(format!("is larger than {} KiB", cap >> 10));
    }
    Ok(out)
}

/// `config.json` / `auth.json`: the parts both formats share.
#[derive(Deserialize, Default)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The registry as auth files key it: Docker Hub's legacy index URL and its
/// aliases, else `host[:port]` with any scheme and path stripped.
fn key_host(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        _ => host,
    }
}

/// A file's key as [`lookup_keys`] spells keys: a URL becomes its host; a
/// `host/ns/repo` key keeps its path with the host normalised.
fn normalize_key(k: &str) -> String {
    if k.contains("://") {
        return key_host(k);
    }
    match k.split_once('/') {
        Some((h, rest)) => format!("{}/{rest}", key_host(h)),
        None => key_host(k),
    }
}

/// The key containers' auth files may use to scope an entry to a repository
/// (`host/ns/repo`), most specific first, then the host alone.
fn lookup_keys(host: &str, repository: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let parts: Vec<&str> = repository.split('/').collect();
    for n in (1..=parts.len()).rev() {
        keys.push(format!("{host}/{}", parts[..n].join("/")));
    }
    keys.push(host.to_string());
    keys
}

/// What the sources after `--creds` and ECR found for a host.
pub struct Found {
    pub credential: Option<Credential>,
    /// Every source looked at, in order, for a message when none had anything.
    pub looked: Vec<String>,
}

/// A failure reading a credential source: the message names the source.
pub struct SourceError {
    pub message: String,
    pub hint: String,
}

/// Looks through the auth files in order for `host` (as the reference names it;
/// `docker.io` for Docker Hub) and `repository`.
pub fn from_files(
    env: &Env,
    host: &str,
    repository: &str,
    deadline: Instant,
) -> Result<Found, SourceError> {
    let mut files: Vec<(PathBuf, String, bool)> = Vec::new();
    if let Some(p) = env("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        files.push((
            PathBuf::from(&p),
            format!("`REGISTRY_AUTH_FILE` (`{}`)", crate::aws::printable(&p)),
            false,
        ));
    }
    if let Some(d) = env("XDG_RUNTIME_DIR").filter(|p| !p.is_empty()) {
        let p = Path::new(&d).join("containers/auth.json");
        files.push((
            p.clone(),
            format!(
                "`$XDG_RUNTIME_DIR/containers/auth.json` (`{}`)",
                crate::aws::printable(&p.display().to_string())
            ),
            false,
        ));
    }
    let docker = match env("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        Some(d) => Some((
            Path::new(&d).join("config.json"),
            "`$DOCKER_CONFIG/config.json`",
        )),
        None => env("HOME").filter(|h| !h.is_empty()).map(|h| {
            (
                Path::new(&h).join(".docker/config.json"),
                "`~/.docker/config.json`",
            )
        }),
    };
    if let Some((p, label)) = docker {
        let shown = format!(
            "{label} (`{}`)",
            crate::aws::printable(&p.display().to_string())
        );
        files.push((p, shown, true));
    }
    let host_key = key_host(host);
    let mut looked = Vec::new();
    for (path, shown, docker) in files {
        looked.push(shown.clone());
        let bytes = match read_small_file(&path, 4 << 20) {
            Ok(b) => b,
            Err(_) if !path.exists() => continue,
            Err(why) => {
                return Err(SourceError {
                    message: format!("the registry auth file {shown} {why}"),
                    hint: "fix or remove the file, or pass `--creds`".into(),
                })
            }
        };
        // Through a JSON value first: a key given twice then keeps its last
        // value, as Go's encoding/json (docker, skopeo, podman) reads the file,
        // where deserialising straight into the struct refuses the duplicate.
        let bad = |e: serde_json::Error| SourceError {
            // serde's messages can quote values (a password): position only.
            message: if e.line() > 0 {
                format!(
                    "the registry auth file {shown} is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                )
            } else {
                format!("the registry auth file {shown} is not of the expected shape (`auths`, `credsStore`, `credHelpers`)")
            },
            hint: "fix the file (`docker login`/`podman login` rewrite it), or pass `--creds`"
                .into(),
        };
        let file: AuthFile = serde_json::from_slice::<serde_json::Value>(&bytes)
            .and_then(serde_json::from_value)
            .map_err(bad)?;
        let file_label = if docker {
            shown.split(" (").next().unwrap_or(&shown).to_string()
        } else {
            shown.clone()
        };
        let helper = file
            .cred_helpers
            .iter()
            .find(|(k, _)| key_host(k) == host_key)
            .map(|(_, v)| v.clone())
            .or_else(|| file.creds_store.clone().filter(|s| !s.is_empty()));
        if let Some(name) = helper {
            let source = Source::Helper {
                name: name.clone(),
                file: file_label.trim_matches('`').to_string(),
            };
            match run_helper(&name, host, deadline, &source)? {
                Some(c) => {
                    return Ok(Found {
                        credential: Some(c),
                        looked,
                    })
                }
                None => {
                    looked.push(source.describe());
                    continue;
                }
            }
        }
        let entry = lookup_keys(&host_key, repository).iter().find_map(|k| {
            file.auths
                .iter()
                .find(|(fk, _)| normalize_key(fk) == *k)
                .map(|(_, v)| v)
        });
        let Some(entry) = entry else { continue };
        let source = Source::AuthFile {
            what: shown.clone(),
        };
        let bad = || SourceError {
            message: format!(
                "the `auths` entry for `{host}` in {shown} is not base64 of `USER:PASSWORD`"
            ),
            hint: "log in again (`docker login`/`podman login`), or pass `--creds`".into(),
        };
        let cred = match (&entry.auth, &entry.username, &entry.password) {
            (Some(a), _, _) if !a.is_empty() => {
                let raw = Secret::new(
                    base64::engine::general_purpose::STANDARD
                        .decode(a.trim())
                        .map_err(|_| bad())?,
                );
                let text = std::str::from_utf8(raw.expose()).map_err(|_| bad())?;
                parse_user_pass(text, source).map_err(|_| bad())?
            }
            (_, Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => Credential {
                user: u.clone(),
                password: Secret::new(p.clone()),
                source,
            },
            // An empty entry (`{}`) is what `docker login` leaves with a store.
            _ => continue,
        };
        return Ok(Found {
            credential: Some(cred),
            looked,
        });
    }
    Ok(Found {
        credential: None,
        looked,
    })
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Runs `docker-credential-NAME get` with the server on stdin, as the Docker CLI
/// does. "credentials not found" is no credential; any other failure is named
/// without quoting the helper's output, which may hold the very secret.
fn run_helper(
    name: &str,
    host: &str,
    deadline: Instant,
    source: &Source,
) -> Result<Option<Credential>, SourceError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let fail = |why: String| {
        SourceError {
        message: format!("{} {why}", source.describe()),
        hint: format!("check that `docker-credential-{name}` is on PATH and works (`echo {host} | docker-credential-{name} get`), or pass `--creds`"),
    }
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(fail("is not a valid helper name".into()));
    }
    // Docker Hub's helpers key their entries by the legacy index URL.
    let server = if host == crate::image::reference::DOCKER_HUB {
        "https://index.docker.io/v1/".to_string()
    } else {
        host.to_string()
    };
    // Its own process group, so a helper that leaves children behind (holding
    // its stdout open) can be stopped whole.
    let mut child = std::os::unix::process::CommandExt::process_group(
        Command::new(format!("docker-credential-{name}"))
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        0,
    )
    .spawn()
    .map_err(|e| fail(format!("could not be started ({})", e.kind())))?;
    let group = child.id() as libc::pid_t;
    let kill_group = || {
        // SAFETY: kill(2) with a negative pid signals the helper's own group.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stdout).take(64 << 10).read_to_end(&mut out);
        let _ = tx.send(out);
    });
    let limit = Instant::now() + Duration::from_secs(30);
    let until = limit.min(deadline);
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= until => {
                kill_group();
                let _ = child.wait();
                return Err(fail("did not answer in time".into()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(fail(format!("could not be waited for ({})", e.kind()))),
        }
    };
    // The helper has exited, but a child it left may hold its stdout open: the
    // answer is waited for only until the same deadline.
    let out = match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        Ok(out) => Secret::new(out),
        Err(_) => {
            kill_group();
            return Err(fail(
                "exited but kept its output open (a process it started holds it) past the deadline"
                    .into(),
            ));
        }
    };
    if !status.success() {
        let text = String::from_utf8_lossy(out.expose()).to_ascii_lowercase();
        if text.contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!(
            "failed ({status}); its output is not shown, it may hold secrets"
        )));
    }
    let a: HelperAnswer = serde_json::from_slice(out.expose()).map_err(|_| {
        fail("answered something other than `{\"Username\":…,\"Secret\":…}`".into())
    })?;
    if a.username.is_empty() || a.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credential {
        user: a.username,
        password: Secret::new(a.secret),
        source: source.clone(),
    }))
}

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lower-cased: `basic`, `bearer`.
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses RFC 7235 challenges: `Bearer realm="…",service="…",scope="a,b"`;
/// quoted values may hold commas and `\"`. Malformed input yields what could be
/// read, never a panic.
pub fn parse_challenges(h: &str) -> Option<Vec<Challenge>> {
    let b = h.as_bytes();
    let mut i = 0;
    let mut out: Vec<Challenge> = Vec::new();
    let is_tok = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    while i < b.len() {
        skip_ws(&mut i);
        let start = i;
        while i < b.len() && is_tok(b[i]) {
            i += 1;
        }
        if start == i {
            i += 1;
            continue;
        }
        let word = &h[start..i];
        let mut j = i;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            // A parameter of the current challenge.
            i = j + 1;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    let ch_len = h[i..].chars().next().map_or(1, char::len_utf8);
                    v.push_str(&h[i..i + ch_len]);
                    i += ch_len;
                }
                if i >= b.len() {
                    // The quote never closes: which parameters follow is a guess.
                    return None;
                }
                i += 1;
                v
            } else {
                let s = i;
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                h[s..i].trim().to_string()
            };
            if let Some(c) = out.last_mut() {
                c.params.push((word.to_ascii_lowercase(), value));
            }
        } else {
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: Vec::new(),
            });
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_as_registries_send_them() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:library/alpine:pull,push")
        );
        let c = parse_challenges(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(
            (c[0].scheme.as_str(), c[0].param("realm")),
            ("basic", Some("Registry Realm"))
        );
        let c = parse_challenges(r#"Basic realm="a\"b", Bearer realm="x""#).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].param("realm"), Some("a\"b"));
        assert_eq!(c[1].param("realm"), Some("x"));
        for junk in [
            "",
            "=",
            "\"",
            "Bearer realm=\"",
            "Bearer =x",
            ",,,",
            "Bearer realm=\"é",
        ] {
            parse_challenges(junk);
        }
        // An unterminated quote swallows what follows: refused, not guessed at
        // (hostile F9: `realm="http://h/token,service=` was fetched as a URL).
        for bad in [
            "Bearer realm=\"http://127.0.0.1:5201/token,service=",
            "Bearer realm=\"x\", scope=\"a",
            "Basic realm=\"a\\\"",
        ] {
            assert!(parse_challenges(bad).is_none(), "{bad}");
        }
    }

    /// Hostile headers and references: thousands of deterministic mutations of
    /// real ones neither panic nor hang either parser.
    #[test]
    fn parsers_survive_mutated_input() {
        let seeds = [
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull""#,
            r#"Basic realm="x\"y", Bearer realm=z,scope="a,b""#,
            "docker://[::1]:5000/ns/app:v1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1.0",
        ];
        let alphabet = b"\"=,:/@[]. -_aZ09\\\x00\xff";
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for seed in seeds {
            for _ in 0..2000 {
                let mut b = seed.as_bytes().to_vec();
                for _ in 0..(next() % 4 + 1) {
                    let i = (next() as usize) % (b.len() + 1);
                    match next() % 3 {
                        0 if i < b.len() => {
                            b.remove(i);
                        }
                        1 if i < b.len() => b[i] = alphabet[(next() as usize) % alphabet.len()],
                        _ => b.insert(i, alphabet[(next() as usize) % alphabet.len()]),
                    }
                }
                let s = String::from_utf8_lossy(&b);
                parse_challenges(&s);
                let _ = crate::image::reference::ImageRef::parse(&s);
            }
        }
    }

    fn env(pairs: Vec<(&'static str, String)>) -> Env {
        std::sync::Arc::new(move |k: &str| {
            pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn auth_files_in_order_and_scoped_keys() {
        let t = tempfile::tempdir().unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let first = t.path().join("first.json");
        std::fs::write(
            &first,
            format!(
                r#"{{"auths":{{"reg.example:5000/team/app":{{"auth":"{}"}},"other.example":{{"auth":"{}"}}}}}}"#,
                b64("scoped:pw1"),
                b64("o:pw")
            ),
        )
        .unwrap();
        std::fs::create_dir_all(t.path().join(".docker")).unwrap();
        std::fs::write(
            t.path().join(".docker/config.json"),
            format!(
                r#"{{"auths":{{"https://reg.example:5000":{{"auth":"{}"}},"https://index.docker.io/v1/":{{"auth":"{}"}}}}}}"#,
                b64("docker:pw2"),
                b64("hub:pw3")
            ),
        )
        .unwrap();
        let e = env(vec![
            ("REGISTRY_AUTH_FILE", first.display().to_string()),
            ("HOME", t.path().display().to_string()),
        ]);
        let far = Instant::now() + Duration::from_secs(30);
        let f = from_files(&e, "reg.example:5000", "team/app", far)
            .ok()
            .unwrap();
        let c = f.credential.unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.expose().as_str()),
            ("scoped", "pw1")
        );
        assert!(c.source.describe().contains("REGISTRY_AUTH_FILE"));
        // Another repository on the same host: the scoped entry does not apply.
        let c = from_files(&e, "reg.example:5000", "team/other", far)
            .ok()
            .unwrap()
            .credential
            .unwrap();
        assert_eq!(c.user, "docker");
        assert!(
            c.source.describe().contains("config.json"),
            "{}",
            c.source.describe()
        );
        let c = from_files(&e, "docker.io", "library/alpine", far)
            .ok()
            .unwrap()
            .credential
            .unwrap();
        assert_eq!(c.user, "hub");
        let f = from_files(&e, "nowhere.example", "x", far).ok().unwrap();
        assert!(f.credential.is_none());
        assert_eq!(f.looked.len(), 2, "{:?}", f.looked);
    }

    #[test]
    fn a_malformed_auth_file_is_named_never_quoted() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("auth.json");
        std::fs::write(&p, r#"{"auths":{"h":{"auth":"CANARY-not-base64!"}}}"#).unwrap();
        let e = env(vec![("REGISTRY_AUTH_FILE", p.display().to_string())]);
        let far = Instant::now() + Duration::from_secs(30);
        let err = from_files(&e, "h", "r", far).err().unwrap();
        assert!(!err.message.contains("CANARY"), "{}", err.message);
        std::fs::write(&p, r#"{"auths":{"h":{"auth":42, "x":"CANARY"}}}"#).unwrap();
        let err = from_files(&e, "h", "r", far).err().unwrap();
        assert!(
            !err.message.contains("CANARY") && err.message.contains("expected shape"),
            "{}",
            err.message
        );
        // Not JSON at all: its position, still no value.
        std::fs::write(&p, "{\"auths\":{\"h\":{\"auth\":\"CANARY\"}\n}").unwrap();
        let err = from_files(&e, "h", "r", far).err().unwrap();
        assert!(
            !err.message.contains("CANARY") && err.message.contains("line 2"),
            "{}",
            err.message
        );
    }

    #[test]
    fn credentials_never_format_their_secret() {
        let c = parse_user_pass("u:CANARY:more", Source::Flag).unwrap();
        assert_eq!(c.password.expose(), "CANARY:more");
        assert!(!format!("{c:?}").contains("CANARY"));
        assert!(!format!("{:?}", c.basic()).contains("Basic"));
        assert!(parse_user_pass("nopass", Source::Flag).is_err());
        assert!(parse_user_pass(":x", Source::Flag).is_err());
    }
}
