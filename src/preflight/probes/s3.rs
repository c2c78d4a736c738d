//! S3 reachability: which credentials provider answered (or that none did), then
//! HeadBucket, and optionally a put+delete under a prefix.
//!
//! Region, credentials (with the provider named) and endpoint overrides come from
//! [`crate::aws`], the plumbing image-check shares. Failures are mapped from the HTTP
//! response (status, `x-amz-bucket-region`) by a pure function that is tested with
//! literal responses; a 403 asks STS whether the keys themselves are rejected, so
//! wrong keys are told apart from a missing permission.

use crate::aws;
use crate::preflight::environ::Env;
use crate::preflight::probes::env::bucket_name_problem;
use crate::preflight::spec::S3Rule;
use crate::report::{CheckOutcome, Code, Finding};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use std::time::{Duration, Instant};

const NO_ROUTE_HINT: &str = "a task in a private subnet needs a NAT gateway or an S3 gateway VPC endpoint to reach S3; check the subnet's route table";

/// The credentials themselves were rejected (`code` is S3's or STS's error code):
/// not a permission problem, so the hint is about where the keys come from.
pub fn bad_credentials(bucket: &str, code: &str, provider: &str) -> Finding {
    Finding::error(
        Code::S3BadCredentials,
        bucket,
        format!("the credentials from {provider} were rejected (`{code}`): the access key is unknown, the secret key does not match it, or the session token is expired or missing"),
    )
    .hint("check where these keys come from: a stale or mistyped `AWS_SECRET_ACCESS_KEY`, keys from another account or partition, or temporary keys without their `AWS_SESSION_TOKEN`")
}

/// What went wrong, from the parts of an HTTP response that matter.
pub fn classify_status(
    status: u16,
    bucket_region: Option<&str>,
    client_region: &str,
    bucket: &str,
    principal: Option<&str>,
    action: &str,
) -> Finding {
    let who = principal
        .map(|p| format!("`{p}`"))
        .unwrap_or_else(|| "these credentials".into());
    match (status, bucket_region) {
        (301 | 307 | 400, Some(r)) if r != client_region => Finding::error(
            Code::S3WrongRegion,
            bucket,
            format!(
                "bucket `{bucket}` is in {}, but the client uses {}",
                aws::display_region(r),
                aws::display_region(client_region)
            ),
        )
        .hint(if aws::display_region(r).starts_with('`') {
            format!(
                "set `AWS_REGION={r}` in the task definition (or create the bucket in {})",
                aws::display_region(client_region)
            )
        } else {
            "set `AWS_REGION` to the bucket's region in the task definition".to_string()
        }),
        (404, _) => Finding::error(Code::S3NoSuchBucket, bucket, format!("bucket `{bucket}` does not exist"))
            .hint("check `S3_BUCKET_NAME` against the stack's outputs; the bucket may not be created yet or was deleted"),
        (403, _) => Finding::error(
            Code::S3AccessDenied,
            bucket,
            format!("access denied: {who} may not `{action}` on `arn:aws:s3:::{bucket}`"),
        )
        .hint(format!("grant `{action}` on the bucket to the task role (`taskRoleArn`), and check the bucket policy and any VPC endpoint policy")),
        (s, _) if s >= 500 => Finding::error(Code::S3Error, bucket, format!("S3 answered HTTP {s} for bucket `{bucket}`"))
            .hint("S3 or the endpoint is failing; retry, and check the endpoint override if one is set"),
        (s, _) => Finding::error(Code::S3Error, bucket, format!("S3 answered HTTP {s} for bucket `{bucket}`"))
            .hint("check the bucket name and the endpoint settings"),
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

pub async fn probe(env: &Env, rule: &S3Rule, timeout: Duration) -> CheckOutcome {
    let out = probe_unscrubbed(env, rule, timeout).await;
    // The SDK's own error text may quote the endpoint whole (userinfo, query and
    // all); whatever it said, the raw value never reaches the report.
    let lookup = |k: &str| env.plain(k).map(String::from);
    let endpoints: Vec<String> = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
        .iter()
        .filter_map(|k| lookup(k))
        .filter(|e| !e.is_empty())
        .collect();
    scrub(out, &endpoints)
}

/// Replaces every appearance of each raw endpoint with its printable form.
fn scrub(mut out: CheckOutcome, raw: &[String]) -> CheckOutcome {
    let clean = |s: &mut String| {
        for r in raw {
            if s.contains(r.as_str()) {
                *s = s.replace(r.as_str(), &aws::display_url(r));
            }
        }
    };
    for f in &mut out.findings {
        clean(&mut f.message);
        if let Some(h) = f.hint.as_mut() {
            clean(h);
        }
    }
    if let Some(d) = out.detail.as_mut() {
        clean(d);
    }
    out
}

async fn probe_unscrubbed(env: &Env, rule: &S3Rule, timeout: Duration) -> CheckOutcome {
    let name = "s3";
    let Some(bucket) = env.plain(&rule.bucket_env).map(String::from) else {
        return CheckOutcome::from_findings(
            name,
            vec![Finding::error(Code::EnvMissing, &rule.bucket_env, format!("`{}` is not set, so S3 cannot be checked", rule.bucket_env))
                .hint(format!("add `{}` to the task definition's `environment` (health checks that report s3 down keep a CloudFormation deploy waiting for hours)", rule.bucket_env))],
        );
    };
    if let Some((what, hint)) = bucket_name_problem(&bucket) {
        return CheckOutcome::from_findings(
            name,
            vec![Finding::error(
                Code::EnvMalformed,
                &rule.bucket_env,
                format!("`{}` {what}", rule.bucket_env),
            )
            .hint(hint)],
        );
    }
    let lookup = |k: &str| env.plain(k).map(String::from);
    let lookup: aws::Lookup<'_> = &lookup;
    let ep = aws::endpoint_url(lookup, "S3");
    if let Some(problem) = ep.as_deref().and_then(aws::endpoint_problem) {
        let var = if lookup("AWS_ENDPOINT_URL_S3").is_some() {
            "AWS_ENDPOINT_URL_S3"
        } else {
            "AWS_ENDPOINT_URL"
        };
        return CheckOutcome::from_findings(
            name,
            vec![Finding::error(Code::EnvMalformed, var, format!("`{var}` {problem}, so S3 cannot be reached through it (the value is not shown)"))
                .hint("set it to `https://HOST[:PORT]` (credentials never belong in the URL), or unset it to use AWS's own endpoint")],
        );
    }
    if let Some(r) = aws::refused_file(lookup) {
        return CheckOutcome::from_findings(name, vec![r.finding()]);
    }
    let http_only = ep.as_deref().is_some_and(|e| e.starts_with("http://"));
    let trust = aws::trust_store(lookup);
    let has_roots = trust.has_roots();
    if !http_only {
        match &trust {
            aws::TrustStore::Roots => {}
            aws::TrustStore::BadVariable { var, path } => {
                return CheckOutcome::from_findings(name, vec![Finding::error(Code::CaPathMissing, &bucket, format!("`{var}` names `{path}`, which does not exist or is not readable, so no CA certificates were loaded and TLS to S3 cannot be verified"))
                    .hint(format!("point `{var}` at the CA bundle (for example `/etc/ssl/certs/ca-certificates.crt`), or unset it to use the system store"))]);
            }
            aws::TrustStore::Empty => {
                return CheckOutcome::from_findings(name, vec![Finding::error(Code::NoCaCertificates, &bucket, "no trusted CA certificates in this container (system store, `SSL_CERT_FILE`, `SSL_CERT_DIR`), so TLS to S3 cannot be verified")
                    .hint("install `ca-certificates` in the final image stage (scratch and distroless-static images have none), or copy `/etc/ssl/certs/ca-certificates.crt` in")]);
            }
        }
    }
    let start = Instant::now();
    let left = || timeout.saturating_sub(start.elapsed());
    let resolved = aws::resolve(lookup, has_roots);
    let mut notes = Vec::new();
    let (resolved_region, creds) = match tokio::time::timeout(left(), resolved).await {
        Err(_) => {
            return CheckOutcome::from_findings(name, vec![Finding::error(Code::S3Timeout, &bucket, format!("resolving AWS credentials did not finish within {}", secs(timeout)))
                .hint("the credentials endpoint (ECS, instance metadata or STS) is not answering; check the task's network and role")])
        }
        Ok((_, aws::CredsOutcome::ProfileMissing { name: profile, files })) => {
            return CheckOutcome::from_findings(name, vec![Finding::error(Code::AwsProfileMissing, &bucket, format!("`AWS_PROFILE` names profile `{profile}`, which neither `{}` nor `{}` defines", files[0], files[1]))
                .hint("fix `AWS_PROFILE` or add the profile (`[profile NAME]` in the config file, `[NAME]` in the credentials file); boto3 and the AWS CLI refuse to start without it")])
        }
        Ok((_, aws::CredsOutcome::None(tried))) => {
            return CheckOutcome::from_findings(name, vec![Finding::error(Code::S3NoCredentials, &bucket, format!("no AWS credentials: none of {} supplied any", tried.iter().map(|t| t.describe()).collect::<Vec<_>>().join(", ")))
                .hint("give the task definition a `taskRoleArn` (its role's credentials reach the container through the ECS endpoint); locally, set `AWS_PROFILE` or `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`")])
        }
        Ok((_, aws::CredsOutcome::Failed(p, e))) => {
            return CheckOutcome::from_findings(name, vec![Finding::error(Code::S3NoCredentials, &bucket, format!("the {} provider failed: {e}", p.describe()))
                .hint("check the role's trust policy, the profile's settings and that the credentials endpoint (STS, ECS) is reachable")])
        }
        Ok((_, aws::CredsOutcome::Unsendable { region, message })) => {
            let (code, hint) = if region {
                (Code::S3Error, "set the region without surrounding whitespace (`AWS_REGION=eu-west-1`)")
            } else {
                (Code::S3BadCredentials, "store the key without a trailing newline (Secrets Manager keeps what was pasted), or strip it where the task reads it")
            };
            return CheckOutcome::from_findings(name, vec![Finding::error(code, &bucket, message).hint(hint)]);
        }
        Ok((r, aws::CredsOutcome::Found(c, p))) => (r, (c, p)),
    };
    if resolved_region.source == aws::RegionSource::Assumed {
        notes.push(Finding::note(Code::AwsRegionAssumed, &bucket, format!("no region is configured (`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`), so `{}` was assumed", aws::FALLBACK_REGION))
            .hint("set `AWS_REGION` to the bucket's region in the task definition; SDKs without a fallback fail with \"missing region\""));
    }
    let (credentials, provider) = creds;
    let region = resolved_region.name.clone();
    let path_style = rule.path_style.unwrap_or(ep.is_some());
    let mut b = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.clone()))
        .credentials_provider(credentials.clone())
        .force_path_style(path_style)
        // As the app's SDK does (standard mode, three attempts), so one transient
        // 503 SlowDown or 500 does not stop a start the app would survive; the
        // backoff is short, and the probe's deadline bounds it all.
        .retry_config(
            aws_sdk_s3::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(100))
                .with_max_backoff(std::time::Duration::from_millis(500)),
        );
    if let Some(e) = &ep {
        b = b.endpoint_url(e);
    }
    // Plain HTTP (an S3-compatible server on a private network) needs no trust store.
    b = b.http_client(aws::http_client(!http_only));
    let client = aws_sdk_s3::Client::from_conf(b.build());
    let via = format!("credentials from {}", provider.describe());
    let ctx = Failures {
        env,
        bucket: &bucket,
        region: &region,
        creds: &credentials,
        provider: &provider,
        endpoint: ep.as_deref(),
        has_roots,
        deadline: start + timeout,
    };
    let head = tokio::time::timeout(left(), client.head_bucket().bucket(&bucket).send()).await;
    let mut findings = Vec::new();
    let bucket_region = match head {
        Err(_) => {
            findings.push(
                Finding::error(
                    Code::S3Timeout,
                    &bucket,
                    format!(
                        "HeadBucket on `{bucket}` got no answer within {}",
                        secs(timeout)
                    ),
                )
                .hint(NO_ROUTE_HINT),
            );
            None
        }
        Ok(Ok(out)) => Some(out.bucket_region().unwrap_or(&region).to_string()),
        Ok(Err(e)) => {
            findings.push(ctx.failure(&e, "s3:ListBucket").await);
            None
        }
    };
    if let (Some(prefix), true) = (&rule.write_prefix, findings.is_empty()) {
        let key = format!(
            "{prefix}shipcheck-preflight-{}-{}.txt",
            std::process::id(),
            start.elapsed().as_nanos()
        );
        let put = tokio::time::timeout(
            left(),
            client
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(b"shipcheck preflight write probe".to_vec().into())
                .send(),
        )
        .await;
        match put {
            Err(_) => findings.push(
                Finding::error(
                    Code::S3Timeout,
                    &bucket,
                    format!("PutObject did not finish within {}", secs(timeout)),
                )
                .hint(NO_ROUTE_HINT),
            ),
            Ok(Err(e)) => {
                let mut f = ctx.failure(&e, "s3:PutObject").await;
                f.code = if f.code == Code::S3AccessDenied {
                    Code::S3WriteFailed
                } else {
                    f.code
                };
                findings.push(f);
            }
            Ok(Ok(_)) => {
                if let Ok(Err(e)) = tokio::time::timeout(
                    left(),
                    client.delete_object().bucket(&bucket).key(&key).send(),
                )
                .await
                {
                    let mut f = ctx.failure(&e, "s3:DeleteObject").await;
                    f.code = Code::S3WriteFailed;
                    findings.push(f);
                }
            }
        }
    }
    findings.extend(notes);
    let mut out = CheckOutcome::from_findings(name, findings);
    if let Some(r) = bucket_region {
        let mut d = format!(
            "bucket `{bucket}` reachable in {}, {via}, client region {} {}",
            aws::display_region(&r),
            aws::display_region(&region),
            resolved_region.source.describe()
        );
        if let Some(e) = &ep {
            d.push_str(&format!(
                ", endpoint `{}`{}",
                aws::display_url(e),
                if path_style { " (path-style)" } else { "" }
            ));
        }
        if rule.write_prefix.is_some() && out.findings.is_empty() {
            d.push_str(", write probe ok");
        }
        out.detail = Some(d);
    }
    out
}

/// What an SDK error is explained with: the call's context, gathered once.
struct Failures<'a> {
    env: &'a Env,
    bucket: &'a str,
    region: &'a str,
    creds: &'a Credentials,
    provider: &'a aws::Provider,
    endpoint: Option<&'a str>,
    has_roots: bool,
    deadline: Instant,
}

impl Failures<'_> {
    async fn failure<E>(&self, e: &SdkError<E, HttpResponse>, action: &str) -> Finding
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    {
        let (bucket, region, ep) = (self.bucket, self.region, self.endpoint);
        let left = self.deadline.saturating_duration_since(Instant::now());
        match e {
            SdkError::ServiceError(se) => {
                let raw = se.raw();
                let status = raw.status().as_u16();
                // HEAD answers carry no error body, so a rejected key looks like any
                // 403 there; STS names the difference.
                let identity = match se.err().code() {
                    Some(code) if aws::is_bad_credentials_code(code) => {
                        aws::Identity::BadCredentials(code.to_string())
                    }
                    _ if status == 403 => {
                        let lookup = |k: &str| self.env.plain(k).map(String::from);
                        aws::caller_identity(&lookup, self.creds, region, self.has_roots, left)
                            .await
                    }
                    _ => aws::Identity::Unknown,
                };
                match identity {
                    aws::Identity::BadCredentials(code) => {
                        bad_credentials(bucket, &code, &self.provider.describe())
                    }
                    aws::Identity::Arn(arn) => classify_status(
                        status,
                        raw.headers().get("x-amz-bucket-region"),
                        region,
                        bucket,
                        Some(&arn),
                        action,
                    ),
                    aws::Identity::Unknown => classify_status(
                        status,
                        raw.headers().get("x-amz-bucket-region"),
                        region,
                        bucket,
                        None,
                        action,
                    ),
                }
            }
            SdkError::TimeoutError(_) => {
                Finding::error(Code::S3Timeout, bucket, "the S3 request timed out")
                    .hint(NO_ROUTE_HINT)
            }
            SdkError::DispatchFailure(d) if d.is_timeout() => {
                Finding::error(Code::S3Timeout, bucket, "connecting to S3 timed out")
                    .hint(NO_ROUTE_HINT)
            }
            SdkError::DispatchFailure(_) => Finding::error(
                Code::S3Unreachable,
                bucket,
                format!(
                    "cannot reach S3{}: {}",
                    ep.map(|e| format!(" at `{}`", aws::display_url(e)))
                        .unwrap_or_default(),
                    crate::cli::chain(e)
                ),
            )
            .hint(if ep.is_some() {
                "check `AWS_ENDPOINT_URL`/`AWS_ENDPOINT_URL_S3`: nothing answers there"
            } else {
                NO_ROUTE_HINT
            }),
            other => Finding::error(
                Code::S3Error,
                bucket,
                format!("the S3 request failed: {}", crate::cli::chain(other)),
            )
            .hint("check the endpoint and region settings"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_that_is_not_a_region_name_is_never_shown() {
        assert_eq!(aws::display_region("eu-west-1"), "`eu-west-1`");
        for bad in [
            "us-east-1;secret=hunter22",
            "a b",
            "",
            "-x",
            "x\u{1b}[31m",
            &"a".repeat(64),
        ] {
            assert_eq!(
                aws::display_region(bad),
                "(not a region name; not shown)",
                "{bad:?}"
            );
        }
        let f = classify_status(
            301,
            Some("us-east-2"),
            "eu-west-1;hunter22",
            "b",
            None,
            "s3:ListBucket",
        );
        assert!(!f.message.contains("hunter22") && !f.hint.unwrap().contains("hunter22"));
    }

    #[test]
    fn maps_literal_responses() {
        let principal = Some("arn:aws:sts::123456789012:assumed-role/task/x");
        // (status, x-amz-bucket-region, principal) -> code
        let cases = [
            (404, None, None, Code::S3NoSuchBucket),
            (301, Some("us-east-2"), None, Code::S3WrongRegion),
            (400, Some("us-east-2"), None, Code::S3WrongRegion),
            (403, Some("eu-west-1"), principal, Code::S3AccessDenied),
            (503, None, None, Code::S3Error),
            (400, Some("eu-west-1"), None, Code::S3Error),
        ];
        for (status, region, who, code) in cases {
            let f = classify_status(status, region, "eu-west-1", "b", who, "s3:ListBucket");
            assert_eq!(f.code, code, "{status} {region:?}");
            match code {
                Code::S3WrongRegion => {
                    assert!(
                        f.message.contains("`us-east-2`")
                            && f.hint.unwrap().contains("AWS_REGION=us-east-2")
                    )
                }
                Code::S3AccessDenied => {
                    assert!(
                        f.message.contains("assumed-role/task/x")
                            && f.message.contains("s3:ListBucket")
                    )
                }
                _ => {}
            }
        }
    }
}
