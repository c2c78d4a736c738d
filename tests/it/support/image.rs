//! Helpers the image-check tests share: the findings of a `--format json` run, and
//! the `path kind size` lines of a tree (ours after flattening, or a rootfs umoci
//! unpacked) so the two can be compared entry for entry.

use shipcheck::image::fs::Kind;
use shipcheck::image::Loaded;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `(code, severity, subject)` of every finding.
pub fn findings(lines: &[serde_json::Value]) -> Vec<(String, String, String)> {
    findings_at(lines)
        .into_iter()
        .map(|(code, severity, subject, _)| (code, severity, subject))
        .collect()
}

/// `(code, severity, subject, line)` of every finding; the line from its location.
pub fn findings_at(lines: &[serde_json::Value]) -> Vec<(String, String, String, Option<u64>)> {
    lines
        .iter()
        .filter(|l| l["type"] == "check")
        .flat_map(|l| l["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
                f["location"]["line"].as_u64(),
            )
        })
        .collect()
}

/// `path kind size` lines of a directory tree on disk (an unpacked rootfs).
pub fn rootfs_tree(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![PathBuf::from(root)];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let rel = format!("/{}", p.strip_prefix(root).unwrap().display());
            let m = std::fs::symlink_metadata(&p).unwrap();
            out.insert(if m.file_type().is_symlink() {
                format!(
                    "{rel} symlink {}",
                    std::fs::read_link(&p).unwrap().display()
                )
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("{rel} dir")
            } else {
                format!("{rel} file {}", m.len())
            });
        }
    }
    out
}

/// `path kind size` lines of our flattened tree.
pub fn loaded_tree(img: &Loaded) -> BTreeSet<String> {
    img.fs
        .walk("")
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, n)| match &n.kind {
            Kind::Symlink(t) => format!("/{k} symlink {t}"),
            Kind::Dir => format!("/{k} dir"),
            _ => format!("/{k} file {}", n.size),
        })
        .collect()
}

/// `path kind size` lines of our flattened tree of `reference` (default platform,
/// no file contents kept).
pub fn tree_of_ours(reference: &str) -> BTreeSet<String> {
    let img = shipcheck::image::run::load_one(
        reference,
        &shipcheck::image::PlatformSel::Default,
        &shipcheck::image::contents::ContentSet::none(),
    )
    .unwrap();
    loaded_tree(&img)
}
