//! The layer cache: what image-check learned from a layer (its listing, the
//! contents of the files the checks declared, its findings) kept on disk, so a
//! re-check of an image whose base layers did not change reads (or fetches)
//! only the layers it has not seen.
//!
//! An entry is keyed by the layer's DiffID, its compressed blob digest, the
//! fingerprint of the [`ContentSet`] it was read with and [`SCHEMA`]; the file
//! name is the sha256 of that key, so names are content addressed and never
//! depend on where the layer sits in an image (the stored index is
//! position-free). Both digests come from documents the source verified (the
//! manifest by its digest, the config by the manifest's), and an entry is only
//! written after a read that verified the blob against both, so a hit stands
//! for bytes that were checked once.
//!
//! Files are written whole to a temporary name in the same directory, synced
//! and renamed, so a reader sees either nothing or a complete entry and several
//! processes may share the directory without locks. Anything read back is
//! distrusted: the magic, schema, length, a sha256 of the body, the key inside
//! the body and every bound of the listing are checked, and a file failing any
//! of them is ignored (then replaced by the fresh read). The directory is kept
//! under a size bound by deleting the least recently used entries (by mtime,
//! which a hit refreshes). Nothing secret is stored: no credentials, no
//! registry names, only layer facts and the declared files' contents.

use super::contents::ContentSet;
use super::digest::{sha256_of, Digest};
use super::layer::{Compression, LayerIndex, MAX_LISTING_BYTES};
use super::packed::{put_blob, put_u64, Entries, Reader};
use crate::report::{Code, Finding, Severity};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Bumped whenever what a layer yields or how it is encoded changes: entries
/// of another schema are never read (their key differs, and the header says so).
pub const SCHEMA: u32 = 1;

/// The default size bound of the cache directory.
pub const DEFAULT_MAX: u64 = 512 << 20;

const MAGIC: &[u8; 8] = b"SHPCKLC\x01";
const HEADER: usize = 8 + 4 + 8 + 32;

/// The largest entry read back: a listing is bounded by the image's listing
/// limit, plus findings (a few per code) and the key.
const MAX_ENTRY: u64 = MAX_LISTING_BYTES as u64 + (4 << 20);

/// Temporary files older than this were left by a process that died mid-write.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// A cache directory and its size bound.
#[derive(Debug, Clone)]
pub struct LayerCache {
    dir: PathBuf,
    max: u64,
    /// Whether a failure to write has been said once already.
    warned: Arc<AtomicBool>,
}

/// What an entry is stored under: the key's parts, kept to be compared with
/// those inside the file, and the file name they hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    diff_id: String,
    blob: String,
    contents: String,
    name: String,
}

impl Key {
    /// `blob` is `None` for a `docker save` layer named by member: the DiffID
    /// (verified on the read that stored the entry) then keys it alone.
    pub fn new(diff_id: &Digest, blob: Option<&Digest>, want: &ContentSet) -> Key {
        let diff_id = diff_id.to_string();
        let blob = blob.map(Digest::to_string).unwrap_or_default();
        let contents = want.fingerprint().to_string();
        let name = sha256_of(
            format!(
                "shipcheck layer cache\nschema {SCHEMA}\ndiff_id {diff_id}\nblob {blob}\ncontents {contents}\n"
            )
            .as_bytes(),
        )
        .hex;
        Key {
            diff_id,
            blob,
            contents,
            name,
        }
    }

    pub fn file_name(&self) -> &str {
        &self.name
    }
}

/// Whether `name` is one of the cache's entry names (64 lowercase hex digits);
/// anything else in the directory is not ours and is never read or deleted.
fn is_entry_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_tmp_name(name: &str) -> bool {
    name.len() > 64 && is_entry_name(&name[..64]) && name[64..].starts_with(".tmp.")
}

impl LayerCache {
    /// The cache under `root` (entries in `root/layers`), bounded to `max` bytes.
    pub fn new(root: &Path, max: u64) -> LayerCache {
        LayerCache {
            dir: root.join("layers"),
            max,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `$XDG_CACHE_HOME/shipcheck`, else `$HOME/.cache/shipcheck`; `None` when
    /// neither is set to an absolute path (the XDG spec ignores relative ones),
    /// and image-check then runs without a cache.
    pub fn default_root(env: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
        let abs = |k: &str| env(k).map(PathBuf::from).filter(|p| p.is_absolute());
        abs("XDG_CACHE_HOME")
            .or_else(|| abs("HOME").map(|h| h.join(".cache")))
            .map(|d| d.join("shipcheck"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The entry stored under `key`, if one is there and sound; a hit refreshes
    /// its mtime so eviction takes it last.
    pub fn get(&self, key: &Key) -> Option<LayerIndex> {
        let path = self.dir.join(&key.name);
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            // A symlink, FIFO or device planted under an entry's name must
            // neither be followed nor block the read.
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&path)
            .ok()?;
        let meta = f.metadata().ok()?;
        if !meta.is_file() || meta.len() > MAX_ENTRY {
            return None;
        }
        let mut buf = Vec::with_capacity(meta.len() as usize);
        (&mut f).take(MAX_ENTRY + 1).read_to_end(&mut buf).ok()?;
        let idx = decode(&buf, key)?;
        let _ = f.set_modified(SystemTime::now());
        Some(idx)
    }

    /// Stores `idx` under `key`, atomically, then keeps the directory under its
    /// bound. Failing to write is not failing the check: the first failure is
    /// said on stderr and the cache is skipped.
    pub fn put(&self, key: &Key, idx: &LayerIndex) {
        let Some((header, body)) = encode_parts(key, idx) else {
            return;
        };
        if (header.len() + body.len()) as u64 > self.max {
            return;
        }
        if let Err(e) = self.write(&key.name, &[&header, &body]) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "warning: cannot write the layer cache in `{}`: {e}; layers are read without it",
                    crate::report::render::escape_line(&self.dir.display().to_string())
                );
            }
            return;
        }
        self.evict();
    }

    fn write(&self, name: &str, parts: &[&[u8]]) -> io::Result<()> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let tmp = self.dir.join(format!(
            "{name}.tmp.{}.{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let done = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&tmp)?;
            for p in parts {
                f.write_all(p)?;
            }
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, self.dir.join(name))
        })();
        if done.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        done
    }

    /// Deletes the least recently used entries until the directory's entries
    /// fit the bound, and temporary files a dead process left. Other processes
    /// may be evicting too: a file already gone is not an error.
    fn evict(&self) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = Vec::new();
        let mut total = 0u64;
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if is_tmp_name(name) {
                if now.duration_since(mtime).is_ok_and(|age| age > STALE_TMP) {
                    let _ = std::fs::remove_file(e.path());
                } else {
                    total += meta.len();
                }
            } else if is_entry_name(name) {
                total += meta.len();
                entries.push((mtime, meta.len(), e.path()));
            }
        }
        if total <= self.max {
            return;
        }
        entries.sort();
        // The newest entry is never deleted: two runs (or two layers of one
        // run) evicting at once each see it, so each spares it, where sparing
        // "the one I wrote" let each delete the other's and leave nothing.
        entries.pop();
        for (_, len, path) in entries {
            if total <= self.max {
                break;
            }
            let _ = std::fs::remove_file(path);
            total = total.saturating_sub(len);
        }
    }
}

fn severity_byte(s: Severity) -> u8 {
    match s {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Note => 2,
    }
}

fn severity_of(b: u8) -> Option<Severity> {
    Some(match b {
        0 => Severity::Error,
        1 => Severity::Warning,
        2 => Severity::Note,
        _ => return None,
    })
}

fn code_of(s: &str) -> Option<Code> {
    Code::ALL.iter().copied().find(|c| c.as_str() == s)
}

/// The file for `idx` under `key`: header (magic, schema, body length, sha256
/// of the body), then the body (the key's parts, then the index). `None` for
/// an index that is not position-free (a finding with a provenance), which
/// must not be stored. The cache writes [`encode_parts`] without joining them;
/// this joined form is what the tests decode.
#[cfg(test)]
pub fn encode(key: &Key, idx: &LayerIndex) -> Option<Vec<u8>> {
    let (header, body) = encode_parts(key, idx)?;
    let mut out = header;
    out.extend_from_slice(&body);
    Some(out)
}

/// The entry as its header and body, so a writer need not join them: a layer's
/// kept contents are megabytes, and each copy of them is memory held while
/// other layers stream.
fn encode_parts(key: &Key, idx: &LayerIndex) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut body = Vec::with_capacity(idx.entries.bytes() + 4096);
    put_blob(&mut body, key.diff_id.as_bytes());
    put_blob(&mut body, key.blob.as_bytes());
    put_blob(&mut body, key.contents.as_bytes());
    body.push(match idx.compression {
        None => 0,
        Some(Compression::None) => 1,
        Some(Compression::Gzip) => 2,
        Some(Compression::Zstd) => 3,
    });
    put_u64(&mut body, idx.uncompressed_size);
    put_u64(&mut body, idx.warnings.len() as u64);
    for w in &idx.warnings {
        if w.provenance.is_some() {
            return None;
        }
        put_blob(&mut body, w.code.as_str().as_bytes());
        body.push(severity_byte(w.severity));
        put_blob(&mut body, w.subject.as_bytes());
        put_blob(&mut body, w.message.as_bytes());
        match &w.hint {
            Some(h) => {
                body.push(1);
                put_blob(&mut body, h.as_bytes());
            }
            None => body.push(0),
        }
    }
    put_u64(&mut body, idx.left_out.len() as u64);
    for (code, sev, n) in &idx.left_out {
        put_blob(&mut body, code.as_str().as_bytes());
        body.push(severity_byte(*sev));
        put_u64(&mut body, *n as u64);
    }
    idx.entries.encode(&mut body);
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&SCHEMA.to_le_bytes());
    header.extend_from_slice(&(body.len() as u64).to_le_bytes());
    header.extend_from_slice(&hex::decode(sha256_of(&body).hex).ok()?);
    Some((header, body))
}

/// The index in `file` if it is a sound entry for `key`; `None` for anything
/// else (truncated, another schema, a damaged byte, another key's entry, a
/// file that is not an entry at all).
pub fn decode(file: &[u8], key: &Key) -> Option<LayerIndex> {
    let mut r = Reader::new(file);
    if r.bytes(8)? != MAGIC {
        return None;
    }
    if u32::from_le_bytes(r.bytes(4)?.try_into().ok()?) != SCHEMA {
        return None;
    }
    let len = u64::from_le_bytes(r.bytes(8)?.try_into().ok()?);
    let sum = r.bytes(32)?;
    let body = r.bytes(usize::try_from(len).ok()?)?;
    if !r.done() || hex::decode(sha256_of(body).hex).ok()? != sum {
        return None;
    }
    let mut r = Reader::new(body);
    if r.blob()? != key.diff_id.as_bytes()
        || r.blob()? != key.blob.as_bytes()
        || r.blob()? != key.contents.as_bytes()
    {
        return None;
    }
    let compression = match r.byte()? {
        0 => None,
        1 => Some(Compression::None),
        2 => Some(Compression::Gzip),
        3 => Some(Compression::Zstd),
        _ => return None,
    };
    let uncompressed_size = r.varint()?;
    let mut warnings = Vec::new();
    for _ in 0..r.varint()? {
        let code = code_of(r.text()?)?;
        let severity = severity_of(r.byte()?)?;
        let subject = r.text()?.to_string();
        let message = r.text()?.to_string();
        let hint = match r.byte()? {
            0 => None,
            1 => Some(r.text()?.to_string()),
            _ => return None,
        };
        let mut f = Finding::new(code, severity, subject, message);
        f.hint = hint;
        warnings.push(f);
    }
    let mut left_out = Vec::new();
    for _ in 0..r.varint()? {
        let code = code_of(r.text()?)?;
        let severity = severity_of(r.byte()?)?;
        left_out.push((code, severity, usize::try_from(r.varint()?).ok()?));
    }
    let entries = Entries::decode(&mut r)?;
    if !r.done() {
        return None;
    }
    Some(LayerIndex {
        entries,
        warnings,
        left_out,
        compression,
        uncompressed_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::{EntryKind, RawEntry};

    fn sample() -> (Key, LayerIndex) {
        let d = sha256_of(b"diff");
        let b = sha256_of(b"blob");
        let want = ContentSet::none().with_path("etc/passwd");
        let entries: Entries = vec![
            RawEntry {
                path: "etc/passwd".into(),
                kind: EntryKind::File,
                size: 5,
                mode: 0o644,
                uid: 0,
                gid: 0,
                content: Some(Arc::from(&b"root\n"[..])),
            },
            RawEntry {
                path: "bin/sh".into(),
                kind: EntryKind::Symlink("busybox".into()),
                size: 0,
                mode: 0o777,
                uid: 0,
                gid: 0,
                content: None,
            },
        ]
        .into();
        let idx = LayerIndex {
            entries,
            warnings: vec![Finding::warning(
                Code::TarGlobalHeader,
                "pax_global_header",
                "a global header",
            )
            .hint("rebuild")],
            left_out: vec![(Code::TarGlobalHeader, Severity::Warning, 7)],
            compression: Some(Compression::Gzip),
            uncompressed_size: 10240,
        };
        (Key::new(&d, Some(&b), &want), idx)
    }

    fn same(a: &LayerIndex, b: &LayerIndex) {
        let show = |i: &LayerIndex| {
            let es: Vec<String> = i
                .entries
                .to_vec()
                .iter()
                .map(|e| format!("{e:?}"))
                .collect();
            format!(
                "{es:?} {:?} {:?} {:?} {}",
                i.warnings, i.left_out, i.compression, i.uncompressed_size
            )
        };
        assert_eq!(show(a), show(b));
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let (key, idx) = sample();
        let file = encode(&key, &idx).unwrap();
        same(&decode(&file, &key).unwrap(), &idx);
    }

    /// Every truncation, every flipped byte and an appended byte are refused:
    /// the checksum covers the body, the header fields are each checked.
    #[test]
    fn every_damaged_entry_is_refused() {
        let (key, idx) = sample();
        let file = encode(&key, &idx).unwrap();
        for cut in 0..file.len() {
            assert!(decode(&file[..cut], &key).is_none(), "cut at {cut}");
        }
        for i in 0..file.len() {
            for flip in [0x01u8, 0x80] {
                let mut f = file.clone();
                f[i] ^= flip;
                assert!(decode(&f, &key).is_none(), "byte {i} ^ {flip:#x}");
            }
        }
        let mut longer = file.clone();
        longer.push(0);
        assert!(decode(&longer, &key).is_none());
        assert!(decode(b"", &key).is_none());
        assert!(decode(&[0u8; 4096], &key).is_none());
    }

    /// A sound entry of another key (renamed, or a hash collision of names)
    /// is not this key's entry.
    #[test]
    fn another_keys_entry_is_refused() {
        let (key, idx) = sample();
        let file = encode(&key, &idx).unwrap();
        let d = sha256_of(b"diff");
        let other = [
            Key::new(
                &d,
                Some(&sha256_of(b"other")),
                &ContentSet::none().with_path("etc/passwd"),
            ),
            Key::new(&d, None, &ContentSet::none().with_path("etc/passwd")),
            Key::new(&d, Some(&sha256_of(b"blob")), &ContentSet::none()),
        ];
        for k in other {
            assert_ne!(k.file_name(), key.file_name());
            assert!(decode(&file, &k).is_none());
        }
    }

    #[test]
    fn findings_with_a_position_are_not_stored() {
        let (key, mut idx) = sample();
        idx.warnings[0].provenance = Some("layer 3".into());
        assert!(encode(&key, &idx).is_none());
    }

    #[test]
    fn store_hit_damage_and_eviction() {
        let t = tempfile::TempDir::new().unwrap();
        let (key, idx) = sample();
        let cache = LayerCache::new(t.path(), DEFAULT_MAX);
        assert!(cache.get(&key).is_none());
        cache.put(&key, &idx);
        same(&cache.get(&key).unwrap(), &idx);
        let path = cache.dir().join(key.file_name());
        // Truncated: ignored, and the next put replaces it.
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() / 2]).unwrap();
        assert!(cache.get(&key).is_none());
        cache.put(&key, &idx);
        assert_eq!(std::fs::read(&path).unwrap(), full);
        // A symlink under an entry's name is not followed.
        std::fs::remove_file(&path).unwrap();
        let elsewhere = t.path().join("elsewhere");
        std::fs::write(&elsewhere, &full).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        assert!(cache.get(&key).is_none());
        std::fs::remove_file(&path).unwrap();

        // Eviction: a bound of three entries keeps the three used last.
        let foreign = cache.dir().join("notes.txt");
        std::fs::write(&foreign, vec![b'x'; 10_000]).unwrap();
        let small = LayerCache::new(t.path(), full.len() as u64 * 3 + 10);
        let keys: Vec<Key> = (0..5u8)
            .map(|i| Key::new(&sha256_of(&[i]), None, &ContentSet::none()))
            .collect();
        let old = SystemTime::now() - Duration::from_secs(1000);
        for (i, k) in keys[..3].iter().enumerate() {
            small.put(k, &idx);
            // Distinct, increasing mtimes without sleeping.
            let f = std::fs::File::options()
                .write(true)
                .open(small.dir().join(k.file_name()))
                .unwrap();
            f.set_modified(old + Duration::from_secs(i as u64 * 10))
                .unwrap();
        }
        // A hit on the oldest makes it the newest: the next two puts evict
        // the two after it.
        assert!(small.get(&keys[0]).is_some());
        small.put(&keys[3], &idx);
        small.put(&keys[4], &idx);
        let left: Vec<bool> = keys
            .iter()
            .map(|k| small.dir().join(k.file_name()).exists())
            .collect();
        assert_eq!(left, [true, false, false, true, true]);
        assert!(
            foreign.exists(),
            "files that are not entries are left alone"
        );
    }

    #[test]
    fn default_root_follows_xdg_then_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert_eq!(
            LayerCache::default_root(env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])),
            Some(PathBuf::from("/x/shipcheck"))
        );
        assert_eq!(
            LayerCache::default_root(env(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.cache/shipcheck"))
        );
        assert_eq!(LayerCache::default_root(env(&[("HOME", "")])), None);
        assert_eq!(LayerCache::default_root(env(&[])), None);
    }
}
