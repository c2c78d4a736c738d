//! The shipped container, built for real without a daemon: static binaries for
//! the musl target, the top-level `Dockerfile`'s `shipcheck` stage from them (its
//! `prebuilt` path), a Node base made from the host's own `node`, and
//! `examples/node-app/Dockerfile` on top, all with `buildah bud` (vfs storage,
//! chroot isolation), then started with `buildah run` on the host's loopback.
//!
//! Nothing is pulled: every base is `scratch` or an image built here, named
//! `localhost/…`, and builds run with `--pull=never`, so a typo cannot reach a
//! registry. buildah's storage lives under Cargo's target directory, one
//! directory per test process, removed when the process exits (and a dead
//! process's on the next run), never the machine's default storage.
//!
//! The static binaries are built by this module (`cargo build --release
//! --target x86_64-unknown-linux-musl --features vendored-openssl`, the
//! Dockerfile's `build` stage outside Docker) into their own target directory,
//! `target/static-release`: the outer `cargo test` holds the lock on `target`,
//! and a cold build must not be a silent skip. The release profile, not a
//! cheaper one: these are the binaries users get, so the image the tests check
//! is the one that ships (a cheaper profile would save minutes of CI on a cold
//! cache, and test other binaries than users run). A missing prerequisite (buildah, the musl target, musl-gcc) fails with the
//! command that installs it.

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const TARGET: &str = "x86_64-unknown-linux-musl";
pub const PROFILE: &str = "release";

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`, wherever the target directory is.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .to_path_buf()
}

fn tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

fn run_ok(mut c: Command, what: &str) -> String {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct StaticBins {
    pub image_check: PathBuf,
    pub preflight: PathBuf,
}

/// The static musl binaries of this checkout, built (or found up to date) once
/// per test process. Cargo decides staleness, so an edit to `src/` rebuilds them.
pub fn static_bins() -> &'static StaticBins {
    static B: OnceLock<StaticBins> = OnceLock::new();
    B.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let libdir = Command::new("rustc")
            .args(["--print", "target-libdir", "--target", TARGET])
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        assert!(
            libdir.is_some_and(|d| d.join("self-contained").is_dir()),
            "the Rust standard library for `{TARGET}` is not installed: run `rustup target add {TARGET}` (`.ci/install` does)"
        );
        assert!(
            Command::new("musl-gcc").arg("--version").output().is_ok(),
            "`musl-gcc` is not installed (OpenSSL and ring compile C for the musl target): `apt-get install musl-tools` (`.ci/install` does)"
        );
        let dir = target_dir().join("static-release");
        let started = Instant::now();
        let mut c = Command::new(cargo);
        c.args(["build", "--locked", "--bins", "--release"])
            .args(["--target", TARGET, "--features", "vendored-openssl"])
            .arg("--manifest-path")
            .arg(super::project_root().join("Cargo.toml"))
            .env_remove("RUSTFLAGS")
            .env_remove("LD_LIBRARY_PATH");
        // `cargo test` gives this process CARGO_PKG_NAME, CARGO_MANIFEST_DIR and
        // the like; build scripts (ring's) ask to rerun when those change, so
        // with them the build would flip between this test's fingerprint and a
        // shell's and recompile most of the tree each time.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("CARGO_") && k != "CARGO_HOME" {
                c.env_remove(&*k);
            }
        }
        c.env("CARGO_TARGET_DIR", &dir)
            .stdout(Stdio::null());
        run_ok(c, "cargo build of the static binaries");
        eprintln!(
            "container: static binaries ready in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let out = dir.join(TARGET).join(PROFILE);
        StaticBins {
            image_check: out.join("image-check"),
            preflight: out.join("preflight"),
        }
    })
}

/// buildah with storage of this test process's own.
pub struct Buildah {
    root: PathBuf,
}

static STORAGE: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_storage() {
    if let Some(p) = STORAGE.get() {
        let _ = std::fs::remove_dir_all(p);
    }
}

pub fn buildah() -> &'static Buildah {
    static B: OnceLock<Buildah> = OnceLock::new();
    B.get_or_init(|| {
        assert!(
            Command::new("buildah").arg("--version").output().is_ok(),
            "buildah is not installed: `apt-get install buildah` (`.ci/install` does)"
        );
        assert!(
            super::pg::is_root(),
            "the container tests build with buildah's chroot isolation, which needs root"
        );
        let base = tmp().join("buildah");
        std::fs::create_dir_all(&base).unwrap();
        // A process that died (a killed test run) cannot remove its own storage.
        for e in std::fs::read_dir(&base).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Ok(pid) = name.parse::<u32>() {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let root = base.join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        STORAGE.set(root.clone()).unwrap();
        // SAFETY: registering a plain function with no captured state.
        unsafe { libc::atexit(remove_storage) };
        Buildah { root }
    })
}

impl Buildah {
    /// Build contexts and exported archives: inside this process's directory,
    /// so they go when it goes.
    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(self.root.join("root"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args(["--storage-driver", "vfs"])
            .env("BUILDAH_ISOLATION", "chroot")
            .stdin(Stdio::null());
        c
    }

    /// `buildah bud` of `dockerfile` in `ctx`, tagged `tag`.
    pub fn bud(&self, ctx: &Path, dockerfile: &Path, tag: &str, args: &[(&str, &str)]) {
        let mut c = self.cmd();
        c.args([
            "bud",
            "--isolation",
            "chroot",
            "--pull=never",
            "--network",
            "host",
        ])
        .arg("-f")
        .arg(dockerfile)
        .args(["-t", tag]);
        for (k, v) in args {
            c.args(["--build-arg", &format!("{k}={v}")]);
        }
        c.arg(ctx);
        run_ok(c, &format!("buildah bud {tag}"));
    }

    /// Writes `image` as an oci-archive at `dest`.
    pub fn export(&self, image: &str, dest: &Path) {
        let _ = std::fs::remove_file(dest);
        let mut c = self.cmd();
        c.args(["push", image])
            .arg(format!("oci-archive:{}", dest.display()));
        run_ok(c, &format!("buildah push {image}"));
    }

    /// The image's OCI config (`Entrypoint`, `Cmd`, `Env`, `User`, …).
    pub fn config(&self, image: &str) -> serde_json::Value {
        let mut c = self.cmd();
        c.args(["inspect", "--type", "image", image]);
        let all: serde_json::Value = serde_json::from_str(&run_ok(c, "buildah inspect")).unwrap();
        all["OCIv1"]["config"].clone()
    }

    /// A working container of `image` (what `buildah run` starts processes in).
    pub fn from(&self, image: &str) -> Container<'_> {
        let mut c = self.cmd();
        c.args(["from", "--pull=never", image]);
        let name = run_ok(c, &format!("buildah from {image}"))
            .trim()
            .to_string();
        Container { b: self, name }
    }

    /// `image` with `paths` deleted, committed as `tag` (a variant of an image
    /// without rebuilding it: the CA bundle gone).
    pub fn without(&self, image: &str, paths: &[&str], tag: &str) {
        let ctr = self.from(image);
        let mut c = self.cmd();
        c.args(["mount", &ctr.name]);
        let mnt = PathBuf::from(run_ok(c, "buildah mount").trim());
        for p in paths {
            std::fs::remove_file(mnt.join(p.trim_start_matches('/')))
                .unwrap_or_else(|e| panic!("remove {p} from {image}: {e}"));
        }
        let mut c = self.cmd();
        c.args(["commit", "--quiet", &ctr.name, tag]);
        run_ok(c, "buildah commit");
    }
}

pub struct Container<'a> {
    b: &'a Buildah,
    pub name: String,
}

impl Container<'_> {
    /// `buildah run` of `argv` with `env` added to the image's, on the host's
    /// network (loopback peers), stdout and stderr piped.
    pub fn spawn(&self, argv: &[String], env: &[(&str, &str)], mounts: &[(&Path, &str)]) -> Child {
        let mut c = self.b.cmd();
        c.args(["run", "--isolation", "chroot", "--network", "host"]);
        for (k, v) in env {
            // The container credential provider could reach off loopback.
            assert_ne!(*k, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
            c.args(["--env", &format!("{k}={v}")]);
        }
        for (host, at) in mounts {
            c.args(["--volume", &format!("{}:{at}:ro", host.display())]);
        }
        c.arg(&self.name)
            .arg("--")
            .args(argv)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().expect("buildah run starts")
    }

    /// Runs `argv` to its end: (exit code, stdout, stderr).
    pub fn run(
        &self,
        argv: &[String],
        env: &[(&str, &str)],
        mounts: &[(&Path, &str)],
    ) -> super::Run {
        let out = self.spawn(argv, env, mounts).wait_with_output().unwrap();
        super::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.b.cmd().args(["rm", &self.name]).output();
    }
}

/// The `shipcheck` stage built from the static binaries, and its oci-archive.
pub struct Shipcheck {
    pub tag: &'static str,
    pub archive: PathBuf,
    /// Seconds the build and export took (not asserted; the closing figures).
    pub build_secs: f64,
}

/// A directory under the target directory, emptied (hard links from other
/// folders there work; `/tmp` may be another file system).
fn scratch_dir(name: &str) -> PathBuf {
    let d = buildah().work().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn shipcheck_image() -> &'static Shipcheck {
    static S: OnceLock<Shipcheck> = OnceLock::new();
    S.get_or_init(|| {
        let bins = static_bins();
        let b = buildah();
        let started = Instant::now();
        let ctx = scratch_dir("shipcheck-ctx");
        let pre = ctx.join("prebuilt");
        std::fs::create_dir_all(&pre).unwrap();
        std::fs::copy(&bins.image_check, pre.join("image-check")).unwrap();
        std::fs::copy(&bins.preflight, pre.join("preflight")).unwrap();
        // The host's bundle stands in for the one the `build` stage copies from
        // Debian's ca-certificates.
        std::fs::copy(
            "/etc/ssl/certs/ca-certificates.crt",
            pre.join("ca-certificates.crt"),
        )
        .expect("the host's CA bundle (`ca-certificates`) at /etc/ssl/certs/ca-certificates.crt");
        let tag = "localhost/shipcheck:test";
        b.bud(
            &ctx,
            &super::project_root().join("Dockerfile"),
            tag,
            &[("SHIPCHECK_FROM", "prebuilt")],
        );
        let archive = b.work().join("shipcheck.tar");
        b.export(tag, &archive);
        let _ = std::fs::remove_dir_all(&ctx);
        Shipcheck {
            tag,
            archive,
            build_secs: started.elapsed().as_secs_f64(),
        }
    })
}

/// The shared libraries `ldd` says `bin` needs, the loader included.
fn libs_of(bin: &Path) -> Vec<PathBuf> {
    let mut c = Command::new("ldd");
    c.arg(bin);
    let out = run_ok(c, &format!("ldd {}", bin.display()));
    out.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once(" => ") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// A Node 20 base image made from the host: its `node`, a `sh` and `sha256sum`
/// (the example's pinned-checksum step runs them), the libraries `ldd` lists,
/// and `/etc/passwd` with a `node` user (uid 1000), as in the official image.
/// Nothing of the official image is used: it cannot be pulled here.
pub fn node_base() -> &'static str {
    static N: OnceLock<&'static str> = OnceLock::new();
    N.get_or_init(|| {
        let b = buildah();
        let ctx = scratch_dir("node-base");
        let rootfs = ctx.join("rootfs");
        let put = |src: &Path, at: &str| {
            let dest = rootfs.join(at.trim_start_matches('/'));
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            // Follows symlinks: the image gets the files, not the host's links.
            std::fs::copy(src, &dest)
                .unwrap_or_else(|e| panic!("copy {} into the node base: {e}", src.display()));
        };
        let tools = [
            ("node", "/usr/local/bin/node"),
            ("sh", "/bin/sh"),
            ("sha256sum", "/usr/bin/sha256sum"),
        ];
        for (name, at) in tools {
            let host = which(name);
            put(&host, at);
            for lib in libs_of(&host) {
                put(&lib, &lib.display().to_string());
            }
        }
        let etc = rootfs.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(etc.join("group"), "root:x:0:\nnode:x:1000:\n").unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD [\"node\"]\n",
        )
        .unwrap();
        let tag = "localhost/shipcheck-test/node-host:20";
        b.bud(&ctx, &ctx.join("Dockerfile"), tag, &[]);
        let _ = std::fs::remove_dir_all(&ctx);
        tag
    })
}

fn which(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH (`.ci/install` installs nodejs)"))
}

fn example_dir() -> PathBuf {
    super::project_root().join("examples/node-app")
}

/// `npm ci --omit=dev` of the example's lockfile, kept under the target
/// directory by the lockfile's digest: only the first run reaches the npm
/// registry (the pinned packages); later runs install nothing.
pub fn app_node_modules() -> &'static Path {
    static M: OnceLock<PathBuf> = OnceLock::new();
    M.get_or_init(|| {
        let ex = example_dir();
        let mut h = Sha256::new();
        for f in ["package.json", "package-lock.json"] {
            h.update(std::fs::read(ex.join(f)).unwrap());
        }
        let key = hex::encode(&h.finalize()[..8]);
        let base = tmp().join("node-app");
        let dir = base.join(format!("prod-{key}"));
        let stamp = base.join(format!("stamp-{key}"));
        if stamp.exists() {
            return dir;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(ex.join(f), dir.join(f)).unwrap();
        }
        let mut c = Command::new("npm");
        c.args(["ci", "--omit=dev", "--prefer-offline", "--ignore-scripts"])
            .current_dir(&dir)
            .env("npm_config_cache", base.join("npm-cache"))
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false");
        run_ok(c, "npm ci --omit=dev (examples/node-app)");
        std::fs::write(&stamp, "").unwrap();
        dir
    })
}

fn copy_tree(from: &Path, to: &Path) {
    // `cp -a`: symlinks in node_modules (`.bin`) stay links.
    let mut c = Command::new("cp");
    c.arg("-a").arg(from).arg(to);
    run_ok(c, "cp -a");
}

/// The example app image built from `examples/node-app/Dockerfile` on the host
/// Node base and the test's shipcheck image, with `ca_pem` as the RDS bundle
/// (its sha256 pinned as the Dockerfile asks), and its oci-archive.
pub fn app_image(tag: &str, ca_pem: &[u8]) -> PathBuf {
    let b = buildah();
    let ship = shipcheck_image();
    let node = node_base();
    let ex = example_dir();
    let ctx = scratch_dir(&format!("app-{}", tag.replace(['/', ':'], "_")));
    for f in [
        "Dockerfile",
        "package.json",
        "package-lock.json",
        "shipcheck.toml",
    ] {
        std::fs::copy(ex.join(f), ctx.join(f)).unwrap();
    }
    copy_tree(&ex.join("src"), &ctx.join("src"));
    copy_tree(
        &app_node_modules().join("node_modules"),
        &ctx.join("node_modules"),
    );
    std::fs::write(ctx.join("rds-ca.pem"), ca_pem).unwrap();
    let sha = hex::encode(Sha256::digest(ca_pem));
    b.bud(
        &ctx,
        &ctx.join("Dockerfile"),
        tag,
        &[
            ("NODE_IMAGE", node),
            ("SHIPCHECK_IMAGE", ship.tag),
            ("NODE_MODULES_FROM", "prebuilt-deps"),
            ("RDS_CA_URL", "rds-ca.pem"),
            ("RDS_CA_SHA256", &sha),
        ],
    );
    let _ = std::fs::remove_dir_all(&ctx);
    let archive = b
        .work()
        .join(format!("{}.tar", tag.replace(['/', ':'], "_")));
    b.export(tag, &archive);
    archive
}

/// Reads `child`'s stdout until a line contains `want`, or the child ends, or
/// `limit` passes (a bound so a broken start cannot hang the suite; nothing is
/// asserted about the time). Returns the line, and the stdout lines read.
pub fn wait_for_line(
    child: &mut Child,
    want: &str,
    limit: Duration,
) -> (Option<String>, Vec<String>) {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = l.contains(want);
                seen.push(l.clone());
                if hit {
                    return (Some(l), seen);
                }
            }
            Err(_) => return (None, seen),
        }
    }
}
