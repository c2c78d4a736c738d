//! Shared test support: the fixture image builder and a runner for our binaries.

#![allow(dead_code)]

pub mod fixture;
pub mod image;
pub mod moto;
pub mod pg;

use std::path::Path;
use std::process::{Command, Output};

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

pub fn image_check(args: &[&str], cwd: &Path) -> Run {
    run_bin(env!("CARGO_BIN_EXE_image-check"), args, cwd)
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
