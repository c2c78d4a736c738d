//! Image references, spelled the way skopeo spells them.
//!
//! `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REPO:TAG|@N]`,
//! `docker://NAME` and a bare `NAME[:TAG][@DIGEST]` (a registry reference). As in
//! skopeo, the path ends at the first `:` after the transport.

use super::error::{ImageError, Result};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    OciDir { path: PathBuf, tag: Option<String> },
    OciArchive { path: PathBuf, tag: Option<String> },
    DockerArchive { path: PathBuf, name: Option<String> },
    Registry { name: String },
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef> {
        let bad = |reason: &str| ImageError::BadReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        let split = |rest: &str| -> Result<(PathBuf, Option<String>)> {
            let (path, tail) = match rest.split_once(':') {
                Some((p, t)) => (p, Some(t.to_string())),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(bad("the path is empty"));
            }
            if tail.as_deref() == Some("") {
                return Err(bad("the part after the path's `:` is empty"));
            }
            Ok((PathBuf::from(path), tail))
        };
        if let Some(rest) = s.strip_prefix("oci:") {
            let (path, tag) = split(rest)?;
            return Ok(ImageRef::OciDir { path, tag });
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (path, tag) = split(rest)?;
            return Ok(ImageRef::OciArchive { path, tag });
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (path, name) = split(rest)?;
            return Ok(ImageRef::DockerArchive { path, name });
        }
        if let Some(rest) = s.strip_prefix("docker://") {
            if rest.is_empty() {
                return Err(bad("the image name is empty"));
            }
            return Ok(ImageRef::Registry {
                name: rest.to_string(),
            });
        }
        if let Some((transport, _)) = s.split_once(':') {
            if [
                "dir",
                "docker-daemon",
                "containers-storage",
                "sif",
                "ostree",
            ]
            .contains(&transport)
            {
                return Err(bad(&format!(
                    "the `{transport}:` transport is not supported"
                )));
            }
        }
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if std::path::Path::new(s).exists() {
            return Err(bad(
                "it is a path on disk; prefix it with `oci:`, `oci-archive:` or `docker-archive:`",
            ));
        }
        let valid = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
        if !valid {
            return Err(bad(
                "a registry reference may only contain letters, digits and `._-/:@`",
            ));
        }
        Ok(ImageRef::Registry {
            name: s.to_string(),
        })
    }

    /// The repository's last path component (`scalemap-api` for
    /// `123.dkr.ecr.eu-west-1.amazonaws.com/team/scalemap-api:v1.0`), which names
    /// the spec file `images/<repository>.toml`.
    pub fn repository(&self) -> Option<String> {
        match self {
            ImageRef::Registry { name } => Some(repository_of(name)),
            ImageRef::DockerArchive { name: Some(n), .. } if !n.starts_with('@') => {
                Some(repository_of(n))
            }
            _ => None,
        }
    }
}

/// `registry:5000/ns/app:tag@sha256:…` → `app`.
pub fn repository_of(name: &str) -> String {
    let no_digest = name.split('@').next().unwrap_or(name);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_skopeo_spellings() {
        assert_eq!(
            ImageRef::parse("oci:/tmp/layout:v1").unwrap(),
            ImageRef::OciDir {
                path: "/tmp/layout".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            ImageRef::parse("oci-archive:img.tar").unwrap(),
            ImageRef::OciArchive {
                path: "img.tar".into(),
                tag: None
            }
        );
        assert_eq!(
            ImageRef::parse("docker-archive:img.tar:scalemap-api:v1.0").unwrap(),
            ImageRef::DockerArchive {
                path: "img.tar".into(),
                name: Some("scalemap-api:v1.0".into())
            }
        );
        assert_eq!(
            ImageRef::parse("scalemap-api:v1.0")
                .unwrap()
                .repository()
                .as_deref(),
            Some("scalemap-api")
        );
        assert_eq!(
            repository_of("123.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1@sha256:ab"),
            "app"
        );
        assert_eq!(repository_of("localhost:5000/app"), "app");
    }

    #[test]
    fn rejects_bad_references() {
        for s in [
            "",
            "oci:",
            "oci-archive::tag",
            "dir:/x",
            "has space:tag",
            "docker://",
        ] {
            assert!(ImageRef::parse(s).is_err(), "{s:?} should be rejected");
        }
    }
}
