//! Reading a TOML spec file so that every error names the file and line.
//!
//! Both tools' specs live in the same kind of file (one `images/<repo>.toml` can
//! carry both), so they share this; each keeps its own schema and validation.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// A spec's text, kept to turn byte offsets (serde spans) into line numbers.
pub struct SpecText<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl SpecText<'_> {
    pub fn read(path: &Path) -> Result<String, SpecError> {
        std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })
    }

    /// An error at byte `offset` of the text.
    pub fn invalid(&self, offset: usize, message: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            path: self.path.to_path_buf(),
            line: self.text[..offset.min(self.text.len())]
                .matches('\n')
                .count()
                + 1,
            message: message.into(),
        }
    }

    /// Deserializes the whole file; syntax errors and unknown keys point at their line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, SpecError> {
        toml::from_str(self.text).map_err(|e| {
            self.invalid(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().trim().to_string(),
            )
        })
    }
}
