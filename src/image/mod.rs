//! Everything image-check knows: references, sources, layers, the flattened
//! filesystem, the spec and the checks.
//!
//! [`load`] turns a selected manifest into a [`Loaded`] image (config + flattened
//! tree), reading layers in parallel and verifying every byte; [`run::check`] is the
//! whole CI gate; [`inspect`] holds the `ls`/`cat`/`why` debugging verbs.

pub mod app;
pub mod checks;
pub mod digest;
pub mod error;
#[doc(hidden)]
pub mod flatten_model;
pub mod fs;
pub mod inspect;
pub mod layer;
pub mod reference;
pub mod run;
pub mod source;
pub mod spec;
pub mod tarread;

use crate::report::{Code, Finding};
use digest::Digest;
use error::{ImageError, Result};
use fs::{FlatFs, LayerInfo};
use oci_spec::image::ImageConfiguration;
use source::{BrokenCandidate, Candidate, ImageSource, Platform};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

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
        want: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Loaded> {
        match &self.candidate {
            Ok(c) => load(source, c, self.platform.clone(), want),
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

fn config_platform(source: &dyn ImageSource, c: &Candidate) -> Result<Platform> {
    let cfg = parse_config(&source.read_blob(&c.config)?, &c.config.name())?;
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

/// Applies the platform selection to the source's candidates.
pub fn select(source: &dyn ImageSource, sel: &PlatformSel) -> Result<Vec<Selected>> {
    let mut all: Vec<Selected> = Vec::new();
    for c in source.candidates()? {
        all.push(match c {
            Ok(c) => {
                let platform = match &c.platform {
                    Some(p) => Ok(p.clone()),
                    None => config_platform(source, &c),
                };
                match platform {
                    Ok(p) => Selected {
                        platform: Some(p),
                        candidate: Ok(c),
                        platform_warning: None,
                    },
                    Err(e) => Selected {
                        platform: None,
                        candidate: Err(e),
                        platform_warning: None,
                    },
                }
            }
            Err(BrokenCandidate { platform, error }) => Selected {
                platform,
                candidate: Err(error),
                platform_warning: None,
            },
        });
    }
    if all.len() == 1 && *sel == PlatformSel::Default {
        // The one image is checked whatever its platform, but a runtime on the
        // default platform would not run it: say so unless `--platform` named it.
        for s in &mut all {
            s.platform_warning = s
                .platform
                .as_ref()
                .filter(|p| !p.satisfies(&default_platform()))
                .map(platform_mismatch);
        }
        return Ok(all);
    }
    let available = || {
        let v: Vec<String> = all.iter().map(Selected::label).collect();
        if v.is_empty() {
            "no platforms".into()
        } else {
            v.join(", ")
        }
    };
    let wanted = match sel {
        PlatformSel::All => return Ok(all),
        PlatformSel::Default => default_platform(),
        PlatformSel::One(p) => p.clone(),
    };
    let av = available();
    let chosen: Vec<Selected> = all
        .into_iter()
        .filter(|s| s.platform.as_ref().is_some_and(|p| p.satisfies(&wanted)))
        .take(1)
        .collect();
    if chosen.is_empty() {
        return Err(ImageError::NoSuchPlatform {
            wanted: wanted.to_string(),
            available: av,
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
        self.fs.walk("").map(|(_, n)| n.size).sum()
    }
}

/// Reads config and layers (in parallel, bounded by cores) and flattens them.
/// `want` names the paths whose contents the checks will read.
pub fn load(
    source: &dyn ImageSource,
    c: &Candidate,
    platform: Option<Platform>,
    want: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Loaded> {
    let config = parse_config(&source.read_blob(&c.config)?, &c.config.name())?;
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
                let r = source.open_blob(&c.layers[i]).and_then(|blob| {
                    layer::read_layer(blob, &c.layers[i], &diff_ids[i], i + 1, want)
                });
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
            Some(Ok(idx)) => fs.apply(i + 1, idx),
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
