//! USER must name a user the image's `/etc/passwd` knows, or the runtime refuses
//! to start the container (`unable to find user node: no matching entries`).

use crate::image::fs::FlatFs;
use crate::report::{CheckOutcome, Code, Finding};

pub const PASSWD: &str = "etc/passwd";

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
    let found = match fs.lookup(PASSWD) {
        Err(_) => {
            return CheckOutcome::from_findings(
                "user",
                vec![Finding::error(Code::UserUnknown, user, format!("USER is `{user}` but the image has no `/etc/passwd`"))
                    .provenance(fs.provenance("/etc/passwd"))
                    .hint("add the user in the final stage (`RUN adduser …`), or use a numeric `USER 1000:1000`")],
            )
        }
        Ok((key, node)) => match &node.content {
            Some(c) => String::from_utf8_lossy(c)
                .lines()
                .any(|l| l.split(':').next() == Some(name)),
            None => {
                return CheckOutcome::not_run(
                    "user",
                    Finding::error(Code::UserUnknown, user, format!("`/etc/passwd` resolves to `/{key}`, which could not be read")),
                )
            }
        },
    };
    if found {
        CheckOutcome::from_findings("user", vec![]).detail(format!("`{name}` is in /etc/passwd"))
    } else {
        CheckOutcome::from_findings(
            "user",
            vec![Finding::error(Code::UserUnknown, user, format!("USER is `{user}` but `/etc/passwd` has no `{name}`; the container cannot start"))
                .provenance(fs.provenance("/etc/passwd"))
                .hint(format!("create it before `USER` (`RUN useradd -r {name}` or `adduser -D {name}`), or use a numeric `USER 1000:1000`"))],
        )
    }
}
