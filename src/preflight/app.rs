//! The `preflight` command line: load the spec, run the probes, print the report on
//! stderr (the server's stdout stays its own), then exec the server or exit.
//!
//! Exit codes when not exec'ing: 0 all probes passed, 1 a probe failed, 2 usage,
//! spec or could-not-check errors; 127/126 when the server cannot be started;
//! 128+N when signal N (SIGTERM, SIGINT, SIGQUIT) stopped the probes. With
//! `--format json` every line on stderr is a JSON object on every one of these
//! paths, and the closing summary's `exit_code` is the process's exit status; when
//! it execs the server, the summary's `exit_code` is `null` with `"outcome":
//! "exec"`, since no one here knows the server's status.

use super::environ::Env;
use super::spec::{self, Spec};
use super::{effective, exec, run, stop, DEFAULT_TIMEOUT};
use crate::cli::{chain, print_error, stderr_color};
use crate::redact::Secret;
use crate::report::render::{self, Format, Options};
use crate::report::{CheckOutcome, Code, Finding, Report};
use clap::{Parser, ValueEnum};
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

/// A line on stderr that a stderr nobody reads (a closed pipe, `/dev/full`)
/// cannot turn into a panic: `eprintln!` panics when the write fails, and the
/// server would then never start.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutFormat {
    Human,
    Json,
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "preflight",
    version,
    about = "Check what the server needs (env, secrets, PostgreSQL, S3), then exec it",
    after_help = "In a Dockerfile: ENTRYPOINT [\"/usr/local/bin/preflight\", \"--\"] and CMD [\"node\", \"dist/index.js\"]"
)]
pub struct Cli {
    /// Spec file (default: $SHIPCHECK_PREFLIGHT, else /etc/shipcheck/preflight.toml when it exists)
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// A variable that must be set, optionally of a kind: `PORT:port`, `NODE_ENV:one-of=production,staging` (repeatable)
    #[arg(long = "require", value_name = "VAR[:KIND[=ARGS]]", value_parser = spec::parse_require)]
    require: Vec<spec::EnvRule>,
    /// A variable holding a secret, optionally of a kind: `STRIPE_SECRET_KEY:stripe`; never printed (repeatable)
    #[arg(long = "secret", value_name = "VAR[:KIND]", value_parser = spec::parse_secret)]
    secret: Vec<spec::SecretRule>,
    #[arg(long, value_enum, default_value_t = OutFormat::Human)]
    format: OutFormat,
    /// Deadline for each probe, more than 0 and at most 10m, e.g. `5s`, `1500ms`
    #[arg(long, value_name = "DURATION", value_parser = spec::parse_timeout)]
    timeout: Option<Duration>,
    /// Report and exit; do not start COMMAND
    #[arg(long)]
    check_only: bool,
    /// Start COMMAND even when probes fail, the spec is broken or there is nothing to check
    #[arg(long)]
    warn_only: bool,
    /// Print the keyed fingerprint of a value read from stdin (to compare with a running task's) and exit
    #[arg(long)]
    fingerprint: bool,
    /// The server to exec after the probes
    /// (Bytes, not text: execve takes any, and `--warn-only` must start it.)
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// Secrets Manager holds at most 64 KiB per value; stdin beyond this is not one.
const MAX_FINGERPRINT_INPUT: u64 = 1024 * 1024;

fn fingerprint_stdin(env: &Env, spec: Option<&Spec>, out: &Out) -> u8 {
    let key = env.get("SHIPCHECK_FINGERPRINT_KEY").cloned().or_else(|| {
        spec.and_then(|s| s.fingerprint_key.clone())
            .map(Secret::new)
    });
    let Some(key) = key else {
        return out.fail(Code::UsageInvalid, "no fingerprint key", "set `SHIPCHECK_FINGERPRINT_KEY` (the same value the task has) or `fingerprint_key` in the spec");
    };
    let mut buf = Vec::new();
    let read = std::io::stdin()
        .take(MAX_FINGERPRINT_INPUT + 1)
        .read_to_end(&mut buf);
    if read.is_err() || buf.len() as u64 > MAX_FINGERPRINT_INPUT {
        return out.fail(
            Code::UsageInvalid,
            "stdin is unreadable or longer than 1 MiB",
            "pipe in the one secret value, e.g. from `aws secretsmanager get-secret-value --output text`",
        );
    }
    let Ok(text) = String::from_utf8(buf) else {
        return out.fail(
            Code::UsageInvalid,
            "stdin is not UTF-8 text",
            "pipe in the secret value as text",
        );
    };
    // `aws secretsmanager get-secret-value --output text` ends with a newline the
    // stored value does not have.
    let value = Secret::new(text.strip_suffix('\n').unwrap_or(&text).to_string());
    println!("{}", super::probes::secrets::fingerprint(&key, &value));
    0
}

/// Whether the arguments ask for JSON, read before clap so that clap's own errors
/// can honour it too. Only a well-formed `--format json` before `--` counts.
fn wants_json(args: &[OsString]) -> bool {
    let mut it = args.iter().skip(1).map(|a| a.to_str().unwrap_or(""));
    while let Some(a) = it.next() {
        match a {
            "--" => break,
            "--format=json" => return true,
            "--format" if it.next() == Some("json") => return true,
            _ => {}
        }
    }
    false
}

/// A flag as users type it: `--timeout`, never a value. An unknown argument is
/// shown only when it is spelled like our flags (lowercase words and `-`), since
/// it may be a value in the wrong place (`--sk_live_…`, `--Tr0ub4dor`, `KEY=value`).
fn flag_name(s: &str) -> Option<&str> {
    let name = s.split([' ', '=']).next().unwrap_or("");
    let body = name.strip_prefix("--").or_else(|| name.strip_prefix('-'))?;
    (!body.is_empty()
        && body.len() <= 24
        && body.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
    .then_some(name)
}

/// clap's errors quote the offending value; this says what is wrong with a flag
/// without ever showing what was passed. Returns (message, hint).
fn usage_message(e: &clap::Error) -> (String, String) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let ctx = |k| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let help = "run `preflight --help` for the flags and their values".to_string();
    let arg = ctx(ContextKind::InvalidArg).unwrap_or("");
    let flag = flag_name(arg);
    match e.kind() {
        ErrorKind::ValueValidation => {
            let why = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "is not valid".into());
            let sep = if why.starts_with("is ") || why.starts_with("must ") {
                " "
            } else {
                ": "
            };
            (format!("`{}`{sep}{why}", flag.unwrap_or("a flag")), help)
        }
        ErrorKind::InvalidValue => {
            let valid = match e.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(v)) => v
                    .iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            let msg = if valid.is_empty() {
                format!("`{}` needs a value", flag.unwrap_or("a flag"))
            } else {
                format!("`{}` takes one of {valid}", flag.unwrap_or("a flag"))
            };
            (msg, help)
        }
        ErrorKind::UnknownArgument => match flag {
            Some(f) => (format!("unknown flag `{f}`"), help),
            None if !arg.starts_with('-') => (
                "an argument before `--` is not a flag".into(),
                "put the server's command after `--`: `preflight -- node dist/index.js`".into(),
            ),
            None => (
                "an unknown flag (not shown: it may hold a value)".into(),
                help,
            ),
        },
        ErrorKind::ArgumentConflict => (
            format!(
                "`{}` is given more than once or conflicts with another flag",
                flag.unwrap_or("a flag")
            ),
            help,
        ),
        kind => {
            let what = kind.as_str().unwrap_or("the command line is not valid");
            match flag {
                Some(f) => (format!("`{f}`: {what}"), help),
                None => (what.to_string(), help),
            }
        }
    }
}

/// Whether stderr carries JSON lines (`--format json`), for the panic hook.
static JSON_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The line the binary's panic hook writes: a JSON object under `--format
/// json`, so every stderr line still parses; never the panic's message, which
/// may quote the value that caused it.
pub fn internal_error_line(location: Option<(&str, u32)>) -> String {
    let at = location
        .map(|(f, l)| format!(" at {f}:{l}"))
        .unwrap_or_default();
    let message = format!("internal error{at} (its message is withheld: it may quote a secret)");
    if JSON_STDERR.load(std::sync::atomic::Ordering::Relaxed) {
        serde_json::json!({"type": "internal-error", "tool": "preflight", "message": message})
            .to_string()
    } else {
        format!("preflight: {message}")
    }
}

/// Parses `args` (the process's, program name first) and runs; the exit status.
pub fn main_args<I: IntoIterator<Item = OsString>>(args: I) -> u8 {
    let args: Vec<OsString> = args.into_iter().collect();
    let json = wants_json(&args);
    JSON_STDERR.store(json, std::sync::atomic::Ordering::Relaxed);
    match Cli::try_parse_from(&args) {
        Ok(cli) => main(cli),
        Err(e) if !e.use_stderr() => {
            // --help and --version: stdout, success.
            let _ = e.print();
            0
        }
        Err(e) => {
            let (message, hint) = usage_message(&e);
            if json {
                let f = Finding::error(Code::UsageInvalid, "command line", message).hint(hint);
                emit_json(&Report::not_run("preflight", "preflight", "usage", f), 2);
            } else {
                say!("error: {message}\n  hint: {hint}");
            }
            2
        }
    }
}

fn emit_json(report: &Report, exit_code: u8) {
    let _ = render::json_with_exit_code(report, exit_code, &mut std::io::stderr().lock());
}

/// How the report reaches stderr, chosen once from `--format`.
struct Out {
    json: bool,
}

impl Out {
    /// The report and its verdict. Human output of a report that is only an error
    /// (spec, nothing to check) was already printed as `error:` lines.
    fn report(&self, report: &Report, exit_code: u8, human: bool) {
        self.report_ending(report, render::Ending::Exit(exit_code), human)
    }

    fn report_ending(&self, report: &Report, ending: render::Ending, human: bool) {
        if self.json {
            let _ = render::json_ending(report, ending, &mut std::io::stderr().lock());
        } else if human {
            let opts = Options {
                color: stderr_color(),
                annotation_file: None,
            };
            let _ = render::render(report, Format::Human, &opts, &mut std::io::stderr().lock());
        }
    }

    /// Nothing could be checked: an `error:` line with its hint, or its JSON report.
    /// Always exit status 2.
    fn fail(&self, code: Code, msg: &str, hint: &str) -> u8 {
        if self.json {
            let f = Finding::error(code, "preflight", msg).hint(hint);
            emit_json(
                &Report::not_run("preflight", "preflight", "preflight", f),
                2,
            );
        } else {
            say!("error: {msg}\n  hint: {hint}");
        }
        2
    }

    /// One line: the probes were stopped and the server will not start.
    fn stopped(&self, sig: i32) -> u8 {
        let code = stop::exit_code(sig);
        let msg = format!(
            "stopped by `{}` during the probes; the server was not started",
            stop::name(sig)
        );
        if self.json {
            let f = Finding::error(Code::StoppedBySignal, "preflight", msg);
            emit_json(
                &Report::not_run("preflight", "preflight", "preflight", f),
                code,
            );
        } else {
            say!("error: {msg}");
        }
        code
    }
}

/// The last resort behind the probes' deadlines. Those are timers on the async
/// runtime, and they fire only while the thread polling the probes is not stuck
/// in the kernel: a file that never finishes opening or reading (a FIFO a library
/// opens without asking us, a hung network mount) would hold the start past every
/// deadline, and past SIGTERM, whose handler only wakes that same thread. A plain
/// thread watches the clock and the stop signals; when the probes have not
/// returned a second after their overall deadline, or a stop signal went unhandled
/// for a second, it reports and ends the run itself (exec'ing the server under
/// `--warn-only`, as the normal path would). Whichever side claims the end first
/// reports; the other stays silent.
struct Watchdog {
    done: Option<std::sync::mpsc::Sender<()>>,
    limit: std::sync::Arc<std::sync::Mutex<Limit>>,
}

/// Ends the process from the watchdog without running exit handlers: OpenSSL's
/// would free what the stuck thread is inside of. stderr is unbuffered, so the
/// report is out.
fn hard_exit(code: u8) -> ! {
    // SAFETY: `_exit` takes any status and does not return; no Rust state is
    // relied on after it.
    unsafe { libc::_exit(i32::from(code)) }
}

static CLAIMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn claim() -> bool {
    !CLAIMED.swap(true, std::sync::atomic::Ordering::SeqCst)
}

impl Watchdog {
    /// The grace past the run's own overall deadline (`timeout` + 1 s).
    const GRACE: Duration = Duration::from_secs(2);

    /// Watches from the start: reading the spec can hang too (a spec on a hung
    /// mount), with `allowance` for it; [`Watchdog::arm`] sets the probes' deadline.
    fn start(cli: &Cli, json: bool, allowance: Duration) -> Watchdog {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let cli = cli.clone();
        let limit = std::sync::Arc::new(std::sync::Mutex::new(Limit::new(
            allowance,
            "reading its spec",
        )));
        let shared = limit.clone();
        let spawned = std::thread::Builder::new()
            .name("preflight-watchdog".into())
            .spawn(move || {
                let out = Out { json };
                let mut signalled: Option<std::time::Instant> = None;
                loop {
                    match rx.recv_timeout(Duration::from_millis(50)) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let now = std::time::Instant::now();
                    if let Some(sig) = stop::received() {
                        let since = *signalled.get_or_insert(now);
                        if now.duration_since(since) >= Duration::from_secs(1) && claim() {
                            hard_exit(out.stopped(sig));
                        }
                    }
                    let Limit { at, timeout, doing } = match shared.lock() {
                        Ok(l) => *l,
                        Err(_) => return,
                    };
                    if now >= at && claim() {
                        let f = Finding::error(
                            Code::ProbeTimeout,
                            "preflight",
                            format!(
                                "preflight did not finish {doing} within {}: something it reads is stuck in a system call no deadline can interrupt (a file that never finishes opening or reading, a hung mount)",
                                shown_duration(timeout)
                            ),
                        )
                        .hint("look at the files preflight reads: the spec, `sslrootcert`, `sslcert`/`sslkey`, `SSL_CERT_FILE`/`SSL_CERT_DIR`, the AWS config and credentials files");
                        let report = Report::not_run("preflight", "preflight", "preflight", f);
                        hard_exit(finish(&cli, &out, report, 2, true));
                    }
                }
            });
        // Without the thread the runtime's own deadlines still hold in all but
        // the stuck-in-the-kernel case.
        Watchdog {
            done: spawned.is_ok().then_some(tx),
            limit,
        }
    }

    /// The probes start now, with `timeout`.
    fn arm(&self, timeout: Duration) {
        if let Ok(mut l) = self.limit.lock() {
            *l = Limit::new(timeout, "its probes");
        }
    }

    /// Preflight is done waiting on anything: the watchdog stands down, unless
    /// it already claimed the end, in which case this thread waits for it to end
    /// the process.
    fn finish(mut self) {
        self.done.take();
        if !claim() {
            loop {
                std::thread::park();
            }
        }
    }
}

/// When the watchdog ends the run, and what preflight was doing.
#[derive(Debug, Clone, Copy)]
struct Limit {
    at: std::time::Instant,
    timeout: Duration,
    doing: &'static str,
}

impl Limit {
    fn new(timeout: Duration, doing: &'static str) -> Limit {
        Limit {
            at: std::time::Instant::now() + timeout.saturating_add(Watchdog::GRACE),
            timeout,
            doing,
        }
    }
}

/// `10ms`, `2.5s`: a deadline as the flags take it (`{:.1}s` showed 10 ms as 0.0s).
fn shown_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// `found`: the file was found and is executable, and `execve` itself failed.
fn exec_failed(program: &str, err: &std::io::Error, found: bool) -> Finding {
    let why = match err.kind() {
        // The file is there: what is missing is what it names to run it.
        std::io::ErrorKind::NotFound if found => {
            "the interpreter its `#!` line names, or the loader it was linked against, is not in the image".to_string()
        }
        _ if found && err.raw_os_error() == Some(libc::ENOEXEC) => {
            "not a format the kernel runs (a script without a `#!` line, or a binary built for another architecture)".to_string()
        }
        std::io::ErrorKind::NotFound if program.contains('/') => "no such file".to_string(),
        std::io::ErrorKind::NotFound => "not found on `PATH`".to_string(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (no execute bit, a directory, or a `noexec` mount)".to_string()
        }
        _ => err.to_string(),
    };
    Finding::error(
        Code::ExecFailed,
        "exec",
        format!("cannot start `{program}`: {why}"),
    )
    .hint("check COMMAND (after `--`) and the image's PATH")
}

/// The exec failure as the one `error:` line of human output.
fn print_exec_failed(program: &str, err: &std::io::Error, found: bool) {
    let f = exec_failed(program, err, found);
    say!(
        "error: {}\n  hint: {}",
        f.message,
        f.hint.unwrap_or_default()
    );
}

/// Reports `report` with `verdict`, then execs COMMAND when the verdict (or
/// `--warn-only`) allows; returns the exit status when it does not exec.
/// `human` is false when the human text was printed already.
fn finish(cli: &Cli, out: &Out, mut report: Report, verdict: u8, human: bool) -> u8 {
    let go = !cli.check_only && !cli.command.is_empty() && (verdict == 0 || cli.warn_only);
    if !go {
        out.report(&report, verdict, human);
        return verdict;
    }
    let shown = cli.command[0].to_string_lossy();
    let program = shown.as_ref();
    let target = match exec::resolve(&cli.command[0], std::env::var_os("PATH").as_deref()) {
        Ok(t) => t,
        Err((code, err)) => {
            // One report, one summary: the server's failure joins the probes'.
            if let Some(section) = report.sections.first_mut() {
                section.checks.push(CheckOutcome::not_run(
                    "exec",
                    exec_failed(program, &err, false),
                ));
            }
            out.report(&report, code, human);
            if !out.json && !human {
                // The report was only an `error:` line, without the exec check.
                print_exec_failed(program, &err, false);
            }
            return code;
        }
    };
    // From here a stop signal takes its default action, as it will in the server;
    // one that came before is honoured now, so a probe that passed after a
    // SIGTERM never starts the server (and no summary claims it did).
    if let Some(sig) = stop::restore_defaults() {
        return out.stopped(sig);
    }
    // The summary cannot know the server's exit status: it says the process
    // becomes the server, and what preflight alone would have exited with.
    out.report_ending(&report, render::Ending::Exec { program, verdict }, human);
    if !out.json {
        // Only the program: arguments may carry values that must not reach logs.
        say!("preflight: starting `{program}`");
    }
    let (code, err) = exec::exec(&target, &cli.command);
    if out.json {
        let f = exec_failed(program, &err, true);
        emit_json(&Report::not_run("preflight", "preflight", "exec", f), code);
    } else {
        print_exec_failed(program, &err, true);
    }
    code
}

pub fn main(cli: Cli) -> u8 {
    let out = Out {
        json: cli.format == OutFormat::Json,
    };
    let env = Env::from_process();
    // Handlers and the watchdog go in before anything that can wait (the spec
    // can sit on a hung mount); as PID 1, a signal without a handler is dropped
    // by the kernel.
    let (listener, install_failed) = match stop::install() {
        Ok(l) => (Some(l), None),
        Err(e) => (None, Some(chain(&e))),
    };
    let watchdog = Watchdog::start(&cli, out.json, cli.timeout.unwrap_or(DEFAULT_TIMEOUT));
    let spec_path = spec::locate(cli.spec.as_deref(), env.plain("SHIPCHECK_PREFLIGHT"));
    let loaded = match &spec_path {
        Some(p) => match Spec::load(p) {
            Ok(s) => s,
            Err(e) => {
                let hint = "the preflight spec schema is in the README under \"preflight spec\"";
                if !out.json {
                    print_error(&e, Some(hint));
                }
                let f = Finding::error(Code::SpecInvalid, p.display().to_string(), chain(&e))
                    .hint(hint)
                    .at(e.location());
                let report = Report::not_run("preflight", "preflight", "spec", f);
                watchdog.finish();
                if cli.fingerprint {
                    out.report(&report, 2, false);
                    return 2;
                }
                return finish(&cli, &out, report, 2, false);
            }
        },
        None => Spec::default(),
    };
    if cli.fingerprint {
        // Reading stdin waits on whoever writes it, by design.
        watchdog.finish();
        stop::restore_defaults();
        return fingerprint_stdin(&env, spec_path.as_ref().map(|_| &loaded), &out);
    }
    let spec = effective(loaded, &cli.require, &cli.secret, &env);
    // An optional probe whose variable is unset does not run (see `run`): a spec
    // made only of those checks nothing, and must say so rather than exit silently.
    let runs = |required: bool, var: &str| required || env.get(var).is_some();
    let nothing = spec.env.is_empty()
        && spec.secrets.is_empty()
        && !spec
            .postgres
            .as_ref()
            .is_some_and(|r| runs(r.required, &r.url_env))
        && !spec
            .s3
            .as_ref()
            .is_some_and(|r| runs(r.required, &r.bucket_env));
    if nothing {
        let msg = "nothing to check";
        let hint = "pass `--spec FILE`, `--require VAR` or `--secret VAR`, or set `DATABASE_URL` / `S3_BUCKET_NAME`";
        if !out.json {
            say!("error: {msg}\n  hint: {hint}");
        }
        let f = Finding::error(Code::NothingToCheck, "preflight", msg).hint(hint);
        let report = Report::not_run("preflight", "preflight", "preflight", f);
        watchdog.finish();
        return finish(&cli, &out, report, 2, false);
    }
    let timeout = cli.timeout.or(spec.timeout).unwrap_or(DEFAULT_TIMEOUT);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            watchdog.finish();
            let msg = format!("cannot start the async runtime: {}", chain(&e));
            if out.json {
                let f = Finding::error(Code::RuntimeFailed, "preflight", msg);
                emit_json(
                    &Report::not_run("preflight", "preflight", "preflight", f),
                    2,
                );
            } else {
                say!("error: {msg}");
            }
            return 2;
        }
    };
    watchdog.arm(timeout);
    let result = rt.block_on(async {
        match listener {
            Some(l) => tokio::select! {
                r = run(&spec, &env, timeout) => Ok(r),
                sig = l.wait() => Err(sig),
            },
            None => Ok(run(&spec, &env, timeout).await),
        }
    });
    watchdog.finish();
    // A DNS lookup stuck in a blocking thread must not delay the exec or the exit.
    rt.shutdown_background();
    let mut report = match result {
        Ok(r) => r,
        Err(sig) => {
            stop::restore_defaults();
            return out.stopped(sig);
        }
    };
    // A signal that came as the last probe finished still stops the start.
    if let Some(sig) = stop::received() {
        stop::restore_defaults();
        return out.stopped(sig);
    }
    if let (Some(e), Some(section)) = (install_failed, report.sections.first_mut()) {
        section.notes.push(format!(
            "stop signals were not handled during the probes: {e}"
        ));
    }
    let verdict = report.exit_code(false);
    finish(&cli, &out, report, verdict, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        std::iter::once("preflight")
            .chain(a.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn json_is_recognised_before_clap_parses() {
        assert!(wants_json(&args(&["--format", "json", "--bogus"])));
        assert!(wants_json(&args(&["--bogus", "--format=json"])));
        assert!(!wants_json(&args(&["--format", "human"])));
        assert!(
            !wants_json(&args(&["--", "--format", "json"])),
            "the server's flags"
        );
    }

    #[test]
    fn usage_errors_name_flags_never_values() {
        assert_eq!(flag_name("--timeout <DURATION>"), Some("--timeout"));
        assert_eq!(flag_name("--tiemout=5s"), Some("--tiemout"));
        for value_like in ["--sk_live_abc", "--Tr0ub4dor", "KEY=value", "--", "-"] {
            assert_eq!(flag_name(value_like), None, "{value_like}");
        }
        let e = Cli::try_parse_from(args(&["--timeout", "hunter2"])).unwrap_err();
        let (m, _) = usage_message(&e);
        assert_eq!(m, "`--timeout` is not a duration like `5s` or `1500ms`");
        let e = Cli::try_parse_from(args(&["--format", "hunter2"])).unwrap_err();
        let (m, _) = usage_message(&e);
        assert_eq!(m, "`--format` takes one of `human`, `json`");
        let e = Cli::try_parse_from(args(&["--Hunter2"])).unwrap_err();
        assert!(!usage_message(&e).0.contains("unter2"));
    }
}
