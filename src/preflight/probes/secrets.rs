//! Secrets: present, shaped like their kind (Stripe, OpenAI, Cognito config, PEM),
//! not a whole Secrets Manager JSON object where one value belongs, not a test key in
//! production; and a keyed fingerprint of each so an operator can tell whether a
//! running task still holds a rotated-away value. No value, or any part of one,
//! is ever printed.

use crate::preflight::environ::Env;
use crate::preflight::spec::{SecretKind, SecretRule};
use crate::redact::Secret;
use crate::report::{CheckOutcome, Code, Finding};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// HMAC-SHA256 of the value under `key`, as 16 hex digits: enough to compare two
/// values, useless for guessing one without the key.
pub fn fingerprint(key: &Secret<String>, value: &Secret<String>) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(value.expose().as_bytes());
    let out = mac.finalize().into_bytes();
    format!("hmac-sha256:{}", hex::encode(&out[..8]))
}

fn guess(v: &str) -> SecretKind {
    if v.starts_with("sk_") || v.starts_with("pk_") || v.starts_with("rk_") {
        SecretKind::Stripe
    } else if v.starts_with("sk-") {
        SecretKind::Openai
    } else if v.starts_with("-----BEGIN") {
        SecretKind::Pem
    } else {
        SecretKind::String
    }
}

fn is_aws_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// The shortest body Stripe's secret and restricted keys have had (24 characters
/// after `sk_live_` in its oldest documented keys; newer ones are ~99).
const STRIPE_MIN_BODY: usize = 16;

fn stripe_key_body(b: &str) -> bool {
    b.len() >= STRIPE_MIN_BODY && b.bytes().all(|c| c.is_ascii_alphanumeric())
}

fn check_shape(name: &str, kind: SecretKind, v: &str, production: bool, out: &mut Vec<Finding>) {
    let err = |code, msg: String, hint: &str| Finding::error(code, name, msg).hint(hint);
    match kind {
        SecretKind::Auto | SecretKind::String => {}
        SecretKind::Stripe => {
            if v.starts_with("pk_") {
                out.push(err(Code::SecretPublishableKey, format!("`{name}` holds a publishable key (`pk_…`) where a secret key belongs"), "use the secret key (`sk_live_…`) or a restricted key (`rk_live_…`) from the Stripe dashboard; publishable keys only work in browsers"));
            } else if !["sk_live_", "sk_test_", "rk_live_", "rk_test_"]
                .iter()
                .any(|p| v.starts_with(p))
            {
                out.push(err(Code::SecretMalformed, format!("`{name}` does not look like a Stripe secret key (`sk_live_…`, `sk_test_…`, `rk_…`)"), "copy the key again from the Stripe dashboard"));
            } else if !stripe_key_body(&v[8..]) {
                // A space, quote, line break or non-ASCII character also breaks
                // the `Authorization` header (Node throws `ERR_INVALID_CHAR`).
                out.push(err(Code::SecretMalformed, format!("`{name}` starts like a Stripe key but is not one: after its prefix a key is {STRIPE_MIN_BODY} or more letters and digits"), "copy the whole key again from the Stripe dashboard, without quotes or a trailing newline"));
            } else if production && (v.starts_with("sk_test_") || v.starts_with("rk_test_")) {
                out.push(err(
                    Code::SecretTestKeyInProduction,
                    format!("`{name}` is a Stripe test-mode key but `NODE_ENV=production`"),
                    "point the secret at the live key (`sk_live_…`) for production",
                ));
            }
        }
        SecretKind::Openai => {
            if !v.starts_with("sk-") || v.len() < 20 {
                out.push(err(
                    Code::SecretMalformed,
                    format!("`{name}` does not look like an OpenAI key (`sk-…` or `sk-proj-…`)"),
                    "create a key in the OpenAI dashboard and store it whole",
                ));
            }
        }
        SecretKind::Pem => {
            if v.contains("\\n") && !v.contains('\n') {
                out.push(err(
                    Code::SecretMalformed,
                    format!("`{name}` is PEM with literal `\\n` instead of line breaks"),
                    "store the PEM with real newlines, or turn `\\n` into newlines when reading it",
                ));
            } else if !(v.contains("-----BEGIN ") && v.contains("-----END ")) {
                out.push(err(
                    Code::SecretMalformed,
                    format!("`{name}` is not PEM (no `-----BEGIN`/`-----END` lines)"),
                    "store the whole PEM block, header and footer included",
                ));
            }
        }
        SecretKind::Cognito => match serde_json::from_str::<serde_json::Value>(v) {
            Ok(j) if j.is_object() => {
                let s = |k: &str| j.get(k).and_then(|x| x.as_str()).unwrap_or("");
                let (pool, client, region) = (s("userPoolId"), s("clientId"), s("region"));
                let mut problems = Vec::new();
                match pool.split_once('_') {
                    Some((r, id))
                        if is_aws_region(r)
                            && !id.is_empty()
                            && id.chars().all(|c| c.is_ascii_alphanumeric()) =>
                    {
                        if !region.is_empty() && r != region {
                            problems
                                .push("`userPoolId`'s region differs from `region`".to_string());
                        }
                    }
                    _ => problems.push("`userPoolId` is not `<region>_<id>`".into()),
                }
                if client.is_empty() {
                    problems.push("`clientId` is missing".into());
                }
                if !is_aws_region(region) {
                    problems.push("`region` is missing or not an AWS region".into());
                }
                if !problems.is_empty() {
                    out.push(err(Code::SecretMalformed, format!("`{name}` is not a valid Cognito config: {}", problems.join("; ")), "store `{\"userPoolId\":\"eu-west-1_AbC123\",\"clientId\":\"…\",\"region\":\"eu-west-1\"}`"));
                }
            }
            _ => out.push(err(
                Code::SecretMalformed,
                format!("`{name}` is not a JSON object with `userPoolId`, `clientId` and `region`"),
                "store the Cognito config as one JSON object",
            )),
        },
    }
}

pub fn probe(env: &Env, rules: &[SecretRule], spec_key: Option<&str>) -> CheckOutcome {
    let key = env
        .get("SHIPCHECK_FINGERPRINT_KEY")
        .cloned()
        .or_else(|| spec_key.map(|k| Secret::new(k.to_string())));
    let mut findings = Vec::new();
    let mut present = 0;
    for rule in rules {
        let name = rule.name.as_str();
        let Some(value) = env.get(name) else {
            findings.push(
                Finding::error(Code::SecretMissing, name, format!("`{name}` is not set"))
                    .hint(format!("add `{name}` to the task definition's `secrets` (`valueFrom` a Secrets Manager ARN) and check the execution role may read it")),
            );
            continue;
        };
        present += 1;
        let v = value.expose().as_str();
        let json_object = v.trim_start().starts_with('{')
            && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(v).is_ok();
        if json_object && rule.kind != SecretKind::Cognito {
            // Described by shape only: a key can be as secret as a value (`{"sk_live_…": 1}`).
            let keys = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(v)
                .map(|m| m.len())
                .unwrap_or_default();
            let keys = match keys {
                1 => "1 key".to_string(),
                n => format!("{n} keys"),
            };
            findings.push(
                Finding::error(Code::SecretWholeJson, name, format!("`{name}` holds a whole JSON object ({keys}) where one value was expected"))
                    .hint("in the task definition use the `:jsonkey::` form of `valueFrom`, e.g. `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME:KEY::`"),
            );
        } else {
            if v.trim() != v {
                findings.push(
                    Finding::warning(
                        Code::SecretMalformed,
                        name,
                        format!("`{name}` has leading or trailing whitespace"),
                    )
                    .hint("store the secret without the trailing newline"),
                );
            }
            let kind = if rule.kind == SecretKind::Auto {
                guess(v)
            } else {
                rule.kind
            };
            check_shape(name, kind, v, env.is_production(), &mut findings);
        }
        if let Some(k) = &key {
            findings.push(
                Finding::note(Code::SecretFingerprint, name, format!("fingerprint `{}`", fingerprint(k, value)))
                    .hint("compare with `preflight --fingerprint` of the value now in Secrets Manager; a difference means this task started before the last rotation"),
            );
        }
    }
    let mut out = CheckOutcome::from_findings("secrets", findings)
        .detail(format!("{present} of {} secrets set", rules.len()));
    if key.is_none() && !rules.is_empty() {
        out.detail = Some(format!(
            "{present} of {} secrets set; no fingerprints (set `SHIPCHECK_FINGERPRINT_KEY`)",
            rules.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(n: &str, kind: SecretKind) -> SecretRule {
        SecretRule {
            name: n.into(),
            kind,
        }
    }

    fn codes(out: &CheckOutcome) -> Vec<&'static str> {
        out.findings.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn classifies_shapes_without_printing_values() {
        let env = Env::from_pairs([
            ("NODE_ENV", "production"),
            ("STRIPE", "pk_live_CANARY0000000000"),
            ("STRIPE_TEST", "sk_test_CANARY0000000000"),
            ("OPENAI", "sk-proj-CANARY00000000000000"),
            ("WHOLE", "{\"CANARYkey\":\"CANARY\",\"username\":\"app\"}"),
            ("COGNITO", "{\"userPoolId\":\"eu-west-1_AbC123\",\"clientId\":\"CANARYclient\",\"region\":\"eu-west-1\"}"),
            ("COGNITO_BAD", "{\"userPoolId\":\"CANARY\",\"region\":\"eu-west-1\"}"),
            ("PEM", "-----BEGIN PRIVATE KEY-----\\nCANARY\\n-----END PRIVATE KEY-----"),
            ("SHIPCHECK_FINGERPRINT_KEY", "k"),
        ]);
        let out = probe(
            &env,
            &[
                rule("STRIPE", SecretKind::Stripe),
                rule("STRIPE_TEST", SecretKind::Auto),
                rule("OPENAI", SecretKind::Openai),
                rule("WHOLE", SecretKind::Auto),
                rule("COGNITO", SecretKind::Cognito),
                rule("COGNITO_BAD", SecretKind::Cognito),
                rule("PEM", SecretKind::Pem),
                rule("ABSENT", SecretKind::Auto),
            ],
            None,
        );
        let c: Vec<_> = codes(&out)
            .into_iter()
            .filter(|c| *c != "secret-fingerprint")
            .collect();
        assert_eq!(
            c,
            [
                "secret-publishable-key",
                "secret-test-key-in-production",
                "secret-whole-json",
                "secret-malformed",
                "secret-malformed",
                "secret-missing"
            ]
        );
        assert_eq!(
            codes(&out)
                .iter()
                .filter(|c| **c == "secret-fingerprint")
                .count(),
            7
        );
        let text = format!("{out:?}");
        assert!(!text.contains("CANARY"), "{text}");
    }

    /// Hostile F6: only the prefix was looked at, so `sk_live_` alone, or a key
    /// with a space, quote or emoji in it, passed.
    #[test]
    fn a_stripe_key_is_its_prefix_and_letters_and_digits() {
        let shape = |v: &str| {
            let mut out = Vec::new();
            check_shape("K", SecretKind::Stripe, v, false, &mut out);
            out.iter().map(|f| f.code.as_str()).collect::<Vec<_>>()
        };
        let body = "4eC39HqLyjWDarjtT1zdp7dc";
        for ok in ["sk_live_", "sk_test_", "rk_live_", "rk_test_"] {
            assert!(shape(&format!("{ok}{body}")).is_empty(), "{ok}");
        }
        for bad in [
            "sk_live_".to_string(),
            "sk_live_x".to_string(),
            format!("sk_live_{body} "),
            format!("sk_live_{body}\n"),
            format!("sk_live_ab cd{body}"),
            format!("sk_live_{body}€"),
            format!("sk_live_\"{body}\""),
            format!("sk_live_💥💥💥{body}"),
        ] {
            assert_eq!(shape(&bad), ["secret-malformed"], "{bad:?}");
        }
    }

    #[test]
    fn fingerprints_are_keyed_and_stable() {
        let v = Secret::new("value".to_string());
        let a = fingerprint(&Secret::new("k1".into()), &v);
        assert_eq!(a, fingerprint(&Secret::new("k1".into()), &v));
        assert_ne!(a, fingerprint(&Secret::new("k2".into()), &v));
        assert_eq!(a.len(), "hmac-sha256:".len() + 16);
    }
}
