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
//!
//! The tree is held compactly (see `store.rs`): nodes are records addressed by
//! id, and [`Node`] is a view built on demand, so keys are strings only at the
//! edges (a path asked for, a path listed).

use super::layer::{EntryKind, LayerIndex, RawEntry};
use super::packed::Entries;
use super::store::{self, IdMap, Payload, Store, StrRef, ROOT};
use crate::report::{Code, Finding, Severity};
use std::collections::{BTreeMap, HashMap, HashSet};
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

/// The most memory the tree may take, both readings and their history
/// together, as `FlatFs::used` counts it: with the layers' listings
/// (`layer::MAX_LISTING_BYTES`) and the process itself, it keeps image-check
/// under 512 MiB.
/// A layer that would take the tree past it stops the load with an error.
pub const MAX_TREE_BYTES: usize = 384 << 20;

/// The budget a tree starts with.
#[derive(Debug, Clone, Copy)]
struct Budget(usize);

impl Default for Budget {
    fn default() -> Self {
        Budget(MAX_TREE_BYTES)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    File,
    Dir,
    Symlink(&'a str),
    Other(&'static str),
}

impl Kind<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink(_) => "symlink",
            Kind::Other(o) => o,
        }
    }
}

/// A path's node, as a view into the tree.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub kind: Kind<'a>,
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
    pub hardlink_of: Option<&'a str>,
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

// What a path was at some point, for its history: a kind code (`D_*`) and a
// value (a file's size, a symlink's target, an `Other` kind's index). Then what
// happened to it (`E_*`).
const D_FILE: u8 = 0;
const D_DIR: u8 = 1;
const D_IMPLICIT: u8 = 2;
const D_SYMLINK: u8 = 3;
const D_OTHER: u8 = 4;

const E_ADDED: u8 = 0;
const E_REPLACED: u8 = 1;
const E_UPDATED: u8 = 2;
const E_WHITEOUT: u8 = 3;
const E_OPAQUE: u8 = 4;
const E_WITH_PARENT: u8 = 5;

/// One event of a path's history, in 16 bytes: `Action`s are rendered from it
/// only when asked for. `old` (with `old_other`, an `Other` kind's index) is
/// what a replacement replaced; `val` belongs to `new` (see `D_*`), or is the
/// directory's record for the opaque and with-parent deletions.
#[derive(Debug, Clone, Copy)]
struct Ev {
    layer: u32,
    tag: u8,
    old: u8,
    old_other: u8,
    new: u8,
    val: u64,
}

impl Ev {
    fn of(layer: usize, tag: u8, val: u64) -> Ev {
        Ev {
            layer: layer as u32,
            tag,
            old: 0,
            old_other: 0,
            new: 0,
            val,
        }
    }
}

#[derive(Debug, Default)]
pub struct FlatFs {
    store: Store,
    /// Per record with a stored history: its first and last event in `events`.
    history: IdMap<(u32, u32)>,
    /// Events with the index of the next event of the same path.
    events: Vec<(Ev, u32)>,
    pub layers: Vec<LayerInfo>,
    pub warnings: Vec<Finding>,
    reading: Reading,
    divergences: Vec<Divergence>,
    /// The overlay reading, once a layer diverges.
    overlay: Option<Box<FlatFs>>,
    /// The divergences of the layer being applied, by link: one lookup each.
    layer_links: HashMap<String, usize>,
    /// Bytes the divergences hold.
    divergence_bytes: usize,
    /// Per code: findings seen, and the worst severity among those left out.
    repeats: BTreeMap<Code, (usize, Option<Severity>)>,
    /// How many summary findings sit at the end of `warnings`.
    summaries: usize,
    budget: Budget,
    /// The directory the last entry went into, and its record: archives list a
    /// directory's files together, so most entries find their parent here
    /// without a lookup per component. Valid while the record is a live
    /// directory (a live node's ancestors are all live directories).
    last_dir: Option<(String, u32)>,
    /// What this reading may hold while it applies a layer: the budget less
    /// what the other reading holds.
    limit: usize,
    /// Set when a layer would have taken the tree past its budget: the tree
    /// stopped growing there and is not the image's.
    full: bool,
    /// Directories a whiteout of the layer being applied has swept: below them
    /// is only what this layer wrote and the directories on the way to it, so
    /// a later whiteout of the same layer need not walk them again (so a layer of many whiteouts over one
    /// big directory costs one walk, not one per whiteout).
    swept: HashSet<u32>,
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

/// `path` is `dir` or below it (component-wise, keys).
pub fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

/// What a hard link becomes: its target's kind and data, and the layer path that
/// holds the data.
struct Linked {
    payload: Payload,
    content: Option<Arc<[u8]>>,
    source: String,
}

/// What a walk through the tree found: the key reached, and the first symlink
/// written by a layer below `layer` that it went through.
struct Walked {
    key: String,
    lower_link: Option<(String, String)>,
}

fn pack(r: StrRef) -> u64 {
    u64::from(r.off) | (u64::from(r.len) << 32)
}

fn unpack(v: u64) -> StrRef {
    StrRef {
        off: v as u32,
        len: (v >> 32) as u32,
    }
}

/// Everything at and below a directory, in path order (see `Store::walk_tokens`).
pub struct Walk<'a> {
    store: &'a Store,
    first: Option<u32>,
    stack: Vec<Frame>,
    path: String,
}

/// A directory being listed: its tokens, the next one, and the length of the
/// walk's path to restore when it is done.
struct Frame {
    tokens: Vec<(u32, bool)>,
    pos: usize,
    restore: usize,
}

impl<'a> Iterator for Walk<'a> {
    type Item = (String, Node<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(id) = self.first.take() {
            return Some((self.path.clone(), self.store.node(id)));
        }
        loop {
            let top = self.stack.last_mut()?;
            let Some(&(id, block)) = top.tokens.get(top.pos) else {
                if let Some(done) = self.stack.pop() {
                    self.path.truncate(done.restore);
                }
                continue;
            };
            top.pos += 1;
            let name = self.store.name(id);
            if block {
                let restore = self.path.len();
                if !self.path.is_empty() {
                    self.path.push('/');
                }
                self.path.push_str(name);
                self.stack.push(Frame {
                    tokens: self.store.walk_tokens(id),
                    pos: 0,
                    restore,
                });
                continue;
            }
            let mut k = String::with_capacity(self.path.len() + 1 + name.len());
            k.push_str(&self.path);
            if !k.is_empty() {
                k.push('/');
            }
            k.push_str(name);
            return Some((k, self.store.node(id)));
        }
    }
}

impl FlatFs {
    pub fn new(layers: Vec<LayerInfo>) -> Self {
        FlatFs {
            layers,
            ..Default::default()
        }
    }

    /// Another budget than [`MAX_TREE_BYTES`] (tests reach it with small trees).
    pub fn set_budget(&mut self, bytes: usize) {
        self.budget = Budget(bytes);
    }

    /// Whether a layer would have taken the tree past its budget: it stopped
    /// growing there, so it is not the image's tree and nothing may be checked
    /// on it.
    pub fn full(&self) -> bool {
        self.full
    }

    /// The bytes this reading holds (records, names, index, history,
    /// divergences), as the budget counts them; `used_all` adds the overlay.
    fn used(&self) -> usize {
        self.store.bytes()
            + self.events.len() * std::mem::size_of::<(Ev, u32)>()
            + self.history.bytes()
            + self.divergence_bytes
            + self.swept.capacity() * 2 * std::mem::size_of::<u32>()
    }

    /// The bytes both readings hold.
    pub fn used_all(&self) -> usize {
        self.used() + self.overlay.as_ref().map_or(0, |o| o.used())
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
        if let Some(h) = self
            .store
            .find(&k, false)
            .and_then(|id| self.store.hardlink_of(id))
        {
            return h.to_string();
        }
        self.store
            .find(&k, true)
            .and_then(|id| self.store.redirected(id))
            .unwrap_or(k)
    }

    /// The event that wrote the node at `id`, told from the node itself.
    fn first_write(&self, id: u32) -> Ev {
        let p = self.store.payload(id);
        let (new, val) = described(&p);
        Ev {
            layer: p.layer,
            tag: E_ADDED,
            old: 0,
            old_other: 0,
            new,
            val,
        }
    }

    /// A replacement of what `id` holds now by `new`.
    fn replaced(&self, id: u32, layer: usize, new: u8, val: u64) -> Ev {
        let was = self.first_write(id);
        Ev {
            layer: layer as u32,
            tag: E_REPLACED,
            old: was.new,
            old_other: if was.new == D_OTHER {
                u8::try_from(was.val).unwrap_or(u8::MAX)
            } else {
                0
            },
            new,
            val,
        }
    }

    /// A kind's name, as `ls` types go: `file`, `dir`, `symlink`, `fifo`.
    fn kind_name(&self, code: u8, other: u64) -> &'static str {
        match code {
            D_FILE => "file",
            D_DIR | D_IMPLICIT => "dir",
            D_SYMLINK => "symlink",
            _ => self.store.other_name(other as u32).unwrap_or("other"),
        }
    }

    /// What a write calls the node it makes: `file, 3 bytes`, `symlink -> t`, `dir`.
    fn describe(&self, code: u8, val: u64) -> String {
        match code {
            D_FILE => format!("file, {val} bytes"),
            D_SYMLINK => format!("symlink -> {}", self.store.str(unpack(val))),
            D_IMPLICIT => "dir (implicit parent)".into(),
            _ => self.kind_name(code, val).into(),
        }
    }

    fn action(&self, e: &Ev) -> Action {
        match e.tag {
            E_ADDED => Action::Added(self.describe(e.new, e.val)),
            E_REPLACED => {
                let old = self.kind_name(e.old, e.old_other.into());
                Action::Replaced(if e.new == D_IMPLICIT {
                    format!("{old} replaced by an implicit directory")
                } else {
                    format!("{old} replaced by {}", self.describe(e.new, e.val))
                })
            }
            E_UPDATED => Action::Updated,
            E_WHITEOUT => Action::DeletedByWhiteout,
            E_OPAQUE => Action::HiddenByOpaque(display(&self.store.key(e.val as u32))),
            _ => Action::DeletedWithParent(display(&self.store.key(e.val as u32))),
        }
    }

    /// Remembers what happened to the record `id`; `old` is the node there before.
    /// A path's first write is not stored (it is read back from the node itself),
    /// so an image of millions of files written once keeps no history for them.
    fn record(&mut self, id: u32, old: Option<Ev>, event: Ev) {
        let at = self.events.len() as u32;
        if let Some((_, last)) = self.history.get_mut(&id) {
            let prev = *last as usize;
            *last = at;
            self.events[prev].1 = at;
            self.events.push((event, u32::MAX));
            return;
        }
        if event.tag == E_ADDED {
            return;
        }
        let first = at;
        if let Some(o) = old {
            self.events.push((o, at + 1));
        }
        let last = self.events.len() as u32;
        self.events.push((event, u32::MAX));
        self.history.insert(id, (first, last));
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

    /// Removes every node below `dir`, recording `why` for each (unless the
    /// history would take the tree past `self.limit`).
    fn remove_children(&mut self, dir: u32, why: Ev) {
        let mut doomed = self.store.subtree(dir);
        doomed.remove(0);
        // Each removal may store two events (the first write, then this one).
        let cost = doomed.len() * 2 * std::mem::size_of::<(Ev, u32)>();
        if self.used() + cost > self.limit {
            self.full = true;
            return;
        }
        for &id in &doomed {
            let old = self.first_write(id);
            self.record(id, Some(old), why);
        }
        for &id in &doomed {
            self.store.kill(id);
        }
    }

    /// A copy of this tree that goes on in another reading.
    fn fork(&self, reading: Reading) -> FlatFs {
        FlatFs {
            store: self.store.clone(),
            history: self.history.clone(),
            events: self.events.clone(),
            layers: self.layers.clone(),
            warnings: Vec::new(),
            reading,
            divergences: Vec::new(),
            overlay: None,
            layer_links: HashMap::new(),
            divergence_bytes: 0,
            repeats: BTreeMap::new(),
            summaries: 0,
            budget: self.budget,
            last_dir: None,
            full: self.full,
            limit: self.limit,
            swept: HashSet::new(),
        }
    }

    /// Applies one layer: its entries, whiteouts and opaque markers in archive
    /// order, as the extracting runtimes do.
    pub fn apply(&mut self, layer: usize, idx: LayerIndex) {
        if self.full {
            return;
        }
        self.drop_summaries();
        let LayerIndex {
            entries,
            warnings,
            left_out,
            ..
        } = idx;
        for mut w in warnings {
            // The layer's findings are position-free (a cached layer serves any
            // depth); here they learn which layer of this image they are about.
            w.provenance.get_or_insert_with(|| format!("layer {layer}"));
            self.push_finding(w);
        }
        for (code, severity, n) in left_out {
            self.count_left_out(code, severity, n);
        }
        if self.overlay.is_none()
            && self.reading == Reading::Extract
            && self.goes_through_symlink(&entries)
        {
            if self.used() * 2 > self.budget.0 {
                self.full = true;
                return;
            }
            self.overlay = Some(Box::new(self.fork(Reading::Overlay)));
        }
        // Each reading grows within what the other one leaves of the budget.
        let left = self.budget.0.saturating_sub(self.used());
        if let Some(o) = self.overlay.as_mut() {
            o.limit = left;
            o.apply_layer(layer, &entries);
            // Findings about the layer are this tree's to report, once.
            o.warnings.clear();
            self.full |= o.full;
        }
        self.limit = self
            .budget
            .0
            .saturating_sub(self.overlay.as_ref().map_or(0, |o| o.used()));
        if !self.full {
            self.apply_layer(layer, &entries);
        }
        self.add_summaries();
    }

    /// Whether any of the layer's paths has an existing symlink in its parent
    /// path: only then can the two readings differ (may say yes needlessly).
    fn goes_through_symlink(&self, entries: &Entries) -> bool {
        let dir_hits = |dir: &str| {
            self.deepest_existing(dir)
                .is_some_and(|id| self.store.kind(id) == store::K_SYMLINK)
        };
        let mut c = entries.cursor();
        while let Some(e) = c.next_entry() {
            let dir = match e.kind {
                // An opaque marker's path is the directory it empties.
                EntryKind::Opaque => e.path.as_str(),
                _ => split_parent(&e.path).0,
            };
            if dir_hits(dir)
                || matches!(&e.kind, EntryKind::Hardlink(t) if dir_hits(split_parent(t).0))
            {
                return true;
            }
        }
        false
    }

    /// The longest existing prefix of `dir` (a key) when it is not a directory
    /// (nothing exists below a non-directory); `None` when `dir` and all its
    /// existing ancestors are directories.
    fn deepest_existing(&self, dir: &str) -> Option<u32> {
        if dir.is_empty() || self.cached_dir(dir).is_some() {
            return None;
        }
        let mut id = ROOT;
        for c in dir.split('/') {
            id = self.store.live_child(id, c)?;
            if !self.store.is_dir(id) {
                return Some(id);
            }
        }
        None
    }

    /// Applies one layer in this reading, within `self.limit` bytes; past it the
    /// tree is marked full and the rest of the layer is left out.
    fn apply_layer(&mut self, layer: usize, entries: &Entries) {
        self.layer_links.clear();
        self.swept.clear();
        let mut c = entries.cursor();
        while let Some(e) = c.next_entry() {
            if self.over() {
                break;
            }
            match e.kind {
                EntryKind::Whiteout => {
                    if let Some(k) = self.place(layer, &e.path, "whiteout", true) {
                        if let Some(id) = self.store.find(&k, false) {
                            self.sweep(id, layer, false);
                        }
                    }
                }
                EntryKind::Opaque => {
                    // The marker's parent is the directory to empty: place it
                    // as a child.
                    let marker = join(&e.path, ".wh..wh..opq");
                    if let Some(m) = self.place(layer, &marker, "opaque marker", true) {
                        let dir = parent_of(&m).unwrap_or("");
                        if let Some(id) = self
                            .store
                            .find(dir, false)
                            .filter(|&id| self.store.is_dir(id))
                        {
                            self.sweep(id, layer, true);
                        }
                    }
                }
                _ => self.write(layer, e),
            }
        }
        self.swept = HashSet::new();
        self.over();
    }

    /// A whiteout (or, with `opaque`, an opaque marker) at the record `top`, as
    /// umoci applies it (`ociWhiteout`): every path at and below `top` is
    /// deleted unless this layer wrote it or something below it, so a whiteout
    /// never deletes what its own layer wrote before it, and the directories on
    /// the way to those paths stay; an opaque marker keeps its directory.
    fn sweep(&mut self, top: u32, layer: usize, opaque: bool) {
        // Pre-order, not below directories already swept in this layer.
        let mut order = Vec::new();
        let mut todo = vec![top];
        while let Some(n) = todo.pop() {
            order.push(n);
            if !self.swept.contains(&n) && self.store.is_dir(n) {
                todo.extend(self.store.children(n));
            }
        }
        let mut holds_kept: HashSet<u32> = HashSet::new();
        let mut doomed = Vec::new();
        for &n in order.iter().rev() {
            // Below a swept directory every path is one this layer wrote or
            // one on the way to such a path: it is kept if anything is below.
            let kept = self.store.layer(n) as usize == layer
                || holds_kept.contains(&n)
                || (self.swept.contains(&n) && self.store.has_children(n))
                || (opaque && n == top);
            if !kept {
                doomed.push(n);
                continue;
            }
            if n != top {
                if let Some(p) = self.store.parent(n) {
                    holds_kept.insert(p);
                }
            }
            if self.store.is_dir(n) {
                self.swept.insert(n);
            }
        }
        if doomed.is_empty() {
            return;
        }
        // Each removal may store two events (the first write, then this one).
        let cost = doomed.len() * 2 * std::mem::size_of::<(Ev, u32)>();
        if self.used() + cost > self.limit {
            self.full = true;
            return;
        }
        let gone: HashSet<u32> = doomed.iter().copied().collect();
        // Parents before children, so each path's record names the path the
        // whiteout deleted it with.
        let mut deleted_with: HashMap<u32, u32> = HashMap::new();
        for &n in doomed.iter().rev() {
            let parent = self.store.parent(n).filter(|p| gone.contains(p));
            let why = match (parent, opaque) {
                (_, true) => Ev::of(layer, E_OPAQUE, u64::from(top)),
                (None, false) => Ev::of(layer, E_WHITEOUT, 0),
                (Some(p), false) => {
                    let by = deleted_with.get(&p).copied().unwrap_or(p);
                    deleted_with.insert(n, by);
                    Ev::of(layer, E_WITH_PARENT, u64::from(by))
                }
            };
            if parent.is_none() {
                deleted_with.insert(n, n);
            }
            let old = self.first_write(n);
            self.record(n, Some(old), why);
        }
        for &n in &doomed {
            self.store.kill(n);
        }
    }

    /// Whether this reading is past its limit (and so full).
    fn over(&mut self) -> bool {
        self.full |= self.used() > self.limit || self.store.overflow();
        self.full
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
            .and_then(|w| match self.store.find(&w.key, false) {
                Some(id) if !self.store.is_dir(id) => Err(ResolveError::NotDir(w.key)),
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
                let kind = self
                    .store
                    .find(&at, false)
                    .map(|id| self.store.node(id).kind.name())
                    .unwrap_or("file");
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
        if let Some(&i) = self.layer_links.get(&link) {
            self.divergences[i].count += 1;
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
        let d = Divergence {
            layer,
            link,
            target,
            through,
            first: path.to_string(),
            extract_at: at.to_string(),
            what,
            count: 1,
        };
        self.divergence_bytes += std::mem::size_of::<Divergence>()
            + 2 * d.link.len()
            + d.target.len()
            + d.through.len()
            + d.first.len()
            + d.extract_at.len();
        self.layer_links
            .insert(d.link.clone(), self.divergences.len());
        self.divergences.push(d);
    }

    /// Makes `dir` (a key) and its ancestors directories, replacing any
    /// non-directory on the way; its record, or `None` past the tree's limits.
    fn ensure_dir(&mut self, dir: &str, layer: usize) -> Option<u32> {
        let mut id = ROOT;
        if dir.is_empty() {
            return Some(id);
        }
        if let Some(id) = self.cached_dir(dir) {
            return Some(id);
        }
        for c in dir.split('/') {
            let next = self.store.insert(id, c)?;
            if !self.store.is_live(next) {
                self.store.set(next, Payload::implicit_dir(layer as u32));
                self.store.make_live(next);
            } else if !self.store.is_dir(next) {
                let old = self.first_write(next);
                let ev = self.replaced(next, layer, D_IMPLICIT, 0);
                self.store.set(next, Payload::implicit_dir(layer as u32));
                self.record(next, Some(old), ev);
            }
            id = next;
        }
        match &mut self.last_dir {
            Some((k, i)) => {
                k.clear();
                k.push_str(dir);
                *i = id;
            }
            None => self.last_dir = Some((dir.to_string(), id)),
        }
        Some(id)
    }

    /// The record of `dir` when it is the directory the last entry went into and
    /// still one.
    fn cached_dir(&self, dir: &str) -> Option<u32> {
        let (k, id) = self.last_dir.as_ref()?;
        (k == dir && self.store.is_live(*id) && self.store.is_dir(*id)).then_some(*id)
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

    fn write(&mut self, layer: usize, e: &RawEntry) {
        if let Some(why) = self.too_long(e) {
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
        let mut p = Payload {
            kind: store::K_FILE,
            aux: 0,
            size: 0,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            layer: layer as u32,
            implicit: false,
        };
        let mut content = None;
        let mut hardlink_of = None;
        match &e.kind {
            EntryKind::File => {
                p.size = e.size;
                content = e.content.clone();
            }
            EntryKind::Dir => p.kind = store::K_DIR,
            EntryKind::Symlink(t) => {
                let Some(r) = self.store.push_str(t) else {
                    return;
                };
                (p.kind, p.aux, p.size) = (store::K_SYMLINK, r.off, u64::from(r.len));
            }
            EntryKind::Other(o) => (p.kind, p.aux) = (store::K_OTHER, self.store.other_index(o)),
            EntryKind::Hardlink(target) => {
                let Some(l) = self.link_target(layer, &e.path, &at, target) else {
                    return;
                };
                (p.kind, p.aux, p.size) = (l.payload.kind, l.payload.aux, l.payload.size);
                content = l.content;
                hardlink_of = Some(l.source);
            }
            // `apply_layer` handles these before they get here.
            EntryKind::Whiteout | EntryKind::Opaque => return,
        }
        let (parent, name) = split_parent(&at);
        let Some(pid) = self.ensure_dir(parent, layer) else {
            return;
        };
        let Some(id) = self.store.insert(pid, name) else {
            return;
        };
        if at != e.path && hardlink_of.is_none() {
            self.store.set_redirected(id, split_parent(&e.path).0);
        } else {
            self.store.clear_redirected(id);
        }
        let (new, val) = described(&p);
        let (old, event) = if !self.store.is_live(id) {
            (
                None,
                Ev {
                    tag: E_ADDED,
                    new,
                    val,
                    ..Ev::of(layer, E_ADDED, 0)
                },
            )
        } else if self.store.is_dir(id) && p.kind == store::K_DIR {
            (Some(self.first_write(id)), Ev::of(layer, E_UPDATED, 0))
        } else {
            if self.store.is_dir(id) {
                self.remove_children(id, Ev::of(layer, E_WITH_PARENT, u64::from(id)));
            }
            (
                Some(self.first_write(id)),
                self.replaced(id, layer, new, val),
            )
        };
        self.record(id, old, event);
        self.store.set(id, p);
        if let Some(c) = content {
            self.store.set_content(id, c);
        }
        if let Some(h) = hardlink_of {
            if let Some(r) = self.store.push_str(&h) {
                self.store.set_hardlink_of(id, r);
            }
        }
        self.store.make_live(id);
    }

    /// What a hard link becomes: a second name for the node its target names at
    /// this point of the layers (a symlink stays a symlink: link(2) does not
    /// follow), with its contents and the layer path that holds its data.
    /// `None`, with an error, when runtimes fail to unpack it.
    fn link_target(&mut self, layer: usize, path: &str, at: &str, target: &str) -> Option<Linked> {
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
        if is_under(&t, at) && self.store.find(at, false).is_some() {
            // Runtimes remove what is at the link's path before they link
            // (umoci, containerd and Docker alike): the target goes with it.
            self.push_finding(fail(format!(
                "which is `{}` itself or below it: runtimes remove that path before linking, and the target with it",
                display(at)
            )));
            return None;
        }
        let Some(tid) = self.store.find(&t, false) else {
            self.push_finding(fail(
                "which does not exist at this point (missing, or only written later)".into(),
            ));
            return None;
        };
        if self.store.is_dir(tid) {
            self.push_finding(fail(
                "which is a directory (hard links to directories are not allowed)".into(),
            ));
            return None;
        }
        let payload = self.store.payload(tid);
        let content = self.store.content(tid).cloned();
        let lower = (payload.layer as usize) < layer;
        let source = match self.store.hardlink_of(tid) {
            Some(h) => h.to_string(),
            None => self.store.redirected(tid).unwrap_or_else(|| t.clone()),
        };
        if lower && self.reading == Reading::Extract {
            let from = self.layer_label(payload.layer as usize);
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
        Some(Linked {
            payload,
            content,
            source,
        })
    }

    /// The node at `path` itself, without following a final symlink.
    pub fn get(&self, path: &str) -> Option<Node<'_>> {
        self.store
            .find(&key(path), false)
            .map(|id| self.store.node(id))
    }

    /// Resolves `path` inside the image root. Intermediate symlinks are always
    /// followed; the last one only when `follow_last`.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<String, ResolveError> {
        self.walk_path(path, follow_last, false, MAX_HOPS, 0)
            .map(|w| w.key)
    }

    /// The one path walker. Work is linear in the components visited: the current
    /// key is one growing buffer and each step is one lookup below the record
    /// reached so far, never a copy of the path per component; each link's
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
        let mut pending: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .rev()
            .collect();
        let mut cur = String::new();
        // Per component of `cur`: where it started, and its record (`None` once
        // the walk is below a missing component).
        let mut stack: Vec<(usize, Option<u32>)> = Vec::new();
        let mut hops = 0;
        let mut expanded = 0;
        let mut lower_link = None;
        while let Some(c) = pending.pop() {
            if c == "." {
                continue;
            }
            if c == ".." {
                if let Some((l, _)) = stack.pop() {
                    cur.truncate(l);
                }
                continue;
            }
            let before = cur.len();
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(c);
            let here = match stack.last() {
                Some((_, id)) => *id,
                None => Some(ROOT),
            };
            let found = here.and_then(|p| self.store.live_child(p, c));
            match found {
                None if lenient => stack.push((before, None)),
                None => return Err(ResolveError::NotFound(cur)),
                Some(id)
                    if self.store.kind(id) == store::K_SYMLINK
                        && (follow_last || !pending.is_empty()) =>
                {
                    let target = self.store.symlink_target(id);
                    hops += 1;
                    // Each hop re-reads a target of up to 2048 components: a budget
                    // on the components read keeps one walk's work bounded even
                    // when every entry of a layer walks through long links.
                    expanded += target.len() / 2 + 1;
                    if hops > max_hops || expanded > MAX_WALK {
                        return Err(ResolveError::Loop(cur));
                    }
                    if lower_link.is_none() && (self.store.layer(id) as usize) < layer {
                        lower_link = Some((cur.clone(), target.to_string()));
                    }
                    cur.truncate(before);
                    if target.starts_with('/') {
                        cur.clear();
                        stack.clear();
                    }
                    pending.extend(
                        target
                            .split('/')
                            .filter(|t| !t.is_empty() && *t != ".")
                            .rev(),
                    );
                }
                Some(id) => {
                    if !pending.is_empty() && !self.store.is_dir(id) {
                        return Err(ResolveError::NotDir(cur));
                    }
                    stack.push((before, Some(id)));
                }
            }
        }
        Ok(Walked {
            key: cur,
            lower_link,
        })
    }

    /// Follows symlinks and returns the final node with its key.
    pub fn lookup(&self, path: &str) -> Result<(String, Node<'_>), ResolveError> {
        let k = self.resolve(path, true)?;
        let id = self
            .store
            .find(&k, false)
            .ok_or_else(|| ResolveError::NotFound(k.clone()))?;
        Ok((k, self.store.node(id)))
    }

    /// Immediate children of a directory key, sorted by name.
    pub fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = (String, Node<'a>)> + 'a {
        let id = self.store.find(dir, false);
        let dir = dir.to_string();
        id.map(|id| self.store.sorted_children(id))
            .unwrap_or_default()
            .into_iter()
            .map(move |c| (join(&dir, self.store.name(c)), self.store.node(c)))
    }

    /// Everything at and below a key, in path order.
    pub fn walk<'a>(&'a self, dir: &str) -> Walk<'a> {
        let mut w = Walk {
            store: &self.store,
            first: None,
            stack: Vec::new(),
            path: String::new(),
        };
        if let Some(id) = self.store.find(dir, false) {
            w.first = Some(id);
            w.path = dir.to_string();
            w.stack.push(Frame {
                tokens: self.store.walk_tokens(id),
                pos: 0,
                restore: dir.len(),
            });
        }
        w
    }

    /// Paths in the tree, the root included.
    pub fn len(&self) -> usize {
        self.store.live()
    }

    pub fn is_empty(&self) -> bool {
        self.store.live() <= 1
    }

    /// The sum of the sizes of the files in the tree.
    pub fn file_bytes(&self) -> u64 {
        self.store.file_bytes()
    }

    /// Every event of `path`, oldest first.
    pub fn history(&self, path: &str) -> Vec<Event> {
        let k = key(path);
        let Some(id) = self.store.find(&k, true) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        match self.history.get(&id) {
            Some(&(first, _)) => {
                let mut at = first;
                while let Some((e, next)) = self.events.get(at as usize) {
                    out.push(Event {
                        layer: e.layer as usize,
                        action: self.action(e),
                    });
                    at = *next;
                }
            }
            None if self.store.is_live(id) => {
                let e = self.first_write(id);
                out.push(Event {
                    layer: e.layer as usize,
                    action: self.action(&e),
                });
            }
            None => {}
        }
        out
    }

    fn last_event(&self, id: u32) -> Option<&Ev> {
        let &(_, last) = self.history.get(&id)?;
        self.events.get(last as usize).map(|(e, _)| e)
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
        if let Some(id) = self.store.find(&k, false) {
            return Some(format!(
                "written by {}",
                self.layer_label(self.store.layer(id) as usize)
            ));
        }
        // Only a path with a record can have a history: start at the deepest one.
        let (mut id, _) = self.store.deepest_record(&k);
        loop {
            if let Some(last) = self.last_event(id) {
                let cur = display(&self.store.key(id));
                let how = match self.action(last) {
                    Action::DeletedByWhiteout => format!("`{cur}` deleted by a whiteout in"),
                    Action::HiddenByOpaque(d) => {
                        format!("`{cur}` hidden by opaque directory `{d}` in")
                    }
                    Action::DeletedWithParent(d) => format!("`{cur}` removed with `{d}` in"),
                    _ => break,
                };
                return Some(format!("{how} {}", self.layer_label(last.layer as usize)));
            }
            id = self.store.parent(id)?;
        }
        None
    }
}

/// How a history event describes a node's payload: its kind tag and value (size,
/// packed link target, or device/other detail). An entry written by a layer is
/// never implicit, so first writes and later writes describe alike.
fn described(p: &Payload) -> (u8, u64) {
    match p.kind {
        store::K_DIR if p.implicit => (D_IMPLICIT, 0),
        store::K_DIR => (D_DIR, 0),
        store::K_FILE => (D_FILE, p.size),
        store::K_SYMLINK => (
            D_SYMLINK,
            pack(StrRef {
                off: p.aux,
                len: p.size as u32,
            }),
        ),
        _ => (D_OTHER, u64::from(p.aux)),
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

    /// A layer whose whiteouts and opaque markers come first in the archive.
    fn layer(entries: Vec<RawEntry>, whiteouts: &[&str], opaques: &[&str]) -> LayerIndex {
        let markers = whiteouts
            .iter()
            .map(|w| entry(w, EntryKind::Whiteout, 0))
            .chain(opaques.iter().map(|d| entry(d, EntryKind::Opaque, 0)));
        in_order(markers.chain(entries).collect())
    }

    /// A layer of entries, whiteouts and opaque markers in this archive order.
    fn in_order(entries: Vec<RawEntry>) -> LayerIndex {
        LayerIndex {
            entries: entries.into(),
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
        let walked: Vec<String> = fs.walk("app").map(|(k, _)| k).collect();
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
        assert_eq!(fs.get("hs").unwrap().kind, Kind::Symlink("f"));
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

    #[test]
    fn walk_and_children_list_in_key_order_whatever_the_names() {
        // Names that sort around `/` (`-`, `.`, `0` and `~` beside it), non-ASCII
        // and escaped bytes: the walk must give exactly the keys' byte order,
        // as a map keyed by full paths would.
        let names = ["a", "a-b", "a.b", "a0", "a~", "\u{e9}", "a\\xff", "b"];
        let mut entries = Vec::new();
        let mut keys = std::collections::BTreeSet::from([String::new()]);
        for x in names {
            for y in names {
                for z in ["a", "a.b"] {
                    let p = format!("{x}/{y}/{z}");
                    keys.extend([x.to_string(), format!("{x}/{y}"), p.clone()]);
                    entries.push(entry(&p, EntryKind::File, 1));
                }
            }
        }
        let mut fs = FlatFs::new(vec![]);
        fs.apply(1, layer(entries, &[], &[]));
        let walked: Vec<String> = fs.walk("").map(|(k, _)| k).collect();
        assert_eq!(walked, keys.iter().cloned().collect::<Vec<_>>());
        let below_a: Vec<String> = fs.walk("a").map(|(k, _)| k).collect();
        let want: Vec<String> = keys.iter().filter(|k| is_under(k, "a")).cloned().collect();
        assert_eq!(below_a, want);
        let kids: Vec<String> = fs.children("a-b").map(|(k, _)| k).collect();
        let want: Vec<String> = names
            .iter()
            .map(|n| format!("a-b/{n}"))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(kids, want);
        assert_eq!(fs.len(), keys.len());
    }

    #[test]
    fn deleted_paths_keep_their_history_and_come_back() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(1, layer(vec![entry("a/b/c", EntryKind::File, 4)], &[], &[]));
        fs.apply(2, layer(vec![], &["a"], &[]));
        assert!(fs.get("a/b").is_none() && fs.len() == 1);
        assert_eq!(
            fs.provenance("/a/b/c/d").unwrap(),
            "`/a/b/c` removed with `/a` in layer 2"
        );
        fs.apply(
            3,
            layer(
                vec![entry("a/b/c", EntryKind::Symlink("x".into()), 0)],
                &[],
                &[],
            ),
        );
        let h: Vec<(usize, Action)> = fs
            .history("a/b/c")
            .into_iter()
            .map(|e| (e.layer, e.action))
            .collect();
        assert_eq!(
            h,
            [
                (1, Action::Added("file, 4 bytes".into())),
                (2, Action::DeletedWithParent("/a".into())),
                (3, Action::Added("symlink -> x".into())),
            ]
        );
        assert_eq!(fs.get("a").unwrap().layer, 3);
        assert!(fs.get("a").unwrap().implicit);
        assert_eq!(fs.walk("").count(), 4);
    }

    #[test]
    fn ids_past_32_bits_and_sizes_past_4_gib_are_kept() {
        let mut e = entry("big", EntryKind::File, 5 << 32);
        (e.uid, e.gid) = (u64::MAX, 1 << 40);
        let mut fs = FlatFs::new(vec![]);
        fs.apply(1, layer(vec![e], &[], &[]));
        let n = fs.get("big").unwrap();
        assert_eq!((n.size, n.uid, n.gid), (5 << 32, u64::MAX, 1 << 40));
        assert_eq!(fs.file_bytes(), 5 << 32);
    }

    #[test]
    fn a_path_costs_well_under_a_hundred_bytes() {
        // The README's figure for the tree itself: records, names, index. A
        // change that makes a path cost more should fail here, not in production.
        let n = 100_000;
        let entries: Vec<RawEntry> = (0..n)
            .map(|i| {
                entry(
                    &format!("usr/share/p{}/file-{i}.txt", i / 1000),
                    EntryKind::File,
                    0,
                )
            })
            .collect();
        let mut fs = FlatFs::new(vec![]);
        fs.apply(1, layer(entries, &[], &[]));
        assert_eq!(fs.len(), n + n / 1000 + 3);
        let per_path = fs.used_all() / fs.len();
        assert!(per_path < 90, "{per_path} bytes a path");
    }

    #[test]
    fn a_tree_past_its_budget_stops_and_says_so() {
        let many = |prefix: &str| -> Vec<RawEntry> {
            (0..5000)
                .map(|i| entry(&format!("{prefix}/f{i}"), EntryKind::File, 0))
                .collect()
        };
        let mut fs = FlatFs::new(vec![]);
        fs.set_budget(100_000);
        fs.apply(1, layer(many("a"), &[], &[]));
        assert!(fs.full());
        assert!(fs.used_all() < 110_000, "{}", fs.used_all());
        let len = fs.len();
        fs.apply(2, layer(many("b"), &[], &[]));
        assert_eq!(fs.len(), len);
        // Within the budget, nothing is left out.
        let mut fs = FlatFs::new(vec![]);
        fs.set_budget(1 << 20);
        fs.apply(1, layer(many("a"), &[], &[]));
        assert!(!fs.full());
        assert_eq!(fs.len(), 5002);
        // A deletion whose history would not fit stops the tree too.
        fs.set_budget(fs.used_all() + 1000);
        fs.apply(2, layer(vec![], &["a"], &[]));
        assert!(fs.full());
    }

    #[test]
    fn paths_written_through_links_remember_the_name_each_came_by() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("real/", EntryKind::Dir, 0),
                    entry("l1", EntryKind::Symlink("real".into()), 0),
                    entry("l2", EntryKind::Symlink("/real".into()), 0),
                ],
                &[],
                &[],
            ),
        );
        let files = ["l1/a", "l2/b", "l1/c", "l2/d/e", "real/f"];
        let entries = files.iter().map(|p| entry(p, EntryKind::File, 1)).collect();
        fs.apply(2, layer(entries, &[], &[]));
        let sources: Vec<String> = ["real/a", "real/b", "real/c", "real/d/e", "real/f"]
            .iter()
            .map(|k| fs.source_path(k))
            .collect();
        assert_eq!(sources, files);
        // Rewritten under its own name, the path is its own source again; a
        // sibling that came through the link keeps its source.
        fs.apply(
            3,
            layer(vec![entry("real/a", EntryKind::File, 2)], &[], &[]),
        );
        assert_eq!(fs.source_path("real/a"), "real/a");
        assert_eq!(fs.source_path("real/c"), "l1/c");
        fs.apply(4, layer(vec![entry("l2/a", EntryKind::File, 3)], &[], &[]));
        assert_eq!(fs.source_path("real/a"), "l2/a");
    }
}
