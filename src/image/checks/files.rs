//! Spec `[[file]]` and `[[glob]]` rules against the flattened tree: existence, kind,
//! size, mode bits, directory entry counts, static executables and glob matches.

use super::elf::{classify, Exec};
use super::unresolved;
use crate::image::contents::ContentSet;
use crate::image::contents::HEAD_BYTES;
use crate::image::fs::{display, key, FlatFs, Kind, Node};
use crate::image::spec::{FileKind, FileRule, GlobRule};
use crate::report::{CheckOutcome, Code, Finding};

fn build_hint(path: &str) -> &'static str {
    if path.ends_with(".js") || path.ends_with(".mjs") || path.ends_with(".cjs") {
        "the build wrote nothing here: check the compile step's log in the builder stage (`npx tsc` without TypeScript installed runs an unrelated `tsc` package that compiles nothing) and that `COPY --from` copies its output"
    } else {
        "check that the build step that produces it ran in the builder stage and that `COPY --from` copies its output into the final stage"
    }
}

/// What this check reads: the first bytes of the files a rule marks
/// `static = true` (their ELF headers decide, whatever the file's size).
pub fn contents(files: &[FileRule]) -> ContentSet {
    files
        .iter()
        .filter(|r| r.static_binary)
        .fold(ContentSet::none(), |set, r| set.with_head(&r.path))
}

/// The layer paths whose heads a `static = true` rule needs but the first read
/// could not name: the rule's path is a symlink or a hard link, so the bytes sit
/// elsewhere.
pub fn content_sources(fs: &FlatFs, files: &[FileRule]) -> Vec<String> {
    let mut out = Vec::new();
    for tree in std::iter::once(fs).chain(fs.overlay_reading()) {
        for r in files.iter().filter(|r| r.static_binary) {
            let Ok(k) = tree.resolve(&r.path, r.follow_symlinks) else {
                continue;
            };
            let Some(n) = tree.get(&k) else { continue };
            if n.kind == Kind::File && n.content.is_none() {
                let src = tree.source_path(&k);
                if !out.contains(&src) {
                    out.push(src);
                }
            }
        }
    }
    out
}

/// A `static = true` rule on a file: a finding unless the kernel could start it
/// in an image with nothing else in it.
fn not_static(p: &str, node: &Node<'_>, arch: &str) -> Option<Finding> {
    let scratch_hint = "build it statically (Rust: the `x86_64-unknown-linux-musl` target, or `-C target-feature=+crt-static`; Go: `CGO_ENABLED=0`), or base the stage on an image that has its loader";
    if node.kind != Kind::File {
        return Some(Finding::error(
            Code::FileWrongKind,
            p,
            format!(
                "is a {}, not a file, so it cannot be a static executable",
                node.kind.name()
            ),
        ));
    }
    let Some(bytes) = &node.content else {
        return Some(Finding::error(
            Code::FileNotStatic,
            p,
            "could not be read, so whether it is static was not checked",
        ));
    };
    let exec = classify(bytes, node.size);
    // Only an executable the header reading accepted has a machine worth naming
    // (a broken class byte is said as such, not as another architecture).
    if matches!(exec, Exec::Static | Exec::Dynamic(_)) {
        if let Some(why) = super::elf::wrong_machine(bytes, arch) {
            return Some(Finding::error(Code::FileNotStatic, p, why).hint(
                "build it for the image's platform (`--target`, `GOARCH`, `docker buildx --platform`)",
            ));
        }
    }
    match exec {
        Exec::Static => None,
        Exec::Dynamic(loader) => Some(
            Finding::error(
                Code::FileNotStatic,
                p,
                format!(
                    "is dynamically linked: the kernel needs its loader `{loader}` to start it"
                ),
            )
            .hint(scratch_hint),
        ),
        Exec::NotElf(why) => {
            Some(Finding::error(Code::FileNotStatic, p, why.to_string()).hint(scratch_hint))
        }
        Exec::Unread => Some(Finding::error(
            Code::FileNotStatic,
            p,
            format!(
                "has its ELF program headers past the first {} KiB image-check reads, so whether it is static was not checked",
                HEAD_BYTES >> 10
            ),
        )),
    }
}

/// The most paths one glob visits; symlinked directories can make the tree a glob
/// sees much larger than the image (pnpm's `node_modules` links to itself).
pub const GLOB_MAX_VISITS: usize = 1_000_000;

/// How many paths `g` matches, and whether every path was visited. Paths are seen
/// as `[[file]]` rules see them: a symlinked directory is entered, and what lies
/// below it matches under the link's own path (`/app/dist/*.js` through
/// `/app/dist -> /build/out`). A link to a directory already on the way down is
/// not entered again, so cycles end.
fn glob_count(
    fs: &FlatFs,
    g: &crate::image::spec::GlobRule,
    matcher: &globset::GlobSet,
) -> (usize, bool) {
    // Start at the deepest directory the pattern names literally.
    let literal = g.pattern.split(['*', '?', '[', '{']).next().unwrap_or("/");
    let literal_dir = match literal.rsplit_once('/') {
        Some((d, _)) => d,
        None => "",
    };
    let start_virtual = key(literal_dir);
    let Ok(start_real) = fs.resolve(&start_virtual, true) else {
        return (0, true);
    };
    let is_dir = |k: &str| k.is_empty() || fs.get(k).is_some_and(|n| n.kind == Kind::Dir);
    if !is_dir(&start_real) {
        return (0, true);
    }
    let within =
        |dir: &str, k: &str| dir.is_empty() || k == dir || k.starts_with(&format!("{dir}/"));
    let mut matches = 0;
    let mut visits = 0;
    // (virtual dir, real dir, real dirs on the way down)
    let mut stack: Vec<(String, String, Vec<String>)> =
        vec![(start_virtual, start_real.clone(), vec![start_real])];
    while let Some((vdir, rdir, chain)) = stack.pop() {
        for (k, n) in fs.children(&rdir) {
            visits += 1;
            if visits > GLOB_MAX_VISITS {
                return (matches, false);
            }
            let name = k.rsplit('/').next().unwrap_or(&k);
            let v = if vdir.is_empty() {
                name.to_string()
            } else {
                format!("{vdir}/{name}")
            };
            if matcher.is_match(display(&v)) {
                matches += 1;
            }
            let target = match &n.kind {
                Kind::Dir => Some(k.clone()),
                Kind::Symlink(_) => fs.resolve(&k, true).ok().filter(|r| is_dir(r)),
                _ => None,
            };
            if let Some(t) = target {
                // Entering a directory that holds one already on the way down
                // would repeat forever.
                if chain.iter().any(|c| within(&t, c)) {
                    continue;
                }
                let mut next = chain.clone();
                next.push(t.clone());
                stack.push((v, t, next));
            }
        }
    }
    (matches, true)
}

/// `arch`: the image's architecture (`amd64`), which a `static = true` file
/// must be built for.
pub fn check(fs: &FlatFs, files: &[FileRule], globs: &[GlobRule], arch: &str) -> CheckOutcome {
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
            // A size is a file's; a dir, FIFO or device has none to pass with.
            if node.kind != Kind::File && !matches!(node.kind, Kind::Symlink(_)) {
                findings.push(
                    Finding::error(
                        Code::FileWrongKind,
                        p,
                        format!(
                            "is a {}, not a file, so it has no size to meet `min_size = {min}`",
                            node.kind.name()
                        ),
                    )
                    .provenance(prov())
                    .hint(build_hint(p)),
                );
                continue;
            }
            if let Kind::Symlink(t) = &node.kind {
                // Only with `follow_symlinks = false`: the link itself has no size.
                findings.push(
                    Finding::error(
                        Code::FileWrongKind,
                        p,
                        format!("is a symlink to `{t}`, not a file, so it has no size to meet `min_size = {min}`"),
                    )
                    .provenance(prov()),
                );
                continue;
            }
            if node.size < min {
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
        if rule.static_binary {
            if let Some(f) = not_static(p, &node, arch) {
                findings.push(f.provenance(prov()));
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
        // One compiled at a time: each regex is dropped before the next is built.
        let matcher = match globset::GlobSetBuilder::new().add(g.glob.clone()).build() {
            Ok(m) => m,
            Err(e) => {
                return CheckOutcome::not_run(
                    "files",
                    Finding::error(
                        Code::SpecInvalid,
                        &g.pattern,
                        format!("the glob could not be compiled: {}", e.kind()),
                    )
                    .hint("simplify the pattern (fewer alternatives and classes)"),
                )
            }
        };
        let (matches, complete) = glob_count(fs, g, &matcher);
        if matches < g.min_matches {
            let base = g.pattern.split(['*', '?', '[', '{']).next().unwrap_or("/");
            let dir = base.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            findings.push(
                Finding::error(
                    Code::GlobNoMatch,
                    &g.pattern,
                    format!(
                        "matches {matches} paths, fewer than the {} the spec requires{}",
                        g.min_matches,
                        if complete {
                            String::new()
                        } else {
                            format!(" (stopped after visiting {GLOB_MAX_VISITS} paths through symlinked directories)")
                        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::spec::GlobRule;
    use crate::report::Status;

    /// A glob that compiled to a regex past the engine's size limit used to
    /// panic in the spec parser (`globset`'s `compile_matcher` expects success);
    /// the spec now bounds patterns, and the check refuses rather than panics
    /// should one still not compile.
    #[test]
    fn a_glob_that_cannot_be_compiled_is_a_check_not_run() {
        let fs = FlatFs::new(vec![]);
        let pattern = format!("/{}", "?".repeat(200_000));
        let glob = globset::GlobBuilder::new(&pattern)
            .literal_separator(true)
            .build()
            .unwrap();
        let rule = GlobRule {
            pattern,
            glob,
            min_matches: 1,
        };
        let out = check(&fs, &[], &[rule], "amd64");
        assert_eq!(out.status, Status::NotRun);
        assert_eq!(out.findings[0].code, Code::SpecInvalid);
        assert!(out.findings[0].message.contains("could not be compiled"));
    }
}
