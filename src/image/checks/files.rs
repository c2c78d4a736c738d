//! Spec `[[file]]` and `[[glob]]` rules against the flattened tree: existence, kind,
//! size, mode bits, directory entry counts and glob matches.

use super::unresolved;
use crate::image::fs::{display, FlatFs, Kind};
use crate::image::spec::{FileKind, FileRule, GlobRule};
use crate::report::{CheckOutcome, Code, Finding};

fn build_hint(path: &str) -> &'static str {
    if path.ends_with(".js") || path.ends_with(".mjs") || path.ends_with(".cjs") {
        "the build wrote nothing here: check the compile step's log in the builder stage (`npx tsc` without TypeScript installed runs an unrelated `tsc` package that compiles nothing) and that `COPY --from` copies its output"
    } else {
        "check that the build step that produces it ran in the builder stage and that `COPY --from` copies its output into the final stage"
    }
}

pub fn check(fs: &FlatFs, files: &[FileRule], globs: &[GlobRule]) -> CheckOutcome {
    let mut findings = Vec::new();
    for rule in files {
        let p = rule.path.as_str();
        let resolved = if rule.follow_symlinks {
            fs.resolve(p, true)
        } else {
            fs.resolve(p, false)
        };
        let key = match resolved {
            Ok(k) => k,
            Err(e) => {
                findings.push(unresolved(fs, p, &e, Code::FileMissing, "").hint(build_hint(p)));
                continue;
            }
        };
        let Some(node) = fs.get(&key) else {
            findings
                .push(Finding::error(Code::FileMissing, p, "does not exist").hint(build_hint(p)));
            continue;
        };
        let prov = || fs.provenance(&display(&key));
        let actual = match node.kind {
            Kind::File => Some(FileKind::File),
            Kind::Dir => Some(FileKind::Dir),
            Kind::Symlink(_) => Some(FileKind::Symlink),
            Kind::Other(_) => None,
        };
        if let Some(want) = rule.kind {
            if actual != Some(want) {
                findings.push(
                    Finding::error(
                        Code::FileWrongKind,
                        p,
                        format!("is a {}, not a {}", node.kind.name(), want.name()),
                    )
                    .provenance(prov()),
                );
                continue;
            }
        }
        if let Some(min) = rule.min_size {
            if node.kind == Kind::File && node.size < min {
                let f = if node.size == 0 {
                    Finding::error(Code::FileEmpty, p, "is empty (0 bytes)")
                } else {
                    Finding::error(
                        Code::FileTooSmall,
                        p,
                        format!(
                            "is {} bytes, less than the {min} the spec requires",
                            node.size
                        ),
                    )
                };
                findings.push(f.provenance(prov()).hint(build_hint(p)));
            }
        }
        if let Some(bits) = rule.mode {
            if node.mode & bits != bits {
                findings.push(
                    Finding::error(
                        Code::FileMode,
                        p,
                        format!(
                            "has mode `{:04o}`, lacking bits `{:04o}`",
                            node.mode,
                            bits & !node.mode
                        ),
                    )
                    .provenance(prov())
                    .hint(format!(
                        "`chmod {:o}` it in the Dockerfile, or `COPY --chmod`",
                        node.mode | bits
                    )),
                );
            }
        }
        if let Some(min) = rule.min_entries {
            let n = fs.children(&key).count();
            if node.kind != Kind::Dir {
                findings.push(
                    Finding::error(
                        Code::FileWrongKind,
                        p,
                        format!("is a {}, not a dir", node.kind.name()),
                    )
                    .provenance(prov()),
                );
            } else if n < min {
                let msg = if n == 0 {
                    "is an empty directory".to_string()
                } else {
                    format!("has {n} entries, fewer than the {min} the spec requires")
                };
                findings.push(
                    Finding::error(Code::DirTooFewEntries, p, msg)
                        .provenance(prov())
                        .hint(build_hint(p)),
                );
            }
        }
    }
    for g in globs {
        let matches = fs
            .walk("")
            .filter(|(k, _)| !k.is_empty() && g.matcher.is_match(display(k)))
            .count();
        if matches < g.min_matches {
            let base = g.pattern.split(['*', '?', '[', '{']).next().unwrap_or("/");
            let dir = base.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            findings.push(
                Finding::error(
                    Code::GlobNoMatch,
                    &g.pattern,
                    format!(
                        "matches {matches} paths, fewer than the {} the spec requires",
                        g.min_matches
                    ),
                )
                .provenance(fs.provenance(if dir.is_empty() { "/" } else { dir }))
                .hint(build_hint(&g.pattern)),
            );
        }
    }
    let n = files.len() + globs.len();
    CheckOutcome::from_findings("files", findings).detail(format!("{n} rules"))
}
