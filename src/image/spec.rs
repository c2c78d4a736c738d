//! The image spec: a TOML file (`images/<repository>.toml`) saying what a healthy
//! image of a repository looks like.
//!
//! Parsing is strict (unknown keys are errors, so a typo cannot silently disable a
//! check) and every error points at the spec's line. The same file may carry a
//! `[preflight]` table for the preflight tool; it is ignored here.

pub use crate::specfile::SpecError;
use crate::specfile::SpecText;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    file: Vec<RawFile>,
    #[serde(default)]
    glob: Vec<RawGlob>,
    #[serde(default)]
    checks: Option<RawChecks>,
    #[serde(default)]
    node: Option<NodeRule>,
    #[serde(default)]
    web: Option<WebRule>,
    /// Read by preflight; accepted and ignored here.
    #[serde(default)]
    #[allow(dead_code)]
    preflight: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
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
struct RawFile {
    path: Spanned<String>,
    kind: Option<Spanned<String>>,
    min_size: Option<u64>,
    mode: Option<Spanned<toml::Value>>,
    min_entries: Option<usize>,
    follow_symlinks: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlob {
    pattern: Spanned<String>,
    min_matches: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChecks {
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
}

#[derive(Debug, Clone)]
pub struct GlobRule {
    pub pattern: String,
    pub matcher: globset::GlobMatcher,
    pub min_matches: usize,
}

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

/// A validated spec.
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

    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        Spec::parse(path, &SpecText::read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
        let st = SpecText { path, text };
        let err = |offset: usize, message: String| st.invalid(offset, message);
        let raw: RawSpec = st.parse()?;

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
            files.push(FileRule {
                path: p,
                kind,
                min_size: f.min_size,
                mode,
                min_entries: f.min_entries,
                follow_symlinks: f.follow_symlinks.unwrap_or(kind != Some(FileKind::Symlink)),
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
            let matcher = globset::GlobBuilder::new(&pattern)
                .literal_separator(true)
                .build()
                .map_err(|e| err(at, format!("invalid glob `{pattern}`: {}", e.kind())))?
                .compile_matcher();
            globs.push(GlobRule {
                pattern,
                matcher,
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

/// `images/<repository>.toml` under `dir`, when it exists.
pub fn lookup(dir: &Path, repository: &str) -> Option<PathBuf> {
    let p = dir.join("images").join(format!("{repository}.toml"));
    p.is_file().then_some(p)
}

/// The `spec` fuzz target's body, also run on its corpus by `cargo test`: any
/// bytes as a spec file parse to a spec or an error, never a panic; an error
/// points at a line the spec has; a spec that parses holds only what the checks
/// rely on (absolute paths and patterns, normalised ports, modes that fit in
/// 12 bits, `min_entries` only where a directory may be).
pub fn fuzz_spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Spec::parse(Path::new("fuzz.toml"), text) {
        Err(SpecError::Invalid { line, message, .. }) => {
            assert!(line >= 1 && line <= text.split('\n').count(), "line {line}");
            assert!(
                !message.is_empty(),
                "an empty message at line {line}: {:?}",
                toml::from_str::<toml::Value>(text).err()
            );
        }
        Err(e) => panic!("parsing text gave a file error: {e}"),
        Ok(s) => {
            for f in &s.files {
                assert!(f.path.starts_with('/'));
                assert!(f.mode.is_none_or(|m| m <= 0o7777));
                if f.min_entries.is_some() {
                    assert!(matches!(f.kind, None | Some(FileKind::Dir)));
                }
            }
            for g in &s.globs {
                assert!(g.pattern.starts_with('/'));
            }
            for p in s.config.iter().flat_map(|c| &c.ports) {
                assert_eq!(normalize_port(p).as_deref(), Some(p.as_str()));
            }
            for (k, _) in s.config.iter().flat_map(|c| &c.env) {
                assert!(!k.is_empty());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Spec, SpecError> {
        Spec::parse(Path::new("spec.toml"), s)
    }

    #[test]
    fn errors_point_at_lines() {
        let e = parse("[config]\nuser = \"node\"\n\n[[file]]\npath = \"/x\"\nkind = \"folder\"\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "spec.toml:6: `kind` must be `file`, `dir` or `symlink`, got `folder`"
        );
        let e = parse("[[file]]\npath = \"/x\"\nmin_sise = 1\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.toml:3: `file`: unknown key (not shown"),
            "{e}"
        );
        let e = parse("[config]\nports = [\"http\"]\n").unwrap_err();
        assert!(e.to_string().starts_with("spec.toml:2: port `http`"), "{e}");
        let e = parse("[[glob]]\npattern = \"app/*.js\"\n").unwrap_err();
        assert!(e.to_string().starts_with("spec.toml:2:"), "{e}");
    }

    #[test]
    fn parses_a_full_spec() {
        let s = parse(
            "[config]\nuser = \"non-root\"\nports = [\"3000\"]\nenv = [\"NODE_ENV=production\", \"PORT\"]\n\
             [[file]]\npath = \"/app\"\nkind = \"dir\"\nmin_entries = 2\nmode = \"0755\"\n\
             [[glob]]\npattern = \"/app/*.js\"\n[preflight]\nrequire = [\"X\"]\n",
        )
        .unwrap();
        let c = s.config.unwrap();
        assert_eq!(c.user, Some(UserRule::NonRoot));
        assert_eq!(c.ports, vec!["3000/tcp"]);
        assert_eq!(c.env[1], ("PORT".into(), None));
        assert_eq!(s.files[0].mode, Some(0o755));
        assert_eq!(s.globs[0].min_matches, 1);
    }

    #[test]
    fn node_and_web_tables() {
        let s = parse(
            "[node]\nentry = \"dist/server.js\"\nignore = [\"bufferutil\"]\n\
             [web]\nenabled = false\nroot = \"/srv/www\"\nindex = \"app.html\"\n",
        )
        .unwrap();
        assert_eq!(s.node.entry.as_deref(), Some("dist/server.js"));
        assert_eq!(s.node.ignore, ["bufferutil"]);
        assert_eq!(s.node.enabled, None);
        assert_eq!(s.web.enabled, Some(false));
        assert_eq!(s.web.root.as_deref(), Some("/srv/www"));
        assert_eq!(s.web.index.as_deref(), Some("app.html"));
        let e = parse("[node]\nentry = \"a.js\"\nignores = [\"x\"]\n").unwrap_err();
        assert!(e.to_string().starts_with("spec.toml:3:"), "{e}");
    }

    #[test]
    fn fuzz_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/spec");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("fuzz/corpus/spec exists") {
            super::fuzz_spec(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0, "the corpus is empty");
    }
}
