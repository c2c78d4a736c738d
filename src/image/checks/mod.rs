//! The checks image-check runs on a loaded image: one file per check, each a pure
//! function from the image (and its spec rules) to a [`CheckOutcome`]. None prints.

pub mod cmd;
pub mod config;
pub mod divergence;
pub mod elf;
pub mod files;
pub mod node;
pub mod user;
pub mod web;

/// The `app_files` fuzz target's body: any bytes through the node and web checks'
/// parsers (scripts, `package.json`, pages, stylesheets).
pub fn fuzz_app_files(data: &[u8]) {
    node::fuzz_node(data);
    web::fuzz_web(data);
    let _ = elf::classify(data, data.len() as u64);
    // As a head of a larger file (`static = true` keeps a file's first bytes).
    let _ = elf::classify(data, u64::MAX);
}

use super::contents::ContentSet;
use super::fs::{display, key, FlatFs, Kind, ResolveError, MAX_HOPS};

/// The files whose contents the checks read, declared before any layer streams:
/// the layer reader keeps exactly these, and the layer cache keys its entries
/// by this set. A check that reads a file adds it here (the user check reads
/// `/etc/passwd`). A check the spec turns off declares nothing, so its files
/// are neither held nor part of the cache key.
pub fn contents(spec: &super::spec::Spec) -> ContentSet {
    let mut set = ContentSet::none()
        .union(&user::contents())
        .union(&files::contents(&spec.files));
    if spec.node.enabled != Some(false) {
        set = set.union(&node::contents());
    }
    if spec.web.enabled != Some(false) {
        set = set.union(&web::contents());
    }
    set
}
use crate::report::{Code, Finding};

/// A finding for a path that could not be resolved, naming the broken link when the
/// path itself is a symlink (a dangling bundle link is a different fix than a
/// missing bundle).
/// `what` starts the message (empty when the subject already names the path).
pub(crate) fn unresolved(
    fs: &FlatFs,
    path: &str,
    err: &ResolveError,
    missing: Code,
    what: &str,
) -> Finding {
    let link_code = if missing == Code::FileMissing {
        Code::SymlinkDangling
    } else {
        missing
    };
    let own_link = match fs.get(path).map(|n| n.kind) {
        Some(Kind::Symlink(t)) => Some(t),
        _ => None,
    };
    let f = match err {
        ResolveError::Loop(at) => Finding::error(
            link_code,
            path,
            format!(
                "{what} is a symlink loop (gave up at `{}` after {MAX_HOPS} hops)",
                display(at)
            ),
        )
        .provenance(fs.provenance(path)),
        ResolveError::NotFound(at) => match own_link {
            Some(target) => Finding::error(
                link_code,
                path,
                format!(
                    "{what} is a symlink to `{target}`, but `{}` does not exist",
                    display(at)
                ),
            )
            .provenance(fs.provenance(path))
            .hint("fix the link target, or copy the file it points at into the image"),
            None if *at == key(path) => {
                Finding::error(missing, path, format!("{what} does not exist"))
                    .provenance(fs.provenance(path))
            }
            None => Finding::error(
                missing,
                path,
                format!("{what} does not exist (`{}` is missing)", display(at)),
            )
            .provenance(fs.provenance(&display(at))),
        },
        ResolveError::NotDir(at) => Finding::error(
            missing,
            path,
            format!(
                "{what} does not exist: `{}` is not a directory",
                display(at)
            ),
        )
        .provenance(fs.provenance(&display(at))),
    };
    let message = f.message.trim_start().to_string();
    Finding { message, ..f }
}

#[cfg(test)]
mod tests {
    /// The app checks' files are declared (and so held, and part of the cache
    /// key) only while the spec leaves those checks on.
    #[test]
    fn a_check_the_spec_turns_off_declares_no_contents() {
        use crate::image::contents::{ContentSet, Keep};
        let has = |s: &ContentSet, p: &str| s.keep(p) != Keep::No;
        let mut spec = crate::image::spec::Spec::automatic();
        let on = super::contents(&spec);
        assert!(has(&on, "etc/passwd") && has(&on, "app/dist/index.js"));
        assert!(has(&on, "app/dist/public/index.html"));
        spec.node.enabled = Some(false);
        spec.web.enabled = Some(false);
        let off = super::contents(&spec);
        assert!(has(&off, "etc/passwd"));
        assert!(!has(&off, "app/dist/index.js") && !has(&off, "app/dist/public/index.html"));
        assert_ne!(on.fingerprint(), off.fingerprint());
    }

    #[test]
    fn app_files_fuzz_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/app_files");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("fuzz/corpus/app_files exists") {
            super::fuzz_app_files(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0, "the corpus is empty");
    }
}
