//! ECR authentication in-process: GetAuthorizationToken with the AWS SDK's
//! default credential chain and region (walked by `crate::aws`, which names the
//! provider), the endpoint overrides `AWS_ENDPOINT_URL_ECR`/`AWS_ENDPOINT_URL`,
//! and the one rustls+ring HTTP client. The token is base64 `AWS:<password>` for
//! Basic auth; `proxyEndpoint` is the registry host for bare references.
//!
//! The token's `expiresAt` is not trusted to decide anything: a token whose expiry
//! is already past (moto's says 2015) is still used, and a token the registry
//! rejects is refreshed once, never in a loop.

use super::auth::{Credential, Env, Source};
use crate::aws;
use crate::image::error::{ImageError, Result};
use crate::redact::Secret;
use crate::report::Code;
use base64::Engine as _;
use std::time::Duration;
use tokio::time::Instant;

/// The region of an ECR registry host
/// (`123456789012.dkr.ecr[-fips].REGION.amazonaws.com[.cn]`), or `None` when the
/// host is not ECR's.
pub fn region_of(host: &str) -> Option<String> {
    let name = host.split(':').next()?.to_ascii_lowercase();
    let rest = name
        .strip_suffix(".amazonaws.com")
        .or_else(|| name.strip_suffix(".amazonaws.com.cn"))?;
    let (account, rest) = rest.split_once('.')?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let region = rest
        .strip_prefix("dkr.ecr.")
        .or_else(|| rest.strip_prefix("dkr.ecr-fips."))?;
    (!region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then(|| region.to_string())
}

/// What a refresh or a 403 needs again: the AWS credentials and where they are.
pub struct Context {
    creds: aws_credential_types::Credentials,
    provider: String,
    region: String,
    has_roots: bool,
}

fn fail(message: String, hint: &str) -> ImageError {
    ImageError::registry(Code::RegistryAuth, message, hint)
}

/// Resolves AWS credentials and asks ECR for a registry token. `region` is the
/// one an ECR host names; otherwise the chain's region is used.
pub async fn login(
    env: &Env,
    region: Option<String>,
    deadline: Instant,
) -> Result<(Credential, String, Context)> {
    let lookup = |k: &str| env(k);
    if let Some(r) = aws::refused_file(&lookup) {
        return Err(fail(
            format!("{}; ECR credentials cannot be read", r.message()),
            &r.hint(),
        ));
    }
    let has_roots = aws::trust_store(&lookup).has_roots();
    let resolved = aws::resolve_region(&lookup, aws::http_client(has_roots)).await;
    let region = match region {
        Some(r) => aws::ResolvedRegion {
            name: r,
            source: aws::RegionSource::Assumed,
        },
        None => resolved,
    };
    let outcome = tokio::time::timeout_at(
        deadline,
        aws::resolve_credentials(&lookup, &region, aws::http_client(has_roots)),
    )
    .await
    .map_err(|_| {
        fail(
            "the `--timeout` deadline passed while resolving AWS credentials for ECR".into(),
            "check the AWS credential configuration (a slow `credential_process` or an unreachable endpoint)",
        )
    })?;
    let (creds, provider) = match outcome {
        aws::CredsOutcome::Found(c, p) => (c, p.describe()),
        aws::CredsOutcome::None(tried) => {
            let tried: Vec<String> = tried.iter().map(aws::Provider::describe).collect();
            return Err(fail(
                format!(
                    "ECR needs AWS credentials and none were found (tried: {})",
                    tried.join(", ")
                ),
                "configure AWS credentials (environment, profile, web identity, ECS or instance role), or pass `--creds AWS:PASSWORD` from `aws ecr get-login-password`",
            ));
        }
        aws::CredsOutcome::Failed(p, why) => {
            return Err(fail(
                format!("AWS credentials from {} failed: {why}", p.describe()),
                "fix that credential source; ECR tokens are obtained with it",
            ))
        }
        aws::CredsOutcome::Unsendable { message, .. } => {
            return Err(fail(
                message,
                "remove the control character (a trailing newline, usually) from that value",
            ))
        }
        aws::CredsOutcome::ProfileMissing { name, files } => {
            return Err(fail(
                format!(
                    "`AWS_PROFILE` names `{name}`, which neither {} defines",
                    files.join(" nor ")
                ),
                "set `AWS_PROFILE` to a profile that exists, or unset it",
            ))
        }
    };
    let ctx = Context {
        creds,
        provider,
        region: region.name.clone(),
        has_roots,
    };
    let (cred, proxy) = token(env, &ctx, deadline).await?;
    Ok((cred, proxy, ctx))
}

/// One GetAuthorizationToken call: the Basic credential and the registry host.
pub async fn token(env: &Env, ctx: &Context, deadline: Instant) -> Result<(Credential, String)> {
    use aws_sdk_ecr::error::ProvideErrorMetadata;
    let lookup = |k: &str| env(k);
    let ep = aws::endpoint_url(&lookup, "ECR");
    if let Some(e) = &ep {
        if let Some(why) = aws::endpoint_problem(e) {
            return Err(fail(
                format!("the ECR endpoint override (`AWS_ENDPOINT_URL_ECR` or `AWS_ENDPOINT_URL`) {why}"),
                "set it to a URL like `https://api.ecr.eu-west-1.amazonaws.com`, or unset it",
            ));
        }
    }
    let tls = !ep.as_deref().is_some_and(|e| e.starts_with("http://"));
    let mut b = aws_sdk_ecr::Config::builder()
        .behavior_version(aws_sdk_ecr::config::BehaviorVersion::latest())
        .region(aws_sdk_ecr::config::Region::new(ctx.region.clone()))
        .credentials_provider(ctx.creds.clone())
        .http_client(aws::http_client(tls && ctx.has_roots));
    if let Some(e) = ep {
        b = b.endpoint_url(e);
    }
    let client = aws_sdk_ecr::Client::from_conf(b.build());
    let answer = tokio::time::timeout_at(deadline, client.get_authorization_token().send())
        .await
        .map_err(|_| {
            fail(
                format!("the `--timeout` deadline passed while asking ECR (region `{}`) for a registry token", ctx.region),
                "check network access to the ECR API endpoint",
            )
        })?;
    let out = match answer {
        Ok(o) => o,
        Err(e) => {
            let code = e.code().unwrap_or("").to_string();
            let (message, hint) = if code.contains("AccessDenied") {
                (
                    format!("ECR refused GetAuthorizationToken to the AWS credentials from {} (`{code}`): the principal lacks `ecr:GetAuthorizationToken`", ctx.provider),
                    "grant `ecr:GetAuthorizationToken` (on `*`) to the principal image-check runs as",
                )
            } else if aws::is_bad_credentials_code(&code) {
                (
                    format!(
                        "ECR rejected the AWS credentials from {} (`{code}`)",
                        ctx.provider
                    ),
                    "the credentials are wrong or expired; refresh them",
                )
            } else {
                // The SDK's error chain names no secret (credentials are never in it).
                (
                    format!(
                        "ECR GetAuthorizationToken failed (region `{}`, AWS credentials from {}): {}",
                        ctx.region,
                        ctx.provider,
                        if code.is_empty() { crate::cli::chain(&e) } else { format!("`{code}`") }
                    ),
                    "check the region and network access to the ECR API endpoint",
                )
            };
            return Err(fail(message, hint));
        }
    };
    let bad = || {
        fail(
            "ECR answered GetAuthorizationToken without a usable token".into(),
            "retry; if it persists, check the ECR endpoint override",
        )
    };
    let data = out.authorization_data().first().ok_or_else(bad)?;
    let raw = Secret::new(
        base64::engine::general_purpose::STANDARD
            .decode(data.authorization_token().unwrap_or("").trim())
            .map_err(|_| bad())?,
    );
    let text = std::str::from_utf8(raw.expose()).map_err(|_| bad())?;
    let source = Source::Ecr {
        region: ctx.region.clone(),
        provider: ctx.provider.clone(),
    };
    let cred = super::auth::parse_user_pass(text, source).map_err(|_| bad())?;
    let proxy = data
        .proxy_endpoint()
        .map(|p| {
            p.trim_start_matches("https://")
                .trim_end_matches('/')
                .to_string()
        })
        .unwrap_or_default();
    Ok((cred, proxy))
}

/// The principal's ARN for a 403, so the message can say who lacks a permission.
pub async fn principal(env: &Env, ctx: &Context) -> Option<String> {
    let lookup = |k: &str| env(k);
    match aws::caller_identity(
        &lookup,
        &ctx.creds,
        &ctx.region,
        ctx.has_roots,
        Duration::from_secs(10),
    )
    .await
    {
        aws::Identity::Arn(a) => Some(aws::printable(&a)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts_and_their_regions() {
        for (h, r) in [
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                Some("eu-west-1"),
            ),
            (
                "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
                Some("us-east-1"),
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                Some("cn-north-1"),
            ),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com:443",
                Some("eu-west-1"),
            ),
            ("12345678901.dkr.ecr.eu-west-1.amazonaws.com", None),
            ("123456789012.dkr.ecr..amazonaws.com", None),
            ("public.ecr.aws", None),
            ("localhost:5000", None),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example",
                None,
            ),
        ] {
            assert_eq!(region_of(h).as_deref(), r, "{h}");
        }
    }
}
