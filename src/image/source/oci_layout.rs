//! The OCI image layout (`oci-layout`, `index.json`, `blobs/`), in a directory or a tar.
//!
//! Tag selection uses `org.opencontainers.image.ref.name`; the chosen descriptors
//! are the roots [`super::walk`] descends from, and blobs are found by digest
//! under `blobs/<algorithm>/<hex>`.

use super::walk::{self, Root};
use super::{json_error, BlobDesc, BrokenCandidate, Candidate, FileTree, ImageSource};
use crate::image::error::{ImageError, Result};
use oci_spec::image::{Descriptor, ImageIndex};
use std::io::Read;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub struct OciLayout {
    tree: Box<dyn FileTree>,
    tag: Option<String>,
}

impl OciLayout {
    pub fn new(tree: Box<dyn FileTree>, tag: Option<String>) -> Self {
        OciLayout { tree, tag }
    }
}

type Found = Vec<std::result::Result<Candidate, BrokenCandidate>>;

/// The descriptors a layout's `index.json` (bytes as read) selects for `tag`.
/// `container` names the layout in messages.
pub fn roots_from_index(bytes: &[u8], container: &str, tag: Option<&str>) -> Result<Vec<Root>> {
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
    Ok(chosen.into_iter().cloned().map(Root::Descriptor).collect())
}

/// Every candidate a layout's `index.json` (bytes as read) reaches for `tag`, each
/// manifest read with `read`, which verifies it against its descriptor: the whole
/// walk with no platform selection (the fuzz target's view).
#[allow(clippy::result_large_err)] // the shape `Found` has always had
pub fn candidates_from_index(
    bytes: &[u8],
    container: &str,
    tag: Option<&str>,
    read: &dyn Fn(&BlobDesc) -> Result<Vec<u8>>,
) -> Result<Found> {
    let roots = roots_from_index(bytes, container, tag)?;
    Ok(walk::leaves(roots, read)?
        .into_iter()
        .map(|leaf| {
            let platform = leaf.platform.clone();
            walk::resolve(leaf, read).map_err(|error| BrokenCandidate { platform, error })
        })
        .collect())
}

/// The `manifest_walk` fuzz target's body, also run on its corpus by `cargo test`.
/// NUL bytes split the input into documents: the first is `index.json`, the others
/// are the blobs every descriptor's digest picks among (by a hash of the digest, so
/// the fuzzer can build nesting, cycles and fan-out without finding sha256
/// preimages). Oracle: no panic, the walk reads at most [`walk::MAX_MANIFESTS`] blobs
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
    let read_names = std::cell::RefCell::new(std::collections::HashSet::new());
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
            reads.get() <= walk::MAX_MANIFESTS,
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

    fn roots(&self) -> Result<Vec<Root>> {
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
        roots_from_index(&bytes, &self.tree.describe(), self.tag.as_deref())
    }

    fn fetch_manifest(&self, desc: &BlobDesc) -> Result<Vec<u8>> {
        self.read_blob(desc)
    }

    fn open_blob(&self, blob: &BlobDesc) -> Result<Box<dyn Read + Send + '_>> {
        match &blob.digest {
            Some(d) => self.tree.open_required(&d.layout_path()),
            None => Err(ImageError::Invalid(format!(
                "blob `{}` has no digest, so it cannot be found in a layout",
                blob.name()
            ))),
        }
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
