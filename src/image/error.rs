//! Why an image could not be checked: every variant means exit code 2.
//!
//! Messages name the blob or file at fault and never repeat their `#[source]`;
//! [`ImageError::hint`] says what the person at the terminal can do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid image reference `{reference}`: {reason}")]
    BadReference { reference: String, reason: String },
    /// A registry or its credentials failed us: the message names the host, what
    /// was asked and which credential source was used; never a secret.
    #[error("{message}")]
    Registry {
        message: String,
        hint: String,
        code: crate::report::Code,
    },
    #[error("cannot read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not in {container}")]
    MissingFile { path: String, container: String },
    #[error("cannot parse {what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Invalid(String),
    /// Input refused on purpose (unsafe or over a stated limit), with what to do.
    #[error("{message}")]
    Refused { message: String, hint: String },
    /// A blob's source failed while it was read (the connection, the deadline):
    /// not the image's fault, so not called corrupt.
    #[error("{message}")]
    SourceFailed { message: String, hint: String },
    /// A layer refused for passing a memory limit (its listing or the contents
    /// kept for checks), not for anything wrong in it.
    #[error("{message}")]
    OverLimit { message: String, hint: String },
    #[error("no image matches `{wanted}` in {container}; it has: {available}")]
    NoSuchTag {
        wanted: String,
        container: String,
        available: String,
    },
    #[error("the image has no manifest for platform `{wanted}`; it has: {available}")]
    NoSuchPlatform { wanted: String, available: String },
    #[error("blob `{blob}` is {actual} bytes but its descriptor says {expected}")]
    SizeMismatch {
        blob: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob `{blob}` does not match its digest: its bytes hash to `{actual}`")]
    DigestMismatch { blob: String, actual: String },
    #[error("layer {index} (`{blob}`) uncompressed hashes to `{actual}`, but the config's rootfs.diff_ids says `{expected}`")]
    DiffIdMismatch {
        index: usize,
        blob: String,
        expected: String,
        actual: String,
    },
    #[error("layer {index} (`{blob}`) is truncated or corrupt")]
    CorruptLayer {
        index: usize,
        blob: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the image config lists {diff_ids} diff_ids but the manifest has {layers} layers")]
    LayerCountMismatch { diff_ids: usize, layers: usize },
    #[error("unsupported digest `{0}` (sha256 and sha512 are supported)")]
    UnsupportedDigest(String),
    #[error("`{path}` does not exist in the image")]
    PathNotFound { path: String },
    #[error("`{path}` is a {kind}, not a regular file")]
    NotAFile { path: String, kind: &'static str },
}

impl ImageError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        ImageError::Json {
            what: what.into(),
            source,
        }
    }

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ImageError::BadReference { .. } => "use `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REPO:TAG]`, `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]` or a bare `REPO[:TAG]` for ECR (skopeo's spelling)".into(),
            ImageError::Registry { hint, .. } => hint.clone(),
            ImageError::SizeMismatch { .. } | ImageError::DigestMismatch { .. } | ImageError::CorruptLayer { .. } | ImageError::DiffIdMismatch { .. } => {
                "the image is corrupt or was modified after it was written; pull or save it again".into()
            }
            ImageError::Refused { hint, .. }
            | ImageError::OverLimit { hint, .. }
            | ImageError::SourceFailed { hint, .. } => hint.clone(),
            ImageError::NoSuchTag { .. } => "name one of the tags listed, or leave the tag out when there is only one image".into(),
            ImageError::NoSuchPlatform { .. } => "pass `--platform OS/ARCH` with one of the platforms listed, or `--platform all`".into(),
            _ => return None,
        })
    }
}

impl ImageError {
    /// The finding code a machine-readable report gives this failure.
    pub fn code(&self) -> crate::report::Code {
        match self {
            ImageError::Registry { code, .. } => *code,
            ImageError::SourceFailed { .. } => crate::report::Code::RegistryUnavailable,
            _ => crate::report::Code::ImageUnreadable,
        }
    }

    #[cfg(feature = "registry")]
    pub(crate) fn registry(
        code: crate::report::Code,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ImageError::Registry {
            message: message.into(),
            hint: hint.into(),
            code,
        }
    }
}

/// Why a blob's source stopped delivering bytes (a registry connection that broke
/// past its resumes, the deadline, a bad resume), carried inside the
/// `io::Error` the blob reader returns, so the layer reader can name the
/// transport instead of calling the short blob corrupt.
#[derive(Debug)]
pub struct SourceFailure {
    pub message: String,
    pub hint: String,
}

impl std::fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SourceFailure {}

impl SourceFailure {
    pub fn io(
        kind: std::io::ErrorKind,
        message: String,
        hint: impl Into<String>,
    ) -> std::io::Error {
        std::io::Error::new(
            kind,
            SourceFailure {
                message,
                hint: hint.into(),
            },
        )
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;
