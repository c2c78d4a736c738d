//! Shared test support: the fixture image builder and a runner for our binaries.

#![allow(dead_code)]

pub mod container;
pub mod fixture;
pub mod image;
pub mod moto;
pub mod npm;
pub mod pg;
pub mod registry;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};
use tempfile::TempDir;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run_bin(bin: &str, args: &[&str], cwd: &Path) -> Run {
    let out: Output = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs preflight with exactly `env` (plus PATH, a bare HOME, empty AWS config files
/// and the instance metadata service off), so nothing from the developer's or CI's
/// environment leaks in. `empty_trust_store` also points `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` at nothing; tests of the trust-store variables themselves leave
/// them unset.
pub fn run_preflight<A, K, V>(args: &[A], env: &[(K, V)], empty_trust_store: bool) -> Run
where
    A: AsRef<OsStr>,
    K: AsRef<str>,
    V: AsRef<OsStr>,
{
    let home = TempDir::new().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_preflight"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path());
    if empty_trust_store {
        c.env("SSL_CERT_FILE", home.path().join("none.pem"))
            .env("SSL_CERT_DIR", home.path());
    }
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        // The container credential provider could reach off loopback.
        assert_ne!(k.as_ref(), "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
        c.env(k.as_ref(), v);
    }
    let out = c.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs image-check with a bare environment: PATH, an empty HOME, no AWS
/// configuration and the instance metadata service off, so a registry reference
/// (a bare `REPO:TAG` means ECR) can never reach for credentials or endpoints
/// off loopback.
pub fn image_check(args: &[&str], cwd: &Path) -> Run {
    image_check_env(args, cwd, &[])
}

/// [`image_check`] with extra variables (a registry test's `HOME`, `AWS_*`
/// pointing at moto, `REGISTRY_AUTH_FILE`, …).
pub fn image_check_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Run {
    let home = TempDir::new().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_image-check"));
    c.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("NO_COLOR", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        // The container credential provider could reach off loopback.
        assert_ne!(*k, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
        c.env(k, v);
    }
    let out = c.output().expect("image-check runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The JSON lines a `--format json` run printed.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}\n{stdout}")))
        .collect()
}

pub fn project_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
