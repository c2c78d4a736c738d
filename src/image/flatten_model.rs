//! A deliberately small model of layer flattening, the oracle of the `layer` fuzz
//! target's tree mode: fuzz bytes become a few tar layers (files, directories,
//! symlinks, hard links, whiteouts, opaque markers, names spelled the ways tar
//! allows), which go through the real reader and [`FlatFs`], and the tree must be
//! the one this model builds from the same operations.
//!
//! The model is the extract reading (umoci, containerd's native snapshotter) as
//! `fs.rs` documents it, written the naive way: a map of whole paths, every parent
//! resolved component by component through symlinks (missing components kept, at
//! most [`UNPACK_MAX_LINKS`] links), the last component never followed. Each layer
//! is applied in archive order, as umoci's `UnpackEntry` does: a whiteout deletes
//! its (resolved) path and an opaque marker its directory's children, except the
//! paths this layer wrote before it and their ancestors. It also predicts which
//! unpack failures must be reported: a parent that is not a directory, a symlink
//! loop, a dangling hard link and a hard link into a lower layer.

use super::fs::{FlatFs, Kind, UNPACK_MAX_LINKS};
use super::layer::{read_layer, LayerIndex};
use super::source::BlobDesc;
use super::tarread::build::{end, entry, pax, pax_record, H};
use crate::report::{Code, Severity};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq)]
enum MKind {
    File(Vec<u8>),
    Dir,
    Sym(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct MNode {
    kind: MKind,
    layer: usize,
    implicit: bool,
}

#[derive(Debug, Clone)]
enum Op {
    File(String, Vec<u8>),
    Dir(String),
    Sym(String, String),
    Link(String, String),
    Whiteout(String),
    /// The directory (a key; `""` is the root) whose lower children are hidden.
    Opaque(String),
}

enum Fail {
    NotDir,
    Loop,
}

/// Targets short enough that the hop limit, not the walk budget, ends a loop.
const TARGETS: [&str; 16] = [
    "a", "b", "c/a", "/a", "../b", "..", ".", "/", "a/b", "x/..", "b/../c", "/c/../a", "x", "c",
    "../..", "b/a",
];

fn split(p: &str) -> (&str, &str) {
    p.rsplit_once('/').unwrap_or(("", p))
}

fn join(d: &str, n: &str) -> String {
    if d.is_empty() {
        n.to_string()
    } else {
        format!("{d}/{n}")
    }
}

/// Adds `path` and its ancestors to the paths a layer wrote.
fn mark_upper(upper: &mut BTreeSet<String>, mut path: &str) {
    loop {
        upper.insert(path.to_string());
        match path.rsplit_once('/') {
            Some((d, _)) => path = d,
            None => break,
        }
    }
}

/// `k` is strictly below `dir` (the root, `""`, is below nothing).
fn is_below(k: &str, dir: &str) -> bool {
    if dir.is_empty() {
        return !k.is_empty();
    }
    k.len() > dir.len() && k.starts_with(dir) && k.as_bytes()[dir.len()] == b'/'
}

struct Model {
    nodes: BTreeMap<String, MNode>,
    errors: BTreeSet<Code>,
}

impl Model {
    fn new() -> Model {
        let root = MNode {
            kind: MKind::Dir,
            layer: 0,
            implicit: true,
        };
        Model {
            nodes: BTreeMap::from([(String::new(), root)]),
            errors: BTreeSet::new(),
        }
    }

    /// Resolves a directory path, following every symlink on it.
    fn resolve(&self, path: &str) -> Result<String, Fail> {
        let mut todo: Vec<String> = path.split('/').rev().map(String::from).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => cur.push(c),
            }
            match self.nodes.get(&cur.join("/")).map(|n| &n.kind) {
                None | Some(MKind::Dir) => {}
                Some(MKind::Sym(t)) => {
                    hops += 1;
                    if hops > UNPACK_MAX_LINKS {
                        return Err(Fail::Loop);
                    }
                    cur.pop();
                    if t.starts_with('/') {
                        cur.clear();
                    }
                    todo.extend(t.split('/').rev().map(String::from));
                }
                Some(MKind::File(_)) => return Err(Fail::NotDir),
            }
        }
        Ok(cur.join("/"))
    }

    fn remove_below(&mut self, dir: &str) {
        self.nodes.retain(|k, _| !is_below(k, dir));
    }

    fn ensure_dir(&mut self, dir: &str, layer: usize) {
        let mut cur = String::new();
        for c in dir.split('/').filter(|c| !c.is_empty()) {
            cur = join(&cur, c);
            if self.nodes.get(&cur).is_some_and(|n| n.kind == MKind::Dir) {
                continue;
            }
            let dir = MNode {
                kind: MKind::Dir,
                layer,
                implicit: true,
            };
            self.nodes.insert(cur.clone(), dir);
        }
    }

    /// Deletes `top` (only its children, for an opaque marker) and what is
    /// below it, except the paths in `kept`.
    fn sweep(&mut self, top: &str, opaque: bool, kept: &BTreeSet<String>) {
        let doomed: Vec<String> = self
            .nodes
            .keys()
            .filter(|k| (!opaque && k.as_str() == top) || is_below(k, top))
            .filter(|k| !kept.contains(k.as_str()))
            .cloned()
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    fn apply(&mut self, layer: usize, ops: &[Op]) {
        // umoci's `upperPaths`: every path this layer wrote, with its ancestors.
        let mut upper: BTreeSet<String> = BTreeSet::new();
        for op in ops {
            let (path, kind) = match op {
                Op::File(p, data) => (p, MKind::File(data.clone())),
                Op::Dir(p) => (p, MKind::Dir),
                Op::Sym(p, t) => (p, MKind::Sym(t.clone())),
                Op::Link(p, _) => (p, MKind::Dir), // decided below
                Op::Whiteout(w) => {
                    let (parent, name) = split(w);
                    match self.resolve(parent) {
                        Ok(r) => {
                            let k = join(&r, name);
                            if self.nodes.contains_key(&k) {
                                self.sweep(&k, false, &upper);
                            }
                        }
                        // A parent that is not a directory: nothing there to delete.
                        Err(Fail::NotDir) => {}
                        Err(Fail::Loop) => {
                            self.errors.insert(Code::RuntimeDivergence);
                        }
                    }
                    continue;
                }
                Op::Opaque(d) => {
                    match self.resolve(d) {
                        Ok(r) => {
                            if self.nodes.get(&r).is_some_and(|n| n.kind == MKind::Dir) {
                                self.sweep(&r, true, &upper);
                            }
                        }
                        Err(Fail::NotDir) => {}
                        Err(Fail::Loop) => {
                            self.errors.insert(Code::RuntimeDivergence);
                        }
                    }
                    continue;
                }
            };
            let (parent, name) = split(path);
            let at = match self.resolve(parent) {
                Ok(r) => join(&r, name),
                Err(Fail::NotDir) => {
                    // Extracting runtimes fail; the tree goes on as the overlay
                    // appliers do, with the parent made a directory.
                    self.errors.insert(Code::RuntimeDivergence);
                    self.ensure_dir(parent, layer);
                    mark_upper(&mut upper, parent);
                    path.clone()
                }
                Err(Fail::Loop) => {
                    self.errors.insert(Code::RuntimeDivergence);
                    continue;
                }
            };
            let kind = match op {
                Op::Link(_, target) => {
                    let (tp, tn) = split(target);
                    let t = match self.resolve(tp) {
                        Ok(r) => join(&r, tn),
                        Err(_) => {
                            self.errors.insert(Code::RuntimeDivergence);
                            continue;
                        }
                    };
                    if (t == at || is_below(&t, &at)) && self.nodes.contains_key(&at) {
                        // The link's path is removed first, and the target with it.
                        self.errors.insert(Code::HardlinkDangling);
                        continue;
                    }
                    match self.nodes.get(&t) {
                        None
                        | Some(MNode {
                            kind: MKind::Dir, ..
                        }) => {
                            self.errors.insert(Code::HardlinkDangling);
                            continue;
                        }
                        Some(n) => {
                            if n.layer < layer {
                                self.errors.insert(Code::RuntimeDivergence);
                            }
                            n.kind.clone()
                        }
                    }
                }
                _ => kind,
            };
            self.ensure_dir(split(&at).0, layer);
            if kind != MKind::Dir {
                self.remove_below(&at);
            }
            mark_upper(&mut upper, &at);
            let node = MNode {
                kind,
                layer,
                implicit: false,
            };
            self.nodes.insert(at, node);
        }
    }
}

/// A path of one to three components from `a`, `b`, `c`, picked by a byte.
fn path_of(b: u8) -> String {
    let segs = 1 + (b % 3) as usize;
    (0..segs)
        .map(|k| ["a", "b", "c"][(b as usize >> (2 + 2 * k)) % 3])
        .collect::<Vec<_>>()
        .join("/")
}

/// One tar member for `name` (a key, or a key with a `.wh.` last component),
/// spelled as `style` picks: plain, `./`, `/`, `//`, a climb that stays inside,
/// a trailing `/` (directories), a PAX `path` or a GNU long name.
fn member(tar: &mut Vec<u8>, name: &str, typeflag: u8, data: &[u8], link: &str, style: u8) {
    let spelled = match style % 8 {
        1 => format!("./{name}"),
        2 => format!("/{name}"),
        3 => name.replacen('/', "//", 1),
        4 => format!("x/../{name}"),
        5 if typeflag == b'5' => format!("{name}/"),
        _ => name.to_string(),
    };
    let mut h = H::new(spelled.as_bytes(), typeflag, data.len()).link(link.as_bytes());
    match style % 8 {
        6 => {
            tar.extend(pax(&pax_record("path", spelled.as_bytes())));
            h.name = b"decoy".to_vec();
        }
        7 => {
            let long = H::new(b"././@LongLink", b'L', spelled.len() + 1);
            tar.extend(entry(&long, format!("{spelled}\0").as_bytes()));
            h.name = b"decoy".to_vec();
        }
        _ => {}
    }
    tar.extend(entry(&h, data));
}

fn read(tar: &[u8], index: usize) -> LayerIndex {
    let desc = BlobDesc {
        digest: None,
        size: None,
        media_type: None,
        member: Some("fuzz".into()),
    };
    let diff_id = super::digest::sha256_of(tar);
    read_layer(
        Box::new(tar),
        &desc,
        &diff_id,
        index,
        &super::contents::ContentSet::all(),
        &super::layer::Listings::default(),
    )
    .expect("a model layer reads")
}

fn render(kind: &Kind, content: Option<&[u8]>) -> MKind {
    match kind {
        Kind::File => MKind::File(content.map(<[u8]>::to_vec).unwrap_or_default()),
        Kind::Dir => MKind::Dir,
        Kind::Symlink(t) => MKind::Sym(t.to_string()),
        Kind::Other(o) => MKind::Sym(format!("(other {o})")),
    }
}

/// Every node's parent is a directory of the same tree, and the tree's own
/// iterators and lookups agree on what is there.
pub fn check_invariants(fs: &FlatFs) {
    let mut n = 0;
    for (k, _) in fs.walk("") {
        n += 1;
        if k.is_empty() {
            continue;
        }
        assert!(
            !k.split('/').any(|c| c.is_empty() || c == "." || c == ".."),
            "key `{k}` is not normalised"
        );
        let parent = split(&k).0;
        assert!(
            fs.get(parent).is_some_and(|p| p.kind == Kind::Dir),
            "`{k}` has no directory parent"
        );
        assert!(fs.get(&k).is_some());
        let _ = fs.lookup(&k);
        let _ = fs.history(&k);
        let _ = fs.provenance(&k);
    }
    assert_eq!(n, fs.len(), "walk and len disagree");
    let top = fs.children("").count();
    assert!(top < fs.len().max(1));
}

/// The tree mode of the `layer` fuzz target; see the module docs.
pub fn fuzz_tree(data: &[u8]) {
    let mut layers: Vec<Vec<Op>> = vec![Vec::new()];
    let mut tars: Vec<Vec<u8>> = vec![Vec::new()];
    for (i, op) in data.chunks_exact(3).take(64).enumerate() {
        let style = op[0] >> 3;
        let path = path_of(op[1]);
        let tar = tars.last_mut().expect("one layer at least");
        let o = match op[0] % 8 {
            0 | 7 => {
                let content: Vec<u8> = (0..op[2] % 40).map(|k| k ^ i as u8).collect();
                member(tar, &path, b'0', &content, "", style);
                Op::File(path, content)
            }
            1 => {
                member(tar, &path, b'5', b"", "", style);
                Op::Dir(path)
            }
            2 => {
                let t = TARGETS[(op[2] % 16) as usize];
                member(tar, &path, b'2', b"", t, style);
                Op::Sym(path, t.to_string())
            }
            3 => {
                let t = path_of(op[2]);
                let spelled = if op[2] & 0x80 != 0 {
                    format!("./{t}")
                } else {
                    t.clone()
                };
                member(tar, &path, b'1', b"", &spelled, style);
                Op::Link(path, t)
            }
            4 => {
                // `.wh.NAME` beside NAME (`NAME/.wh.`, no name, is refused).
                let (d, n) = split(&path);
                let marker = join(d, &format!(".wh.{n}"));
                member(tar, &marker, b'0', b"", "", style);
                Op::Whiteout(path)
            }
            5 => {
                let dir = if op[2] & 1 == 0 { path } else { String::new() };
                member(tar, &join(&dir, ".wh..wh..opq"), b'0', b"", "", style);
                Op::Opaque(dir)
            }
            _ => {
                if layers.len() < 5 {
                    layers.push(Vec::new());
                    tars.push(Vec::new());
                }
                continue;
            }
        };
        layers.last_mut().expect("one layer at least").push(o);
    }
    let mut model = Model::new();
    let mut fs = FlatFs::new(vec![]);
    for (i, (ops, mut tar)) in layers.iter().zip(tars).enumerate() {
        tar.extend(end());
        let idx = read(&tar, i + 1);
        assert!(idx.warnings.is_empty(), "{:?}", idx.warnings);
        fs.apply(i + 1, idx);
        model.apply(i + 1, ops);
    }
    let got: BTreeMap<String, MNode> = fs
        .walk("")
        .map(|(k, n)| {
            let node = MNode {
                kind: render(&n.kind, n.content.as_deref()),
                layer: n.layer,
                implicit: n.implicit,
            };
            (k.clone(), node)
        })
        .collect();
    assert_eq!(
        got, model.nodes,
        "the tree is not the model's; ops {layers:?}"
    );
    let errors: BTreeSet<Code> = fs
        .warnings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .filter(|f| matches!(f.code, Code::RuntimeDivergence | Code::HardlinkDangling))
        .map(|f| f.code)
        .collect();
    assert_eq!(
        errors, model.errors,
        "reported unpack failures; ops {layers:?}"
    );
    check_invariants(&fs);
    if let Some(o) = fs.overlay_reading() {
        check_invariants(o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle is not blind: a layer through a lower symlink lands where the
    /// model says (and the real tree agrees), a hard link to nothing is a
    /// predicted failure, and a missing report of it would fail the comparison.
    #[test]
    fn tree_model_follows_lower_symlinks_and_predicts_failures() {
        const A: u8 = 0; // path_of: `a`
        const B: u8 = 6; // `b`
        const A_C: u8 = 37; // `a/c`
        const B_C: u8 = 40; // `b/c`
        assert_eq!([A, B, A_C, B_C].map(path_of), ["a", "b", "a/c", "b/c"]);
        let sym_a_to_b = [2, A, 1];
        assert_eq!(TARGETS[1], "b");
        let dir_b = [1, B, 0];
        let next_layer = [6, 0, 0];
        let file_a_c = [0, A_C, 1];
        let link_to_missing = [3, B, B_C];
        fuzz_tree(&[sym_a_to_b, dir_b, next_layer, file_a_c].concat());
        fuzz_tree(&[dir_b, link_to_missing].concat());

        let mut m = Model::new();
        m.apply(1, &[Op::Sym("a".into(), "b".into()), Op::Dir("b".into())]);
        m.apply(2, &[Op::File("a/c".into(), vec![3])]);
        assert!(m.nodes.contains_key("b/c") && !m.nodes.contains_key("a/c"));
        assert!(m.errors.is_empty());
        m.apply(3, &[Op::Link("c".into(), "b/x".into())]);
        assert_eq!(m.errors, BTreeSet::from([Code::HardlinkDangling]));
    }
}
