//! From what a reference names down to image manifests, fetching as little as
//! possible.
//!
//! [`leaves`] walks indexes (OCI image indexes and Docker manifest lists, nested or
//! not) but stops at image manifests: it returns one [`Leaf`] per manifest with the
//! platform its descriptor states, so the caller selects a platform on descriptors
//! and [`resolve`]s only the manifests it chose. Every document on the way is
//! verified against its descriptor before it is trusted. Descriptors are
//! de-duplicated by digest and the walk is bounded in depth and in distinct
//! manifests, so a few KB of nested indexes cannot multiply into millions of reads.

use super::{json_error, BlobDesc, Candidate, Platform};
use crate::image::digest::Digest;
use crate::image::error::{ImageError, Result};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use std::collections::HashSet;

/// How deep indexes may nest below the root (a tag → a manifest list → …).
pub const MAX_INDEX_DEPTH: usize = 4;
/// How many distinct manifests and indexes one reference may reach; each is read
/// at most once however many descriptors name it, so the walk reads at most this
/// many documents of at most `MAX_METADATA` each.
pub const MAX_MANIFESTS: usize = 256;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// What a source's reference names before any index is walked.
#[derive(Debug)]
pub enum Root {
    /// A descriptor to fetch (an entry of a layout's `index.json`).
    Descriptor(Descriptor),
    /// A document the source already fetched while resolving the reference (the
    /// registry's answer for a tag), described by what it hashed to.
    Fetched { desc: BlobDesc, bytes: Vec<u8> },
    /// An image that has no manifest document (`docker save`).
    Image(Candidate),
}

/// One image manifest the reference reaches, not yet fetched when it can wait.
#[derive(Debug)]
pub struct Leaf {
    /// From the descriptor that led here (inherited from an enclosing index entry).
    pub platform: Option<Platform>,
    pub kind: LeafKind,
}

#[derive(Debug)]
pub enum LeafKind {
    /// A manifest; `bytes` when it had to be fetched to learn it is not an index.
    Manifest {
        desc: BlobDesc,
        bytes: Option<Vec<u8>>,
    },
    Image(Candidate),
    /// An entry that failed on its own, so one bad platform hides no other.
    Broken(ImageError),
}

pub(crate) fn blob_of(d: &Descriptor) -> Result<BlobDesc> {
    let digest = Digest::parse(d.digest().as_ref())?;
    Ok(BlobDesc {
        digest: Some(digest),
        size: Some(d.size()),
        media_type: Some(d.media_type().to_string()),
        member: None,
    })
}

fn platform_of(d: &Descriptor) -> Option<Platform> {
    d.platform().as_ref().map(|p| Platform {
        os: p.os().to_string(),
        arch: p.architecture().to_string(),
        variant: p.variant().clone(),
    })
}

/// Docker's schema 1 (signed, no config blob, no digests for layers' contents as
/// run): nothing since Docker 1.10 writes it, and registries are dropping it.
fn schema1(what: &str) -> ImageError {
    ImageError::Refused {
        message: format!("{what} is a Docker schema 1 manifest, which image-check does not read"),
        hint: "push the image again with a current Docker, buildah or `skopeo copy --format v2s2` (schema 2), or check a saved copy (`oci-archive:`)".into(),
    }
}

fn is_schema1(media_type: &str, bytes: Option<&[u8]>) -> bool {
    if DOCKER_SCHEMA1.contains(&media_type) {
        return true;
    }
    bytes
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .is_some_and(|v| v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1))
}

/// Whether a document is an index; `None` when the media type does not say.
fn index_by_type(media_type: &str) -> Option<bool> {
    match media_type {
        OCI_INDEX | DOCKER_LIST => Some(true),
        OCI_MANIFEST | DOCKER_MANIFEST => Some(false),
        _ => None,
    }
}

fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    index_by_type(media_type).unwrap_or_else(|| {
        // Unknown or missing media type: look at the document itself.
        serde_json::from_slice::<serde_json::Value>(bytes)
            .map(|v| v.get("manifests").is_some())
            .unwrap_or(false)
    })
}

type Fetch<'a> = &'a dyn Fn(&BlobDesc) -> Result<Vec<u8>>;

struct Walk<'a> {
    fetch: Fetch<'a>,
    seen: HashSet<Digest>,
    out: Vec<Leaf>,
}

impl Walk<'_> {
    fn broken(&mut self, platform: Option<Platform>, error: ImageError) {
        self.out.push(Leaf {
            platform,
            kind: LeafKind::Broken(error),
        });
    }

    /// Records a digest as reached; false when it was reached before. Exceeding
    /// the bound fails the whole walk.
    fn first_visit(&mut self, d: &BlobDesc) -> Result<bool> {
        if let Some(d) = &d.digest {
            // The same manifest reached twice (listed twice, or through two
            // indexes) is read and checked once.
            if !self.seen.insert(d.clone()) {
                return Ok(false);
            }
        }
        if self.seen.len() > MAX_MANIFESTS {
            return Err(ImageError::Refused {
                message: format!(
                    "the image index reaches more than {MAX_MANIFESTS} distinct manifests and indexes; refusing to read more"
                ),
                hint: "name one image with a tag or digest; a real image index lists a few platforms".into(),
            });
        }
        Ok(true)
    }

    fn descriptor(
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
                self.broken(platform, error);
                return Ok(());
            }
        };
        if !self.first_visit(&blob)? {
            return Ok(());
        }
        let mt = desc.media_type().to_string();
        if is_schema1(&mt, None) {
            self.broken(platform, schema1(&format!("`{}`", blob.name())));
            return Ok(());
        }
        if index_by_type(&mt) == Some(false) {
            // A manifest: fetched only if the caller selects it.
            self.out.push(Leaf {
                platform,
                kind: LeafKind::Manifest {
                    desc: blob,
                    bytes: None,
                },
            });
            return Ok(());
        }
        match (self.fetch)(&blob) {
            Ok(bytes) => self.document(blob, bytes, platform, depth),
            Err(error) => {
                self.broken(platform, error);
                Ok(())
            }
        }
    }

    /// A fetched document: an index is walked, anything else is a leaf.
    fn document(
        &mut self,
        blob: BlobDesc,
        bytes: Vec<u8>,
        platform: Option<Platform>,
        depth: usize,
    ) -> Result<()> {
        let mt = blob.media_type.clone().unwrap_or_default();
        if !is_index(&mt, &bytes) {
            self.out.push(Leaf {
                platform,
                kind: LeafKind::Manifest {
                    desc: blob,
                    bytes: Some(bytes),
                },
            });
            return Ok(());
        }
        let children = (|| -> Result<Vec<Descriptor>> {
            if depth >= MAX_INDEX_DEPTH {
                return Err(ImageError::Invalid(format!(
                    "indexes nest deeper than {MAX_INDEX_DEPTH} levels at `{}`",
                    blob.name()
                )));
            }
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .map_err(|e| json_error(format!("image index `{}`", blob.name()), e))?;
            Ok(index.manifests().clone())
        })();
        match children {
            Ok(children) => {
                for child in &children {
                    self.descriptor(child, platform.clone(), depth + 1)?;
                }
            }
            Err(error) => self.broken(platform, error),
        }
        Ok(())
    }
}

/// Every image manifest the roots reach, in order, without fetching the manifests
/// themselves when their descriptors say what they are.
pub fn leaves(roots: Vec<Root>, fetch: Fetch<'_>) -> Result<Vec<Leaf>> {
    let mut w = Walk {
        fetch,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    for root in roots {
        match root {
            Root::Descriptor(d) => w.descriptor(&d, None, 0)?,
            Root::Fetched { desc, bytes } => {
                if !w.first_visit(&desc)? {
                    continue;
                }
                let mt = desc.media_type.clone().unwrap_or_default();
                if is_schema1(&mt, Some(&bytes)) {
                    w.broken(None, schema1(&format!("`{}`", desc.name())));
                    continue;
                }
                w.document(desc, bytes, None, 0)?;
            }
            Root::Image(c) => w.out.push(Leaf {
                platform: c.platform.clone(),
                kind: LeafKind::Image(c),
            }),
        }
    }
    Ok(w.out)
}

/// The manifest a leaf names, fetched if it was not yet, as a candidate.
pub fn resolve(leaf: Leaf, fetch: Fetch<'_>) -> Result<Candidate> {
    let (desc, bytes) = match leaf.kind {
        LeafKind::Image(c) => return Ok(c),
        LeafKind::Broken(e) => return Err(e),
        LeafKind::Manifest { desc, bytes } => (desc, bytes),
    };
    let bytes = match bytes {
        Some(b) => b,
        None => fetch(&desc)?,
    };
    if is_schema1(desc.media_type.as_deref().unwrap_or(""), Some(&bytes)) {
        return Err(schema1(&format!("`{}`", desc.name())));
    }
    let manifest: ImageManifest = serde_json::from_slice(&bytes)
        .map_err(|e| json_error(format!("image manifest `{}`", desc.name()), e))?;
    let layers = manifest
        .layers()
        .iter()
        .map(blob_of)
        .collect::<Result<Vec<_>>>()?;
    Ok(Candidate {
        platform: leaf.platform,
        manifest_digest: desc.digest.clone(),
        config: blob_of(manifest.config())?,
        layers,
        config_bytes: None,
    })
}
