//! `image-check taskdef FILE` and `image-check IMAGE --taskdef FILE`: the
//! task-definition lint ([`crate::taskdef`]) fed with the spec file and, when an
//! image is named, the image's config.
//!
//! The spec is `--spec`, else `images/<repo>.toml` for `--image`'s repository,
//! else for the first container image in FILE that has one.

use super::error::ImageError;
use super::reference::ImageRef;
use super::run::{self, facts_of};
use super::source::OpenOptions;
use super::{spec, PlatformSel};
use crate::report::{CheckOutcome, Code, Finding, Report, Section};
use crate::spec::runtime::RuntimeSpec;
use crate::spec::SpecFile;
use crate::specfile::SpecError;
use crate::taskdef::{self, ImageFacts, Lint, LintError};
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

/// The whole `taskdef` verb: one section per checked container.
pub fn taskdef(o: &TaskdefOptions) -> Result<Report, TaskdefError> {
    let doc = taskdef::read(o.file)?;
    let spec_given = o.spec.map(SpecFile::load).transpose()?;
    let facts = match o.image {
        None => None,
        Some(image) => {
            let r = ImageRef::parse(image)?;
            let img = run::load_one_with(
                image,
                &PlatformSel::Default,
                &super::contents::ContentSet::none(),
                o.source,
            )?;
            Some(facts_of(&img.config, r.repository()))
        }
    };
    let spec = match spec_given {
        Some(s) => Some(s),
        None => {
            let repos = facts
                .as_ref()
                .and_then(|f| f.repository.clone())
                .into_iter()
                .chain(taskdef::image_repositories(&doc));
            let mut found = None;
            for repo in repos {
                if let Some(p) = spec::lookup(o.spec_dir, &repo) {
                    found = Some(SpecFile::load(&p)?);
                    break;
                }
            }
            found
        }
    };
    let ports = spec
        .as_ref()
        .and_then(|s| s.image.config.as_ref())
        .map(|c| c.ports.clone())
        .unwrap_or_default();
    let file = o.file.display().to_string();
    let lint = Lint {
        file: &file,
        container: o.container,
        runtime: spec.as_ref().and_then(|s| s.runtime.as_ref()),
        spec_ports: &ports,
        image: facts.as_ref(),
    };
    let mut sections = lint.run(&doc)?;
    if spec.is_none() {
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
