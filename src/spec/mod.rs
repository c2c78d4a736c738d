//! One spec file, read the same way by both tools.
//!
//! `images/<repo>.toml` holds the image part (`[config]`, `[[file]]`, `[[glob]]`,
//! `[checks]`: what image-check checks in the image) and the runtime part
//! (`[preflight]`: what the container needs at start, which preflight enforces).
//! It is parsed once, into [`SpecFile`], and both parts are validated whichever
//! tool reads it: a `[preflight]` table that would make preflight exit 2 at
//! container start fails image-check's CI gate first. Errors carry the file and
//! line ([`crate::specfile`] reads the text and turns spans into lines).
//!
//! `image` and `preflight` both use this module and never each other.

pub mod image;
pub mod runtime;

pub use crate::specfile::SpecError;
use crate::specfile::SpecText;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpecFile {
    #[serde(default)]
    config: Option<image::RawConfig>,
    #[serde(default)]
    file: Vec<image::RawFile>,
    #[serde(default)]
    glob: Vec<image::RawGlob>,
    #[serde(default)]
    checks: Option<image::RawChecks>,
    #[serde(default)]
    node: Option<image::NodeRule>,
    #[serde(default)]
    web: Option<image::WebRule>,
    // Not `Spanned`: the toml crate cannot span a table only its sub-tables
    // define (`[[preflight.env]]` with no `[preflight]` line), valid TOML it
    // then refused with a serde message.
    #[serde(default)]
    preflight: Option<runtime::RawRuntime>,
}

/// A validated spec file: both parts.
#[derive(Debug, Clone)]
pub struct SpecFile {
    pub path: PathBuf,
    pub image: image::Spec,
    /// The `[preflight]` table, when the file has one.
    pub runtime: Option<runtime::RuntimeSpec>,
}

impl SpecFile {
    pub fn load(path: &Path) -> Result<SpecFile, SpecError> {
        SpecFile::parse(path, &SpecText::read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<SpecFile, SpecError> {
        let st = SpecText { path, text };
        let raw: RawSpecFile = st.parse()?;
        let image = image::Spec::validate(
            image::RawImage {
                config: raw.config,
                file: raw.file,
                glob: raw.glob,
                checks: raw.checks,
                node: raw.node,
                web: raw.web,
            },
            &st,
        )?;
        let runtime = raw.preflight.map(|p| p.validate(&st)).transpose()?;
        Ok(SpecFile {
            path: path.to_path_buf(),
            image,
            runtime,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<SpecFile, SpecError> {
        SpecFile::parse(Path::new("spec.toml"), s)
    }

    /// The shipped spec is read whole, both parts, by the one parser.
    #[test]
    fn the_shipped_spec_parses_whole() {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/images/scalemap-api.toml");
        let f = SpecFile::load(Path::new(p)).unwrap();
        assert!(f.image.config.is_some());
        let r = f.runtime.unwrap();
        assert!(r.s3.is_some() && r.postgres.is_some());
        assert!(r.line_of("S3_BUCKET_NAME").is_some());
    }

    /// image-check used to accept any `[preflight]` table; the same file then made
    /// preflight exit 2 when the container started.
    #[test]
    fn an_invalid_runtime_part_fails_whoever_reads_the_file() {
        let e = parse("[config]\nuser = \"node\"\n\n[preflight]\nrequire = [\"X\"]\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.toml:5: `preflight`: unknown key"),
            "{e}"
        );
        let e = parse("[preflight]\n\n[[preflight.env]]\nname = \"A-B\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.toml:4: a `env` rule: the variable name is not"),
            "{e}"
        );
        let e =
            parse("[preflight]\n[[preflight.env]]\nname = \"N\"\nkind = \"one-of\"\n").unwrap_err();
        assert!(
            e.to_string().starts_with("spec.toml:3: `N` is `one-of`"),
            "{e}"
        );
        // And an invalid image part fails a preflight-only reader the same way.
        let e =
            parse("[[file]]\npath = \"relative\"\n[preflight]\ntimeout = \"5s\"\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.toml:2: `path` must be absolute"),
            "{e}"
        );
    }

    /// A 200,000-byte `?` glob made both tools panic while parsing the file.
    #[test]
    fn a_glob_longer_than_a_path_is_refused_by_whoever_reads_the_file() {
        let long = format!(
            "[[glob]]\npattern = \"/{}\"\n",
            "?".repeat(image::MAX_GLOB_BYTES)
        );
        let e = parse(&long).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("spec.toml:2: `pattern` is 4097 bytes, longer than the 4096"),
            "{e}"
        );
        let longest = format!(
            "[[glob]]\npattern = \"/{}\"\n",
            "?".repeat(image::MAX_GLOB_BYTES - 1)
        );
        assert_eq!(parse(&longest).unwrap().image.globs.len(), 1);
    }

    /// TOML defines `preflight` when only its sub-tables name it; the file was
    /// refused with "invalid type: string, expected a borrowed string".
    #[test]
    fn a_preflight_table_its_sub_tables_define_is_read() {
        for text in [
            "[[preflight.env]]\nname = \"X\"\n",
            "[preflight.postgres]\nrequired = false\n",
            "[preflight.s3]\nrequired = true\n",
            "[config]\nuser = \"node\"\n[[preflight.secret]]\nname = \"K\"\n",
        ] {
            let f = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(f.runtime.is_some(), "{text}");
        }
        let r = parse("[[preflight.env]]\nname = \"X\"\n")
            .unwrap()
            .runtime
            .unwrap();
        assert_eq!(r.line_of("X"), Some(2));
        // Dotted keys define tables too (toml-rs/toml#798 made both tools refuse
        // them); the implied variable is placed where its table is written.
        let r =
            parse("[preflight]\ntimeout = \"5s\"\ns3.required = true\npostgres.required = false\n")
                .unwrap()
                .runtime
                .unwrap();
        assert!(r.s3.as_ref().unwrap().required && !r.postgres.as_ref().unwrap().required);
        assert_eq!(r.line_of("S3_BUCKET_NAME"), Some(3));
        assert_eq!(r.line_of("DATABASE_URL"), Some(4));
        let r = parse("# spec\n\n[preflight.postgres]\n")
            .unwrap()
            .runtime
            .unwrap();
        assert_eq!(r.line_of("DATABASE_URL"), Some(3));
    }

    #[test]
    fn the_runtime_part_knows_where_each_variable_is_named() {
        let f = parse(
            "[preflight]\n[[preflight.env]]\nname = \"PORT\"\n[[preflight.secret]]\nname = \"K\"\n\
             [preflight.s3]\nrequired = true\n",
        )
        .unwrap();
        let r = f.runtime.unwrap();
        assert_eq!(r.line_of("PORT"), Some(3));
        assert_eq!(r.line_of("K"), Some(5));
        assert_eq!(r.line_of("S3_BUCKET_NAME"), Some(6));
        assert!(parse("[config]\nuser = \"x\"\n").unwrap().runtime.is_none());
    }
}
