//! The flattened filesystem: layers applied in order, as the OCI image spec says.
//!
//! Each path keeps the layer that last wrote it, and every write, replacement and
//! deletion is remembered in its history so `why PATH` can tell the whole story.
//! Symlinks are resolved inside the image root (absolute targets and `..` never
//! leave it) with a hop limit, as the kernel would inside the container.
//!
//! Runtimes do not all apply a layer the same way, and the difference shows when a
//! layer's path goes through a symlink that a lower layer made (`lib/x` over a
//! lower `lib -> usr/lib`). What each one does (read from their sources):
//!
//! - umoci (`oci/layer/tar_extract.go`, `UnpackEntry`) resolves the entry's parent
//!   directory with `securejoin.SecureJoinVFS(root, dir)`: every symlink in the
//!   parent is followed inside the rootfs (missing components are kept, up to 255
//!   links), the last component is not. Whiteouts and opaque markers resolve their
//!   directory the same way; a hard link resolves its target's directory the same
//!   way and links the last component itself, so a hard link to a symlink is a
//!   symlink (link(2) does not follow). A parent that is a regular file makes the
//!   `MkdirAll` fail: the layer does not unpack.
//! - containerd's applier (`archive/tar.go`, `applyNaive`) splits the name and
//!   resolves the parent with `fs.RootPath(root, ppath)`: the same reading as umoci
//!   when it applies onto the mounted rootfs (native snapshotter, or overlayfs in a
//!   user namespace). With the overlayfs snapshotter it applies straight into the
//!   new, empty upperdir (`diff/apply/apply_linux.go`, `getOverlayPath`), where the
//!   lower symlink does not exist.
//! - Docker's overlay2 (`ApplyDiff`) untars into the layer's own empty `diff`
//!   directory (`chrootarchive.UntarUncompressed`), creating missing parents with
//!   `MkdirAll` before whiteouts are converted.
//!
//! So the overlay-based appliers build each layer as a tree of its own: the parent
//! becomes a real directory in the upper layer, and overlayfs shows that directory
//! in place of the lower symlink (a directory never merges with a non-directory).
//! The lower symlink's target is untouched, and a hard link to anything outside
//! the layer fails (`link …: no such file or directory`).
//!
//! The primary tree here is umoci's reading (our test oracle). Once a layer goes
//! through a lower symlink, the overlay reading is built beside it (only then, so
//! the memory cost is paid only by images that diverge) and every divergence is
//! recorded; the checks run on both trees and a different verdict is an error.

use super::layer::{EntryKind, LayerIndex, RawEntry};
use crate::report::{Code, Finding, Severity};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Linux gives up after 40 symlink hops (ELOOP); so do we.
pub const MAX_HOPS: usize = 40;

/// securejoin and containerd's `fs.RootPath` give up after 255 links when they
/// resolve a parent directory at unpack time.
pub const UNPACK_MAX_LINKS: usize = 255;

/// PATH_MAX: the kernel refuses longer paths (and symlink targets) with
/// ENAMETOOLONG, so a runtime cannot unpack such an entry.
pub const MAX_PATH: usize = 4095;

/// The most path components one walk may read from symlink targets (about eight
/// targets of the longest length); a walk that needs more is refused as a loop.
pub const MAX_WALK: usize = 16 * 1024;

/// NAME_MAX: the longest single file name.
pub const MAX_NAME: usize = 255;

/// The same finding code repeats at most this often; the rest are counted.
pub const MAX_REPEATS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
    Other(&'static str),
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink(_) => "symlink",
            Kind::Other(o) => o,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// 1-based index of the layer that last wrote this path.
    pub layer: usize,
    /// A directory no entry named: made for a path below it.
    pub implicit: bool,
    /// Set when this file came from a hard link: the layer path whose data it
    /// shares (the end of a chain of links).
    pub hardlink_of: Option<String>,
    pub content: Option<Arc<[u8]>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Added(String),
    Replaced(String),
    Updated,
    DeletedByWhiteout,
    /// Hidden by an opaque marker on this ancestor directory.
    HiddenByOpaque(String),
    /// An ancestor was whited out or replaced by a non-directory.
    DeletedWithParent(String),
}

#[derive(Debug, Clone)]
pub struct Event {
    pub layer: usize,
    pub action: Action,
}

/// A layer's identity, for provenance lines.
#[derive(Debug, Clone, Default)]
pub struct LayerInfo {
    pub digest: String,
    pub created_by: Option<String>,
}

/// How a runtime applies a layer onto the layers below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reading {
    /// Extract onto the rootfs, resolving parents through its symlinks: umoci,
    /// containerd's native snapshotter.
    #[default]
    Extract,
    /// Each layer is a directory tree of its own, stacked by overlayfs: Docker's
    /// overlay2, containerd's overlayfs snapshotter.
    Overlay,
}

impl Reading {
    pub fn runtimes(self) -> &'static str {
        match self {
            Reading::Extract => "umoci and containerd's native snapshotter",
            Reading::Overlay => "docker (overlay2) and containerd's overlayfs snapshotter",
        }
    }
}

/// A layer that goes through a symlink a lower layer made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub layer: usize,
    /// The lower-layer symlink (a key).
    pub link: String,
    /// Its target, as written.
    pub target: String,
    /// The directory the extracting runtimes reach through it (a key).
    pub through: String,
    /// The first path of the layer that goes through it, as the layer names it.
    pub first: String,
    /// Where the extracting runtimes put (or delete) that path (a key).
    pub extract_at: String,
    /// `entry`, `whiteout`, `opaque marker` or `hard link`.
    pub what: &'static str,
    /// How many of the layer's paths go through this link.
    pub count: usize,
}

#[derive(Debug, Default)]
pub struct FlatFs {
    nodes: BTreeMap<String, Node>,
    history: HashMap<String, Vec<Event>>,
    pub layers: Vec<LayerInfo>,
    pub warnings: Vec<Finding>,
    reading: Reading,
    divergences: Vec<Divergence>,
    /// The overlay reading, once a layer diverges.
    overlay: Option<Box<FlatFs>>,
    /// Keys whose data came from a differently named layer path (a write through a
    /// symlink): the path a content re-read must ask for.
    redirected: HashMap<String, String>,
    /// Per code: findings seen, and the worst severity among those left out.
    repeats: BTreeMap<Code, (usize, Option<Severity>)>,
    /// How many summary findings sit at the end of `warnings`.
    summaries: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// This path (a prefix of the one asked for, after links) does not exist.
    NotFound(String),
    /// A path component that must be a directory is not one.
    NotDir(String),
    Loop(String),
}

/// `/a/b/` and `a/b` both name `a/b`; the root is the empty string.
pub fn key(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(c);
    }
    out
}

pub fn display(key: &str) -> String {
    format!("/{key}")
}

fn parent_of(key: &str) -> Option<&str> {
    if key.is_empty() {
        None
    } else {
        Some(key.rsplit_once('/').map(|(p, _)| p).unwrap_or(""))
    }
}

fn split_parent(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The severity a summary of repeated findings carries: an error if any was one.
fn worst(so_far: Option<Severity>, next: Severity) -> Severity {
    match so_far {
        Some(Severity::Error) => Severity::Error,
        _ if next == Severity::Error => Severity::Error,
        Some(s) => s,
        None => next,
    }
}

fn child_prefix(dir: &str) -> String {
    if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    }
}

/// `path` is `dir` or below it (component-wise, keys).
pub fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

/// What a walk through the tree found: the key reached, and the first symlink
/// written by a layer below `layer` that it went through.
struct Walked {
    key: String,
    lower_link: Option<(String, String)>,
}

impl FlatFs {
    pub fn new(layers: Vec<LayerInfo>) -> Self {
        let mut fs = FlatFs {
            layers,
            ..Default::default()
        };
        fs.nodes.insert(String::new(), implicit_dir(0));
        fs
    }

    /// Which runtimes' tree this is.
    pub fn reading(&self) -> Reading {
        self.reading
    }

    /// The tree Docker and containerd's overlayfs snapshotter would unpack, when it
    /// differs from this one (only built once a layer goes through a lower symlink).
    pub fn overlay_reading(&self) -> Option<&FlatFs> {
        self.overlay.as_deref()
    }

    /// Every place where a layer went through a symlink a lower layer made.
    pub fn divergences(&self) -> &[Divergence] {
        &self.divergences
    }

    /// The divergence that `path` (as named, or as it resolves) depends on, if any.
    pub fn divergence(&self, path: &str) -> Option<&Divergence> {
        if self.divergences.is_empty() {
            return None;
        }
        let k = key(path);
        let resolved = self.resolve(path, true).ok();
        self.divergences.iter().find(|d| {
            let hit = |p: &str| {
                is_under(p, &d.link) || is_under(p, &d.through) || is_under(p, &d.extract_at)
            };
            hit(&k) || resolved.as_deref().is_some_and(hit)
        })
    }

    /// The layer path whose data `key` holds, for a re-read that keeps contents:
    /// the end of a hard-link chain, or the name a write through a symlink used.
    pub fn source_path(&self, path: &str) -> String {
        let k = key(path);
        if let Some(h) = self.nodes.get(&k).and_then(|n| n.hardlink_of.clone()) {
            return h;
        }
        self.redirected.get(&k).cloned().unwrap_or(k)
    }

    /// Remembers what happened to `path`; `old` is the node there before. A
    /// path's first write is not stored (it is read back from the node itself), so
    /// an image of millions of files written once keeps no history for them.
    fn record(&mut self, path: &str, old: Option<&Node>, layer: usize, action: Action) {
        let event = Event { layer, action };
        if let Some(events) = self.history.get_mut(path) {
            events.push(event);
            return;
        }
        if matches!(event.action, Action::Added(_)) {
            return;
        }
        let mut events = Vec::with_capacity(2);
        events.extend(old.map(first_write));
        events.push(event);
        self.history.insert(path.to_string(), events);
    }

    /// Keeps the first few findings of each code and counts the rest, so a layer
    /// with 200,000 bad entries gives a short report.
    fn push_finding(&mut self, f: Finding) {
        let e = self.repeats.entry(f.code).or_insert((0, None));
        e.0 += 1;
        if e.0 <= MAX_REPEATS {
            self.warnings.push(f);
        } else {
            e.1 = Some(worst(e.1, f.severity));
        }
    }

    /// Findings a layer only counted: they join the tally as if pushed past the cap.
    fn count_left_out(&mut self, code: Code, severity: Severity, n: usize) {
        let e = self.repeats.entry(code).or_insert((0, None));
        e.0 += n;
        if e.0 > MAX_REPEATS {
            e.1 = Some(worst(e.1, severity));
        }
    }

    fn drop_summaries(&mut self) {
        let keep = self.warnings.len().saturating_sub(self.summaries);
        self.warnings.truncate(keep);
        self.summaries = 0;
    }

    fn add_summaries(&mut self) {
        for (code, (seen, worst)) in &self.repeats {
            let Some(sev) = worst else { continue };
            let more = seen - MAX_REPEATS;
            let msg = format!(
                "{more} more `{}` findings like the ones above were left out ({seen} in all)",
                code.as_str()
            );
            let f = match sev {
                Severity::Error => Finding::error(*code, "layers", msg),
                _ => Finding::warning(*code, "layers", msg),
            };
            self.warnings.push(f);
            self.summaries += 1;
        }
    }

    /// Removes `path` and everything under it, recording why.
    fn remove_tree(&mut self, path: &str, layer: usize, why: Action, why_children: Action) {
        if path.is_empty() {
            // The root itself cannot be deleted; a whiteout naming it empties it.
            self.remove_children(path, layer, why_children);
            return;
        }
        if let Some(old) = self.nodes.remove(path) {
            self.record(path, Some(&old), layer, why);
        }
        self.remove_children(path, layer, why_children);
    }

    fn remove_children(&mut self, dir: &str, layer: usize, why: Action) {
        let prefix = child_prefix(dir);
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            let old = self.nodes.remove(&k);
            self.record(&k, old.as_ref(), layer, why.clone());
        }
    }

    /// A copy of this tree that goes on in another reading.
    fn fork(&self, reading: Reading) -> FlatFs {
        FlatFs {
            nodes: self.nodes.clone(),
            history: self.history.clone(),
            layers: self.layers.clone(),
            warnings: Vec::new(),
            reading,
            divergences: Vec::new(),
            overlay: None,
            redirected: self.redirected.clone(),
            repeats: BTreeMap::new(),
            summaries: 0,
        }
    }

    /// Applies one layer: its whiteouts and opaque markers hide lower layers only,
    /// then its entries are written in archive order.
    pub fn apply(&mut self, layer: usize, idx: LayerIndex) {
        self.drop_summaries();
        let LayerIndex {
            whiteouts,
            opaques,
            entries,
            warnings,
            left_out,
            ..
        } = idx;
        for w in warnings {
            self.push_finding(w);
        }
        for (code, severity, n) in left_out {
            self.count_left_out(code, severity, n);
        }
        if self.overlay.is_none()
            && self.reading == Reading::Extract
            && self.goes_through_symlink(&whiteouts, &opaques, &entries)
        {
            self.overlay = Some(Box::new(self.fork(Reading::Overlay)));
        }
        if let Some(o) = self.overlay.as_mut() {
            o.apply_layer(layer, &whiteouts, &opaques, entries.clone());
            // Findings about the layer are this tree's to report, once.
            o.warnings.clear();
        }
        self.apply_layer(layer, &whiteouts, &opaques, entries);
        self.add_summaries();
    }

    /// Whether any of the layer's paths has an existing symlink in its parent
    /// path: only then can the two readings differ (may say yes needlessly).
    fn goes_through_symlink(&self, wh: &[String], op: &[String], entries: &[RawEntry]) -> bool {
        let parent_hits = |p: &str| {
            let (dir, _) = split_parent(p);
            self.deepest_existing(dir)
                .is_some_and(|(_, n)| matches!(n.kind, Kind::Symlink(_)))
        };
        wh.iter().any(|w| parent_hits(w))
            || op.iter().any(|d| parent_hits(&join(d, "x")))
            || entries.iter().any(|e| {
                parent_hits(&e.path) || matches!(&e.kind, EntryKind::Hardlink(t) if parent_hits(t))
            })
    }

    /// The longest existing prefix of `dir` (a key) that is not a directory, or
    /// `dir` itself; `None` when `dir` and all its ancestors are directories.
    fn deepest_existing(&self, dir: &str) -> Option<(&str, &Node)> {
        if dir.is_empty() {
            return None;
        }
        if let Some((k, n)) = self.nodes.get_key_value(dir) {
            return (n.kind != Kind::Dir).then_some((k.as_str(), n));
        }
        // Every node's ancestors are directories, so the first existing prefix
        // from the bottom is the only one that can be a non-directory.
        let mut cur = dir;
        while let Some((p, _)) = cur.rsplit_once('/') {
            if let Some((k, n)) = self.nodes.get_key_value(p) {
                return (n.kind != Kind::Dir).then_some((k.as_str(), n));
            }
            cur = p;
        }
        None
    }

    fn apply_layer(
        &mut self,
        layer: usize,
        whiteouts: &[String],
        opaques: &[String],
        entries: Vec<RawEntry>,
    ) {
        for w in whiteouts {
            let Some(k) = self.place(layer, w, "whiteout", true) else {
                continue;
            };
            let gone = display(&k);
            self.remove_tree(
                &k,
                layer,
                Action::DeletedByWhiteout,
                Action::DeletedWithParent(gone),
            );
        }
        for d in opaques {
            // The marker's parent is the directory to empty: place it as a child.
            let Some(marker) = self.place(layer, &join(d, ".wh..wh..opq"), "opaque marker", true)
            else {
                continue;
            };
            let dir = parent_of(&marker).unwrap_or("").to_string();
            if self.nodes.get(&dir).is_some_and(|n| n.kind == Kind::Dir) {
                self.remove_children(&dir, layer, Action::HiddenByOpaque(display(&dir)));
            }
        }
        for e in entries {
            self.write(layer, e);
        }
    }

    /// Where `path` (a layer's name) lands in this reading, or `None` when the
    /// runtimes of this reading fail on it (a finding says so). `create`: this
    /// path is written (an entry, a whiteout, an opaque marker), so the overlay
    /// appliers make its parents real directories; a hard link's target is only
    /// looked up.
    fn place(
        &mut self,
        layer: usize,
        path: &str,
        what: &'static str,
        create: bool,
    ) -> Option<String> {
        let (parent, name) = split_parent(path);
        if self.reading == Reading::Overlay || self.deepest_existing(parent).is_none() {
            // Only directories (or nothing yet) on the way: both readings agree.
            // In the overlay reading the layer's own tree has real directories
            // here, and overlayfs shows them in place of any lower non-directory.
            if create && self.reading == Reading::Overlay {
                self.ensure_dir(parent, layer);
            }
            return Some(path.to_string());
        }
        let walked = self
            .walk_path(parent, true, true, UNPACK_MAX_LINKS, layer)
            .and_then(|w| match self.nodes.get(&w.key) {
                Some(n) if n.kind != Kind::Dir => Err(ResolveError::NotDir(w.key)),
                _ => Ok(w),
            });
        match walked {
            Ok(w) => {
                let at = join(&w.key, name);
                if let Some((link, target)) = w.lower_link {
                    self.note_divergence(layer, link, target, path, &at, what);
                }
                Some(at)
            }
            // umoci treats ENOTDIR on a whiteout's path as "already gone".
            Err(ResolveError::NotDir(_)) if what == "whiteout" || what == "opaque marker" => None,
            Err(ResolveError::NotDir(at)) => {
                let kind = self.nodes.get(&at).map(|n| n.kind.name()).unwrap_or("file");
                self.push_finding(
                    Finding::error(
                        Code::RuntimeDivergence,
                        display(path),
                        format!(
                            "layer {layer} names `{}` below `{}`, which is a {kind}, not a directory: {} fail to unpack the layer (`not a directory`); {} replace it with a directory",
                            display(path),
                            display(&at),
                            Reading::Extract.runtimes(),
                            Reading::Overlay.runtimes(),
                        ),
                    )
                    .provenance(Some(self.layer_label(layer)))
                    .hint(format!("add a directory entry for `{}` to the layer before the paths below it", display(&at))),
                );
                if !create {
                    return None;
                }
                // Go on as the overlay appliers do, so the checks still see a tree.
                self.ensure_dir(parent, layer);
                Some(path.to_string())
            }
            Err(ResolveError::Loop(at)) | Err(ResolveError::NotFound(at)) => {
                self.push_finding(
                    Finding::error(
                        Code::RuntimeDivergence,
                        display(path),
                        format!(
                            "the parent of `{}` goes through a symlink loop at `{}` ({} fail to unpack layer {layer}: `too many levels of symbolic links`), or through links longer than image-check follows ({MAX_WALK} components)",
                            display(path),
                            display(&at),
                            Reading::Extract.runtimes(),
                        ),
                    )
                    .provenance(Some(self.layer_label(layer))),
                );
                None
            }
        }
    }

    fn note_divergence(
        &mut self,
        layer: usize,
        link: String,
        target: String,
        path: &str,
        at: &str,
        what: &'static str,
    ) {
        if let Some(d) = self
            .divergences
            .iter_mut()
            .rev()
            .take_while(|d| d.layer == layer)
            .find(|d| d.link == link)
        {
            d.count += 1;
            return;
        }
        let through = self
            .walk_path(&link, true, true, UNPACK_MAX_LINKS, layer)
            .map(|w| w.key)
            .unwrap_or_else(|_| link.clone());
        let doing = match what {
            "whiteout" => "deletes",
            "opaque marker" => "empties",
            _ => "writes",
        };
        // An opaque marker names its directory.
        let (path, at) = if what == "opaque marker" {
            (parent_of(path).unwrap_or(""), parent_of(at).unwrap_or(""))
        } else {
            (path, at)
        };
        self.push_finding(
            Finding::warning(
                Code::RuntimeDivergence,
                display(path),
                format!(
                    "layer {layer} {doing} `{}` through `{}`, a symlink to `{target}` made by a lower layer: {} apply it at `{}`; {} make `{}` a directory holding only this layer's paths",
                    display(path),
                    display(&link),
                    Reading::Extract.runtimes(),
                    display(at),
                    Reading::Overlay.runtimes(),
                    display(&link),
                ),
            )
            .provenance(Some(self.layer_label(layer)))
            .hint(format!(
                "name the real path in the layer (`{}`), so every runtime unpacks the same tree",
                display(at)
            )),
        );
        self.divergences.push(Divergence {
            layer,
            link,
            target,
            through,
            first: path.to_string(),
            extract_at: at.to_string(),
            what,
            count: 1,
        });
    }

    /// Makes `dir` (a key) and its ancestors directories, replacing any
    /// non-directory on the way. Allocates only for the components it creates.
    fn ensure_dir(&mut self, dir: &str, layer: usize) {
        if dir.is_empty() || self.nodes.get(dir).is_some_and(|n| n.kind == Kind::Dir) {
            return;
        }
        // Find the deepest prefix that already is a directory, from the bottom.
        let mut ends: Vec<usize> = vec![dir.len()];
        let mut cur = dir;
        while let Some((p, _)) = cur.rsplit_once('/') {
            if self.nodes.get(p).is_some_and(|n| n.kind == Kind::Dir) {
                break;
            }
            ends.push(p.len());
            cur = p;
        }
        for end in ends.into_iter().rev() {
            let a = &dir[..end];
            match self.nodes.get(a) {
                Some(n) if n.kind == Kind::Dir => {}
                Some(n) => {
                    let a = a.to_string();
                    let action = Action::Replaced(format!(
                        "{} replaced by an implicit directory",
                        n.kind.name()
                    ));
                    if let Some(old) = self.nodes.insert(a.clone(), implicit_dir(layer)) {
                        self.record(&a, Some(&old), layer, action);
                    }
                }
                None => {
                    self.nodes.insert(a.to_string(), implicit_dir(layer));
                }
            }
        }
    }

    /// An entry the kernel cannot create: runtimes fail to unpack the layer.
    fn too_long(&self, e: &RawEntry) -> Option<String> {
        if e.path.len() > MAX_PATH {
            return Some(format!("its path is {} bytes", e.path.len()));
        }
        if let Some(c) = e.path.split('/').find(|c| c.len() > MAX_NAME) {
            return Some(format!("a name in its path is {} bytes", c.len()));
        }
        match &e.kind {
            EntryKind::Symlink(t) | EntryKind::Hardlink(t) if t.len() > MAX_PATH => {
                Some(format!("its link target is {} bytes", t.len()))
            }
            _ => None,
        }
    }

    fn write(&mut self, layer: usize, e: RawEntry) {
        if let Some(why) = self.too_long(&e) {
            let mut shown: String = e.path.chars().take(120).collect();
            if shown.len() < e.path.len() {
                shown.push('…');
            }
            self.push_finding(
                Finding::error(
                    Code::PathTooLong,
                    format!("/{shown}"),
                    format!(
                        "{why}, longer than Linux allows ({MAX_PATH} bytes a path, {MAX_NAME} a name): runtimes fail to unpack layer {layer} (`file name too long`)"
                    ),
                )
                .provenance(Some(self.layer_label(layer)))
                .hint("shorten the path in the build; the image cannot run as built"),
            );
            return;
        }
        let what = if matches!(e.kind, EntryKind::Hardlink(_)) {
            "hard link"
        } else {
            "entry"
        };
        let Some(at) = self.place(layer, &e.path, what, true) else {
            return;
        };
        let (kind, size, content, hardlink_of) = match e.kind {
            EntryKind::File => (Kind::File, e.size, e.content, None),
            EntryKind::Dir => (Kind::Dir, 0, None, None),
            EntryKind::Symlink(t) => (Kind::Symlink(t), 0, None, None),
            EntryKind::Other(o) => (Kind::Other(o), 0, None, None),
            EntryKind::Hardlink(target) => match self.link_target(layer, &e.path, &target) {
                Some(t) => t,
                None => return,
            },
        };
        let (parent, _) = split_parent(&at);
        let parent = parent.to_string();
        self.ensure_dir(&parent, layer);
        if at != e.path && hardlink_of.is_none() {
            self.redirected.insert(at.clone(), e.path.clone());
        } else {
            self.redirected.remove(&at);
        }
        let describe = |k: &Kind| match k {
            Kind::File => format!("file, {size} bytes"),
            Kind::Symlink(t) => format!("symlink -> {t}"),
            other => other.name().to_string(),
        };
        let action = match self.nodes.get(&at) {
            Some(old) if old.kind == Kind::Dir && kind == Kind::Dir => Action::Updated,
            Some(old) if old.kind == Kind::Dir => {
                let gone = display(&at);
                self.remove_children(&at, layer, Action::DeletedWithParent(gone));
                Action::Replaced(format!("dir replaced by {}", describe(&kind)))
            }
            Some(old) => Action::Replaced(format!(
                "{} replaced by {}",
                old.kind.name(),
                describe(&kind)
            )),
            None => Action::Added(describe(&kind)),
        };
        let old = self.nodes.remove(&at);
        self.record(&at, old.as_ref(), layer, action);
        self.nodes.insert(
            at,
            Node {
                kind,
                size,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                layer,
                implicit: false,
                hardlink_of,
                content,
            },
        );
    }

    /// What a hard link becomes: a second name for the node its target names at
    /// this point of the layers (a symlink stays a symlink: link(2) does not
    /// follow). `None`, with an error, when runtimes fail to unpack it.
    #[allow(clippy::type_complexity)]
    fn link_target(
        &mut self,
        layer: usize,
        path: &str,
        target: &str,
    ) -> Option<(Kind, u64, Option<Arc<[u8]>>, Option<String>)> {
        let t = self.place(layer, target, "hard link", false)?;
        let label = self.layer_label(layer);
        let fail = |why: String| {
            Finding::error(
                Code::HardlinkDangling,
                display(path),
                format!(
                    "hard link to `{}`, {why}: runtimes fail to unpack layer {layer}",
                    display(target)
                ),
            )
            .provenance(Some(label.clone()))
            .hint("link to a file an earlier entry of the same layer writes, or copy the file")
        };
        let Some(node) = self.nodes.get(&t) else {
            self.push_finding(fail(
                "which does not exist at this point (missing, or only written later)".into(),
            ));
            return None;
        };
        if node.kind == Kind::Dir {
            self.push_finding(fail(
                "which is a directory (hard links to directories are not allowed)".into(),
            ));
            return None;
        }
        let (kind, size, content) = (node.kind.clone(), node.size, node.content.clone());
        let lower = node.layer < layer;
        let source = match &node.hardlink_of {
            Some(h) => h.clone(),
            None => self
                .redirected
                .get(&t)
                .cloned()
                .unwrap_or_else(|| t.clone()),
        };
        if lower && self.reading == Reading::Extract {
            let from = self.layer_label(node.layer);
            self.push_finding(
                Finding::error(
                    Code::RuntimeDivergence,
                    display(path),
                    format!(
                        "hard link to `{}`, which a lower layer wrote: {} fail to unpack layer {layer} (`link: no such file or directory`, an overlay layer can only link within itself); {} link it",
                        display(target),
                        Reading::Overlay.runtimes(),
                        Reading::Extract.runtimes(),
                    ),
                )
                .provenance(Some(format!("target written by {from}")))
                .hint("copy the file in this layer instead of hard-linking to a lower layer"),
            );
        }
        let size = if kind == Kind::File { size } else { 0 };
        Some((kind, size, content, Some(source)))
    }

    /// The node at `path` itself, without following a final symlink.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(&key(path))
    }

    /// Resolves `path` inside the image root. Intermediate symlinks are always
    /// followed; the last one only when `follow_last`.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<String, ResolveError> {
        self.walk_path(path, follow_last, false, MAX_HOPS, 0)
            .map(|w| w.key)
    }

    /// The one path walker. Work is linear in the components visited: the current
    /// key is one growing buffer, never copied per component, and each link's
    /// target is split once per hop (hops are bounded). `lenient` keeps missing
    /// components (securejoin's reading of a path to be created); `layer` marks
    /// which symlinks count as lower.
    fn walk_path(
        &self,
        path: &str,
        follow_last: bool,
        lenient: bool,
        max_hops: usize,
        layer: usize,
    ) -> Result<Walked, ResolveError> {
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .rev()
            .map(String::from)
            .collect();
        let mut cur = String::new();
        let mut lens: Vec<usize> = Vec::new();
        let mut hops = 0;
        let mut expanded = 0;
        let mut lower_link = None;
        while let Some(c) = pending.pop() {
            if c == "." {
                continue;
            }
            if c == ".." {
                if let Some(l) = lens.pop() {
                    cur.truncate(l);
                }
                continue;
            }
            let before = cur.len();
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(&c);
            match self.nodes.get(cur.as_str()) {
                None if lenient => lens.push(before),
                None => return Err(ResolveError::NotFound(cur)),
                Some(Node {
                    kind: Kind::Symlink(target),
                    layer: written,
                    ..
                }) if follow_last || !pending.is_empty() => {
                    hops += 1;
                    // Each hop re-reads a target of up to 2048 components: a budget
                    // on the components read keeps one walk's work bounded even
                    // when every entry of a layer walks through long links.
                    expanded += target.len() / 2 + 1;
                    if hops > max_hops || expanded > MAX_WALK {
                        return Err(ResolveError::Loop(cur));
                    }
                    if lower_link.is_none() && *written < layer {
                        lower_link = Some((cur.clone(), target.clone()));
                    }
                    cur.truncate(before);
                    if target.starts_with('/') {
                        cur.clear();
                        lens.clear();
                    }
                    pending.extend(
                        target
                            .split('/')
                            .filter(|t| !t.is_empty() && *t != ".")
                            .rev()
                            .map(String::from),
                    );
                }
                Some(n) => {
                    if !pending.is_empty() && n.kind != Kind::Dir {
                        return Err(ResolveError::NotDir(cur));
                    }
                    lens.push(before);
                }
            }
        }
        Ok(Walked {
            key: cur,
            lower_link,
        })
    }

    /// Follows symlinks and returns the final node with its key.
    pub fn lookup(&self, path: &str) -> Result<(String, &Node), ResolveError> {
        let k = self.resolve(path, true)?;
        let node = self
            .nodes
            .get(&k)
            .ok_or_else(|| ResolveError::NotFound(k.clone()))?;
        Ok((k, node))
    }

    /// Immediate children of a directory key.
    pub fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        let prefix = child_prefix(dir);
        let plen = prefix.len();
        self.nodes
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(move |(k, _)| !k.is_empty() && !k[plen..].contains('/'))
    }

    /// Everything at and below a key, in path order.
    pub fn walk<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        let prefix = child_prefix(dir);
        // The key itself, then the range of `dir/…` only: a sibling sharing the
        // prefix (`app-old` beside `app`) sorts between them and must not end the walk.
        let me = if prefix.is_empty() {
            None
        } else {
            self.nodes.get_key_value(dir)
        };
        me.into_iter().chain(
            self.nodes
                .range(prefix.clone()..)
                .take_while(move |(k, _)| k.starts_with(&prefix)),
        )
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// Every event of `path`, oldest first.
    pub fn history(&self, path: &str) -> Vec<Event> {
        let k = key(path);
        match self.history.get(&k) {
            Some(events) => events.clone(),
            None => self.nodes.get(&k).map(first_write).into_iter().collect(),
        }
    }

    pub fn layer_label(&self, layer: usize) -> String {
        let n = self.layers.len();
        match self.layers.get(layer.wrapping_sub(1)) {
            Some(info) => {
                let mut s = format!("layer {layer}/{n} ({})", info.digest);
                if let Some(c) = &info.created_by {
                    let c = c
                        .trim_start_matches("/bin/sh -c ")
                        .trim_start_matches("#(nop) ")
                        .trim();
                    let short: String = c.chars().take(80).collect();
                    s.push_str(&format!(": {short}"));
                    if c.chars().count() > 80 {
                        s.push('…');
                    }
                }
                s
            }
            None => format!("layer {layer}"),
        }
    }

    /// Where a path came from (the layer that wrote it), or for a missing path the
    /// layer that deleted it or one of its parents.
    pub fn provenance(&self, path: &str) -> Option<String> {
        let k = key(path);
        if let Some(n) = self.nodes.get(&k) {
            return Some(format!("written by {}", self.layer_label(n.layer)));
        }
        let mut p = Some(k.as_str());
        while let Some(cur) = p {
            if let Some(last) = self.history.get(cur).and_then(|h| h.last()) {
                let how = match &last.action {
                    Action::DeletedByWhiteout => {
                        format!("`{}` deleted by a whiteout in", display(cur))
                    }
                    Action::HiddenByOpaque(d) => {
                        format!("`{}` hidden by opaque directory `{d}` in", display(cur))
                    }
                    Action::DeletedWithParent(d) => {
                        format!("`{}` removed with `{d}` in", display(cur))
                    }
                    _ => break,
                };
                return Some(format!("{how} {}", self.layer_label(last.layer)));
            }
            p = parent_of(cur);
        }
        None
    }
}

fn implicit_dir(layer: usize) -> Node {
    Node {
        kind: Kind::Dir,
        size: 0,
        mode: 0o755,
        uid: 0,
        gid: 0,
        layer,
        implicit: true,
        hardlink_of: None,
        content: None,
    }
}

/// The event that wrote `n`, told from the node itself.
fn first_write(n: &Node) -> Event {
    let what = match &n.kind {
        Kind::Dir if n.implicit => "dir (implicit parent)".to_string(),
        Kind::File => format!("file, {} bytes", n.size),
        Kind::Symlink(t) => format!("symlink -> {t}"),
        other => other.name().to_string(),
    };
    Event {
        layer: n.layer,
        action: Action::Added(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind, size: u64) -> RawEntry {
        RawEntry {
            path: path.into(),
            kind,
            size,
            mode: 0o644,
            uid: 0,
            gid: 0,
            content: None,
        }
    }

    fn layer(entries: Vec<RawEntry>, whiteouts: &[&str], opaques: &[&str]) -> LayerIndex {
        LayerIndex {
            entries,
            whiteouts: whiteouts.iter().map(|s| s.to_string()).collect(),
            opaques: opaques.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn walk_and_whiteouts_keep_to_the_directory_beside_a_sibling_sharing_its_prefix() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("app/x", EntryKind::File, 1),
                    entry("app-old/y", EntryKind::File, 1),
                    entry("app/z/w", EntryKind::File, 1),
                ],
                &[],
                &[],
            ),
        );
        // `app-old` sorts between `app` and `app/…`: it must neither end nor join the walk.
        let walked: Vec<&str> = fs.walk("app").map(|(k, _)| k.as_str()).collect();
        assert_eq!(walked, ["app", "app/x", "app/z", "app/z/w"]);
        fs.apply(2, layer(vec![], &["app"], &[]));
        assert!(fs.get("/app/x").is_none());
        assert!(fs.get("/app/z/w").is_none());
        assert!(fs.get("/app-old/y").is_some());
    }

    #[test]
    fn whiteouts_and_opaques_hit_lower_layers_only() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("app/dist/index.js", EntryKind::File, 10),
                    entry("app/dist/a.js", EntryKind::File, 1),
                ],
                &[],
                &[],
            ),
        );
        // Same layer writes b.js and an opaque marker: b.js survives, lower a.js does not.
        fs.apply(
            2,
            layer(
                vec![entry("app/dist/b.js", EntryKind::File, 1)],
                &["app/dist/index.js"],
                &["app/dist"],
            ),
        );
        assert!(fs.get("/app/dist/b.js").is_some());
        assert!(fs.get("/app/dist/a.js").is_none());
        assert!(fs.get("/app/dist/index.js").is_none());
        assert!(fs.provenance("/app/dist/a.js").unwrap().contains("opaque"));
        let h = fs.history("/app/dist/index.js");
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].action, Action::Added("file, 10 bytes".into()));
        assert_eq!(h[1].action, Action::DeletedByWhiteout);
        // Written once and never touched: told from the node, not stored.
        let h = fs.history("/app/dist/b.js");
        assert_eq!((h.len(), h[0].layer), (1, 2));
        assert_eq!(fs.history("/app").len(), 1);
        assert!(
            matches!(&fs.history("/app")[0].action, Action::Added(d) if d.contains("implicit"))
        );
        assert!(fs.history("/nowhere").is_empty());
    }

    #[test]
    fn dir_replaced_by_file_and_back() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(1, layer(vec![entry("a/b/c", EntryKind::File, 1)], &[], &[]));
        fs.apply(2, layer(vec![entry("a/b", EntryKind::File, 5)], &[], &[]));
        assert_eq!(fs.get("a/b").unwrap().kind, Kind::File);
        assert!(fs.get("a/b/c").is_none());
        fs.apply(3, layer(vec![entry("a/b/d", EntryKind::File, 1)], &[], &[]));
        assert_eq!(fs.get("a/b").unwrap().kind, Kind::Dir);
    }

    #[test]
    fn symlinks_resolve_inside_root() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("app/real.js", EntryKind::File, 3),
                    entry("app/link.js", EntryKind::Symlink("real.js".into()), 0),
                    entry("app/abs", EntryKind::Symlink("/app/real.js".into()), 0),
                    entry(
                        "app/up",
                        EntryKind::Symlink("../../../../app/real.js".into()),
                        0,
                    ),
                    entry("loop1", EntryKind::Symlink("loop2".into()), 0),
                    entry("loop2", EntryKind::Symlink("loop1".into()), 0),
                    entry("dangling", EntryKind::Symlink("nowhere".into()), 0),
                    entry("h", EntryKind::Hardlink("app/real.js".into()), 0),
                ],
                &[],
                &[],
            ),
        );
        assert_eq!(fs.resolve("/app/link.js", true).unwrap(), "app/real.js");
        assert_eq!(fs.resolve("/app/abs", true).unwrap(), "app/real.js");
        assert_eq!(fs.resolve("/app/up", true).unwrap(), "app/real.js");
        assert!(matches!(
            fs.resolve("/loop1", true),
            Err(ResolveError::Loop(_))
        ));
        assert_eq!(
            fs.resolve("/dangling", true),
            Err(ResolveError::NotFound("nowhere".into()))
        );
        assert_eq!(fs.resolve("/dangling", false).unwrap(), "dangling");
        assert_eq!(fs.get("h").unwrap().size, 3);
        assert_eq!(fs.children("app").count(), 4);
    }

    fn codes(fs: &FlatFs) -> Vec<(Code, Severity)> {
        fs.warnings.iter().map(|f| (f.code, f.severity)).collect()
    }

    #[test]
    fn write_through_lower_symlink_follows_it_and_builds_the_overlay_reading() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("srv/dist/index.js", EntryKind::File, 5),
                    entry("app/dist", EntryKind::Symlink("/srv/dist".into()), 0),
                ],
                &[],
                &[],
            ),
        );
        assert!(fs.overlay_reading().is_none());
        fs.apply(
            2,
            layer(vec![entry("app/dist/new.js", EntryKind::File, 7)], &[], &[]),
        );
        // umoci: through the link; the link stays.
        assert_eq!(fs.get("srv/dist/new.js").unwrap().size, 7);
        assert!(matches!(fs.get("app/dist").unwrap().kind, Kind::Symlink(_)));
        assert_eq!(fs.source_path("/srv/dist/new.js"), "app/dist/new.js");
        // overlay: a directory with only this layer's file.
        let o = fs.overlay_reading().unwrap();
        assert_eq!(o.get("app/dist").unwrap().kind, Kind::Dir);
        assert!(o.get("app/dist/index.js").is_none());
        assert!(o.get("srv/dist/new.js").is_none());
        let d = fs.divergence("/app/dist/index.js").unwrap();
        assert_eq!(
            (d.layer, d.link.as_str(), d.through.as_str()),
            (2, "app/dist", "srv/dist")
        );
        assert!(fs.divergence("/etc/passwd").is_none());
        assert_eq!(
            codes(&fs),
            vec![(Code::RuntimeDivergence, Severity::Warning)]
        );
    }

    #[test]
    fn same_layer_symlink_is_followed_by_both_readings_without_divergence() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("real/", EntryKind::Dir, 0),
                    entry("link", EntryKind::Symlink("real".into()), 0),
                    entry("link/f", EntryKind::File, 1),
                ],
                &[],
                &[],
            ),
        );
        assert!(fs.get("real/f").is_some());
        assert!(fs.divergences().is_empty());
        assert!(fs.warnings.is_empty());
    }

    #[test]
    fn parent_that_is_a_file_fails_extracting_runtimes() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(1, layer(vec![entry("a", EntryKind::File, 1)], &[], &[]));
        fs.apply(2, layer(vec![entry("a/b", EntryKind::File, 1)], &[], &[]));
        assert_eq!(codes(&fs), vec![(Code::RuntimeDivergence, Severity::Error)]);
        assert_eq!(fs.get("a").unwrap().kind, Kind::Dir);
    }

    #[test]
    fn parent_through_symlink_loop_fails_extracting_runtimes() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("l1", EntryKind::Symlink("l2".into()), 0),
                    entry("l2", EntryKind::Symlink("l1".into()), 0),
                ],
                &[],
                &[],
            ),
        );
        fs.apply(2, layer(vec![entry("l1/x", EntryKind::File, 1)], &[], &[]));
        assert_eq!(codes(&fs), vec![(Code::RuntimeDivergence, Severity::Error)]);
        assert!(fs.walk("").all(|(k, _)| !k.ends_with('x')));
    }

    #[test]
    fn hardlink_to_missing_later_or_directory_is_an_error() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("d/", EntryKind::Dir, 0),
                    entry("h1", EntryKind::Hardlink("nowhere".into()), 0),
                    entry("h2", EntryKind::Hardlink("later".into()), 0),
                    entry("later", EntryKind::File, 3),
                    entry("h3", EntryKind::Hardlink("d".into()), 0),
                ],
                &[],
                &[],
            ),
        );
        assert_eq!(
            codes(&fs),
            vec![(Code::HardlinkDangling, Severity::Error); 3]
        );
        assert!(fs.get("h1").is_none() && fs.get("h2").is_none() && fs.get("h3").is_none());
    }

    #[test]
    fn hardlink_keeps_the_target_kind_and_chains_end_at_the_data() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("f", EntryKind::File, 9),
                    entry("s", EntryKind::Symlink("f".into()), 0),
                    entry("hs", EntryKind::Hardlink("s".into()), 0),
                    entry("h1", EntryKind::Hardlink("f".into()), 0),
                    entry("h2", EntryKind::Hardlink("h1".into()), 0),
                ],
                &[],
                &[],
            ),
        );
        assert_eq!(fs.get("hs").unwrap().kind, Kind::Symlink("f".into()));
        assert_eq!(fs.get("h2").unwrap().size, 9);
        assert_eq!(fs.source_path("h2"), "f");
        assert!(fs.warnings.is_empty());
        // A link to a lower layer's file: overlay appliers cannot make it.
        fs.apply(
            2,
            layer(
                vec![entry("h3", EntryKind::Hardlink("f".into()), 0)],
                &[],
                &[],
            ),
        );
        assert_eq!(codes(&fs), vec![(Code::RuntimeDivergence, Severity::Error)]);
        assert_eq!(fs.get("h3").unwrap().size, 9);
    }

    #[test]
    fn paths_longer_than_linux_allows_are_errors() {
        let mut fs = FlatFs::new(vec![]);
        let long_name = "n".repeat(MAX_NAME + 1);
        let long_path = "d/".repeat(MAX_PATH / 2 + 1);
        fs.apply(
            1,
            layer(
                vec![
                    entry(&long_name, EntryKind::File, 1),
                    entry(&format!("{long_path}f"), EntryKind::File, 1),
                    entry("s", EntryKind::Symlink("t/".repeat(MAX_PATH)), 0),
                ],
                &[],
                &[],
            ),
        );
        assert_eq!(codes(&fs), vec![(Code::PathTooLong, Severity::Error); 3]);
        assert_eq!(fs.len(), 1);
    }

    #[test]
    fn repeated_findings_are_aggregated() {
        let mut fs = FlatFs::new(vec![]);
        let many: Vec<RawEntry> = (0..1000)
            .map(|i| entry(&format!("h{i}"), EntryKind::Hardlink("nowhere".into()), 0))
            .collect();
        fs.apply(1, layer(many.clone(), &[], &[]));
        fs.apply(2, layer(many, &[], &[]));
        assert_eq!(fs.warnings.len(), MAX_REPEATS + 1);
        let last = fs.warnings.last().unwrap();
        assert_eq!(last.severity, Severity::Error);
        assert!(last.message.contains("1995 more"), "{}", last.message);
    }

    #[test]
    fn deep_paths_create_each_ancestor_once() {
        // A path at Linux's length limit: every ancestor exists after one write,
        // and a second write below it finds the parent without walking up.
        let deep = "a/".repeat(MAX_PATH / 2 - 1);
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![entry(&format!("{deep}f"), EntryKind::File, 1)],
                &[],
                &[],
            ),
        );
        assert_eq!(fs.len(), 1 + MAX_PATH / 2);
        fs.apply(
            1,
            layer(
                vec![entry(&format!("{deep}g"), EntryKind::File, 1)],
                &[],
                &[],
            ),
        );
        assert_eq!(fs.len(), 2 + MAX_PATH / 2);
        assert!(fs.warnings.is_empty());
        assert_eq!(
            fs.resolve(&format!("/{deep}g"), true).unwrap(),
            format!("{deep}g")
        );
    }

    #[test]
    fn long_link_chains_are_refused_within_a_bounded_walk() {
        // Each link's target is long and leads to the next: far more components
        // than a walk may read, though fewer hops than the limits.
        let mut entries = vec![entry("end/", EntryKind::Dir, 0)];
        let pad = "./".repeat(2000);
        for i in 0..20 {
            let next = if i == 19 {
                "end".to_string()
            } else {
                format!("l{}", i + 1)
            };
            entries.push(entry(
                &format!("l{i}"),
                EntryKind::Symlink(format!("{pad}{next}")),
                0,
            ));
        }
        let mut fs = FlatFs::new(vec![]);
        fs.apply(1, layer(entries, &[], &[]));
        assert!(matches!(
            fs.resolve("/l19/x", false),
            Err(ResolveError::NotFound(_))
        ));
        assert!(matches!(
            fs.resolve("/l0/x", false),
            Err(ResolveError::Loop(_))
        ));
        fs.apply(2, layer(vec![entry("l0/x", EntryKind::File, 1)], &[], &[]));
        assert_eq!(codes(&fs), vec![(Code::RuntimeDivergence, Severity::Error)]);
    }
}
