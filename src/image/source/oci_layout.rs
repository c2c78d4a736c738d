//! The OCI image layout (`oci-layout`, `index.json`, `blobs/`), in a directory or a tar.
//!
//! Tag selection uses `org.opencontainers.image.ref.name`; indexes are walked
//! recursively (nested indexes, Docker manifest lists) and every manifest on the way is
//! verified against its descriptor before it is trusted. Descriptors are
//! de-duplicated by digest and the walk is bounded in depth and in distinct
//! manifests, so a few KB of nested indexes cannot multiply into millions of reads.

use super::{json_error, BlobDesc, BrokenCandidate, Candidate, FileTree, ImageSource, Platform};
use crate::image::digest::Digest;
use crate::image::error::{ImageError, Result};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use std::collections::HashSet;
use std::io::Read;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// How deep indexes may nest below `index.json` (a tag → a manifest list → …).
pub const MAX_INDEX_DEPTH: usize = 4;
/// How many distinct manifests and indexes one reference may reach; each is read
/// once however many descriptors name it, so the walk reads at most this many
/// blobs of at most `MAX_METADATA` each.
pub const MAX_MANIFESTS: usize = 256;

pub struct OciLayout {
    tree: Box<dyn FileTree>,
    tag: Option<String>,
}

impl OciLayout {
    pub fn new(tree: Box<dyn FileTree>, tag: Option<String>) -> Self {
        OciLayout { tree, tag }
    }
}

pub(crate) fn blob_of(d: &Descriptor) -> Result<BlobDesc> {
    let digest = Digest::parse(d.digest().as_ref())?;
    Ok(BlobDesc {
        locator: digest.layout_path(),
        digest: Some(digest),
        size: Some(d.size()),
        media_type: Some(d.media_type().to_string()),
    })
}

fn platform_of(d: &Descriptor) -> Option<Platform> {
    d.platform().as_ref().map(|p| Platform {
        os: p.os().to_string(),
        arch: p.architecture().to_string(),
        variant: p.variant().clone(),
    })
}

fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    match media_type {
        "application/vnd.oci.image.index.v1+json"
        | "application/vnd.docker.distribution.manifest.list.v2+json" => true,
        "application/vnd.oci.image.manifest.v1+json"
        | "application/vnd.docker.distribution.manifest.v2+json" => false,
        // Unknown or missing media type: look at the document itself.
        _ => serde_json::from_slice::<serde_json::Value>(bytes)
            .map(|v| v.get("manifests").is_some())
            .unwrap_or(false),
    }
}

type Found = Vec<std::result::Result<Candidate, BrokenCandidate>>;

/// State of one walk from `index.json` down: what was read, so fan-out is bounded by
/// the number of distinct manifests, not by the number of paths to them.
struct Walk<'a> {
    read: &'a dyn Fn(&BlobDesc) -> Result<Vec<u8>>,
    seen: HashSet<Digest>,
    out: Found,
}

impl Walk<'_> {
    /// Walks from a descriptor down to image manifests. Per-entry failures become
    /// broken candidates; exceeding a bound fails the whole walk.
    fn descend(
        &mut self,
        desc: &Descriptor,
        platform: Option<Platform>,
        depth: usize,
    ) -> Result<()> {
        let platform = platform_of(desc).or(platform);
        if platform.as_ref().is_some_and(Platform::is_unknown) {
            // Attestation manifests (buildx provenance/SBOM) are not images.
            return Ok(());
        }
        let blob = match blob_of(desc) {
            Ok(b) => b,
            Err(error) => {
                self.out.push(Err(BrokenCandidate { platform, error }));
                return Ok(());
            }
        };
        if let Some(d) = &blob.digest {
            // The same manifest reached twice (listed twice, or through two indexes)
            // is read and checked once.
            if !self.seen.insert(d.clone()) {
                return Ok(());
            }
        }
        if self.seen.len() > MAX_MANIFESTS {
            return Err(ImageError::Refused {
                message: format!(
                    "the image index reaches more than {MAX_MANIFESTS} distinct manifests and indexes; refusing to read more"
                ),
                hint: "name one image with a tag (`oci:DIR:TAG`); a real image index lists a few platforms".into(),
            });
        }
        let step = (|| -> Result<Option<Vec<Descriptor>>> {
            let bytes = (self.read)(&blob)?;
            let mt = desc.media_type().to_string();
            if is_index(&mt, &bytes) {
                if depth >= MAX_INDEX_DEPTH {
                    return Err(ImageError::Invalid(format!(
                        "indexes nest deeper than {MAX_INDEX_DEPTH} levels at `{}`",
                        blob.name()
                    )));
                }
                let index: ImageIndex = serde_json::from_slice(&bytes)
                    .map_err(|e| json_error(format!("image index `{}`", blob.name()), e))?;
                return Ok(Some(index.manifests().clone()));
            }
            let manifest: ImageManifest = serde_json::from_slice(&bytes)
                .map_err(|e| json_error(format!("image manifest `{}`", blob.name()), e))?;
            let layers = manifest
                .layers()
                .iter()
                .map(blob_of)
                .collect::<Result<Vec<_>>>()?;
            self.out.push(Ok(Candidate {
                platform: platform.clone(),
                manifest_digest: blob.digest.clone(),
                config: blob_of(manifest.config())?,
                layers,
            }));
            Ok(None)
        })();
        match step {
            Ok(Some(children)) => {
                for child in &children {
                    self.descend(child, platform.clone(), depth + 1)?;
                }
            }
            Ok(None) => {}
            Err(error) => self.out.push(Err(BrokenCandidate { platform, error })),
        }
        Ok(())
    }
}

/// The candidates a layout's `index.json` (bytes as read) selects for `tag`, reading
/// manifests and nested indexes with `read`, which verifies them against their
/// descriptors. `container` names the layout in messages.
pub fn candidates_from_index(
    bytes: &[u8],
    container: &str,
    tag: Option<&str>,
    read: &dyn Fn(&BlobDesc) -> Result<Vec<u8>>,
) -> Result<Found> {
    let index: ImageIndex = serde_json::from_slice(bytes)
        .map_err(|e| json_error(format!("`index.json` in `{container}`"), e))?;
    let name_of = |d: &Descriptor| {
        d.annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME).cloned())
    };
    let chosen: Vec<&Descriptor> = match tag {
        Some(tag) => index
            .manifests()
            .iter()
            .filter(|d| name_of(d).as_deref() == Some(tag))
            .collect(),
        None if index.manifests().len() == 1 => index.manifests().iter().collect(),
        None => Vec::new(),
    };
    if chosen.is_empty() {
        // At most a screenful of names: index.json may list thousands.
        const SHOWN: usize = 20;
        let mut names: Vec<String> = index
            .manifests()
            .iter()
            .take(SHOWN)
            .map(|d| name_of(d).unwrap_or_else(|| format!("(untagged {})", d.digest())))
            .collect();
        if index.manifests().len() > SHOWN {
            names.push(format!("and {} more", index.manifests().len() - SHOWN));
        }
        return Err(ImageError::NoSuchTag {
            wanted: tag.map(str::to_string).unwrap_or_else(|| "(no tag)".into()),
            container: format!("`{container}`"),
            available: if names.is_empty() {
                "nothing".into()
            } else {
                names.join(", ")
            },
        });
    }
    let mut w = Walk {
        read,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    for d in chosen {
        w.descend(d, None, 0)?;
    }
    Ok(w.out)
}

/// The `manifest_walk` fuzz target's body, also run on its corpus by `cargo test`.
/// NUL bytes split the input into documents: the first is `index.json`, the others
/// are the blobs every descriptor's digest picks among (by a hash of the digest, so
/// the fuzzer can build nesting, cycles and fan-out without finding sha256
/// preimages). Oracle: no panic, the walk reads at most [`MAX_MANIFESTS`] blobs
/// however the documents refer to each other, never the same blob twice, and
/// what it returns grows no faster than what it read (each candidate comes from
/// a descriptor in a document read once). A real layout's documents are as many
/// as its digests; here one document may stand for many digests, so the bound is
/// on the bytes read, not on the input's length.
pub fn fuzz_manifest_walk(data: &[u8]) {
    let docs: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    // `split` always yields at least one piece.
    let (index, blobs) = (docs[0], &docs[1..]);
    let reads = std::cell::Cell::new(0usize);
    let read_names = std::cell::RefCell::new(HashSet::new());
    let read_bytes = std::cell::Cell::new(0usize);
    let read = |b: &BlobDesc| -> Result<Vec<u8>> {
        reads.set(reads.get() + 1);
        let name = b.name();
        assert!(
            read_names.borrow_mut().insert(name.clone()),
            "`{name}` read twice in one walk"
        );
        if blobs.is_empty() {
            return Err(ImageError::MissingFile {
                path: name,
                container: "the fuzz input".into(),
            });
        }
        let h = name
            .bytes()
            .fold(0usize, |a, x| a.wrapping_mul(31).wrapping_add(x as usize));
        let doc = blobs[h % blobs.len()];
        read_bytes.set(read_bytes.get() + doc.len());
        Ok(doc.to_vec())
    };
    for tag in [None, Some("v1")] {
        reads.set(0);
        read_bytes.set(0);
        read_names.borrow_mut().clear();
        let found = candidates_from_index(index, "fuzz", tag, &read);
        assert!(
            reads.get() <= MAX_MANIFESTS,
            "{} reads for one reference",
            reads.get()
        );
        if let Ok(found) = found {
            // A descriptor takes at least `{"digest":""}` (13 bytes) of some document.
            let bound = (index.len() + read_bytes.get()) / 13 + 1;
            assert!(found.len() <= bound, "{} candidates", found.len());
            let layers: usize = found.iter().flatten().map(|c| c.layers.len()).sum();
            assert!(layers <= bound, "{layers} layers");
        }
    }
}

impl ImageSource for OciLayout {
    fn describe(&self) -> String {
        self.tree.describe()
    }

    fn candidates(&self) -> Result<Found> {
        if !self.tree.exists("oci-layout")? {
            return Err(ImageError::MissingFile {
                path: "oci-layout".into(),
                container: format!(
                    "`{}`, so it is not an OCI image layout",
                    self.tree.describe()
                ),
            });
        }
        let bytes = self
            .tree
            .read_small("index.json")?
            .ok_or_else(|| ImageError::MissingFile {
                path: "index.json".into(),
                container: format!("`{}`", self.tree.describe()),
            })?;
        let read = |b: &BlobDesc| self.read_blob(b);
        candidates_from_index(&bytes, &self.tree.describe(), self.tag.as_deref(), &read)
    }

    fn open_blob(&self, blob: &BlobDesc) -> Result<Box<dyn Read + Send + '_>> {
        self.tree.open_required(&blob.locator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn replay(name: &str, f: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(name);
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("the corpus directory exists") {
            f(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0, "the corpus is empty");
    }

    #[test]
    fn fuzz_corpus_replays() {
        replay("manifest_walk", fuzz_manifest_walk);
    }

    #[test]
    fn fan_out_reads_each_digest_once() {
        let seed = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/manifest_walk/fan-out"),
        )
        .unwrap();
        let docs: Vec<&[u8]> = seed.split(|&b| b == 0).collect();
        // The top index names index `f…` (tag-less, the only entry), which lists
        // ten distinct digests forty times; every one of them reads as the manifest.
        let reads = std::cell::Cell::new(Vec::new());
        let read = |b: &BlobDesc| -> Result<Vec<u8>> {
            let mut v = reads.take();
            v.push(b.name());
            reads.set(v);
            Ok(if b.name().contains("ffff") {
                docs[1].to_vec()
            } else {
                docs[2].to_vec()
            })
        };
        let found = candidates_from_index(docs[0], "t", None, &read).unwrap();
        let names = reads.take();
        assert_eq!(names.len(), 11, "{names:?}");
        assert_eq!(found.len(), 10);
    }
}
