//! The image part of a spec file: what a healthy image of a repository looks
//! like (`[config]`, `[[file]]`, `[[glob]]`, `[checks]`). image-check checks
//! images against it; the task-definition lint reads its ports and env too.
//!
//! Parsing is strict (unknown keys are errors, so a typo cannot silently disable a
//! check) and every error points at the spec's line.

use crate::specfile::{SpecError, SpecText};
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

/// The image tables as TOML gives them; [`super::SpecFile`] holds them beside
/// the runtime part.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawImage {
    #[serde(default)]
    pub(crate) config: Option<RawConfig>,
    #[serde(default)]
    pub(crate) file: Vec<RawFile>,
    #[serde(default)]
    pub(crate) glob: Vec<RawGlob>,
    #[serde(default)]
    pub(crate) checks: Option<RawChecks>,
    #[serde(default)]
    pub(crate) node: Option<NodeRule>,
    #[serde(default)]
    pub(crate) web: Option<WebRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    user: Option<Spanned<String>>,
    workdir: Option<Spanned<String>>,
    #[serde(default)]
    ports: Vec<Spanned<String>>,
    #[serde(default)]
    env: Vec<Spanned<String>>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    path: Spanned<String>,
    kind: Option<Spanned<String>>,
    min_size: Option<u64>,
    mode: Option<Spanned<toml::Value>>,
    min_entries: Option<usize>,
    follow_symlinks: Option<bool>,
    #[serde(rename = "static")]
    static_binary: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGlob {
    pattern: Spanned<String>,
    min_matches: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChecks {
    cmd_target: Option<bool>,
    user_exists: Option<bool>,
}

/// `[node]`: the module-resolution check (on by default when the command runs a
/// Node script).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRule {
    /// `false` turns the check off.
    pub enabled: Option<bool>,
    /// The script to start from (absolute, or relative to WORKDIR) instead of the
    /// one ENTRYPOINT+CMD runs.
    pub entry: Option<String>,
    /// Specifiers or package names whose resolution is not checked.
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// `[web]`: the frontend-assets check (on by default when a web root is found).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebRule {
    pub enabled: Option<bool>,
    /// The directory served at `/` (absolute, or relative to WORKDIR).
    pub root: Option<String>,
    /// The page to read, relative to the root (`index.html`).
    pub index: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
}

impl FileKind {
    pub fn name(self) -> &'static str {
        match self {
            FileKind::File => "file",
            FileKind::Dir => "dir",
            FileKind::Symlink => "symlink",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRule {
    NonRoot,
    Exactly(String),
}

#[derive(Debug, Clone)]
pub struct FileRule {
    pub path: String,
    pub kind: Option<FileKind>,
    pub min_size: Option<u64>,
    pub mode: Option<u32>,
    pub min_entries: Option<usize>,
    pub follow_symlinks: bool,
    /// `static = true`: an ELF executable with no interpreter (runs in `scratch`).
    pub static_binary: bool,
}

#[derive(Debug, Clone)]
pub struct GlobRule {
    pub pattern: String,
    /// Parsed, not compiled: compiling builds a regex, which only image-check's
    /// files check needs (preflight reads the same file and would carry the regex
    /// engine for nothing), and which can fail, so the check compiles it.
    pub glob: globset::Glob,
    pub min_matches: usize,
}

/// The longest `pattern` a `[[glob]]` rule may have: a path is at most 4096 bytes
/// on Linux, and a longer pattern could compile to a regex past its size limit.
pub const MAX_GLOB_BYTES: usize = 4096;

#[derive(Debug, Clone, Default)]
pub struct ConfigRule {
    pub user: Option<UserRule>,
    pub workdir: Option<String>,
    pub ports: Vec<String>,
    /// (KEY, Some(VALUE)) must equal; (KEY, None) must be set.
    pub env: Vec<(String, Option<String>)>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
}

/// A validated image part.
#[derive(Debug, Clone)]
pub struct Spec {
    pub path: PathBuf,
    pub config: Option<ConfigRule>,
    pub files: Vec<FileRule>,
    pub globs: Vec<GlobRule>,
    pub cmd_target: bool,
    pub user_exists: bool,
    pub node: NodeRule,
    pub web: WebRule,
}

impl Spec {
    /// The spec used when none is found: automatic checks only.
    pub fn automatic() -> Spec {
        Spec {
            path: PathBuf::new(),
            config: None,
            files: vec![],
            globs: vec![],
            cmd_target: true,
            user_exists: true,
            node: NodeRule::default(),
            web: WebRule::default(),
        }
    }

    pub(crate) fn validate(raw: RawImage, st: &SpecText) -> Result<Spec, SpecError> {
        let path = st.path;
        let err = |offset: usize, message: String| st.invalid(offset, message);

        let mut files = Vec::new();
        for f in raw.file {
            let at = f.path.span().start;
            let p = f.path.into_inner();
            if !p.starts_with('/') {
                return Err(err(at, format!("`path` must be absolute, got `{p}`")));
            }
            let kind = match &f.kind {
                None => None,
                Some(k) => Some(match k.get_ref().as_str() {
                    "file" => FileKind::File,
                    "dir" | "directory" => FileKind::Dir,
                    "symlink" => FileKind::Symlink,
                    other => {
                        return Err(err(
                            k.span().start,
                            format!("`kind` must be `file`, `dir` or `symlink`, got `{other}`"),
                        ))
                    }
                }),
            };
            let mode = match &f.mode {
                None => None,
                Some(m) => Some(parse_mode(m.get_ref()).ok_or_else(|| {
                    err(
                        m.span().start,
                        "`mode` must be octal, like `\"0755\"` or `0o755`".into(),
                    )
                })?),
            };
            if f.min_entries.is_some() && matches!(kind, Some(FileKind::File | FileKind::Symlink)) {
                return Err(err(
                    at,
                    "`min_entries` only applies to `kind = \"dir\"`".into(),
                ));
            }
            let static_binary = f.static_binary.unwrap_or(false);
            if static_binary && matches!(kind, Some(FileKind::Dir | FileKind::Symlink)) {
                return Err(err(at, "`static` only applies to files".into()));
            }
            files.push(FileRule {
                path: p,
                kind,
                min_size: f.min_size,
                mode,
                min_entries: f.min_entries,
                follow_symlinks: f.follow_symlinks.unwrap_or(kind != Some(FileKind::Symlink)),
                static_binary,
            });
        }

        let mut globs = Vec::new();
        for g in raw.glob {
            let at = g.pattern.span().start;
            let pattern = g.pattern.into_inner();
            if !pattern.starts_with('/') {
                return Err(err(
                    at,
                    format!("`pattern` must be absolute, got `{pattern}`"),
                ));
            }
            if pattern.len() > MAX_GLOB_BYTES {
                return Err(err(
                    at,
                    format!(
                        "`pattern` is {} bytes, longer than the {MAX_GLOB_BYTES} a path can be",
                        pattern.len()
                    ),
                ));
            }
            let glob = globset::GlobBuilder::new(&pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| err(at, format!("invalid glob `{pattern}`: {}", e.kind())))?;
            globs.push(GlobRule {
                pattern,
                glob,
                min_matches: g.min_matches.unwrap_or(1),
            });
        }

        let config = match raw.config {
            None => None,
            Some(c) => {
                let user = c.user.map(|u| match u.get_ref().as_str() {
                    "non-root" | "any non-root" => UserRule::NonRoot,
                    s => UserRule::Exactly(s.to_string()),
                });
                let mut ports = Vec::new();
                for p in c.ports {
                    let at = p.span().start;
                    let s = p.into_inner();
                    ports.push(normalize_port(&s).ok_or_else(|| {
                        err(
                            at,
                            format!("port `{s}` must look like `3000/tcp` or `3000`"),
                        )
                    })?);
                }
                let mut env = Vec::new();
                for e in c.env {
                    let at = e.span().start;
                    let s = e.into_inner();
                    let (k, v) = match s.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (s.clone(), None),
                    };
                    if k.is_empty() {
                        return Err(err(at, format!("env entry `{s}` has no variable name")));
                    }
                    env.push((k, v));
                }
                Some(ConfigRule {
                    user,
                    workdir: c.workdir.map(Spanned::into_inner),
                    ports,
                    env,
                    entrypoint: c.entrypoint,
                    cmd: c.cmd,
                })
            }
        };
        let checks = raw.checks;
        Ok(Spec {
            path: path.to_path_buf(),
            config,
            files,
            globs,
            cmd_target: checks.as_ref().and_then(|c| c.cmd_target).unwrap_or(true),
            user_exists: checks.as_ref().and_then(|c| c.user_exists).unwrap_or(true),
            node: raw.node.unwrap_or_default(),
            web: raw.web.unwrap_or_default(),
        })
    }
}

fn parse_mode(v: &toml::Value) -> Option<u32> {
    match v {
        toml::Value::Integer(i) if (0..=0o7777).contains(i) => Some(*i as u32),
        toml::Value::String(s) => {
            let s = s.trim_start_matches("0o");
            u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777)
        }
        _ => None,
    }
}

/// `3000` → `3000/tcp`, as Docker writes EXPOSE.
pub fn normalize_port(s: &str) -> Option<String> {
    let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let n: u16 = port.parse().ok()?;
    if n == 0 || !["tcp", "udp", "sctp"].contains(&proto) {
        return None;
    }
    Some(format!("{n}/{proto}"))
}
