//! Where image bytes come from.
//!
//! An [`ImageSource`] has two kinds of access, as a registry does: manifests and
//! indexes ([`ImageSource::roots`], [`ImageSource::fetch_manifest`]), and blobs
//! ([`ImageSource::open_blob`]). [`walk`] goes from the roots down through indexes
//! to image manifests, so platform selection can look at index descriptors before
//! any child manifest is fetched (each fetch counts against a registry's rate
//! limit). Offline sources are "a tree of files" ([`FileTree`]: a directory or a
//! tar) read by a layout reader (OCI layout or `docker save`); the registry source
//! speaks the distribution API; the checks cannot tell them apart.

mod docker_archive;
mod oci_layout;
#[cfg(feature = "registry")]
pub mod registry;
mod tree;
pub mod walk;

pub use docker_archive::DockerArchive;
pub use oci_layout::OciLayout;
pub use oci_layout::{candidates_from_index, fuzz_manifest_walk};
pub use tree::{fuzz_archive_index, open_regular_file, DirTree, FileTree, TarTree};
pub use walk::{Leaf, LeafKind, Root, MAX_INDEX_DEPTH, MAX_MANIFESTS};

use super::digest::{verify_bytes, Digest};
use super::error::{ImageError, Result};
use super::reference::ImageRef;
use std::io::Read;

/// The largest manifest, index or config we will read into memory.
pub const MAX_METADATA: u64 = 16 << 20;

/// A metadata file over [`MAX_METADATA`]: said as such, never as a parse error of
/// its first 16 MiB.
pub(crate) fn too_large(name: &str, container: &str) -> ImageError {
    ImageError::Refused {
        message: format!(
            "`{name}` in `{container}` is larger than the {} MiB limit for an index, manifest or config",
            MAX_METADATA >> 20
        ),
        hint: "the file is not an image index, manifest or config; check that the reference names the right image".into(),
    }
}

/// A JSON error that cannot quote the document: serde's data errors can carry the
/// offending value (`invalid type: string "…"`), and the document might be a file
/// that must never reach a log. Syntax errors and missing fields name only the
/// schema and a position, so they are kept.
pub(crate) fn json_error(what: impl Into<String>, e: serde_json::Error) -> ImageError {
    use serde::de::Error as _;
    let keep = match e.classify() {
        serde_json::error::Category::Data => {
            let m = e.to_string();
            m.starts_with("missing field") || m.starts_with("invalid length")
        }
        _ => true,
    };
    if keep {
        return ImageError::json(what, e);
    }
    let safe = serde_json::Error::custom(format!(
        "a value has the wrong type or is not allowed there, at line {} column {}",
        e.line(),
        e.column()
    ));
    ImageError::json(what, safe)
}

/// A blob or manifest as a descriptor names it: what it must hash to when known.
/// Sources find the bytes from the digest (a layout path, a registry URL); only a
/// `docker save` archive names blobs by member instead.
#[derive(Debug, Clone, Default)]
pub struct BlobDesc {
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
    /// A `docker save` member name, for blobs the archive names rather than hashes.
    pub member: Option<String>,
}

impl BlobDesc {
    /// How errors name the blob: its digest when it has one, else its member name.
    pub fn name(&self) -> String {
        match (&self.digest, &self.member) {
            (Some(d), _) => d.to_string(),
            (None, Some(m)) => m.clone(),
            (None, None) => "(unnamed blob)".into(),
        }
    }
}

/// `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Option<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Some(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => {
                Some(Platform {
                    os: os.to_string(),
                    arch: arch.to_string(),
                    variant: Some(v.to_string()),
                })
            }
            _ => None,
        }
    }

    /// Whether this (an image's platform) satisfies `wanted`; arm64 without a variant
    /// is v8, as containerd treats it.
    pub fn satisfies(&self, wanted: &Platform) -> bool {
        let norm = |p: &Platform| match (p.arch.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        self.os == wanted.os
            && self.arch == wanted.arch
            && (wanted.variant.is_none() || norm(self) == norm(wanted))
    }

    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.arch == "unknown"
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One image manifest reachable from the reference.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// From the index descriptor, when the manifest came through an index.
    pub platform: Option<Platform>,
    pub manifest_digest: Option<Digest>,
    pub config: BlobDesc,
    pub layers: Vec<BlobDesc>,
    /// The config's bytes, when platform selection already read (and verified)
    /// them: loading does not fetch the blob a second time.
    pub config_bytes: Option<std::sync::Arc<[u8]>>,
}

/// An index entry that could not be turned into a candidate (corrupt manifest, …).
#[derive(Debug)]
pub struct BrokenCandidate {
    pub platform: Option<Platform>,
    pub error: ImageError,
}

pub trait ImageSource: Send + Sync {
    /// How reports name the image.
    fn describe(&self) -> String;

    /// What the reference names, before any index is walked: descriptors to
    /// fetch, a document already fetched (a registry tag), or an image with no
    /// manifest at all (`docker save`).
    fn roots(&self) -> Result<Vec<Root>>;

    /// A manifest or index a descriptor names, read whole (at most
    /// [`MAX_METADATA`]) and verified against the descriptor.
    fn fetch_manifest(&self, desc: &BlobDesc) -> Result<Vec<u8>>;

    /// The repository the source itself names (a `docker save` archive's tag),
    /// for finding `images/<repository>.toml` when the reference does not.
    fn repository(&self) -> Option<String> {
        None
    }

    /// A stream of the blob's raw bytes; the caller verifies them.
    fn open_blob(&self, blob: &BlobDesc) -> Result<Box<dyn Read + Send + '_>>;

    /// That the source still serves a blob whose facts came from the layer
    /// cache, without reading it: a registry that lost a layer makes the pull
    /// fail, so a warm check must fail as a cold one does. Files are what they
    /// are: nothing to ask.
    fn confirm_blob(&self, _blob: &BlobDesc) -> Result<()> {
        Ok(())
    }

    /// A small blob read whole and verified against its descriptor.
    fn read_blob(&self, blob: &BlobDesc) -> Result<Vec<u8>> {
        if blob.size.is_some_and(|s| s > MAX_METADATA) {
            return Err(too_large(&blob.name(), &self.describe()));
        }
        let mut r = self.open_blob(blob)?.take(MAX_METADATA + 1);
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)
            .map_err(|e| ImageError::io(blob.name(), e))?;
        if buf.len() as u64 > MAX_METADATA {
            return Err(too_large(&blob.name(), &self.describe()));
        }
        verify_bytes(&blob.name(), &buf, blob.digest.as_ref(), blob.size)?;
        Ok(buf)
    }
}

/// How sources reach what they read, and the layer cache that spares reading
/// layers at all (used by [`super::load`] for every source alike).
#[derive(Clone, Default)]
pub struct OpenOptions {
    #[cfg(feature = "registry")]
    pub registry: registry::RegistryOptions,
    /// `None`: every layer is read (`--no-cache`, or no cache directory known).
    pub cache: Option<super::cache::LayerCache>,
    /// Where layer reads are shown as they happen (a TTY's bars), if anywhere.
    pub progress: Option<std::sync::Arc<dyn super::progress::Progress>>,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("OpenOptions");
        #[cfg(feature = "registry")]
        d.field("registry", &self.registry);
        d.field("cache", &self.cache)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Opens the source a reference names.
pub fn open(reference: &ImageRef, opts: &OpenOptions) -> Result<Box<dyn ImageSource>> {
    match reference {
        ImageRef::OciDir { path, tag } => Ok(Box::new(OciLayout::new(
            Box::new(DirTree::open(path)?),
            tag.clone(),
        ))),
        ImageRef::OciArchive { path, tag } => Ok(Box::new(OciLayout::new(
            Box::new({
                open_regular_file(path)?;
                TarTree::open(path)?
            }),
            tag.clone(),
        ))),
        ImageRef::DockerArchive { path, name } => Ok(Box::new(DockerArchive::open(
            Box::new({
                // A FIFO or device must neither hang nor be read as an archive.
                open_regular_file(path)?;
                TarTree::open_exact(path)?
            }),
            name.clone(),
        )?)),
        #[cfg(feature = "registry")]
        ImageRef::Registry(r) => Ok(Box::new(registry::RegistrySource::open(r, &opts.registry)?)),
        // The image-only library (fuzz builds) reads files alone.
        #[cfg(not(feature = "registry"))]
        ImageRef::Registry(_) => {
            let _ = opts;
            Err(ImageError::Invalid(
                "this build of image-check reads files only (built without the `registry` feature)"
                    .into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_matching() {
        let p = |s| Platform::parse(s).unwrap();
        assert!(p("linux/amd64").satisfies(&p("linux/amd64")));
        assert!(!p("linux/arm64").satisfies(&p("linux/amd64")));
        assert!(p("linux/arm64").satisfies(&p("linux/arm64/v8")));
        assert!(!p("linux/arm/v6").satisfies(&p("linux/arm/v7")));
        assert!(p("linux/arm/v7").satisfies(&p("linux/arm")));
        assert!(Platform::parse("linux").is_none());
        assert!(Platform::parse("linux/").is_none());
    }
}
