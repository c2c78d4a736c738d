//! Debian's `docker-registry` (the CNCF distribution registry) on a free loopback
//! port, killed when dropped: plain HTTP or TLS (a certificate from
//! [`super::pg::Ca`]), open, htpasswd Basic, or token auth against
//! [`TokenServer`], a minimal Bearer token service on a std `TcpListener`.
//! Registries can share one storage directory, so fixtures pushed once (with
//! `skopeo copy`, an independent client) are served by differently-guarded
//! registries.

use super::pg::{free_port, Ca};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub enum Auth {
    Open,
    /// htpasswd (bcrypt) with these users.
    Basic(Vec<(String, String)>),
    /// Bearer tokens from `realm`, signed by the token server's key.
    Token {
        realm: String,
        cert: PathBuf,
    },
}

pub struct Registry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// A registry over `storage` with `auth`, and TLS when `tls` holds PEM
    /// certificate and key paths.
    pub fn start(storage: &Path, auth: Auth, tls: Option<(&Path, &Path)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        if let Some((cert, key)) = tls {
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        match &auth {
            Auth::Open => {}
            Auth::Basic(users) => {
                let file = dir.path().join("htpasswd");
                let mut lines = String::new();
                for (u, p) in users {
                    let out = Command::new("htpasswd")
                        .args(["-Bbn", u, p])
                        .output()
                        .expect("htpasswd is not installed: `.ci/install` installs apache2-utils");
                    assert!(out.status.success(), "htpasswd failed");
                    lines.push_str(String::from_utf8(out.stdout).unwrap().trim());
                    lines.push('\n');
                }
                std::fs::write(&file, lines).unwrap();
                cfg.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    file.display()
                ));
            }
            Auth::Token { realm, cert } => cfg.push_str(&format!(
                "auth:\n  token:\n    realm: {realm}\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                cert.display()
            )),
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is not installed: `.ci/install` installs it");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Registry {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `skopeo copy` from an offline reference into an open plain-HTTP registry.
pub fn push(from: &str, registry: &Registry, to: &str) {
    let out = Command::new("skopeo")
        // `--all`: an index is copied whole, not just the host's platform.
        .args([
            "--insecure-policy",
            "copy",
            "--all",
            "--quiet",
            "--dest-tls-verify=false",
        ])
        .arg(from)
        .arg(format!("docker://{}/{to}", registry.host()))
        .output()
        .expect("skopeo is not installed: `.ci/install` installs it");
    assert!(
        out.status.success(),
        "skopeo copy {from}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority and a server certificate for `127.0.0.1` and
/// `localhost`, written as PEM files in `dir`: `(ca.pem, cert.pem, key.pem)`.
pub fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca = Ca::new("shipcheck registry test CA");
    let now = super::pg::now();
    let (cert, key) = ca.server(&["localhost"], true, now - 60, now + 86400);
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.cert.to_pem().unwrap()).unwrap();
    std::fs::write(&paths.1, cert.to_pem().unwrap()).unwrap();
    std::fs::write(&paths.2, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    paths
}

/// A minimal Bearer token service, as distribution's token auth expects one:
/// `GET /token?service=…&scope=repository:NAME:ACTIONS` answered with an RS256
/// JWT whose `x5c` header carries the signing certificate (the registry trusts
/// it through `rootcertbundle`). With `user` set, it requires that Basic
/// credential and answers 401 otherwise. It counts the requests it serves.
pub struct TokenServer {
    pub port: u16,
    pub cert: PathBuf,
    pub requests: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    pub fn start(user: Option<(&str, &str)>) -> TokenServer {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("shipcheck token signer");
        let cert = dir.path().join("token.pem");
        std::fs::write(&cert, ca.cert.to_pem().unwrap()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let expected = user.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        let der = ca.cert.to_der().unwrap();
        let key = ca.key().clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { break };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut authz = None;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("authorization") {
                            authz = Some(v.trim().to_string());
                        }
                    }
                }
                if expected.is_some() && authz != expected {
                    let _ = s.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                let target = line.split_whitespace().nth(1).unwrap_or("");
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
                let access: Vec<serde_json::Value> = url::form_urlencoded::parse(query.as_bytes())
                    .filter(|(k, _)| k == "scope")
                    .filter_map(|(_, v)| {
                        let mut p = v.splitn(3, ':');
                        let (t, name, actions) = (p.next()?, p.next()?, p.next()?);
                        Some(serde_json::json!({"type": t, "name": name,
                            "actions": actions.split(',').collect::<Vec<_>>()}))
                    })
                    .collect();
                let token = jwt(&key, &der, access);
                let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.flush();
                let mut rest = Vec::new();
                let _ = s.set_read_timeout(Some(Duration::from_millis(10)));
                let _ = s.read_to_end(&mut rest);
            }
        });
        TokenServer {
            port,
            cert,
            requests,
            _dir: dir,
        }
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

fn jwt(
    key: &openssl::pkey::PKey<openssl::pkey::Private>,
    cert_der: &[u8],
    access: Vec<serde_json::Value>,
) -> String {
    use base64::Engine as _;
    let b64u = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let now = super::pg::now();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(cert_der)]});
    let claims = serde_json::json!({"iss": "test-issuer", "sub": "tester", "aud": "test-registry",
        "exp": now + 300, "nbf": now - 60, "iat": now, "jti": format!("{now}-{}", access.len()),
        "access": access});
    let signing_input = format!(
        "{}.{}",
        b64u(header.to_string().as_bytes()),
        b64u(claims.to_string().as_bytes())
    );
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key).unwrap();
    signer.update(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64u(&signer.sign_to_vec().unwrap()))
}

/// A loopback server that answers every request with the same status line and
/// headers (no body) and counts them: a registry that only rate-limits or fails.
/// It stops by itself after `max` requests.
pub fn canned(status: &'static str, headers: &'static str, max: usize) -> (u16, Arc<AtomicUsize>) {
    canned_with_body(status, headers.to_string(), Vec::new(), max)
}

/// [`canned`] with a body: a token service that answers what a test needs.
pub fn canned_with_body(
    status: &'static str,
    headers: String,
    body: Vec<u8>,
    max: usize,
) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut s) = stream else { break };
            c.fetch_add(1, Ordering::SeqCst);
            let mut r = BufReader::new(s.try_clone().unwrap());
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
            }
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    (port, count)
}

/// A loopback "blackhole": accepts connections and never answers, for at most
/// `hold`, so a client's deadline is what ends the wait.
pub fn blackhole(hold: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let end = Instant::now() + hold;
        let mut held = Vec::new();
        while Instant::now() < end {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    port
}

/// A loopback TCP proxy to `upstream` that breaks one blob download: the first
/// time more than `cut_after` bytes of a response to a `GET …/blobs/…` have
/// passed, both sides of that connection are shut. `cut` says whether it
/// happened, so a test cannot pass without the fault. `blob_gets` lists the
/// digest of every blob GET that passed, ` (range)` after it for a ranged one
/// (`cut_after` of `usize::MAX`: a proxy that only counts, for the layer
/// cache's tests).
pub struct ResetProxy {
    pub port: u16,
    pub cut: Arc<std::sync::atomic::AtomicBool>,
    pub blob_gets: Arc<std::sync::Mutex<Vec<String>>>,
}

/// What a [`ResetProxy`] does to a blob's response once `after` bytes of it
/// (head included) have passed.
#[derive(Clone, Default)]
pub struct Fault {
    pub after: usize,
    /// Flip one byte and let the rest through, instead of breaking.
    pub flip: bool,
    /// Go silent with the connection open, instead of breaking.
    pub stall: bool,
    /// Every matching response, not only the first.
    pub every: bool,
    /// Only GETs of this blob digest.
    pub only: Option<String>,
}

impl ResetProxy {
    pub fn start(upstream: u16, cut_after: usize) -> ResetProxy {
        Self::with_fault(
            upstream,
            Fault {
                after: cut_after,
                ..Fault::default()
            },
        )
    }

    /// The same proxy, but instead of breaking the connection it flips one
    /// byte of the blob and lets the rest through: wrong bytes for a digest.
    pub fn corrupting(upstream: u16, after: usize) -> ResetProxy {
        Self::with_fault(
            upstream,
            Fault {
                after,
                flip: true,
                ..Fault::default()
            },
        )
    }

    pub fn with_fault(upstream: u16, fault: Fault) -> ResetProxy {
        use std::sync::atomic::AtomicBool;
        use std::sync::Mutex;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let done = cut.clone();
        let blob_gets = Arc::new(Mutex::new(Vec::new()));
        let gets = blob_gets.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().take(200) {
                let Ok(client) = client else { break };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                // (a blob request is in flight, bytes of its response so far)
                let state = Arc::new(Mutex::new((false, 0usize)));
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let st = state.clone();
                let gets = gets.clone();
                let only = fault.only.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = c_in.read(&mut buf) {
                        if n == 0 || s_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if text.starts_with("GET ") {
                            let target = text.split(' ').nth(1).unwrap_or_default();
                            let blob = target
                                .split_once("/blobs/")
                                .map(|(_, d)| d)
                                .filter(|d| only.as_deref().is_none_or(|o| o == *d));
                            if let Some(d) = blob {
                                // A ranged GET (a resume, or a warm run asking
                                // for a cached layer's last byte) is no fetch.
                                let ranged = text.to_ascii_lowercase().contains("\r\nrange:");
                                let entry = if ranged {
                                    format!("{d} (range)")
                                } else {
                                    d.to_string()
                                };
                                gets.lock().unwrap().push(entry);
                            }
                            *st.lock().unwrap() = (blob.is_some(), 0);
                        }
                    }
                    let _ = s_out.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_in, mut c_out) = (server, client);
                let done = done.clone();
                let fault = fault.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s_in.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        let fire = {
                            let mut s = state.lock().unwrap();
                            s.1 += n;
                            s.0 && s.1 > fault.after
                                && (fault.every || !done.load(Ordering::SeqCst))
                        };
                        if fire && fault.stall {
                            done.store(true, Ordering::SeqCst);
                            let _ = c_out.write_all(&buf[..n / 2]);
                            // Silent, connection open, until the client gives up.
                            let _ = c_out.set_read_timeout(Some(Duration::from_secs(120)));
                            let _ = c_out.read(&mut [0u8; 1]);
                            break;
                        } else if fire && fault.flip {
                            done.store(true, Ordering::SeqCst);
                            buf[n - 1] ^= 0x55;
                        } else if fire {
                            done.store(true, Ordering::SeqCst);
                            let _ = c_out.write_all(&buf[..n / 2]);
                            let _ = c_out.shutdown(std::net::Shutdown::Both);
                            let _ = s_in.shutdown(std::net::Shutdown::Both);
                            break;
                        }
                        if c_out.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = c_out.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        ResetProxy {
            port,
            cut,
            blob_gets,
        }
    }
}

/// A manifest as the registry serves it (skopeo may have recompressed layers on
/// push, so the registry's sizes are not the layout's).
pub fn manifest(registry: &Registry, repo: &str, reference: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(("127.0.0.1", registry.port)).unwrap();
    write!(
        s,
        "GET /v2/{repo}/manifests/{reference} HTTP/1.0\r\nHost: {}\r\nAccept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json\r\n\r\n",
        registry.host()
    )
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let at = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    serde_json::from_slice(&resp[at..]).unwrap()
}
