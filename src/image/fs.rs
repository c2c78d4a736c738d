//! The flattened filesystem: layers applied in order, as the OCI image spec says.
//!
//! Each path keeps the layer that last wrote it, and every write, replacement and
//! deletion is remembered in its history so `why PATH` can tell the whole story.
//! Symlinks are resolved inside the image root (absolute targets and `..` never
//! leave it) with a hop limit, as the kernel would inside the container.

use super::layer::{EntryKind, LayerIndex, RawEntry};
use crate::report::{Code, Finding};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Linux gives up after 40 symlink hops (ELOOP); so do we.
pub const MAX_HOPS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
    Other(&'static str),
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Symlink(_) => "symlink",
            Kind::Other(o) => o,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub size: u64,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// 1-based index of the layer that last wrote this path.
    pub layer: usize,
    /// Set when this file came from a hard link: the path it links to.
    pub hardlink_of: Option<String>,
    pub content: Option<Arc<[u8]>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Added(String),
    Replaced(String),
    Updated,
    DeletedByWhiteout,
    /// Hidden by an opaque marker on this ancestor directory.
    HiddenByOpaque(String),
    /// An ancestor was whited out or replaced by a non-directory.
    DeletedWithParent(String),
}

#[derive(Debug, Clone)]
pub struct Event {
    pub layer: usize,
    pub action: Action,
}

/// A layer's identity, for provenance lines.
#[derive(Debug, Clone, Default)]
pub struct LayerInfo {
    pub digest: String,
    pub created_by: Option<String>,
}

#[derive(Debug, Default)]
pub struct FlatFs {
    nodes: BTreeMap<String, Node>,
    history: HashMap<String, Vec<Event>>,
    pub layers: Vec<LayerInfo>,
    pub warnings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// This path (a prefix of the one asked for, after links) does not exist.
    NotFound(String),
    /// A path component that must be a directory is not one.
    NotDir(String),
    Loop(String),
}

/// `/a/b/` and `a/b` both name `a/b`; the root is the empty string.
pub fn key(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

pub fn display(key: &str) -> String {
    format!("/{key}")
}

fn parent_of(key: &str) -> Option<&str> {
    if key.is_empty() {
        None
    } else {
        Some(key.rsplit_once('/').map(|(p, _)| p).unwrap_or(""))
    }
}

fn child_prefix(dir: &str) -> String {
    if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    }
}

impl FlatFs {
    pub fn new(layers: Vec<LayerInfo>) -> Self {
        let mut fs = FlatFs {
            layers,
            ..Default::default()
        };
        fs.nodes.insert(String::new(), implicit_dir(0));
        fs
    }

    fn record(&mut self, path: &str, layer: usize, action: Action) {
        self.history
            .entry(path.to_string())
            .or_default()
            .push(Event { layer, action });
    }

    /// Removes `path` and everything under it, recording why.
    fn remove_tree(&mut self, path: &str, layer: usize, why: Action, why_children: Action) {
        if self.nodes.remove(path).is_some() {
            self.record(path, layer, why);
        }
        self.remove_children(path, layer, why_children);
    }

    fn remove_children(&mut self, dir: &str, layer: usize, why: Action) {
        let prefix = child_prefix(dir);
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.nodes.remove(&k);
            self.record(&k, layer, why.clone());
        }
    }

    /// Applies one layer: its whiteouts and opaque markers hide lower layers only,
    /// then its entries are written in archive order.
    pub fn apply(&mut self, layer: usize, idx: LayerIndex) {
        for w in &idx.whiteouts {
            let gone = display(w);
            self.remove_tree(
                w,
                layer,
                Action::DeletedByWhiteout,
                Action::DeletedWithParent(gone),
            );
        }
        for d in &idx.opaques {
            self.remove_children(d, layer, Action::HiddenByOpaque(display(d)));
        }
        self.warnings.extend(idx.warnings);
        for e in idx.entries {
            self.write(layer, e);
        }
    }

    fn ensure_parents(&mut self, path: &str, layer: usize) {
        let mut ancestors = Vec::new();
        let mut p = parent_of(path);
        while let Some(a) = p {
            if a.is_empty() {
                break;
            }
            ancestors.push(a.to_string());
            p = parent_of(a);
        }
        for a in ancestors.into_iter().rev() {
            match self.nodes.get(&a) {
                Some(n) if n.kind == Kind::Dir => {}
                Some(n) => {
                    let was = n.kind.name();
                    self.nodes.insert(a.clone(), implicit_dir(layer));
                    self.record(
                        &a,
                        layer,
                        Action::Replaced(format!("{was} replaced by an implicit directory")),
                    );
                }
                None => {
                    self.nodes.insert(a.clone(), implicit_dir(layer));
                    self.record(&a, layer, Action::Added("dir (implicit parent)".into()));
                }
            }
        }
    }

    fn write(&mut self, layer: usize, e: RawEntry) {
        let (kind, size, content, hardlink_of) = match e.kind {
            EntryKind::File => (Kind::File, e.size, e.content, None),
            EntryKind::Dir => (Kind::Dir, 0, None, None),
            EntryKind::Symlink(t) => (Kind::Symlink(t), 0, None, None),
            EntryKind::Other(o) => (Kind::Other(o), 0, None, None),
            EntryKind::Hardlink(target) => match self.nodes.get(&target) {
                Some(t) if t.kind == Kind::File => {
                    (Kind::File, t.size, t.content.clone(), Some(target))
                }
                _ => {
                    self.warnings.push(
                        Finding::warning(
                            Code::HardlinkDangling,
                            display(&e.path),
                            format!("hard link to `{}`, which is not a regular file at this point; dropped", display(&target)),
                        )
                        .provenance(Some(format!("layer {layer}"))),
                    );
                    return;
                }
            },
        };
        self.ensure_parents(&e.path, layer);
        let describe = |k: &Kind| match k {
            Kind::File => format!("file, {size} bytes"),
            Kind::Symlink(t) => format!("symlink -> {t}"),
            other => other.name().to_string(),
        };
        let action = match self.nodes.get(&e.path) {
            Some(old) if old.kind == Kind::Dir && kind == Kind::Dir => Action::Updated,
            Some(old) if old.kind == Kind::Dir => {
                let gone = display(&e.path);
                self.remove_children(&e.path, layer, Action::DeletedWithParent(gone));
                Action::Replaced(format!("dir replaced by {}", describe(&kind)))
            }
            Some(old) => Action::Replaced(format!(
                "{} replaced by {}",
                old.kind.name(),
                describe(&kind)
            )),
            None => Action::Added(describe(&kind)),
        };
        self.record(&e.path, layer, action);
        self.nodes.insert(
            e.path,
            Node {
                kind,
                size,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                layer,
                hardlink_of,
                content,
            },
        );
    }

    /// The node at `path` itself, without following a final symlink.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(&key(path))
    }

    /// Resolves `path` inside the image root. Intermediate symlinks are always
    /// followed; the last one only when `follow_last`.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Result<String, ResolveError> {
        let mut pending: Vec<String> = key(path)
            .split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(String::from)
            .collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            if c == "." || c.is_empty() {
                continue;
            }
            if c == ".." {
                cur.pop();
                continue;
            }
            let mut candidate = cur.clone();
            candidate.push(c.clone());
            let ck = candidate.join("/");
            match self.nodes.get(&ck) {
                None => return Err(ResolveError::NotFound(ck)),
                Some(Node {
                    kind: Kind::Symlink(target),
                    ..
                }) if follow_last || !pending.is_empty() => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(ResolveError::Loop(ck));
                    }
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    for t in target.split('/').rev() {
                        if !t.is_empty() {
                            pending.push(t.to_string());
                        }
                    }
                }
                Some(n) => {
                    if !pending.is_empty() && n.kind != Kind::Dir {
                        return Err(ResolveError::NotDir(ck));
                    }
                    cur.push(c);
                }
            }
        }
        Ok(cur.join("/"))
    }

    /// Follows symlinks and returns the final node with its key.
    pub fn lookup(&self, path: &str) -> Result<(String, &Node), ResolveError> {
        let k = self.resolve(path, true)?;
        let node = self
            .nodes
            .get(&k)
            .ok_or_else(|| ResolveError::NotFound(k.clone()))?;
        Ok((k, node))
    }

    /// Immediate children of a directory key.
    pub fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        let prefix = child_prefix(dir);
        let plen = prefix.len();
        self.nodes
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(move |(k, _)| !k.is_empty() && !k[plen..].contains('/'))
    }

    /// Everything at and below a key, in path order.
    pub fn walk<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        let root = dir.to_string();
        let prefix = child_prefix(dir);
        self.nodes
            .range(root.clone()..)
            .take_while(move |(k, _)| **k == root || k.starts_with(&prefix))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    pub fn history(&self, path: &str) -> &[Event] {
        self.history
            .get(&key(path))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn layer_label(&self, layer: usize) -> String {
        let n = self.layers.len();
        match self.layers.get(layer.wrapping_sub(1)) {
            Some(info) => {
                let mut s = format!("layer {layer}/{n} ({})", info.digest);
                if let Some(c) = &info.created_by {
                    let c = c
                        .trim_start_matches("/bin/sh -c ")
                        .trim_start_matches("#(nop) ")
                        .trim();
                    let short: String = c.chars().take(80).collect();
                    s.push_str(&format!(": {short}"));
                    if c.chars().count() > 80 {
                        s.push('…');
                    }
                }
                s
            }
            None => format!("layer {layer}"),
        }
    }

    /// Where a path came from (the layer that wrote it), or for a missing path the
    /// layer that deleted it or one of its parents.
    pub fn provenance(&self, path: &str) -> Option<String> {
        let k = key(path);
        if let Some(n) = self.nodes.get(&k) {
            return Some(format!("written by {}", self.layer_label(n.layer)));
        }
        let mut p = Some(k.as_str());
        while let Some(cur) = p {
            if let Some(last) = self.history.get(cur).and_then(|h| h.last()) {
                let how = match &last.action {
                    Action::DeletedByWhiteout => {
                        format!("`{}` deleted by a whiteout in", display(cur))
                    }
                    Action::HiddenByOpaque(d) => {
                        format!("`{}` hidden by opaque directory `{d}` in", display(cur))
                    }
                    Action::DeletedWithParent(d) => {
                        format!("`{}` removed with `{d}` in", display(cur))
                    }
                    _ => break,
                };
                return Some(format!("{how} {}", self.layer_label(last.layer)));
            }
            p = parent_of(cur);
        }
        None
    }
}

fn implicit_dir(layer: usize) -> Node {
    Node {
        kind: Kind::Dir,
        size: 0,
        mode: 0o755,
        uid: 0,
        gid: 0,
        layer,
        hardlink_of: None,
        content: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind, size: u64) -> RawEntry {
        RawEntry {
            path: path.into(),
            kind,
            size,
            mode: 0o644,
            uid: 0,
            gid: 0,
            content: None,
        }
    }

    fn layer(entries: Vec<RawEntry>, whiteouts: &[&str], opaques: &[&str]) -> LayerIndex {
        LayerIndex {
            entries,
            whiteouts: whiteouts.iter().map(|s| s.to_string()).collect(),
            opaques: opaques.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn whiteouts_and_opaques_hit_lower_layers_only() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("app/dist/index.js", EntryKind::File, 10),
                    entry("app/dist/a.js", EntryKind::File, 1),
                ],
                &[],
                &[],
            ),
        );
        // Same layer writes b.js and an opaque marker: b.js survives, lower a.js does not.
        fs.apply(
            2,
            layer(
                vec![entry("app/dist/b.js", EntryKind::File, 1)],
                &["app/dist/index.js"],
                &["app/dist"],
            ),
        );
        assert!(fs.get("/app/dist/b.js").is_some());
        assert!(fs.get("/app/dist/a.js").is_none());
        assert!(fs.get("/app/dist/index.js").is_none());
        assert!(fs.provenance("/app/dist/a.js").unwrap().contains("opaque"));
        assert_eq!(fs.history("/app/dist/index.js").len(), 2);
    }

    #[test]
    fn dir_replaced_by_file_and_back() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(1, layer(vec![entry("a/b/c", EntryKind::File, 1)], &[], &[]));
        fs.apply(2, layer(vec![entry("a/b", EntryKind::File, 5)], &[], &[]));
        assert_eq!(fs.get("a/b").unwrap().kind, Kind::File);
        assert!(fs.get("a/b/c").is_none());
        fs.apply(3, layer(vec![entry("a/b/d", EntryKind::File, 1)], &[], &[]));
        assert_eq!(fs.get("a/b").unwrap().kind, Kind::Dir);
    }

    #[test]
    fn symlinks_resolve_inside_root() {
        let mut fs = FlatFs::new(vec![]);
        fs.apply(
            1,
            layer(
                vec![
                    entry("app/real.js", EntryKind::File, 3),
                    entry("app/link.js", EntryKind::Symlink("real.js".into()), 0),
                    entry("app/abs", EntryKind::Symlink("/app/real.js".into()), 0),
                    entry(
                        "app/up",
                        EntryKind::Symlink("../../../../app/real.js".into()),
                        0,
                    ),
                    entry("loop1", EntryKind::Symlink("loop2".into()), 0),
                    entry("loop2", EntryKind::Symlink("loop1".into()), 0),
                    entry("dangling", EntryKind::Symlink("nowhere".into()), 0),
                    entry("h", EntryKind::Hardlink("app/real.js".into()), 0),
                ],
                &[],
                &[],
            ),
        );
        assert_eq!(fs.resolve("/app/link.js", true).unwrap(), "app/real.js");
        assert_eq!(fs.resolve("/app/abs", true).unwrap(), "app/real.js");
        assert_eq!(fs.resolve("/app/up", true).unwrap(), "app/real.js");
        assert!(matches!(
            fs.resolve("/loop1", true),
            Err(ResolveError::Loop(_))
        ));
        assert_eq!(
            fs.resolve("/dangling", true),
            Err(ResolveError::NotFound("nowhere".into()))
        );
        assert_eq!(fs.resolve("/dangling", false).unwrap(), "dangling");
        assert_eq!(fs.get("h").unwrap().size, 3);
        assert_eq!(fs.children("app").count(), 4);
    }
}
