//! Everything image-check knows: references, sources, layers, the flattened
//! filesystem, the spec and the checks.
//!
//! [`load`] turns a selected manifest into a [`Loaded`] image (config + flattened
//! tree), reading layers in parallel and verifying every byte; [`run::check`] is the
//! whole CI gate; [`inspect`] holds the `ls`/`cat`/`why` debugging verbs.

#[cfg(feature = "registry")]
pub mod app;
#[cfg(feature = "registry")]
pub mod bars;
pub mod cache;
pub mod checks;
pub mod contents;
pub mod digest;
pub mod error;
#[doc(hidden)]
pub mod flatten_model;
pub mod fs;
pub mod inspect;
pub mod layer;
pub mod lint;
pub mod packed;
pub mod progress;
pub mod reference;
pub mod run;
pub mod source;
pub mod spec;
mod store;
pub mod tarread;

use crate::report::{Code, Finding};
use cache::LayerCache;
use contents::ContentSet;
use digest::Digest;
use error::{ImageError, Result};
use fs::{FlatFs, LayerInfo};
use oci_spec::image::ImageConfiguration;
use source::walk::{self, Leaf};
use source::{Candidate, ImageSource, Platform};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Which platforms of a multi-platform image to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformSel {
    /// linux/amd64, or the only image when the reference names a single manifest.
    Default,
    One(Platform),
    All,
}

impl PlatformSel {
    pub fn parse(s: &str) -> std::result::Result<PlatformSel, String> {
        if s == "all" {
            return Ok(PlatformSel::All);
        }
        Platform::parse(s)
            .map(PlatformSel::One)
            .ok_or_else(|| format!("`{s}` is not OS/ARCH[/VARIANT] or `all`"))
    }
}

/// A manifest chosen for checking, or the reason it cannot be read.
pub struct Selected {
    pub platform: Option<Platform>,
    pub candidate: std::result::Result<Candidate, ImageError>,
    /// Set when the default selection took an image of another platform.
    pub platform_warning: Option<Finding>,
}

impl Selected {
    /// Loads this manifest, or says why it could not be read.
    pub fn load(
        &self,
        source: &dyn ImageSource,
        want: &ContentSet,
        opts: &source::OpenOptions,
    ) -> Result<Loaded> {
        match &self.candidate {
            Ok(c) => load(source, c, self.platform.clone(), want, opts),
            Err(e) => Err(ImageError::Invalid(crate::cli::chain(e))),
        }
    }

    pub fn label(&self) -> String {
        self.platform
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unknown platform".into())
    }
}

/// The platform the config states; its bytes are kept in the candidate for
/// the load.
fn config_platform(source: &dyn ImageSource, c: &mut Candidate) -> Result<Platform> {
    let bytes: std::sync::Arc<[u8]> = source.read_blob(&c.config)?.into();
    let cfg = parse_config(&bytes, &c.config.name())?;
    c.config_bytes = Some(bytes);
    Ok(Platform {
        os: cfg.os().to_string(),
        arch: cfg.architecture().to_string(),
        variant: cfg.variant().clone(),
    })
}

fn parse_config(bytes: &[u8], name: &str) -> Result<ImageConfiguration> {
    serde_json::from_slice(bytes)
        .map_err(|e| source::json_error(format!("image config `{name}`"), e))
}

fn default_platform() -> Platform {
    Platform {
        os: "linux".into(),
        arch: "amd64".into(),
        variant: None,
    }
}

fn platform_mismatch(p: &Platform) -> Finding {
    Finding::warning(
        Code::PlatformMismatch,
        p.to_string(),
        format!("the image's only platform is `{p}`, so on x86_64 hosts (ECS Fargate's default) the container fails with `exec format error`"),
    )
    .hint(format!("build for `linux/amd64` too (`docker buildx build --platform linux/amd64,{p}`), or run it only on `{p}` hosts and pass `--platform {p}` to say so"))
}

/// An image manifest the reference reaches: its platform as known so far, and
/// the leaf still to fetch or what fetching it gave.
struct Reached {
    platform: Option<Platform>,
    state: std::result::Result<Leaf, std::result::Result<Candidate, ImageError>>,
}

impl Reached {
    fn label(&self) -> String {
        self.platform
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "unknown platform".into())
    }

    fn into_selected(self, source: &dyn ImageSource) -> Selected {
        let candidate = match self.state {
            Ok(leaf) => walk::resolve(leaf, &|d| source.fetch_manifest(d)),
            Err(done) => done,
        };
        Selected {
            platform: self.platform,
            candidate,
            platform_warning: None,
        }
    }
}

/// Applies the platform selection to what the reference reaches. Index
/// descriptors that state a platform are selected on before their manifests are
/// fetched; only a manifest whose descriptor says nothing is fetched (with its
/// config) to learn its platform.
pub fn select(source: &dyn ImageSource, sel: &PlatformSel) -> Result<Vec<Selected>> {
    let fetch = |d: &source::BlobDesc| source.fetch_manifest(d);
    let mut all: Vec<Reached> = Vec::new();
    for leaf in walk::leaves(source.roots()?, &fetch)? {
        all.push(match leaf.platform.clone() {
            Some(p) if !matches!(leaf.kind, walk::LeafKind::Broken(_)) => Reached {
                platform: Some(p),
                state: Ok(leaf),
            },
            platform @ Some(_) => Reached {
                platform,
                state: Err(walk::resolve(leaf, &fetch)),
            },
            None => match walk::resolve(leaf, &fetch) {
                Ok(mut c) => match config_platform(source, &mut c) {
                    Ok(p) => Reached {
                        platform: Some(p),
                        state: Err(Ok(c)),
                    },
                    Err(e) => Reached {
                        platform: None,
                        state: Err(Err(e)),
                    },
                },
                Err(e) => Reached {
                    platform: None,
                    state: Err(Err(e)),
                },
            },
        });
    }
    if all.len() == 1 && *sel == PlatformSel::Default {
        // The one image is checked whatever its platform, but a runtime on the
        // default platform would not run it: say so unless `--platform` named it.
        return Ok(all
            .into_iter()
            .map(|r| {
                let mut s = r.into_selected(source);
                s.platform_warning = s
                    .platform
                    .as_ref()
                    .filter(|p| !p.satisfies(&default_platform()))
                    .map(platform_mismatch);
                s
            })
            .collect());
    }
    let wanted = match sel {
        PlatformSel::All => return Ok(all.into_iter().map(|r| r.into_selected(source)).collect()),
        PlatformSel::Default => default_platform(),
        PlatformSel::One(p) => p.clone(),
    };
    let available = {
        let v: Vec<String> = all.iter().map(Reached::label).collect();
        if v.is_empty() {
            "no platforms".into()
        } else {
            v.join(", ")
        }
    };
    let chosen: Vec<Selected> = all
        .into_iter()
        .filter(|r| r.platform.as_ref().is_some_and(|p| p.satisfies(&wanted)))
        .take(1)
        .map(|r| r.into_selected(source))
        .collect();
    if chosen.is_empty() {
        return Err(ImageError::NoSuchPlatform {
            wanted: wanted.to_string(),
            available,
        });
    }
    Ok(chosen)
}

/// A readable image: its config and flattened filesystem.
pub struct Loaded {
    pub platform: Option<Platform>,
    pub manifest_digest: Option<Digest>,
    pub config: ImageConfiguration,
    pub fs: FlatFs,
}

impl Loaded {
    pub fn uncompressed_total(&self) -> u64 {
        self.fs.file_bytes()
    }
}

/// The tree would pass [`fs::MAX_TREE_BYTES`]: refused rather than checked short.
fn too_large(layer: usize, layers: usize, paths: usize) -> ImageError {
    ImageError::Refused {
        message: format!(
            "the flattened tree passes image-check's limit of {} MiB at layer {layer} of {layers} ({paths} paths so far)",
            fs::MAX_TREE_BYTES >> 20
        ),
        hint: "the image holds far more files (or far longer names) than real images do; remove what it does not need (caches, docs, test data), and see the README's limits".into(),
    }
}

/// Reads config and layers (in parallel, bounded by cores) and flattens them.
/// `want` names the paths whose contents the checks will read. A layer found in
/// `opts.cache` is neither opened nor fetched; a layer read is stored there.
/// `opts.progress` sees every layer's bytes as they are read.
pub fn load(
    source: &dyn ImageSource,
    c: &Candidate,
    platform: Option<Platform>,
    want: &ContentSet,
    opts: &source::OpenOptions,
) -> Result<Loaded> {
    let cache = opts.cache.as_ref();
    let progress = opts.progress.as_deref();
    let config = match &c.config_bytes {
        Some(b) => parse_config(b, &c.config.name())?,
        None => parse_config(&source.read_blob(&c.config)?, &c.config.name())?,
    };
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != c.layers.len() {
        return Err(ImageError::LayerCountMismatch {
            diff_ids: diff_ids.len(),
            layers: c.layers.len(),
        });
    }
    let diff_ids: Vec<Digest> = diff_ids
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<_>>()?;
    let created_by: Vec<Option<String>> = config
        .history()
        .iter()
        .flatten()
        .filter(|h| !h.empty_layer().unwrap_or(false))
        .map(|h| h.created_by().clone())
        .collect();
    let infos = c
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| LayerInfo {
            digest: l.digest.as_ref().unwrap_or(&diff_ids[i]).short(),
            created_by: if created_by.len() == c.layers.len() {
                created_by[i].clone()
            } else {
                None
            },
        })
        .collect();

    let n = c.layers.len();
    let listings = layer::Listings::default();
    let results: Mutex<Vec<Option<Result<layer::LayerIndex>>>> =
        Mutex::new((0..n).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let threads = std::thread::available_parallelism()
        .map(|p| p.get())
        .unwrap_or(2)
        .min(n.max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || failed.load(Ordering::Relaxed) {
                    break;
                }
                let bar = progress.map(|p| {
                    let d = &c.layers[i];
                    let name = d.digest.as_ref().unwrap_or(&diff_ids[i]).short();
                    p.layer(i + 1, n, &name, d.size)
                });
                let r = read_one(
                    source,
                    (&c.layers[i], &diff_ids[i], i + 1),
                    want,
                    cache,
                    &listings,
                    bar.as_ref(),
                );
                if let Some(b) = &bar {
                    if r.is_err() {
                        b.failed();
                    }
                }
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    let mut fs = FlatFs::new(infos);
    for (i, r) in results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .enumerate()
    {
        match r {
            Some(Ok(idx)) => {
                fs.apply(i + 1, idx);
                if fs.full() {
                    return Err(too_large(i + 1, n, fs.len()));
                }
            }
            Some(Err(e)) => return Err(e),
            // Only skipped after another layer failed; never let that pass silently.
            None => return Err(ImageError::Invalid(format!("layer {} was not read", i + 1))),
        }
    }
    Ok(Loaded {
        platform,
        manifest_digest: c.manifest_digest.clone(),
        config,
        fs,
    })
}

/// One layer: from the cache when it has it (the blob is then never opened),
/// else read from the source, verified, and stored.
/// `layer`: its blob, its DiffID and its 1-based position.
fn read_one(
    source: &dyn ImageSource,
    (desc, diff_id, index): (&source::BlobDesc, &Digest, usize),
    want: &ContentSet,
    cache: Option<&LayerCache>,
    listings: &layer::Listings,
    bar: Option<&Arc<dyn progress::LayerProgress>>,
) -> Result<layer::LayerIndex> {
    let key = cache.map(|_| cache::Key::new(diff_id, desc.digest.as_ref(), want));
    if let (Some(cache), Some(key)) = (cache, &key) {
        if let Some(idx) = cache.get(key) {
            let n = idx.entries.bytes();
            if listings.add(n) {
                // The facts are known; that the blob can still be pulled is not.
                if let Err(e) = source.confirm_blob(desc) {
                    listings.release(n);
                    return Err(e);
                }
                if let Some(b) = bar {
                    b.cached();
                }
                return Ok(idx);
            }
            // Over the image's listing limit: read the layer after all, so the
            // refusal names the entry where the limit was passed, as a cold run's.
            listings.release(n);
        }
    }
    let idx = source.open_blob(desc).and_then(|blob| {
        let blob: Box<dyn std::io::Read + Send + '_> = match bar {
            Some(b) => Box::new(progress::Counting::new(blob, b.clone())),
            None => blob,
        };
        layer::read_layer(blob, desc, diff_id, index, want, listings)
    })?;
    if let Some(b) = bar {
        b.done();
    }
    if let (Some(cache), Some(key)) = (cache, &key) {
        cache.put(key, &idx);
    }
    Ok(idx)
}

#[cfg(test)]
mod tests {
    use super::source::{BlobDesc, Root};
    use super::*;
    use std::collections::HashMap;
    use std::io::Read;

    /// A source that serves documents by digest and counts manifest fetches.
    struct Fake {
        root: (Vec<u8>, &'static str),
        docs: HashMap<String, Vec<u8>>,
        fetched: Mutex<Vec<String>>,
    }

    impl ImageSource for Fake {
        fn describe(&self) -> String {
            "fake".into()
        }
        fn roots(&self) -> Result<Vec<Root>> {
            Ok(vec![Root::Fetched {
                desc: BlobDesc {
                    digest: Some(digest::sha256_of(&self.root.0)),
                    size: Some(self.root.0.len() as u64),
                    media_type: Some(self.root.1.into()),
                    member: None,
                },
                bytes: self.root.0.clone(),
            }])
        }
        fn fetch_manifest(&self, d: &BlobDesc) -> Result<Vec<u8>> {
            let k = d.digest.as_ref().unwrap().to_string();
            self.fetched.lock().unwrap().push(k.clone());
            Ok(self.docs[&k].clone())
        }
        fn open_blob(&self, _: &BlobDesc) -> Result<Box<dyn Read + Send + '_>> {
            unreachable!("selection reads no blob when descriptors name platforms")
        }
    }

    fn manifest(n: u8) -> Vec<u8> {
        let cfg = digest::sha256_of(&[n]);
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": source::walk::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg.to_string(), "size": 1},
            "layers": []
        }))
        .unwrap()
    }

    fn index_of(platforms: &[(&str, &Vec<u8>)]) -> Fake {
        let mut docs = HashMap::new();
        let mut entries = Vec::new();
        for (p, m) in platforms {
            let d = digest::sha256_of(m).to_string();
            let (os, arch) = p.split_once('/').unwrap();
            entries.push(serde_json::json!({"mediaType": source::walk::OCI_MANIFEST, "digest": d, "size": m.len(),
                "platform": {"os": os, "architecture": arch}}));
            docs.insert(d, (*m).clone());
        }
        let index =
            serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": entries}))
                .unwrap();
        Fake {
            root: (index, source::walk::OCI_INDEX),
            docs,
            fetched: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn platforms_are_selected_on_descriptors_before_manifests_are_fetched() {
        let (amd, arm, s390) = (manifest(1), manifest(2), manifest(3));
        let f = index_of(&[
            ("linux/arm64", &arm),
            ("linux/amd64", &amd),
            ("linux/s390x", &s390),
        ]);
        let sel = select(&f, &PlatformSel::Default).unwrap();
        assert_eq!(sel.len(), 1);
        assert!(sel[0].candidate.is_ok());
        assert_eq!(
            *f.fetched.lock().unwrap(),
            vec![digest::sha256_of(&amd).to_string()],
            "only the selected platform's manifest is fetched"
        );
        f.fetched.lock().unwrap().clear();
        let err = select(
            &f,
            &PlatformSel::One(Platform::parse("linux/ppc64le").unwrap()),
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("linux/arm64, linux/amd64, linux/s390x"),
            "{err}"
        );
        assert!(
            f.fetched.lock().unwrap().is_empty(),
            "a platform nobody has fetches nothing"
        );
        let all = select(&f, &PlatformSel::All).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(f.fetched.lock().unwrap().len(), 3);
    }

    /// A single manifest states no platform: selection reads its config to
    /// learn it, and the load uses those bytes instead of fetching the config
    /// again (one more request against a registry's rate limit).
    #[test]
    fn a_config_read_for_selection_is_not_fetched_again_to_load() {
        struct One {
            manifest: Vec<u8>,
            config: Vec<u8>,
            opened: Mutex<usize>,
        }
        impl ImageSource for One {
            fn describe(&self) -> String {
                "one".into()
            }
            fn roots(&self) -> Result<Vec<Root>> {
                Ok(vec![Root::Fetched {
                    desc: BlobDesc {
                        digest: Some(digest::sha256_of(&self.manifest)),
                        size: Some(self.manifest.len() as u64),
                        media_type: Some(source::walk::OCI_MANIFEST.into()),
                        member: None,
                    },
                    bytes: self.manifest.clone(),
                }])
            }
            fn fetch_manifest(&self, _: &BlobDesc) -> Result<Vec<u8>> {
                unreachable!("the root is the manifest")
            }
            fn open_blob(&self, _: &BlobDesc) -> Result<Box<dyn Read + Send + '_>> {
                *self.opened.lock().unwrap() += 1;
                Ok(Box::new(std::io::Cursor::new(self.config.clone())))
            }
        }
        let config = br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": source::walk::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest::sha256_of(&config).to_string(), "size": config.len()},
            "layers": []
        }))
        .unwrap();
        let one = One {
            manifest,
            config,
            opened: Mutex::new(0),
        };
        let sel = select(&one, &PlatformSel::Default).unwrap();
        assert_eq!(*one.opened.lock().unwrap(), 1, "selection reads the config");
        let loaded = sel[0]
            .load(
                &one,
                &contents::ContentSet::none(),
                &source::OpenOptions::default(),
            )
            .unwrap();
        assert_eq!(loaded.config.architecture().to_string(), "amd64");
        assert_eq!(
            *one.opened.lock().unwrap(),
            1,
            "the load does not read it again"
        );
    }

    #[test]
    fn schema1_manifests_are_a_clear_error() {
        let f = Fake {
            root: (
                br#"{"schemaVersion":1,"name":"x","tag":"v1","fsLayers":[]}"#.to_vec(),
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
            ),
            docs: HashMap::new(),
            fetched: Mutex::new(Vec::new()),
        };
        let sel = select(&f, &PlatformSel::Default).unwrap();
        let err = sel[0].candidate.as_ref().err().unwrap();
        assert!(err.to_string().contains("schema 1"), "{err}");
        assert!(err.hint().unwrap().contains("schema 2"));
    }
}
