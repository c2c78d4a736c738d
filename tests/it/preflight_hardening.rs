//! preflight under hostile conditions: stop signals while it is PID 1, deadlines
//! out of range, spec paths that are not files, and the JSON output contract on
//! every path (usage, spec, nothing to check, exec failures, `--warn-only`).

use crate::canary::preflight_env;
use crate::support::{json_lines, Run};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn pf(args: &[&str], env: &[(&str, &str)]) -> Run {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    preflight_env(&strings(args), &env)
}

/// Every stderr line is JSON, and the last is the summary whose `exit_code` is the
/// process's exit status. Returns the finding codes in order.
fn assert_json_contract(run: &Run, what: &str) -> Vec<String> {
    let lines = json_lines(&run.stderr);
    let last = lines
        .last()
        .unwrap_or_else(|| panic!("{what}: no output on stderr"));
    assert_eq!(last["type"], "summary", "{what}: {}", run.stderr);
    assert_eq!(
        last["exit_code"].as_i64(),
        Some(run.code as i64),
        "{what}: the summary's exit_code is not the exit status\n{}",
        run.stderr
    );
    lines
        .iter()
        .filter(|l| l["type"] == "check")
        .flat_map(|l| l["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| f["code"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn json_output_contract_holds_on_every_path() {
    let dir = TempDir::new().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; 2 * 1024 * 1024]).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[preflight]\ntimeout = \"0s\"\n").unwrap();
    let noexec = dir.path().join("server");
    std::fs::write(&noexec, "#!/bin/sh\necho started\n").unwrap();
    let (big, bad, noexec, d) = (
        big.display().to_string(),
        bad.display().to_string(),
        noexec.display().to_string(),
        dir.path().display().to_string(),
    );
    // (args after `--format json`, env, exit status, a finding code it must report)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, i32, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["--bogus"], vec![], 2, "usage-invalid"),
        (
            vec!["--timeout", "0s", "--require", "X"],
            vec![],
            2,
            "usage-invalid",
        ),
        (
            vec!["--timeout", "500000000000y", "--require", "X"],
            vec![],
            2,
            "usage-invalid",
        ),
        (
            vec!["--timeout", "10y", "--require", "X"],
            vec![],
            2,
            "usage-invalid",
        ),
        (vec!["--require", "X:uuid"], vec![], 2, "usage-invalid"),
        (vec!["node", "server.js"], vec![], 2, "usage-invalid"),
        (vec![], vec![], 2, "nothing-to-check"),
        (vec!["--fingerprint"], vec![], 2, "usage-invalid"),
        (vec!["--spec", &bad], vec![], 2, "spec-invalid"),
        (vec!["--spec", &big], vec![], 2, "spec-invalid"),
        (vec!["--spec", &d], vec![], 2, "spec-invalid"),
        (vec!["--spec", "/dev/zero"], vec![], 2, "spec-invalid"),
        (vec!["--require", "X"], vec![], 1, "env-missing"),
        (
            vec!["--require", "X", "--", "/nonexistent/server"],
            vec![("X", "1")],
            127,
            "exec-failed",
        ),
        (
            vec!["--require", "X", "--", &noexec],
            vec![("X", "1")],
            126,
            "exec-failed",
        ),
        (
            vec!["--warn-only", "--require", "X", "--", "/nonexistent/server"],
            vec![],
            127,
            "exec-failed",
        ),
    ];
    for (args, env, code, expect) in cases {
        let mut a = vec!["--format", "json"];
        a.extend(&args);
        let run = pf(&a, &env);
        let what = format!("{args:?}");
        assert_eq!(run.code, code, "{what}: {}", run.stderr);
        let codes = assert_json_contract(&run, &what);
        assert!(codes.iter().any(|c| c == expect), "{what}: {codes:?}");
        assert!(run.stdout.is_empty(), "{what}: stdout is the server's");
        // The same path in human form: no JSON, the same exit status.
        let mut h = vec!["--format", "human"];
        h.extend(&args);
        if args.first() == Some(&"--bogus") || args.first() == Some(&"node") {
            h = args.clone();
        }
        let human = pf(&h, &env);
        assert_eq!(human.code, code, "{what} (human): {}", human.stderr);
        assert!(
            !human.stderr.contains("{\""),
            "{what} (human): {}",
            human.stderr
        );
    }
}

#[test]
fn spec_error_is_reported_once_in_json() {
    let dir = TempDir::new().unwrap();
    let p = dir.path().join("spec.toml");
    std::fs::write(
        &p,
        "[preflight]\n[[preflight.env]]\nname = \"X\"\nkind = \"uuid\"\n",
    )
    .unwrap();
    let run = pf(&["--format", "json", "--spec", p.to_str().unwrap()], &[]);
    let codes = assert_json_contract(&run, "spec");
    assert_eq!(codes, ["spec-invalid"]);
    assert!(run.stderr.contains("spec.toml:4:"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("error:"),
        "printed again as text: {}",
        run.stderr
    );
}

#[test]
fn warn_only_never_blocks_the_start_and_an_exec_summary_claims_no_exit_code() {
    let dir = TempDir::new().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[preflight]\ntimeout = \"soon\"\n").unwrap();
    let bad = bad.display().to_string();
    // Nothing to check, a broken spec, a failing probe: each still starts the server.
    // (args, what preflight alone would have exited with)
    for (args, verdict) in [
        (vec![], 2),
        (vec!["--spec", bad.as_str()], 2),
        (vec!["--require", "UNSET"], 1),
    ] {
        for format in ["human", "json"] {
            let mut a = vec!["--format", format, "--warn-only"];
            a.extend(&args);
            a.extend(["--", "sh", "-c", "echo started; exit 7"]);
            let run = pf(&a, &[]);
            assert_eq!(
                (run.code, run.stdout.trim()),
                (7, "started"),
                "{args:?} {format}: {}",
                run.stderr
            );
            if format == "json" {
                // The summary is written before the exec: it cannot claim the
                // server's status (7 here), so it says it execs, and its verdict.
                let lines = json_lines(&run.stderr);
                let last = lines.last().expect("a summary");
                assert_eq!(last["type"], "summary", "{args:?}: {}", run.stderr);
                assert!(last["exit_code"].is_null(), "{args:?}: {}", run.stderr);
                assert_eq!(last["outcome"], "exec", "{args:?}: {}", run.stderr);
                assert_eq!(last["exec"], "sh", "{args:?}: {}", run.stderr);
                assert_eq!(last["verdict"], verdict, "{args:?}: {}", run.stderr);
            }
        }
    }
    // A passing run that execs says the same: the server's status is unknown.
    let run = pf(
        &[
            "--format",
            "json",
            "--require",
            "X",
            "--",
            "sh",
            "-c",
            "exit 5",
        ],
        &[("X", "1")],
    );
    assert_eq!(run.code, 5, "{}", run.stderr);
    let lines = json_lines(&run.stderr);
    let last = lines.last().expect("a summary");
    assert!(
        last["exit_code"].is_null() && last["verdict"] == 0,
        "{}",
        run.stderr
    );
    // --check-only still never starts it.
    let run = pf(
        &[
            "--warn-only",
            "--check-only",
            "--",
            "sh",
            "-c",
            "echo started",
        ],
        &[],
    );
    assert_eq!((run.code, run.stdout.as_str()), (2, ""));
}

#[test]
fn spec_fifo_is_refused_without_hanging() {
    let dir = TempDir::new().unwrap();
    let fifo = dir.path().join("spec.toml");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_preflight"))
        .args(["--format", "json", "--spec", fifo.to_str().unwrap()])
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_at_most(&mut child, Duration::from_secs(20), "a FIFO spec");
    let err = stderr_of(&mut child);
    assert_eq!(status, Some(2), "{err}");
    assert!(err.contains("is a FIFO, not a regular file"), "{err}");
}

#[test]
fn env_probe_summary_agrees_with_its_findings() {
    let run = pf(
        &[
            "--format",
            "json",
            "--require",
            "PORT:port",
            "--require",
            "HOST",
        ],
        &[("PORT", "http"), ("HOST", "h")],
    );
    let check = json_lines(&run.stderr)
        .into_iter()
        .find(|l| l["name"] == "env")
        .unwrap();
    assert_eq!(check["findings"].as_array().unwrap().len(), 1);
    assert_eq!(check["detail"], "1 of 2 variables set and well formed");
}

/// Waits for `child` up to `limit` (this bounds a hang, it does not time anything);
/// kills it and fails the test beyond that.
/// The LD_PRELOAD shim (`tests/it/support/hang_open.c`) built in `dir`: `open`
/// of any path holding `hang-forever` never returns.
fn hang_shim(dir: &std::path::Path) -> std::path::PathBuf {
    let shim = dir.join("hang_open.so");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/support/hang_open.c");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&shim)
        .arg(src)
        .arg("-ldl")
        .status()
        .expect("a C compiler (`cc`) builds the test's LD_PRELOAD shim");
    assert!(built.success());
    shim
}

/// SIGTERM to a preflight stuck in the kernel half a second after it started:
/// its exit status and stderr (a hang fails the test after 20 s).
fn terminated(mut child: std::process::Child) -> (Option<i32>, String) {
    std::thread::sleep(Duration::from_millis(500));
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let code = wait_at_most(&mut child, Duration::from_secs(20), "a stuck run, SIGTERM");
    (code, stderr_of(&mut child))
}

/// All a finished child wrote on stderr.
fn stderr_of(child: &mut std::process::Child) -> String {
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    err
}

fn wait_at_most(child: &mut std::process::Child, limit: Duration, what: &str) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The children of `pid` (Linux `/proc/PID/task/PID/children`).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[test]
fn stop_signals_end_the_probes_as_pid1_and_never_start_the_server() {
    // (signal, format): every stop signal, both formats between them.
    for (sig, num, format) in [
        ("TERM", 15, "json"),
        ("INT", 2, "human"),
        ("QUIT", 3, "json"),
        ("TERM", 15, "human"),
    ] {
        let dir = TempDir::new().unwrap();
        let marker = dir.path().join("started");
        // A socket that accepts and never answers: the probe waits for its deadline.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let conn = silent.accept().map(|c| c.0);
            let _ = tx.send(());
            // Held until the test drops the receiver side of the story (the run ends).
            std::thread::sleep(Duration::from_secs(25));
            drop(conn);
        });
        let url = format!("postgresql://app:pw@127.0.0.1:{port}/app?sslmode=disable");
        let script = format!("touch {}", marker.display());
        let mut child = Command::new("unshare")
            .args(["--pid", "--fork", "--"])
            .arg(env!("CARGO_BIN_EXE_preflight"))
            .args([
                "--format",
                format,
                "--timeout",
                "60s",
                "--",
                "sh",
                "-c",
                &script,
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare runs (the test needs root)");
        rx.recv_timeout(Duration::from_secs(20))
            .expect("the probe connected to the silent socket");
        let inner = children(child.id());
        assert_eq!(inner.len(), 1, "unshare's one child is preflight as PID 1");
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(inner[0].to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        // Well before the probe's 60s deadline; only a hang fails this.
        let code = wait_at_most(&mut child, Duration::from_secs(20), sig);
        let err = stderr_of(&mut child);
        assert_eq!(code, Some(128 + num), "SIG{sig}: {err}");
        assert!(!marker.exists(), "SIG{sig}: the server started");
        if format == "json" {
            let run = Run {
                code: 128 + num,
                stdout: String::new(),
                stderr: err.clone(),
            };
            assert_eq!(assert_json_contract(&run, sig), ["stopped-by-signal"]);
        } else {
            assert_eq!(err.lines().count(), 1, "one line: {err}");
        }
        assert!(err.contains(&format!("SIG{sig}")), "{err}");
        drop(holder);
    }
}

/// preflight's deadlines are timers on its async runtime; a probe stuck in the
/// kernel (here `open` of the root certificate never returns, as on a hung mount;
/// before, `SSL_CERT_FILE` naming a FIFO did it for real) held the start past
/// every deadline and past SIGTERM. The watchdog thread ends the run: a
/// `probe-timeout` report (exit 2, or the server under `--warn-only`), or the
/// stop signal's exit.
#[test]
fn a_probe_stuck_in_the_kernel_cannot_hold_the_start() {
    let dir = TempDir::new().unwrap();
    let shim = hang_shim(dir.path());
    let root = dir.path().join("hang-forever.pem");
    std::fs::write(&root, "not read: open never returns\n").unwrap();
    let url = format!(
        "postgresql://app:pw@127.0.0.1:1/app?sslmode=verify-full&sslrootcert={}",
        root.display()
    );
    let marker = dir.path().join("started");
    let start = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("LD_PRELOAD", &shim)
            .env("DATABASE_URL", &url)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let touch = format!("touch {}", marker.display());
    // The deadline: the watchdog reports (its limit is the timeout plus 2 s).
    let mut child = start(&[
        "--format",
        "json",
        "--timeout",
        "1s",
        "--",
        "sh",
        "-c",
        &touch,
    ]);
    let code = wait_at_most(&mut child, Duration::from_secs(30), "stuck probe");
    let err = stderr_of(&mut child);
    assert_eq!(code, Some(2), "{err}");
    let run = Run {
        code: 2,
        stdout: String::new(),
        stderr: err.clone(),
    };
    assert_eq!(assert_json_contract(&run, "stuck probe"), ["probe-timeout"]);
    assert!(err.contains("stuck in a system call"), "{err}");
    assert!(!marker.exists(), "the server started");
    // `--warn-only` starts the server all the same.
    let mut child = start(&["--warn-only", "--timeout", "1s", "--", "sh", "-c", &touch]);
    let code = wait_at_most(
        &mut child,
        Duration::from_secs(30),
        "stuck probe, --warn-only",
    );
    let err = stderr_of(&mut child);
    assert_eq!(code, Some(0), "{err}");
    assert!(marker.exists(), "the server did not start: {err}");
    std::fs::remove_file(&marker).unwrap();
    // A stop signal: its exit, well before the 60 s deadline.
    let (code, err) = terminated(start(&["--timeout", "60s", "--", "sh", "-c", &touch]));
    assert_eq!(code, Some(143), "{err}");
    assert!(err.contains("SIGTERM"), "{err}");
    assert!(!marker.exists(), "the server started");
}

/// A name listed twice in `environ` (a launcher that builds it by hand; Rust's
/// `Command` and Python's `os.execve` cannot) is judged by its first value,
/// the one the server's `getenv` and `process.env` read: preflight used to judge
/// the last one, so `PORT=notaport PORT=8080` passed and the server got `notaport`.
#[test]
fn a_name_listed_twice_in_the_environment_is_judged_by_the_value_the_server_reads() {
    let launch = r#"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
prog, rest = sys.argv[1], sys.argv[2:]
split = rest.index("--")
args, env = rest[:split], rest[split + 1:]
def arr(items):
    a = (ctypes.c_char_p * (len(items) + 1))()
    for i, x in enumerate(items):
        a[i] = x.encode()
    a[len(items)] = None
    return a
libc.execve(prog.encode(), arr([prog] + args), arr(env))
sys.exit("execve failed: %d" % ctypes.get_errno())
"#;
    for (env, code) in [
        (["PORT=notaport", "PORT=8080"], 1),
        (["PORT=8080", "PORT=notaport"], 0),
    ] {
        let out = Command::new("python3")
            .args(["-c", launch, env!("CARGO_BIN_EXE_preflight")])
            .args([
                "--require",
                "PORT:port",
                "--check-only",
                "--format",
                "json",
                "--",
            ])
            .args(env)
            .output()
            .expect("python3 runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{env:?}: {err}");
    }
}

/// COMMAND's arguments are bytes, passed on as given: one that is not UTF-8 was a
/// usage error (exit 2) that `--warn-only` did not get past. And COMMAND is
/// started with `execve`, as Docker and runc start it: a file without `#!` is
/// refused (126) by this glibc build too, not run through `/bin/sh` by glibc's
/// `execvp`, which the static build (musl) never did.
#[test]
fn command_arguments_are_bytes_and_a_file_without_an_interpreter_line_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new().unwrap();
    let out_file = dir.path().join("out");
    let arg = std::ffi::OsStr::from_bytes(b"caf\xe9");
    for warn in [false, true] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_preflight"));
        if warn {
            c.arg("--warn-only");
        }
        let out = c
            .args([
                "--require",
                "X",
                "--",
                "sh",
                "-c",
                "printf %s \"$1\" > \"$2\"",
                "sh",
            ])
            .arg(arg)
            .arg(&out_file)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("X", "1")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&out_file).unwrap(), b"caf\xe9");
        std::fs::remove_file(&out_file).unwrap();
    }
    let script = dir.path().join("server");
    std::fs::write(&script, format!("touch {}\n", out_file.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let start = |script: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args(["--require", "X", "--format", "json", "--"])
            .arg(script)
            .env_clear()
            .env("X", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    let (code, err) = start(&script);
    assert_eq!(code, Some(126), "{err}");
    assert!(err.contains("\"exec-failed\""), "{err}");
    assert!(err.contains("not a format the kernel runs"), "{err}");
    assert!(!out_file.exists(), "the file ran through a shell");
    // A file that is there, naming an interpreter that is not: said as such,
    // not "no such file" (hostile round 2, L1).
    std::fs::write(&script, "#!/nonexistent/interpreter\n").unwrap();
    let (code, err) = start(&script);
    assert_eq!(code, Some(127), "{err}");
    assert!(err.contains("the interpreter its `#!` line names"), "{err}");
}

/// Hostile round 2, H2: the spec was read before the watchdog and the stop
/// handlers were in place, so a spec on a hung mount held the start forever and
/// SIGTERM (to PID 1) was lost.
#[test]
fn a_spec_that_never_finishes_opening_cannot_hold_the_start() {
    let dir = TempDir::new().unwrap();
    let shim = hang_shim(dir.path());
    let spec = dir.path().join("hang-forever.toml");
    std::fs::write(&spec, "[preflight]\n[[preflight.env]]\nname = \"X\"\n").unwrap();
    let start = |timeout: &str| {
        Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args(["--format", "json", "--timeout", timeout, "--spec"])
            .arg(&spec)
            .args(["--", "true"])
            .env_clear()
            .env("LD_PRELOAD", &shim)
            .env("X", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = start("1s");
    let code = wait_at_most(&mut child, Duration::from_secs(30), "stuck spec");
    let err = stderr_of(&mut child);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("probe-timeout") && err.contains("reading its spec"),
        "{err}"
    );
    let (code, err) = terminated(start("60s"));
    assert_eq!(code, Some(143), "{err}");
}

/// Hostile round 2, H1: `eprintln!` panics when stderr cannot be written (a pipe
/// nobody reads, `/dev/full`), which aborted preflight before the exec: the
/// server never started, `--warn-only` or not.
#[test]
fn a_stderr_that_cannot_be_written_does_not_stop_the_start() {
    let dir = TempDir::new().unwrap();
    let marker = dir.path().join("started");
    let touch = format!("touch {}", marker.display());
    for args in [
        vec!["--require", "X", "--", "sh", "-c", &touch],
        vec![
            "--warn-only",
            "--require",
            "MISSING",
            "--",
            "sh",
            "-c",
            &touch,
        ],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let status = Command::new(env!("CARGO_BIN_EXE_preflight"))
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("X", "1")
            .stderr(Stdio::from(full))
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}");
        assert!(marker.exists(), "{args:?}: the server did not start");
        std::fs::remove_file(&marker).unwrap();
    }
}
