//! USER must name a user the image's `/etc/passwd` knows, or the runtime refuses
//! to start the container (`unable to find user node: no matching entries`).
//!
//! The runtime opens `/etc/passwd` inside the container, so a symlinked `/etc`, a
//! symlinked `passwd` or a hard link are read through, as the kernel would.

use crate::image::fs::{FlatFs, Kind};
use crate::image::layer::MAX_CONTENT;
use crate::report::{CheckOutcome, Code, Finding};

pub const PASSWD: &str = "etc/passwd";

/// What this check reads: `/etc/passwd` (and, on a second read, whatever it
/// turned out to be linked to: [`content_sources`]).
pub fn contents() -> crate::image::contents::ContentSet {
    crate::image::contents::ContentSet::none().with_path(PASSWD)
}

/// The layer paths whose contents the check needs but the first read could not
/// name: `/etc/passwd` behind a symlink or hard link, in either runtime reading.
/// Reading the image again keeping these makes the check able to run.
pub fn content_sources(fs: &FlatFs) -> Vec<String> {
    let mut out = Vec::new();
    for tree in std::iter::once(fs).chain(fs.overlay_reading()) {
        if let Ok((k, n)) = tree.lookup(PASSWD) {
            if n.kind == Kind::File && n.content.is_none() && n.size <= MAX_CONTENT {
                let src = tree.source_path(&k);
                if src != PASSWD && !out.contains(&src) {
                    out.push(src);
                }
            }
        }
    }
    out
}

pub fn check(fs: &FlatFs, user: &str) -> CheckOutcome {
    let name = user.split(':').next().unwrap_or("");
    if name.is_empty() || name.bytes().all(|b| b.is_ascii_digit()) {
        // Root by default, or a numeric UID: the runtime needs no passwd entry.
        let who = if name.is_empty() {
            "root (no USER)".to_string()
        } else {
            format!("uid {name}")
        };
        return CheckOutcome::from_findings("user", vec![]).detail(format!("runs as {who}"));
    }
    let (key, node) = match fs.lookup(PASSWD) {
        Ok(found) => found,
        Err(_) => {
            return CheckOutcome::from_findings(
                "user",
                vec![Finding::error(Code::UserUnknown, user, format!("USER is `{user}` but the image has no `/etc/passwd`"))
                    .provenance(fs.provenance("/etc/passwd"))
                    .hint("add the user in the final stage (`RUN adduser …`), or use a numeric `USER 1000:1000`")],
            )
        }
    };
    let via = if key == PASSWD {
        String::new()
    } else {
        format!(" (read through links at `/{key}`)")
    };
    if node.kind != Kind::File {
        return CheckOutcome::from_findings(
            "user",
            vec![Finding::error(
                Code::UserUnknown,
                user,
                format!(
                    "USER is `{user}` but `/etc/passwd` resolves to `/{key}`, a {}; the runtime cannot read users from it",
                    node.kind.name()
                ),
            )
            .provenance(fs.provenance(&format!("/{key}")))
            .hint("make `/etc/passwd` a regular file, or use a numeric `USER 1000:1000`")],
        );
    }
    let Some(content) = &node.content else {
        let why = if node.size > MAX_CONTENT {
            format!(
                "is {} bytes, more than the {} MiB image-check reads",
                node.size,
                MAX_CONTENT >> 20
            )
        } else {
            "could not be read".to_string()
        };
        return CheckOutcome::not_run(
            "user",
            Finding::error(
                Code::UserUnknown,
                user,
                format!("`/etc/passwd` resolves to `/{key}`, which {why}"),
            ),
        );
    };
    let found = String::from_utf8_lossy(content)
        .lines()
        .any(|l| l.split(':').next() == Some(name));
    if found {
        CheckOutcome::from_findings("user", vec![])
            .detail(format!("`{name}` is in /etc/passwd{via}"))
    } else {
        CheckOutcome::from_findings(
            "user",
            vec![Finding::error(Code::UserUnknown, user, format!("USER is `{user}` but `/etc/passwd`{via} has no `{name}`; the container cannot start"))
                .provenance(fs.provenance(&format!("/{key}")))
                .hint(format!("create it before `USER` (`RUN useradd -r {name}` or `adduser -D {name}`), or use a numeric `USER 1000:1000`"))],
        )
    }
}
