//! The `preflight` command line: load the spec, run the probes, print the report on
//! stderr (the server's stdout stays its own), then exec the server or exit.
//!
//! Exit codes when not exec'ing: 0 all probes passed, 1 a probe failed, 2 usage,
//! spec or could-not-check errors; 127/126 when the server cannot be started.

use super::environ::Env;
use super::spec::{self, Spec};
use super::{effective, exec, run, DEFAULT_TIMEOUT};
use crate::cli::{print_error, stderr_color};
use crate::redact::Secret;
use crate::report::render::{self, Format, Options};
use crate::report::{Code, Finding, Report};
use clap::{Parser, ValueEnum};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutFormat {
    Human,
    Json,
}

#[derive(Parser, Debug)]
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
    /// Deadline for each probe, e.g. `5s`, `1500ms`
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Report and exit; do not start COMMAND
    #[arg(long)]
    check_only: bool,
    /// Start COMMAND even when probes fail
    #[arg(long)]
    warn_only: bool,
    /// Print the keyed fingerprint of a value read from stdin (to compare with a running task's) and exit
    #[arg(long)]
    fingerprint: bool,
    /// The server to exec after the probes
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn fingerprint_stdin(env: &Env, spec: Option<&Spec>) -> u8 {
    let key = env.get("SHIPCHECK_FINGERPRINT_KEY").cloned().or_else(|| {
        spec.and_then(|s| s.fingerprint_key.clone())
            .map(Secret::new)
    });
    let Some(key) = key else {
        eprintln!("error: no fingerprint key\n  hint: set `SHIPCHECK_FINGERPRINT_KEY` (the same value the task has) or `fingerprint_key` in the spec");
        return 2;
    };
    let mut buf = String::new();
    if std::io::stdin().read_to_string(&mut buf).is_err() {
        eprintln!("error: stdin is not UTF-8 text");
        return 2;
    }
    // `aws secretsmanager get-secret-value --output text` ends with a newline the
    // stored value does not have.
    let value = Secret::new(buf.strip_suffix('\n').unwrap_or(&buf).to_string());
    println!("{}", super::probes::secrets::fingerprint(&key, &value));
    0
}

pub fn main(cli: Cli) -> u8 {
    let env = Env::from_process();
    let spec_path = spec::locate(cli.spec.as_deref(), env.plain("SHIPCHECK_PREFLIGHT"));
    let loaded = match &spec_path {
        Some(p) => match Spec::load(p) {
            Ok(s) => s,
            Err(e) => {
                let hint = "the preflight spec schema is in the README under \"preflight spec\"";
                if matches!(cli.format, OutFormat::Json) {
                    let f = Finding::error(
                        Code::SpecInvalid,
                        p.display().to_string(),
                        crate::cli::chain(&e),
                    )
                    .hint(hint);
                    let report = Report::not_run("preflight", "preflight", "spec", f);
                    let opts = Options {
                        color: false,
                        annotation_file: None,
                    };
                    let _ =
                        render::render(&report, Format::Json, &opts, &mut std::io::stderr().lock());
                }
                print_error(&e, Some(hint));
                return 2;
            }
        },
        None => Spec::default(),
    };
    if cli.fingerprint {
        return fingerprint_stdin(&env, spec_path.as_ref().map(|_| &loaded));
    }
    let spec = effective(loaded, &cli.require, &cli.secret, &env);
    let nothing = spec.env.is_empty()
        && spec.secrets.is_empty()
        && spec.postgres.is_none()
        && spec.s3.is_none();
    if nothing {
        eprintln!("error: nothing to check\n  hint: pass `--spec FILE`, `--require VAR` or `--secret VAR`, or set `DATABASE_URL` / `S3_BUCKET_NAME`");
        return 2;
    }
    let timeout = cli.timeout.or(spec.timeout).unwrap_or(DEFAULT_TIMEOUT);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            print_error(&e, None);
            return 2;
        }
    };
    let report = rt.block_on(run(&spec, &env, timeout));
    // A DNS lookup stuck in a blocking thread must not delay the exec or the exit.
    rt.shutdown_background();
    let format = match cli.format {
        OutFormat::Human => Format::Human,
        OutFormat::Json => Format::Json,
    };
    let opts = Options {
        color: stderr_color(),
        annotation_file: None,
    };
    let _ = render::render(&report, format, &opts, &mut std::io::stderr().lock());
    let code = report.exit_code(false);
    let go = code == 0 || cli.warn_only;
    if cli.check_only || cli.command.is_empty() || !go {
        return code;
    }
    if matches!(cli.format, OutFormat::Human) {
        // Only the program: arguments may carry values that must not reach logs.
        eprintln!("preflight: starting `{}`", cli.command[0]);
    }
    let (code, err) = exec::exec(&cli.command);
    print_error(
        &err,
        Some(&format!(
            "cannot start `{}`: check COMMAND (after `--`) and the image's PATH",
            cli.command[0]
        )),
    );
    code
}
