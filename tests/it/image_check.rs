//! image-check end to end: fixtures in every format, every flattening rule, every
//! report format, the debugging verbs, and a cross-check against umoci.

use crate::support::fixture::{
    self, build_layout, write_docker_archive, write_oci_archive, write_oci_dir,
};
use crate::support::image::{findings, rootfs_tree, tree_of_ours};
use crate::support::{image_check, json_lines, project_root, Run};
use std::collections::BTreeSet;
use tempfile::TempDir;

const SPEC: &str = "images/scalemap-api.toml";

fn spec() -> String {
    project_root().join(SPEC).display().to_string()
}

/// Builds `recipe` as an OCI layout directory `img` (tag `v1`) inside a temp dir.
fn oci(recipe: &str) -> (TempDir, String) {
    let t = TempDir::new().unwrap();
    write_oci_dir(&build_layout(recipe, "v1"), &t.path().join("img"));
    let r = format!("oci:{}:v1", t.path().join("img").display());
    (t, r)
}

fn check_json(reference: &str, extra: &[&str]) -> (Run, Vec<serde_json::Value>) {
    let s = spec();
    let mut args = vec!["--format", "json", "--spec", &s];
    args.extend_from_slice(extra);
    args.push(reference);
    let run = image_check(&args, project_root());
    let lines = json_lines(&run.stdout);
    (run, lines)
}

fn error_codes(lines: &[serde_json::Value]) -> BTreeSet<String> {
    findings(lines)
        .into_iter()
        .filter(|f| f.1 == "error")
        .map(|f| f.0)
        .collect()
}

fn set(codes: &[&str]) -> BTreeSet<String> {
    codes.iter().map(|s| s.to_string()).collect()
}

fn checks_run(lines: &[serde_json::Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l["type"] == "check")
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn healthy_image_passes_in_every_format() {
    let t = TempDir::new().unwrap();
    let layout = build_layout("healthy", "v1.0");
    write_oci_dir(&layout, &t.path().join("dir"));
    write_oci_archive(&layout, &t.path().join("oci.tar"));
    write_docker_archive(
        "healthy",
        "scalemap-api:v1.0",
        true,
        &t.path().join("legacy.tar"),
    );
    write_docker_archive(
        "healthy",
        "scalemap-api:v1.0",
        false,
        &t.path().join("docker25.tar"),
    );
    let refs = [
        format!("oci:{}:v1.0", t.path().join("dir").display()),
        format!("oci:{}", t.path().join("dir").display()),
        format!("oci-archive:{}:v1.0", t.path().join("oci.tar").display()),
        format!("docker-archive:{}", t.path().join("legacy.tar").display()),
        format!(
            "docker-archive:{}:scalemap-api:v1.0",
            t.path().join("legacy.tar").display()
        ),
        format!(
            "docker-archive:{}:scalemap-api:v1.0",
            t.path().join("docker25.tar").display()
        ),
    ];
    for r in &refs {
        let (run, lines) = check_json(r, &[]);
        assert_eq!(run.code, 0, "{r}\n{}\n{}", run.stdout, run.stderr);
        assert_eq!(
            checks_run(&lines),
            [
                ("layers", "passed"),
                ("cmd-target", "passed"),
                ("user", "passed"),
                ("config", "passed"),
                ("files", "passed"),
                ("node", "passed"),
                ("web", "passed")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string())),
            "{r}"
        );
        // The recipe's bundle is JavaScript whose packages are all there: the
        // node check reads it (no `node-not-checked`) and finds nothing.
        let f = findings(&lines);
        assert!(f.is_empty(), "{r}: {f:?}");
    }
}

#[test]
fn incident_1_empty_dist_fails_with_the_bundle_and_frontend_missing() {
    let (_t, r) = oci("empty-dist");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(
        error_codes(&lines),
        set(&["cmd-target-missing", "file-missing", "glob-no-match"])
    );
    let subjects: BTreeSet<String> = findings(&lines).into_iter().map(|f| f.2).collect();
    assert!(subjects.contains("/app/dist/index.js"));
    assert!(subjects.contains("/app/dist/public"));
}

#[test]
fn zero_byte_bundle_is_empty_and_names_the_layer() {
    let (_t, r) = oci("zero-byte-bundle");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        error_codes(&lines),
        set(&["cmd-target-empty", "file-empty"])
    );
    let text = run.stdout;
    assert!(
        text.contains("layer 4/4"),
        "provenance names the layer that wrote it: {text}"
    );
}

#[test]
fn whiteout_deleting_the_bundle_is_reported_with_the_deleting_layer() {
    let (_t, r) = oci("whiteout-bundle");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        error_codes(&lines),
        set(&["cmd-target-missing", "file-missing"])
    );
    assert!(
        run.stdout.contains("deleted by a whiteout in layer 4/4"),
        "{}",
        run.stdout
    );
}

#[test]
fn opaque_directory_hides_the_bundle_and_frontend() {
    let (_t, r) = oci("opaque-dist");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        error_codes(&lines),
        set(&["cmd-target-missing", "file-missing", "glob-no-match"])
    );
    assert!(
        run.stdout
            .contains("hidden by opaque directory `/app/dist`"),
        "{}",
        run.stdout
    );
}

#[test]
fn symlinked_bundle_passes_and_dangling_one_fails() {
    let (_t, r) = oci("symlinked-bundle");
    let (run, _) = check_json(&r, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("/app/dist/releases/42/index.js"),
        "{}",
        run.stdout
    );

    let (_t, r) = oci("dangling-bundle");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        error_codes(&lines),
        set(&["cmd-target-missing", "symlink-dangling"])
    );
    assert!(run.stdout.contains("/build/out/index.js"), "{}", run.stdout);
}

/// A 64-bit little-endian ELF executable of `size` bytes: program headers at
/// `phoff` (a `PT_LOAD`, and a `PT_INTERP` naming `interp`), for ELF machine
/// `machine` (62: x86-64, 183: aarch64), zeros elsewhere.
fn elf_of(size: usize, phoff: usize, interp: Option<&str>, machine: u16) -> Vec<u8> {
    let mut b = vec![0u8; size];
    b[..4].copy_from_slice(b"\x7fELF");
    (b[4], b[5], b[6]) = (2, 1, 1);
    b[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN: static PIE
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b[32..40].copy_from_slice(&(phoff as u64).to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    let n = 1 + usize::from(interp.is_some());
    b[56..58].copy_from_slice(&(n as u16).to_le_bytes());
    b[phoff..phoff + 4].copy_from_slice(&1u32.to_le_bytes());
    if let Some(i) = interp {
        let at = phoff + 56;
        let data = phoff + 2 * 56;
        b[at..at + 4].copy_from_slice(&3u32.to_le_bytes());
        b[at + 8..at + 16].copy_from_slice(&(data as u64).to_le_bytes());
        b[at + 32..at + 40].copy_from_slice(&(i.len() as u64 + 1).to_le_bytes());
        b[data..data + i.len()].copy_from_slice(i.as_bytes());
    }
    b
}

/// `static = true` reads a binary's first bytes, so Go and Rust binaries of any
/// size are judged (files past the 16 MiB content limit used to be "not
/// checked"), through a symlink too; headers past the first 128 KiB are
/// "not checked", never a pass; a binary for another architecture is not one
/// the image's kernel starts.
#[test]
fn static_rule_judges_binaries_of_any_size_by_their_headers() {
    let host = TempDir::new().unwrap();
    let bin = host.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let big = 20 << 20;
    std::fs::write(bin.join("big-static"), elf_of(big, 64, None, 62)).unwrap();
    std::fs::write(
        bin.join("big-dynamic"),
        elf_of(big, 64, Some("/lib/ld-musl-x86_64.so.1"), 62),
    )
    .unwrap();
    std::fs::write(bin.join("far-headers"), elf_of(2 << 20, 1 << 20, None, 62)).unwrap();
    std::fs::write(bin.join("small-static"), elf_of(4096, 64, None, 62)).unwrap();
    // Static, but for aarch64 in a linux/amd64 image: `exec format error`.
    std::fs::write(bin.join("arm-static"), elf_of(4096, 64, None, 183)).unwrap();
    std::os::unix::fs::symlink("big-static", bin.join("linked-static")).unwrap();
    let mut r = fixture::load_recipe("healthy");
    r.layers.push(fixture::LayerRecipe {
        compression: "zstd".into(),
        docker_media_types: false,
        created_by: Some("COPY bin /usr/local/bin".into()),
        files: vec![],
        tree: Some((bin, "usr/local/bin".into())),
    });
    let t = TempDir::new().unwrap();
    write_oci_dir(&fixture::layout_of(r, "v1"), &t.path().join("img"));
    let spec = t.path().join("spec.toml");
    let rules: String = [
        "big-static",
        "big-dynamic",
        "far-headers",
        "small-static",
        "linked-static",
        "arm-static",
    ]
    .iter()
    .map(|n| format!("[[file]]\npath = \"/usr/local/bin/{n}\"\nstatic = true\n\n"))
    .collect();
    std::fs::write(&spec, rules).unwrap();
    let reference = format!("oci:{}:v1", t.path().join("img").display());
    let cache = t.path().join("cache").display().to_string();
    let check = || {
        image_check(
            &[
                "--format",
                "json",
                "--cache-dir",
                &cache,
                "--spec",
                &spec.display().to_string(),
                &reference,
            ],
            project_root(),
        )
    };
    let run = check();
    // The heads are in the layer cache: a warm run reads them back, not the layer.
    let warm = check();
    assert_eq!(
        findings(&json_lines(&warm.stdout)),
        findings(&json_lines(&run.stdout))
    );
    assert!(std::fs::read_dir(t.path().join("cache")).unwrap().count() > 0);
    let lines = json_lines(&run.stdout);
    let found: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["type"] == "check")
        .flat_map(|l| l["findings"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["code"] == "file-not-static")
        .map(|f| {
            (
                f["subject"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let subjects: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "/usr/local/bin/big-dynamic",
            "/usr/local/bin/far-headers",
            "/usr/local/bin/arm-static"
        ],
        "{found:?}"
    );
    assert!(
        found[2].1.contains("built for aarch64") && found[2].1.contains("`amd64`"),
        "{found:?}"
    );
    assert!(
        found[0].1.contains("`/lib/ld-musl-x86_64.so.1`"),
        "{found:?}"
    );
    assert!(
        found[1].1.contains("past the first 128 KiB") && found[1].1.contains("not checked"),
        "{found:?}"
    );
}

#[test]
fn directory_replaced_by_a_file_loses_its_children() {
    let (_t, r) = oci("dir-replaced-by-file");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        error_codes(&lines),
        set(&["file-wrong-kind", "file-missing", "glob-no-match"])
    );
}

#[test]
fn user_missing_from_passwd_cannot_start() {
    let (_t, r) = oci("user-missing");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(error_codes(&lines), set(&["user-unknown"]));
}

#[test]
fn cmd_naming_a_missing_script_fails() {
    let (_t, r) = oci("cmd-missing-script");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        error_codes(&lines),
        set(&["cmd-target-missing", "config-cmd-mismatch"])
    );
    assert!(run.stdout.contains("/app/dist/server.js"));
}

#[test]
fn incident_3_missing_stylesheet_fails_the_css_glob() {
    let (_t, r) = oci("missing-frontend-css");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1);
    // The web check sees it without the spec's glob, from the page's `<link>`.
    assert_eq!(
        error_codes(&lines),
        set(&["glob-no-match", "asset-missing"])
    );
    assert!(run
        .stdout
        .contains("/app/dist/public/assets/index-9c1d.css"));
}

#[test]
fn root_user_without_node_on_path() {
    let (_t, r) = oci("root-no-node");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        error_codes(&lines),
        set(&[
            "interpreter-missing",
            "config-user-root",
            "config-port-missing",
            "config-env-missing",
            "file-missing",
            "glob-no-match"
        ])
    );
}

#[test]
fn truncated_layer_could_not_be_checked() {
    let (_t, r) = oci("truncated-layer");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(error_codes(&lines), set(&["image-unreadable"]));
    assert!(
        run.stdout.contains("bytes but its descriptor says"),
        "{}",
        run.stdout
    );
    let t = TempDir::new().unwrap();
    let p = t.path().join("legacy.tar");
    write_docker_archive("truncated-layer", "x:y", true, &p);
    let (run, _) = check_json(&format!("docker-archive:{}", p.display()), &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stdout.contains("diff_ids") || run.stdout.contains("truncated or corrupt"),
        "{}",
        run.stdout
    );
}

#[test]
fn flipped_byte_is_a_digest_mismatch_naming_the_blob() {
    let (_t, r) = oci("digest-mismatch");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 2);
    assert_eq!(error_codes(&lines), set(&["image-unreadable"]));
    assert!(
        run.stdout.contains("does not match its digest"),
        "{}",
        run.stdout
    );
}

#[test]
fn multi_platform_index_checks_each_platform() {
    let (_t, r) = oci("multi-platform");
    let (run, _) = check_json(&r, &[]);
    assert_eq!(
        run.code, 0,
        "default platform linux/amd64 is healthy: {}",
        run.stdout
    );

    let (run, lines) = check_json(&r, &["--platform", "all"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let targets: BTreeSet<String> = lines
        .iter()
        .filter(|l| l["type"] == "check")
        .map(|l| {
            format!(
                "{} {}",
                l["target"].as_str().unwrap(),
                l["status"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        targets.iter().any(|t| t.ends_with("(linux/amd64) passed")),
        "{targets:?}"
    );
    assert!(
        targets.iter().any(|t| t.ends_with("(linux/arm64) not-run")),
        "{targets:?}"
    );
    assert!(
        !targets.iter().any(|t| t.contains("unknown")),
        "attestations are skipped: {targets:?}"
    );

    let (run, _) = check_json(&r, &["--platform", "linux/arm64"]);
    assert_eq!(run.code, 2);
    let (run, _) = check_json(&r, &["--platform", "linux/s390x"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("linux/amd64, linux/arm64"),
        "{}",
        run.stderr
    );
}

#[test]
fn entries_that_climb_out_are_clamped_with_an_error() {
    let (_t, r) = oci("path-escape");
    let (run, lines) = check_json(&r, &[]);
    assert_eq!(run.code, 1, "runtimes disagree on them: {}", run.stdout);
    let errs: Vec<_> = findings(&lines)
        .into_iter()
        .filter(|f| f.0 == "path-escapes-root")
        .map(|f| (f.1, f.2))
        .collect();
    assert_eq!(
        errs,
        vec![
            ("error".to_string(), "../evil.txt".to_string()),
            ("error".to_string(), "app/../../evil2.txt".to_string())
        ]
    );
    let ls = image_check(&["ls", &r, "/"], project_root());
    assert_eq!(ls.code, 0);
    assert!(ls.stdout.contains(" /etc/absolute.txt"));
    assert!(ls.stdout.contains(" /app/dot.txt"));
    assert!(ls.stdout.contains(" /app/normal.txt"));
    // Where containerd and umoci write them.
    assert!(ls.stdout.contains(" /evil.txt"), "{}", ls.stdout);
    assert!(ls.stdout.contains(" /evil2.txt"), "{}", ls.stdout);
}

#[test]
fn bad_input_exits_2_with_a_clear_error() {
    let t = TempDir::new().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["oci:/nonexistent/layout".into()],
            "cannot read `/nonexistent/layout`",
        ),
        (vec!["dir:/tmp".into()], "transport is not supported"),
        (
            vec![t.path().display().to_string()],
            "prefix it with `oci:`",
        ),
        (
            vec![format!("oci:{}", t.path().display())],
            "`oci-layout` is not in",
        ),
        (
            // A bare reference is ECR; with no AWS credentials anywhere it says so.
            vec!["scalemap-api:v1.0".into()],
            "ECR needs AWS credentials and none were found",
        ),
        (
            vec!["--platform".into(), "linux".into(), "oci:x".into()],
            "OS/ARCH",
        ),
        (vec![], "IMAGE is required"),
    ];
    for (args, want) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = image_check(&a, t.path());
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(want), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    // A file that is not a tar, and a tar that is not an image.
    std::fs::write(
        t.path().join("junk.tar"),
        b"this is not a tar archive at all",
    )
    .unwrap();
    let run = image_check(
        &[&format!(
            "oci-archive:{}",
            t.path().join("junk.tar").display()
        )],
        t.path(),
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    // Machine formats say so too: a CI test tab shows an error, never nothing.
    let run = image_check(&["--format", "json", "oci:/nonexistent/layout"], t.path());
    assert_eq!(run.code, 2);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines[0]["status"], "not-run");
    assert_eq!(lines[0]["findings"][0]["code"], "image-unreadable");
    let run = image_check(&["--format", "junit", "oci:/nonexistent/layout"], t.path());
    assert!(run.stdout.contains("<error message="), "{}", run.stdout);
    let run = image_check(&["--format", "github", "oci:/nonexistent/layout"], t.path());
    assert!(
        run.stdout.starts_with("::error title=image-unreadable"),
        "{}",
        run.stdout
    );
    // A tag that does not exist lists the ones that do.
    let (_t2, r) = oci("healthy");
    let run = image_check(&[&r.replace(":v1", ":v2")], t.path());
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("it has: v1"), "{}", run.stderr);
}

#[test]
fn spec_errors_point_at_the_line_and_exit_2() {
    let t = TempDir::new().unwrap();
    let p = t.path().join("bad.toml");
    std::fs::write(
        &p,
        "[config]\nuser = \"node\"\n\n[[file]]\npath = \"app/dist/index.js\"\n",
    )
    .unwrap();
    let (_t, r) = oci("healthy");
    let run = image_check(&["--spec", p.to_str().unwrap(), &r], t.path());
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("bad.toml:5: `path` must be absolute"),
        "{}",
        run.stderr
    );
    let run = image_check(
        &["--format", "json", "--spec", p.to_str().unwrap(), &r],
        t.path(),
    );
    assert_eq!(run.code, 2);
    assert_eq!(
        json_lines(&run.stdout)[0]["findings"][0]["code"],
        "spec-invalid"
    );
    let run = image_check(&["--spec", "/nonexistent.toml", &r], t.path());
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot read spec"), "{}", run.stderr);
}

/// image-check used to treat `[preflight]` as opaque TOML: a table that made
/// preflight exit 2 at container start passed the CI gate.
#[test]
fn an_invalid_preflight_table_fails_image_check_as_spec_invalid_with_its_line() {
    let t = TempDir::new().unwrap();
    let p = t.path().join("both.toml");
    std::fs::write(
        &p,
        "[config]\nuser = \"non-root\"\n\n[preflight]\n[[preflight.env]]\nname = \"NODE_ENV\"\nkind = \"one-of\"\n",
    )
    .unwrap();
    let (_t, r) = oci("healthy");
    let ps = p.to_str().unwrap();
    let run = image_check(&["--spec", ps, &r], t.path());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("both.toml:6: `NODE_ENV` is `one-of` but lists no `values`"),
        "{}",
        run.stderr
    );
    for (format, want) in [
        ("json", "\"location\":{\"column\":8,\"file\":\""),
        ("github", "both.toml,line=6,col=8,title=spec-invalid"),
    ] {
        let run = image_check(&["--format", format, "--spec", ps, &r], t.path());
        assert_eq!(run.code, 2);
        assert!(run.stdout.contains("spec-invalid"), "{}", run.stdout);
        assert!(run.stdout.contains(want), "{format}: {}", run.stdout);
    }
}

#[test]
fn spec_is_found_by_repository_name_or_the_report_says_none_was_used() {
    let t = TempDir::new().unwrap();
    write_docker_archive(
        "empty-dist",
        "scalemap-api:v1.0",
        true,
        &t.path().join("img.tar"),
    );
    let r = "docker-archive:img.tar:scalemap-api:v1.0";
    // No images/ here: automatic checks only, and the report says so.
    let run = image_check(&["--format", "json", r], t.path());
    assert_eq!(
        run.code, 1,
        "the automatic cmd-target check still fails: {}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("no spec found (looked for `images/scalemap-api.toml`)"));
    // With images/scalemap-api.toml in the working directory, it is used.
    std::fs::create_dir(t.path().join("images")).unwrap();
    std::fs::copy(spec(), t.path().join("images/scalemap-api.toml")).unwrap();
    let run = image_check(&["--format", "json", r], t.path());
    let lines = json_lines(&run.stdout);
    assert!(run.stdout.contains("spec `"), "{}", run.stdout);
    assert!(error_codes(&lines).contains("glob-no-match"));
    // With no name in the reference, the archive's own tag names the repository.
    let run = image_check(&["--format", "json", "docker-archive:img.tar"], t.path());
    assert!(
        run.stdout.contains("spec `images/scalemap-api.toml`"),
        "{}",
        run.stdout
    );
}

#[test]
fn ls_cat_and_why_explain_an_image() {
    let (_t, r) = oci("whiteout-bundle");
    let ls = image_check(&["ls", &r, "/app/dist"], project_root());
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    assert!(
        ls.stdout
            .contains("/app/dist/index.cjs (hard link to /app/dist/index.js)"),
        "{}",
        ls.stdout
    );
    assert!(!ls.stdout.contains(" /app/dist/index.js\n"));
    assert!(
        ls.stdout.contains("L3  /app/dist/public/index.html"),
        "{}",
        ls.stdout
    );

    let why = image_check(&["why", &r, "/app/dist/index.js"], project_root());
    assert_eq!(why.code, 0);
    let lines: Vec<&str> = why.stdout.lines().collect();
    assert!(
        lines[1].contains("layer 3/4") && lines[1].contains("added (file, 1238 bytes)"),
        "{}",
        why.stdout
    );
    assert!(
        lines[2].contains("layer 4/4")
            && lines[2].contains("RUN rm dist/index.js")
            && lines[2].contains("deleted by a whiteout"),
        "{}",
        why.stdout
    );
    assert!(why.stdout.contains("now: absent"));

    let cat = image_check(&["cat", &r, "/etc/passwd"], project_root());
    assert_eq!(cat.code, 0);
    assert!(cat.stdout.starts_with("root:x:0:0"));
    let cat = image_check(&["cat", &r, "/app/dist/index.js"], project_root());
    assert_eq!(cat.code, 1);
    assert!(cat.stderr.contains("does not exist"));

    // cat follows a symlink to its target's bytes.
    let (_t, r) = oci("symlinked-bundle");
    let cat = image_check(&["cat", &r, "/app/dist/index.js"], project_root());
    assert_eq!(cat.code, 0, "{}", cat.stderr);
    assert_eq!(cat.stdout.len(), 1500);
    let why = image_check(&["why", &r, "/app/dist/index.js"], project_root());
    assert!(
        why.stdout
            .contains("replaced (file replaced by symlink -> releases/42/index.js)"),
        "{}",
        why.stdout
    );
    assert!(
        why.stdout
            .contains("resolves to /app/dist/releases/42/index.js"),
        "{}",
        why.stdout
    );
}

/// Renders one failing image in every format; the snapshots are what users see.
#[test]
fn report_formats_snapshot() {
    let t = TempDir::new().unwrap();
    write_oci_dir(
        &build_layout("zero-byte-bundle", "v1"),
        &t.path().join("img"),
    );
    std::fs::create_dir(t.path().join("images")).unwrap();
    std::fs::copy(spec(), t.path().join("images/scalemap-api.toml")).unwrap();
    for format in ["human", "json", "junit", "github"] {
        let run = image_check(
            &[
                "--format",
                format,
                "--spec",
                "images/scalemap-api.toml",
                "oci:img:v1",
            ],
            t.path(),
        );
        assert_eq!(run.code, 1);
        insta::assert_snapshot!(format!("zero_byte_bundle_{format}"), run.stdout);
    }
}

/// umoci is an independent implementation of the same spec: on every fixture it
/// can unpack, its tree and ours must be identical.
#[test]
fn flattening_matches_umoci() {
    if std::process::Command::new("umoci")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("umoci is not installed: `.ci/run` installs it (apt-get install umoci)");
    }
    let recipes = [
        "healthy",
        "empty-dist",
        "zero-byte-bundle",
        "whiteout-bundle",
        "opaque-dist",
        "symlinked-bundle",
        "dangling-bundle",
        "dir-replaced-by-file",
        "missing-frontend-css",
        "root-no-node",
    ];
    fixture::GZIP_ONLY.with(|g| g.set(true));
    for recipe in recipes {
        let t = TempDir::new().unwrap();
        let dir = t.path().join("img");
        write_oci_dir(&build_layout(recipe, "v1"), &dir);
        let bundle = t.path().join("bundle");
        let out = std::process::Command::new("umoci")
            .args([
                "unpack",
                "--rootless",
                "--image",
                &format!("{}:v1", dir.display()),
            ])
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{recipe}: umoci failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs = rootfs_tree(&bundle.join("rootfs"));
        let ours = tree_of_ours(&format!("oci:{}:v1", dir.display()));
        let only_theirs: Vec<_> = theirs.difference(&ours).collect();
        let only_ours: Vec<_> = ours.difference(&theirs).collect();
        assert!(
            only_theirs.is_empty() && only_ours.is_empty(),
            "{recipe}: umoci only {only_theirs:?}; ours only {only_ours:?}"
        );
    }
}

/// The README's quickstart images are built from recipes; they must not drift.
#[test]
fn shipped_examples_are_what_their_recipes_build_and_the_quickstart_works() {
    let dir = project_root().join("fixtures/examples");
    let t = TempDir::new().unwrap();
    for (recipe, tag, file, code) in [
        ("healthy", "scalemap-api:v1.0", "scalemap-api-v1.0.tar", 0),
        (
            "zero-byte-bundle",
            "scalemap-api:v0.9",
            "scalemap-api-v0.9.tar",
            1,
        ),
    ] {
        let built = t.path().join(file);
        write_docker_archive(recipe, tag, false, &built);
        let built = std::fs::read(&built).unwrap();
        if std::env::var_os("SHIPCHECK_BLESS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(file), &built).unwrap();
        }
        let shipped = std::fs::read(dir.join(file)).expect("shipped example exists");
        assert!(shipped == built, "{file} differs from recipe `{recipe}`: regenerate with `SHIPCHECK_BLESS=1 cargo test shipped_examples`");
        // The README's quickstart command, as typed.
        let run = image_check(
            &[&format!("docker-archive:fixtures/examples/{file}:{tag}")],
            project_root(),
        );
        assert_eq!(run.code, code, "{}{}", run.stdout, run.stderr);
        // Both read the bundle: v1.0's imports and packages resolve (no note that
        // the node check could not run), v0.9's bundle has nothing to import.
        assert!(!run.stdout.contains("node-not-checked"), "{}", run.stdout);
        let node = if code == 0 {
            "ok    node        `/app/dist/index.js`: 1 app file, 5 imports, 7 packages"
        } else {
            "ok    node        `/app/dist/index.js`: 1 app file, 0 imports, 0 packages"
        };
        assert!(run.stdout.contains(node), "{}", run.stdout);
        assert!(
            run.stdout.contains("note: spec `"),
            "the spec is found by repository name: {}",
            run.stdout
        );
    }
}

/// skopeo is an independent writer of the same formats: what it writes from our
/// fixture (a legacy docker-archive, an oci-archive, a zstd-recompressed layout)
/// must check exactly like the original.
#[test]
fn reads_what_skopeo_writes() {
    let t = TempDir::new().unwrap();
    let dir = t.path().join("img");
    fixture::GZIP_ONLY.with(|g| g.set(true));
    write_oci_dir(&build_layout("zero-byte-bundle", "v1"), &dir);
    let src = format!("oci:{}:v1", dir.display());
    let outputs = [
        (
            vec![],
            format!(
                "docker-archive:{}:scalemap-api:v1.0",
                t.path().join("d.tar").display()
            ),
        ),
        (
            vec![],
            format!("oci-archive:{}:v1", t.path().join("o.tar").display()),
        ),
        (
            vec!["--dest-compress-format", "zstd", "--dest-compress"],
            format!("oci:{}:v1", t.path().join("zstd").display()),
        ),
    ];
    let (_, original) = check_json(&src, &[]);
    let expected = error_codes(&original);
    assert_eq!(expected, set(&["cmd-target-empty", "file-empty"]));
    for (flags, dest) in outputs {
        let out = std::process::Command::new("skopeo")
            .args(["--insecure-policy", "copy", "-q"])
            .args(&flags)
            .args([&src, &dest])
            .output()
            .expect("skopeo is not installed: `.ci/run` installs it (apt-get install skopeo)");
        assert!(
            out.status.success(),
            "skopeo copy to {dest}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (run, lines) = check_json(&dest, &[]);
        assert_eq!(run.code, 1, "{dest}: {}{}", run.stdout, run.stderr);
        assert_eq!(error_codes(&lines), expected, "{dest}");
    }
    let zstd_blobs = std::fs::read_dir(t.path().join("zstd/blobs/sha256"))
        .unwrap()
        .filter(|e| {
            std::fs::read(e.as_ref().unwrap().path())
                .unwrap()
                .starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        })
        .count();
    assert!(
        zstd_blobs >= 4,
        "skopeo recompressed the layers with zstd ({zstd_blobs})"
    );
}

/// Runs image-check under a pseudo-terminal (`script`), as a person at a
/// terminal would, and returns what the terminal showed.
fn on_a_terminal(args: &[&str], home: &std::path::Path) -> String {
    let mut cmd = String::from(env!("CARGO_BIN_EXE_image-check"));
    for a in args {
        cmd.push(' ');
        cmd.push_str(a);
    }
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .current_dir(project_root())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("`script` (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// On a terminal each layer gets a progress line (digest, bytes, rate), and a
/// layer from the cache says so; `--quiet` draws none, and without a terminal
/// (every other test) nothing but the report is written.
#[test]
fn layer_progress_is_drawn_on_a_terminal_only() {
    let (_t, r) = oci("healthy");
    let home = TempDir::new().unwrap();
    let shown = on_a_terminal(&[&r], home.path());
    assert!(shown.contains("layer   1/3 sha256:"), "{shown}");
    assert!(shown.contains("layer   3/3 sha256:"), "{shown}");
    assert!(shown.contains("B/s"), "{shown}");
    assert!(shown.contains("summary:"), "{shown}");
    let again = on_a_terminal(&[&r], home.path());
    assert!(again.contains(" cached"), "{again}");
    let quiet = on_a_terminal(&["--quiet", &r], home.path());
    assert!(!quiet.contains("layer   1/3"), "{quiet}");
    assert!(quiet.contains("summary:"), "{quiet}");
    let piped = image_check(&[&r], project_root());
    assert!(piped.stderr.is_empty(), "{}", piped.stderr);
    assert!(!piped.stdout.contains("B/s"), "{}", piped.stdout);
}
