//! Image references, spelled the way skopeo spells them.
//!
//! `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REPO:TAG|@N]`,
//! `docker://NAME` and a bare `NAME[:TAG][@DIGEST]` (a registry reference). As in
//! skopeo, the path ends at the first `:` after the transport.
//!
//! Registry names follow Docker's reference grammar (distribution's `reference`
//! package): the first component is a host when it has a `.` or a `:` or is
//! `localhost`; `docker://` without a host means Docker Hub, whose one-component
//! names live under `library/`. A bare name without a host is the CI gate's form:
//! ECR in the current AWS account and region.

use super::digest::Digest;
use super::error::{ImageError, Result};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    OciDir { path: PathBuf, tag: Option<String> },
    OciArchive { path: PathBuf, tag: Option<String> },
    DockerArchive { path: PathBuf, name: Option<String> },
    Registry(RegistryRef),
}

/// Which registry a reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    /// A bare `REPO[:TAG]`: ECR in the current AWS account and region, unless
    /// `--registry` names the host.
    Ecr,
    /// `HOST[:PORT]`, lower-cased; Docker Hub is `docker.io`.
    Host(String),
}

/// A registry reference, parsed once: the registry, the repository path, and
/// the tag and/or digest (a digest wins when both are given, as in Docker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    pub registry: Registry,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

pub const DOCKER_HUB: &str = "docker.io";

impl RegistryRef {
    /// Parses `[HOST[:PORT]/]REPO[:TAG][@DIGEST]`; `hub_default` says whether a
    /// name without a host means Docker Hub (`docker://`) or ECR (bare).
    fn parse(name: &str, hub_default: bool) -> std::result::Result<RegistryRef, String> {
        if name.len() > 255 + 128 + 72 {
            return Err("the name is longer than a registry accepts".into());
        }
        let (rest, digest) = match name.split_once('@') {
            Some((r, d)) => (
                r,
                Some(Digest::parse(d).map_err(|_| {
                    "the part after `@` is not a `sha256:` or `sha512:` digest".to_string()
                })?),
            ),
            None => (name, None),
        };
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (path, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes().enumerate().all(|(i, b)| {
                    b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && (b == b'.' || b == b'-'))
                });
            if !ok {
                return Err(format!("`{t}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)"));
            }
        }
        let (host, repo) = match path.split_once('/') {
            Some((first, more))
                if first.contains(['.', ':']) || first == "localhost" || first.starts_with('[') =>
            {
                (Some(first), more)
            }
            _ => (None, path),
        };
        let registry = match host {
            Some(h) => Registry::Host(valid_host(h)?),
            None if hub_default => Registry::Host(DOCKER_HUB.into()),
            None => Registry::Ecr,
        };
        if repo.is_empty() {
            return Err("the repository name is empty".into());
        }
        for c in repo.split('/') {
            if !valid_component(c) {
                return Err(format!("`{c}` is not a valid repository path component (lower-case letters and digits, separated by `.`, `_`, `__` or dashes)"));
            }
        }
        let mut repository = repo.to_string();
        if registry == Registry::Host(DOCKER_HUB.into()) && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        Ok(RegistryRef {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// What the manifest request names: the digest when given, else the tag
    /// (`latest` when neither is).
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    pub fn host(&self) -> Option<&str> {
        match &self.registry {
            Registry::Host(h) => Some(h),
            Registry::Ecr => None,
        }
    }
}

impl std::fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Registry::Host(h) = &self.registry {
            write!(f, "{h}/")?;
        }
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, Docker's path component.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let x = b[i];
        if x.is_ascii_lowercase() || x.is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or any number of `-` (never empty: an
        // upper-case letter is neither a name byte nor a separator).
        let run = b[i..]
            .iter()
            .take_while(|&&y| !y.is_ascii_lowercase() && !y.is_ascii_digit())
            .count();
        let sep = &c[i..i + run];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|y| y == b'-')) {
            return false;
        }
        i += run;
    }
    true
}

/// A reference or host as messages show it: credentials typed into the host
/// part (`USER:PASS@HOST/…`, which no reference grammar allows) are replaced,
/// since CI logs keep what an error echoes. The `@` of a digest comes after the
/// first `/` (or, in a bare one-component reference, is followed by no `/`),
/// so it is left alone.
pub fn shown(s: &str) -> String {
    let (scheme, rest) = match s.split_once("://") {
        Some((sc, r)) => (&s[..sc.len() + 3], r),
        None => ("", s),
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    if rest[..host_end].contains('@') && (host_end < rest.len() || !scheme.is_empty()) {
        format!(
            "{scheme}{}{}",
            hide_userinfo(&rest[..host_end]),
            &rest[host_end..]
        )
    } else {
        s.to_string()
    }
}

/// A host part with whatever comes before its last `@` (a `USER:PASS` typed into
/// it) replaced.
fn hide_userinfo(host: &str) -> String {
    match host.rfind('@') {
        Some(at) => format!("(credentials hidden)@{}", &host[at + 1..]),
        None => host.to_string(),
    }
}

/// `host[:port]` or `[v6][:port]`, lower-cased.
pub fn valid_host(h: &str) -> std::result::Result<String, String> {
    let bad = || {
        format!(
            "`{}` is not a valid registry host (HOST[:PORT])",
            hide_userinfo(h)
        )
    };
    let (name, port) = if let Some(v6) = h.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad());
        }
        (&h[..addr.len() + 2], after.strip_prefix(':'))
    } else {
        match h.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (h, None),
        }
    };
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) || p.starts_with('+') {
            return Err(bad());
        }
    }
    if !name.starts_with('[')
        && (name.is_empty()
            || name.starts_with(['.', '-'])
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
    {
        return Err(bad());
    }
    let h = h.to_ascii_lowercase();
    Ok(match h.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.into(),
        _ => h,
    })
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef> {
        let bad = |reason: &str| ImageError::BadReference {
            reference: shown(s),
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
            return RegistryRef::parse(rest, true)
                .map(ImageRef::Registry)
                .map_err(|r| bad(&r));
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
        RegistryRef::parse(s, false)
            .map(ImageRef::Registry)
            .map_err(|r| bad(&r))
    }

    /// The repository's last path component (`scalemap-api` for
    /// `123.dkr.ecr.eu-west-1.amazonaws.com/team/scalemap-api:v1.0`), which names
    /// the spec file `images/<repository>.toml`.
    pub fn repository(&self) -> Option<String> {
        match self {
            ImageRef::Registry(r) => Some(repository_of(&r.repository)),
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

    fn reg(s: &str) -> RegistryRef {
        match ImageRef::parse(s) {
            Ok(ImageRef::Registry(r)) => r,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn registry_references_in_one_grammar() {
        let hex = "a".repeat(64);
        let r = reg("scalemap-api:v1.0");
        assert_eq!(r.registry, Registry::Ecr);
        assert_eq!(
            (r.repository.as_str(), r.reference()),
            ("scalemap-api", "v1.0".into())
        );
        let r = reg("team/app");
        assert_eq!(
            (r.registry.clone(), r.reference()),
            (Registry::Ecr, "latest".into())
        );
        let r = reg("docker://localhost:5000/ns/app:v2");
        assert_eq!(r.registry, Registry::Host("localhost:5000".into()));
        assert_eq!(r.repository, "ns/app");
        assert_eq!(r.tag.as_deref(), Some("v2"));
        let r = reg(&format!("docker://127.0.0.1:5000/app:v1@sha256:{hex}"));
        assert_eq!(
            r.reference(),
            format!("sha256:{hex}"),
            "a digest wins over a tag"
        );
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/app:v1@sha256:{hex}"));
        let r = reg("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/scalemap-api:v1.0");
        assert_eq!(
            r.host(),
            Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
        );
        assert_eq!(r.repository, "team/scalemap-api");
        // Docker Hub: `docker://` without a host, and its `library/` namespace.
        for (s, repo) in [
            ("docker://alpine", "library/alpine"),
            ("docker://docker.io/alpine:3", "library/alpine"),
            ("docker.io/alpine", "library/alpine"),
            ("docker://index.docker.io/library/alpine", "library/alpine"),
            ("docker://bitnami/redis", "bitnami/redis"),
        ] {
            let r = reg(s);
            assert_eq!(r.host(), Some(DOCKER_HUB), "{s}");
            assert_eq!(r.repository, repo, "{s}");
        }
        let r = reg("docker://[::1]:5000/app:v1");
        assert_eq!(r.host(), Some("[::1]:5000"));
        assert_eq!(
            ImageRef::parse("docker://localhost:5000/team/app:v1")
                .unwrap()
                .repository()
                .as_deref(),
            Some("app")
        );
    }

    #[test]
    fn registry_references_that_docker_rejects_are_rejected() {
        for s in [
            "docker://localhost:5000/App:v1",
            "docker://localhost:5000/app:",
            "docker://localhost:5000/app:-x",
            "docker://localhost:5000/app@sha256:abc",
            "docker://localhost:99999/app",
            "docker://localhost:5000/",
            "docker://localhost:5000/a//b",
            "docker://localhost:5000/a-/b",
            "docker://localhost:5000/a...b",
            "docker://[zz]:5000/app",
            "app:v1:v2/x",
        ] {
            assert!(ImageRef::parse(s).is_err(), "{s:?} should be rejected");
        }
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

    /// Credentials typed into a reference's host part are refused without
    /// being echoed (hostile F12: CI logs keep error messages); a digest's `@`
    /// is shown as typed.
    #[test]
    fn credentials_in_a_host_part_are_never_echoed() {
        for s in [
            "docker://u:S3cretPw@127.0.0.1:5201/basic:t",
            "u:S3cretPw@127.0.0.1:5201/basic:t",
            "docker://u:S3cretPw@127.0.0.1:5201",
        ] {
            let e = ImageRef::parse(s).unwrap_err().to_string();
            assert!(!e.contains("S3cretPw"), "{e}");
            assert!(e.contains("127.0.0.1:5201"), "{e}");
        }
        let e = valid_host("u:S3cretPw@127.0.0.1:5201").unwrap_err();
        assert!(
            !e.contains("S3cretPw") && e.contains("127.0.0.1:5201"),
            "{e}"
        );
        for s in [
            "repo@sha256:zz",
            "ns/repo@sha256:zz",
            "docker://h/r@sha256:zz",
        ] {
            assert_eq!(shown(s), s);
        }
    }
}
