//! The `image-check` command line: arguments, and what each verb does with them.
//!
//! Reports go to stdout, errors to stderr; exit codes are 0 (passed), 1 (findings),
//! 2 (could not check).

use super::cache::LayerCache;
use super::contents::ContentSet;
use super::error::ImageError;
use super::inspect;
use super::run::{self, CheckOptions, RunError};
use super::source::registry::RegistryOptions;
use super::source::OpenOptions;
use super::PlatformSel;
use crate::cli::{print_error, stdout_color};
use crate::redact::Secret;
use crate::report::render::{self, escape_line, Format, Options};
use crate::report::{Code, Finding, Report};
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "image-check",
    version,
    about = "Check a container image against a spec before it ships",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    verb: Option<Verb>,
    #[command(flatten)]
    check: CheckArgs,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Spec file; default: images/<repository>.toml when the reference names a repository
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// OS/ARCH[/VARIANT], or `all` to check every platform (default linux/amd64)
    #[arg(long, value_name = "PLATFORM", value_parser = PlatformSel::parse)]
    platform: Option<PlatformSel>,
    #[command(flatten)]
    report: ReportArgs,
    #[command(flatten)]
    registry: RegistryArgs,
    #[command(flatten)]
    cache: CacheArgs,
    /// Also lint this ECS task definition against the image and its spec
    #[arg(long, value_name = "FILE")]
    taskdef: Option<PathBuf>,
    /// oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REPO:TAG],
    /// docker://HOST[:PORT]/REPO[:TAG|@DIGEST], or REPO[:TAG] (ECR)
    image: Option<String>,
}

/// How the report is written and judged.
#[derive(Args, Debug, Clone, Copy)]
struct ReportArgs {
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Warnings fail the check too
    #[arg(long)]
    strict: bool,
}

/// How a registry is reached; offline references ignore these.
#[derive(Args, Debug, Clone)]
struct RegistryArgs {
    /// Registry credentials USER:PASSWORD (first in the auth order)
    #[arg(long, value_name = "USER:PASS", value_parser = secret_arg, conflicts_with = "creds_file")]
    creds: Option<Secret<String>>,
    /// A file whose first line is USER:PASSWORD
    #[arg(long, value_name = "FILE")]
    creds_file: Option<PathBuf>,
    /// The registry host for a bare REPO[:TAG] (default: ECR in the current account and region)
    #[arg(long, value_name = "HOST[:PORT]")]
    registry: Option<String>,
    /// PEM CA certificate(s) trusted for the registry, besides the system's
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Plain HTTP to a loopback registry (localhost, 127.0.0.0/8, [::1]) only
    #[arg(long)]
    insecure_http: bool,
    /// Overall deadline for reading the image from a registry, e.g. 90s, 10m
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    timeout: Option<std::time::Duration>,
}

/// How layers are read: where layers learned once are kept (every source uses
/// it), and whether their progress is drawn.
#[derive(Args, Debug, Clone)]
struct CacheArgs {
    /// No progress bars on stderr (they are drawn only when stderr is a terminal)
    #[arg(long, short)]
    quiet: bool,
    /// Layer cache directory (default: $XDG_CACHE_HOME/shipcheck, else ~/.cache/shipcheck)
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    cache_dir: Option<PathBuf>,
    /// Read every layer; neither use nor fill the layer cache
    #[arg(long)]
    no_cache: bool,
    /// Size bound of the layer cache, e.g. 512M, 2G (least recently used entries go first)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "512M")]
    cache_max: u64,
}

impl CacheArgs {
    /// The cache to use: none with `--no-cache`, or when no directory is named
    /// and neither `XDG_CACHE_HOME` nor `HOME` is set to an absolute path.
    fn cache(&self) -> Option<LayerCache> {
        if self.no_cache {
            return None;
        }
        let root = match &self.cache_dir {
            Some(d) => d.clone(),
            None => LayerCache::default_root(|k| std::env::var_os(k))?,
        };
        Some(LayerCache::new(&root, self.cache_max))
    }
}

/// The longest `--timeout` taken: a day is far past any real pull, and no
/// deadline arithmetic can overflow below it.
const MAX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// `--timeout`: a humantime duration, more than zero and at most a day.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("the timeout must be more than zero".into());
    }
    if d > MAX_TIMEOUT {
        return Err("the timeout may be at most 24h".into());
    }
    Ok(d)
}

/// `512M`, `2G`, `1GiB`, `100000` (bytes): binary multiples.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("`{s}` is not a size; use e.g. `512M` or `2G`")),
    };
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("`{s}` is not a size; use e.g. `512M` or `2G`"))
}

fn secret_arg(s: &str) -> Result<Secret<String>, String> {
    Ok(Secret::new(s.to_string()))
}

impl RegistryArgs {
    /// The options every source is opened with; reading `--creds-file` may fail.
    fn options(&self, cache: &CacheArgs) -> Result<OpenOptions, ImageError> {
        use crate::image::source::registry::auth::{parse_user_pass, read_small_file, Source};
        let bad = |what: String, why: String| {
            ImageError::registry(
                crate::report::Code::RegistryAuth,
                format!("{what} {why}"),
                "pass `USER:PASSWORD` (for ECR: `AWS:$(aws ecr get-login-password)`)",
            )
        };
        let creds = match (&self.creds, &self.creds_file) {
            (Some(c), _) => Some(
                parse_user_pass(c.expose(), Source::Flag)
                    .map_err(|why| bad("`--creds`".into(), why))?,
            ),
            (None, Some(p)) => {
                let shown = crate::aws::printable(&p.display().to_string());
                let what = format!("`--creds-file` `{shown}`");
                let bytes = Secret::new(
                    read_small_file(p, 64 << 10).map_err(|why| bad(what.clone(), why))?,
                );
                let text = std::str::from_utf8(bytes.expose())
                    .map_err(|_| bad(what.clone(), "is not UTF-8 text".into()))?;
                let first = text.lines().next().unwrap_or("");
                Some(
                    parse_user_pass(first, Source::FlagFile(shown))
                        .map_err(|why| bad(what.clone(), format!("{why} on its first line")))?,
                )
            }
            (None, None) => None,
        };
        let mut reg = RegistryOptions {
            creds,
            ca_file: self.ca_file.clone(),
            insecure_http: self.insecure_http,
            host: self.registry.clone(),
            ..RegistryOptions::default()
        };
        if let Some(t) = self.timeout {
            reg.timeout = t;
        }
        Ok(OpenOptions {
            registry: reg,
            cache: cache.cache(),
            progress: super::bars::Bars::for_stderr(cache.quiet),
        })
    }
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// List the flattened tree under PATH with kind, size, mode and the layer that wrote each entry
    Ls {
        image: String,
        path: Option<String>,
        #[arg(long, value_parser = PlatformSel::parse)]
        platform: Option<PlatformSel>,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Write a file's bytes to stdout
    Cat {
        image: String,
        path: String,
        #[arg(long, value_parser = PlatformSel::parse)]
        platform: Option<PlatformSel>,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Lint an ECS task definition (JSON, CloudFormation JSON/YAML) against the spec and image
    Taskdef {
        file: PathBuf,
        /// The image the task runs: its ENV, EXPOSE and WORKDIR count too
        #[arg(long, value_name = "IMAGE")]
        image: Option<String>,
        /// Spec file; default: images/<repository>.toml for --image or the task's images
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
        /// The container to check; default: the one running --image, else the only essential one
        #[arg(long, value_name = "NAME")]
        container: Option<String>,
        #[command(flatten)]
        report: ReportArgs,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// Every layer that wrote, replaced or deleted PATH, in order
    Why {
        image: String,
        path: String,
        #[arg(long, value_parser = PlatformSel::parse)]
        platform: Option<PlatformSel>,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

fn fail(e: &dyn std::error::Error, hint: Option<String>) -> u8 {
    print_error(e, hint.as_deref());
    2
}

/// The exit code for a failed write to stdout. A closed pipe (`ls … | head`) is how
/// a reader says it has seen enough: quiet and 0, as `ls` and `cat` do. Anything
/// else (a full disk) means the output is incomplete: say so, exit 2.
fn write_failed(e: &std::io::Error) -> u8 {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return 0;
    }
    eprintln!("error: cannot write to stdout: {e}");
    2
}

/// The image `ls` and `why` inspect, read with the registry flags and no file
/// contents kept; on failure, the error is printed and the exit code returned.
fn load_for_verb(
    image: &str,
    platform: Option<PlatformSel>,
    registry: &RegistryArgs,
    cache: &CacheArgs,
) -> Result<super::Loaded, u8> {
    let opts = registry.options(cache).map_err(|e| fail(&e, e.hint()))?;
    run::load_one_with(
        image,
        &platform.unwrap_or(PlatformSel::Default),
        &ContentSet::none(),
        &opts,
    )
    .map_err(|e| fail(&e, e.hint()))
}

pub fn main(cli: Cli) -> u8 {
    match cli.verb {
        Some(Verb::Ls {
            image,
            path,
            platform,
            registry,
            cache,
        }) => {
            let path = path.unwrap_or_else(|| "/".into());
            let img = match load_for_verb(&image, platform, &registry, &cache) {
                Ok(img) => img,
                Err(code) => return code,
            };
            match inspect::ls(&img, &path, &mut std::io::stdout().lock()) {
                Ok(true) => 0,
                Ok(false) => {
                    eprintln!(
                        "error: `{}` does not exist in the image",
                        escape_line(&path)
                    );
                    1
                }
                Err(e) => write_failed(&e),
            }
        }
        Some(Verb::Why {
            image,
            path,
            platform,
            registry,
            cache,
        }) => {
            let img = match load_for_verb(&image, platform, &registry, &cache) {
                Ok(img) => img,
                Err(code) => return code,
            };
            match inspect::why(&img, &path, &mut std::io::stdout().lock()) {
                Ok(()) => 0,
                Err(e) => write_failed(&e),
            }
        }
        Some(Verb::Cat {
            image,
            path,
            platform,
            registry,
            cache,
        }) => match registry.options(&cache) {
            Ok(opts) => cat(
                &image,
                &path,
                &platform.unwrap_or(PlatformSel::Default),
                &opts,
            ),
            Err(e) => fail(&e, e.hint()),
        },
        Some(Verb::Taskdef {
            file,
            image,
            spec,
            container,
            report,
            registry,
            cache,
        }) => taskdef(
            &file,
            image.as_deref(),
            spec.as_deref(),
            container.as_deref(),
            report,
            &registry,
            &cache,
        ),
        None => {
            let Some(image) = cli.check.image.clone() else {
                eprintln!("error: IMAGE is required\n  hint: image-check [--spec FILE] IMAGE, e.g. `image-check oci-archive:image.tar`");
                return 2;
            };
            check(&image, cli.check)
        }
    }
}

fn cat(image: &str, path: &str, platform: &PlatformSel, opts: &OpenOptions) -> u8 {
    let mut want = inspect::user_key(path);
    // Twice at most: the second time for the target of a symlink.
    for _ in 0..2 {
        let w = want.clone();
        let img = match run::load_one_with(image, platform, &ContentSet::none().with_path(&w), opts)
        {
            Ok(img) => img,
            Err(e) => return fail(&e, e.hint()),
        };
        match inspect::content_of(&img, path) {
            Err(msg) => {
                eprintln!("error: {msg}");
                return 1;
            }
            Ok((_, node)) if node.content.is_some() => {
                let bytes = node.content.as_deref().unwrap_or_default();
                let mut out = std::io::stdout().lock();
                return match out.write_all(bytes).and_then(|()| out.flush()) {
                    Ok(()) => 0,
                    Err(e) => write_failed(&e),
                };
            }
            Ok((_, node)) if node.size > super::layer::MAX_CONTENT => {
                eprintln!(
                    "error: `{}` is {} bytes; `cat` reads files up to {} MiB",
                    escape_line(path),
                    node.size,
                    super::layer::MAX_CONTENT >> 20
                );
                return 2;
            }
            Ok((k, _)) => want = img.fs.source_path(&k),
        }
    }
    eprintln!("error: could not read `{}`", escape_line(path));
    2
}

fn check(image: &str, args: CheckArgs) -> u8 {
    let CheckArgs {
        spec,
        platform,
        report: ReportArgs { format, strict },
        registry,
        cache,
        taskdef,
        ..
    } = args;
    let taskdef = taskdef.as_deref();
    let opts = registry.options(&cache).map(|source| CheckOptions {
        spec,
        platform: platform.unwrap_or(PlatformSel::Default),
        spec_dir: PathBuf::new(),
        source,
        taskdef: taskdef.map(PathBuf::from),
    });
    match opts
        .map_err(RunError::Image)
        .and_then(|o| run::check(image, &o))
    {
        Ok(mut outcome) => {
            if let Some(file) = taskdef {
                let sections = super::lint::taskdef_sections(
                    file,
                    outcome.runtime.as_ref(),
                    &outcome.spec_ports,
                    outcome.facts.as_ref(),
                );
                outcome.report.sections.extend(sections);
            }
            let spec = outcome.spec_path.as_ref().map(|p| p.display().to_string());
            let ropts = Options {
                color: stdout_color(),
                annotation_file: spec.as_deref(),
            };
            let mut out = std::io::stdout().lock();
            let code = outcome.report.exit_code(strict);
            match render::render_strict(&outcome.report, format, &ropts, strict, &mut out)
                .and_then(|()| out.flush())
            {
                // A reader that stopped early does not change the verdict.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
                Err(e) => write_failed(&e),
                Ok(()) => code,
            }
        }
        Err(e) => {
            let hint = e.hint();
            // Machine formats get the failure too, as a check that could not run,
            // so a CI test tab or a JSON consumer never mistakes it for a pass.
            if format != Format::Human {
                let code = match &e {
                    RunError::Image(i) => i.code(),
                    RunError::Spec(_) => Code::SpecInvalid,
                };
                let mut f = Finding::error(code, image, crate::cli::chain(&e));
                f.hint = hint.clone();
                if let RunError::Spec(s) = &e {
                    f.location = s.location().map(Box::new);
                }
                let report = Report::not_run("image-check", image, "read", f);
                let opts = Options {
                    color: false,
                    annotation_file: None,
                };
                let _ = render::render_strict(
                    &report,
                    format,
                    &opts,
                    strict,
                    &mut std::io::stdout().lock(),
                );
            }
            match &e {
                RunError::Image(inner) => fail(inner, hint),
                RunError::Spec(inner) => fail(inner, hint),
            }
        }
    }
}

/// `image-check taskdef FILE …`: the report, or exit 2 with the reason (also as
/// a check that could not run in machine formats).
fn taskdef(
    file: &std::path::Path,
    image: Option<&str>,
    spec: Option<&std::path::Path>,
    container: Option<&str>,
    ReportArgs { format, strict }: ReportArgs,
    registry: &RegistryArgs,
    cache: &CacheArgs,
) -> u8 {
    use super::lint::{TaskdefError, TaskdefOptions};
    let result = registry
        .options(cache)
        .map_err(TaskdefError::Image)
        .and_then(|source| {
            super::lint::taskdef(&TaskdefOptions {
                file,
                image,
                spec,
                container,
                source: &source,
                spec_dir: std::path::Path::new(""),
            })
        });
    let shown = file.display().to_string();
    let (report, code) = match result {
        Ok(r) => {
            let code = r.exit_code(strict);
            (r, code)
        }
        Err(e) => {
            let hint = e.hint();
            if format == Format::Human {
                return fail(&e, hint);
            }
            let report = Report::not_run("image-check", &shown, "taskdef", e.finding(&shown));
            print_error(&e, hint.as_deref());
            (report, 2)
        }
    };
    let ropts = Options {
        color: stdout_color(),
        annotation_file: Some(&shown),
    };
    let mut out = std::io::stdout().lock();
    match render::render_strict(&report, format, &ropts, strict, &mut out)
        .and_then(|()| out.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => write_failed(&e),
        Ok(()) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_off() -> CacheArgs {
        CacheArgs {
            quiet: true,
            cache_dir: None,
            no_cache: true,
            cache_max: 0,
        }
    }

    /// `--timeout 9223372036854775807s` panicked adding it to the clock.
    #[test]
    fn timeouts_are_bounded_so_deadlines_cannot_overflow() {
        assert_eq!(
            parse_timeout("90s").unwrap(),
            std::time::Duration::from_secs(90)
        );
        for bad in ["0s", "25h", "9223372036854775807s", "soon"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
        let cli = Cli::try_parse_from(["image-check", "--timeout", "9223372036854775807s", "x"]);
        assert!(cli.is_err());
    }

    #[test]
    fn cache_sizes_parse_in_binary_multiples() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100000"), Ok(100000));
        for bad in ["", "M", "12Q", "-1", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    /// The parsed command line is `Debug` (clap needs it): `--creds` must not
    /// show there, nor in the options it becomes.
    #[test]
    fn creds_never_reach_debug_output() {
        let cli = Cli::try_parse_from([
            "image-check",
            "--creds",
            "ci:CANARY-cli-77",
            "docker://127.0.0.1:1/app:v1",
        ])
        .unwrap();
        assert!(!format!("{cli:?}").contains("CANARY"));
        let opts = cli.check.registry.options(&cli.check.cache).unwrap();
        let shown = format!("{opts:?}");
        assert!(!shown.contains("CANARY") && shown.contains("ci"), "{shown}");
        let err = Cli::try_parse_from(["image-check", "--creds", "nocolonCANARY", "x"])
            .unwrap()
            .check
            .registry
            .options(&cache_off())
            .err()
            .unwrap();
        assert!(!crate::cli::chain(&err).contains("CANARY"));
    }
}
