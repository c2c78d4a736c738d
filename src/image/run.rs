//! The CI gate: reference → spec → selected platforms → loaded images → checks →
//! one report section per platform.
//!
//! A platform that cannot be read becomes a check that could not run (exit 2), so
//! `--platform all` still reports every other platform.

use super::checks;
use super::checks::node::TaskEnv;
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
    /// `--taskdef FILE`: the container's environment as the task gives it.
    pub taskdef: Option<PathBuf>,
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
/// `task`: what the task definition (`--taskdef`) sets for the app checks.
pub fn run_checks(img: &Loaded, spec: &Spec, task: Option<&TaskEnv>) -> Vec<CheckOutcome> {
    let primary = checks_on(img, &img.fs, spec, task);
    match img.fs.overlay_reading() {
        Some(other) => {
            checks::divergence::reconcile(&img.fs, primary, checks_on(img, other, spec, task))
        }
        None => primary,
    }
}

fn checks_on(
    img: &Loaded,
    fs: &super::fs::FlatFs,
    spec: &Spec,
    task: Option<&TaskEnv>,
) -> Vec<CheckOutcome> {
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
        let arch = img.config.architecture().to_string();
        out.push(checks::files::check(fs, &spec.files, &spec.globs, &arch));
    }
    if spec.node.enabled != Some(false) {
        out.push(checks::node::check(fs, &img.config, &spec.node, task));
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
    // A file the lint cannot read or pick a container from is the lint's
    // section's error (exit 2); the node check then judges with the image's ENV.
    let task = opts.taskdef.as_deref().and_then(|file| {
        let doc = crate::taskdef::read(file).ok()?;
        let var = |name| crate::taskdef::variable(&doc, repository.as_deref(), name).ok();
        Some(TaskEnv {
            file: file.display().to_string(),
            node_env: var("NODE_ENV")?,
            node_options: var("NODE_OPTIONS")?,
        })
    });
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
                let mut checks = run_checks(&img, &spec, task.as_ref());
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

/// Rounds of reading again by path: a file read in one round can name the next
/// one the checks need (an entry, then the script it imports, then that one's
/// import), each past a layer's budget.
const MAX_REREADS: usize = 3;

/// Loads a platform keeping the contents the checks declared; when one of them
/// sits behind a link the first read could not foresee, the app's entry lies
/// outside what they declared, or a file the checks need (the entry, a script
/// or `package.json` it reaches, the page) was past a layer's best-effort
/// budget, reads the layers again with those files by path, until the checks
/// lack nothing new or [`MAX_REREADS`] rounds were read.
fn load_for_checks(
    sel: &super::Selected,
    src: &dyn source::ImageSource,
    opts: &source::OpenOptions,
    spec: &Spec,
) -> Result<Loaded, ImageError> {
    let declared = checks::contents(spec);
    // The heads `static = true` reads are small and decide a check of their
    // own: they stay in the fallback too.
    let base = checks::user::contents().union(&checks::files::contents(&spec.files));
    let (mut img, full) = match sel.load(src, &declared, opts) {
        // Best-effort contents are bounded per layer, but an image of many such
        // layers can still pass the listings' limit: read the image as before the
        // app checks existed; they then say which files they could not read
        // instead of the image failing.
        Err(ImageError::OverLimit { .. }) => (sel.load(src, &base, opts)?, false),
        r => (r?, true),
    };
    // (path, whether only its head is read)
    let with = |set: ContentSet, paths: &[(String, bool)]| {
        paths.iter().fold(set, |s, (p, head)| {
            if *head {
                s.with_head(p)
            } else {
                s.with_path(p)
            }
        })
    };
    let mut asked: Vec<(String, bool)> = Vec::new();
    let mut seen: std::collections::HashSet<(String, bool)> = std::collections::HashSet::new();
    for _ in 0..MAX_REREADS {
        let whole = |v: Vec<String>| v.into_iter().map(|p| (p, false)).collect::<Vec<_>>();
        let mut user = whole(checks::user::content_sources(&img.fs));
        user.extend(
            checks::files::content_sources(&img.fs, &spec.files)
                .into_iter()
                .map(|p| (p, true)),
        );
        let node = whole(if spec.node.enabled != Some(false) {
            checks::node::content_sources(&img.fs, &img.config, &spec.node)
        } else {
            vec![]
        });
        let web = whole(if spec.web.enabled != Some(false) {
            checks::web::content_sources(&img.fs, &img.config, &spec.web)
        } else {
            vec![]
        });
        // Each list starts with the file that decides its check's verdict (the
        // entry, the page, or the first one the walk needed): the last resort
        // keeps those by path and no more, so it cannot pass the limit the
        // others did.
        let firsts: Vec<(String, bool)> = user
            .iter()
            .chain(node.first())
            .chain(web.first())
            .cloned()
            .collect();
        let before = asked.len();
        for p in user.into_iter().chain(node).chain(web) {
            if seen.insert(p.clone()) {
                asked.push(p);
            }
        }
        if asked.len() == before {
            return Ok(img);
        }
        // One tree at a time: the last one is not needed any more.
        drop(img);
        let set = if full { declared.clone() } else { base.clone() };
        img = match sel.load(src, &with(set, &asked), opts) {
            // The files asked for by path (up to 32 MiB of the app's scripts)
            // pass the listings limit beside the best-effort ones: the checks
            // read the files that decide their verdicts, and say which others
            // they could not.
            Err(ImageError::OverLimit { .. }) => return sel.load(src, &with(base, &firsts), opts),
            r => r?,
        };
    }
    Ok(img)
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
    let (src, sel) = select_one(&r, platform, opts)?;
    sel.load(src.as_ref(), want, opts)
}

/// The source `r` names and the one platform `platform` selects in it, for the
/// verbs and the lint, which print a listing or a lint report, not an image
/// report: a platform warning goes to stderr.
pub(crate) fn select_one(
    r: &ImageRef,
    platform: &PlatformSel,
    opts: &source::OpenOptions,
) -> Result<(Box<dyn source::ImageSource>, super::Selected), ImageError> {
    let src = source::open(r, opts)?;
    let sel = select(src.as_ref(), platform)?
        .into_iter()
        .next()
        .ok_or_else(|| ImageError::Invalid("no image selected".into()))?;
    if let Some(w) = &sel.platform_warning {
        eprintln!(
            "warning[{}]: {}",
            w.code,
            crate::report::render::escape_line(&w.message)
        );
    }
    Ok((src, sel))
}
