//! Reads one layer blob into an index of its entries, verifying as it streams.
//!
//! The blob is read once: its raw bytes are hashed against the descriptor, the
//! compression is sniffed from magic bytes (the media type is only a hint), the
//! decompressed stream is hashed against the config's diff_id, and tar entries are
//! parsed on the fly. Only files the caller asks for keep their contents.

use super::digest::{Algorithm, Digest, HashingReader};
use super::error::{ImageError, Result};
use super::source::BlobDesc;
use crate::report::{Code, Finding};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

/// Contents larger than this are never kept in memory.
pub const MAX_CONTENT: u64 = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> std::result::Result<Compression, &'static str> {
        match head {
            [0x1f, 0x8b, ..] => Ok(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Ok(Compression::Zstd),
            [b'B', b'Z', b'h', ..] => Err("bzip2"),
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Err("xz"),
            _ => Ok(Compression::None),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink(String),
    /// Target path, normalised like every other path.
    Hardlink(String),
    Other(&'static str),
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

/// A change a layer makes, in the order the OCI spec applies them.
#[derive(Debug, Default)]
pub struct LayerIndex {
    /// `.wh.NAME`: the path NAME (and everything below it) in lower layers.
    pub whiteouts: Vec<String>,
    /// `.wh..wh..opq`: directories whose lower-layer children are hidden.
    pub opaques: Vec<String>,
    pub entries: Vec<RawEntry>,
    pub warnings: Vec<Finding>,
    pub compression: Option<Compression>,
    pub uncompressed_size: u64,
}

/// Lexically normalises a tar name; `None` when it climbs above the root.
pub fn normalize(raw: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn split_parent(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((d, n)) => (d, n),
        None => ("", path),
    }
}

/// Reads, verifies and indexes one layer. `index` is 1-based, as reports show it.
pub fn read_layer(
    blob: Box<dyn Read + Send + '_>,
    desc: &BlobDesc,
    diff_id: &Digest,
    index: usize,
    want: &(dyn Fn(&str) -> bool + Sync),
) -> Result<LayerIndex> {
    let algo = desc
        .digest
        .as_ref()
        .map(|d| d.algorithm)
        .unwrap_or(Algorithm::Sha256);
    let mut raw = BufReader::with_capacity(256 << 10, HashingReader::new(blob, algo));
    let io_err = |e: io::Error| ImageError::io(desc.locator.clone(), e);
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
            index,
        ),
        Compression::Zstd => zstd::stream::read::Decoder::with_buffer(&mut raw)
            .and_then(|d| parse_tar(d, diff_id, want, index)),
        Compression::None => parse_tar(&mut raw, diff_id, want, index),
    };
    // Drain whatever the decoder left so the blob digest covers every byte; a digest
    // mismatch explains a decode error better than the decode error does.
    let drained = io::copy(&mut raw, &mut io::sink());
    let (actual, count, _) = raw.into_inner().finish();
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
    let (mut layer, uncompressed) = parsed.map_err(|source| ImageError::CorruptLayer {
        index,
        blob: desc.name(),
        source,
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

fn parse_tar(
    reader: impl Read,
    diff_id: &Digest,
    want: &(dyn Fn(&str) -> bool + Sync),
    index: usize,
) -> io::Result<(LayerIndex, Digest)> {
    let mut hashing = HashingReader::new(reader, diff_id.algorithm);
    let mut layer = LayerIndex::default();
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(path) = normalize(&raw) else {
                layer.warnings.push(
                    Finding::warning(Code::PathEscapesRoot, raw.clone(), "entry climbs out of the image root; dropped")
                        .provenance(Some(format!("layer {index}")))
                        .hint("the layer was built by a tool that does not sanitise names; rebuild it with a standard builder"),
                );
                continue;
            };
            let (dir, name) = split_parent(&path);
            if name == ".wh..wh..opq" {
                layer.opaques.push(dir.to_string());
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                if !hidden.starts_with(".wh.") {
                    layer.whiteouts.push(if dir.is_empty() {
                        hidden.to_string()
                    } else {
                        format!("{dir}/{hidden}")
                    });
                }
                // `.wh..wh.*` other than the opaque marker are aufs bookkeeping.
                continue;
            }
            if path.is_empty() {
                continue; // the root itself
            }
            let header = entry.header();
            let et = header.entry_type();
            let link = || {
                entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            };
            let kind = if et.is_dir() {
                EntryKind::Dir
            } else if et.is_symlink() {
                EntryKind::Symlink(link())
            } else if et.is_hard_link() {
                let target = link();
                match normalize(&target) {
                    Some(t) => EntryKind::Hardlink(t),
                    None => {
                        layer.warnings.push(
                            Finding::warning(
                                Code::PathEscapesRoot,
                                format!("/{path}"),
                                format!(
                                    "hard link to `{target}` climbs out of the image root; dropped"
                                ),
                            )
                            .provenance(Some(format!("layer {index}"))),
                        );
                        continue;
                    }
                }
            } else if et.is_file() || et == tar::EntryType::Continuous {
                EntryKind::File
            } else if et.is_character_special() {
                EntryKind::Other("char-device")
            } else if et.is_block_special() {
                EntryKind::Other("block-device")
            } else if et.is_fifo() {
                EntryKind::Other("fifo")
            } else {
                // PAX/GNU metadata records are consumed by the tar crate; anything else
                // (sparse, volume labels) has no place in a container filesystem.
                continue;
            };
            let mode = header.mode().unwrap_or(0o644) & 0o7777;
            let uid = header.uid().unwrap_or(0);
            let gid = header.gid().unwrap_or(0);
            let size = if kind == EntryKind::File {
                entry.size()
            } else {
                0
            };
            let content = if kind == EntryKind::File && size <= MAX_CONTENT && want(&path) {
                let mut buf = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut buf)?;
                Some(Arc::from(buf))
            } else {
                None
            };
            layer.entries.push(RawEntry {
                path,
                kind,
                size,
                mode,
                uid,
                gid,
                content,
            });
        }
    }
    // The diff_id covers the whole stream, end-of-archive blocks included.
    io::copy(&mut hashing, &mut io::sink())?;
    let (digest, count, _) = hashing.finish();
    layer.uncompressed_size = count;
    Ok((layer, digest))
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
    fn sniffs_magic() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Ok(Compression::Gzip));
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Ok(Compression::Zstd)
        );
        assert_eq!(Compression::sniff(b"app/\0\0"), Ok(Compression::None));
        assert!(Compression::sniff(b"BZh91AY").is_err());
    }
}
