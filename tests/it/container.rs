//! The shipped container end to end: the top-level `Dockerfile`'s `shipcheck`
//! stage (static musl binaries, `FROM scratch`) and `examples/node-app/Dockerfile`
//! built with buildah, checked by our own image-check, and started with
//! `buildah run` against a TLS PostgreSQL and moto S3 on the host's loopback:
//! the server starts, as preflight's own process, only when all is well.
//!
//! What `buildah run --isolation chroot` gives a container here (checked once by
//! hand, relied on below): the host's network and PID namespaces (the PID the
//! app reports is a host PID), an `/etc/hosts` naming `localhost` as 127.0.0.1,
//! the image's `USER`, `WORKDIR` and `Env`, and no PATH lookup of argv[0] (the
//! image's ENTRYPOINT is absolute). buildah adds `subprocess exited with status
//! N` / `Error: exit status N` to stderr when the command fails.

use crate::support::container::{
    app_image, buildah, shipcheck_image, static_bins, wait_for_line, Container,
};
use crate::support::image::findings;
use crate::support::moto::Moto;
use crate::support::pg::{free_port, now, Ca, Cluster, Tls, HBA_SSL_ONLY, PASSWORD};
use crate::support::{image_check, json_lines, project_root, Run};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// How long a start may take before the test gives up waiting (a bound against
/// hanging, not an assertion about speed).
const START_LIMIT: Duration = Duration::from_secs(120);
const BUNDLE: &str = "/etc/ssl/certs/rds-global-bundle.pem";
const BUCKET: &str = "node-app-uploads";

/// The CA standing in for Amazon RDS's: the app image ships it as its RDS
/// bundle, and each test's PostgreSQL serves a certificate it issued.
fn test_ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| Ca::new("shipcheck test CA"))
}

fn app() -> &'static (String, PathBuf) {
    static APP: OnceLock<(String, PathBuf)> = OnceLock::new();
    APP.get_or_init(|| {
        let tag = "localhost/node-app:test".to_string();
        let archive = app_image(&tag, &test_ca().cert.to_pem().unwrap());
        (tag, archive)
    })
}

/// ENTRYPOINT + CMD of `image`, as a runtime joins them; `extra` goes after
/// preflight's own name (its flags, before `--`).
fn start_argv(image: &str, extra: &[&str]) -> Vec<String> {
    let cfg = buildah().config(image);
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut argv = strings(&cfg["Entrypoint"]);
    argv.splice(1..1, extra.iter().map(|s| s.to_string()));
    argv.extend(strings(&cfg["Cmd"]));
    argv
}

/// Error and warning findings of an image-check `--format json` run (notes,
/// such as no web root in an API image, are not problems).
fn problems(stdout: &str) -> Vec<(String, String, String)> {
    findings(&json_lines(stdout))
        .into_iter()
        .filter(|(_, sev, _)| sev != "note")
        .collect()
}

/// preflight's stderr without the lines buildah appends when the command fails.
fn own_stderr(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| {
            !(l.starts_with("subprocess exited with status ")
                || l.starts_with("Error: exit status "))
        })
        .collect()
}

fn codes_of(lines: &[&str]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))
        })
        .filter(|l| l["type"] == "check")
        .flat_map(|l| l["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The peers a container start needs: PostgreSQL with a certificate from the
/// test CA for `localhost` and 127.0.0.1, and moto with the app's bucket.
struct Peers {
    pg: Cluster,
    moto: Moto,
}

fn peers() -> Peers {
    let (cert, key) = test_ca().server(&["localhost"], true, now() - 3600, now() + 86400);
    let pg = Cluster::start(Tls::On { cert, key }, HBA_SSL_ONLY);
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    Peers { pg, moto }
}

impl Peers {
    /// Everything the app's spec asks for, all of it right; `url_query` ends the
    /// DATABASE_URL.
    fn env(&self, port: u16, url_query: &str) -> Vec<(&'static str, String)> {
        vec![
            ("PORT", port.to_string()),
            // The host's network: listen on loopback only.
            ("HOST", "127.0.0.1".into()),
            ("AWS_REGION", "eu-west-1".into()),
            ("S3_BUCKET_NAME", BUCKET.into()),
            (
                "DATABASE_URL",
                format!(
                    "postgresql://app:{PASSWORD}@localhost:{}/app{url_query}",
                    self.pg.port
                ),
            ),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".into()),
            ("AWS_SECRET_ACCESS_KEY", "CANARY-container-aws-3e9a".into()),
            ("AWS_ENDPOINT_URL", self.moto.endpoint()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}

fn pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A GET on loopback: (status, body).
fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

fn exe(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// The PID in the server's first line (`listening on HOST:PORT pid=N`).
fn pid_in(line: &str) -> Option<u32> {
    line.split("pid=").nth(1)?.trim().parse().ok()
}

/// Kills a server the test started if an assertion fails before it stops it.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if std::path::Path::new(&format!("/proc/{}", self.0)).exists() {
            unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
        }
    }
}

fn ppid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Starts `argv` in a container of `image` and reads stdout until the server's
/// first line; when it never comes, returns the finished run instead.
fn start(
    ctr: &Container<'_>,
    argv: &[String],
    env: &[(&str, &str)],
) -> Result<(std::process::Child, String), Run> {
    let mut child = ctr.spawn(argv, env, &[]);
    let (line, seen) = wait_for_line(&mut child, "listening on", START_LIMIT);
    match line {
        Some(l) => Ok((child, l)),
        None => {
            let _ = child.kill();
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            let status = child.wait().unwrap();
            Err(Run {
                code: status.code().unwrap_or(-1),
                stdout: seen.join("\n"),
                stderr,
            })
        }
    }
}

#[test]
fn shipcheck_image_passes_its_own_spec_checked_from_inside_it() {
    let ship = shipcheck_image();
    let spec = project_root().join("images/shipcheck.toml");
    let archive = format!("oci-archive:{}", ship.archive.display());
    let run = image_check(
        &[
            "--format",
            "json",
            "--spec",
            spec.to_str().unwrap(),
            &archive,
        ],
        project_root(),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(problems(&run.stdout), vec![]);

    // The image's own image-check, static in `scratch` (no libc, no /etc/passwd,
    // no /tmp, no HOME), checks the same archive against the same spec.
    let ctr = buildah().from(ship.tag);
    let inside = ctr.run(
        &start_argv(
            ship.tag,
            &[
                "--format",
                "json",
                "--spec",
                "/in/shipcheck.toml",
                "oci-archive:/in/shipcheck.tar",
            ],
        ),
        &[],
        &[
            (ship.archive.as_path(), "/in/shipcheck.tar"),
            (spec.as_path(), "/in/shipcheck.toml"),
        ],
    );
    assert_eq!(inside.code, 0, "{}{}", inside.stdout, inside.stderr);
    assert_eq!(problems(&inside.stdout), vec![]);
    // Both readings agree on every check.
    let verdicts = |out: &str| -> Vec<(String, String)> {
        json_lines(out)
            .iter()
            .filter(|l| l["type"] == "check")
            .map(|l| (l["name"].to_string(), l["status"].to_string()))
            .collect()
    };
    assert_eq!(verdicts(&inside.stdout), verdicts(&run.stdout));

    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as f64 / (1 << 20) as f64;
    let bins = static_bins();
    eprintln!(
        "container: shipcheck image built and exported in {:.1}s; archive {:.1} MiB; {} binaries: image-check {:.1} MiB, preflight {:.1} MiB",
        ship.build_secs,
        size(&ship.archive),
        crate::support::container::PROFILE,
        size(&bins.image_check),
        size(&bins.preflight)
    );
}

#[test]
fn app_image_passes_its_spec_and_a_dynamic_binary_fails_the_static_rule() {
    let (_, archive) = app();
    let archive = format!("oci-archive:{}", archive.display());
    let spec = project_root().join("examples/node-app/shipcheck.toml");
    let run = image_check(
        &[
            "--format",
            "json",
            "--spec",
            spec.to_str().unwrap(),
            &archive,
        ],
        project_root(),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let lines = json_lines(&run.stdout);
    assert_eq!(problems(&run.stdout), vec![]);
    // The imports check ran on the real bundle and node_modules.
    let node = lines
        .iter()
        .find(|l| l["type"] == "check" && l["name"] == "node")
        .unwrap_or_else(|| panic!("no node check: {}", run.stdout));
    assert_eq!(node["status"], "passed", "{node}");

    // The base's `sh` needs glibc's loader: the static rule says so. (Its `node`,
    // 94 MiB, is over what image-check reads: that finding says not checked.)
    let dir = tempfile::tempdir().unwrap();
    let strict = dir.path().join("strict.toml");
    std::fs::write(
        &strict,
        "[[file]]\npath = \"/bin/sh\"\nstatic = true\n\n[[file]]\npath = \"/usr/local/bin/preflight\"\nstatic = true\n",
    )
    .unwrap();
    let run = image_check(
        &[
            "--format",
            "json",
            "--spec",
            strict.to_str().unwrap(),
            &archive,
        ],
        project_root(),
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let lines = json_lines(&run.stdout);
    let f: Vec<_> = lines
        .iter()
        .filter(|l| l["type"] == "check")
        .flat_map(|l| l["findings"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["code"] == "file-not-static")
        .collect();
    assert_eq!(f.len(), 1, "{}", run.stdout);
    assert_eq!(f[0]["subject"], "/bin/sh");
    assert!(
        f[0]["message"]
            .as_str()
            .unwrap()
            .contains("`/lib64/ld-linux-x86-64.so.2`"),
        "{}",
        f[0]
    );
}

#[test]
fn the_server_starts_through_preflight_only_when_all_is_well() {
    let (image, _) = app();
    let p = peers();
    let verify = format!("?sslmode=verify-full&sslrootcert={BUNDLE}");

    // Everything right: preflight passes, execs node, and the health route
    // answers 200 from the process preflight was.
    let port = free_port();
    let env = p.env(port, &verify);
    let ctr = buildah().from(image);
    let (child, line) = match start(&ctr, &start_argv(image, &[]), &pairs(&env)) {
        Ok(started) => started,
        Err(run) => panic!("the server did not start: {}\n{}", run.stdout, run.stderr),
    };
    let first = pid_in(&line).unwrap_or_else(|| panic!("no pid in `{line}`"));
    let guard = KillOnDrop(first);
    let (status, body) = get(port, "/api/health");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["checks"]["postgres"]["status"], "up", "{body}");
    assert_eq!(health["checks"]["s3"]["status"], "up", "{body}");
    let pid = health["pid"].as_u64().unwrap() as u32;
    assert_eq!(pid, first, "{line}");
    // Same PID: the process buildah's runner started as `/usr/local/bin/preflight`
    // is now node. Had preflight spawned node, preflight would be its parent.
    assert!(exe(pid).ends_with("/usr/local/bin/node"), "{}", exe(pid));
    let parent = ppid(pid);
    let parent_cmd = cmdline(parent);
    assert!(
        exe(parent).contains("buildah") && parent_cmd.contains("/usr/local/bin/preflight -- node"),
        "node's parent is `{}` (`{parent_cmd}`)",
        exe(parent)
    );
    // SIGTERM reaches the server itself, which closes and exits 0.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    std::mem::forget(guard);
    assert_eq!(out.status.code(), Some(0));
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(report.contains("ok    postgres"), "{report}");
    assert!(report.contains("ok    s3"), "{report}");
    drop(ctr);

    // S3_BUCKET_NAME unset: the report names it first, node never starts.
    let port = free_port();
    let env: Vec<_> = p
        .env(port, &verify)
        .into_iter()
        .filter(|(k, _)| *k != "S3_BUCKET_NAME")
        .collect();
    let ctr = buildah().from(image);
    let run = match start(&ctr, &start_argv(image, &[]), &pairs(&env)) {
        Ok((mut child, line)) => {
            let _stop = pid_in(&line).map(KillOnDrop);
            let _ = child.kill();
            panic!("the server started without S3_BUCKET_NAME: {line}")
        }
        Err(run) => run,
    };
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "node printed: {}", run.stdout);
    // The first finding the report prints, within its first lines (after the
    // title and the spec note), is the unset variable.
    let lines = own_stderr(&run);
    let first = lines.iter().position(|l| l.contains("error["));
    assert!(
        first.is_some_and(|i| i < 5 && lines[i].contains("error[env-missing] S3_BUCKET_NAME")),
        "{}",
        run.stderr
    );

    // The same with --format json: every line preflight writes parses.
    let run = ctr.run(&start_argv(image, &["--format", "json"]), &pairs(&env), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines = own_stderr(&run);
    let codes = codes_of(&lines);
    assert!(
        codes
            .iter()
            .any(|(c, m)| c == "env-missing" && m.contains("S3_BUCKET_NAME")),
        "{codes:?}"
    );
    let summary: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(summary["exit_code"], 1, "{summary}");
    drop(ctr);

    // The RDS bundle missing from the image: the URL's sslrootcert names a
    // file that is not there.
    let bare = "localhost/node-app:no-rds-bundle";
    buildah().without(image, &[BUNDLE], bare);
    let ctr = buildah().from(bare);
    let run = ctr.run(
        &start_argv(bare, &["--format", "json"]),
        &pairs(&p.env(free_port(), &verify)),
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let codes = codes_of(&own_stderr(&run));
    assert!(
        codes.iter().any(|(c, m)| c == "tls-unknown-ca"
            && m.contains(BUNDLE)
            && m.contains("does not exist")),
        "{codes:?}"
    );
    assert!(run.stdout.is_empty(), "node printed: {}", run.stdout);
    // Without sslrootcert, NODE_ENV=production verifies against the system's
    // store (Node's default), which this image lacks: the finding names the
    // issuer nobody trusts.
    let run = ctr.run(
        &start_argv(bare, &["--format", "json"]),
        &pairs(&p.env(free_port(), "")),
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let codes = codes_of(&own_stderr(&run));
    assert!(
        codes
            .iter()
            .any(|(c, m)| c == "tls-unknown-ca" && m.contains("`shipcheck test CA`")),
        "{codes:?}"
    );
}

#[test]
fn static_binaries_run_in_scratch_and_name_a_missing_ca_store() {
    let ship = shipcheck_image();
    let p = peers();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, test_ca().cert.to_pem().unwrap()).unwrap();
    let ctr = buildah().from(ship.tag);
    let preflight = |extra: &[&str]| -> Vec<String> {
        std::iter::once("/usr/local/bin/preflight")
            .chain(extra.iter().copied())
            .map(String::from)
            .collect()
    };
    // PostgreSQL by name (`localhost`, from the /etc/hosts buildah provides) and by
    // address, over TLS, and S3: all from a static binary in an empty image.
    for host in ["localhost", "127.0.0.1"] {
        let url = format!(
            "postgresql://app:{PASSWORD}@{host}:{}/app?sslmode=verify-full&sslrootcert=/in/ca.pem",
            p.pg.port
        );
        let env = [
            ("DATABASE_URL", url.as_str()),
            ("S3_BUCKET_NAME", BUCKET),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "CANARY-container-aws-3e9a"),
            ("AWS_ENDPOINT_URL", &p.moto.endpoint()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        let run = ctr.run(
            &preflight(&["--check-only", "--format", "json"]),
            &env,
            &[(ca.as_path(), "/in/ca.pem")],
        );
        assert_eq!(run.code, 0, "{host}: {}", run.stderr);
        assert_eq!(codes_of(&own_stderr(&run)), vec![], "{host}");
    }

    // `sslrootcert=system` reads the image's own store, as libpq on Debian reads
    // `/etc/ssl/certs` (here the test CA stands in for the distribution's
    // bundle). The static binary's vendored OpenSSL alone would look in
    // `/usr/local/ssl`, find nothing, and call the server untrusted.
    let url = format!(
        "postgresql://app:{PASSWORD}@localhost:{}/app?sslmode=verify-full&sslrootcert=system",
        p.pg.port
    );
    let run = ctr.run(
        &preflight(&["--check-only", "--format", "json"]),
        &[("DATABASE_URL", url.as_str())],
        &[(ca.as_path(), "/etc/ssl/certs/ca-certificates.crt")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(codes_of(&own_stderr(&run)), vec![]);

    // No CA certificates in the image: S3 over TLS cannot be verified, and
    // preflight says so before reaching for the network.
    let bare = "localhost/shipcheck:no-ca";
    buildah().without(ship.tag, &["/etc/ssl/certs/ca-certificates.crt"], bare);
    let ctr = buildah().from(bare);
    let run = ctr.run(
        &preflight(&["--check-only", "--format", "json"]),
        &[
            ("S3_BUCKET_NAME", BUCKET),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "CANARY-container-aws-3e9a"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let codes = codes_of(&own_stderr(&run));
    assert_eq!(
        codes.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["no-ca-certificates"],
        "{codes:?}"
    );
}
