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
        /// 1-based, in characters.
        column: usize,
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

/// The 1-based line and column (in characters) of byte `offset` of `text`.
/// Counted on bytes up to the offset: an offset inside a multi-byte character
/// (or past the end) must not panic.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let upto = offset.min(text.len());
    let before = &text.as_bytes()[..upto];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    // Characters are counted by their first bytes, so a cut character counts once.
    let column = before[line_start..]
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count()
        + 1;
    (line, column)
}

impl SpecError {
    /// Where in the spec the error is, when it is about the spec's text.
    pub fn location(&self) -> Option<crate::report::Location> {
        match self {
            SpecError::Invalid {
                path, line, column, ..
            } => Some(crate::report::Location {
                file: path.display().to_string(),
                line: Some(*line),
                column: Some(*column),
            }),
            SpecError::Read { path, .. }
            | SpecError::NotAFile { path, .. }
            | SpecError::TooLarge { path }
            | SpecError::NotText { path } => Some(crate::report::Location {
                file: path.display().to_string(),
                line: None,
                column: None,
            }),
        }
    }
}

/// Reads at most `cap` bytes of a regular file, opened as [`SpecText::read`]
/// opens a spec (no blocking on a FIFO, the type checked on the open
/// descriptor). The error is one clause, to follow the file's name.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    let ft = file.metadata().map_err(|e| e.to_string())?.file_type();
    if !ft.is_file() {
        return Err(format!("it is {}, not a regular file", kind_of(ft)));
    }
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(format!("it is larger than {} KiB", cap / 1024));
    }
    Ok(bytes)
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
        let (line, column) = line_col(self.text, offset);
        SpecError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// The 1-based line of byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        line_col(self.text, offset).0
    }

    /// The line where the key at `path` (`["preflight", "postgres"]`) is
    /// written: its table header, or its first dotted use (`postgres.required =
    /// true`). toml's `Spanned` cannot span a table only dotted keys or
    /// sub-tables define, and refused such files with a serde message.
    pub fn line_of_key(&self, path: &[&str]) -> Option<usize> {
        let doc = toml_edit::ImDocument::parse(self.text).ok()?;
        let mut table: &dyn toml_edit::TableLike = doc.as_table();
        let mut span = None;
        for (i, name) in path.iter().enumerate() {
            let (key, item) = table.get_key_value(name)?;
            span = key.span();
            if i + 1 < path.len() {
                table = item.as_table_like()?;
            }
        }
        Some(self.line_of(span?.start))
    }

    /// Deserializes the whole file; syntax errors and unknown keys point at their line.
    /// The message never quotes the spec: serde and toml quote offending values and
    /// unknown keys, and either may be a secret pasted in the wrong place, so their
    /// messages are reduced to what kind of error it is, the key path (from the
    /// schema's side only) and the expected set.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, SpecError> {
        toml::from_str(self.text).map_err(|e| {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            let (kind, mut message) = describe(&one_line(e.message().trim()));
            if message.is_empty() {
                // toml names no cause for some characters (a NUL in a comment).
                message = match self.text.get(at..).and_then(|t| t.chars().next()) {
                    Some(c) if c.is_control() => {
                        format!("control character `U+{:04X}` is not allowed here", c as u32)
                    }
                    _ => "invalid TOML syntax".into(),
                };
            }
            let message = match self.key_path(at, kind) {
                Some(path) => format!("`{path}`: {message}"),
                None => message,
            };
            self.invalid(at, message)
        })
    }

    /// The key path of an error at byte `at`, from the schema's side only: the
    /// table header above (serde only descends into tables the schema knows), up to
    /// the unknown key when that is the error, plus the line's own key when serde
    /// judged its value (so the key is one it knows). `None` for syntax errors,
    /// whose header and key may be anything, and for anything not plainly a path.
    fn key_path(&self, at: usize, kind: ErrorKind) -> Option<String> {
        if kind == ErrorKind::Syntax {
            return None;
        }
        let at = at.min(self.text.len());
        let line_start = self.text.as_bytes()[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line_end = self.text[line_start..]
            .find('\n')
            .map_or(self.text.len(), |i| line_start + i);
        let line = &self.text[line_start..line_end];
        let plain = |p: &str| {
            !p.is_empty()
                && p.split('.').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                })
        };
        let header_of = |l: &str| -> Option<(usize, String)> {
            let t = l.trim_start();
            let skip = l.len() - t.len();
            let open = if t.starts_with("[[") { 2 } else { 1 };
            t.starts_with('[').then_some(())?;
            let close = t.find(']')?;
            let inner = t.get(open..close)?;
            Some((skip + open, inner.trim().to_string()))
        };
        if let Some((inner_at, inner)) = header_of(line) {
            // An error in a header: an unknown key there is the segment at `at`,
            // and the path is what comes before it.
            let upto = (at - line_start).saturating_sub(inner_at);
            let path = match kind {
                ErrorKind::UnknownKey => inner
                    .get(..upto.min(inner.len()))
                    .unwrap_or("")
                    .trim()
                    .trim_end_matches('.')
                    .trim()
                    .to_string(),
                _ => inner,
            };
            return plain(&path).then_some(path);
        }
        let header = self.text[..line_start]
            .lines()
            .rev()
            .find_map(header_of)
            .map(|(_, h)| h);
        let mut path: Vec<String> = header.into_iter().collect();
        if kind == ErrorKind::Value {
            if let Some((key, _)) = line.split_once('=') {
                path.push(key.trim().to_string());
            }
        }
        let path = path.join(".");
        plain(&path).then_some(path)
    }
}

/// What a serde or toml error is about, for deciding what of the spec may be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    /// A key the schema does not know: never shown, and the path stops before it.
    UnknownKey,
    /// A known key's value is wrong (type, variant, length, missing field).
    Value,
    /// toml could not read the text: no key on the line is known to be the schema's.
    Syntax,
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

/// A serde/toml message without the spec's text. The tails kept (`expected one
/// of …`) are the schema's own names, which serde lists from static strings; the
/// offending value or key is cut out by position from the END of the message, since
/// the quoted text itself may hold `, expected`.
fn describe(message: &str) -> (ErrorKind, String) {
    const HIDDEN_KEY: &str = "not shown: it may be a value pasted in the wrong place";
    let tail = |m: &str, seps: &[&str]| -> String {
        seps.iter()
            .filter_map(|s| m.rfind(s).map(|i| m[i + 2..].to_string()))
            .next()
            .unwrap_or_default()
    };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let t = tail(rest, &[", expected ", ", there are no fields"]);
        return (
            ErrorKind::UnknownKey,
            format!("unknown key ({HIDDEN_KEY}), {t}"),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let t = tail(rest, &[", expected ", ", there are no variants"]);
        return (
            ErrorKind::Value,
            format!("unknown value (not shown: it may be a secret), {t}"),
        );
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (what, expected) = match rest.rfind(", expected") {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            // serde names the kind first (`string "…"`, `integer `5``): keep only it.
            let kind = what.split([' ', '`', '"']).next().unwrap_or("value");
            return (ErrorKind::Value, format!("{prefix}{kind}{expected}"));
        }
    }
    if message.starts_with("missing field `")
        || message.starts_with("duplicate field `")
        || message.starts_with("invalid length ")
    {
        // The field is the schema's (serde's static name) and a length is a number.
        return (ErrorKind::Value, message.to_string());
    }
    if let Some(i) = message.find("available keys: ") {
        // toml's enum tables: `unexpected keys in table: K1, K2, available keys: …`.
        return (
            ErrorKind::UnknownKey,
            format!(
                "unknown key ({HIDDEN_KEY}), expected one of {}",
                &message[i + "available keys: ".len()..]
            ),
        );
    }
    if message.starts_with("invalid escape sequence") {
        // The README shows non-UTF-8 names as `\xNN`, which a double-quoted
        // TOML string cannot hold.
        return (
            ErrorKind::Syntax,
            "invalid escape sequence in a double-quoted string (TOML allows `\\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX`); write a name holding `\\xNN` in single quotes ('/app/caf\\xe9') or double its backslash".to_string(),
        );
    }
    // toml names the key itself in these; the line number says where.
    if message.contains("duplicate key `") {
        return (
            ErrorKind::Syntax,
            format!("a key is defined twice ({HIDDEN_KEY})"),
        );
    }
    if message.contains("dotted key `") {
        return (
            ErrorKind::Syntax,
            "a dotted key extends a value that is not a table".to_string(),
        );
    }
    (ErrorKind::Syntax, syntax_message(message))
}

/// toml's own messages: kept when every quoted part is a bit of TOML syntax
/// (`"`, `]`, `=`), which is what its "expected …" lists hold; any other quoted part
/// (`duplicate key `…``, `dotted key `…``) is spec text and is cut out.
fn syntax_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find('`') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        // toml writes a backtick token as "`` ` ``"; everything else as `x`.
        let Some(close) = after.find('`') else {
            out.push_str("(not shown)");
            return out;
        };
        let token = &after[..close];
        if !token.is_empty() && token.len() <= 3 && token.chars().all(|c| c.is_ascii_punctuation())
        {
            out.push('`');
            out.push_str(token);
            out.push('`');
        } else {
            out.push_str("(not shown)");
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
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
            describe("invalid type: string \"CANARY\", expected a boolean").1,
            "invalid type: string, expected a boolean"
        );
        assert_eq!(
            describe("invalid type: integer `123`, expected a string").1,
            "invalid type: integer, expected a string"
        );
        // The quoted text may itself hold `, expected`: cut from the end.
        assert_eq!(
            describe("invalid type: string \"a, expected CANARY\", expected a boolean").1,
            "invalid type: string, expected a boolean"
        );
        let (k, m) = describe("unknown field `CANARY`, expected `name`");
        assert_eq!(k, ErrorKind::UnknownKey);
        assert!(
            !m.contains("CANARY") && m.ends_with("expected `name`"),
            "{m}"
        );
        let (_, m) = describe("unknown field `x`, expected CANARY`, expected one of `a`, `b`");
        assert!(
            !m.contains("CANARY") && m.ends_with("expected one of `a`, `b`"),
            "{m}"
        );
        let (k, m) = describe("unknown variant `one-of=CANARY`, expected one of `string`, `url`");
        assert_eq!(k, ErrorKind::Value);
        assert!(
            !m.contains("CANARY") && m.ends_with("expected one of `string`, `url`"),
            "{m}"
        );
        let (k, m) = describe("duplicate key `CANARY` in table `preflight`");
        assert_eq!(k, ErrorKind::Syntax);
        assert!(!m.contains("CANARY"), "{m}");
        let (_, m) = describe("unexpected keys in table: CANARY, available keys: a, b");
        assert!(
            !m.contains("CANARY") && m.ends_with("expected one of a, b"),
            "{m}"
        );
        assert_eq!(
            describe("invalid string; expected `\"`, `'`").1,
            "invalid string; expected `\"`, `'`"
        );
    }

    /// Every kind of spec error, with a canary where a secret could be pasted:
    /// the message names the line and the key path, never the canary.
    #[test]
    fn spec_errors_name_line_and_key_path_never_spec_text() {
        const C: &str = "CANARYsk9";
        let cases = [
            (
                format!("[preflight]\n[[preflight.env]]\nname = \"X\"\nkind = \"one-of={C}\"\n"),
                "p.toml:4: `preflight.env.kind`: unknown value",
                "expected `string` or `one-of`",
            ),
            (
                format!("[preflight]\n{C} = 1\n"),
                "p.toml:2: `preflight`: unknown key",
                "expected `timeout` or `env`",
            ),
            (
                format!("[preflight]\n[preflight.{C}]\nx = 1\n"),
                "p.toml:2: `preflight`: unknown key",
                "expected `timeout` or `env`",
            ),
            (
                format!("[preflight]\n[[preflight.env]]\nname = \"X\"\n{C} = \"y\"\n"),
                "p.toml:4: `preflight.env`: unknown key",
                "expected one of `name`, `kind`",
            ),
            (
                format!("[preflight]\n[[preflight.env]]\nname = \"X\"\noptional = \"{C}\"\n"),
                "p.toml:4: `preflight.env.optional`: invalid type: string",
                "expected a boolean",
            ),
            (
                format!("[preflight]\ntimeout = \"5s\"\ntimeout = \"{C}\"\n"),
                "p.toml:3: ",
                "",
            ),
            (format!("[preflight]\n{C} = \n"), "p.toml:2: ", ""),
            (format!("[{C}]\n{C}\n"), "p.toml:2: ", ""),
            (format!("[preflight]\n{C}.x = 1\n{C} = 2\n"), "p.toml:", ""),
        ];
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Env {
            name: String,
            #[serde(default)]
            kind: Option<Kind>,
            #[serde(default)]
            optional: bool,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(rename_all = "kebab-case")]
        #[allow(dead_code)]
        enum Kind {
            String,
            OneOf,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Pf {
            timeout: Option<String>,
            #[serde(default)]
            env: Vec<Env>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct File {
            preflight: Option<Pf>,
        }
        for (text, starts, has) in cases {
            let st = SpecText {
                path: Path::new("p.toml"),
                text: &text,
            };
            let e = st.parse::<File>().unwrap_err().to_string();
            assert!(!e.contains("CANARY") && !e.contains("sk9"), "{text:?}: {e}");
            assert!(e.starts_with(starts), "{text:?}: {e}");
            assert!(e.contains(has), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
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

    /// The README spells non-UTF-8 names `\xNN`; in a double-quoted TOML string
    /// that is an invalid escape, and the error says how to write it instead.
    #[test]
    fn an_invalid_escape_says_how_to_write_a_byte_name() {
        let st = SpecText {
            path: Path::new("p.toml"),
            text: "[[file]]\npath = \"/x/\\xfe\"\n",
        };
        let e = st.parse::<toml::Value>().unwrap_err().to_string();
        assert!(e.starts_with("p.toml:2: invalid escape sequence"), "{e}");
        assert!(e.contains("single quotes"), "{e}");
        let st = SpecText {
            path: Path::new("p.toml"),
            text: "[[file]]\npath = '/x/\\xfe'\n",
        };
        assert!(st.parse::<toml::Value>().is_ok());
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
