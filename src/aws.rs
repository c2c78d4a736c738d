//! AWS plumbing both tools share: the one HTTP client (rustls with ring, so the
//! binary carries one TLS stack and no aws-lc), the trust store check, region and
//! credential resolution in the default chain's order with the provider named, the
//! endpoint overrides, and a URL form that is safe to print.
//!
//! Resolution follows the AWS SDKs (the Rust SDK's `DefaultCredentialsChain`, which
//! boto3 and the CLI agree with): environment, shared profile (static keys,
//! `role_arn` with `source_profile` or `credential_source`, `credential_process`),
//! web identity (EKS IRSA), ECS container credentials, then instance metadata. The
//! providers are walked one by one rather than through the chain so a report can say
//! which one answered; each is built from one [`ProviderConfig`] that carries the
//! resolved region and our HTTP client, because providers that call STS (web
//! identity, assume-role profiles) fail with "Missing Region" without them.
//!
//! This module reads variables through a lookup function instead of preflight's
//! `Env`, so `image` and `preflight` can both use it without importing each other.

use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::{error::CredentialsError, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::region::Region;
use std::time::Duration;

/// How a variable is looked up: the process environment in the binaries, a map in
/// tests. Only non-secret settings go through it (names, paths, regions, flags).
pub type Lookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The region the SDKs fall back to when nothing names one; we assume it too, but
/// say so, because a bucket elsewhere then fails in a way that looks unrelated.
pub const FALLBACK_REGION: &str = "us-east-1";

/// A configuration value (path, profile name, role ARN) as it may appear in a
/// one-line message: control characters are escaped so a hostile value cannot
/// break the line or forge another.
pub fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn flag(lookup: Lookup<'_>, name: &str) -> bool {
    lookup(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn var(lookup: Lookup<'_>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.is_empty())
}

/// The one HTTP client every AWS call uses: rustls with ring and the system's roots,
/// or plain HTTP only when TLS is not needed or no trust store exists (building a
/// TLS client without roots is a bug in the SDK's eyes).
pub fn http_client(tls: bool) -> SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    if tls {
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https()
    } else {
        aws_smithy_http_client::Builder::new().build_http()
    }
}

/// What the trust store looks like, so a failure can name its real cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustStore {
    /// At least one root certificate was loaded.
    Roots,
    /// `SSL_CERT_FILE` or `SSL_CERT_DIR` names a path that does not exist or cannot
    /// be read: the variable is the problem, not the image.
    BadVariable { var: &'static str, path: String },
    /// Nothing anywhere: the image has no CA certificates.
    Empty,
}

impl TrustStore {
    pub fn has_roots(&self) -> bool {
        matches!(self, TrustStore::Roots)
    }
}

/// The system's trust roots as rustls-native-certs finds them (`SSL_CERT_FILE`/
/// `SSL_CERT_DIR` when set, as OpenSSL reads them, else the distribution's bundle
/// and directory), read once per process: the S3 probe, the PostgreSQL probe and
/// image-check's registry client all use them. The loader opens `SSL_CERT_FILE`
/// with no deadline and no cap, so it is refused first unless it is a regular
/// file of sane size (a FIFO hung the PostgreSQL probe and the registry client
/// past every deadline); in `SSL_CERT_DIR` the loader reads regular files only.
/// It reads the process's environment, so the guard does too.
pub fn native_certs() -> Result<&'static [rustls_pki_types::CertificateDer<'static>], RefusedFile> {
    type Loaded = Result<Vec<rustls_pki_types::CertificateDer<'static>>, RefusedFile>;
    static CERTS: std::sync::OnceLock<Loaded> = std::sync::OnceLock::new();
    CERTS
        .get_or_init(|| {
            // The path as the loader will open it: `var_os`, so a name that is
            // not UTF-8 (which `var` would call unset) is guarded too.
            let (var, cap, _) = TRUST_FILE;
            let path = std::env::var_os(var).filter(|p| !p.is_empty());
            match path.and_then(|p| {
                let why = crate::specfile::stat_refusal(std::path::Path::new(&p), cap)?;
                Some(RefusedFile {
                    var,
                    path: printable(&p.to_string_lossy()),
                    why,
                    defaulted: false,
                })
            }) {
                Some(r) => Err(r),
                None => Ok(rustls_native_certs::load_native_certs().certs),
            }
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(Clone::clone)
}

/// Loads the roots the HTTP client will use (rustls-native-certs reads
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` first, as OpenSSL does).
pub fn trust_store(lookup: Lookup<'_>) -> TrustStore {
    match native_certs() {
        Ok(certs) if !certs.is_empty() => return TrustStore::Roots,
        Ok(_) => {}
        Err(r) => {
            return TrustStore::BadVariable {
                var: r.var,
                path: r.path,
            }
        }
    }
    if let Some(path) = var(lookup, "SSL_CERT_FILE") {
        if !std::path::Path::new(&path).is_file() {
            return TrustStore::BadVariable {
                var: "SSL_CERT_FILE",
                path: printable(&path),
            };
        }
    }
    if let Some(dirs) = var(lookup, "SSL_CERT_DIR") {
        if let Some(d) = dirs
            .split(':')
            .find(|d| !d.is_empty() && !std::path::Path::new(d).is_dir())
        {
            return TrustStore::BadVariable {
                var: "SSL_CERT_DIR",
                path: printable(d),
            };
        }
    }
    TrustStore::Empty
}

/// Where the region came from, in the SDKs' order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionSource {
    Variable(&'static str),
    Profile(String),
    InstanceMetadata,
    /// Nothing named one: [`FALLBACK_REGION`] was assumed.
    Assumed,
}

impl RegionSource {
    /// "from `AWS_REGION`", "from profile `app`", …: a phrase for detail lines.
    pub fn describe(&self) -> String {
        match self {
            RegionSource::Variable(v) => format!("from `{v}`"),
            RegionSource::Profile(p) => format!("from profile `{}`", printable(p)),
            RegionSource::InstanceMetadata => "from instance metadata".into(),
            RegionSource::Assumed => "assumed (none configured)".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRegion {
    pub name: String,
    pub source: RegionSource,
}

impl ResolvedRegion {
    pub fn region(&self) -> Region {
        Region::new(self.name.clone())
    }
}

/// A region name for a message: shown only when it has a region's shape (one DNS
/// label, as the SDKs' endpoint rules require), since `AWS_REGION` is an input like
/// any other and a pasted value must not come back out in a report line.
pub fn display_region(r: &str) -> String {
    let label = !r.is_empty()
        && r.len() <= 63
        && !r.starts_with('-')
        && !r.ends_with('-')
        && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if label {
        format!("`{r}`")
    } else {
        "(not a region name; not shown)".to_string()
    }
}

/// The profile the SDKs select: `AWS_PROFILE`, else `default`.
pub fn profile_name(lookup: Lookup<'_>) -> String {
    var(lookup, "AWS_PROFILE").unwrap_or_else(|| "default".into())
}

/// `AWS_REGION`, `AWS_DEFAULT_REGION`, the selected profile's `region`, then (unless
/// disabled) instance metadata, as the Rust and JavaScript SDKs resolve it.
pub async fn resolve_region(lookup: Lookup<'_>, http: SharedHttpClient) -> ResolvedRegion {
    use aws_config::meta::region::ProvideRegion;
    for v in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(r) = var(lookup, v) {
            return ResolvedRegion {
                name: r,
                source: RegionSource::Variable(v),
            };
        }
    }
    let pc = ProviderConfig::default().with_http_client(http);
    let from_profile = aws_config::profile::region::ProfileFileRegionProvider::builder()
        .configure(&pc)
        .build();
    if let Some(r) = from_profile.region().await {
        return ResolvedRegion {
            name: r.to_string(),
            source: RegionSource::Profile(profile_name(lookup)),
        };
    }
    if !flag(lookup, "AWS_EC2_METADATA_DISABLED") {
        let imds = aws_config::imds::region::ImdsRegionProvider::builder()
            .configure(&pc)
            .build();
        // Off EC2 this is a connect timeout; the SDK's own client waits about a second.
        if let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(2), imds.region()).await {
            return ResolvedRegion {
                name: r.to_string(),
                source: RegionSource::InstanceMetadata,
            };
        }
    }
    ResolvedRegion {
        name: FALLBACK_REGION.into(),
        source: RegionSource::Assumed,
    }
}

/// Which provider of the default chain supplied (or failed to supply) credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    Environment,
    /// The selected profile, and what kind of entry it is.
    Profile {
        name: String,
        kind: ProfileKind,
    },
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (EKS IRSA).
    WebIdentity {
        role_arn: Option<String>,
    },
    Ecs,
    InstanceMetadata,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileKind {
    Keys,
    AssumeRole { role_arn: String, via: String },
    WebIdentity { role_arn: String },
    Process,
    Sso,
    Unknown,
}

impl Provider {
    /// A short, printable name: no secret ever goes into it (role ARNs and profile
    /// names are configuration, not credentials).
    pub fn describe(&self) -> String {
        match self {
            Provider::Environment => "environment variables".into(),
            Provider::Profile { name, kind } => match kind {
                ProfileKind::Keys | ProfileKind::Unknown => {
                    format!("shared profile `{}`", printable(name))
                }
                ProfileKind::AssumeRole { role_arn, via } => format!(
                    "shared profile `{}` (assume role `{}` with {})",
                    printable(name),
                    printable(role_arn),
                    printable(via)
                ),
                ProfileKind::WebIdentity { role_arn } => format!(
                    "shared profile `{}` (web identity for `{}`)",
                    printable(name),
                    printable(role_arn)
                ),
                ProfileKind::Process => format!(
                    "shared profile `{}` (`credential_process`)",
                    printable(name)
                ),
                ProfileKind::Sso => format!("shared profile `{}` (SSO)", printable(name)),
            },
            Provider::WebIdentity { role_arn } => match role_arn {
                Some(r) => format!("web identity token (role `{}`)", printable(r)),
                None => "web identity token".into(),
            },
            Provider::Ecs => "ECS container credentials (task role)".into(),
            Provider::InstanceMetadata => "EC2 instance metadata".into(),
        }
    }

    /// The `method` boto3 reports for the same source, for cross-checks.
    pub fn boto3_method(&self) -> &'static str {
        match self {
            Provider::Environment => "env",
            Provider::Profile { kind, .. } => match kind {
                ProfileKind::Keys | ProfileKind::Unknown => "shared-credentials-file",
                ProfileKind::AssumeRole { .. } => "assume-role",
                ProfileKind::WebIdentity { .. } => "assume-role-with-web-identity",
                ProfileKind::Process => "custom-process",
                ProfileKind::Sso => "sso",
            },
            Provider::WebIdentity { .. } => "assume-role-with-web-identity",
            Provider::Ecs => "container-role",
            Provider::InstanceMetadata => "iam-role",
        }
    }
}

/// The outcome of walking the chain.
pub enum CredsOutcome {
    Found(Credentials, Provider),
    /// No provider had anything; the list is what was tried, in order.
    None(Vec<Provider>),
    /// A provider was configured but failed (its error chain, free of secrets: the
    /// SDK's credential errors never carry key material).
    Failed(Provider, String),
    /// `AWS_PROFILE` names a profile neither file defines. boto3 and the CLI refuse
    /// to start in this case, even with keys in the environment.
    ProfileMissing {
        name: String,
        files: Vec<String>,
    },
    /// The region (`region: true`) or the credentials hold a character no HTTP
    /// header can carry (a trailing newline from a pasted secret, usually). The
    /// SDK's signer unwraps that conversion, so signing would panic (abort, in the
    /// release build) instead of failing: nothing is signed, and the message says
    /// which value it is, never the value.
    Unsendable {
        region: bool,
        message: String,
    },
}

/// True when `s` has a byte an HTTP header cannot carry: a control character other
/// than tab, or DEL. The signer puts the access key ID, the region and the session
/// token into headers.
pub fn unsendable(s: &str) -> bool {
    s.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

fn profile_files_shown(lookup: Lookup<'_>) -> Vec<String> {
    vec![
        printable(&var(lookup, "AWS_CONFIG_FILE").unwrap_or_else(|| "~/.aws/config".into())),
        printable(
            &var(lookup, "AWS_SHARED_CREDENTIALS_FILE")
                .unwrap_or_else(|| "~/.aws/credentials".into()),
        ),
    ]
}

/// Loads the profile files the SDK would (same parser), to name the selected
/// profile's kind and to spot an `AWS_PROFILE` that names nothing.
/// The kind is `None` when the files were read and define no such profile, and
/// `Some(Unknown)` when they could not be read (the provider then reports why).
async fn selected_profile(lookup: Lookup<'_>) -> (String, Option<ProfileKind>, Option<String>) {
    use aws_runtime::env_config::file::EnvConfigFiles as ProfileFiles;
    use aws_types::os_shim_internal::{Env, Fs};
    let name = profile_name(lookup);
    let set =
        aws_config::profile::load(&Fs::real(), &Env::real(), &ProfileFiles::default(), None).await;
    let Ok(set) = set else {
        return (name, Some(ProfileKind::Unknown), None);
    };
    let problem = source_problem(&set, &name);
    let kind = set.get_profile(&name).map(|p| {
        if let Some(role_arn) = p.get("role_arn") {
            let role_arn = role_arn.to_string();
            if let Some(src) = p.get("source_profile") {
                ProfileKind::AssumeRole {
                    role_arn,
                    via: format!("source profile `{src}`"),
                }
            } else if let Some(src) = p.get("credential_source") {
                ProfileKind::AssumeRole {
                    role_arn,
                    via: format!("credential source `{src}`"),
                }
            } else if p.get("web_identity_token_file").is_some() {
                ProfileKind::WebIdentity { role_arn }
            } else {
                ProfileKind::Unknown
            }
        } else if p.get("credential_process").is_some() {
            ProfileKind::Process
        } else if p.get("sso_start_url").is_some() || p.get("sso_session").is_some() {
            ProfileKind::Sso
        } else if p.get("aws_access_key_id").is_some() {
            ProfileKind::Keys
        } else {
            ProfileKind::Unknown
        }
    });
    (name, kind, problem)
}

/// What boto3 refuses in the `source_profile` chain from `name`, in its words: a
/// source profile that does not exist, or one that holds no credentials. The Rust
/// SDK reports either as "no credentials", which names nothing to fix. Profile
/// names are configuration, not secrets, but are escaped for the one-line message.
fn source_problem(
    set: &aws_runtime::env_config::section::EnvConfigSections,
    name: &str,
) -> Option<String> {
    let mut current = name.to_string();
    let mut seen = vec![current.clone()];
    // The SDK and boto3 both stop at a cycle; a chain this long is one anyway.
    for _ in 0..16 {
        let p = set.get_profile(&current)?;
        p.get("role_arn")?;
        // The Rust SDK ignores `mfa_serial` and assumes the role without a code, so
        // preflight would pass where the app cannot start: boto3 prompts for the code
        // and the JavaScript SDK fails without an `mfaCodeProvider`.
        if p.get("mfa_serial").is_some() {
            return Some(format!(
                "the profile `{}` sets `mfa_serial`: assuming its role needs an MFA code typed at a prompt, which a container cannot give (boto3 asks for it on the terminal, the JavaScript SDK fails without an `mfaCodeProvider`)",
                printable(&current)
            ));
        }
        let src = p.get("source_profile")?.to_string();
        let Some(sp) = set.get_profile(&src) else {
            return Some(format!(
                "the source_profile `{}` referenced in the profile `{}` does not exist",
                printable(&src),
                printable(&current)
            ));
        };
        // The SDK signs AssumeRole with the source profile's keys inside the chain,
        // where a control character in them would panic its signer (see
        // [`unsendable`]); nothing outside the chain could catch that.
        if ["aws_access_key_id", "aws_session_token"]
            .iter()
            .any(|k| sp.get(k).is_some_and(unsendable))
        {
            return Some(format!(
                "the access key ID or session token of profile `{}` holds a control character, which cannot go into a signed request's headers",
                printable(&src)
            ));
        }
        if src == current || seen.contains(&src) {
            return None;
        }
        let has_credentials = [
            "aws_access_key_id",
            "credential_process",
            "credential_source",
            "web_identity_token_file",
            "sso_session",
            "sso_start_url",
        ]
        .iter()
        .any(|k| sp.get(k).is_some())
            || (sp.get("role_arn").is_some() && sp.get("source_profile").is_some());
        if !has_credentials {
            return Some(format!(
                "the source profile `{}` must have credentials (it has no keys, role or `credential_process`)",
                printable(&src)
            ));
        }
        seen.push(src.clone());
        current = src;
    }
    None
}

/// Walks the default chain in its order with providers built from one config that
/// carries `region` and `http`. `tls_ok` says whether HTTPS can work at all (a trust
/// store exists); without it only plain-HTTP credential endpoints can answer.
pub async fn resolve_credentials(
    lookup: Lookup<'_>,
    region: &ResolvedRegion,
    http: SharedHttpClient,
) -> CredsOutcome {
    use aws_config::{
        ecs::EcsCredentialsProvider, environment::EnvironmentVariableCredentialsProvider,
        imds::credentials::ImdsCredentialsProvider, profile::ProfileFileCredentialsProvider,
        web_identity_token::WebIdentityTokenCredentialsProvider,
    };
    if unsendable(&region.name) {
        let from = match &region.source {
            RegionSource::Variable(v) => format!("`{v}`"),
            RegionSource::Profile(p) => format!("the `region` of profile `{}`", printable(p)),
            RegionSource::InstanceMetadata => "instance metadata".into(),
            RegionSource::Assumed => "the assumed region".into(),
        };
        return CredsOutcome::Unsendable {
            region: true,
            message: format!("the region from {from} holds a control character (a trailing newline?), which cannot go into a signed request's headers"),
        };
    }
    // Environment keys are signed with by the environment provider and by
    // `credential_source = Environment`; the session token rides in a header too.
    for v in ["AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"] {
        if var(lookup, v).is_some_and(|k| unsendable(&k)) {
            return CredsOutcome::Unsendable {
                region: false,
                message: format!("`{v}` holds a control character (a trailing newline from the secret?), which cannot go into a signed request's headers"),
            };
        }
    }
    let (profile, kind, problem) = selected_profile(lookup).await;
    if var(lookup, "AWS_PROFILE").is_some() && kind.is_none() {
        return CredsOutcome::ProfileMissing {
            name: printable(&profile),
            files: profile_files_shown(lookup),
        };
    }
    // Environment keys come first in the chain and win over any profile.
    let env_keys = var(lookup, "AWS_ACCESS_KEY_ID").is_some()
        && var(lookup, "AWS_SECRET_ACCESS_KEY").is_some();
    if let (Some(problem), false) = (&problem, env_keys) {
        return CredsOutcome::Failed(
            Provider::Profile {
                name: profile,
                kind: kind.unwrap_or(ProfileKind::Unknown),
            },
            problem.clone(),
        );
    }
    let pc = ProviderConfig::default()
        .with_http_client(http)
        .with_region(Some(region.region()));
    let mut tried = Vec::new();
    macro_rules! attempt {
        ($who:expr, $p:expr) => {{
            let who: Provider = $who;
            tried.push(who.clone());
            match $p.provide_credentials().await {
                Ok(c) if unsendable(c.access_key_id())
                    || c.session_token().is_some_and(unsendable) =>
                {
                    return CredsOutcome::Unsendable {
                        region: false,
                        message: format!("the access key ID or session token from {} holds a control character, which cannot go into a signed request's headers", who.describe()),
                    }
                }
                Ok(c) => return CredsOutcome::Found(c, who),
                Err(CredentialsError::CredentialsNotLoaded(_)) => {}
                Err(e) => {
                    return CredsOutcome::Failed(
                        who,
                        withhold_process_output(&crate::cli::chain(&e)),
                    )
                }
            }
        }};
    }
    attempt!(
        Provider::Environment,
        EnvironmentVariableCredentialsProvider::new()
    );
    attempt!(
        Provider::Profile {
            name: profile,
            kind: kind.unwrap_or(ProfileKind::Unknown),
        },
        ProfileFileCredentialsProvider::builder()
            .configure(&pc)
            .build()
    );
    // The SDK's error for an unreadable token file is a bare "No such file or
    // directory"; name the variable and path instead (EKS mounts the token through
    // the service account; a missing mount is the usual cause).
    if let (Some(file), Some(role_arn)) = (
        var(lookup, "AWS_WEB_IDENTITY_TOKEN_FILE"),
        var(lookup, "AWS_ROLE_ARN"),
    ) {
        if let Err(e) = std::fs::metadata(&file) {
            return CredsOutcome::Failed(
                Provider::WebIdentity {
                    role_arn: Some(role_arn),
                },
                format!(
                    "`AWS_WEB_IDENTITY_TOKEN_FILE` names `{}`, which cannot be read ({})",
                    printable(&file),
                    e.kind()
                ),
            );
        }
    }
    attempt!(
        Provider::WebIdentity {
            role_arn: var(lookup, "AWS_ROLE_ARN"),
        },
        WebIdentityTokenCredentialsProvider::builder()
            .configure(&pc)
            .build()
    );
    attempt!(
        Provider::Ecs,
        EcsCredentialsProvider::builder().configure(&pc).build()
    );
    if !flag(lookup, "AWS_EC2_METADATA_DISABLED") {
        attempt!(
            Provider::InstanceMetadata,
            ImdsCredentialsProvider::builder().configure(&pc).build()
        );
    }
    CredsOutcome::None(tried)
}

/// The SDK's `credential_process` errors quote the process's stderr and the part
/// of its output that did not parse; either can hold the very keys the process
/// prints, so everything from there on is withheld.
fn withhold_process_output(msg: &str) -> String {
    const QUOTING: [&str; 2] = ["Stderr:", "could not parse response:"];
    match QUOTING
        .iter()
        .filter_map(|q| msg.find(q).map(|i| i + q.len()))
        .min()
    {
        Some(cut) => format!(
            "{} (the process's output is not shown: it may hold secrets)",
            &msg[..cut]
        ),
        None => msg.to_string(),
    }
}

/// Region, then credentials resolved with it: what any AWS client here needs
/// first. `has_roots` says whether HTTPS can work at all; without a trust store only
/// plain-HTTP credential endpoints (ECS, IMDS) can answer.
pub async fn resolve(lookup: Lookup<'_>, has_roots: bool) -> (ResolvedRegion, CredsOutcome) {
    let region = resolve_region(lookup, http_client(has_roots)).await;
    let creds = resolve_credentials(lookup, &region, http_client(has_roots)).await;
    (region, creds)
}

/// The endpoint override for a service (`AWS_ENDPOINT_URL_<SERVICE>`, then
/// `AWS_ENDPOINT_URL`), unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true.
/// `service` is the SDK's environment suffix: `S3`, `STS`, `ECR`.
pub fn endpoint_url(lookup: Lookup<'_>, service: &str) -> Option<String> {
    if flag(lookup, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") {
        return None;
    }
    var(lookup, &format!("AWS_ENDPOINT_URL_{service}")).or_else(|| var(lookup, "AWS_ENDPOINT_URL"))
}

/// A URL as it may be printed: any userinfo is masked (a password through
/// `redact::mask_url_password`, and a bare user too, since an endpoint's user part
/// is often an access key).
pub fn display_url(url: &str) -> String {
    // A query or fragment can carry a token (`?X-Amz-Security-Token=…`): never shown.
    let url = url.split(['?', '#']).next().unwrap_or("");
    let masked = crate::redact::mask_url_password(url);
    let (head, rest) = match masked.find("://") {
        Some(i) => (&masked[..i + 3], &masked[i + 3..]),
        None => ("", masked.as_str()),
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{head}***{}", &rest[at..]),
        None => masked.clone(),
    }
}

/// Why an endpoint override cannot be used, without quoting it: the SDK's own
/// error for a malformed endpoint repeats the whole URL, password included, so a
/// value it would reject never reaches it.
pub fn endpoint_problem(url: &str) -> Option<&'static str> {
    let rest = match url.split_once("://") {
        Some(("http" | "https", rest)) => rest,
        Some(_) => return Some("does not start with `http://` or `https://`"),
        None => return Some("has no `http://` or `https://` scheme"),
    };
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return Some("contains whitespace, a control character or a backslash");
    }
    if url.contains('#') {
        return Some("has a `#` fragment, which no endpoint takes");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, after)) => (h, after.strip_prefix(':')),
            None => return Some("has an IPv6 host without its closing `]`"),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.contains('%') {
        return Some("has no usable host name");
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Some("has a port that is not a number from 1 to 65535");
        }
    }
    None
}

/// A file the SDK or the trust-store loader would open, refused before it is:
/// they read with no deadline and no cap, so a FIFO would hang the start past
/// every deadline (stuck in the kernel, where SIGTERM's handler cannot act on
/// it) and `/dev/zero` would exhaust memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedFile {
    /// The variable that names the file, or whose default it is.
    pub var: &'static str,
    /// The path, printable.
    pub path: String,
    pub why: String,
    /// The variable is unset and the file is its default (`~/.aws/config`).
    pub defaulted: bool,
}

impl RefusedFile {
    /// "`AWS_CONFIG_FILE` names `/x`, which is a FIFO, not a regular file",
    /// or, for a default, "`/root/.aws/config` (read when `AWS_CONFIG_FILE` is
    /// unset) is a FIFO, …".
    pub fn message(&self) -> String {
        let (var, path, why) = (self.var, &self.path, &self.why);
        if self.defaulted {
            format!("`{path}` (read when `{var}` is unset) {why}")
        } else {
            format!("`{var}` names `{path}`, which {why}")
        }
    }

    /// The `file-refused` finding a probe reports, on the variable.
    #[cfg(feature = "preflight")]
    pub fn finding(&self) -> crate::report::Finding {
        crate::report::Finding::error(
            crate::report::Code::FileRefused,
            self.var,
            format!("{}; it was not read", self.message()),
        )
        .hint(self.hint())
    }

    pub fn hint(&self) -> String {
        let var = self.var;
        if self.defaulted {
            format!(
                "replace `{}` with a regular file, or point `{var}` at one",
                self.path
            )
        } else {
            format!("point `{var}` at a regular file, or unset it")
        }
    }
}

/// The files an AWS client reads, named by their variables or at their
/// defaults under `HOME`, and the trust store's file: the first one that is
/// not a regular file of sane size.
pub fn refused_file(lookup: Lookup<'_>) -> Option<RefusedFile> {
    const LIMITS: [(&str, u64, Option<&str>); 5] = [
        ("AWS_CONFIG_FILE", 1 << 20, Some(".aws/config")),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            1 << 20,
            Some(".aws/credentials"),
        ),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", 1 << 20, None),
        // EKS Pod Identity's token, read by the container credential provider.
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", 1 << 20, None),
        TRUST_FILE,
    ];
    refused_among(lookup, &LIMITS)
}

/// The trust-store file, and the most a bundle may hold.
const TRUST_FILE: (&str, u64, Option<&str>) = ("SSL_CERT_FILE", 32 << 20, None);

fn refused_among(
    lookup: Lookup<'_>,
    limits: &[(&'static str, u64, Option<&str>)],
) -> Option<RefusedFile> {
    limits.iter().find_map(|&(name, cap, default)| {
        let (path, defaulted) = match (var(lookup, name), default) {
            (Some(p), _) => (std::path::PathBuf::from(p), false),
            (None, Some(d)) => (std::path::Path::new(&var(lookup, "HOME")?).join(d), true),
            (None, None) => return None,
        };
        let why = crate::specfile::stat_refusal(&path, cap)?;
        Some(RefusedFile {
            var: name,
            path: printable(&path.to_string_lossy()),
            why,
            defaulted,
        })
    })
}

/// Error codes that mean the credentials themselves are wrong (unknown key, wrong
/// secret, expired or malformed session token), not that they lack a permission.
pub fn is_bad_credentials_code(code: &str) -> bool {
    matches!(
        code,
        "SignatureDoesNotMatch"
            | "InvalidAccessKeyId"
            | "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "InvalidToken"
            | "TokenRefreshRequired"
    )
}

/// The first `<Code>` of an XML error body. The SDK's awsQuery parser expects
/// `<ErrorResponse><Error>` and finds nothing in the `<Errors><Error>` form some
/// STS-compatible servers (moto among them) send; only a plausible code (ASCII
/// letters and digits, short) is returned, so server bytes are never echoed blindly.
pub fn xml_error_code(body: &[u8]) -> Option<String> {
    let body = &body[..body.len().min(64 * 1024)];
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let code = text[start..start + len].trim();
    (!code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'))
    .then(|| code.to_string())
}

/// Who the credentials belong to, as STS GetCallerIdentity says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Arn(String),
    /// STS rejected the credentials themselves (the error code).
    BadCredentials(String),
    /// STS could not be asked or gave no answer.
    Unknown,
}

/// GetCallerIdentity with `creds`, honouring `AWS_ENDPOINT_URL_STS`; bounded by `left`.
pub async fn caller_identity(
    lookup: Lookup<'_>,
    creds: &Credentials,
    region: &str,
    has_roots: bool,
    left: Duration,
) -> Identity {
    use aws_sdk_sts::error::ProvideErrorMetadata;
    let mut b = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(region.to_string()))
        .credentials_provider(creds.clone())
        .retry_config(aws_sdk_sts::config::retry::RetryConfig::standard().with_max_attempts(1));
    let ep = endpoint_url(lookup, "STS");
    let tls = !ep.as_deref().is_some_and(|e| e.starts_with("http://"));
    if tls && !has_roots {
        return Identity::Unknown;
    }
    b = b.http_client(http_client(tls));
    if let Some(e) = ep {
        b = b.endpoint_url(e);
    }
    let c = aws_sdk_sts::Client::from_conf(b.build());
    match tokio::time::timeout(left, c.get_caller_identity().send()).await {
        Ok(Ok(out)) => out
            .arn()
            .map(|a| Identity::Arn(a.to_string()))
            .unwrap_or(Identity::Unknown),
        Ok(Err(e)) => {
            let code = e.code().map(String::from).or_else(|| {
                e.raw_response()
                    .and_then(|r| r.body().bytes())
                    .and_then(xml_error_code)
            });
            match code {
                Some(code) if is_bad_credentials_code(&code) => Identity::BadCredentials(code),
                _ => Identity::Unknown,
            }
        }
        Err(_) => Identity::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_masks_every_kind_of_userinfo() {
        let cases = [
            ("http://user:CANARY@host:9000/x", "http://***@host:9000/x"),
            ("http://CANARY@host", "http://***@host"),
            ("https://a:b@c@host/p?q=1", "https://***@host/p"),
            // Queries and fragments may carry tokens; a URL without a scheme still has userinfo.
            ("http://h/?token=CANARY#CANARY", "http://h/"),
            ("user:CANARY@127.0.0.1:1", "***@127.0.0.1:1"),
            ("http://host:9000", "http://host:9000"),
            (
                "https://s3.eu-west-1.amazonaws.com",
                "https://s3.eu-west-1.amazonaws.com",
            ),
            // An `@` anywhere after the scheme may end a password with an unencoded
            // `/`: everything before the last one is masked, even at the cost of a path.
            ("http://host/p@x", "http://***@x"),
        ];
        for (url, shown) in cases {
            assert_eq!(display_url(url), shown, "{url}");
            if url.contains("CANARY") {
                assert!(!display_url(url).contains("CANARY"));
            }
        }
    }

    #[test]
    fn endpoints_the_sdk_would_reject_are_refused_before_it_can_echo_them() {
        for bad in [
            "ftp://u:p@127.0.0.1:1",
            "127.0.0.1:1",
            "http://u:p@127.0.0.1:notaport",
            "http://u:p@",
            "http://u:p@127.0.0.1:1 ",
            "http://u s:p@127.0.0.1:1",
            "http://u:p@127.0.0.1:1\\@x",
            "http://u:p@127.0.0.1%2F:1",
            "http://[::1:1",
            "http://127.0.0.1:0",
            "http://u:p@127.0.0.1:1/p?x=1#frag",
        ] {
            assert!(endpoint_problem(bad).is_some(), "{bad}");
        }
        for good in [
            "http://127.0.0.1:9000",
            "https://s3.eu-west-1.amazonaws.com",
            "http://[::1]:9000/",
            "http://u:p@127.0.0.1:9000/p?q=1",
        ] {
            assert_eq!(endpoint_problem(good), None, "{good}");
        }
    }

    #[test]
    fn endpoint_override_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let l = env(&[
            ("AWS_ENDPOINT_URL", "http://a"),
            ("AWS_ENDPOINT_URL_S3", "http://s3"),
        ]);
        assert_eq!(endpoint_url(&l, "S3").as_deref(), Some("http://s3"));
        assert_eq!(endpoint_url(&l, "STS").as_deref(), Some("http://a"));
        let l = env(&[
            ("AWS_ENDPOINT_URL", "http://a"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"),
        ]);
        assert_eq!(endpoint_url(&l, "S3"), None);
        let l = env(&[("AWS_ENDPOINT_URL", "")]);
        assert_eq!(endpoint_url(&l, "S3"), None);
    }

    #[test]
    fn xml_error_code_reads_both_error_shapes_and_refuses_junk() {
        let cases: [(&[u8], Option<&str>); 6] = [
            (b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code></Error></ErrorResponse>", Some("SignatureDoesNotMatch")),
            (b"<ErrorResponse><Errors><Error><Code>InvalidClientTokenId</Code></Error></Errors></ErrorResponse>", Some("InvalidClientTokenId")),
            (b"<Code>a b=c;password=x</Code>", None),
            (b"<Code>InvalidClientTokenId", None),
            (b"", None),
            (b"\xff\xfe<Code>X</Code>", None),
        ];
        for (body, code) in cases {
            assert_eq!(
                xml_error_code(body).as_deref(),
                code,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn credential_process_output_is_withheld_from_errors() {
        let cases = [
            "Error retrieving credentials: external process exited with code exit status: 1. Stderr: CANARY",
            "Error retrieving credentials from external process, could not parse response: invalid JSON CANARY",
        ];
        for msg in cases {
            let shown = withhold_process_output(msg);
            assert!(
                !shown.contains("CANARY") && shown.contains("not shown"),
                "{shown}"
            );
        }
        assert_eq!(withhold_process_output("no such file"), "no such file");
    }

    #[test]
    fn printable_escapes_line_breaks_and_controls() {
        assert_eq!(printable("a\nerror[x] forged"), "a\\nerror[x] forged");
        assert_eq!(printable("/etc/ssl/cert.pem"), "/etc/ssl/cert.pem");
        assert!(!printable("x\r\u{1b}[31m").chars().any(char::is_control));
    }

    /// Both tools use this module, so it must not reach into either of them.
    #[test]
    fn shared_module_imports_neither_tool() {
        let src = include_str!("aws.rs");
        for tool in ["preflight", "image"] {
            let path = format!("{}{}::", "crate::", tool);
            assert!(!src.contains(&path), "aws.rs imports {path}");
        }
    }

    #[test]
    fn bad_credentials_codes_are_not_permission_codes() {
        for c in [
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId",
            "InvalidClientTokenId",
        ] {
            assert!(is_bad_credentials_code(c));
        }
        for c in ["AccessDenied", "AllAccessDisabled", "NoSuchBucket", ""] {
            assert!(!is_bad_credentials_code(c));
        }
    }
}
