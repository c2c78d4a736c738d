//! The registry source's HTTP: hyper with rustls and ring (the crates, and so the
//! one TLS stack, that the AWS SDK client in `crate::aws` is built on), with the
//! deadline, retries, redirects and error naming a registry pull needs.
//!
//! Every request is bounded by the one `--timeout` deadline. Connection errors,
//! 5xx and 429 are retried with backoff, honouring `Retry-After`, as long as the
//! deadline allows. Redirects (blobs served from S3 or a CDN) are followed, and
//! the `Authorization` header is dropped when one changes host, as Docker and
//! containerd do; a redirect from HTTPS to plain HTTP is refused unless it stays on
//! loopback. Bodies stream into a bounded channel that a blocking reader drains,
//! so a layer is never held whole and transfer overlaps decompression. Messages
//! name hosts, never URLs: a pre-signed URL's query is a credential.

use crate::image::error::{ImageError, Result};
use crate::redact::Secret;
use crate::report::Code;
use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, LOCATION, RETRY_AFTER, USER_AGENT};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use url::Url;

/// Redirects followed for one request (a blob goes to S3 once; more is a loop).
const MAX_REDIRECTS: usize = 5;
/// The longest `Retry-After` we wait for; a registry asking for more is named.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How many frames a blob may have in flight between the network and the reader.
const STREAM_FRAMES: usize = 16;

/// `localhost`, 127.0.0.0/8 or `::1` (with or without a port): the only hosts
/// plain HTTP is allowed to.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]` of a URL, as messages show it and as redirects compare it.
pub fn authority(u: &Url) -> String {
    let host = match u.host() {
        Some(url::Host::Ipv6(a)) => format!("[{a}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    };
    match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

pub struct Http {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    pub deadline: Instant,
    /// The `--timeout` as the user gave it, for messages.
    pub timeout: Duration,
    pub retries: u32,
    /// Whether any server answered in this run: a connection refused (or a
    /// host name that does not resolve) before that means nothing is there,
    /// and retrying for seconds would only delay saying so; after it, the
    /// same failure is a blip worth retrying.
    answered: std::sync::atomic::AtomicBool,
}

/// Roots for the registry: the system's (rustls-native-certs reads
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` first, as OpenSSL does) plus `--ca-file`.
fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let system = crate::aws::native_certs().map_err(|r| {
        ImageError::registry(
            Code::ImageUnreadable,
            format!(
                "{}; the system's CA certificates were not read",
                r.message()
            ),
            r.hint(),
        )
    })?;
    for c in system {
        // One unparsable system certificate must not cost the others.
        let _ = roots.add(c.clone());
    }
    if let Some(path) = ca_file {
        let shown = path.display().to_string();
        let bad = |why: String| {
            ImageError::registry(
                Code::ImageUnreadable,
                format!("`--ca-file` `{}` {why}", crate::aws::printable(&shown)),
                "name a PEM file holding the CA certificate(s) that sign the registry's certificate",
            )
        };
        let bytes = super::auth::read_small_file(path, 32 << 20).map_err(bad)?;
        let mut n = 0;
        for c in CertificateDer::pem_slice_iter(&bytes) {
            let c = c.map_err(|_| bad("holds a PEM section that cannot be read".into()))?;
            roots
                .add(c)
                .map_err(|_| bad("holds a certificate that cannot be parsed".into()))?;
            n += 1;
        }
        if n == 0 {
            return Err(bad("holds no PEM certificates".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImageError::Invalid(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(cfg)
}

impl Http {
    /// Must be called inside the runtime (hyper's pool spawns on it).
    pub fn new(ca_file: Option<&std::path::Path>, timeout: Duration, retries: u32) -> Result<Http> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(Duration::from_secs(30)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(ca_file)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Http {
            client,
            deadline: Instant::now() + timeout,
            timeout,
            retries,
            answered: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn deadline_passed(&self, host: &str, what: &str) -> ImageError {
        ImageError::registry(
            Code::RegistryUnavailable,
            format!(
                "the `--timeout` of {} passed while fetching {what} from `{host}`",
                humantime::format_duration(self.timeout)
            ),
            "the registry is slow or not answering; raise `--timeout` for a large image on a slow link",
        )
    }

    async fn send_once(
        &self,
        url: &Url,
        accept: Option<&str>,
        auth: Option<&Secret<String>>,
        range: Option<u64>,
    ) -> std::result::Result<Response<Incoming>, SendError> {
        let mut b = Request::get(url.as_str()).header(
            USER_AGENT,
            concat!("shipcheck-image-check/", env!("CARGO_PKG_VERSION")),
        );
        if let Some(a) = accept {
            b = b.header(ACCEPT, a);
        }
        if let Some(start) = range {
            b = b.header(http::header::RANGE, format!("bytes={start}-"));
        }
        if let Some(a) = auth {
            let mut v = HeaderValue::from_str(a.expose()).map_err(|_| SendError::BadHeader)?;
            v.set_sensitive(true);
            b = b.header(AUTHORIZATION, v);
        }
        let req = b.body(Empty::new()).map_err(|_| SendError::BadHeader)?;
        match tokio::time::timeout_at(self.deadline, self.client.request(req)).await {
            Err(_) => Err(SendError::Deadline),
            Ok(Err(e)) => Err(SendError::Connect(classify(&e))),
            Ok(Ok(r)) => {
                self.answered
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(r)
            }
        }
    }

    /// GET with retries and redirects. `auth` goes only to `url`'s host; `what`
    /// names the request in messages. 401/403/404 are returned for the caller.
    pub async fn get(
        &self,
        url: Url,
        accept: Option<&str>,
        auth: Option<&Secret<String>>,
        range: Option<u64>,
        what: &str,
    ) -> Result<Response<Incoming>> {
        let origin = authority(&url);
        let mut url = url;
        for _ in 0..=MAX_REDIRECTS {
            let same_host = authority(&url) == origin;
            let auth = auth.filter(|_| same_host);
            let resp = self.get_retrying(&url, accept, auth, range, what).await?;
            let status = resp.status();
            if !same_host && matches!(status.as_u16(), 401 | 403) {
                // Not the registry's challenge, and not about the user's
                // credentials (none were sent here): the redirect's target
                // refused the URL it was given.
                return Err(ImageError::registry(
                    Code::RegistryAuth,
                    format!(
                        "`{origin}` redirected {what} to `{}`, which answered `{}` (image-check sends no credentials to another host)",
                        authority(&url),
                        status_text(status)
                    ),
                    "the registry's storage refused the URL the registry signed: check the registry's storage credentials, and this machine's clock (a pre-signed URL expires)",
                ));
            }
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                return Ok(resp);
            }
            let host = authority(&url);
            let next = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .ok_or_else(|| {
                    ImageError::registry(
                        Code::RegistryUnavailable,
                        format!("`{host}` answered {what} with a redirect that has no usable `Location`"),
                        "the registry or a proxy in front of it is misconfigured",
                    )
                })?;
            check_scheme(&next, &url, what)?;
            url = next;
        }
        Err(ImageError::registry(
            Code::RegistryUnavailable,
            format!(
                "`{origin}` redirected {what} more than {MAX_REDIRECTS} times; stopped following"
            ),
            "the registry or a proxy in front of it is misconfigured (a redirect loop)",
        ))
    }

    async fn get_retrying(
        &self,
        url: &Url,
        accept: Option<&str>,
        auth: Option<&Secret<String>>,
        range: Option<u64>,
        what: &str,
    ) -> Result<Response<Incoming>> {
        let host = authority(url);
        let mut attempt = 0u32;
        loop {
            let mut asked_by = None;
            let wait = match self.send_once(url, accept, auth, range).await {
                Ok(resp) => {
                    let s = resp.status();
                    let retryable = s == StatusCode::TOO_MANY_REQUESTS
                        || matches!(s.as_u16(), 500 | 502 | 503 | 504);
                    if !retryable {
                        return Ok(resp);
                    }
                    if attempt >= self.retries {
                        return Err(status_exhausted(&host, s, what, attempt + 1));
                    }
                    let asked = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry_after(v, SystemTime::now()));
                    if let Some(a) = asked {
                        if a > MAX_RETRY_AFTER {
                            return Err(ImageError::registry(
                                Code::RegistryUnavailable,
                                format!(
                                    "`{host}` answered {what} with `{}` and asked to wait {} (`Retry-After`), longer than the {} image-check waits",
                                    status_text(s),
                                    humantime::format_duration(a),
                                    humantime::format_duration(MAX_RETRY_AFTER)
                                ),
                                "the registry is rate-limiting or down for maintenance; try again later (authenticated pulls get higher rate limits)",
                            ));
                        }
                    }
                    asked_by = asked.map(|a| (s, a));
                    asked.unwrap_or_else(|| backoff(attempt))
                }
                Err(SendError::Deadline) => return Err(self.deadline_passed(&host, what)),
                Err(SendError::BadHeader) => {
                    return Err(ImageError::registry(
                        Code::RegistryAuth,
                        format!("the credentials for `{host}` cannot be sent in an HTTP header (they hold a line break or control character)"),
                        "check the credentials' source for a stray newline",
                    ))
                }
                Err(SendError::Connect(c)) => {
                    // TLS failures do not heal by retrying; connection failures
                    // may, once the registry has been seen to be there.
                    let absent = (c.dns || c.io == Some(io::ErrorKind::ConnectionRefused))
                        && !self.answered.load(std::sync::atomic::Ordering::Relaxed);
                    if c.tls.is_some() || absent || attempt >= self.retries {
                        return Err(c.into_error(&host, what, self.deadline));
                    }
                    backoff(attempt)
                }
            };
            if Instant::now() + wait >= self.deadline {
                // Waiting as asked would pass the deadline: say so now, rather
                // than that the deadline passed (it has not, yet).
                if let Some((s, a)) = asked_by {
                    return Err(ImageError::registry(
                        Code::RegistryUnavailable,
                        format!(
                            "`{host}` answered {what} with `{}` and asked to wait {} (`Retry-After`), past the `--timeout` of {}",
                            status_text(s),
                            humantime::format_duration(a),
                            humantime::format_duration(self.timeout)
                        ),
                        "the registry is rate-limiting or busy; try again later, or raise `--timeout`",
                    ));
                }
                return Err(self.deadline_passed(&host, what));
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

fn check_scheme(next: &Url, from: &Url, what: &str) -> Result<()> {
    match next.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&authority(next)) => Ok(()),
        "http" => Err(ImageError::registry(
            Code::RegistryUnavailable,
            format!(
                "`{}` redirected {what} to plain HTTP at `{}`; refusing to follow",
                authority(from),
                authority(next)
            ),
            "blobs must come over HTTPS; fix the registry's storage redirect settings",
        )),
        other => Err(ImageError::registry(
            Code::RegistryUnavailable,
            format!(
                "`{}` redirected {what} to a `{other}:` URL; only HTTPS is followed",
                authority(from)
            ),
            "the registry or a proxy in front of it is misconfigured",
        )),
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(4)))
}

pub fn status_text(s: StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("{} {r}", s.as_u16()),
        None => s.as_u16().to_string(),
    }
}

fn status_exhausted(host: &str, s: StatusCode, what: &str, times: u32) -> ImageError {
    let hint = if s == StatusCode::TOO_MANY_REQUESTS {
        "the registry is rate-limiting these pulls; wait and try again, or authenticate (`--creds`, `docker login`) for a higher limit"
    } else {
        "the registry is failing; try again later, and check its status or logs"
    };
    ImageError::registry(
        Code::RegistryUnavailable,
        format!(
            "`{host}` answered {what} with `{}` {times} times; gave up",
            status_text(s)
        ),
        hint,
    )
}

/// `Retry-After` as seconds or an HTTP date (IMF-fixdate), from `now`.
pub fn retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let p: Vec<&str> = v.split([' ', ':']).collect();
    let [_, day, mon, year, h, m, s, "GMT"] = p.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS.iter().position(|x| x == mon)? as i64 + 1;
    let (y, d): (i64, i64) = (year.parse().ok()?, day.parse().ok()?);
    let (h, m, s): (i64, i64, i64) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = if mon <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mon + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let at = days * 86400 + h * 3600 + m * 60 + s;
    let now = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(Duration::from_secs((at - now).max(0) as u64))
}

enum SendError {
    Deadline,
    BadHeader,
    Connect(ConnectFailure),
}

/// Why a connection failed, read off the error chain without quoting it whole.
pub struct ConnectFailure {
    /// A TLS failure: its code and a phrase, as preflight names them.
    tls: Option<(Code, &'static str)>,
    /// The innermost I/O error kind, when there is one.
    io: Option<io::ErrorKind>,
    dns: bool,
    text: String,
}

fn classify(e: &(dyn std::error::Error + 'static)) -> ConnectFailure {
    use rustls::CertificateError as C;
    let mut out = ConnectFailure {
        tls: None,
        io: None,
        dns: false,
        text: String::new(),
    };
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let t = err.to_string();
        if t.contains("dns error") {
            out.dns = true;
        }
        // hyper-rustls and tokio-rustls each wrap the TLS error in an io::Error,
        // whose `source()` skips the wrapped error: unwrap them by hand.
        let mut inner: &(dyn std::error::Error + 'static) = err;
        let mut tls = None;
        loop {
            if let Some(t) = inner.downcast_ref::<rustls::Error>() {
                tls = Some(t);
                break;
            }
            match inner.downcast_ref::<io::Error>() {
                Some(io) => {
                    out.io = Some(io.kind());
                    match io.get_ref() {
                        Some(i) => inner = i,
                        None => break,
                    }
                }
                None => break,
            }
        }
        if let Some(t) = tls {
            out.tls = Some(match t {
                rustls::Error::InvalidCertificate(c) => match c {
                    C::UnknownIssuer | C::BadSignature => (Code::TlsUnknownCa, "the registry's certificate chain is not trusted (self-signed or unknown CA)"),
                    C::NotValidForName | C::NotValidForNameContext { .. } => (Code::TlsHostnameMismatch, "the registry's certificate is not valid for its host name"),
                    C::Expired | C::ExpiredContext { .. } => (Code::TlsExpired, "the registry's certificate has expired"),
                    C::NotValidYet | C::NotValidYetContext { .. } => (Code::TlsNotYetValid, "the registry's certificate is not valid yet"),
                    C::Revoked => (Code::TlsRevoked, "the registry's certificate is revoked"),
                    _ => (Code::TlsHandshake, "the registry's certificate was rejected"),
                },
                rustls::Error::InvalidMessage(_) => (Code::TlsHandshake, "the server did not answer in TLS (it may serve plain HTTP)"),
                _ => (Code::TlsHandshake, "the TLS handshake failed"),
            });
        }
        if out.text.is_empty() && !t.is_empty() {
            out.text = t;
        }
        cur = err.source();
    }
    out
}

impl ConnectFailure {
    fn into_error(self, host: &str, what: &str, deadline: Instant) -> ImageError {
        if let Some((code, phrase)) = self.tls {
            let hint = match code {
                Code::TlsUnknownCa => "pass the CA that signs the registry's certificate with `--ca-file FILE`, or add it to the system store",
                Code::TlsHostnameMismatch => "use the host name the certificate names, or reissue the certificate with this name in its subjectAltName",
                Code::TlsExpired | Code::TlsNotYetValid => "renew the registry's certificate (and check this machine's clock)",
                _ if phrase.contains("plain HTTP") => "for a loopback test registry pass `--insecure-http`; any other registry must serve HTTPS",
                _ => "check the registry's TLS setup (protocol versions, cipher suites)",
            };
            return ImageError::registry(
                code,
                format!(
                    "TLS to `{host}` failed while fetching {what}: {phrase} (`{}`)",
                    code.as_str()
                ),
                hint,
            );
        }
        if Instant::now() >= deadline {
            return ImageError::registry(
                Code::RegistryUnavailable,
                format!("the `--timeout` deadline passed while connecting to `{host}`"),
                "raise `--timeout`, or check that the registry answers",
            );
        }
        let (msg, hint) = if self.dns {
            (
                format!("cannot resolve the registry host `{host}`"),
                "check the host name in the reference (or `--registry`), and DNS",
            )
        } else if self.io == Some(io::ErrorKind::ConnectionRefused) {
            (
                format!("nothing listens at `{host}` (connection refused)"),
                "check the host and port, and that the registry is running",
            )
        } else if matches!(self.io, Some(io::ErrorKind::TimedOut)) {
            (
                format!("connecting to `{host}` timed out"),
                "check the host and port, and any firewall between here and the registry",
            )
        } else {
            (
                format!("cannot reach `{host}` for {what}"),
                "check the host and port, and that the registry is running",
            )
        };
        let mut message = msg;
        // hyper's innermost text ("connection reset by peer") names no URL or header.
        if !self.text.is_empty() && !self.dns {
            message.push_str(&format!(": {}", self.text));
        }
        ImageError::registry(Code::RegistryUnavailable, message, hint)
    }
}

/// Reads a small body whole (a manifest, a token answer, an error document),
/// refusing more than `cap` bytes rather than cutting it.
pub async fn read_body(
    resp: Response<Incoming>,
    cap: u64,
    deadline: Instant,
) -> std::result::Result<Vec<u8>, BodyError> {
    if resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > cap)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = resp.into_body();
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::Deadline),
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => return Err(BodyError::Broken(e.to_string())),
            Ok(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    if out.len() as u64 + d.len() as u64 > cap {
                        return Err(BodyError::TooLarge);
                    }
                    out.extend_from_slice(&d);
                }
            }
        }
    }
}

pub enum BodyError {
    TooLarge,
    Deadline,
    Broken(String),
}

/// A blob as a blocking `Read`: a task on the runtime moves frames into a bounded
/// channel (see [`BlobReader::channel`]), so the network keeps going while the
/// caller decompresses, and memory stays at a few frames. At most `limit` bytes
/// are delivered (the descriptor's size, plus one so an oversized blob shows as a
/// size mismatch instead of streaming forever).
pub struct BlobReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    buf: Bytes,
    left: u64,
}

pub type FrameSender = tokio::sync::mpsc::Sender<io::Result<Bytes>>;

impl BlobReader {
    /// The reader and the sender a pump task feeds.
    pub fn channel(limit: Option<u64>) -> (BlobReader, FrameSender) {
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_FRAMES);
        (
            BlobReader {
                rx,
                buf: Bytes::new(),
                left: limit.map(|l| l.saturating_add(1)).unwrap_or(u64::MAX),
            },
            tx,
        )
    }
}

impl Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            if self.left == 0 {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out
            .len()
            .min(self.buf.len())
            .min(self.left.min(usize::MAX as u64) as usize);
        out[..n].copy_from_slice(&self.buf[..n]);
        let _ = self.buf.split_to(n);
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:80",
            "127.9.9.9",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:5000",
            "example.com",
            "localhost.example.com",
            "[::2]:1",
            "0.0.0.0",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784111777);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-3", now), None);
    }
}
