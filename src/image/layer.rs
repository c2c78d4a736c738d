//! Reads one layer blob into an index of its entries, verifying as it streams.
//!
//! The blob is read once: its raw bytes are hashed against the descriptor, the
//! compression is sniffed from magic bytes (the media type is only a hint), the
//! decompressed stream is hashed against the config's diff_id, and tar entries are
//! parsed on the fly. Only files in the checks' [`ContentSet`] keep their contents.
//!
//! What a layer yields ([`LayerIndex`]) is position-free: the same layer at
//! another depth of another image gives the same index, so the layer cache can
//! store it by digest. The position is attached when the tree applies the layer
//! (findings' `layer N` provenance) and only errors name it here.

use super::contents::{ContentSet, Keep, BEST_EFFORT_PER_LAYER, HEAD_BYTES, MANIFESTS_PER_LAYER};
use super::digest::{Algorithm, Digest, HashingReader};
use super::error::{ImageError, Result, SourceFailure};
use super::packed::Entries;
use super::source::BlobDesc;
use super::tarread;
use crate::report::{Code, Finding, Severity};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Contents larger than this are never kept in memory.
pub const MAX_CONTENT: u64 = 16 << 20;

/// All contents kept from one layer: a layer repeating a wanted path (or a
/// sparse file that expands) cannot make the reader hold more than this.
pub const MAX_KEPT_PER_LAYER: u64 = 64 << 20;

/// The most bytes the listings of one image's layers (packed paths and link
/// targets, and the contents kept for checks) may hold together: layers are read
/// in parallel and each listing is held until it is merged into the tree.
pub const MAX_LISTING_BYTES: usize = 64 << 20;

/// What the layers of one image read so far hold, shared by the readers.
#[derive(Debug)]
pub struct Listings {
    used: AtomicUsize,
    limit: usize,
}

impl Default for Listings {
    fn default() -> Self {
        Listings::with_limit(MAX_LISTING_BYTES)
    }
}

impl Listings {
    /// Another limit than [`MAX_LISTING_BYTES`] (tests reach it with small layers).
    pub fn with_limit(limit: usize) -> Self {
        Listings {
            used: AtomicUsize::new(0),
            limit,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Counts `n` more bytes; false once the total is past the limit.
    pub(crate) fn add(&self, n: usize) -> bool {
        self.used.fetch_add(n, Ordering::Relaxed) + n <= self.limit
    }

    /// Takes back bytes counted for a listing that will not be held after all
    /// (a cached listing over the limit: the layer is read instead, so the
    /// refusal names the entry where the limit was passed, as a cold run does).
    pub(crate) fn release(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }
}

/// A layer image-check will not read, on purpose: its listing went past
/// [`Listings`]' limit, or it holds an entry runtimes reject or disagree on. Not
/// corruption (whose hint says to pull the image again), a refusal with its own
/// hint.
#[derive(Debug)]
struct Refusal {
    message: String,
    hint: &'static str,
    /// Over a memory limit (listings, kept contents), not about an entry: a
    /// caller that asked for contents may read the layer again without them.
    over_limit: bool,
}

impl Refusal {
    fn error(message: String, hint: &'static str) -> io::Error {
        Self::io(message, hint, false)
    }

    fn over_limit(message: String, hint: &'static str) -> io::Error {
        Self::io(message, hint, true)
    }

    fn io(message: String, hint: &'static str, over_limit: bool) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            Refusal {
                message,
                hint,
                over_limit,
            },
        )
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// The hint of a layer refused for an entry runtimes would not unpack alike.
const REBUILD: &str = "rebuild the layer with a standard tool (docker build, buildah, BuildKit); such entries do not come from a normal build";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    /// Sniffs the compression from the first bytes, as containerd and Docker do,
    /// with two corrections: a zstd stream may open with a skippable frame, and
    /// `BZh` alone is not bzip2 (a plain tar whose first name starts with it
    /// would be refused) unless a bzip2 block or end-of-stream magic follows.
    pub fn sniff(head: &[u8]) -> std::result::Result<Compression, &'static str> {
        match head {
            [0x1f, 0x8b, ..] => Ok(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Ok(Compression::Zstd),
            [0x50..=0x5f, 0x2a, 0x4d, 0x18, ..] => Ok(Compression::Zstd),
            [b'B', b'Z', b'h', b'1'..=b'9', rest @ ..]
                if rest.starts_with(&[0x31, 0x41, 0x59, 0x26, 0x53, 0x59])
                    || rest.starts_with(&[0x17, 0x72, 0x45, 0x38, 0x50, 0x90]) =>
            {
                Err("bzip2")
            }
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Err("xz"),
            _ => Ok(Compression::None),
        }
    }
}

/// Renders tar name bytes as a `String`, injectively: valid UTF-8 is kept, each
/// byte of an invalid sequence becomes `\xNN`, and a literal backslash becomes
/// `\\`. Two names that differ only in invalid bytes stay two names, and since
/// `/`, `.` and `.wh.` are ASCII, splitting and whiteout matching on the
/// rendering agree with doing it on the bytes.
pub fn name_from_bytes(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink(String),
    /// Target path, normalised like every other path.
    Hardlink(String),
    Other(&'static str),
    /// `.wh.NAME`: the entry's path is NAME, deleted (with everything below
    /// it) unless this layer wrote it earlier.
    Whiteout,
    /// `.wh..wh..opq`: the entry's path is the directory whose children are
    /// deleted, except those this layer wrote earlier.
    Opaque,
}

#[derive(Debug, Clone)]
pub struct RawEntry {
    /// Normalised: no leading `/` or `./`, never climbing out with `..`.
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub content: Option<Arc<[u8]>>,
}

/// A change a layer makes, in the order the OCI spec applies them: the layer's
/// facts, with nothing about where it sits in an image (its findings carry no
/// provenance until [`super::fs::FlatFs::apply`] gives them the layer's number).
#[derive(Debug, Default)]
pub struct LayerIndex {
    /// Entries, whiteouts and opaque markers in archive order: runtimes that
    /// extract apply them in that order, so a whiteout goes through the
    /// symlinks and directories that the entries before it made.
    pub entries: Entries,
    /// The first few findings of each code; the rest are only counted, in
    /// `left_out`, and the tree adds them to its one tally of repeats.
    pub warnings: Vec<Finding>,
    pub left_out: Vec<(Code, Severity, usize)>,
    pub compression: Option<Compression>,
    pub uncompressed_size: u64,
}

/// Lexically normalises a tar name; `None` when it climbs above the root.
pub fn normalize(raw: &str) -> Option<String> {
    match clamp(raw) {
        (p, false) => Some(p),
        (_, true) => None,
    }
}

/// Lexically normalises a tar name the way containerd and umoci place it: a
/// `..` at the root stays at the root. The flag says whether that happened
/// (Docker refuses such a layer instead).
pub fn clamp(raw: &str) -> (String, bool) {
    let mut parts: Vec<&str> = Vec::new();
    let mut climbed = false;
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => climbed |= parts.pop().is_none(),
            c => parts.push(c),
        }
    }
    (parts.join("/"), climbed)
}

/// Findings of one kind in one layer: the first few kept, the rest counted, so a
/// hostile layer cannot fill memory with 200,000 findings; the tree reports them.
#[derive(Default)]
struct Aggregate {
    shown: Vec<Finding>,
    more: HashMap<Code, usize>,
}

/// The same cap the tree applies to the whole report.
const SHOWN_PER_CODE: usize = super::fs::MAX_REPEATS;

impl Aggregate {
    fn push(&mut self, f: Finding) {
        if self.shown.iter().filter(|s| s.code == f.code).count() < SHOWN_PER_CODE {
            self.shown.push(f);
        } else {
            *self.more.entry(f.code).or_default() += 1;
        }
    }

    /// The findings shown, and per code how many were only counted (with the
    /// severity they had), for the tree's report-wide tally.
    fn finish(self) -> (Vec<Finding>, Vec<(Code, Severity, usize)>) {
        let mut more: Vec<_> = self.more.into_iter().collect();
        more.sort();
        let left_out = more
            .into_iter()
            .filter_map(|(code, n)| {
                let like = self.shown.iter().find(|s| s.code == code)?;
                Some((code, like.severity, n))
            })
            .collect();
        (self.shown, left_out)
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn split_parent(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    }
}

/// Counts `size` into a layer's budget when it fits (a file that does not is only
/// listed; smaller ones after it may still fit).
fn within(used: &mut u64, size: u64, budget: u64) -> bool {
    let fits = *used + size <= budget;
    if fits {
        *used += size;
    }
    fits
}

/// Keeps the first error the blob's source returned and repeats it, so a
/// transport failure seen by the decoder is still known (and not mistaken for
/// the end of the blob) when the layer's size and digest are judged.
struct SourceErrors<R> {
    inner: R,
    first: Option<io::Error>,
}

impl<R> SourceErrors<R> {
    fn new(inner: R) -> Self {
        SourceErrors { inner, first: None }
    }
}

impl<R: Read> Read for SourceErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.first {
            return Err(io::Error::new(e.kind(), "the blob's source failed earlier"));
        }
        self.inner.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                return e;
            }
            let again = io::Error::new(e.kind(), "the blob's source failed");
            self.first = Some(e);
            again
        })
    }
}

/// Reads, verifies and indexes one layer, keeping the contents of the files in
/// `want`. `index` (1-based, as reports show it) only names the layer in errors:
/// the index returned does not depend on it.
pub fn read_layer(
    blob: Box<dyn Read + Send + '_>,
    desc: &BlobDesc,
    diff_id: &Digest,
    index: usize,
    want: &ContentSet,
    listings: &Listings,
) -> Result<LayerIndex> {
    let algo = desc
        .digest
        .as_ref()
        .map(|d| d.algorithm)
        .unwrap_or(Algorithm::Sha256);
    let mut raw =
        BufReader::with_capacity(256 << 10, HashingReader::new(SourceErrors::new(blob), algo));
    let io_err = |e: io::Error| ImageError::io(desc.name(), e);
    let head = raw.fill_buf().map_err(io_err)?;
    let compression = Compression::sniff(head).map_err(|name| {
        ImageError::Invalid(format!(
            "layer {index} (`{}`) is {name}-compressed; only gzip, zstd and plain tar layers are supported",
            desc.name()
        ))
    })?;
    let parsed = match compression {
        Compression::Gzip => parse_tar(
            flate2::bufread::MultiGzDecoder::new(&mut raw),
            diff_id,
            want,
            listings,
        ),
        Compression::Zstd => zstd::stream::read::Decoder::with_buffer(&mut raw)
            .and_then(|d| parse_tar(d, diff_id, want, listings)),
        Compression::None => parse_tar(&mut raw, diff_id, want, listings),
    };
    // Drain whatever the decoder left so the blob digest covers every byte; a digest
    // mismatch explains a decode error better than the decode error does.
    let drained = io::copy(&mut raw, &mut io::sink());
    let (actual, count, source) = raw.into_inner().finish();
    // The source failing explains a short or undecodable blob better than its
    // size or digest does: a connection that broke is not a corrupt image.
    if let Some(e) = source.first {
        return Err(
            match e.get_ref().and_then(|i| i.downcast_ref::<SourceFailure>()) {
                Some(f) => ImageError::SourceFailed {
                    message: format!("layer {index} (`{}`): {}", desc.name(), f.message),
                    hint: f.hint.clone(),
                },
                None => io_err(e),
            },
        );
    }
    if let Err(e) = drained {
        if parsed.is_ok() {
            return Err(io_err(e));
        }
    }
    if let Some(expected) = desc.size {
        if count != expected {
            return Err(ImageError::SizeMismatch {
                blob: desc.name(),
                expected,
                actual: count,
            });
        }
    }
    if let Some(d) = &desc.digest {
        if &actual != d {
            return Err(ImageError::DigestMismatch {
                blob: desc.name(),
                actual: actual.to_string(),
            });
        }
    }
    let (mut layer, uncompressed) = parsed.map_err(|source| {
        match source.get_ref().and_then(|e| e.downcast_ref::<Refusal>()) {
            Some(r) => {
                let message = format!("layer {index} (`{}`): {}", desc.name(), r.message);
                let hint = r.hint.into();
                if r.over_limit {
                    ImageError::OverLimit { message, hint }
                } else {
                    ImageError::Refused { message, hint }
                }
            }
            None => ImageError::CorruptLayer {
                index,
                blob: desc.name(),
                source,
            },
        }
    })?;
    if &uncompressed != diff_id {
        return Err(ImageError::DiffIdMismatch {
            index,
            blob: desc.name(),
            expected: diff_id.to_string(),
            actual: uncompressed.to_string(),
        });
    }
    layer.compression = Some(compression);
    Ok(layer)
}

fn escapes(subject: &str, what: &str, clamped: &str) -> Finding {
    // A clamped whiteout or opaque marker deletes rather than writes.
    let does = match clamped.rsplit('/').next().unwrap_or(clamped) {
        ".wh..wh..opq" => "apply it as an opaque marker at",
        n if n.starts_with(".wh.") => "apply it as a whiteout at",
        _ => "write it at",
    };
    Finding::error(
        Code::PathEscapesRoot,
        subject.to_string(),
        format!(
            "{what} climbs out of the image root; runtimes disagree: Docker refuses the layer, containerd and umoci {does} `/{clamped}`"
        ),
    )
    .hint("rebuild the layer with a standard builder; image-check shows the tree at the clamped path, as containerd would unpack it")
}

/// Refuses an entry a runtime's applier would not unpack, naming it and its type.
fn refuse(name: &str, typeflag: u8, why: &str) -> io::Error {
    let t = if typeflag.is_ascii_graphic() {
        format!("`{}`", typeflag as char)
    } else {
        format!("`\\x{typeflag:02x}`")
    };
    Refusal::error(format!("entry `{name}` has tar type {t}: {why}"), REBUILD)
}

fn parse_tar(
    reader: impl Read,
    diff_id: &Digest,
    want: &ContentSet,
    listings: &Listings,
) -> io::Result<(LayerIndex, Digest)> {
    let mut hashing = HashingReader::new(reader, diff_id.algorithm);
    let mut layer = LayerIndex::default();
    let mut found = Aggregate::default();
    let mut kept = 0u64;
    let mut best_effort = 0u64;
    let mut manifests = 0u64;
    let mut held = 0usize;
    // Counts what the listing grew by; past the image's limit, refuses the layer
    // before it holds more.
    let mut count = |layer: &LayerIndex, raw: &str| {
        let now = layer.entries.bytes();
        let grew = now - held;
        held = now;
        if listings.add(grew) {
            return Ok(());
        }
        Err(Refusal::over_limit(
            format!(
                "the image's layer listings (paths, link targets and the file contents checks read) pass image-check's limit of {} MiB at entry `{raw}`",
                listings.limit() >> 20
            ),
            "the image lists far more files (or far longer names) than real images do; remove what it does not need (caches, docs, test data), and see the README's limits",
        ))
    };
    let mut r = tarread::Reader::new(&mut hashing);
    while let Some(h) = r.next_header()? {
        let raw = name_from_bytes(&h.name);
        let kind = match h.typeflag {
            b'g' => {
                found.push(
                    Finding::warning(
                        Code::TarGlobalHeader,
                        raw,
                        "PAX global header: containerd and Docker skip it, umoci refuses the layer (`unknown typeflag`)",
                    )
                    .hint("rebuild the layer without global headers (`git archive` writes one; re-tar its output)"),
                );
                continue;
            }
            b'0' if h.name.ends_with(b"/") => {
                return Err(refuse(
                    &raw,
                    h.typeflag,
                    "a regular file whose name ends in `/`: Go's archive/tar and umoci make it a file, V7-style readers a directory",
                ))
            }
            b'0' => EntryKind::File,
            b'1' => EntryKind::Hardlink(String::new()),
            b'2' => EntryKind::Symlink(name_from_bytes(&h.linkname)),
            b'3' => EntryKind::Other("char-device"),
            b'4' => EntryKind::Other("block-device"),
            b'5' => EntryKind::Dir,
            b'6' => EntryKind::Other("fifo"),
            b'7' => {
                return Err(refuse(
                    &raw,
                    h.typeflag,
                    "a contiguous file, which Go's archive/tar passes through as its own type and the appliers (umoci, containerd, Docker) reject",
                ))
            }
            _ => {
                return Err(refuse(
                    &raw,
                    h.typeflag,
                    "container runtimes' appliers (containerd, Docker, umoci) reject this type",
                ))
            }
        };
        let (path, climbed) = clamp(&raw);
        if climbed {
            found.push(escapes(&raw, &format!("entry `{raw}`"), &path));
        }
        let (dir, name) = split_parent(&path);
        let marker = |kind: EntryKind, path: &str| RawEntry {
            path: path.to_string(),
            kind,
            size: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            content: None,
        };
        if name == ".wh..wh..opq" {
            layer.entries.push(marker(EntryKind::Opaque, dir));
            count(&layer, &raw)?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            if hidden.starts_with(".wh.") {
                // `.wh..wh.*` other than the opaque marker are aufs bookkeeping.
                continue;
            }
            if matches!(hidden, "" | "." | "..") {
                return Err(Refusal::error(
                    format!(
                        "whiteout `{raw}` {}: runtimes disagree on it (umoci 0.4 and containerd delete a directory instead of a file, umoci 0.5 refuses the layer, Docker's overlay2 fails to apply it)",
                        if hidden.is_empty() {
                            "has an empty name".to_string()
                        } else {
                            format!("names `{hidden}`, not a file")
                        }
                    ),
                    REBUILD,
                ));
            }
            layer
                .entries
                .push(marker(EntryKind::Whiteout, &join(dir, hidden)));
            count(&layer, &raw)?;
            continue;
        }
        if path.is_empty() {
            // The root itself: a directory entry only sets its metadata, which
            // image-check does not check. Anything else would change the type of
            // the root: umoci refuses the layer, containerd skips the entry.
            if kind != EntryKind::Dir {
                return Err(refuse(
                    &raw,
                    h.typeflag,
                    "it names the root directory with another type: umoci refuses the layer (`refusing to change type of root directory`), containerd skips the entry",
                ));
            }
            continue;
        }
        let kind = match kind {
            EntryKind::Hardlink(_) => {
                let target = name_from_bytes(&h.linkname);
                let (t, climbed) = clamp(&target);
                if climbed {
                    found.push(escapes(
                        &format!("/{path}"),
                        &format!("hard link to `{target}`"),
                        &t,
                    ));
                }
                EntryKind::Hardlink(t)
            }
            k => k,
        };
        let mode = (h.mode & 0o7777) as u32;
        let size = if kind == EntryKind::File {
            h.size as u64
        } else {
            0
        };
        // How many of the file's bytes are kept (all of them, or its head).
        let keep = match want.keep(&path) {
            _ if kind != EntryKind::File => None,
            Keep::Head => Some(size.min(HEAD_BYTES)),
            _ if size > MAX_CONTENT => None,
            Keep::No => None,
            Keep::Required => Some(size),
            // Past the budget the file is only listed: a check that needs it says
            // so or asks for it by path (the layer is not refused for it).
            Keep::BestEffort => {
                within(&mut best_effort, size, BEST_EFFORT_PER_LAYER).then_some(size)
            }
            Keep::Manifest => within(&mut manifests, size, MANIFESTS_PER_LAYER).then_some(size),
        };
        let content = if let Some(size) = keep {
            kept += size;
            if kept > MAX_KEPT_PER_LAYER {
                return Err(Refusal::over_limit(
                    format!(
                        "the files checks read from this layer add up to over {} MiB (`{raw}` among them)",
                        MAX_KEPT_PER_LAYER >> 20
                    ),
                    "the checks read configuration files (`/etc/passwd`, `package.json`, `index.html`, …); a layer holding many large ones is not an application image image-check can check",
                ));
            }
            let mut buf = vec![0u8; size as usize];
            let mut at = 0;
            while at < buf.len() {
                match r.read_data(&mut buf[at..])? {
                    0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                    n => at += n,
                }
            }
            Some(Arc::from(buf))
        } else {
            None
        };
        layer.entries.push(RawEntry {
            path,
            kind,
            size,
            mode,
            uid: h.uid as u64,
            gid: h.gid as u64,
            content,
        });
        count(&layer, &raw)?;
    }
    drop(r);
    layer.entries.shrink_to_fit();
    (layer.warnings, layer.left_out) = found.finish();
    // The diff_id covers the whole stream, end-of-archive blocks included.
    io::copy(&mut hashing, &mut io::sink())?;
    let (digest, count, _) = hashing.finish();
    layer.uncompressed_size = count;
    Ok((layer, digest))
}

/// The `layer` fuzz target's body, also run on its corpus by `cargo test`. The
/// first byte picks the mode: even, the rest is a layer blob (gzip, zstd or
/// plain, sniffed) read with every file wanted: nothing panics, entries are
/// normalised and kept contents have their size, and the layer flattened (twice,
/// as two layers) gives a well-formed tree. `1 mod 4`, the rest drives a small
/// model: entries with names spelled in the ways tar allows (plain, PAX `path`,
/// GNU long name, both, PAX `size` override) must read back exactly as modelled.
/// `3 mod 4`, the rest drives a few layers whose flattened tree must be the one
/// [`super::flatten_model`] builds.
#[doc(hidden)]
pub fn fuzz_layer(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 | 2 => fuzz_raw(rest),
        1 => fuzz_model(rest),
        _ => super::flatten_model::fuzz_tree(rest),
    }
}

fn diff_id_of(blob: &[u8]) -> Option<Digest> {
    // Decompression bombs are cut off: the fuzzer's memory bound holds.
    const CAP: u64 = 8 << 20;
    let mut out = Vec::new();
    let r: Box<dyn Read> = match Compression::sniff(blob).ok()? {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(blob).ok()?),
        Compression::None => Box::new(blob),
    };
    r.take(CAP + 1).read_to_end(&mut out).ok()?;
    (out.len() as u64 <= CAP).then(|| super::digest::sha256_of(&out))
}

fn read_bytes(blob: &[u8], diff_id: &Digest) -> Result<LayerIndex> {
    let desc = BlobDesc {
        member: Some("fuzz".into()),
        ..BlobDesc::default()
    };
    read_layer(
        Box::new(blob),
        &desc,
        diff_id,
        1,
        &ContentSet::all(),
        &Listings::default(),
    )
}

fn fuzz_raw(blob: &[u8]) {
    let Some(diff_id) = diff_id_of(blob) else {
        return;
    };
    if let Ok(layer) = read_bytes(blob, &diff_id) {
        for e in &layer.entries.to_vec() {
            assert!(!e.path.is_empty());
            assert!(!e
                .path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".."));
            if let Some(c) = &e.content {
                assert_eq!(c.len() as u64, e.size);
            }
        }
        // The second copy lands on the first: lower-layer symlinks, whiteouts
        // and hard links into a lower layer all come into play.
        let mut fs = super::fs::FlatFs::new(vec![]);
        fs.apply(1, layer);
        if let Ok(again) = read_bytes(blob, &diff_id) {
            fs.apply(2, again);
        }
        super::flatten_model::check_invariants(&fs);
        if let Some(o) = fs.overlay_reading() {
            super::flatten_model::check_invariants(o);
        }
    }
}

fn fuzz_model(ops: &[u8]) {
    use tarread::build::{end, entry, pax, pax_record, H};
    let mut tar = Vec::new();
    let mut model: Vec<(String, EntryKind, Vec<u8>)> = Vec::new();
    for (i, op) in ops.chunks_exact(3).take(64).enumerate() {
        let segs = 1 + (op[1] % 3) as usize;
        let path: Vec<&str> = (0..segs)
            .map(|k| ["a", "b", "c\u{e9}"][(op[1] as usize >> (2 + 2 * k)) % 3])
            .collect();
        let path = path.join("/");
        let data: Vec<u8> = (0..op[2] % 64).map(|k| k ^ i as u8).collect();
        let (typeflag, kind, data) = match op[0] % 3 {
            0 => (b'0', EntryKind::File, data),
            1 => (b'5', EntryKind::Dir, Vec::new()),
            _ => (b'2', EntryKind::Symlink("a/b".into()), Vec::new()),
        };
        let mut h = H::new(path.as_bytes(), typeflag, data.len());
        if typeflag == b'2' {
            h = h.link(b"a/b");
        }
        let gnu = |name: &str| {
            entry(
                &H::new(b"././@LongLink", b'L', name.len() + 1),
                format!("{name}\0").as_bytes(),
            )
        };
        match (op[0] / 3) % 5 {
            0 => {}
            1 => {
                tar.extend(pax(&pax_record("path", path.as_bytes())));
                h.name = b"decoy".to_vec();
            }
            2 => {
                tar.extend(gnu(&path));
                h.name = b"decoy".to_vec();
            }
            3 => {
                tar.extend(gnu(&path));
                tar.extend(pax(&pax_record("path", b"pax-loses")));
                h.name = b"decoy".to_vec();
            }
            _ if typeflag == b'0' => {
                let size = data.len().to_string();
                tar.extend(pax(&pax_record("size", size.as_bytes())));
                h.size = b"00000000000\0".to_vec();
            }
            _ => {}
        }
        tar.extend(entry(&h, &data));
        model.push((path, kind, data));
    }
    tar.extend(end());
    let diff_id = super::digest::sha256_of(&tar);
    let layer = read_bytes(&tar, &diff_id).expect("a model layer reads");
    let got: Vec<(String, EntryKind, Vec<u8>)> = layer
        .entries
        .to_vec()
        .into_iter()
        .map(|e| {
            let c = e.content.map(|c| c.to_vec()).unwrap_or_default();
            (e.path, e.kind, c)
        })
        .collect();
    assert_eq!(got, model);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize("./app/x").as_deref(), Some("app/x"));
        assert_eq!(normalize("/etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize("../etc/passwd"), None);
        assert_eq!(normalize("a/../../b"), None);
        assert_eq!(normalize("./").as_deref(), Some(""));
    }

    #[test]
    fn fuzz_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/layer");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("fuzz/corpus/layer exists") {
            fuzz_layer(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0, "the corpus is empty");
    }

    /// `app/.wh.` hid nothing and the check passed, where umoci 0.4 deletes
    /// `/app`; umoci 0.5 refuses such a layer and Docker's overlay2 fails on it.
    /// The runtimes disagree, so the layer is refused, naming the entry.
    #[test]
    fn whiteouts_that_name_no_file_are_refused() {
        use tarread::build::{cat, end, file};
        for name in ["app/.wh.", "./.wh.", "a/b/.wh..", ".wh...", "x/.wh.."] {
            let tar = cat(&[file(name, b""), end()]);
            let diff_id = crate::image::digest::sha256_of(&tar);
            let err = read_bytes(&tar, &diff_id).err().unwrap().to_string();
            assert!(err.contains(&format!("whiteout `{name}`")), "{err}");
            assert!(err.contains("runtimes disagree"), "{err}");
        }
        // `.wh..wh.*` (aufs bookkeeping) and names merely starting with dots
        // are not such whiteouts.
        let tar = cat(&[file("a/.wh..wh.plnk", b""), file("a/.wh....x", b""), end()]);
        let diff_id = crate::image::digest::sha256_of(&tar);
        let kinds: Vec<(String, EntryKind)> = read_bytes(&tar, &diff_id)
            .unwrap()
            .entries
            .to_vec()
            .into_iter()
            .map(|e| (e.path, e.kind))
            .collect();
        assert_eq!(kinds, [("a/...x".to_string(), EntryKind::Whiteout)]);
    }

    /// A `.` entry that is not a directory would change the root's type: umoci
    /// refuses the layer, containerd skips the entry. Refused, never skipped.
    #[test]
    fn a_root_entry_of_another_type_is_refused() {
        use tarread::build::{cat, end, entry, file, H};
        let sym = entry(&H::new(b".", b'2', 0).link(b"/tmp"), b"");
        for first in [sym, file(".", b"x"), file("/", b"")] {
            let tar = cat(&[first, file("x", b"x"), end()]);
            let diff_id = crate::image::digest::sha256_of(&tar);
            let err = read_bytes(&tar, &diff_id).err().unwrap().to_string();
            assert!(
                err.contains("root directory") || err.contains("ends in `/`"),
                "{err}"
            );
        }
        let dir = entry(&H::new(b"./", b'5', 0), b"");
        let tar = cat(&[dir, file("x", b"x"), end()]);
        let diff_id = crate::image::digest::sha256_of(&tar);
        assert_eq!(read_bytes(&tar, &diff_id).unwrap().entries.len(), 1);
    }

    #[test]
    fn names_escape_injectively() {
        assert_eq!(name_from_bytes(b"app/caf\xc3\xa9"), "app/caf\u{e9}");
        assert_eq!(name_from_bytes(b"a\xff"), "a\\xff");
        assert_eq!(name_from_bytes(b"a\\xff"), "a\\\\xff");
        assert_ne!(name_from_bytes(b"a\xff"), name_from_bytes(b"a\xfe"));
        assert_ne!(name_from_bytes(b"a\xff"), name_from_bytes(b"a\\xff"));
        // A truncated multi-byte sequence: each byte on its own.
        assert_eq!(name_from_bytes(b"\xe2\x82/x"), "\\xe2\\x82/x");
        // Splitting on `/` and matching `.wh.` agree with doing it on bytes.
        let raw: &[u8] = b"d\xff/.wh.n\xfe";
        let parts: Vec<String> = raw.split(|&c| c == b'/').map(name_from_bytes).collect();
        assert_eq!(parts.join("/"), name_from_bytes(raw));
    }

    #[test]
    fn clamps_dotdot_at_the_root_as_containerd() {
        assert_eq!(clamp("../etc/passwd"), ("etc/passwd".to_string(), true));
        assert_eq!(clamp("a/../../b"), ("b".to_string(), true));
        assert_eq!(clamp("a/b/../c"), ("a/c".to_string(), false));
        assert_eq!(clamp("/.."), (String::new(), true));
    }

    #[test]
    fn sniffs_magic() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Ok(Compression::Gzip));
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Ok(Compression::Zstd)
        );
        assert_eq!(Compression::sniff(b"app/\0\0"), Ok(Compression::None));
        assert!(Compression::sniff(b"BZh91AY&SY").is_err());
        assert_eq!(Compression::sniff(b"BZh9\x17rE8P\x90"), Err("bzip2"));
    }

    #[test]
    fn sniff_plain_tar_named_bzh_and_zstd_skippable_frame() {
        let tar = crate::image::tarread::build::file("BZh91-not-bzip2", b"");
        assert_eq!(Compression::sniff(&tar), Ok(Compression::None));
        let mut z = vec![0x5a, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
        z.extend(zstd::encode_all(&b"hello"[..], 3).unwrap());
        assert_eq!(Compression::sniff(&z), Ok(Compression::Zstd));
        // The decoder skips the skippable frame, as containerd's does.
        assert_eq!(zstd::decode_all(&z[..]).unwrap(), b"hello");
    }

    #[test]
    fn listings_past_the_image_limit_are_refused_not_called_corrupt() {
        use crate::image::tarread::build::{cat, end, file};
        let tar = |prefix: &str| {
            let mut parts: Vec<Vec<u8>> = (0..200)
                .map(|i| file(&format!("{prefix}/some-longer-name-{i}.txt"), b""))
                .collect();
            parts.push(end());
            cat(&parts)
        };
        let desc = BlobDesc {
            digest: None,
            size: None,
            media_type: None,
            member: Some("test".into()),
        };
        let read = |t: &[u8], index: usize, l: &Listings| {
            let diff_id = crate::image::digest::sha256_of(t);
            read_layer(Box::new(t), &desc, &diff_id, index, &ContentSet::none(), l)
        };
        // Two layers share the limit: each fits alone, together they do not.
        let (a, b) = (tar("a"), tar("b"));
        let one = read(&a, 1, &Listings::default()).unwrap();
        let limit = one.entries.bytes() * 3 / 2;
        let shared = Listings::with_limit(limit);
        assert!(read(&a, 1, &shared).is_ok());
        match read(&b, 2, &shared) {
            Err(ImageError::OverLimit { message, .. }) => {
                assert!(
                    message.starts_with("layer 2 (`test`): ") && message.contains("at entry `b/"),
                    "{message}"
                )
            }
            other => panic!("{:?}", other.map(|l| l.entries.len())),
        }
        assert!(read(&b, 2, &Listings::with_limit(limit)).is_ok());
    }
}
