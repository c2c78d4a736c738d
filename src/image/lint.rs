//! `image-check taskdef FILE` and `image-check IMAGE --taskdef FILE`: the
//! task-definition lint ([`crate::taskdef`]) fed with the spec file and, when an
//! image is named, the image's config.
//!
//! The spec is `--spec`, else `images/<repo>.toml` for `--image`'s repository,
//! else for the first container image in FILE that has one.

use super::error::ImageError;
use super::reference::ImageRef;
use super::run::facts_of;
use super::source::OpenOptions;
use super::{spec, PlatformSel};
use crate::report::{CheckOutcome, Code, Finding, Report, Section};
use crate::spec::runtime::RuntimeSpec;
use crate::spec::SpecFile;
use crate::specfile::SpecError;
use crate::taskdef::{self, ImageFacts, Lint, LintError};
use oci_spec::image::ImageConfiguration;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TaskdefError {
    #[error(transparent)]
    Lint(#[from] LintError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Image(#[from] ImageError),
}

impl TaskdefError {
    pub fn code(&self) -> Code {
        match self {
            TaskdefError::Lint(_) => Code::TaskdefInvalid,
            TaskdefError::Spec(_) => Code::SpecInvalid,
            TaskdefError::Image(e) => e.code(),
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            TaskdefError::Lint(e) => e.hint(),
            TaskdefError::Spec(_) => Some("the spec schema is in the README under \"Spec\"".into()),
            TaskdefError::Image(e) => e.hint(),
        }
    }

    /// The finding a machine-readable report carries for this error.
    pub fn finding(&self, subject: &str) -> Finding {
        let location = match self {
            TaskdefError::Lint(e) => e.location(),
            TaskdefError::Spec(e) => e.location(),
            TaskdefError::Image(_) => None,
        };
        let mut f = Finding::error(self.code(), subject, crate::cli::chain(self)).at(location);
        f.hint = self.hint();
        f
    }
}

pub struct TaskdefOptions<'a> {
    pub file: &'a Path,
    pub image: Option<&'a str>,
    pub spec: Option<&'a Path>,
    pub container: Option<&'a str>,
    pub source: &'a OpenOptions,
    /// Where `images/<repository>.toml` is looked up (empty: the working directory).
    pub spec_dir: &'a Path,
}

/// The default platform's config, for the lint, which needs its ENV, EXPOSE and
/// WORKDIR and nothing from the filesystem: the manifests (by
/// `fetch_manifest`) and the config (by `read_blob`) are verified against their
/// digests and sizes, and no layer is opened, so linting against a 2 GiB image
/// reads a few KiB. A config whose `rootfs.diff_ids` do not match the
/// manifest's layers is refused as a full read refuses it.
fn config_only(r: &ImageRef, opts: &OpenOptions) -> Result<ImageConfiguration, ImageError> {
    let (src, sel) = super::run::select_one(r, &PlatformSel::Default, opts)?;
    let c = sel
        .candidate
        .map_err(|e| ImageError::Invalid(crate::cli::chain(&e)))?;
    let bytes = match c.config_bytes {
        Some(b) => b.to_vec(),
        None => src.read_blob(&c.config)?,
    };
    let config: ImageConfiguration = serde_json::from_slice(&bytes)
        .map_err(|e| super::source::json_error(format!("image config `{}`", c.config.name()), e))?;
    let diff_ids = config.rootfs().diff_ids().len();
    if diff_ids != c.layers.len() {
        return Err(ImageError::LayerCountMismatch {
            diff_ids,
            layers: c.layers.len(),
        });
    }
    Ok(config)
}

/// The whole `taskdef` verb: one section per checked container.
pub fn taskdef(o: &TaskdefOptions) -> Result<Report, TaskdefError> {
    let doc = taskdef::read(o.file)?;
    let spec_given = o.spec.map(SpecFile::load).transpose()?;
    let facts = match o.image {
        None => None,
        Some(image) => {
            let r = ImageRef::parse(image)?;
            Some(facts_of(&config_only(&r, o.source)?, r.repository()))
        }
    };
    // Without `--spec`, every container is checked against its own image's
    // `images/<repository>.toml` (`--image`'s repository first): a sidecar's
    // spec must not stand in for the app's.
    let mut found: Vec<(String, SpecFile)> = Vec::new();
    if let Some(s) = &spec_given {
        // `--spec images/scalemap-api.toml` names the app's repository.
        if let Some(stem) = o.spec.and_then(Path::file_stem).and_then(|s| s.to_str()) {
            found.push((stem.to_string(), s.clone()));
        }
    } else {
        let repos = facts
            .as_ref()
            .and_then(|f| f.repository.clone())
            .into_iter()
            .chain(taskdef::image_repositories(&doc));
        for repo in repos {
            if found.iter().any(|(r, _)| *r == repo) {
                continue;
            }
            if let Some(p) = spec::lookup(o.spec_dir, &repo) {
                found.push((repo, SpecFile::load(&p)?));
            }
        }
    }
    let ports = spec_given
        .as_ref()
        .and_then(|s| s.image.config.as_ref())
        .map(|c| c.ports.clone())
        .unwrap_or_default();
    let file = o.file.display().to_string();
    let lint = Lint {
        file: &file,
        container: o.container,
        runtime: spec_given.as_ref().and_then(|s| s.runtime.as_ref()),
        spec_ports: &ports,
        image: facts.as_ref(),
        specs: &found,
    };
    let mut sections = lint.run(&doc)?;
    if spec_given.is_none() && found.is_empty() {
        for s in &mut sections {
            s.notes.push("no spec given (`--spec FILE`) or found (`images/<repository>.toml` for the containers' images)".into());
        }
    }
    let mut report = Report::new("image-check");
    report.sections = sections;
    Ok(report)
}

/// The lint's sections for `IMAGE --taskdef FILE`, after the image's own; a file
/// that cannot be linted is a section whose check could not run (exit 2).
pub fn taskdef_sections(
    file: &Path,
    runtime: Option<&RuntimeSpec>,
    spec_ports: &[String],
    facts: Option<&ImageFacts>,
) -> Vec<Section> {
    let shown = file.display().to_string();
    let lint = Lint {
        file: &shown,
        container: None,
        runtime,
        spec_ports,
        image: facts,
        specs: &[],
    };
    match taskdef::read(file).and_then(|doc| lint.run(&doc)) {
        Ok(s) => s,
        Err(e) => vec![Section {
            target: format!("task definition `{shown}`"),
            notes: vec![],
            checks: vec![CheckOutcome::not_run(
                "taskdef",
                TaskdefError::Lint(e).finding(&shown),
            )],
        }],
    }
}
