//! The spec as image-check reads it: the image part of `images/<repository>.toml`
//! (defined in [`crate::spec::image`]), loaded through the one parser both tools
//! share, so an invalid `[preflight]` table fails here too (as `spec-invalid`).

pub use crate::spec::image::{
    normalize_port, ConfigRule, FileKind, FileRule, GlobRule, NodeRule, Spec, UserRule, WebRule,
};
use crate::spec::SpecFile;
pub use crate::specfile::SpecError;
use std::path::{Path, PathBuf};

impl Spec {
    /// The image part of the file at `path`; the whole file is validated.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        SpecFile::load(path).map(|f| f.image)
    }

    /// The image part of `text`; the whole file is validated.
    pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
        SpecFile::parse(path, text).map(|f| f.image)
    }
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
                // A pattern the spec accepts compiles (the files check would
                // otherwise not run).
                assert!(
                    globset::GlobSetBuilder::new()
                        .add(g.glob.clone())
                        .build()
                        .is_ok(),
                    "{}",
                    g.pattern
                );
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
             [[glob]]\npattern = \"/app/*.js\"\n[preflight]\ntimeout = \"5s\"\n",
        )
        .unwrap();
        let c = s.config.unwrap();
        assert_eq!(c.user, Some(UserRule::NonRoot));
        assert_eq!(c.ports, vec!["3000/tcp"]);
        assert_eq!(c.env[1], ("PORT".into(), None));
        assert_eq!(s.files[0].mode, Some(0o755));
        assert_eq!(s.globs[0].min_matches, 1);
    }

    /// This parser used to accept any `[preflight]` table as opaque TOML, so a
    /// spec that made preflight exit 2 at container start passed the CI gate.
    #[test]
    fn an_invalid_preflight_table_is_a_spec_error() {
        let e = parse("[config]\nuser = \"node\"\n[preflight]\nrequire = [\"X\"]\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.toml:4: `preflight`: unknown key"),
            "{e}"
        );
        let e = parse("[preflight]\ntimeout = \"forever\"\n").unwrap_err();
        assert!(e.to_string().starts_with("spec.toml:2: `timeout`"), "{e}");
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
