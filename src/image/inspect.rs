//! The debugging verbs: `ls` (the flattened tree with provenance), `cat` (a file's
//! bytes) and `why` (every layer that touched a path). Output goes to any writer.

use super::fs::{display, key, Action, Kind, Node};
use super::Loaded;
use std::io::{self, Write};

fn mode_string(n: &Node) -> String {
    let t = match n.kind {
        Kind::Dir => 'd',
        Kind::Symlink(_) => 'l',
        Kind::File => '-',
        Kind::Other("char-device") => 'c',
        Kind::Other("block-device") => 'b',
        Kind::Other(_) => 'p',
    };
    let mut s = String::from(t);
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        s.push(if n.mode & (1 << (8 - i)) != 0 { c } else { '-' });
    }
    s
}

fn line(k: &str, n: &Node) -> String {
    let mut s = format!(
        "{} {:>5}:{:<5} {:>10}  L{:<2} {}",
        mode_string(n),
        n.uid,
        n.gid,
        n.size,
        n.layer,
        display(k)
    );
    if let Kind::Symlink(t) = &n.kind {
        s.push_str(&format!(" -> {t}"));
    }
    if let Some(h) = &n.hardlink_of {
        s.push_str(&format!(" (hard link to {})", display(h)));
    }
    s
}

/// Lists `path` (following symlinks to a directory) and everything below it.
pub fn ls(img: &Loaded, path: &str, w: &mut dyn Write) -> io::Result<bool> {
    let fs = &img.fs;
    let k = match fs.resolve(path, true) {
        Ok(k) if fs.get(&k).is_some() => k,
        _ => match fs.get(path) {
            Some(_) => key(path),
            None => return Ok(false),
        },
    };
    for (p, n) in fs.walk(&k) {
        if p.is_empty() {
            continue;
        }
        writeln!(w, "{}", line(p, n))?;
    }
    writeln!(w, "# layers:")?;
    for i in 1..=fs.layers.len() {
        writeln!(w, "#   {}", fs.layer_label(i))?;
    }
    Ok(true)
}

/// Every layer that wrote, replaced or deleted `path` (or deleted a parent of it).
pub fn why(img: &Loaded, path: &str, w: &mut dyn Write) -> io::Result<()> {
    let fs = &img.fs;
    let k = key(path);
    writeln!(w, "{}", display(&k))?;
    let events = fs.history(&k);
    if events.is_empty() {
        writeln!(w, "  no layer ever wrote or deleted it")?;
    }
    for e in events {
        let what = match &e.action {
            Action::Added(d) => format!("added ({d})"),
            Action::Replaced(d) => format!("replaced ({d})"),
            Action::Updated => "metadata rewritten".to_string(),
            Action::DeletedByWhiteout => "deleted by a whiteout".to_string(),
            Action::HiddenByOpaque(d) => format!("hidden: `{d}` was made opaque"),
            Action::DeletedWithParent(d) => format!("removed with `{d}`"),
        };
        writeln!(w, "  {}: {what}", fs.layer_label(e.layer))?;
    }
    match fs.get(&k) {
        Some(n) => {
            write!(w, "  now: {}", line(&k, n))?;
            match fs.resolve(&k, true) {
                Ok(r) if r != k => writeln!(w, "\n  resolves to {}", display(&r))?,
                Err(e) => writeln!(w, "\n  does not resolve: {e:?}")?,
                _ => writeln!(w)?,
            }
        }
        None => writeln!(w, "  now: absent")?,
    }
    Ok(())
}

pub fn content_of<'a>(img: &'a Loaded, path: &str) -> Result<(String, &'a Node), String> {
    match img.fs.lookup(path) {
        Ok((k, n)) if n.kind == Kind::File => Ok((k, n)),
        Ok((k, n)) => Err(format!(
            "`{}` is a {}, not a file",
            display(&k),
            n.kind.name()
        )),
        Err(_) => Err(format!("`{path}` does not exist in the image")),
    }
}
