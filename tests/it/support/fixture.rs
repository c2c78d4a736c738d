//! A small image builder for tests: recipes (TOML under `fixtures/recipes/`) become
//! real layer tars (gzip, zstd or plain), configs, manifests and indexes, written as
//! an OCI layout directory, an oci-archive, or a `docker save` archive (legacy or
//! Docker 25+). Faults (truncation, flipped bytes) are applied after digests are
//! computed, exactly as a damaged download would look.

use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn recipes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/recipes")
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Another recipe whose layers come first and whose config this one overrides.
    pub extends: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub config: ConfigRecipe,
    #[serde(default, rename = "layer")]
    pub layers: Vec<LayerRecipe>,
    #[serde(default, rename = "platform")]
    pub platforms: Vec<PlatformRecipe>,
    /// Damage applied to a layer blob after it is described: `truncate` or `flip`.
    pub fault: Option<Fault>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub layer: usize,
    pub kind: String,
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigRecipe {
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub env: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub ports: Option<Vec<String>>,
    pub os: Option<String>,
    pub architecture: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct LayerRecipe {
    #[serde(default = "gzip")]
    pub compression: String,
    #[serde(default)]
    pub docker_media_types: bool,
    pub created_by: Option<String>,
    #[serde(default)]
    pub files: Vec<FileRecipe>,
    /// A host directory written below an image path instead of `files` (tests
    /// that build a real app set it; recipes cannot).
    #[serde(skip)]
    pub tree: Option<(PathBuf, String)>,
}

fn gzip() -> String {
    "gzip".into()
}

#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct FileRecipe {
    /// Written verbatim into the tar header, `../` and leading `/` included.
    pub path: String,
    pub text: Option<String>,
    /// Filler content of this many bytes.
    pub bytes: Option<usize>,
    #[serde(default)]
    pub dir: bool,
    pub symlink: Option<String>,
    pub hardlink: Option<String>,
    pub mode: Option<u32>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PlatformRecipe {
    pub platform: String,
    pub recipe: String,
}

pub fn load_recipe(name: &str) -> Recipe {
    let path = recipes_dir().join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r: Recipe = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if let Some(base) = r.extends.clone() {
        let b = load_recipe(&base);
        let mut layers = b.layers.clone();
        layers.extend(r.layers);
        r.layers = layers;
        let c = &mut r.config;
        let bc = b.config;
        c.user = c.user.take().or(bc.user);
        c.workdir = c.workdir.take().or(bc.workdir);
        c.env = c.env.take().or(bc.env);
        c.entrypoint = c.entrypoint.take().or(bc.entrypoint);
        c.cmd = c.cmd.take().or(bc.cmd);
        c.ports = c.ports.take().or(bc.ports);
        c.os = c.os.take().or(bc.os);
        c.architecture = c.architecture.take().or(bc.architecture);
        r.fault = r.fault.or(b.fault);
    }
    r
}

thread_local! {
    /// umoci cannot read zstd layers: its cross-check builds them as gzip instead.
    pub static GZIP_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn hex_of(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap()
}

fn filler(n: usize, seed: &str) -> Vec<u8> {
    // Text-like and a little varied, so compression neither vanishes nor explodes.
    let mut out = Vec::with_capacity(n);
    let mut i = 0u64;
    while out.len() < n {
        let line = format!(
            "export const v{i} = \"{seed}-{}\";\n",
            i.wrapping_mul(2654435761) % 100000
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out.truncate(n);
    out
}

pub fn layer_tar(files: &[FileRecipe]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for f in files {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let data: Vec<u8> = if f.dir {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(f.mode.unwrap_or(0o755));
            vec![]
        } else if let Some(t) = &f.symlink {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_link_name_literal(t).unwrap();
            vec![]
        } else if let Some(t) = &f.hardlink {
            h.set_entry_type(tar::EntryType::Link);
            h.set_mode(0o644);
            h.set_link_name_literal(t).unwrap();
            vec![]
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(f.mode.unwrap_or(0o644));
            match (&f.text, f.bytes) {
                (Some(t), _) => t.as_bytes().to_vec(),
                (None, Some(n)) => filler(n, &f.path),
                (None, None) => vec![],
            }
        };
        h.set_size(data.len() as u64);
        // Raw names so tests can carry `../` and absolute paths past the builder.
        let name = f.path.as_bytes();
        assert!(name.len() < 100, "fixture names stay short: {}", f.path);
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// A host directory as a layer below `at` (GNU long names, symlinks kept).
pub fn tree_tar(host: &Path, at: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Deterministic);
    b.append_dir_all(at, host).unwrap();
    b.into_inner().unwrap()
}

pub struct Layer {
    pub tar: Vec<u8>,
    pub blob: Vec<u8>,
    pub media_type: String,
    pub created_by: String,
}

pub fn compress(tar: &[u8], how: &str) -> Vec<u8> {
    match how {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(tar).unwrap();
            e.finish().unwrap()
        }
        "zstd" => zstd::encode_all(tar, 3).unwrap(),
        "none" => tar.to_vec(),
        other => panic!("unknown compression {other}"),
    }
}

/// One built image (one platform): blobs and the manifest that ties them.
pub struct Image {
    pub config: Vec<u8>,
    pub layers: Vec<Layer>,
    pub manifest: Vec<u8>,
    /// Blob bytes as written to disk, faults applied.
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub platform: (String, String),
}

pub fn build_image(r: &Recipe) -> Image {
    let mut layers = Vec::new();
    for (i, l) in r.layers.iter().enumerate() {
        let tar = match &l.tree {
            Some((host, at)) => tree_tar(host, at),
            None => layer_tar(&l.files),
        };
        let compression = if GZIP_ONLY.with(|g| g.get()) && l.compression == "zstd" {
            "gzip"
        } else {
            l.compression.as_str()
        };
        let blob = compress(&tar, compression);
        let media_type = match (l.docker_media_types, compression) {
            (true, "none") => "application/vnd.docker.image.rootfs.diff.tar",
            (true, _) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            (false, "gzip") => "application/vnd.oci.image.layer.v1.tar+gzip",
            (false, "zstd") => "application/vnd.oci.image.layer.v1.tar+zstd",
            (false, _) => "application/vnd.oci.image.layer.v1.tar",
        };
        layers.push(Layer {
            tar,
            blob,
            media_type: media_type.into(),
            created_by: l
                .created_by
                .clone()
                .unwrap_or_else(|| format!("layer {}", i + 1)),
        });
    }
    let c = &r.config;
    let os = c.os.clone().unwrap_or_else(|| "linux".into());
    let arch = c.architecture.clone().unwrap_or_else(|| "amd64".into());
    let ports: serde_json::Map<String, serde_json::Value> = c
        .ports
        .iter()
        .flatten()
        .map(|p| (p.clone(), json!({})))
        .collect();
    let config = json!({
        "architecture": arch,
        "os": os,
        "config": {
            "User": c.user.clone().unwrap_or_default(),
            "WorkingDir": c.workdir.clone().unwrap_or_default(),
            "Env": c.env.clone().unwrap_or_else(|| vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()]),
            "Entrypoint": c.entrypoint.clone(),
            "Cmd": c.cmd.clone(),
            "ExposedPorts": ports,
        },
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| sha256(&l.tar)).collect::<Vec<_>>()},
        "history": layers.iter().map(|l| json!({"created_by": l.created_by})).collect::<Vec<_>>(),
    });
    let config = serde_json::to_vec(&config).unwrap();
    let docker = r.layers.first().is_some_and(|l| l.docker_media_types);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": if docker { "application/vnd.docker.distribution.manifest.v2+json" } else { "application/vnd.oci.image.manifest.v1+json" },
        "config": {
            "mediaType": if docker { "application/vnd.docker.container.image.v1+json" } else { "application/vnd.oci.image.config.v1+json" },
            "digest": sha256(&config),
            "size": config.len(),
        },
        "layers": layers.iter().map(|l| json!({"mediaType": l.media_type, "digest": sha256(&l.blob), "size": l.blob.len()})).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let mut blobs = BTreeMap::new();
    blobs.insert(sha256(&config), config.clone());
    blobs.insert(sha256(&manifest), manifest.clone());
    for (i, l) in layers.iter().enumerate() {
        let mut bytes = l.blob.clone();
        if let Some(f) = r.fault.as_ref().filter(|f| f.layer == i + 1) {
            match f.kind.as_str() {
                "truncate" => bytes.truncate(bytes.len() / 2),
                "flip" => {
                    let mid = bytes.len() / 2;
                    bytes[mid] ^= 0xff;
                }
                other => panic!("unknown fault {other}"),
            }
        }
        blobs.insert(sha256(&l.blob), bytes);
    }
    Image {
        config,
        layers,
        manifest,
        blobs,
        platform: (os, arch),
    }
}

fn manifest_desc(img: &Image, tag: Option<&str>, platform: bool) -> serde_json::Value {
    let mut d = json!({
        "mediaType": serde_json::from_slice::<serde_json::Value>(&img.manifest).unwrap()["mediaType"],
        "digest": sha256(&img.manifest),
        "size": img.manifest.len(),
    });
    if platform {
        d["platform"] = json!({"os": img.platform.0, "architecture": img.platform.1});
    }
    if let Some(t) = tag {
        d["annotations"] = json!({"org.opencontainers.image.ref.name": t});
    }
    d
}

/// All blobs of a layout plus its `index.json`.
pub struct Layout {
    pub index: Vec<u8>,
    pub blobs: BTreeMap<String, Vec<u8>>,
}

/// Builds a recipe into an OCI layout: a single manifest, or for `[[platform]]`
/// recipes a nested image index (plus an attestation manifest to skip).
pub fn build_layout(recipe: &str, tag: &str) -> Layout {
    layout_of(load_recipe(recipe), tag)
}

/// [`build_layout`] for a recipe made in code.
pub fn layout_of(r: Recipe, tag: &str) -> Layout {
    let mut blobs = BTreeMap::new();
    let top = if r.platforms.is_empty() {
        let img = build_image(&r);
        blobs.extend(img.blobs.clone());
        manifest_desc(&img, Some(tag), false)
    } else {
        let mut manifests = Vec::new();
        for p in &r.platforms {
            let mut pr = load_recipe(&p.recipe);
            let (os, arch) = p.platform.split_once('/').unwrap();
            pr.config.os = Some(os.into());
            pr.config.architecture = Some(arch.into());
            let img = build_image(&pr);
            blobs.extend(img.blobs.clone());
            manifests.push(manifest_desc(&img, None, true));
        }
        // An attestation manifest, as buildx writes them: platform unknown/unknown.
        let att_cfg = b"{}".to_vec();
        let att = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&att_cfg), "size": att_cfg.len()},
            "layers": []
        })).unwrap();
        manifests.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(&att), "size": att.len(),
            "platform": {"os": "unknown", "architecture": "unknown"}}));
        blobs.insert(sha256(&att_cfg), att_cfg);
        blobs.insert(sha256(&att), att);
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests})).unwrap();
        let d = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha256(&index), "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag}});
        blobs.insert(sha256(&index), index);
        d
    };
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [top]})).unwrap();
    Layout { index, blobs }
}

pub fn write_oci_dir(layout: &Layout, dir: &Path) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(dir.join("index.json"), &layout.index).unwrap();
    for (d, b) in &layout.blobs {
        std::fs::write(dir.join("blobs/sha256").join(hex_of(d)), b).unwrap();
    }
}

fn tar_files(files: &[(String, Vec<u8>)], out: &Path) {
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap().flush().unwrap();
}

pub fn write_oci_archive(layout: &Layout, out: &Path) {
    let mut files = vec![
        (
            "oci-layout".to_string(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        ("index.json".to_string(), layout.index.clone()),
    ];
    for (d, b) in &layout.blobs {
        files.push((format!("blobs/sha256/{}", hex_of(d)), b.clone()));
    }
    tar_files(&files, out);
}

/// `docker save` output for a single-platform recipe. Docker writes layers
/// uncompressed; legacy archives name them `<id>/layer.tar`, Docker 25+ stores
/// an OCI layout with `blobs/sha256/<hex>` and keeps `manifest.json` beside it.
pub fn write_docker_archive(recipe: &str, repo_tag: &str, legacy: bool, out: &Path) {
    let r = load_recipe(recipe);
    let img = build_image(&r);
    let config_hex = hex_of(&sha256(&img.config)).to_string();
    let mut files = Vec::new();
    let mut layer_names = Vec::new();
    for (i, l) in img.layers.iter().enumerate() {
        let mut tar = l.tar.clone();
        if let Some(f) = r.fault.as_ref().filter(|f| f.layer == i + 1) {
            match f.kind.as_str() {
                "truncate" => tar.truncate(tar.len() / 2),
                _ => {
                    let mid = tar.len() / 2;
                    tar[mid] ^= 0xff;
                }
            }
        }
        let name = if legacy {
            format!("{}/layer.tar", hex_of(&sha256(&l.tar)))
        } else {
            format!("blobs/sha256/{}", hex_of(&sha256(&l.tar)))
        };
        files.push((name.clone(), tar));
        layer_names.push(name);
    }
    let config_name = if legacy {
        format!("{config_hex}.json")
    } else {
        format!("blobs/sha256/{config_hex}")
    };
    files.push((config_name.clone(), img.config.clone()));
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(
            &json!([{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]),
        )
        .unwrap(),
    ));
    if !legacy {
        // Docker 25+ also writes an OCI index whose manifest lists uncompressed layers.
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&img.config), "size": img.config.len()},
            "layers": img.layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&l.tar), "size": l.tar.len()})).collect::<Vec<_>>(),
        })).unwrap();
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(&manifest), "size": manifest.len(),
            "annotations": {"io.containerd.image.name": format!("docker.io/library/{repo_tag}"), "org.opencontainers.image.ref.name": repo_tag.rsplit(':').next().unwrap()}
        }]})).unwrap();
        files.push((
            format!("blobs/sha256/{}", hex_of(&sha256(&manifest))),
            manifest,
        ));
        files.push(("index.json".into(), index));
        files.push((
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ));
    } else {
        files.push(("repositories".into(), b"{}".to_vec()));
    }
    tar_files(&files, out);
}
