//! The flattened tree's storage: one fixed-size record per path, with its name in
//! one shared byte buffer and a hash index from (parent, name) to the record.
//!
//! A map from full path strings to nodes costs about 300 bytes a path (the key's
//! allocation repeats every parent's name, the node carries strings of its own,
//! and a B-tree leaves its nodes half full); a record here is 52 bytes plus the
//! bytes of its own name, and the index about 8 more. Rare data (hard-link
//! sources, kept contents, redirections, ids above `u32`) lives in side maps
//! that cost nothing for the paths without it.
//!
//! Records are never freed: a deleted path keeps its record (marked not live) so
//! its history stays reachable by path and a later write reuses it. Live
//! children are linked into their parent's list (doubly, so one deletion is
//! O(1)); lookups go through the index, listings sort a directory's children on
//! demand. The hash is SipHash with a random key: names come from the image, and
//! a predictable hash would let a layer make every lookup collide.
//!
//! The index and the side maps are split in 64 parts: a hash table grows by
//! allocating one twice its size before it frees the old one, and for a table of
//! millions of paths that moment would hold far more than the budget counts.
//! Split, only one part grows at a time.

use super::fs::{Kind, Node};
use hashbrown::HashTable;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

pub const NONE: u32 = u32::MAX;
pub const ROOT: u32 = 0;

/// How many parts the index and the side maps are split in.
const PARTS: usize = 64;

/// A map from record ids, split in parts (see the module's docs).
#[derive(Clone, Debug)]
pub struct IdMap<V> {
    parts: Vec<HashMap<u32, V>>,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            parts: (0..PARTS).map(|_| HashMap::new()).collect(),
        }
    }
}

impl<V> IdMap<V> {
    fn part(&self, id: u32) -> &HashMap<u32, V> {
        &self.parts[id as usize % PARTS]
    }

    fn part_mut(&mut self, id: u32) -> &mut HashMap<u32, V> {
        &mut self.parts[id as usize % PARTS]
    }

    pub fn get(&self, id: &u32) -> Option<&V> {
        self.part(*id).get(id)
    }

    pub fn get_mut(&mut self, id: &u32) -> Option<&mut V> {
        self.part_mut(*id).get_mut(id)
    }

    pub fn insert(&mut self, id: u32, v: V) -> Option<V> {
        self.part_mut(id).insert(id, v)
    }

    pub fn remove(&mut self, id: &u32) -> Option<V> {
        self.part_mut(*id).remove(id)
    }

    /// Every slot's bytes (slots are touched when a table grows).
    pub fn bytes(&self) -> usize {
        self.parts
            .iter()
            .map(|m| m.capacity() * (std::mem::size_of::<(u32, V)>() + 1))
            .sum()
    }
}

pub const K_FILE: u8 = 0;
pub const K_DIR: u8 = 1;
pub const K_SYMLINK: u8 = 2;
pub const K_OTHER: u8 = 3;

const LIVE: u8 = 1;
const IMPLICIT: u8 = 2;
const HARDLINK: u8 = 4;
const CONTENT: u8 = 8;
const REDIRECTED: u8 = 16;
const BIG_IDS: u8 = 32;
/// Redirected from the directory its parent's first redirected child came from
/// (`dir_sources`): no map entry of its own.
const INHERITS: u8 = 64;

#[derive(Clone, Copy, Debug)]
struct Rec {
    parent: u32,
    name: u32,
    name_len: u32,
    first_child: u32,
    next: u32,
    prev: u32,
    layer: u32,
    /// A symlink's target (an offset into `strs`; its length is in `size`, since
    /// a symlink's size is 0), or an `Other` kind's index into `others`.
    aux: u32,
    size: [u32; 2],
    uid: u32,
    gid: u32,
    mode: u16,
    kind: u8,
    flags: u8,
}

/// A string held in `strs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrRef {
    pub off: u32,
    pub len: u32,
}

/// What a path holds, without its name and place.
#[derive(Clone, Copy, Debug)]
pub struct Payload {
    pub kind: u8,
    /// See `Rec::aux`.
    pub aux: u32,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub layer: u32,
    pub implicit: bool,
}

impl Payload {
    pub fn implicit_dir(layer: u32) -> Payload {
        Payload {
            kind: K_DIR,
            aux: 0,
            size: 0,
            mode: 0o755,
            uid: 0,
            gid: 0,
            layer,
            implicit: true,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    recs: Vec<Rec>,
    names: Vec<u8>,
    /// Symlink targets, hard-link sources and redirection sources.
    strs: Vec<u8>,
    index: Vec<HashTable<u32>>,
    hasher: RandomState,
    live: usize,
    others: Vec<&'static str>,
    hardlink_of: IdMap<StrRef>,
    content: IdMap<Arc<[u8]>>,
    /// Where a redirected path's data came from: the layer's parent directory
    /// of it (its name is the record's own).
    redirected: IdMap<StrRef>,
    /// Per directory, the layer directory its first redirected child came from,
    /// never changed after: a layer writing a whole directory through a lower
    /// symlink costs a flag per path (`INHERITS`), not a map entry.
    dir_sources: IdMap<StrRef>,
    /// The last redirection source pushed: paths of one directory share it.
    last_redirect: Option<StrRef>,
    big_ids: IdMap<(u64, u64)>,
    /// Set when a record id or a buffer offset would not fit in `u32` (the tree's
    /// byte budget is far below that, so only a bug gets here): nothing more is
    /// stored, and the tree is reported as too large rather than wrong.
    overflow: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("records", &self.recs.len())
            .field("live", &self.live)
            .field("name_bytes", &self.names.len())
            .field("str_bytes", &self.strs.len())
            .finish_non_exhaustive()
    }
}

impl Default for Store {
    fn default() -> Self {
        let mut s = Store {
            recs: Vec::new(),
            names: Vec::new(),
            strs: Vec::new(),
            index: (0..PARTS).map(|_| HashTable::new()).collect(),
            hasher: RandomState::new(),
            live: 0,
            others: Vec::new(),
            hardlink_of: IdMap::default(),
            content: IdMap::default(),
            redirected: IdMap::default(),
            dir_sources: IdMap::default(),
            last_redirect: None,
            big_ids: IdMap::default(),
            overflow: false,
        };
        s.recs.push(Rec {
            parent: NONE,
            name: 0,
            name_len: 0,
            first_child: NONE,
            next: NONE,
            prev: NONE,
            layer: 0,
            aux: 0,
            size: [0, 0],
            uid: 0,
            gid: 0,
            mode: 0,
            kind: K_DIR,
            flags: 0,
        });
        s.set(ROOT, Payload::implicit_dir(0));
        s.make_live(ROOT);
        s
    }
}

impl Store {
    pub fn overflow(&self) -> bool {
        self.overflow
    }

    pub fn live(&self) -> usize {
        self.live
    }

    /// The bytes the store holds, as the tree's budget counts them: what is
    /// written (a growing buffer's untouched spare room is not resident), and
    /// every slot of the hash tables (they are touched when they grow).
    pub fn bytes(&self) -> usize {
        let index: usize = self
            .index
            .iter()
            .map(|t| t.capacity() * (std::mem::size_of::<u32>() + 1) * 8 / 7)
            .sum();
        self.recs.len() * std::mem::size_of::<Rec>()
            + self.names.len()
            + self.strs.len()
            + index
            + self.hardlink_of.bytes()
            + self.content.bytes()
            + self.redirected.bytes()
            + self.dir_sources.bytes()
            + self.big_ids.bytes()
    }

    fn hash(&self, parent: u32, name: &[u8]) -> u64 {
        self.hasher.hash_one((parent, name))
    }

    pub fn name(&self, id: u32) -> &str {
        let r = &self.recs[id as usize];
        // Names are pushed whole from `&str`s, so these bounds are on character
        // boundaries.
        let bytes = &self.names[r.name as usize..(r.name + r.name_len) as usize];
        std::str::from_utf8(bytes).unwrap_or("")
    }

    fn name_bytes(&self, id: u32) -> &[u8] {
        let r = &self.recs[id as usize];
        &self.names[r.name as usize..(r.name + r.name_len) as usize]
    }

    pub fn parent(&self, id: u32) -> Option<u32> {
        let p = self.recs[id as usize].parent;
        (p != NONE).then_some(p)
    }

    pub fn is_live(&self, id: u32) -> bool {
        self.recs[id as usize].flags & LIVE != 0
    }

    pub fn kind(&self, id: u32) -> u8 {
        self.recs[id as usize].kind
    }

    pub fn is_dir(&self, id: u32) -> bool {
        self.recs[id as usize].kind == K_DIR
    }

    pub fn layer(&self, id: u32) -> u32 {
        self.recs[id as usize].layer
    }

    /// The record named `name` below `parent`, live or not.
    pub fn child(&self, parent: u32, name: &str) -> Option<u32> {
        self.child_hashed(parent, name, self.hash(parent, name.as_bytes()))
    }

    /// The part of the index a hash belongs to: bits the table itself does not
    /// use (it takes the low bits for the slot and the top seven as a tag).
    fn part(h: u64) -> usize {
        (h >> 32) as usize % PARTS
    }

    fn child_hashed(&self, parent: u32, name: &str, h: u64) -> Option<u32> {
        self.index[Self::part(h)]
            .find(h, |&id| {
                let r = &self.recs[id as usize];
                r.parent == parent && self.name_bytes(id) == name.as_bytes()
            })
            .copied()
    }

    /// The live node named `name` below `parent`.
    pub fn live_child(&self, parent: u32, name: &str) -> Option<u32> {
        self.child(parent, name).filter(|&c| self.is_live(c))
    }

    /// The record for `name` below `parent`, made (not live) when missing;
    /// `None` past a limit.
    pub fn insert(&mut self, parent: u32, name: &str) -> Option<u32> {
        let h = self.hash(parent, name.as_bytes());
        if let Some(id) = self.child_hashed(parent, name, h) {
            return Some(id);
        }
        if self.recs.len() >= NONE as usize - 1 || self.names.len() + name.len() > u32::MAX as usize
        {
            self.overflow = true;
            return None;
        }
        let id = self.recs.len() as u32;
        let off = self.names.len() as u32;
        self.names.extend_from_slice(name.as_bytes());
        self.recs.push(Rec {
            parent,
            name: off,
            name_len: name.len() as u32,
            first_child: NONE,
            next: NONE,
            prev: NONE,
            layer: 0,
            aux: 0,
            size: [0, 0],
            uid: 0,
            gid: 0,
            mode: 0,
            kind: K_FILE,
            flags: 0,
        });
        let (recs, names, hasher) = (&self.recs, &self.names, &self.hasher);
        self.index[Self::part(h)].insert_unique(h, id, |&other| {
            let r = &recs[other as usize];
            hasher.hash_one((
                r.parent,
                &names[r.name as usize..(r.name + r.name_len) as usize],
            ))
        });
        Some(id)
    }

    /// The record of a key (`a/b/c`, the root is `""`), following the literal
    /// components: live only, or any record when `any`.
    pub fn find(&self, key: &str, any: bool) -> Option<u32> {
        if key.is_empty() {
            return Some(ROOT);
        }
        let mut id = ROOT;
        for c in key.split('/') {
            id = self.child(id, c)?;
            if !any && !self.is_live(id) {
                return None;
            }
        }
        Some(id)
    }

    /// The deepest record on the way to `key`, with whether it is `key` itself.
    pub fn deepest_record(&self, key: &str) -> (u32, bool) {
        if key.is_empty() {
            return (ROOT, true);
        }
        let mut id = ROOT;
        for c in key.split('/') {
            match self.child(id, c) {
                Some(next) => id = next,
                None => return (id, false),
            }
        }
        (id, true)
    }

    /// The key of a record: its names from the root down.
    pub fn key(&self, id: u32) -> String {
        let mut ids = Vec::new();
        let mut cur = id;
        while cur != ROOT && cur != NONE {
            ids.push(cur);
            cur = self.recs[cur as usize].parent;
        }
        let mut out = String::new();
        for (i, &c) in ids.iter().rev().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(self.name(c));
        }
        out
    }

    pub fn push_str(&mut self, s: &str) -> Option<StrRef> {
        if self.strs.len() + s.len() > u32::MAX as usize {
            self.overflow = true;
            return None;
        }
        let off = self.strs.len() as u32;
        self.strs.extend_from_slice(s.as_bytes());
        Some(StrRef {
            off,
            len: s.len() as u32,
        })
    }

    pub fn str(&self, r: StrRef) -> &str {
        std::str::from_utf8(&self.strs[r.off as usize..(r.off + r.len) as usize]).unwrap_or("")
    }

    pub fn other_index(&mut self, name: &'static str) -> u32 {
        match self.others.iter().position(|o| *o == name) {
            Some(i) => i as u32,
            None => {
                self.others.push(name);
                (self.others.len() - 1) as u32
            }
        }
    }

    pub fn other_name(&self, i: u32) -> Option<&'static str> {
        self.others.get(i as usize).copied()
    }

    /// A symlink's target (empty for any other kind).
    pub fn symlink_target(&self, id: u32) -> &str {
        let r = &self.recs[id as usize];
        if r.kind != K_SYMLINK {
            return "";
        }
        self.str(StrRef {
            off: r.aux,
            len: r.size[0],
        })
    }

    /// The payload of a record as stored (a symlink's target length in `size`).
    pub fn payload(&self, id: u32) -> Payload {
        let r = &self.recs[id as usize];
        let (uid, gid) = if r.flags & BIG_IDS != 0 {
            self.big_ids
                .get(&id)
                .copied()
                .unwrap_or((r.uid.into(), r.gid.into()))
        } else {
            (r.uid.into(), r.gid.into())
        };
        Payload {
            kind: r.kind,
            aux: r.aux,
            size: u64::from(r.size[0]) | (u64::from(r.size[1]) << 32),
            mode: r.mode.into(),
            uid,
            gid,
            layer: r.layer,
            implicit: r.flags & IMPLICIT != 0,
        }
    }

    /// Replaces what `id` holds; its hard-link source and contents go with it.
    pub fn set(&mut self, id: u32, p: Payload) {
        let r = &mut self.recs[id as usize];
        let big = p.uid > u32::MAX.into() || p.gid > u32::MAX.into();
        r.kind = p.kind;
        r.aux = p.aux;
        r.size = [p.size as u32, (p.size >> 32) as u32];
        // Tar modes are masked to 0o7777 when read.
        r.mode = p.mode as u16;
        r.uid = p.uid as u32;
        r.gid = p.gid as u32;
        r.layer = p.layer;
        let had = r.flags;
        r.flags &= LIVE | REDIRECTED | INHERITS;
        if p.implicit {
            r.flags |= IMPLICIT;
        }
        if big {
            r.flags |= BIG_IDS;
        }
        if had & HARDLINK != 0 {
            self.hardlink_of.remove(&id);
        }
        if had & CONTENT != 0 {
            self.content.remove(&id);
        }
        if big {
            self.big_ids.insert(id, (p.uid, p.gid));
        } else if had & BIG_IDS != 0 {
            self.big_ids.remove(&id);
        }
    }

    pub fn set_hardlink_of(&mut self, id: u32, src: StrRef) {
        self.recs[id as usize].flags |= HARDLINK;
        self.hardlink_of.insert(id, src);
    }

    pub fn hardlink_of(&self, id: u32) -> Option<&str> {
        if self.recs[id as usize].flags & HARDLINK == 0 {
            return None;
        }
        self.hardlink_of.get(&id).map(|r| self.str(*r))
    }

    pub fn set_content(&mut self, id: u32, c: Arc<[u8]>) {
        self.recs[id as usize].flags |= CONTENT;
        self.content.insert(id, c);
    }

    pub fn content(&self, id: u32) -> Option<&Arc<[u8]>> {
        if self.recs[id as usize].flags & CONTENT == 0 {
            return None;
        }
        self.content.get(&id)
    }

    /// Remembers that `id`'s data came from `parent/NAME` in the layer (`NAME`
    /// being its own name). Paths of one directory share the string, and the
    /// directory remembers the first one, so its other children need no entry.
    pub fn set_redirected(&mut self, id: u32, parent: &str) {
        self.clear_redirected(id);
        let pid = self.recs[id as usize].parent;
        let dir = self.dir_sources.get(&pid).copied();
        if dir.is_some_and(|r| self.str(r) == parent) {
            self.recs[id as usize].flags |= INHERITS;
            return;
        }
        let r = match self.last_redirect.filter(|r| self.str(*r) == parent) {
            Some(r) => r,
            None => match self.push_str(parent) {
                Some(r) => r,
                None => return,
            },
        };
        self.last_redirect = Some(r);
        if dir.is_none() {
            self.dir_sources.insert(pid, r);
            self.recs[id as usize].flags |= INHERITS;
        } else {
            self.recs[id as usize].flags |= REDIRECTED;
            self.redirected.insert(id, r);
        }
    }

    pub fn clear_redirected(&mut self, id: u32) {
        let r = &mut self.recs[id as usize];
        r.flags &= !INHERITS;
        if r.flags & REDIRECTED != 0 {
            r.flags &= !REDIRECTED;
            self.redirected.remove(&id);
        }
    }

    /// The layer path `id`'s data came from, if it was redirected.
    pub fn redirected(&self, id: u32) -> Option<String> {
        let r = &self.recs[id as usize];
        let src = if r.flags & INHERITS != 0 {
            self.dir_sources.get(&r.parent)?
        } else if r.flags & REDIRECTED != 0 {
            self.redirected.get(&id)?
        } else {
            return None;
        };
        let parent = self.str(*src);
        let name = self.name(id);
        Some(if parent.is_empty() {
            name.to_string()
        } else {
            format!("{parent}/{name}")
        })
    }

    /// Links `id` into its parent's list of live children.
    pub fn make_live(&mut self, id: u32) {
        if self.is_live(id) {
            return;
        }
        self.live += 1;
        let parent = self.recs[id as usize].parent;
        let r = &mut self.recs[id as usize];
        r.flags |= LIVE;
        if parent == NONE {
            return;
        }
        let head = self.recs[parent as usize].first_child;
        let r = &mut self.recs[id as usize];
        r.prev = NONE;
        r.next = head;
        if head != NONE {
            self.recs[head as usize].prev = id;
        }
        self.recs[parent as usize].first_child = id;
    }

    /// Unlinks `id` from its parent's list; its own children stay linked to it
    /// (the caller kills them too). Kept contents and the hard-link source go.
    pub fn kill(&mut self, id: u32) {
        if !self.is_live(id) || id == ROOT {
            return;
        }
        self.live -= 1;
        let Rec {
            parent, prev, next, ..
        } = self.recs[id as usize];
        if prev != NONE {
            self.recs[prev as usize].next = next;
        } else if parent != NONE {
            self.recs[parent as usize].first_child = next;
        }
        if next != NONE {
            self.recs[next as usize].prev = prev;
        }
        let r = &mut self.recs[id as usize];
        r.flags &= !LIVE;
        r.prev = NONE;
        r.next = NONE;
        if r.flags & CONTENT != 0 {
            r.flags &= !CONTENT;
            self.content.remove(&id);
        }
        if r.flags & HARDLINK != 0 {
            r.flags &= !HARDLINK;
            self.hardlink_of.remove(&id);
        }
    }

    /// The live children of `id`, in no particular order.
    pub fn children(&self, id: u32) -> impl Iterator<Item = u32> + '_ {
        let mut cur = self.recs[id as usize].first_child;
        std::iter::from_fn(move || {
            (cur != NONE).then(|| {
                let c = cur;
                cur = self.recs[c as usize].next;
                c
            })
        })
    }

    pub fn has_children(&self, id: u32) -> bool {
        self.recs[id as usize].first_child != NONE
    }

    /// The live children of `id`, sorted by name (byte order, as keys sort).
    pub fn sorted_children(&self, id: u32) -> Vec<u32> {
        let mut v: Vec<u32> = self.children(id).collect();
        v.sort_unstable_by(|&a, &b| self.name_bytes(a).cmp(self.name_bytes(b)));
        v
    }

    /// Every live node at and below `id` (not in path order).
    pub fn subtree(&self, id: u32) -> Vec<u32> {
        let mut out = vec![id];
        let mut i = 0;
        while i < out.len() {
            let c = out[i];
            out.extend(self.children(c));
            i += 1;
        }
        out
    }

    /// Sum of the sizes of live files.
    pub fn file_bytes(&self) -> u64 {
        self.recs
            .iter()
            .filter(|r| r.flags & LIVE != 0 && r.kind == K_FILE)
            .map(|r| u64::from(r.size[0]) | (u64::from(r.size[1]) << 32))
            .sum()
    }

    /// The public view of a record.
    pub fn node(&self, id: u32) -> Node<'_> {
        let p = self.payload(id);
        let kind = match p.kind {
            K_FILE => Kind::File,
            K_DIR => Kind::Dir,
            K_SYMLINK => Kind::Symlink(self.str(StrRef {
                off: p.aux,
                len: p.size as u32,
            })),
            _ => Kind::Other(self.others.get(p.aux as usize).copied().unwrap_or("other")),
        };
        Node {
            kind,
            size: if p.kind == K_FILE { p.size } else { 0 },
            mode: p.mode,
            uid: p.uid,
            gid: p.gid,
            layer: p.layer as usize,
            implicit: p.implicit,
            hardlink_of: self.hardlink_of(id),
            content: self.content(id).cloned(),
        }
    }

    /// The order in which `walk` visits a directory: each child `c` stands for
    /// itself (sorting as `c`) and for the block of paths below it (sorting as
    /// `c/`), since `app-old` sorts between `app` and `app/…`.
    pub fn walk_tokens(&self, dir: u32) -> Vec<(u32, bool)> {
        let mut t: Vec<(u32, bool)> = Vec::new();
        for c in self.children(dir) {
            t.push((c, false));
            if self.has_children(c) {
                t.push((c, true));
            }
        }
        t.sort_unstable_by(|&(a, ab), &(b, bb)| {
            let sa: &[u8] = if ab { b"/" } else { b"" };
            let sb: &[u8] = if bb { b"/" } else { b"" };
            self.name_bytes(a)
                .iter()
                .chain(sa)
                .cmp(self.name_bytes(b).iter().chain(sb))
        });
        t
    }
}
