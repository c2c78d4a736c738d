//! Hand-crafted tar streams, one class of hostile input per test: each is read as
//! Go's `archive/tar` reads it (and so as containerd, Docker, umoci and skopeo do)
//! or refused with exit code 2, never read a way that passes where a runtime
//! would unpack something else. Where umoci can unpack the layer, its tree is the
//! oracle.

use crate::support::fixture::{compress, sha256};
use crate::support::image::{loaded_tree, rootfs_tree};
use crate::support::{image_check, project_root};
use shipcheck::image::tarread::build::{cat, end, entry, file, pax, pax_record, H};
use shipcheck::image::PlatformSel;
use std::collections::BTreeSet;
use std::path::Path;
use tempfile::TempDir;

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap()
}

/// An OCI layout (tag `v1`) whose layers are these raw tar streams.
fn layout(dir: &Path, layers: &[Vec<u8>], how: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = sha256(b);
        std::fs::write(blobs.join(hex(&d)), b).unwrap();
        d
    };
    let media = match how {
        "gzip" => "application/vnd.oci.image.layer.v1.tar+gzip",
        "zstd" => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.oci.image.layer.v1.tar",
    };
    let descs: Vec<_> = layers
        .iter()
        .map(|t| {
            let blob = compress(t, how);
            serde_json::json!({"mediaType": media, "digest": put(&blob), "size": blob.len()})
        })
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|t| sha256(t)).collect::<Vec<_>>()},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(&config), "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": put(&manifest), "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    format!("oci:{}:v1", dir.display())
}

fn load(reference: &str) -> Result<shipcheck::image::Loaded, String> {
    shipcheck::image::run::load_one(
        reference,
        &PlatformSel::Default,
        &shipcheck::image::contents::ContentSet::all(),
    )
    .map_err(|e| {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(c) = src {
            s.push_str(&format!(": {c}"));
            src = c.source();
        }
        s
    })
}

fn content(img: &shipcheck::image::Loaded, path: &str) -> Vec<u8> {
    img.fs
        .get(path)
        .and_then(|n| n.content.clone())
        .map(|c| c.to_vec())
        .unwrap_or_else(|| panic!("no content kept for {path}"))
}

/// One layer, plain tar, loaded; plus the temp dir keeping it alive.
fn one(tar: Vec<u8>) -> (TempDir, String, Result<shipcheck::image::Loaded, String>) {
    let t = TempDir::new().unwrap();
    let r = layout(&t.path().join("img"), &[tar], "none");
    let l = load(&r);
    (t, r, l)
}

fn refused(tar: Vec<u8>, needle: &str) {
    let (_t, r, l) = one(tar);
    let err = l
        .err()
        .unwrap_or_else(|| panic!("accepted; expected `{needle}`"));
    assert!(err.contains(needle), "{err}");
    let run = image_check(&["ls", &r], project_root());
    assert_eq!(run.code, 2, "could not check: {}", run.stderr);
}

fn umoci_tree(reference_dir: &Path) -> BTreeSet<String> {
    let bundle = reference_dir.parent().unwrap().join("bundle");
    let out = std::process::Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:v1", reference_dir.display()))
        .arg(&bundle)
        .output()
        .expect("umoci is installed (`.ci/run` installs it)");
    assert!(
        out.status.success(),
        "umoci failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    rootfs_tree(&bundle.join("rootfs"))
}

/// Our tree and umoci's for the same crafted layer must be the same.
fn agrees_with_umoci(tar: Vec<u8>) -> shipcheck::image::Loaded {
    let t = TempDir::new().unwrap();
    let dir = t.path().join("img");
    let r = layout(&dir, &[tar], "gzip");
    let img = load(&r).unwrap();
    assert_eq!(loaded_tree(&img), umoci_tree(&dir));
    img
}

fn lines(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn pax_path_and_size_overrides_read_as_go_and_umoci() {
    // PAX `size` says the data is 1024 bytes; the header says 0 and the data
    // holds a header lookalike, which must stay data.
    let mut data = file("hidden", b"");
    data.resize(1024, b'z');
    let tar = cat(&[
        pax(&[
            pax_record("path", b"app/real-name"),
            pax_record("size", b"1024"),
        ]
        .concat()),
        H::new(b"app/header-name", b'0', 0).block().to_vec(),
        data.clone(),
        file("app/after", b"ok"),
        end(),
    ]);
    let img = agrees_with_umoci(tar);
    assert_eq!(
        loaded_tree(&img),
        lines(&["/app dir", "/app/after file 2", "/app/real-name file 1024"])
    );
    assert_eq!(content(&img, "/app/real-name"), data);
}

#[test]
fn pax_value_containing_newline_is_one_record() {
    let tar = cat(&[
        pax(&pax_record("path", b"app/line\nbreak")),
        file("x", b"1"),
        end(),
    ]);
    let (_t, _r, l) = one(tar);
    assert!(l.unwrap().fs.get("/app/line\nbreak").is_some());
}

#[test]
fn pax_malformed_records_are_refused() {
    for (rec, why) in [
        (b"8 path=x".to_vec(), "newline"),
        (pax_record("path", b"a\0b"), "NUL"),
        (pax_record("mtime", b"soon"), "mtime"),
        (pax_record("size", b"12k"), "size"),
        (pax_record("x\0y", b"1"), "NUL"),
    ] {
        refused(cat(&[pax(&rec), file("f", b""), end()]), why);
    }
}

#[test]
fn pax_duplicate_keys_and_consecutive_extended_headers_last_wins() {
    let tar = cat(&[
        pax(&[pax_record("path", b"first"), pax_record("path", b"second")].concat()),
        pax(&pax_record("path", b"third")),
        file("header", b"1"),
        end(),
    ]);
    let img = agrees_with_umoci(tar);
    assert_eq!(loaded_tree(&img), lines(&["/third file 1"]));
}

#[test]
fn gnu_long_names_cut_at_nul_and_last_wins() {
    let long = |t: u8, v: &[u8]| entry(&H::new(b"././@LongLink", t, v.len()), v);
    let tar = cat(&[
        long(b'L', b"app/first-long-name"),
        long(b'L', b"app/second\0/../../etc/passwd"),
        file("short", b"12"),
        long(b'K', b"app/second"),
        entry(&H::new(b"app/link", b'2', 0), b""),
        end(),
    ]);
    let img = agrees_with_umoci(tar);
    assert_eq!(
        loaded_tree(&img),
        lines(&[
            "/app dir",
            "/app/second file 2",
            "/app/link symlink app/second"
        ])
    );
}

#[test]
fn end_of_archive_garbage_after_one_zero_block_is_refused() {
    let mut tar = file("a", b"1");
    tar.extend_from_slice(&[0u8; 512]);
    tar.extend_from_slice(&file("b", b"2"));
    tar.extend_from_slice(&end());
    refused(tar, "zero block");
    // Two zero blocks end it: what follows is not read (but is hashed).
    let tar = cat(&[file("a", b"1"), end(), file("b", b"2")]);
    let (_t, _r, l) = one(tar);
    assert_eq!(loaded_tree(&l.unwrap()), lines(&["/a file 1"]));
    // No zero blocks at all: a clean end at a header boundary, as in Go.
    let (_t, _r, l) = one(file("a", b"1"));
    assert_eq!(loaded_tree(&l.unwrap()), lines(&["/a file 1"]));
}

#[test]
fn typeflags_runtimes_reject_are_refused_naming_entry_and_type() {
    for (t, needle) in [(b'Z', "`Z`"), (b'V', "`V`"), (b'7', "`7`")] {
        refused(
            cat(&[entry(&H::new(b"app/odd", t, 1), b"x"), end()]),
            &format!("entry `app/odd` has tar type {needle}"),
        );
    }
    let mut h = H::new(b"app/holes", b'S', 0);
    h.magic = b"ustar  \0";
    refused(cat(&[entry(&h, b""), end()]), "`app/holes`");
}

#[test]
fn typeflag_nul_with_trailing_slash_is_a_directory() {
    let tar = cat(&[
        entry(&H::new(b"app/", 0, 0), b""),
        entry(&H::new(b"app/f", 0, 3), b"abc"),
        end(),
    ]);
    let img = agrees_with_umoci(tar);
    assert_eq!(loaded_tree(&img), lines(&["/app dir", "/app/f file 3"]));
    refused(
        cat(&[entry(&H::new(b"app/", b'0', 0), b""), end()]),
        "ends in `/`",
    );
}

#[test]
fn signed_checksum_is_accepted() {
    let mut h = H::new("caf\u{e9}".as_bytes(), b'0', 1);
    let mut blk = h.block();
    blk[148..156].fill(b' ');
    let signed: i64 = blk.iter().map(|&c| i64::from(c as i8)).sum();
    h.chksum = Some(format!("{signed:06o}\0 ").into_bytes());
    let (_t, _r, l) = one(cat(&[entry(&h, b"x"), end()]));
    assert_eq!(loaded_tree(&l.unwrap()), lines(&["/caf\u{e9} file 1"]));
    h.chksum = Some(format!("{:06o}\0 ", signed + 1).into_bytes());
    refused(cat(&[entry(&h, b"x"), end()]), "checksum");
}

#[test]
fn pax_sparse_files_appear_under_real_name_and_size() {
    let recs = [
        pax_record("GNU.sparse.major", b"0"),
        pax_record("GNU.sparse.minor", b"1"),
        pax_record("GNU.sparse.name", b"app/sparse"),
        pax_record("GNU.sparse.realsize", b"4096"),
        pax_record("GNU.sparse.numblocks", b"1"),
        pax_record("GNU.sparse.map", b"1000,3"),
    ]
    .concat();
    let tar = cat(&[
        pax(&recs),
        entry(&H::new(b"app/GNUSparseFile.0/sparse", b'0', 3), b"abc"),
        end(),
    ]);
    let img = agrees_with_umoci(tar);
    let mut want = vec![0u8; 4096];
    want[1000..1003].copy_from_slice(b"abc");
    assert_eq!(content(&img, "/app/sparse"), want);

    // 0.0: the map as repeated offset/numbytes records, the size in `size`.
    let recs = [
        pax_record("GNU.sparse.size", b"700"),
        pax_record("GNU.sparse.numblocks", b"2"),
        pax_record("GNU.sparse.offset", b"0"),
        pax_record("GNU.sparse.numbytes", b"1"),
        pax_record("GNU.sparse.offset", b"699"),
        pax_record("GNU.sparse.numbytes", b"1"),
    ]
    .concat();
    let tar = cat(&[pax(&recs), entry(&H::new(b"zero", b'0', 2), b"<>"), end()]);
    let img = agrees_with_umoci(tar);
    let mut want = vec![0u8; 700];
    (want[0], want[699]) = (b'<', b'>');
    assert_eq!(content(&img, "/zero"), want);

    // 1.0: the map opens the data, padded to a block.
    let recs = [
        pax_record("GNU.sparse.major", b"1"),
        pax_record("GNU.sparse.minor", b"0"),
        pax_record("GNU.sparse.name", b"one"),
        pax_record("GNU.sparse.realsize", b"2000"),
    ]
    .concat();
    let mut data = b"1\n1500\n4\n".to_vec();
    data.resize(512, 0);
    data.extend_from_slice(b"tail");
    let tar = cat(&[
        pax(&recs),
        entry(&H::new(b"GNUSparseFile.0/one", b'0', data.len()), &data),
        end(),
    ]);
    let img = agrees_with_umoci(tar);
    assert_eq!(loaded_tree(&img), lines(&["/one file 2000"]));
    assert_eq!(&content(&img, "/one")[1500..1504], b"tail");
}

#[test]
fn non_utf8_names_stay_distinct_and_whiteouts_match_bytes() {
    let tar = cat(&[
        file_bytes(b"app/a\xff", b"1"),
        file_bytes(b"app/a\xfe", b"22"),
        file_bytes(b"app/back\\slash", b"333"),
        end(),
    ]);
    let upper = cat(&[entry(&H::new(b"app/.wh.a\xfe", b'0', 0), b""), end()]);
    let t = TempDir::new().unwrap();
    let r = layout(&t.path().join("img"), &[tar, upper], "gzip");
    let img = load(&r).unwrap();
    assert_eq!(
        loaded_tree(&img),
        lines(&[
            "/app dir",
            "/app/a\\xff file 1",
            "/app/back\\\\slash file 3"
        ])
    );
}

fn file_bytes(name: &[u8], data: &[u8]) -> Vec<u8> {
    entry(&H::new(name, b'0', data.len()), data)
}

#[test]
fn special_headers_over_the_limit_are_refused() {
    // Only the header is written: the size is refused before any data is read.
    let h = H::new(b"PaxHeader", b'x', (1 << 20) + 1);
    refused(cat(&[h.block().to_vec(), vec![0; 1024]]), "limit");
    let h = H::new(b"././@LongLink", b'L', 5 << 20);
    refused(cat(&[h.block().to_vec(), vec![0; 1024]]), "limit");
}

#[test]
fn bzh_named_plain_tar_and_zstd_skippable_frame_are_read() {
    let tar = cat(&[file("BZh91AY-looks-like-bzip2", b"1"), end()]);
    let (_t, _r, l) = one(tar.clone());
    assert_eq!(
        loaded_tree(&l.unwrap()),
        lines(&["/BZh91AY-looks-like-bzip2 file 1"])
    );
    // A zstd layer that opens with a skippable frame.
    let t = TempDir::new().unwrap();
    let dir = t.path().join("img");
    let r = layout(&dir, std::slice::from_ref(&tar), "zstd");
    let blob_dir = dir.join("blobs/sha256");
    // Rewrite the layer blob with a skippable frame in front, fixing digests.
    let mut skippable = vec![0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9];
    skippable.extend(zstd::encode_all(&tar[..], 3).unwrap());
    let old = sha256(&compress(&tar, "zstd"));
    let new = sha256(&skippable);
    std::fs::write(blob_dir.join(hex(&new)), &skippable).unwrap();
    for e in std::fs::read_dir(&blob_dir).unwrap() {
        let p = e.unwrap().path();
        let s = std::fs::read(&p).unwrap();
        if let Ok(text) = String::from_utf8(s.clone()) {
            if text.contains(&old) {
                let fixed = text.replace(&old, &new).replace(
                    &format!("\"size\":{}", compress(&tar, "zstd").len()),
                    &format!("\"size\":{}", skippable.len()),
                );
                let d = sha256(fixed.as_bytes());
                std::fs::write(blob_dir.join(hex(&d)), &fixed).unwrap();
                let index = std::fs::read_to_string(dir.join("index.json")).unwrap();
                let md = sha256(&s);
                let index = index.replace(&md, &d).replace(
                    &format!("\"size\":{}", s.len()),
                    &format!("\"size\":{}", fixed.len()),
                );
                std::fs::write(dir.join("index.json"), index).unwrap();
            }
        }
    }
    assert_eq!(
        loaded_tree(&load(&r).unwrap()),
        lines(&["/BZh91AY-looks-like-bzip2 file 1"])
    );
}

#[test]
fn entries_and_hardlinks_that_climb_out_are_clamped_errors() {
    let tar = cat(&[
        file("app/keep", b"1"),
        file("../../escaped", b"22"),
        entry(&H::new(b"app/hl", b'1', 0).link(b"../app/keep"), b""),
        end(),
    ]);
    let img = agrees_with_umoci(tar);
    assert_eq!(
        loaded_tree(&img),
        lines(&[
            "/app dir",
            "/app/keep file 1",
            "/app/hl file 1",
            "/escaped file 2"
        ])
    );
    let errs: Vec<_> = img
        .fs
        .warnings
        .iter()
        .filter(|f| f.code.as_str() == "path-escapes-root")
        .map(|f| (f.severity.as_str(), f.subject.clone()))
        .collect();
    assert_eq!(
        errs,
        [
            ("error", "../../escaped".to_string()),
            ("error", "/app/hl".to_string())
        ]
    );
}

#[test]
fn repeated_findings_in_one_layer_are_aggregated() {
    let mut parts: Vec<Vec<u8>> = (0..40).map(|i| file(&format!("../e{i}"), b"")).collect();
    parts.push(end());
    let (_t, _r, l) = one(cat(&parts));
    let img = l.unwrap();
    let esc: Vec<_> = img
        .fs
        .warnings
        .iter()
        .filter(|f| f.code.as_str() == "path-escapes-root")
        .collect();
    assert_eq!(esc.len(), 6, "five shown and one count");
    assert!(esc[5].message.contains("35 more"), "{}", esc[5].message);
}

/// An `oci-archive:` whose tar holds `index.json` twice: skopeo's two readers
/// would pick different ones, so it is refused.
#[test]
fn outer_archive_duplicate_members_are_refused_and_read_as_go() {
    let t = TempDir::new().unwrap();
    let dir = t.path().join("img");
    layout(&dir, &[cat(&[file("a", b"1"), end()])], "gzip");
    let mut members: Vec<Vec<u8>> = Vec::new();
    let mut add_tree = |rel: &str, bytes: Vec<u8>| members.push(file(rel, &bytes));
    add_tree("oci-layout", std::fs::read(dir.join("oci-layout")).unwrap());
    add_tree("index.json", std::fs::read(dir.join("index.json")).unwrap());
    for e in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        let name = format!("blobs/sha256/{}", p.file_name().unwrap().to_str().unwrap());
        add_tree(&name, std::fs::read(&p).unwrap());
    }
    let good = cat(&[cat(&members), end()]);
    let archive = t.path().join("good.tar");
    std::fs::write(&archive, &good).unwrap();
    let r = format!("oci-archive:{}:v1", archive.display());
    assert_eq!(loaded_tree(&load(&r).unwrap()), lines(&["/a file 1"]));
    // A PAX `path` renames a member, as Go reads it.
    let renamed = cat(&[
        pax(&pax_record("path", b"index.json")),
        file(
            "not-the-index",
            &std::fs::read(dir.join("index.json")).unwrap(),
        ),
        cat(&members[2..]),
        file(
            "oci-layout",
            &std::fs::read(dir.join("oci-layout")).unwrap(),
        ),
        end(),
    ]);
    std::fs::write(&archive, &renamed).unwrap();
    assert_eq!(loaded_tree(&load(&r).unwrap()), lines(&["/a file 1"]));
    // skopeo (Go's archive/tar underneath) finds the same index.
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}:v1", archive.display()))
        .output()
        .expect("skopeo is installed (`.ci/run` installs it)");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"layers\""));
    let dup = cat(&[cat(&members), file("index.json", b"{}"), end()]);
    std::fs::write(&archive, &dup).unwrap();
    let err = load(&r).err().unwrap();
    assert!(err.contains("two members named `index.json`"), "{err}");
}

/// umoci is the oracle for what the appliers refuse: what we refuse, it refuses.
/// A PAX global header umoci refuses while containerd and Docker skip it: we
/// skip it and say so.
#[test]
fn typeflags_we_refuse_umoci_refuses_and_global_headers_are_skipped() {
    let unpack = |tar: Vec<u8>| {
        let tmp = TempDir::new().unwrap();
        let dir = tmp.path().join("img");
        let r = layout(&dir, &[tar], "gzip");
        let out = std::process::Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:v1", dir.display()))
            .arg(tmp.path().join("bundle"))
            .output()
            .expect("umoci is installed (`.ci/run` installs it)");
        (out.status.success(), load(&r).is_ok())
    };
    for t in [b'7', b'Z', b'D'] {
        let tar = cat(&[entry(&H::new(b"odd", t, 1), b"x"), end()]);
        assert_eq!(unpack(tar), (false, false), "type {}", t as char);
    }
    let rec = pax_record("comment", b"global");
    let tar = cat(&[
        entry(&H::new(b"g", b'g', rec.len()), &rec),
        file("f", b"1"),
        end(),
    ]);
    assert_eq!(unpack(tar.clone()), (false, true));
    let (_t, _r, l) = one(tar);
    let img = l.unwrap();
    assert_eq!(loaded_tree(&img), lines(&["/f file 1"]));
    let codes: Vec<_> = img.fs.warnings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["tar-global-header"]);
}
