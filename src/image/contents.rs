//! The files whose contents the checks read, declared by the checks before any
//! layer streams: the layer reader keeps exactly these (every other file is only
//! listed), and the layer cache keys what it stores by this set's fingerprint, so
//! a check that starts reading another file (`package.json`, `*.html`) makes the
//! entries stored without it miss instead of answering with contents they lack.
//!
//! Named paths are required: the reader keeps them or refuses the layer. Suffixes
//! and rules (the app's scripts, pages, every `package.json`) are best-effort:
//! each layer keeps them in archive order up to [`BEST_EFFORT_PER_LAYER`], so a
//! layer full of such files costs a bounded amount of memory and is still read
//! once; what a check then lacks it asks for by path on a second read.

use super::digest::{sha256_of, Digest};

/// Best-effort contents one layer keeps of the files rules and suffixes match
/// (app scripts, pages, stylesheets). Archive order decides which, so the
/// choice depends on the layer's bytes alone and a cached layer keeps the same.
pub const BEST_EFFORT_PER_LAYER: u64 = 2 << 20;

/// The same for manifests (`package.json`): small, and what module resolution
/// cannot do without, so they have a budget of their own that a layer of
/// scripts does not use up (`npm ci` of 2,000 packages writes about 6 MiB).
pub const MANIFESTS_PER_LAYER: u64 = 16 << 20;

/// Whether the reader keeps a file's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    No,
    /// A path a check named: kept, or the layer is refused.
    Required,
    /// Matched by a suffix or rule: kept while the layer's best-effort budget lasts.
    BestEffort,
    /// Matched by a manifest rule: kept while the layer's manifest budget lasts.
    Manifest,
    /// A path whose first [`HEAD_BYTES`] a check reads (an executable's ELF
    /// headers), whatever the file's size; kept, or the layer is refused.
    Head,
}

/// How much of a [`Keep::Head`] file is kept: the ELF header and the program
/// headers that follow it (the kernel reads at most 64 KiB of those), so a
/// `static = true` rule decides on a binary of any size.
pub const HEAD_BYTES: u64 = 128 << 10;
use std::collections::{BTreeMap, BTreeSet};

/// Paths (keys: no leading `/`), name suffixes and named rules whose contents
/// are kept.
#[derive(Debug, Clone, Default)]
pub struct ContentSet {
    all: bool,
    paths: BTreeSet<String>,
    suffixes: BTreeSet<String>,
    /// Rules a check states as code (the app's own scripts: outside
    /// `node_modules` and the system directories), by name. The name enters the
    /// fingerprint: a check that changes its rule changes the name.
    rules: BTreeMap<&'static str, fn(&str) -> bool>,
    /// Rules for manifests, kept under [`MANIFESTS_PER_LAYER`].
    manifests: BTreeMap<&'static str, fn(&str) -> bool>,
    /// Paths whose first [`HEAD_BYTES`] are kept.
    heads: BTreeSet<String>,
}

impl PartialEq for ContentSet {
    fn eq(&self, other: &Self) -> bool {
        self.all == other.all
            && self.paths == other.paths
            && self.suffixes == other.suffixes
            && self.rules.keys().eq(other.rules.keys())
            && self.manifests.keys().eq(other.manifests.keys())
            && self.heads == other.heads
    }
}

impl Eq for ContentSet {}

impl ContentSet {
    /// No contents: the listing alone (`ls`, `why`).
    pub fn none() -> Self {
        ContentSet::default()
    }

    /// Every file's contents (up to the reader's limits): tests and fuzzing.
    pub fn all() -> Self {
        ContentSet {
            all: true,
            ..ContentSet::default()
        }
    }

    /// Adds one path; a leading `/` is dropped, as tree keys have none.
    pub fn with_path(mut self, path: &str) -> Self {
        self.paths.insert(path.trim_start_matches('/').to_string());
        self
    }

    /// Adds one path whose first [`HEAD_BYTES`] are kept (whole, when another
    /// member of the set keeps the file too).
    pub fn with_head(mut self, path: &str) -> Self {
        self.heads.insert(path.trim_start_matches('/').to_string());
        self
    }

    /// Adds every file whose name ends in `suffix` (`.html`).
    pub fn with_suffix(mut self, suffix: &str) -> Self {
        self.suffixes.insert(suffix.to_string());
        self
    }

    /// Adds the files `rule` accepts, under a name that says what it keeps and
    /// its version (`"node app scripts 1"`).
    pub fn with_rule(mut self, name: &'static str, rule: fn(&str) -> bool) -> Self {
        self.rules.insert(name, rule);
        self
    }

    /// Adds the manifests `rule` accepts, kept under their own budget.
    pub fn with_manifest_rule(mut self, name: &'static str, rule: fn(&str) -> bool) -> Self {
        self.manifests.insert(name, rule);
        self
    }

    /// This set and `other`'s.
    pub fn union(mut self, other: &ContentSet) -> Self {
        self.all |= other.all;
        self.paths.extend(other.paths.iter().cloned());
        self.suffixes.extend(other.suffixes.iter().cloned());
        self.rules.extend(other.rules.iter().map(|(k, v)| (*k, *v)));
        self.manifests
            .extend(other.manifests.iter().map(|(k, v)| (*k, *v)));
        self.heads.extend(other.heads.iter().cloned());
        self
    }

    pub fn keep(&self, path: &str) -> Keep {
        let head = self.heads.contains(path);
        let keep = if self.all || self.paths.contains(path) {
            Keep::Required
        } else if self.manifests.values().any(|r| r(path)) {
            Keep::Manifest
        } else if self.suffixes.iter().any(|s| path.ends_with(s.as_str()))
            || self.rules.values().any(|r| r(path))
        {
            Keep::BestEffort
        } else if head {
            Keep::Head
        } else {
            Keep::No
        };
        // A file another check reads whole is kept whole: only a file no one
        // else reads is ever held cut, so no check sees part of a script.
        match keep {
            Keep::Manifest | Keep::BestEffort if head => Keep::Required,
            k => k,
        }
    }

    /// A digest of the set that two sets share only when they keep the same
    /// files: each member is length-prefixed, so no two lists collide.
    pub fn fingerprint(&self) -> Digest {
        // The budget decides which best-effort files a layer keeps, so it is part
        // of what a cached entry holds.
        let mut s = format!(
            "shipcheck content set 4\nbest-effort {BEST_EFFORT_PER_LAYER}\nmanifests {MANIFESTS_PER_LAYER}\nhead {HEAD_BYTES}\n"
        );
        if self.all {
            s.push_str("all\n");
        }
        for (tag, set) in [
            ("path", &self.paths),
            ("suffix", &self.suffixes),
            ("head", &self.heads),
        ] {
            for m in set {
                s.push_str(&format!("{tag} {}:{m}\n", m.len()));
            }
        }
        for (tag, rules) in [("rule", &self.rules), ("manifest", &self.manifests)] {
            for m in rules.keys() {
                s.push_str(&format!("{tag} {}:{m}\n", m.len()));
            }
        }
        sha256_of(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_and_fingerprints() {
        let passwd = ContentSet::none().with_path("/etc/passwd");
        assert_eq!(passwd.keep("etc/passwd"), Keep::Required);
        assert_eq!(passwd.keep("etc/group"), Keep::No);
        let html = passwd.clone().with_suffix(".html");

        assert_eq!(ContentSet::all().keep("anything"), Keep::Required);
        assert_eq!(passwd.keep("etc/passwd"), Keep::Required);
        assert_eq!(html.keep("srv/www/index.html"), Keep::BestEffort);
        assert_eq!(html.keep("srv/www/app.js"), Keep::No);
        let node = crate::image::checks::node::contents();
        assert_eq!(node.keep("app/node_modules/x/package.json"), Keep::Manifest);
        assert_eq!(node.keep("app/dist/index.js"), Keep::BestEffort);
        assert_eq!(node.keep("app/node_modules/x/index.js"), Keep::No);
        // Named paths win over rules: a file a check asked for is required.
        let both = node.with_path("app/dist/index.js");
        assert_eq!(both.keep("app/dist/index.js"), Keep::Required);
        assert_eq!(ContentSet::none().keep("etc/passwd"), Keep::No);
        let prints: Vec<Digest> = [
            ContentSet::none(),
            ContentSet::all(),
            passwd.clone(),
            html.clone(),
            ContentSet::none().with_suffix("etc/passwd"),
            ContentSet::none().with_path("a").with_path("b"),
            ContentSet::none().with_path("a\n").with_path("b"),
            ContentSet::none().with_path("a\npath 1:b"),
        ]
        .iter()
        .map(ContentSet::fingerprint)
        .collect();
        for (i, a) in prints.iter().enumerate() {
            for b in &prints[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Order of declaration does not matter.
        assert_eq!(
            ContentSet::none()
                .with_path("b")
                .with_path("a")
                .fingerprint(),
            ContentSet::none()
                .with_path("a")
                .with_path("b")
                .fingerprint()
        );
    }
}
