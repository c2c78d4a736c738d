//! A registry as an image source: the distribution API v2 (OCI and Docker media
//! types), authenticated in the order [`auth`] documents, over [`http`].
//!
//! The tag (or digest) is resolved with one manifest GET; index entries are
//! selected on their descriptors before child manifests are fetched; blobs stream
//! into the same verifying layer reader as the offline sources. A 404 is told
//! apart as a missing repository or a missing tag (with a few tags listed); a 401
//! or 403 names the credential source that was used.
//!
//! The image side is synchronous (layers are `std::io::Read`), so the source owns
//! a small tokio runtime and blocks on it from the caller's threads; bodies are
//! pumped by tasks on the runtime so the network runs ahead of decompression.
//! `oci-client` was considered and not used: it is built on reqwest (a second
//! HTTP client beside the AWS SDK's hyper one) and has no hook for this auth order.

pub mod auth;
pub mod ecr;
pub mod http;

use self::auth::{Credential, Env};
use self::http::{authority, read_body, status_text, BlobReader, BodyError, Http};
use super::walk::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use super::{BlobDesc, ImageSource, Root, MAX_METADATA};
use crate::image::digest::{sha256_of, verify_bytes, Digest};
use crate::image::error::{ImageError, Result, SourceFailure};
use crate::image::reference::{valid_host, Registry, RegistryRef, DOCKER_HUB};
use crate::redact::Secret;
use crate::report::Code;
use ::http::StatusCode;
use hyper::body::Incoming;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// Long enough for a 2 GiB image on a slow CI link, short enough that a registry
/// that never answers does not hold a CI job for hours.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Retries after the first attempt, for connection errors, 5xx and 429.
pub const DEFAULT_RETRIES: u32 = 4;

/// Everything a registry pull can be told: credentials, trust, the deadline.
#[derive(Clone)]
pub struct RegistryOptions {
    /// From `--creds` or `--creds-file`, first in the order.
    pub creds: Option<Credential>,
    /// Trusted in addition to the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Plain HTTP, for loopback registries only.
    pub insecure_http: bool,
    /// `--registry HOST[:PORT]`: the host for bare references.
    pub host: Option<String>,
    /// The overall deadline, from the moment the source is opened.
    pub timeout: Duration,
    pub retries: u32,
    /// Where `REGISTRY_AUTH_FILE`, `HOME`, `AWS_*` … are read.
    pub env: Env,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            creds: None,
            ca_file: None,
            insecure_http: false,
            host: None,
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            env: Arc::new(|k: &str| std::env::var(k).ok()),
        }
    }
}

impl std::fmt::Debug for RegistryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryOptions")
            .field("creds", &self.creds)
            .field("ca_file", &self.ca_file)
            .field("insecure_http", &self.insecure_http)
            .field("host", &self.host)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

const ACCEPT_ALL: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.1, application/vnd.docker.distribution.manifest.v1+json;q=0.1";

/// What a request is for: messages and ECR's permission names differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Manifest,
    Blob,
    Tags,
}

impl Kind {
    fn ecr_permission(self) -> &'static str {
        match self {
            Kind::Manifest | Kind::Tags => "ecr:BatchGetImage",
            Kind::Blob => "ecr:GetDownloadUrlForLayer",
        }
    }
}

struct Client {
    http: Http,
    base: Url,
    /// `host[:port]` as messages show it.
    host: String,
    repository: String,
    reference: RegistryRef,
    cred: Mutex<Option<Credential>>,
    /// The sources looked at, for a message when none had credentials.
    looked: Vec<String>,
    header: Mutex<Option<Secret<String>>>,
    ecr: Option<ecr::Context>,
    ecr_refreshed: AtomicBool,
    env: Env,
}

pub struct RegistrySource {
    client: Arc<Client>,
    // Declared last: dropped after the client, whose pool lives on it.
    rt: tokio::runtime::Runtime,
}

fn config_error(message: String, hint: &str) -> ImageError {
    ImageError::registry(Code::ImageUnreadable, message, hint)
}

impl RegistrySource {
    pub fn open(r: &RegistryRef, opts: &RegistryOptions) -> Result<RegistrySource> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("registry")
            .enable_all()
            .build()
            .map_err(|e| ImageError::io("the registry client's runtime", e))?;
        let client = rt.block_on(Client::open(r, opts))?;
        Ok(RegistrySource {
            client: Arc::new(client),
            rt,
        })
    }
}

impl Client {
    async fn open(r: &RegistryRef, opts: &RegistryOptions) -> Result<Client> {
        let http = Http::new(opts.ca_file.as_deref(), opts.timeout, opts.retries)?;
        let std_deadline = std::time::Instant::now() + opts.timeout;
        let host = match (&r.registry, &opts.host) {
            (Registry::Host(h), Some(_)) => {
                return Err(config_error(
                    format!("`--registry` is for bare references, and `{r}` names its host `{h}`"),
                    "drop `--registry`, or drop the host from the reference",
                ))
            }
            (Registry::Host(h), None) => Some(h.clone()),
            (Registry::Ecr, Some(h)) => Some(valid_host(h).map_err(|why| {
                config_error(
                    format!("`--registry`: {why}"),
                    "pass `--registry HOST[:PORT]`",
                )
            })?),
            (Registry::Ecr, None) => None,
        };
        let ecr_region = r.host().and_then(ecr::region_of);
        let is_ecr = r.registry == Registry::Ecr || ecr_region.is_some();
        let mut cred = opts.creds.clone();
        let mut ecr_ctx = None;
        let mut ecr_host = None;
        // ECR is asked when it is next in the order, or when a bare reference
        // needs its host from the token's `proxyEndpoint`.
        if is_ecr && (cred.is_none() || host.is_none()) {
            let (c, proxy, ctx) = ecr::login(&opts.env, ecr_region, http.deadline).await?;
            if cred.is_none() {
                cred = Some(c);
                ecr_ctx = Some(ctx);
            }
            ecr_host = Some(proxy);
        }
        let host = match host.or(ecr_host) {
            Some(h) if !h.is_empty() => h,
            _ => {
                return Err(ImageError::registry(
                    Code::RegistryAuth,
                    "ECR's answer named no registry host (`proxyEndpoint`)",
                    "pass the registry host with `--registry HOST`",
                ))
            }
        };
        let loopback = http::is_loopback(&host);
        let scheme = match (opts.insecure_http, loopback) {
            (false, _) => "https",
            (true, true) => "http",
            (true, false) => {
                return Err(config_error(
                    format!("`--insecure-http` is only for loopback registries (`localhost`, 127.0.0.0/8, `[::1]`), and `{host}` is not one"),
                    "serve the registry over HTTPS (a private CA goes in `--ca-file`)",
                ))
            }
        };
        // Docker Hub's API lives on another host than its name.
        let api = if host == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            host.as_str()
        };
        let base = Url::parse(&format!("{scheme}://{api}/")).map_err(|_| {
            config_error(
                format!("`{host}` is not a usable registry host"),
                "check the reference",
            )
        })?;
        let mut looked = vec!["`--creds`".to_string()];
        if is_ecr {
            looked.push("ECR".into());
        }
        if cred.is_none() {
            let found = auth::from_files(&opts.env, &host, &r.repository, std_deadline)
                .map_err(|e| ImageError::registry(Code::RegistryAuth, e.message, e.hint))?;
            cred = found.credential;
            looked.extend(found.looked);
        }
        Ok(Client {
            http,
            base,
            host,
            repository: r.repository.clone(),
            reference: r.clone(),
            cred: Mutex::new(cred),
            looked,
            header: Mutex::new(None),
            ecr: ecr_ctx,
            ecr_refreshed: AtomicBool::new(false),
            env: opts.env.clone(),
        })
    }

    fn url(&self, path: &str) -> Url {
        // `base` ends in `/` and `path` is built from validated parts only.
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    fn cred(&self) -> Option<Credential> {
        self.cred.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn header(&self) -> Option<Secret<String>> {
        self.header
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_header(&self, h: Option<Secret<String>>) {
        *self.header.lock().unwrap_or_else(|p| p.into_inner()) = h;
    }

    /// A GET that answers the registry's challenge once: a 401 fetches a token
    /// (or switches to Basic) and retries; a second 401 or a 403 is named.
    async fn get(
        &self,
        url: Url,
        accept: Option<&str>,
        range: Option<u64>,
        what: &str,
        kind: Kind,
    ) -> Result<::http::Response<Incoming>> {
        let mut answered = false;
        loop {
            let sent = self.header();
            let resp = self
                .http
                .get(url.clone(), accept, sent.as_ref(), range, what)
                .await?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !answered {
                answered = true;
                let raw: Vec<&str> = resp
                    .headers()
                    .get_all(::http::header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                // A challenge that cannot be parsed is refused, as skopeo does,
                // rather than answered with a guess at its realm.
                let challenges = raw
                    .iter()
                    .map(|h| auth::parse_challenges(h))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        ImageError::registry(
                            Code::RegistryAuth,
                            format!(
                                "`{}` asked for authentication for {what} with a `WWW-Authenticate` header that cannot be parsed (an unterminated quote)",
                                self.host
                            ),
                            "the registry or a proxy in front of it sends a malformed challenge; nothing was sent to it",
                        )
                    })?
                    .concat();
                drop(resp);
                if sent.is_some()
                    && self.ecr.is_some()
                    && !self.ecr_refreshed.swap(true, Ordering::SeqCst)
                {
                    // An ECR token expires after 12 hours: refreshed once per run.
                    if let Some(ctx) = &self.ecr {
                        let (c, _) = ecr::token(&self.env, ctx, self.http.deadline).await?;
                        *self.cred.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
                    }
                }
                self.answer(&challenges, what, kind).await?;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(self.refused(status, what, kind).await);
            }
            return Ok(resp);
        }
    }

    /// Sets the header that answers a challenge.
    async fn answer(&self, challenges: &[auth::Challenge], what: &str, kind: Kind) -> Result<()> {
        let cred = self.cred();
        if let Some(b) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = self.bearer(b, cred.as_ref(), what).await?;
            let header = Secret::new(format!("Bearer {}", token.expose()));
            // Checked here, where the fault is known to be the token service's:
            // the request would refuse it as if the user's credentials held it.
            if ::http::HeaderValue::from_str(header.expose()).is_err() {
                return Err(ImageError::registry(
                    Code::RegistryAuth,
                    format!(
                        "the token service of `{}` answered {what} with a token that cannot be sent in an HTTP header (it holds a line break or control character)",
                        self.host
                    ),
                    "the registry's token service is misbehaving; its token was not used (nor printed)",
                ));
            }
            self.set_header(Some(header));
            return Ok(());
        }
        match (challenges.iter().any(|c| c.scheme == "basic"), cred) {
            (true, Some(c)) => {
                self.set_header(Some(c.basic()));
                Ok(())
            }
            (true, None) => Err(self.refused(StatusCode::UNAUTHORIZED, what, kind).await),
            (false, _) => Err(ImageError::registry(
                Code::RegistryAuth,
                format!(
                    "`{}` asked for authentication for {what} with no challenge image-check can answer (it answers `Basic` and `Bearer`)",
                    self.host
                ),
                "the registry's authentication scheme is not supported; check a saved copy instead (`skopeo copy … oci-archive:image.tar`)",
            )),
        }
    }

    /// A token from the challenge's realm (`service` and `scope` as given, else a
    /// pull scope on this repository), with Basic credentials when there are any.
    async fn bearer(
        &self,
        ch: &auth::Challenge,
        cred: Option<&Credential>,
        what: &str,
    ) -> Result<Secret<String>> {
        let bad_realm = |why: &str| {
            ImageError::registry(
                Code::RegistryAuth,
                format!(
                    "`{}` sent a `Bearer` challenge whose realm {why}",
                    self.host
                ),
                "the registry's token service is misconfigured",
            )
        };
        let realm = ch.param("realm").ok_or_else(|| bad_realm("is missing"))?;
        let mut u = Url::parse(realm).map_err(|_| bad_realm("is not a URL"))?;
        let realm_host = authority(&u);
        match u.scheme() {
            "https" => {}
            "http" if http::is_loopback(&realm_host) => {}
            _ => {
                let shown = if realm_host.is_empty() {
                    format!("{}:", u.scheme())
                } else {
                    realm_host.clone()
                };
                return Err(bad_realm(&format!(
                    "`{shown}` is not HTTPS; credentials are never sent over plain HTTP"
                )));
            }
        }
        u.set_fragment(None);
        let scope = ch
            .param("scope")
            .map(str::to_string)
            .unwrap_or_else(|| format!("repository:{}:pull", self.repository));
        {
            let mut q = u.query_pairs_mut();
            if let Some(s) = ch.param("service") {
                q.append_pair("service", s);
            }
            q.append_pair("scope", &scope);
        }
        let basic = cred.map(Credential::basic);
        let tw = format!("a token for {what}");
        let resp = self
            .http
            .get(u, Some("application/json"), basic.as_ref(), None, &tw)
            .await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let who = match cred {
                Some(c) => format!("the credentials from {}", c.source.describe()),
                None => "anonymous access".into(),
            };
            return Err(ImageError::registry(
                Code::RegistryAuth,
                format!(
                    "the token service `{realm_host}` of `{}` refused {who} (`{}`)",
                    self.host,
                    status_text(status)
                ),
                if cred.is_some() {
                    "check the user and password (log in again), or pass `--creds USER:PASS`"
                } else {
                    "log in (`docker login`, `podman login`) or pass `--creds USER:PASS`"
                },
            ));
        }
        if !status.is_success() {
            return Err(ImageError::registry(
                Code::RegistryUnavailable,
                format!(
                    "the token service `{realm_host}` of `{}` answered `{}`",
                    self.host,
                    status_text(status)
                ),
                "the registry's token service is failing; try again later",
            ));
        }
        let body = Secret::new(self.body(resp, 1 << 20, &tw, TOKEN).await?);
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let t: TokenAnswer = serde_json::from_slice(body.expose()).map_err(|_| {
            ImageError::registry(
                Code::RegistryAuth,
                format!("the token service `{realm_host}` answered something other than a token"),
                "the registry's token service is misconfigured",
            )
        })?;
        match t
            .token
            .filter(|t| !t.is_empty())
            .or(t.access_token.filter(|t| !t.is_empty()))
        {
            Some(t) => Ok(Secret::new(t)),
            None => Err(ImageError::registry(
                Code::RegistryAuth,
                format!("the token service `{realm_host}` answered without a token"),
                "the registry's token service is misconfigured",
            )),
        }
    }

    /// The message for a final 401/403: which source was used, or where none was
    /// found; for ECR, who the principal is and which permission a pull needs.
    async fn refused(&self, status: StatusCode, what: &str, kind: Kind) -> ImageError {
        let st = status_text(status);
        let cred = self.cred();
        let Some(c) = cred else {
            return ImageError::registry(
                Code::RegistryAuth,
                format!(
                    "`{}` requires credentials for {what} (`{st}`), and none were found (looked at: {})",
                    self.host,
                    self.looked.join(", ")
                ),
                format!("log in (`docker login {0}` or `podman login {0}`), or pass `--creds USER:PASS` or `--creds-file FILE`; a missing repository also answers this way", self.host),
            );
        };
        let src = c.source.describe();
        if status == StatusCode::FORBIDDEN || matches!(c.source, auth::Source::Ecr { .. }) {
            if let (Some(ctx), true) = (&self.ecr, status == StatusCode::FORBIDDEN) {
                let who = ecr::principal(&self.env, ctx)
                    .await
                    .map(|a| format!("principal `{a}`"))
                    .unwrap_or_else(|| "the principal".into());
                let perm = kind.ecr_permission();
                return ImageError::registry(
                    Code::RegistryAuth,
                    format!(
                        "`{}` denied {what} (`{st}`) to the credentials from {src}: {who} lacks `{perm}` on `{}`",
                        self.host, self.repository
                    ),
                    "grant `ecr:BatchGetImage` and `ecr:GetDownloadUrlForLayer` on the repository to that principal (a repository policy or an IAM policy)",
                );
            }
        }
        if status == StatusCode::FORBIDDEN {
            return ImageError::registry(
                Code::RegistryAuth,
                format!(
                    "`{}` denied {what} (`{st}`) to the credentials from {src}",
                    self.host
                ),
                format!(
                    "those credentials are valid but may not pull `{}`; grant them pull access",
                    self.repository
                ),
            );
        }
        ImageError::registry(
            Code::RegistryAuth,
            format!(
                "`{}` refused the credentials from {src} for {what} (`{st}`)",
                self.host
            ),
            "check the user and password (log in again), or pass other credentials with `--creds`; a missing repository also answers this way on some registries",
        )
    }

    async fn body(
        &self,
        resp: ::http::Response<Incoming>,
        cap: u64,
        what: &str,
        name: &str,
    ) -> Result<Vec<u8>> {
        read_body(resp, cap, self.http.deadline)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge if name == TOKEN => ImageError::registry(
                    Code::RegistryAuth,
                    format!(
                        "the token service of `{}` answered {what} with more than {} KiB",
                        self.host,
                        cap >> 10
                    ),
                    "the registry's token service is misconfigured (a token answer is a small JSON document)",
                ),
                BodyError::TooLarge => super::too_large(name, &self.describe()),
                BodyError::Deadline => self.http.deadline_passed(&self.host, what),
                BodyError::Broken(why) => ImageError::registry(
                    Code::RegistryUnavailable,
                    format!(
                        "the connection to `{}` broke while reading {what}: {why}",
                        self.host
                    ),
                    "retry; if it persists, check the network path to the registry",
                ),
            })
    }

    fn describe(&self) -> String {
        let mut r = self.reference.clone();
        r.registry = Registry::Host(self.host.clone());
        r.to_string()
    }

    fn unexpected(&self, status: StatusCode, what: &str) -> ImageError {
        // A 4xx may be about the reference; anything else unexpected (a 206 to
        // a request without `Range`, a 2xx or 3xx out of place, a 5xx) is the
        // registry misbehaving.
        let code = if status.is_client_error() {
            Code::ImageUnreadable
        } else {
            Code::RegistryUnavailable
        };
        ImageError::registry(
            code,
            format!(
                "`{}` answered {what} with `{}`",
                self.host,
                status_text(status)
            ),
            "check the reference; if it is right, the registry is misbehaving",
        )
    }

    /// After a manifest 404: is the repository missing, or only the tag?
    async fn not_found(&self) -> ImageError {
        let repo = format!("{}/{}", self.host, self.repository);
        let url = self.url(&format!("v2/{}/tags/list?n=100", self.repository));
        let listed = match self
            .get(url, Some("application/json"), None, "the tag list", Kind::Tags)
            .await
        {
            Ok(resp) if resp.status() == StatusCode::NOT_FOUND => {
                return ImageError::registry(
                    Code::RegistryNotFound,
                    format!("the repository `{}` does not exist on `{}`", self.repository, self.host),
                    "check the repository name (ECR repositories must be created before the first push)",
                )
            }
            Ok(resp) if resp.status().is_success() => {
                self.body(resp, 4 << 20, "the tag list", "tags/list").await.ok()
            }
            _ => None,
        };
        #[derive(serde::Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let tags = listed
            .and_then(|b| serde_json::from_slice::<Tags>(&b).ok())
            .map(|t| t.tags.unwrap_or_default());
        let have = match &tags {
            Some(t) if t.is_empty() => "it has no tags".to_string(),
            Some(t) => {
                const SHOWN: usize = 10;
                let mut shown: Vec<String> = t
                    .iter()
                    .take(SHOWN)
                    .map(|s| format!("`{}`", crate::aws::printable(s)))
                    .collect();
                if t.len() > SHOWN {
                    shown.push(format!("and {} more", t.len() - SHOWN));
                }
                format!("it has: {}", shown.join(", "))
            }
            None => "its tag list could not be read".into(),
        };
        let (message, hint) = match &self.reference.digest {
            Some(d) => (
                format!("the manifest `{d}` does not exist in `{repo}`; {have}"),
                "check the digest (it changes with every push), or name a tag",
            ),
            None => (
                format!(
                    "the tag `{}` does not exist in `{repo}`; {have}",
                    self.reference.reference()
                ),
                "push the tag first, or name one of the tags listed",
            ),
        };
        ImageError::registry(Code::RegistryNotFound, message, hint)
    }

    async fn root(&self) -> Result<Vec<Root>> {
        let reference = self.reference.reference();
        let what = format!("the manifest `{reference}` of `{}`", self.repository);
        let url = self.url(&format!("v2/{}/manifests/{reference}", self.repository));
        let resp = self
            .get(url, Some(ACCEPT_ALL), None, &what, Kind::Manifest)
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Err(self.not_found().await),
            s => return Err(self.unexpected(s, &what)),
        }
        let content_type = header_str(&resp, ::http::header::CONTENT_TYPE)
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string());
        let said = header_str(&resp, "docker-content-digest");
        let bytes = self.body(resp, MAX_METADATA, &what, &reference).await?;
        let digest = match &self.reference.digest {
            Some(d) => {
                verify_bytes(&d.to_string(), &bytes, Some(d), None)?;
                d.clone()
            }
            None => sha256_of(&bytes),
        };
        if let Some(said) = said.as_deref().and_then(|s| Digest::parse(s).ok()) {
            if said.algorithm == digest.algorithm && said != digest {
                return Err(ImageError::registry(
                    Code::ImageUnreadable,
                    format!("`{}` sent {what} as bytes that hash to `{digest}`, but its `Docker-Content-Digest` says `{said}`", self.host),
                    "the registry or a proxy changed the manifest in transit; try again, and check any proxy in between",
                ));
            }
        }
        let media_type = content_type
            .filter(|c| {
                [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].contains(&c.as_str())
                    || c.starts_with("application/vnd.docker.distribution.manifest.v1")
            })
            .or_else(|| {
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
            });
        Ok(vec![Root::Fetched {
            desc: BlobDesc {
                digest: Some(digest),
                size: Some(bytes.len() as u64),
                media_type,
                member: None,
            },
            bytes,
        }])
    }

    async fn manifest(&self, desc: &BlobDesc) -> Result<Vec<u8>> {
        let d = digest_of(desc)?;
        let what = format!("the manifest `{d}`");
        let url = self.url(&format!("v2/{}/manifests/{d}", self.repository));
        let accept = desc.media_type.clone().unwrap_or_else(|| ACCEPT_ALL.into());
        let resp = self
            .get(url, Some(&accept), None, &what, Kind::Manifest)
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(ImageError::registry(
                    Code::RegistryNotFound,
                    format!(
                        "the manifest `{d}` that the index lists is missing from `{}/{}`",
                        self.host, self.repository
                    ),
                    "the image was pushed incompletely; push it again",
                ))
            }
            s => return Err(self.unexpected(s, &what)),
        }
        if desc.size.is_some_and(|s| s > MAX_METADATA) {
            return Err(super::too_large(&desc.name(), &self.describe()));
        }
        let bytes = self.body(resp, MAX_METADATA, &what, &d.to_string()).await?;
        verify_bytes(&desc.name(), &bytes, desc.digest.as_ref(), desc.size)?;
        Ok(bytes)
    }

    /// A blob's body from byte `from` on, and how many bytes of it to skip
    /// (a registry that ignores `Range` sends the whole blob again).
    async fn blob(&self, desc: &BlobDesc, from: u64) -> Result<(Incoming, u64)> {
        let d = digest_of(desc)?;
        let what = format!("the blob `{d}`");
        let url = self.url(&format!("v2/{}/blobs/{d}", self.repository));
        let range = (from > 0).then_some(from);
        let resp = self.get(url, None, range, &what, Kind::Blob).await?;
        match resp.status() {
            StatusCode::OK => Ok((resp.into_body(), from)),
            StatusCode::PARTIAL_CONTENT if from > 0 => {
                // `Content-Range: bytes FROM-LAST/TOTAL` must start where we stopped.
                let starts = header_str(&resp, ::http::header::CONTENT_RANGE)
                    .and_then(|v| {
                        let r = v.strip_prefix("bytes ")?;
                        r.split('-').next()?.trim().parse::<u64>().ok()
                    });
                if starts != Some(from) {
                    return Err(ImageError::registry(
                        Code::RegistryUnavailable,
                        format!("`{}` resumed {what} at another offset than byte {from}", self.host),
                        "the registry or a proxy mishandles `Range`; try again",
                    ));
                }
                Ok((resp.into_body(), 0))
            }
            StatusCode::NOT_FOUND => Err(ImageError::registry(
                Code::RegistryNotFound,
                format!("the blob `{d}` is missing from `{}/{}`", self.host, self.repository),
                "the image was pushed incompletely or the blob was garbage-collected; push it again",
            )),
            s => Err(self.unexpected(s, &what)),
        }
    }

    /// Moves a blob's frames to its reader. A connection that breaks mid-blob
    /// is resumed with a `Range` request from the last byte delivered (or
    /// restarted, skipping what was delivered, when the registry ignores
    /// `Range`), at most `retries` times; the reader's digest still covers every
    /// byte, so a resumed blob that differs is never accepted.
    async fn pump(self: Arc<Self>, desc: BlobDesc, first: Incoming, tx: http::FrameSender) {
        use http_body_util::BodyExt;
        let host = self.host.clone();
        let mut body = first;
        let mut skip = 0u64;
        let mut delivered = 0u64;
        let mut resumes = 0u32;
        loop {
            let frame = tokio::time::timeout_at(self.http.deadline, body.frame()).await;
            let broke = match frame {
                Err(_) => {
                    let _ = tx
                        .send(Err(SourceFailure::io(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "the `--timeout` deadline passed while reading the blob from `{host}` ({delivered} bytes in)"
                            ),
                            "the registry is slow or stalled; raise `--timeout` (the default allows a 2 GiB image), or try again",
                        )))
                        .await;
                    return;
                }
                // A body that ends cleanly short of the descriptor's size (a
                // chunked answer cut off) is resumed like a broken one.
                Ok(None) => match desc.size {
                    Some(size) if delivered < size => {
                        format!("the answer ended at byte {delivered} of {size}")
                    }
                    _ => return,
                },
                Ok(Some(Ok(f))) => {
                    let Ok(mut data) = f.into_data() else {
                        continue;
                    };
                    if skip > 0 {
                        let n = skip.min(data.len() as u64) as usize;
                        let _ = data.split_to(n);
                        skip -= n as u64;
                    }
                    if data.is_empty() {
                        continue;
                    }
                    delivered += data.len() as u64;
                    // A dropped reader (the layer failed elsewhere) ends the transfer.
                    if tx.send(Ok(data)).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(Some(Err(e))) => e.to_string(),
            };
            if resumes >= self.http.retries {
                let _ = tx
                    .send(Err(SourceFailure::io(
                        std::io::ErrorKind::ConnectionAborted,
                        format!(
                            "the connection to `{host}` broke mid-blob {} times ({delivered} bytes in); last: {broke}",
                            resumes + 1
                        ),
                        "the network or the registry keeps dropping the transfer; try again, and check proxies between here and the registry",
                    )))
                    .await;
                return;
            }
            resumes += 1;
            match self.blob(&desc, delivered).await {
                Ok((b, s)) => {
                    body = b;
                    skip = s;
                }
                Err(e) => {
                    let _ = tx
                        .send(Err(SourceFailure::io(
                            std::io::ErrorKind::ConnectionAborted,
                            format!(
                                "the connection to `{host}` broke mid-blob ({broke}, {delivered} bytes in) and resuming failed: {}",
                                crate::cli::chain(&e)
                            ),
                            e.hint().unwrap_or_else(|| "try again".into()),
                        )))
                        .await;
                    return;
                }
            }
        }
    }
}

/// The name a token answer has in messages; a token answer over its limit is the
/// token service's fault, not an image's.
const TOKEN: &str = "the token";

fn header_str(
    resp: &::http::Response<Incoming>,
    name: impl ::http::header::AsHeaderName,
) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn digest_of(desc: &BlobDesc) -> Result<Digest> {
    desc.digest.clone().ok_or_else(|| {
        ImageError::Invalid(format!(
            "blob `{}` has no digest, so it cannot be fetched from a registry",
            desc.name()
        ))
    })
}

impl ImageSource for RegistrySource {
    fn describe(&self) -> String {
        self.client.describe()
    }

    fn roots(&self) -> Result<Vec<Root>> {
        self.rt.block_on(self.client.root())
    }

    fn fetch_manifest(&self, desc: &BlobDesc) -> Result<Vec<u8>> {
        self.rt.block_on(self.client.manifest(desc))
    }

    /// Asks for the blob's last byte (`Range`), so the answer (or a 404) costs
    /// one request and next to no transfer; the body is not read.
    fn confirm_blob(&self, blob: &BlobDesc) -> Result<()> {
        let last = blob.size.map_or(0, |s| s.saturating_sub(1));
        self.rt.block_on(self.client.blob(blob, last)).map(|_| ())
    }

    fn open_blob(&self, blob: &BlobDesc) -> Result<Box<dyn Read + Send + '_>> {
        let (body, _) = self.rt.block_on(self.client.blob(blob, 0))?;
        let (reader, tx) = BlobReader::channel(blob.size);
        self.rt
            .spawn(self.client.clone().pump(blob.clone(), body, tx));
        Ok(Box::new(reader))
    }
}
