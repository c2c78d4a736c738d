//! A layer's listing, packed: every entry, whiteout and opaque marker of a layer is
//! held from the moment it is read until the layer is merged into the tree, and all
//! layers are read in parallel, so this is where memory goes before the merge.
//!
//! Paths are front-coded (each path stores only what differs from the one before
//! it, and tar archives list a directory's files together), and the numbers are
//! LEB128 varints: a typical entry takes 10 to 20 bytes instead of a `RawEntry`
//! with its own allocations (about 150). Reading is sequential through a cursor
//! that reuses one `RawEntry`, so applying a layer allocates nothing per entry.

use super::layer::{EntryKind, RawEntry};
use std::sync::Arc;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

/// The length of the common prefix of `a` and `b`, on a character boundary of both.
fn shared_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(n) {
        n -= 1;
    }
    n
}

const T_FILE: u8 = 0;
const T_DIR: u8 = 1;
const T_SYMLINK: u8 = 2;
const T_HARDLINK: u8 = 3;
const T_OTHER: u8 = 4;
const T_WHITEOUT: u8 = 5;
const T_OPAQUE: u8 = 6;
const F_CONTENT: u8 = 0x10;

/// A layer's entries in archive order.
#[derive(Debug, Default, Clone)]
pub struct Entries {
    /// Per entry: a tag byte (kind, whether contents were kept), then varints:
    /// shared path prefix, path suffix length, mode, uid, gid, size, and the link
    /// target's length or the index of an `Other` kind's name.
    meta: Vec<u8>,
    /// Path suffixes and link targets, in entry order.
    text: String,
    contents: Vec<Arc<[u8]>>,
    content_bytes: usize,
    others: Vec<&'static str>,
    last: String,
    len: usize,
}

impl Entries {
    pub fn push(&mut self, e: RawEntry) {
        let (tag, target) = match &e.kind {
            EntryKind::File => (T_FILE, None),
            EntryKind::Dir => (T_DIR, None),
            EntryKind::Symlink(t) => (T_SYMLINK, Some(t.as_str())),
            EntryKind::Hardlink(t) => (T_HARDLINK, Some(t.as_str())),
            EntryKind::Other(_) => (T_OTHER, None),
            EntryKind::Whiteout => (T_WHITEOUT, None),
            EntryKind::Opaque => (T_OPAQUE, None),
        };
        let flag = if e.content.is_some() { F_CONTENT } else { 0 };
        self.meta.push(tag | flag);
        let shared = shared_prefix(&self.last, &e.path);
        put_varint(&mut self.meta, shared as u64);
        put_varint(&mut self.meta, (e.path.len() - shared) as u64);
        put_varint(&mut self.meta, u64::from(e.mode));
        put_varint(&mut self.meta, e.uid);
        put_varint(&mut self.meta, e.gid);
        put_varint(&mut self.meta, e.size);
        self.text.push_str(&e.path[shared..]);
        if let Some(t) = target {
            put_varint(&mut self.meta, t.len() as u64);
            self.text.push_str(t);
        }
        if let EntryKind::Other(o) = e.kind {
            let i = match self.others.iter().position(|x| *x == o) {
                Some(i) => i,
                None => {
                    self.others.push(o);
                    self.others.len() - 1
                }
            };
            put_varint(&mut self.meta, i as u64);
        }
        if let Some(c) = e.content {
            self.content_bytes += c.len();
            self.contents.push(c);
        }
        self.last.clear();
        self.last.push_str(&e.path);
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held, kept contents included, as the listing budget counts them.
    pub fn bytes(&self) -> usize {
        self.meta.len() + self.text.len() + self.content_bytes
    }

    /// Gives back the room a growing buffer kept spare.
    pub fn shrink_to_fit(&mut self) {
        self.meta.shrink_to_fit();
        self.text.shrink_to_fit();
        self.last = String::new();
    }

    pub fn cursor(&self) -> EntryCursor<'_> {
        EntryCursor {
            entries: self,
            meta: 0,
            text: 0,
            content: 0,
            left: self.len,
            cur: RawEntry {
                path: String::new(),
                kind: EntryKind::File,
                size: 0,
                mode: 0,
                uid: 0,
                gid: 0,
                content: None,
            },
        }
    }

    /// Every entry, allocated one by one (for tests, fuzzing and small layers).
    pub fn to_vec(&self) -> Vec<RawEntry> {
        let mut c = self.cursor();
        let mut out = Vec::with_capacity(self.len);
        while let Some(e) = c.next_entry() {
            out.push(e.clone());
        }
        out
    }
}

impl FromIterator<RawEntry> for Entries {
    fn from_iter<I: IntoIterator<Item = RawEntry>>(iter: I) -> Self {
        let mut es = Entries::default();
        for e in iter {
            es.push(e);
        }
        es
    }
}

impl From<Vec<RawEntry>> for Entries {
    fn from(v: Vec<RawEntry>) -> Self {
        v.into_iter().collect()
    }
}

/// A checked reader over bytes that did not come from this process (a layer
/// cache file): every read is bounds-checked and says `None` instead of
/// panicking or reading past the end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn done(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub(crate) fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// A LEB128 varint of at most ten bytes that fits in a `u64`.
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return None;
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// A varint length, then that many bytes.
    pub(crate) fn blob(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.bytes(n)
    }

    pub(crate) fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.blob()?).ok()
    }
}

pub(crate) fn put_blob(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    put_varint(out, v);
}

/// The names of `Other` kinds the reader makes: a decoded listing may only
/// name these (the kind holds a `&'static str`).
const OTHER_KINDS: [&str; 3] = ["char-device", "block-device", "fifo"];

impl Entries {
    /// Appends the listing to `out`, for [`Entries::decode`] to read back.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u64(out, self.len as u64);
        put_blob(out, &self.meta);
        put_blob(out, self.text.as_bytes());
        put_u64(out, self.others.len() as u64);
        for o in &self.others {
            put_blob(out, o.as_bytes());
        }
        put_u64(out, self.contents.len() as u64);
        for c in &self.contents {
            put_blob(out, c);
        }
    }

    /// Reads a listing [`Entries::encode`] wrote, checking all of it first: the
    /// cursor trusts its buffers, so anything that could make it read out of
    /// bounds, split a character, or hand the tree a path the reader never
    /// makes (empty components, `.`, `..`) is refused here as `None`.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Option<Entries> {
        let len = usize::try_from(r.varint()?).ok()?;
        let meta = r.blob()?.to_vec();
        let text = r.text()?.to_string();
        let n_others = r.varint()?;
        let mut others = Vec::new();
        for _ in 0..n_others {
            let o = r.text()?;
            others.push(*OTHER_KINDS.iter().find(|k| **k == o)?);
        }
        let n_contents = r.varint()?;
        let mut contents: Vec<Arc<[u8]>> = Vec::new();
        let mut content_bytes = 0usize;
        for _ in 0..n_contents {
            let c = r.blob()?;
            content_bytes += c.len();
            contents.push(Arc::from(c));
        }
        let last = validate(len, &meta, &text, &others, &contents)?;
        Some(Entries {
            meta,
            text,
            contents,
            content_bytes,
            others,
            last,
            len,
        })
    }
}

/// Walks a packed listing as the cursor would, with every bound checked; gives
/// the last path (what `push` front-codes against next).
fn validate(
    len: usize,
    meta: &[u8],
    text: &str,
    others: &[&str],
    contents: &[Arc<[u8]>],
) -> Option<String> {
    let mut m = Reader::new(meta);
    let mut t = 0usize;
    let mut c = 0usize;
    let mut path = String::new();
    let slice = |n: u64, t: &mut usize| -> Option<&str> {
        let n = usize::try_from(n).ok()?;
        let end = t.checked_add(n)?;
        let s = text.get(*t..end)?;
        *t = end;
        Some(s)
    };
    for _ in 0..len {
        let tag = m.byte()?;
        let kind = tag & 0x0f;
        if tag & !(0x0f | F_CONTENT) != 0 || kind > T_OPAQUE {
            return None;
        }
        let shared = usize::try_from(m.varint()?).ok()?;
        let n = m.varint()?;
        u32::try_from(m.varint()?).ok()?;
        m.varint()?;
        m.varint()?;
        let size = m.varint()?;
        if !path.is_char_boundary(shared) || shared > path.len() {
            return None;
        }
        path.truncate(shared);
        path.push_str(slice(n, &mut t)?);
        let normal = path.split('/').all(|p| !matches!(p, "" | "." | ".."));
        if !(normal || kind == T_OPAQUE && path.is_empty()) {
            return None;
        }
        match kind {
            T_SYMLINK | T_HARDLINK => {
                let n = m.varint()?;
                slice(n, &mut t)?;
            }
            T_OTHER => {
                others.get(usize::try_from(m.varint()?).ok()?)?;
            }
            _ => {}
        }
        if tag & F_CONTENT != 0 {
            let len = contents.get(c)?.len() as u64;
            // A file's contents are whole, or its head (`Keep::Head`).
            let head = len == super::contents::HEAD_BYTES && size > len;
            if kind != T_FILE || len != size && !head {
                return None;
            }
            c += 1;
        }
    }
    (m.done() && t == text.len() && c == contents.len()).then_some(path)
}

/// Reads [`Entries`] in order into one reused `RawEntry`.
pub struct EntryCursor<'a> {
    entries: &'a Entries,
    meta: usize,
    text: usize,
    content: usize,
    left: usize,
    cur: RawEntry,
}

impl EntryCursor<'_> {
    pub fn next_entry(&mut self) -> Option<&RawEntry> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let es = self.entries;
        let meta = &es.meta[..];
        let tag = meta[self.meta];
        self.meta += 1;
        let shared = get_varint(meta, &mut self.meta) as usize;
        let n = get_varint(meta, &mut self.meta) as usize;
        let e = &mut self.cur;
        e.mode = get_varint(meta, &mut self.meta) as u32;
        e.uid = get_varint(meta, &mut self.meta);
        e.gid = get_varint(meta, &mut self.meta);
        e.size = get_varint(meta, &mut self.meta);
        e.path.truncate(shared);
        e.path.push_str(&es.text[self.text..self.text + n]);
        self.text += n;
        // Reuse the previous link target's buffer.
        let mut t = match std::mem::replace(&mut e.kind, EntryKind::File) {
            EntryKind::Symlink(s) | EntryKind::Hardlink(s) => s,
            _ => String::new(),
        };
        e.kind = match tag & 0x0f {
            T_DIR => EntryKind::Dir,
            T_WHITEOUT => EntryKind::Whiteout,
            T_OPAQUE => EntryKind::Opaque,
            T_SYMLINK | T_HARDLINK => {
                let n = get_varint(meta, &mut self.meta) as usize;
                t.clear();
                t.push_str(&es.text[self.text..self.text + n]);
                self.text += n;
                if tag & 0x0f == T_SYMLINK {
                    EntryKind::Symlink(t)
                } else {
                    EntryKind::Hardlink(t)
                }
            }
            T_OTHER => {
                let i = get_varint(meta, &mut self.meta) as usize;
                EntryKind::Other(es.others.get(i).copied().unwrap_or("other"))
            }
            _ => EntryKind::File,
        };
        e.content = if tag & F_CONTENT != 0 {
            let c = es.contents.get(self.content).cloned();
            self.content += 1;
            c
        } else {
            None
        };
        Some(&self.cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: EntryKind, size: u64, content: Option<&[u8]>) -> RawEntry {
        RawEntry {
            path: path.into(),
            kind,
            size,
            mode: 0o4755,
            uid: u64::MAX,
            gid: 1 << 40,
            content: content.map(Arc::from),
        }
    }

    #[test]
    fn entries_read_back_exactly_as_pushed() {
        let v = vec![
            e("usr/share/caf\u{e9}/a", EntryKind::File, 3, Some(b"abc")),
            e("usr/share/caf\u{e8}/b", EntryKind::Dir, 0, None),
            e(
                "usr/share/l",
                EntryKind::Symlink("../x\u{e9}".into()),
                0,
                None,
            ),
            e("usr/h", EntryKind::Hardlink("usr/share/l".into()), 0, None),
            e("dev/null", EntryKind::Other("char-device"), 0, None),
            e("dev/fifo", EntryKind::Other("fifo"), 0, None),
            e("z", EntryKind::File, u64::MAX, Some(b"")),
            e("z\\xff", EntryKind::File, 1 << 35, None),
        ];
        let packed: Entries = v.clone().into();
        assert_eq!(packed.len(), v.len());
        let got = packed.to_vec();
        for (a, b) in got.iter().zip(&v) {
            assert_eq!(
                (&a.path, &a.kind, a.size, a.mode, a.uid, a.gid),
                (&b.path, &b.kind, b.size, b.mode, b.uid, b.gid)
            );
            assert_eq!(a.content.as_deref(), b.content.as_deref());
        }
        assert_eq!(got.len(), v.len());
    }

    fn sample() -> Vec<RawEntry> {
        vec![
            e("usr/share/caf\u{e9}/a", EntryKind::File, 3, Some(b"abc")),
            e("usr/share/caf\u{e8}/b", EntryKind::Dir, 0, None),
            e("usr/share/l", EntryKind::Symlink("../x".into()), 0, None),
            e("usr/h", EntryKind::Hardlink("usr/share/l".into()), 0, None),
            e("dev/null", EntryKind::Other("char-device"), 0, None),
            e("usr/share", EntryKind::Whiteout, 0, None),
            e("", EntryKind::Opaque, 0, None),
            e("z", EntryKind::File, 2, Some(b"hi")),
        ]
    }

    #[test]
    fn encoded_entries_decode_to_the_same_listing() {
        let v = sample();
        let packed: Entries = v.clone().into();
        let mut buf = Vec::new();
        packed.encode(&mut buf);
        let mut r = Reader::new(&buf);
        let back = Entries::decode(&mut r).unwrap();
        assert!(r.done());
        assert_eq!(back.bytes(), packed.bytes());
        let got = back.to_vec();
        assert_eq!(got.len(), v.len());
        for (a, b) in got.iter().zip(&v) {
            assert_eq!(
                (&a.path, &a.kind, a.size, a.mode, a.uid, a.gid),
                (&b.path, &b.kind, b.size, b.mode, b.uid, b.gid)
            );
            assert_eq!(a.content.as_deref(), b.content.as_deref());
        }
    }

    /// A file's kept contents are whole or its head (`static = true`); any other
    /// length in a cache entry is damage.
    #[test]
    fn decoding_accepts_whole_contents_and_heads_only() {
        let head = vec![0x7f; crate::image::contents::HEAD_BYTES as usize];
        let decodes = |size: u64, content: &[u8]| {
            let packed: Entries = vec![e("bin/x", EntryKind::File, size, Some(content))].into();
            let mut buf = Vec::new();
            packed.encode(&mut buf);
            Entries::decode(&mut Reader::new(&buf)).is_some()
        };
        assert!(decodes(3, b"abc"));
        assert!(decodes(40 << 20, &head));
        assert!(!decodes(40 << 20, &head[1..]));
        assert!(!decodes(4, b"abc"));
        // A head is only ever shorter than its file.
        assert!(!decodes(head.len() as u64 - 1, &head));
    }

    /// Every truncation and every single-byte change of an encoded listing
    /// either decodes to something the cursor walks without panicking or is
    /// refused: the checksum in front of a cache entry is not what keeps the
    /// cursor in bounds.
    #[test]
    fn decoding_damaged_listings_never_panics() {
        let packed: Entries = sample().into();
        let mut buf = Vec::new();
        packed.encode(&mut buf);
        for cut in 0..buf.len() {
            assert!(
                Entries::decode(&mut Reader::new(&buf[..cut])).is_none(),
                "{cut}"
            );
        }
        for i in 0..buf.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut b = buf.clone();
                b[i] ^= flip;
                if let Some(es) = Entries::decode(&mut Reader::new(&b)) {
                    let _ = es.to_vec();
                }
            }
        }
        // A path that climbs out, or a name the reader never makes, is refused.
        for bad in ["a/../b", "a//b", "./a", "", "a/"] {
            let mut es = Entries::default();
            es.push(e(bad, EntryKind::File, 0, None));
            let mut b = Vec::new();
            es.encode(&mut b);
            assert!(Entries::decode(&mut Reader::new(&b)).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn varints_past_u64_are_refused() {
        assert_eq!(
            Reader::new(&[0xff; 9].iter().chain(&[1]).copied().collect::<Vec<_>>()).varint(),
            Some(u64::MAX)
        );
        assert_eq!(
            Reader::new(&[0xff; 9].iter().chain(&[2]).copied().collect::<Vec<_>>()).varint(),
            None
        );
        assert_eq!(Reader::new(&[0x80; 11]).varint(), None);
        assert_eq!(Reader::new(&[0x80]).varint(), None);
    }

    #[test]
    fn paths_front_code_on_character_boundaries() {
        let v = ["a/caf\u{e9}", "a/caf\u{e8}", "", "b", "b/c", "a"];
        let es: Entries = v
            .iter()
            .map(|p| e(p, EntryKind::Whiteout, 0, None))
            .collect();
        let back: Vec<String> = es.to_vec().into_iter().map(|e| e.path).collect();
        assert_eq!(back, v);
    }
}
