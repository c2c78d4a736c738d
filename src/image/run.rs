//! The CI gate: reference → spec → selected platforms → loaded images → checks →
//! one report section per platform.
//!
//! A platform that cannot be read becomes a check that could not run (exit 2), so
//! `--platform all` still reports every other platform.

use super::checks;
use super::contents::ContentSet;
use super::error::ImageError;
use super::reference::ImageRef;
use super::spec::{self, Spec, SpecError};
use super::{select, source, Loaded, PlatformSel};
use crate::cli::chain;
use crate::report::{CheckOutcome, Finding, Report, Section};
use crate::spec::runtime::RuntimeSpec;
use crate::spec::SpecFile;
use crate::taskdef::ImageFacts;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Spec(#[from] SpecError),
}

impl RunError {
    pub fn hint(&self) -> Option<String> {
        match self {
            RunError::Image(e) => e.hint(),
            RunError::Spec(_) => Some("the spec schema is in the README under \"Spec\"".into()),
        }
    }
}

pub struct CheckOptions {
    pub spec: Option<PathBuf>,
    pub source: source::OpenOptions,
    pub platform: PlatformSel,
    /// Where `images/<repository>.toml` is looked up (empty: the working directory).
    pub spec_dir: PathBuf,
}

pub struct Outcome {
    pub report: Report,
    pub spec_path: Option<PathBuf>,
    /// The spec's runtime part, for the task-definition lint (`--taskdef`).
    pub runtime: Option<RuntimeSpec>,
    /// The first platform's config as the lint reads it, when one was read.
    pub facts: Option<ImageFacts>,
    /// The ports the spec's `[config]` requires, normalised.
    pub spec_ports: Vec<String>,
}

/// What the task-definition lint reads from an image's config.
pub fn facts_of(
    config: &oci_spec::image::ImageConfiguration,
    repository: Option<String>,
) -> ImageFacts {
    let c = config.config().as_ref();
    ImageFacts {
        repository,
        env: c
            .and_then(|c| c.env().clone())
            .unwrap_or_default()
            .into_iter()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e, String::new()),
            })
            .collect(),
        ports: c
            .and_then(|c| c.exposed_ports().clone())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| spec::normalize_port(p))
            .collect(),
        workdir: c
            .and_then(|c| c.working_dir().clone())
            .filter(|w| !w.is_empty()),
    }
}

/// The spec `images/<repository>.toml` names, or the automatic checks and a note
/// saying no spec was used.
fn find_spec(
    repository: Option<String>,
    spec_dir: &Path,
) -> Result<(SpecFile, Option<String>), RunError> {
    let automatic = || SpecFile {
        path: PathBuf::new(),
        image: Spec::automatic(),
        runtime: None,
        runtime_line: None,
    };
    match repository {
        Some(repo) => match spec::lookup(spec_dir, &repo) {
            Some(p) => Ok((SpecFile::load(&p)?, None)),
            None => Ok((
                automatic(),
                Some(format!("no spec found (looked for `images/{repo}.toml`); only the automatic checks ran")),
            )),
        },
        None => Ok((
            automatic(),
            Some("no spec given (`--spec FILE`); only the automatic checks ran".into()),
        )),
    }
}

/// The checks on umoci's reading of the image, reconciled with the same checks on
/// the overlay runtimes' reading when a layer makes the two differ.
pub fn run_checks(img: &Loaded, spec: &Spec) -> Vec<CheckOutcome> {
    let primary = checks_on(img, &img.fs, spec);
    match img.fs.overlay_reading() {
        Some(other) => checks::divergence::reconcile(&img.fs, primary, checks_on(img, other, spec)),
        None => primary,
    }
}

fn checks_on(img: &Loaded, fs: &super::fs::FlatFs, spec: &Spec) -> Vec<CheckOutcome> {
    let mut out = Vec::new();
    out.push(
        CheckOutcome::from_findings("layers", fs.warnings.clone()).detail(format!(
            "{} layers, {} paths, {} bytes of files",
            fs.layers.len(),
            fs.len().saturating_sub(1),
            img.uncompressed_total()
        )),
    );
    if spec.cmd_target {
        out.push(checks::cmd::check(fs, &img.config));
    }
    if spec.user_exists {
        let user = img
            .config
            .config()
            .as_ref()
            .and_then(|c| c.user().clone())
            .unwrap_or_default();
        out.push(checks::user::check(fs, &user));
    }
    if let Some(rule) = &spec.config {
        out.push(checks::config::check(&img.config, rule));
    }
    if !spec.files.is_empty() || !spec.globs.is_empty() {
        out.push(checks::files::check(fs, &spec.files, &spec.globs));
    }
    if spec.node.enabled != Some(false) {
        out.push(checks::node::check(fs, &img.config, &spec.node));
    }
    if spec.web.enabled != Some(false) {
        out.push(checks::web::check(fs, &img.config, &spec.web));
    }
    out
}

pub fn check(reference: &str, opts: &CheckOptions) -> Result<Outcome, RunError> {
    let r = ImageRef::parse(reference)?;
    // A bad `--spec` is reported before the image is read; a spec named only by
    // the archive's own tags is found once the archive is open.
    let given = opts.spec.as_deref().map(SpecFile::load).transpose()?;
    let src = source::open(&r, &opts.source)?;
    let repository = r.repository().or_else(|| src.repository());
    let (file, note) = match given {
        Some(s) => (s, None),
        None => find_spec(repository.clone(), &opts.spec_dir)?,
    };
    let runtime = file.runtime;
    let spec = file.image;
    let mut facts = None;
    let spec_path = (!spec.path.as_os_str().is_empty()).then(|| spec.path.clone());
    let selected = select(src.as_ref(), &opts.platform)?;
    let mut report = Report::new("image-check");
    for sel in &selected {
        let mut notes = Vec::new();
        match &spec_path {
            Some(p) => notes.push(format!("spec `{}`", p.display())),
            None => notes.extend(note.clone()),
        }
        let target = format!("{reference} ({})", sel.label());
        let checks = match load_for_checks(sel, src.as_ref(), &opts.source, &spec) {
            Ok(img) => {
                if let Some(d) = &img.manifest_digest {
                    notes.push(format!("manifest `{d}`"));
                }
                if facts.is_none() {
                    facts = Some(facts_of(&img.config, repository.clone()));
                }
                let mut checks = run_checks(&img, &spec);
                if let Some(w) = &sel.platform_warning {
                    checks.insert(0, CheckOutcome::from_findings("platform", vec![w.clone()]));
                }
                checks
            }
            Err(e) => vec![CheckOutcome::not_run(
                "read",
                Finding::error(e.code(), sel.label(), chain(&e)).hint(e.hint().unwrap_or_else(
                    || {
                        "the image could not be read; nothing about this platform was checked"
                            .into()
                    },
                )),
            )],
        };
        report.sections.push(Section {
            target,
            notes,
            checks,
        });
    }
    Ok(Outcome {
        report,
        spec_path,
        runtime,
        facts,
        spec_ports: spec.config.map(|c| c.ports).unwrap_or_default(),
    })
}

/// Loads a platform keeping the contents the checks declared; when one of them
/// sits behind a link the first read could not foresee, or the app's entry lies
/// outside what they declared, reads the layers once more.
fn load_for_checks(
    sel: &super::Selected,
    src: &dyn source::ImageSource,
    opts: &source::OpenOptions,
    spec: &Spec,
) -> Result<Loaded, ImageError> {
    let declared = checks::contents(spec);
    let base = checks::user::contents();
    let (img, full) = match sel.load(src, &declared, opts) {
        // More app scripts, pages and manifests than the reader keeps (per layer,
        // or in the image's listings): read the image as before the app checks
        // existed; they then say which files they could not read instead of the
        // image failing. (The image is read twice; a bounded best-effort set
        // would spare that.)
        Err(ImageError::OverLimit { .. }) => (sel.load(src, &base, opts)?, false),
        r => (r?, true),
    };
    let mut more = checks::user::content_sources(&img.fs);
    more.extend(checks::files::content_sources(&img.fs, &spec.files));
    if full && spec.node.enabled != Some(false) {
        more.extend(checks::node::content_sources(
            &img.fs,
            &img.config,
            &spec.node,
        ));
    }
    if more.is_empty() {
        return Ok(img);
    }
    // One tree at a time: the first one is not needed any more.
    drop(img);
    let set = if full { declared } else { base };
    let all = more.iter().fold(set, |set, p| set.with_path(p));
    sel.load(src, &all, opts)
}

/// For `ls`/`cat`/`why`: exactly one platform, loaded.
pub fn load_one(
    reference: &str,
    platform: &PlatformSel,
    want: &ContentSet,
) -> Result<Loaded, ImageError> {
    load_one_with(reference, platform, want, &source::OpenOptions::default())
}

/// [`load_one`] with the options that reach a registry.
pub fn load_one_with(
    reference: &str,
    platform: &PlatformSel,
    want: &ContentSet,
    opts: &source::OpenOptions,
) -> Result<Loaded, ImageError> {
    if *platform == PlatformSel::All {
        return Err(ImageError::Invalid(
            "`--platform all` is only for checks; name one platform".into(),
        ));
    }
    let r = ImageRef::parse(reference)?;
    let src = source::open(&r, opts)?;
    let selected = select(src.as_ref(), platform)?;
    let sel = selected
        .into_iter()
        .next()
        .ok_or_else(|| ImageError::Invalid("no image selected".into()))?;
    if let Some(w) = &sel.platform_warning {
        // The verbs print a listing, not a report: the warning goes to stderr.
        eprintln!(
            "warning[{}]: {}",
            w.code,
            crate::report::render::escape_line(&w.message)
        );
    }
    sel.load(src.as_ref(), want, opts)
}
