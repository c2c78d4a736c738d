//! The OCI image layout (`oci-layout`, `index.json`, `blobs/`), in a directory or a tar.
//!
//! Tag selection uses `org.opencontainers.image.ref.name`; indexes are walked
//! recursively (nested indexes, Docker manifest lists) and every manifest on the way is
//! verified against its descriptor before it is trusted.

use super::{BlobDesc, BrokenCandidate, Candidate, FileTree, ImageSource, Platform};
use crate::image::digest::Digest;
use crate::image::error::{ImageError, Result};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use std::io::Read;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const MAX_DEPTH: usize = 4;

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

/// Walks from a descriptor down to image manifests, reading blobs with `read`.
/// Shared by every source that speaks OCI descriptors.
pub(crate) fn walk(
    read: &dyn Fn(&BlobDesc) -> Result<Vec<u8>>,
    desc: &Descriptor,
    platform: Option<Platform>,
    depth: usize,
    out: &mut Vec<std::result::Result<Candidate, BrokenCandidate>>,
) {
    let platform = platform_of(desc).or(platform);
    if platform.as_ref().is_some_and(Platform::is_unknown) {
        // Attestation manifests (buildx provenance/SBOM) are not images.
        return;
    }
    let broken = |error| BrokenCandidate {
        platform: platform.clone(),
        error,
    };
    let result = (|| -> Result<Option<Vec<Descriptor>>> {
        let blob = blob_of(desc)?;
        let bytes = read(&blob)?;
        let mt = desc.media_type().to_string();
        if is_index(&mt, &bytes) {
            if depth >= MAX_DEPTH {
                return Err(ImageError::Invalid(format!(
                    "indexes nest deeper than {MAX_DEPTH} levels at `{}`",
                    blob.name()
                )));
            }
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::json(format!("image index `{}`", blob.name()), e))?;
            return Ok(Some(index.manifests().clone()));
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::json(format!("image manifest `{}`", blob.name()), e))?;
        let layers = manifest
            .layers()
            .iter()
            .map(blob_of)
            .collect::<Result<Vec<_>>>()?;
        out.push(Ok(Candidate {
            platform: platform.clone(),
            manifest_digest: blob.digest.clone(),
            config: blob_of(manifest.config())?,
            layers,
        }));
        Ok(None)
    })();
    match result {
        Ok(Some(children)) => {
            for child in &children {
                walk(read, child, platform.clone(), depth + 1, out);
            }
        }
        Ok(None) => {}
        Err(e) => out.push(Err(broken(e))),
    }
}

impl ImageSource for OciLayout {
    fn describe(&self) -> String {
        self.tree.describe()
    }

    fn candidates(&self) -> Result<Vec<std::result::Result<Candidate, BrokenCandidate>>> {
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
        let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| {
            ImageError::json(format!("`index.json` in `{}`", self.tree.describe()), e)
        })?;
        let name_of = |d: &Descriptor| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME).cloned())
        };
        let chosen: Vec<&Descriptor> = match &self.tag {
            Some(tag) => index
                .manifests()
                .iter()
                .filter(|d| name_of(d).as_deref() == Some(tag.as_str()))
                .collect(),
            None if index.manifests().len() == 1 => index.manifests().iter().collect(),
            None => Vec::new(),
        };
        if chosen.is_empty() {
            let names: Vec<String> = index
                .manifests()
                .iter()
                .map(|d| name_of(d).unwrap_or_else(|| format!("(untagged {})", d.digest())))
                .collect();
            return Err(ImageError::NoSuchTag {
                wanted: self.tag.clone().unwrap_or_else(|| "(no tag)".into()),
                container: format!("`{}`", self.tree.describe()),
                available: if names.is_empty() {
                    "nothing".into()
                } else {
                    names.join(", ")
                },
            });
        }
        let mut out = Vec::new();
        let read = |b: &BlobDesc| self.read_blob(b);
        for d in chosen {
            walk(&read, d, None, 0, &mut out);
        }
        Ok(out)
    }

    fn open_blob(&self, blob: &BlobDesc) -> Result<Box<dyn Read + Send + '_>> {
        self.tree.open_required(&blob.locator)
    }
}
