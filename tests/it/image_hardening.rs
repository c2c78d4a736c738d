//! image-check against hostile layouts, indexes and names: one test per class of
//! wrong answer (a false pass, a host file read, a hang, a forged report line), each
//! built with the fixture builder and named after the class it guards.

use crate::support::fixture::{
    build_image, build_layout, load_recipe, sha256, write_oci_archive, write_oci_dir, Layout,
};
use crate::support::image::findings;
use crate::support::{image_check, json_lines, project_root, Run};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

/// Builds `recipe` as an OCI layout directory (tag `v1`); returns the dir and reference.
fn oci(recipe: &str) -> (TempDir, PathBuf, String) {
    let t = TempDir::new().unwrap();
    let dir = t.path().join("img");
    write_oci_dir(&build_layout(recipe, "v1"), &dir);
    let r = format!("oci:{}:v1", dir.display());
    (t, dir, r)
}

fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// The manifest of the layout's only image.
fn manifest(dir: &Path) -> serde_json::Value {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    serde_json::from_slice(&std::fs::read(blob_path(dir, &m)).unwrap()).unwrap()
}

/// The config blob's digest of the layout's only image.
fn config_digest(dir: &Path) -> String {
    manifest(dir)["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn layer_digest(dir: &Path) -> String {
    manifest(dir)["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn spec_file(t: &TempDir, text: &str) -> String {
    let p = t.path().join("spec.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn check(reference: &str, spec: Option<&str>, extra: &[&str]) -> (Run, Vec<serde_json::Value>) {
    let mut args = vec!["--format", "json"];
    if let Some(s) = spec {
        args.extend(["--spec", s]);
    }
    args.extend_from_slice(extra);
    args.push(reference);
    let run = image_check(&args, project_root());
    let lines = json_lines(&run.stdout);
    (run, lines)
}

fn has_code(lines: &[serde_json::Value], code: &str) -> bool {
    findings(lines).iter().any(|f| f.0 == code)
}

fn output(run: &Run) -> String {
    format!("{}{}", run.stdout, run.stderr)
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success());
}

#[test]
fn layout_blob_symlinked_to_a_host_file_is_refused() {
    let (_t, dir, r) = oci("healthy");
    let host = TempDir::new().unwrap();
    // A stand-in host file with a marker that must never reach any output.
    let secret = host.path().join("hostname");
    std::fs::write(&secret, "HOST-SECRET-MARKER\n").unwrap();
    let cfg = blob_path(&dir, &config_digest(&dir));
    std::fs::remove_file(&cfg).unwrap();
    std::os::unix::fs::symlink(&secret, &cfg).unwrap();
    let (run, lines) = check(&r, None, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(has_code(&lines, "image-unreadable"));
    assert!(output(&run).contains("is a symlink"), "{}", output(&run));
    assert!(!run.stdout.contains("HOST-SECRET") && !run.stderr.contains("HOST-SECRET"));

    // A symlinked directory on the way is refused too, even when it stays inside.
    let (_t2, dir2, r2) = oci("healthy");
    let moved = dir2.join("elsewhere");
    std::fs::rename(dir2.join("blobs"), &moved).unwrap();
    std::os::unix::fs::symlink("elsewhere", dir2.join("blobs")).unwrap();
    let (run, _) = check(&r2, None, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(output(&run).contains("`blobs`"), "{}", output(&run));

    // index.json itself is a layout file.
    let (_t3, dir3, r3) = oci("healthy");
    std::fs::remove_file(dir3.join("index.json")).unwrap();
    std::os::unix::fs::symlink(&secret, dir3.join("index.json")).unwrap();
    let (run, _) = check(&r3, None, &[]);
    assert_eq!(run.code, 2);
    assert!(!run.stdout.contains("HOST-SECRET") && !run.stderr.contains("HOST-SECRET"));
}

#[test]
fn layout_blob_that_is_a_fifo_or_directory_is_refused_without_hanging() {
    let (_t, dir, r) = oci("healthy");
    let layer = blob_path(&dir, &layer_digest(&dir));
    std::fs::remove_file(&layer).unwrap();
    mkfifo(&layer);
    let (run, lines) = check(&r, None, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(has_code(&lines, "image-unreadable"));
    assert!(output(&run).contains("is a FIFO"), "{}", output(&run));

    let (_t, dir, r) = oci("healthy");
    let cfg = blob_path(&dir, &config_digest(&dir));
    std::fs::remove_file(&cfg).unwrap();
    std::fs::create_dir(&cfg).unwrap();
    let (run, _) = check(&r, None, &[]);
    assert_eq!(run.code, 2);
    assert!(output(&run).contains("is a directory"), "{}", output(&run));
}

#[test]
fn archive_that_is_a_fifo_is_refused_without_hanging() {
    let t = TempDir::new().unwrap();
    let fifo = t.path().join("image.tar");
    mkfifo(&fifo);
    for scheme in ["oci-archive", "docker-archive"] {
        let r = format!("{scheme}:{}", fifo.display());
        let run = image_check(&[&r], project_root());
        assert_eq!(run.code, 2, "{scheme}: {}", run.stderr);
        assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    }
}

#[test]
fn oversized_index_json_is_too_large_not_truncated_json() {
    let (_t, dir, r) = oci("healthy");
    let mut index = std::fs::read(dir.join("index.json")).unwrap();
    // Valid JSON, padded past the limit.
    index.extend(std::iter::repeat_n(b' ', 17 << 20));
    std::fs::write(dir.join("index.json"), index).unwrap();
    let (run, _) = check(&r, None, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("larger than the 16 MiB limit"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("EOF"), "{}", run.stderr);
}

#[test]
fn json_errors_never_quote_the_document() {
    let (_t, dir, r) = oci("healthy");
    std::fs::write(
        dir.join("index.json"),
        br#"{"schemaVersion": 2, "manifests": "SECRET-IN-INDEX"}"#,
    )
    .unwrap();
    let (run, _) = check(&r, None, &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("line 1"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("SECRET") && !run.stdout.contains("SECRET"),
        "{}",
        run.stderr
    );
}

/// A layout whose `index.json` names `top` (tag `v1`), with every blob given.
fn layout_with(top: serde_json::Value, blobs: Vec<Vec<u8>>, base: Layout) -> Layout {
    let mut all = base.blobs;
    for b in blobs {
        all.insert(sha256(&b), b);
    }
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [top]})).unwrap();
    Layout { index, blobs: all }
}

fn index_desc(index: &[u8], tag: Option<&str>) -> serde_json::Value {
    let mut d = json!({"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": sha256(index), "size": index.len()});
    if let Some(t) = tag {
        d["annotations"] = json!({"org.opencontainers.image.ref.name": t});
    }
    d
}

#[test]
fn index_fan_out_is_deduplicated_by_digest_and_bounded() {
    let img = build_image(&load_recipe("healthy"));
    let mdesc = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha256(&img.manifest), "size": img.manifest.len(),
        "platform": {"os": "linux", "architecture": "amd64"}});
    let base = Layout {
        index: vec![],
        blobs: img.blobs.clone(),
    };
    // Three levels, each listing the level below 50 times: 125,000 paths to one manifest.
    let mut level = vec![mdesc.clone(); 50];
    let mut blobs = Vec::new();
    let mut top = serde_json::Value::Null;
    for _ in 0..3 {
        let idx = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": level})).unwrap();
        top = index_desc(&idx, None);
        level = vec![top.clone(); 50];
        blobs.push(idx);
    }
    top["annotations"] = json!({"org.opencontainers.image.ref.name": "v1"});
    let t = TempDir::new().unwrap();
    write_oci_dir(&layout_with(top, blobs, base), &t.path().join("img"));
    let r = format!("oci:{}:v1", t.path().join("img").display());
    let (run, lines) = check(&r, None, &["--platform", "all"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let summary = lines.last().unwrap();
    assert_eq!(
        summary["targets"].as_array().unwrap().len(),
        1,
        "one manifest reached 125,000 ways is checked once"
    );

    // More distinct manifests than the bound: refused, not read one by one forever.
    let mut manifests = Vec::new();
    let mut blobs = Vec::new();
    for i in 0..300 {
        let mut m: serde_json::Value = serde_json::from_slice(&img.manifest).unwrap();
        m["annotations"] = json!({"n": i.to_string()});
        let b = serde_json::to_vec(&m).unwrap();
        manifests.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(&b), "size": b.len(), "platform": {"os": "linux", "architecture": "amd64"}}));
        blobs.push(b);
    }
    let idx = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests})).unwrap();
    let top = index_desc(&idx, Some("v1"));
    blobs.push(idx);
    let base = Layout {
        index: vec![],
        blobs: img.blobs.clone(),
    };
    let t = TempDir::new().unwrap();
    write_oci_dir(&layout_with(top, blobs, base), &t.path().join("img"));
    let r = format!("oci:{}:v1", t.path().join("img").display());
    let (run, _) = check(&r, None, &["--platform", "all"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("more than 256 distinct manifests"),
        "{}",
        run.stderr
    );
}

#[test]
fn min_size_on_a_non_file_is_wrong_kind_never_a_pass() {
    let (t, _dir, r) = oci("hardening-modes");
    let spec = spec_file(
        &t,
        "[checks]\ncmd_target = false\n\n[[file]]\npath = \"/var/tmp\"\nmin_size = 1\n\n[[file]]\npath = \"/etc/passwd\"\nmin_size = 1\n",
    );
    let (run, lines) = check(&r, Some(&spec), &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = findings(&lines);
    assert!(
        f.iter()
            .any(|x| x.0 == "file-wrong-kind" && x.2 == "/var/tmp"),
        "{f:?}"
    );
    assert!(!f.iter().any(|x| x.2 == "/etc/passwd"), "{f:?}");
}

#[test]
fn cmd_interpreter_is_known_by_what_the_command_resolves_to() {
    // `py -> python3.11`, and a versioned name (`run -> nodejs -> node20`).
    for recipe in ["hardening-py-link", "hardening-node-versioned"] {
        let (_t, _d, r) = oci(recipe);
        let (run, lines) = check(&r, None, &[]);
        assert_eq!(run.code, 1, "{recipe}: {}", run.stdout);
        assert!(
            has_code(&lines, "cmd-target-missing"),
            "{recipe}: {:?}",
            findings(&lines)
        );
    }
    let (_t, _d, r) = oci("hardening-py-link-ok");
    let (run, lines) = check(&r, None, &[]);
    assert!(
        !has_code(&lines, "cmd-target-missing"),
        "{:?}",
        findings(&lines)
    );
    assert!(run.stdout.contains("/app/app.py"), "{}", run.stdout);
}

#[test]
fn globs_follow_symlinked_directories_like_file_rules() {
    let (t, _d, r) = oci("hardening-glob-link");
    let spec = spec_file(
        &t,
        "[checks]\ncmd_target = false\n\n[[file]]\npath = \"/app/dist/main.js\"\nmin_size = 1\n\n[[glob]]\npattern = \"/app/dist/*.js\"\n\n[[glob]]\npattern = \"/app/**/*.js\"\n\n[[glob]]\npattern = \"/app/dist/*.css\"\n",
    );
    let (run, lines) = check(&r, Some(&spec), &[]);
    let f = findings(&lines);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let globs: Vec<_> = f.iter().filter(|x| x.0 == "glob-no-match").collect();
    assert_eq!(globs.len(), 1, "only the css glob fails: {f:?}");
    assert_eq!(globs[0].2, "/app/dist/*.css");
    assert!(!f.iter().any(|x| x.0 == "file-missing"), "{f:?}");
}

fn ls(reference: &str, path: &str) -> Run {
    image_check(&["ls", reference, path], project_root())
}

#[test]
fn ls_lists_a_directory_beside_a_sibling_sharing_its_prefix() {
    let (_t, _d, r) = oci("hardening-prefix-sibling");
    let run = ls(&r, "/app");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("/app/server.js"), "{}", run.stdout);
    assert!(!run.stdout.contains("/app-old"), "{}", run.stdout);
    let run = ls(&r, "/app-old");
    assert!(run.stdout.contains("/app-old/legacy.js"), "{}", run.stdout);
}

#[test]
fn ls_root_works_after_a_root_level_whiteout() {
    let (_t, _d, r) = oci("hardening-root-whiteout");
    let run = ls(&r, "/");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("/after/late.txt"), "{}", run.stdout);
    assert!(!run.stdout.contains("/tmpdir"), "{}", run.stdout);
}

#[test]
fn why_normalises_dot_dot_like_every_other_path() {
    let (_t, _d, r) = oci("hardening-prefix-sibling");
    let direct = image_check(&["why", &r, "/app/server.js"], project_root());
    let dotted = image_check(&["why", &r, "/app-old/../app/./server.js"], project_root());
    assert_eq!(direct.code, 0);
    assert!(direct.stdout.contains("added"), "{}", direct.stdout);
    assert_eq!(direct.stdout, dotted.stdout);
    let above = image_check(&["why", &r, "/../../app/server.js"], project_root());
    assert_eq!(direct.stdout, above.stdout);
}

#[test]
fn ls_shows_setuid_setgid_and_sticky_bits_like_ls_l() {
    let (_t, _d, r) = oci("hardening-modes");
    let run = ls(&r, "/");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mode_of = |p: &str| {
        run.stdout
            .lines()
            .find(|l| l.ends_with(&format!(" {p}")))
            .unwrap_or_else(|| panic!("{p} not listed:\n{}", run.stdout))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(mode_of("/usr/bin/passwd"), "-rwsr-xr-x");
    assert_eq!(mode_of("/usr/bin/wall"), "-rwxr-sr-x");
    assert_eq!(mode_of("/usr/bin/odd"), "-rwSr--r--");
    assert_eq!(mode_of("/var/tmp"), "drwxrwxrwt");
    assert_eq!(mode_of("/var/drop"), "drwxrwx--T");
}

#[test]
fn control_characters_in_names_never_forge_report_lines() {
    let (_t, _d, r) = oci("hardening-control");
    let human = image_check(&[&r], project_root());
    assert_eq!(human.code, 1, "{}", human.stdout);
    for l in human.stdout.lines() {
        assert!(!l.starts_with("error[forged]"), "{}", human.stdout);
        assert!(!l.starts_with("::notice"), "{}", human.stdout);
    }
    assert!(!human.stdout.contains('\x1b') && !human.stdout.contains('\r'));
    assert!(human.stdout.contains("\\n"), "{}", human.stdout);

    let gh = image_check(&["--format", "github", &r], project_root());
    for l in gh.stdout.lines() {
        assert!(
            l.starts_with("::") || l.starts_with("image-check: "),
            "{}",
            gh.stdout
        );
    }
    assert!(!gh.stdout.contains('\x1b') && !gh.stdout.contains('\r'));

    let junit = image_check(&["--format", "junit", &r], project_root());
    // XML 1.0 allows tab, newline, carriage return and nothing else below 0x20.
    assert!(
        !junit
            .stdout
            .chars()
            .any(|c| (c < '\x20' && c != '\n' && c != '\t') || c == '\u{7f}'),
        "{}",
        junit.stdout
    );
    assert!(!junit.stdout.contains("&#27;") && !junit.stdout.contains("&#13;"));

    let listing = ls(&r, "/app");
    assert_eq!(listing.code, 0);
    assert!(!listing.stdout.contains('\x1b'), "{}", listing.stdout);
    assert!(
        listing.stdout.contains("/app/evil\\nname\\x1b[31m"),
        "{}",
        listing.stdout
    );
}

#[test]
fn ls_into_a_closed_pipe_ends_quietly_with_exit_0() {
    let (_t, _d, r) = oci("healthy");
    let mut child = Command::new(env!("CARGO_BIN_EXE_image-check"))
        .args(["ls", &r, "/"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before reading anything, as `head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn platform_mismatch_single_arm64_image_is_checked_with_a_warning() {
    let (_t, _d, r) = oci("hardening-arm64");
    let spec = project_root().join("images/scalemap-api.toml");
    let spec = spec.display().to_string();
    let (run, lines) = check(&r, Some(&spec), &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let f = findings(&lines);
    assert!(
        f.iter()
            .any(|x| x.0 == "platform-mismatch" && x.1 == "warning" && x.2 == "linux/arm64"),
        "{f:?}"
    );
    assert!(
        lines.iter().any(|l| l["name"] == "files"),
        "the image was checked"
    );

    let (run, lines) = check(&r, Some(&spec), &["--platform", "linux/arm64"]);
    assert_eq!(run.code, 0);
    assert!(!has_code(&lines, "platform-mismatch"));
}

#[test]
fn json_exit_code_is_the_process_exit_code_under_strict() {
    let (_t, _d, r) = oci("hardening-arm64");
    let spec = project_root().join("images/scalemap-api.toml");
    let spec = spec.display().to_string();
    for strict in [false, true] {
        let extra: &[&str] = if strict { &["--strict"] } else { &[] };
        let (run, lines) = check(&r, Some(&spec), extra);
        let summary = lines.last().unwrap();
        assert_eq!(summary["type"], "summary");
        assert_eq!(
            summary["exit_code"].as_i64(),
            Some(run.code as i64),
            "strict={strict}"
        );
        assert_eq!(run.code, if strict { 1 } else { 0 });
    }
}

#[test]
fn archive_that_is_a_regular_file_is_read() {
    // The other side of refusing FIFOs: an ordinary archive file still passes.
    let t = TempDir::new().unwrap();
    let out = t.path().join("image.tar");
    write_oci_archive(&build_layout("healthy", "v1"), &out);
    let r = format!("oci-archive:{}:v1", out.display());
    let run = image_check(&[&r], project_root());
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}
