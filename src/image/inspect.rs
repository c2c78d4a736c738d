//! The debugging verbs: `ls` (the flattened tree with provenance), `cat` (a file's
//! bytes) and `why` (every layer that touched a path). Output goes to any writer.

use super::fs::{display, Action, Kind, Node};
use super::Loaded;
use crate::report::render::escape_line;
use std::io::{self, Write};

/// A path the user typed, made a key lexically as the kernel would at the root:
/// `.` and empty components go, `..` pops one (and stays at the root at the top).
pub fn user_key(path: &str) -> String {
    super::layer::clamp(path).0
}

/// How a key is shown: with its leading `/` and control characters escaped.
fn shown(k: &str) -> String {
    escape_line(&display(k)).into_owned()
}

pub(crate) fn mode_string(n: &Node<'_>) -> String {
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
    // setuid, setgid and sticky replace the x of their triple, as `ls -l` shows
    // them: lower case over an x, upper case where the x bit is absent.
    let mut b: Vec<char> = s.chars().collect();
    for (bit, pos, over_x, alone) in [
        (0o4000, 3, 's', 'S'),
        (0o2000, 6, 's', 'S'),
        (0o1000, 9, 't', 'T'),
    ] {
        if n.mode & bit != 0 {
            b[pos] = if b[pos] == 'x' { over_x } else { alone };
        }
    }
    b.into_iter().collect()
}

fn line(k: &str, n: &Node<'_>) -> String {
    let mut s = format!(
        "{} {:>5}:{:<5} {:>10}  L{:<2} {}",
        mode_string(n),
        n.uid,
        n.gid,
        n.size,
        n.layer,
        shown(k)
    );
    if let Kind::Symlink(t) = &n.kind {
        s.push_str(&format!(" -> {}", escape_line(t)));
    }
    if let Some(h) = n.hardlink_of {
        s.push_str(&format!(" (hard link to {})", shown(h)));
    }
    s
}

/// Every entry strictly below `dir`, in path order (a sibling that shares the
/// prefix, `/app-old` beside `/app`, sorts between `app` and `app/…` and is
/// not below it: the tree's walk keeps to `dir`'s own children).
fn below<'a>(
    fs: &'a super::fs::FlatFs,
    dir: &str,
) -> impl Iterator<Item = (String, Node<'a>)> + 'a {
    fs.walk(dir).skip(1)
}

/// Lists `path` (following symlinks to a directory) and everything below it.
pub fn ls(img: &Loaded, path: &str, w: &mut dyn Write) -> io::Result<bool> {
    let fs = &img.fs;
    let uk = user_key(path);
    // The root always exists, even when a layer whited out or replaced its entry.
    let k = match fs.resolve(&uk, true) {
        Ok(k) if k.is_empty() || fs.get(&k).is_some() => k,
        _ if uk.is_empty() => uk,
        _ => match fs.get(&uk) {
            Some(_) => uk,
            None => return Ok(false),
        },
    };
    if let Some(n) = fs.get(&k).filter(|_| !k.is_empty()) {
        writeln!(w, "{}", line(&k, &n))?;
    }
    for (p, n) in below(fs, &k) {
        writeln!(w, "{}", line(&p, &n))?;
    }
    writeln!(w, "# layers:")?;
    for i in 1..=fs.layers.len() {
        writeln!(w, "#   {}", escape_line(&fs.layer_label(i)))?;
    }
    Ok(true)
}

/// Every layer that wrote, replaced or deleted `path` (or deleted a parent of it).
pub fn why(img: &Loaded, path: &str, w: &mut dyn Write) -> io::Result<()> {
    let fs = &img.fs;
    let k = user_key(path);
    writeln!(w, "{}", shown(&k))?;
    let events = fs.history(&k);
    if events.is_empty() {
        writeln!(w, "  no layer ever wrote or deleted it")?;
    }
    for e in events {
        let what = match &e.action {
            Action::Added(d) => format!("added ({})", escape_line(d)),
            Action::Replaced(d) => format!("replaced ({})", escape_line(d)),
            Action::Updated => "metadata rewritten".to_string(),
            Action::DeletedByWhiteout => "deleted by a whiteout".to_string(),
            Action::HiddenByOpaque(d) => format!("hidden: `{}` was made opaque", escape_line(d)),
            Action::DeletedWithParent(d) => format!("removed with `{}`", escape_line(d)),
        };
        writeln!(w, "  {}: {what}", escape_line(&fs.layer_label(e.layer)))?;
    }
    match fs.get(&k) {
        Some(n) => {
            write!(w, "  now: {}", line(&k, &n))?;
            match fs.resolve(&k, true) {
                Ok(r) if r != k => writeln!(w, "\n  resolves to {}", shown(&r))?,
                Err(e) => writeln!(
                    w,
                    "\n  does not resolve: {}",
                    escape_line(&format!("{e:?}"))
                )?,
                _ => writeln!(w)?,
            }
        }
        None => writeln!(w, "  now: absent")?,
    }
    Ok(())
}

pub fn content_of<'a>(img: &'a Loaded, path: &str) -> Result<(String, Node<'a>), String> {
    match img.fs.lookup(&user_key(path)) {
        Ok((k, n)) if n.kind == Kind::File => Ok((k, n)),
        Ok((k, n)) => Err(format!(
            "`{}` is a {}, not a file",
            shown(&k),
            n.kind.name()
        )),
        Err(_) => Err(format!(
            "`{}` does not exist in the image",
            escape_line(path)
        )),
    }
}
