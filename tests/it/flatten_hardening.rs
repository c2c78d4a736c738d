//! Flattening where runtimes could disagree or fail: paths through a symlink a
//! lower layer made, hard links (dangling, forward, to symlinks, chains), and
//! `/etc/passwd` behind links. umoci is the oracle for the tree: where it unpacks,
//! our primary tree must be exactly its tree; where it refuses, we report an error.

use crate::support::fixture::{self, build_layout, write_oci_dir};
use crate::support::image::{findings, rootfs_tree, tree_of_ours};
use crate::support::{image_check, json_lines, project_root, Run};
use std::collections::BTreeSet;
use std::path::Path;
use tempfile::TempDir;

/// Builds `recipe` as an OCI layout (tag `v1`, gzip layers so umoci can read them).
fn layout(recipe: &str) -> (TempDir, String, String) {
    fixture::GZIP_ONLY.with(|g| g.set(true));
    let t = TempDir::new().unwrap();
    let dir = t.path().join("img");
    write_oci_dir(&build_layout(recipe, "v1"), &dir);
    let ours = format!("oci:{}:v1", dir.display());
    let theirs = format!("{}:v1", dir.display());
    (t, ours, theirs)
}

fn check(reference: &str) -> (Run, Vec<(String, String, String)>) {
    check_with(reference, &project_root().join("images/scalemap-api.toml"))
}

fn check_with(reference: &str, spec: &Path) -> (Run, Vec<(String, String, String)>) {
    let run = image_check(
        &[
            "--format",
            "json",
            "--spec",
            spec.to_str().unwrap(),
            reference,
        ],
        project_root(),
    );
    let found = findings(&json_lines(&run.stdout));
    (run, found)
}

fn has(found: &[(String, String, String)], code: &str, severity: &str) -> bool {
    found.iter().any(|f| f.0 == code && f.1 == severity)
}

/// `umoci unpack --rootless`: the tree it made, or its error.
fn umoci(image: &str, scratch: &Path) -> Result<BTreeSet<String>, String> {
    let bundle = scratch.join("bundle");
    let out = std::process::Command::new("umoci")
        .args(["unpack", "--rootless", "--image", image])
        .arg(&bundle)
        .output()
        .expect("umoci is installed (`.ci/run` installs it)");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(rootfs_tree(&bundle.join("rootfs")))
}

/// Our primary tree is umoci's tree, entry for entry.
fn assert_same_tree_as_umoci(recipe: &str) -> BTreeSet<String> {
    let (t, reference, image) = layout(recipe);
    let theirs = umoci(&image, t.path()).unwrap_or_else(|e| panic!("{recipe}: umoci failed: {e}"));
    let mine = tree_of_ours(&reference);
    let only_theirs: Vec<_> = theirs.difference(&mine).collect();
    let only_ours: Vec<_> = mine.difference(&theirs).collect();
    assert!(
        only_theirs.is_empty() && only_ours.is_empty(),
        "{recipe}: umoci only {only_theirs:?}; ours only {only_ours:?}"
    );
    mine
}

#[test]
fn write_through_lower_symlink_is_a_runtime_divergence_error_when_verdicts_differ() {
    let tree = assert_same_tree_as_umoci("divergence-write");
    assert!(tree.contains("/srv/dist/public/assets/index-3f2a.js file 700"));
    assert!(tree.contains("/app/dist symlink /srv/dist"));
    let (_t, reference, _) = layout("divergence-write");
    let (run, found) = check(&reference);
    // umoci's tree passes every rule; the overlay runtimes' `/app/dist` holds only
    // the assets, so the bundle is missing there: never a pass.
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        found
            .iter()
            .any(|f| f.0 == "runtime-divergence" && f.1 == "error" && f.2 == "/app/dist/index.js"),
        "{found:?}"
    );
    assert!(!has(&found, "file-missing", "error"), "{found:?}");
}

#[test]
fn whiteout_through_lower_symlink_deletes_the_target_as_umoci_does() {
    let tree = assert_same_tree_as_umoci("divergence-whiteout");
    assert!(!tree.iter().any(|l| l.starts_with("/srv/dist/index.js ")));
    assert!(tree.contains("/srv/dist/public/index.html file 16"));
    let (_t, reference, _) = layout("divergence-whiteout");
    let (run, found) = check(&reference);
    assert_eq!(run.code, 1);
    // Both readings lose the bundle; only umoci's keeps `public/index.html`.
    assert!(has(&found, "file-missing", "error"), "{found:?}");
    assert!(
        found.iter().any(|f| f.0 == "runtime-divergence"
            && f.1 == "error"
            && f.2 == "/app/dist/public/index.html"),
        "{found:?}"
    );
}

#[test]
fn opaque_marker_through_lower_symlink_warns_when_verdicts_agree() {
    let tree = assert_same_tree_as_umoci("divergence-opaque");
    assert!(tree.contains("/srv/dist/index.js file 900"));
    let (t, reference, _) = layout("divergence-opaque");
    // Only `[[file]]` rules: both readings see the same bundle and page.
    let spec = t.path().join("spec.toml");
    std::fs::write(
        &spec,
        "[[file]]\npath = \"/app/dist/index.js\"\nkind = \"file\"\nmin_size = 1\n\n\
         [[file]]\npath = \"/app/dist/public/index.html\"\nkind = \"file\"\n",
    )
    .unwrap();
    let (run, found) = check_with(&reference, &spec);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(has(&found, "runtime-divergence", "warning"), "{found:?}");
    assert!(!has(&found, "runtime-divergence", "error"), "{found:?}");
}

#[test]
fn hardlink_through_lower_symlink_to_a_lower_layer_fails_on_overlay_runtimes() {
    let tree = assert_same_tree_as_umoci("divergence-hardlink");
    assert!(tree.contains("/srv/dist/index.cjs file 2000"));
    let (_t, reference, _) = layout("divergence-hardlink");
    let (run, found) = check(&reference);
    assert_eq!(run.code, 1);
    assert!(
        found
            .iter()
            .any(|f| f.0 == "runtime-divergence" && f.1 == "error" && f.2 == "/app/dist/index.cjs"),
        "{found:?}"
    );
}

#[test]
fn hardlink_to_missing_or_later_entry_is_an_error_as_runtimes_fail() {
    for recipe in ["hardlink-missing", "hardlink-later", "hardlink-to-itself"] {
        let (t, reference, image) = layout(recipe);
        assert!(
            umoci(&image, t.path()).is_err(),
            "{recipe}: umoci unpacked it, so it is not an unpack failure"
        );
        let (run, found) = check(&reference);
        assert_eq!(run.code, 1, "{recipe}: {}", run.stdout);
        assert!(
            has(&found, "hardlink-dangling", "error"),
            "{recipe}: {found:?}"
        );
    }
}

#[test]
fn hardlink_to_symlink_is_a_symlink_and_hardlink_chains_resolve() {
    let tree = assert_same_tree_as_umoci("hardlink-to-symlink");
    assert!(tree.contains("/app/dist/index.js symlink releases/42/index.js"));
    assert!(tree.contains("/app/dist/chain3.js file 1500"));
    let (_t, reference, _) = layout("hardlink-to-symlink");
    let cat = |p: &str| image_check(&["cat", &reference, p], project_root());
    let end = cat("/app/dist/chain3.js");
    let real = cat("/app/dist/releases/42/index.js");
    assert_eq!(end.code, 0, "{}", end.stderr);
    assert_eq!(end.stdout.len(), 1500);
    assert_eq!(end.stdout, real.stdout);
    let (run, found) = check(&reference);
    assert_eq!(run.code, 0, "{found:?}");
}

#[test]
fn passwd_behind_symlink_hardlink_or_symlinked_etc_is_read_through() {
    for recipe in ["passwd-symlink", "passwd-hardlink", "etc-symlinked"] {
        assert_same_tree_as_umoci(recipe);
        let (_t, reference, _) = layout(recipe);
        let (run, found) = check(&reference);
        assert_eq!(run.code, 0, "{recipe}: {found:?}\n{}", run.stdout);
        let user = json_lines(&run.stdout)
            .into_iter()
            .find(|l| l["type"] == "check" && l["name"] == "user")
            .unwrap_or_else(|| panic!("{recipe}: no user check in {}", run.stdout));
        assert_eq!(user["status"], "passed", "{recipe}: {user}");
    }
    // The same path, read through its link, can fail too.
    let (_t, reference, _) = layout("passwd-symlink-no-user");
    let (run, found) = check(&reference);
    assert_eq!(run.code, 1);
    assert!(has(&found, "user-unknown", "error"), "{found:?}");
}

/// Runtimes that extract apply a layer in archive order, whiteouts included: a
/// whiteout after the symlink that the same layer made goes through it. Applying
/// every whiteout first kept the file and passed.
#[test]
fn whiteouts_apply_in_archive_order_through_a_symlink_the_same_layer_made() {
    let tree = assert_same_tree_as_umoci("whiteout-through-new-symlink");
    assert!(!tree.iter().any(|l| l.starts_with("/app/dist/index.js ")));
    assert!(tree.contains("/web symlink app/dist"));
    let (_t, reference, _) = layout("whiteout-through-new-symlink");
    let (run, found) = check(&reference);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        found
            .iter()
            .any(|f| f.0 == "file-missing" && f.1 == "error" && f.2 == "/app/dist/index.js"),
        "{found:?}"
    );

    // The same through `/e -> etc`: `/etc/passwd` is gone and USER cannot be found.
    let (t, reference, image) = layout("whiteout-through-new-symlink-passwd");
    let umoci_says = umoci(&image, t.path());
    assert!(
        umoci_says.as_ref().is_err_and(|e| e.contains("passwd")),
        "{umoci_says:?}"
    );
    let tree = tree_of_ours(&reference);
    assert!(
        !tree.iter().any(|l| l.starts_with("/etc/passwd ")),
        "{tree:?}"
    );
    let (run, found) = check(&reference);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        found
            .iter()
            .any(|f| f.2 == "USER" || f.0.starts_with("user")),
        "{found:?}"
    );
}

/// The mirror case: a directory entry replaces a lower symlink, then a whiteout
/// in it hits the new, empty directory, not the symlink's target. Applying the
/// whiteout first went through the symlink and failed a healthy image.
#[test]
fn a_directory_over_a_lower_symlink_then_a_whiteout_leaves_the_target_alone() {
    let tree = assert_same_tree_as_umoci("dir-over-lower-symlink-then-whiteout");
    assert!(tree.contains("/app/dist/index.js file 1238"), "{tree:?}");
    assert!(tree.contains("/web dir"), "{tree:?}");
    let (_t, reference, _) = layout("dir-over-lower-symlink-then-whiteout");
    let (run, found) = check(&reference);
    assert_eq!(run.code, 0, "{found:?}\n{}", run.stdout);
    assert!(!has(&found, "runtime-divergence", "error"), "{found:?}");
}

/// A whiteout or opaque marker never deletes what its own layer wrote before
/// it (umoci's `upperPaths`), but does delete the lower paths beside it, and
/// keeps the directories on the way to the layer's own paths.
#[test]
fn whiteouts_spare_what_their_own_layer_wrote_before_them() {
    let tree = assert_same_tree_as_umoci("whiteout-after-own-entries");
    assert!(tree.contains("/app/dist/index.js file 2100"), "{tree:?}");
    assert!(tree.contains("/app/dist/public/new.css file 5"), "{tree:?}");
    assert!(!tree
        .iter()
        .any(|l| l.starts_with("/app/dist/public/index.html ")));
    assert!(tree.contains("/app/node_modules/express/extra.js file 9"));
    assert!(!tree
        .iter()
        .any(|l| l.starts_with("/app/node_modules/express/index.js ")));
    let (_t, reference, _) = layout("whiteout-after-own-entries");
    let why = image_check(
        &["why", &reference, "/app/dist/public/index.html"],
        project_root(),
    );
    assert_eq!(why.code, 0, "{}", why.stderr);
    assert!(why.stdout.contains("opaque"), "{}", why.stdout);
}

/// `.wh.` (no name) and `.wh..` name no file: umoci 0.4 and containerd delete
/// a directory, umoci 0.5 refuses, overlay2 fails. Ignoring them passed an
/// image whose directory umoci empties; now the layer is refused (exit 2).
#[test]
fn whiteouts_that_name_no_file_are_refused_as_runtimes_disagree() {
    for (recipe, name) in [
        ("whiteout-empty-name", "app/dist/.wh."),
        ("whiteout-dot-name", "app/dist/.wh.."),
    ] {
        let (_t, reference, _) = layout(recipe);
        let (run, _) = check(&reference);
        let out = format!("{}{}", run.stdout, run.stderr);
        assert_eq!(run.code, 2, "{recipe}: {out}");
        assert!(
            out.contains(&format!("whiteout `{name}`")) && out.contains("runtimes disagree"),
            "{recipe}: {out}"
        );
        assert!(!out.contains("corrupt"), "{out}");
    }
}

/// A `.` entry that is not a directory: umoci refuses the layer, containerd
/// skips the entry. It was skipped silently; now the layer is refused.
#[test]
fn a_root_entry_that_changes_the_roots_type_is_refused() {
    let (t, reference, image) = layout("root-entry-symlink");
    let umoci_says = umoci(&image, t.path());
    assert!(
        umoci_says.as_ref().is_err_and(|e| e.contains("root")),
        "{umoci_says:?}"
    );
    let (run, _) = check(&reference);
    let out = format!("{}{}", run.stdout, run.stderr);
    assert_eq!(run.code, 2, "{out}");
    assert!(out.contains("root directory"), "{out}");
}
