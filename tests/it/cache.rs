//! The layer cache, end to end: a warm run gives the cold run's report byte for
//! byte without opening (or fetching) the layers it has, reads a changed layer,
//! survives damaged and foreign files in its directory and a second process
//! sharing it, and stays under its size bound.

use crate::support::fixture::{build_layout, write_oci_dir};
use crate::support::registry::{push, Auth, Registry, ResetProxy};
use crate::support::{image_check_env, project_root, Run};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const SPEC: &str = "images/scalemap-api.toml";

fn spec() -> String {
    project_root().join(SPEC).display().to_string()
}

fn run(args: &[&str]) -> Run {
    image_check_env(args, project_root(), &[])
}

/// A check of `reference` with the cache in `cache` (`None`: `--no-cache`).
fn check(reference: &str, format: &str, cache: Option<&Path>, extra: &[&str]) -> Run {
    let spec = spec();
    let dir = cache.map(|c| c.display().to_string());
    let mut args = vec!["--format", format, "--spec", &spec];
    match &dir {
        Some(d) => args.extend(["--cache-dir", d.as_str()]),
        None => args.push("--no-cache"),
    }
    args.extend(extra);
    args.push(reference);
    run(&args)
}

/// The cache's entry files and their sizes.
fn entries(cache: &Path) -> Vec<(PathBuf, u64)> {
    let mut v: Vec<(PathBuf, u64)> = match std::fs::read_dir(cache.join("layers")) {
        Ok(rd) => rd
            .flatten()
            .filter(|e| {
                if !e.file_type().unwrap().is_file() {
                    return false;
                }
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .map(|e| (e.path(), e.metadata().unwrap().len()))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The layer digests (`sha256:…`) of a single-manifest layout written by
/// [`write_oci_dir`].
fn layer_digests(layout: &Path) -> Vec<String> {
    let read = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let index = read(layout.join("index.json"));
    let m = read(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn layout(work: &Path, recipe: &str) -> (PathBuf, String) {
    let dir = work.join(recipe);
    write_oci_dir(&build_layout(recipe, "v1"), &dir);
    let r = format!("oci:{}:v1", dir.display());
    (dir, r)
}

/// Cold and warm runs give the same bytes in every format, for a passing image
/// and for images whose layers carry findings (their `layer N` provenance is
/// attached after the cache, so it must still be there); the warm run then
/// passes with every cached layer blob deleted from the layout.
#[test]
fn a_warm_run_reports_byte_for_byte_as_a_cold_one_without_reading_cached_layers() {
    let work = TempDir::new().unwrap();
    let cache = TempDir::new().unwrap();
    for recipe in [
        "healthy",
        "path-escape",
        "missing-frontend-css",
        "divergence-whiteout",
    ] {
        let (dir, r) = layout(work.path(), recipe);
        for format in ["json", "human", "junit", "github"] {
            let cold = check(&r, format, None, &[]);
            assert_ne!(cold.code, 2, "{recipe}: {}", cold.stderr);
            let filling = check(&r, format, Some(cache.path()), &[]);
            let warm = check(&r, format, Some(cache.path()), &[]);
            for (what, got) in [("filling", &filling), ("warm", &warm)] {
                assert_eq!(
                    (got.code, &got.stdout),
                    (cold.code, &cold.stdout),
                    "{recipe} {format} {what}: {}",
                    got.stderr
                );
            }
        }
        let json = check(&r, "json", None, &[]);
        for d in layer_digests(&dir) {
            std::fs::remove_file(dir.join("blobs/sha256").join(&d[7..])).unwrap();
        }
        let warm = check(&r, "json", Some(cache.path()), &[]);
        assert_eq!(
            (warm.code, &warm.stdout),
            (json.code, &json.stdout),
            "{recipe} without its layer blobs: {}",
            warm.stderr
        );
        // Without the cache, the missing blobs are missed: the run above
        // could not have read them.
        let cold = check(&r, "json", None, &[]);
        assert_eq!(cold.code, 2, "{recipe}: {}", cold.stdout);
    }
    assert!(!entries(cache.path()).is_empty());
}

/// An image whose base layers are cached and whose top layer is new reads only
/// the new layer: the base blobs are gone from its layout, and it still gives
/// the report of an uncached run.
#[test]
fn a_changed_top_layer_is_the_only_layer_read() {
    let work = TempDir::new().unwrap();
    let cache = TempDir::new().unwrap();
    let (base_dir, base) = layout(work.path(), "healthy");
    assert_eq!(check(&base, "json", Some(cache.path()), &[]).code, 0);
    let (dir, r) = layout(work.path(), "missing-frontend-css");
    let expected = check(&r, "json", None, &[]);
    assert_eq!(expected.code, 1, "{}", expected.stderr);
    let shared = layer_digests(&base_dir);
    let layers = layer_digests(&dir);
    assert_eq!(
        layers[..shared.len()],
        shared[..],
        "the base layers are shared"
    );
    for d in &shared {
        std::fs::remove_file(dir.join("blobs/sha256").join(&d[7..])).unwrap();
    }
    let before = entries(cache.path()).len();
    let warm = check(&r, "json", Some(cache.path()), &[]);
    assert_eq!(
        (warm.code, &warm.stdout),
        (expected.code, &expected.stdout),
        "{}",
        warm.stderr
    );
    assert_eq!(
        entries(cache.path()).len(),
        before + 1,
        "the new layer is stored"
    );
}

/// A truncated entry is not trusted (the run still gives the cold report) and
/// is written again whole; files that are not entries, garbage under an
/// entry's name, a directory and a FIFO under entries' names are ignored.
#[test]
fn damaged_and_foreign_files_in_the_cache_are_ignored_and_rebuilt() {
    let work = TempDir::new().unwrap();
    let cache = TempDir::new().unwrap();
    let (_dir, r) = layout(work.path(), "healthy");
    let cold = check(&r, "json", None, &[]);
    assert_eq!(cold.code, 0, "{}", cold.stderr);
    check(&r, "json", Some(cache.path()), &[]);
    let whole = entries(cache.path());
    assert!(whole.len() >= 2, "{whole:?}");
    for (p, len) in &whole {
        let bytes = std::fs::read(p).unwrap();
        std::fs::write(p, &bytes[..*len as usize - 1]).unwrap();
    }
    let warm = check(&r, "json", Some(cache.path()), &[]);
    assert_eq!(
        (warm.code, &warm.stdout),
        (cold.code, &cold.stdout),
        "{}",
        warm.stderr
    );
    assert_eq!(
        entries(cache.path()),
        whole,
        "truncated entries are rebuilt"
    );

    // Garbage in every entry, files and a FIFO the cache never wrote.
    for (p, len) in &whole {
        std::fs::write(p, vec![0x5a; *len as usize]).unwrap();
    }
    let layers = cache.path().join("layers");
    std::fs::write(layers.join("README"), "not an entry").unwrap();
    std::fs::create_dir(layers.join("a".repeat(64))).unwrap();
    let fifo = layers.join("b".repeat(64));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let warm = check(&r, "json", Some(cache.path()), &[]);
    assert_eq!(
        (warm.code, &warm.stdout),
        (cold.code, &cold.stdout),
        "{}",
        warm.stderr
    );
    assert_eq!(entries(cache.path()), whole, "garbage entries are replaced");
    assert!(layers.join("README").exists());
}

/// Two processes filling and reading one cache directory at once both give
/// the uncached report.
#[test]
fn two_concurrent_runs_share_one_cache_dir() {
    let work = TempDir::new().unwrap();
    let cache = TempDir::new().unwrap();
    let refs: Vec<String> = ["healthy", "user-missing", "path-escape"]
        .iter()
        .map(|r| layout(work.path(), r).1)
        .collect();
    let cold: Vec<Run> = refs.iter().map(|r| check(r, "json", None, &[])).collect();
    for round in 0..2 {
        let outs: Vec<Vec<Run>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        refs.iter()
                            .map(|r| check(r, "json", Some(cache.path()), &[]))
                            .collect::<Vec<Run>>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for runs in &outs {
            for (got, want) in runs.iter().zip(&cold) {
                assert_eq!(
                    (got.code, &got.stdout),
                    (want.code, &want.stdout),
                    "round {round}: {}",
                    got.stderr
                );
            }
        }
    }
    let left: Vec<String> = std::fs::read_dir(cache.path().join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(left.is_empty(), "no temporary files are left: {left:?}");
}

/// `--cache-max`: after each run the entries fit the bound, the most recent
/// ones are kept, and the reports do not change.
#[test]
fn eviction_keeps_the_cache_under_its_bound() {
    let work = TempDir::new().unwrap();
    let big = TempDir::new().unwrap();
    let recipes = [
        "healthy",
        "user-missing",
        "path-escape",
        "divergence-whiteout",
    ];
    let refs: Vec<String> = recipes.iter().map(|r| layout(work.path(), r).1).collect();
    for r in &refs {
        check(r, "json", Some(big.path()), &[]);
    }
    let all: u64 = entries(big.path()).iter().map(|e| e.1).sum();
    let largest = entries(big.path()).iter().map(|e| e.1).max().unwrap();
    let bound = (all / 2).max(largest);
    let small = TempDir::new().unwrap();
    let max = bound.to_string();
    for r in &refs {
        let cold = check(r, "json", None, &[]);
        let got = check(r, "json", Some(small.path()), &["--cache-max", &max]);
        assert_eq!(
            (got.code, &got.stdout),
            (cold.code, &cold.stdout),
            "{}",
            got.stderr
        );
        let held: u64 = entries(small.path()).iter().map(|e| e.1).sum();
        assert!(held <= bound, "{held} > {bound}");
        assert!(held > 0);
    }
    assert!(entries(small.path()).len() < entries(big.path()).len());
}

/// The default directory is `$XDG_CACHE_HOME/shipcheck`, then
/// `~/.cache/shipcheck`; `--no-cache` writes nothing.
#[test]
fn the_default_cache_dir_follows_xdg_and_no_cache_writes_nothing() {
    let work = TempDir::new().unwrap();
    let (_dir, r) = layout(work.path(), "healthy");
    let xdg = TempDir::new().unwrap();
    let home = TempDir::new().unwrap();
    let (x, h) = (xdg.path().to_str().unwrap(), home.path().to_str().unwrap());
    let spec = spec();
    let args = ["--spec", spec.as_str(), r.as_str()];
    let out = image_check_env(&args, project_root(), &[("XDG_CACHE_HOME", x), ("HOME", h)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!entries(&xdg.path().join("shipcheck")).is_empty());
    assert!(!home.path().join(".cache").exists());
    let out = image_check_env(&args, project_root(), &[("HOME", h)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!entries(&home.path().join(".cache/shipcheck")).is_empty());
    let empty = TempDir::new().unwrap();
    let e = empty.path().to_str().unwrap();
    let mut no = vec!["--no-cache"];
    no.extend(args);
    let out = image_check_env(&no, project_root(), &[("XDG_CACHE_HOME", e), ("HOME", e)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}

/// A registry: the second tag shares the first's layers and adds one on top; its
/// warm check GETs exactly that one layer blob (and the config), and reports as
/// an uncached check does.
#[test]
fn a_registry_tag_differing_in_its_top_layer_fetches_only_that_layer() {
    let storage = TempDir::new().unwrap();
    let work = TempDir::new().unwrap();
    {
        let open = Registry::start(storage.path(), Auth::Open, None);
        for recipe in ["healthy", "missing-frontend-css"] {
            let (_, r) = layout(work.path(), recipe);
            push(&r, &open, &format!("scalemap-api:{recipe}"));
        }
    }
    let reg = Registry::start(storage.path(), Auth::Open, None);
    let proxy = ResetProxy::start(reg.port, usize::MAX);
    let layers = |tag: &str| -> Vec<String> {
        crate::support::registry::manifest(&reg, "scalemap-api", tag)["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let (base, top) = (layers("healthy"), layers("missing-frontend-css"));
    assert_eq!(top[..base.len()], base[..], "{base:?} {top:?}");
    let fetched = |since: usize| -> Vec<String> {
        let gets = proxy.blob_gets.lock().unwrap();
        let mut v: Vec<String> = gets[since..]
            .iter()
            .filter(|d| top.contains(d))
            .cloned()
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let cache = TempDir::new().unwrap();
    let reference = |tag: &str| format!("docker://127.0.0.1:{}/scalemap-api:{tag}", proxy.port);
    let http = ["--insecure-http"];

    let cold = check(&reference("healthy"), "json", Some(cache.path()), &http);
    assert_eq!(cold.code, 0, "{}", cold.stderr);
    let mut want = base.clone();
    want.sort();
    want.dedup();
    assert_eq!(fetched(0), want, "the cold run fetches every layer");

    let n = proxy.blob_gets.lock().unwrap().len();
    let warm = check(&reference("healthy"), "json", Some(cache.path()), &http);
    assert_eq!((warm.code, &warm.stdout), (cold.code, &cold.stdout));
    assert_eq!(
        fetched(n),
        Vec::<String>::new(),
        "a warm run fetches no layer"
    );
    // It only asks, for each cached layer, that the registry still serves it.
    let asked = proxy.blob_gets.lock().unwrap()[n..]
        .iter()
        .filter(|g| g.ends_with(" (range)"))
        .count();
    assert_eq!(asked, want.len(), "{:?}", proxy.blob_gets.lock().unwrap());

    let expected = check(&reference("missing-frontend-css"), "json", None, &http);
    assert_eq!(expected.code, 1, "{}", expected.stderr);
    let n = proxy.blob_gets.lock().unwrap().len();
    let warm = check(
        &reference("missing-frontend-css"),
        "json",
        Some(cache.path()),
        &http,
    );
    assert_eq!(
        (warm.code, &warm.stdout),
        (expected.code, &expected.stdout),
        "{}",
        warm.stderr
    );
    assert_eq!(
        fetched(n),
        vec![top.last().unwrap().clone()],
        "only the new top layer is fetched"
    );
}

/// Cached layers are position-free: an image holding the same layers in reverse
/// order, each at another depth, reads none of them and reports each finding
/// with its new layer number, as an uncached check of it does.
#[test]
fn the_same_layer_at_another_depth_is_a_hit() {
    let work = TempDir::new().unwrap();
    let cache = TempDir::new().unwrap();
    let (dir, r) = layout(work.path(), "path-escape");
    assert_ne!(check(&r, "json", Some(cache.path()), &[]).code, 2);
    // The reversed image: new config (diff_ids and history reversed), new
    // manifest (layers reversed), the same layer blobs.
    let blobs = dir.join("blobs/sha256");
    let read = |d: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(blobs.join(&d[7..])).unwrap()).unwrap()
    };
    let write = |v: &serde_json::Value| -> (String, usize) {
        let b = serde_json::to_vec(v).unwrap();
        let d = crate::support::fixture::sha256(&b);
        std::fs::write(blobs.join(&d[7..]), &b).unwrap();
        (d, b.len())
    };
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mut manifest = read(index["manifests"][0]["digest"].as_str().unwrap());
    let mut config = read(manifest["config"]["digest"].as_str().unwrap());
    let reverse = |v: &mut serde_json::Value| {
        if let Some(a) = v.as_array_mut() {
            a.reverse();
        }
    };
    reverse(&mut config["rootfs"]["diff_ids"]);
    reverse(&mut config["history"]);
    reverse(&mut manifest["layers"]);
    assert!(manifest["layers"].as_array().unwrap().len() >= 3);
    let (cd, cn) = write(&config);
    manifest["config"]["digest"] = cd.into();
    manifest["config"]["size"] = cn.into();
    let (md, mn) = write(&manifest);
    index["manifests"][0]["digest"] = md.into();
    index["manifests"][0]["size"] = mn.into();
    index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = "rev".into();
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let r = format!("oci:{}:rev", dir.display());
    let expected = check(&r, "json", None, &[]);
    assert_ne!(expected.code, 2, "{}", expected.stderr);
    assert!(
        expected.stdout.contains("\"provenance\":\"layer 1\""),
        "{}",
        expected.stdout
    );
    for l in manifest["layers"].as_array().unwrap() {
        std::fs::remove_file(blobs.join(&l["digest"].as_str().unwrap()[7..])).unwrap();
    }
    let warm = check(&r, "json", Some(cache.path()), &[]);
    assert_eq!(
        (warm.code, &warm.stdout),
        (expected.code, &expected.stdout),
        "{}",
        warm.stderr
    );
}
