//! Reading a TOML spec file so that every error names the file and line.
//!
//! Both tools' specs live in the same kind of file (one `images/<repo>.toml` can
//! carry both), so they share this; each keeps its own schema and validation.
//! The path is user input like any other: it may name a FIFO, a device or a huge
//! file, so it is opened without blocking, must be a regular file, and is read only
//! up to [`MAX_SPEC_BYTES`]. [`stat_refusal`] applies the same rule to files that
//! other libraries (OpenSSL, the AWS SDK) read for us, where we cannot choose how.

use serde::de::DeserializeOwned;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A spec is a few kilobytes; anything beyond this is not a spec.
pub const MAX_SPEC_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("spec `{}` is {what}, not a regular file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("spec `{}` is larger than {} KiB", path.display(), MAX_SPEC_BYTES / 1024)]
    TooLarge { path: PathBuf },
    #[error("spec `{}` is not UTF-8 text", path.display())]
    NotText { path: PathBuf },
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

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "an unusual file"
    }
}

/// Why a file another library will read must be refused, judged by `stat` alone,
/// which never opens it (so a FIFO cannot block): it is not a regular file, or it
/// is larger than `cap`. `None` when it is fine or does not exist; each caller
/// names a missing file in its own terms.
pub fn stat_refusal(path: &Path, cap: u64) -> Option<String> {
    let md = std::fs::metadata(path).ok()?;
    if !md.is_file() {
        Some(format!(
            "is {}, not a regular file",
            kind_of(md.file_type())
        ))
    } else if md.len() > cap {
        Some(format!("is larger than {} KiB", cap / 1024))
    } else {
        None
    }
}

impl SpecText<'_> {
    /// Reads at most [`MAX_SPEC_BYTES`] from a regular file. `O_NONBLOCK` keeps the
    /// open of a FIFO with no writer from hanging; the type is checked on the open
    /// descriptor (fstat), so the file cannot be swapped between check and read.
    pub fn read(path: &Path) -> Result<String, SpecError> {
        let read_err = |source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(read_err)?;
        let ft = file.metadata().map_err(read_err)?.file_type();
        if !ft.is_file() {
            return Err(SpecError::NotAFile {
                path: path.to_path_buf(),
                what: kind_of(ft),
            });
        }
        let mut bytes = Vec::new();
        file.take(MAX_SPEC_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_SPEC_BYTES {
            return Err(SpecError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        String::from_utf8(bytes).map_err(|_| SpecError::NotText {
            path: path.to_path_buf(),
        })
    }

    /// An error at byte `offset` of the text.
    pub fn invalid(&self, offset: usize, message: impl Into<String>) -> SpecError {
        // Counted on bytes: an offset inside a multi-byte character must not panic.
        let upto = offset.min(self.text.len());
        SpecError::Invalid {
            path: self.path.to_path_buf(),
            line: self.text.as_bytes()[..upto]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1,
            message: message.into(),
        }
    }

    /// Deserializes the whole file; syntax errors and unknown keys point at their line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, SpecError> {
        toml::from_str(self.text).map_err(|e| {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            let mut message = one_line(&scrub_value(e.message().trim()));
            if message.is_empty() {
                // toml names no cause for some characters (a NUL in a comment).
                message = match self.text.get(at..).and_then(|t| t.chars().next()) {
                    Some(c) if c.is_control() => {
                        format!("control character `U+{:04X}` is not allowed here", c as u32)
                    }
                    _ => "invalid TOML syntax".into(),
                };
            }
            self.invalid(at, message)
        })
    }
}

/// toml's syntax errors span lines (`invalid string\nexpected `"`, `'``); a
/// message is one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// serde's type errors quote the offending value (`invalid type: string "…",
/// expected a boolean`); a spec value may be a secret (`fingerprint_key`), so keep
/// only its type.
fn scrub_value(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (what, expected) = match rest.find(", expected") {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let kind = what.split([' ', '`', '"']).next().unwrap_or("value");
            return format!("{prefix}{kind}{expected}");
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_paths_that_are_not_regular_files_are_refused_without_blocking() {
        let dir = tempfile::TempDir::new().unwrap();
        let e = SpecText::read(dir.path()).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let e = SpecText::read(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = SpecText::read(&fifo).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_SPEC_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            SpecText::read(&big).unwrap_err(),
            SpecError::TooLarge { .. }
        ));
        let bin = dir.path().join("bin.toml");
        std::fs::write(&bin, b"\xff\xfe").unwrap();
        assert!(matches!(
            SpecText::read(&bin).unwrap_err(),
            SpecError::NotText { .. }
        ));
        let ok = dir.path().join("ok.toml");
        std::fs::write(&ok, "[preflight]\n").unwrap();
        assert_eq!(SpecText::read(&ok).unwrap(), "[preflight]\n");
    }

    #[test]
    fn serde_type_errors_do_not_quote_spec_values() {
        assert_eq!(
            scrub_value("invalid type: string \"CANARY\", expected a boolean"),
            "invalid type: string, expected a boolean"
        );
        assert_eq!(
            scrub_value("invalid type: integer `123`, expected a string"),
            "invalid type: integer, expected a string"
        );
        assert_eq!(
            scrub_value("unknown field `x`, expected `name`"),
            "unknown field `x`, expected `name`"
        );
    }

    #[test]
    fn syntax_errors_are_one_line() {
        let st = SpecText {
            path: Path::new("p.toml"),
            text: "[preflight]\nfingerprint_key = abc\n",
        };
        let e = st.parse::<toml::Value>().unwrap_err().to_string();
        assert!(e.starts_with("p.toml:2: invalid string; expected"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    /// Found by the `spec` fuzz target: toml gives an empty message for a NUL in
    /// a comment, which left `spec.toml:18: ` and nothing else.
    #[test]
    fn spec_errors_never_have_an_empty_message() {
        for (text, want) in [
            (
                "# a\0comment\n",
                "p.toml:1: control character `U+0000` is not allowed here",
            ),
            (
                "x = 1\n#\u{1}\n",
                "p.toml:2: control character `U+0001` is not allowed here",
            ),
        ] {
            let st = SpecText {
                path: Path::new("p.toml"),
                text,
            };
            assert_eq!(st.parse::<toml::Value>().unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn line_numbers_never_split_a_character() {
        let st = SpecText {
            path: Path::new("p.toml"),
            text: "a\né\nb",
        };
        // Offset 3 is inside `é`.
        assert!(st.invalid(3, "m").to_string().starts_with("p.toml:2:"));
        assert!(st.invalid(999, "m").to_string().starts_with("p.toml:3:"));
    }
}
