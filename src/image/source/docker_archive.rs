//! `docker save` archives, legacy (`<id>/layer.tar`) and Docker 25+ (an OCI layout
//! inside the tar); both carry `manifest.json`, which is what `docker load` reads.
//!
//! Legacy layers have no descriptor digest, so they are verified by the config's
//! `rootfs.diff_ids` only; blobs named `blobs/sha256/<hex>` get their digest back.

use super::{BlobDesc, Candidate, FileTree, ImageSource, Root};
use crate::image::digest::Digest;
use crate::image::error::{ImageError, Result};
use serde::Deserialize;
use std::io::Read;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

pub struct DockerArchive {
    tree: Box<dyn FileTree>,
    entry: Entry,
}

/// The digest a member's name implies: `blobs/sha256/<hex>` or legacy `<hex>.json`.
fn implied_digest(name: &str) -> Option<Digest> {
    let name = name.trim_start_matches("./");
    if let Some(rest) = name.strip_prefix("blobs/") {
        let (algo, hex) = rest.split_once('/')?;
        return Digest::parse(&format!("{algo}:{hex}")).ok();
    }
    let hex = name.strip_suffix(".json")?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

fn normalize_tag(t: &str) -> String {
    let t = t
        .strip_prefix("docker.io/library/")
        .or_else(|| t.strip_prefix("docker.io/"))
        .unwrap_or(t);
    if t.rsplit('/').next().is_some_and(|last| last.contains(':')) {
        t.to_string()
    } else {
        format!("{t}:latest")
    }
}

impl DockerArchive {
    pub fn open(tree: Box<dyn FileTree>, name: Option<String>) -> Result<DockerArchive> {
        let bytes = tree
            .read_small("manifest.json")?
            .ok_or_else(|| ImageError::MissingFile {
                path: "manifest.json".into(),
                container: format!("`{}`, so it is not `docker save` output", tree.describe()),
            })?;
        let mut entries: Vec<Entry> = serde_json::from_slice(&bytes).map_err(|e| {
            super::json_error(format!("`manifest.json` in `{}`", tree.describe()), e)
        })?;
        let available = || {
            let names: Vec<String> = entries
                .iter()
                .enumerate()
                .map(|(i, e)| match e.repo_tags.as_deref() {
                    Some([first, ..]) => first.clone(),
                    _ => format!("@{i}"),
                })
                .collect();
            if names.is_empty() {
                "nothing".into()
            } else {
                names.join(", ")
            }
        };
        let pick = match name.as_deref() {
            None if entries.len() == 1 => Some(0),
            None => None,
            Some(n) if n.starts_with('@') => {
                n[1..].parse::<usize>().ok().filter(|&i| i < entries.len())
            }
            Some(n) => {
                let want = normalize_tag(n);
                entries.iter().position(|e| {
                    e.repo_tags
                        .iter()
                        .flatten()
                        .any(|t| normalize_tag(t) == want)
                })
            }
        };
        match pick {
            Some(i) => Ok(DockerArchive {
                entry: entries.swap_remove(i),
                tree,
            }),
            None => Err(ImageError::NoSuchTag {
                wanted: name.unwrap_or_else(|| "(no name)".into()),
                container: format!("`{}`", tree.describe()),
                available: available(),
            }),
        }
    }

    fn blob(&self, member: &str) -> BlobDesc {
        BlobDesc {
            member: Some(member.to_string()),
            digest: implied_digest(member),
            size: None,
            media_type: None,
        }
    }
}

impl ImageSource for DockerArchive {
    fn describe(&self) -> String {
        self.tree.describe()
    }

    fn repository(&self) -> Option<String> {
        let tag = self.entry.repo_tags.as_ref()?.first()?;
        Some(crate::image::reference::repository_of(tag))
    }

    fn roots(&self) -> Result<Vec<Root>> {
        Ok(vec![Root::Image(Candidate {
            platform: None,
            manifest_digest: None,
            config: self.blob(&self.entry.config),
            layers: self.entry.layers.iter().map(|l| self.blob(l)).collect(),
            config_bytes: None,
        })])
    }

    fn fetch_manifest(&self, desc: &BlobDesc) -> Result<Vec<u8>> {
        // `manifest.json` is the archive's only manifest, read at open.
        Err(ImageError::Invalid(format!(
            "`{}` is a `docker save` archive, which holds no manifest `{}`",
            self.tree.describe(),
            desc.name()
        )))
    }

    fn open_blob(&self, blob: &BlobDesc) -> Result<Box<dyn Read + Send + '_>> {
        let member = blob.member.as_deref().unwrap_or_default();
        self.tree.open_required(member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_from_member_names() {
        let hex = "a".repeat(64);
        assert!(implied_digest(&format!("blobs/sha256/{hex}")).is_some());
        assert!(implied_digest(&format!("{hex}.json")).is_some());
        assert!(implied_digest(&format!("{hex}/layer.tar")).is_none());
        assert_eq!(normalize_tag("docker.io/library/app:v1"), "app:v1");
        assert_eq!(normalize_tag("app"), "app:latest");
        assert_eq!(
            normalize_tag("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
    }
}
