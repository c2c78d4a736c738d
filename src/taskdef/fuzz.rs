//! The `taskdef` fuzz target's body, also run on its stored corpus by `cargo
//! test`. Any bytes as FILE go through what `image-check taskdef FILE` does
//! (the size cap, UTF-8, the JSON or YAML reader, finding the tasks and the
//! container, every check, every renderer) with the shipped spec, with and
//! without image facts and with `--container`. It asserts what a user relies
//! on: no panic; a parse error points inside the file; every finding's line is
//! a line of the file; JSON output is JSON lines, GitHub output is one
//! annotation a line; and the canary: a value planted in every
//! `environment[].value` and `secrets[].valueFrom` of the parsed tree (some
//! secret-shaped, some not) appears in no rendered output. Bounded time and
//! memory are libFuzzer's part (`-timeout`, `-rss_limit_mb`).

use super::doc::{self, Node, Value};
use super::{shape, ImageFacts, Lint, LintError};
use crate::report::render::{self, Format, Options};
use crate::report::{CheckOutcome, Code, Finding, Report, Section};
use crate::spec::SpecFile;
use std::path::Path;

/// What no rendered output may hold; inputs that hold it themselves (a container
/// named so) are not checked for it.
const CANARY: &str = "Zq9CANARY";

const SPEC: &str = include_str!("../../images/scalemap-api.toml");

pub fn fuzz_taskdef(data: &[u8]) {
    if data.len() as u64 > doc::MAX_FILE_BYTES {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = doc::line_count(text);
    let mut root = match doc::parse(text) {
        Ok(n) => n,
        Err(e) => {
            assert!(e.line >= 1 && e.line <= lines, "{e:?} in {lines} lines");
            assert!(e.col >= 1, "{e:?}");
            let e = LintError::Parse {
                path: "td.json".into(),
                line: e.line,
                col: e.col,
                message: e.message,
            };
            render_all(&error_report(&e), lines, None);
            return;
        }
    };
    let spec = SpecFile::parse(Path::new("images/scalemap-api.toml"), SPEC)
        .expect("the shipped spec parses");
    let ports = spec.image.config.as_ref().unwrap().ports.clone();
    let facts = ImageFacts {
        repository: Some("scalemap-api".into()),
        env: vec![("NODE_ENV".into(), "production".into())],
        ports: vec!["3000/tcp".into(), "8125/udp".into()],
        workdir: Some("/app".into()),
    };
    let _ = super::image_repositories(&root);
    let by_repository = [("scalemap-api".to_string(), spec.clone())];
    let first_name = shape::tasks(&root).ok().and_then(|t| {
        t.iter()
            .flat_map(|t| &t.containers)
            .find_map(|c| c.get("name").and_then(Node::as_str).map(String::from))
    });
    let checked = !text.contains(CANARY);
    for planted in [false, true] {
        if planted {
            let mut n = 0;
            plant(&mut root, &mut n, 0);
            if n == 0 {
                return;
            }
        }
        // (container, fixed spec, image facts, specs by repository)
        let runs: [(Option<&str>, bool, bool, bool); 4] = [
            (None, true, false, false),
            (None, true, true, false),
            (first_name.as_deref(), false, false, false),
            (None, false, false, true),
        ];
        for (container, with_spec, with_image, by_repo) in runs {
            let lint = Lint {
                file: "td.json",
                container,
                runtime: if with_spec {
                    spec.runtime.as_ref()
                } else {
                    None
                },
                spec_ports: if with_spec { &ports } else { &[] },
                image: with_image.then_some(&facts),
                specs: if by_repo { &by_repository } else { &[] },
            };
            let report = match lint.run(&root) {
                Ok(sections) => {
                    let mut r = Report::new("image-check");
                    r.sections = sections;
                    r
                }
                Err(e) => error_report(&e),
            };
            render_all(&report, lines, (planted && checked).then_some(CANARY));
        }
    }
}

/// What `image-check taskdef` renders for a file it could not check.
fn error_report(e: &LintError) -> Report {
    let mut f =
        Finding::error(Code::TaskdefInvalid, "td.json", crate::cli::chain(e)).at(e.location());
    f.hint = e.hint();
    let mut r = Report::new("image-check");
    r.sections = vec![Section {
        target: "task definition `td.json`".into(),
        notes: vec![],
        checks: vec![CheckOutcome::not_run("taskdef", f)],
    }];
    r
}

/// Replaces every `environment[].value` and `secrets[].valueFrom` with a
/// canary, cycling through secret shapes and a plain value.
fn plant(n: &mut Node, count: &mut usize, depth: usize) {
    if depth > doc::MAX_DEPTH + 2 {
        return;
    }
    let Value::Map(m) = &mut n.value else {
        if let Value::Seq(v) = &mut n.value {
            for c in v {
                plant(c, count, depth + 1);
            }
        }
        return;
    };
    for (k, v) in m.iter_mut() {
        let key = k.as_str().map(str::to_ascii_lowercase);
        let field = match key.as_deref() {
            Some("environment") => Some("value"),
            Some("secrets") => Some("valuefrom"),
            _ => None,
        };
        if let (Some(field), Value::Seq(items)) = (field, &mut v.value) {
            for item in items.iter_mut() {
                if let Value::Map(entries) = &mut item.value {
                    for (ik, iv) in entries.iter_mut() {
                        if ik.as_str().is_some_and(|s| s.eq_ignore_ascii_case(field)) {
                            iv.tag = None;
                            iv.value = Value::String(canary(*count));
                            *count += 1;
                        }
                    }
                }
            }
        }
        plant(v, count, depth + 1);
    }
}

fn canary(i: usize) -> String {
    match i % 6 {
        0 => format!("sk_live_{CANARY}{i}"),
        1 => format!("postgres://app:{CANARY}{i}@db.internal:5432/app"),
        2 => format!("-----BEGIN PRIVATE KEY-----\n{CANARY}{i}\n-----END PRIVATE KEY-----"),
        3 => format!("host=db password={CANARY}{i}"),
        4 => format!("eu-{CANARY}-{i}"),
        _ => format!("{CANARY}{i}"),
    }
}

fn render_all(report: &Report, lines: usize, canary: Option<&str>) {
    for s in &report.sections {
        for f in s.checks.iter().flat_map(|c| &c.findings) {
            if let Some(l) = f.location.as_ref().and_then(|l| l.line) {
                assert!(l >= 1 && l <= lines, "{f:?} in {lines} lines");
            }
        }
    }
    for format in [Format::Human, Format::Json, Format::Junit, Format::Github] {
        let mut out = Vec::new();
        let opts = Options {
            color: false,
            annotation_file: Some("td.json"),
        };
        render::render(report, format, &opts, &mut out).expect("writing to a Vec");
        let out = String::from_utf8(out).expect("output is UTF-8");
        if let Some(c) = canary {
            assert!(
                !out.contains(c),
                "{format:?} printed a planted value:\n{out}"
            );
        }
        match format {
            Format::Json => {
                for l in out.lines() {
                    serde_json::from_str::<serde_json::Value>(l)
                        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                }
            }
            Format::Github => {
                let n = out.lines().count();
                for l in out.lines().take(n.saturating_sub(1)) {
                    assert!(l.starts_with("::"), "a forged annotation line: {l}");
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fuzz_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/taskdef");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("fuzz/corpus/taskdef exists") {
            super::fuzz_taskdef(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0, "the corpus is empty");
    }

    /// The planted values are what the lint reads: secret-shaped ones are found
    /// (so the canary is not vacuous) and none is printed.
    #[test]
    fn planted_canaries_are_found_and_never_printed() {
        use super::*;
        let p =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/taskdef/describe.json");
        let mut root = doc::parse(&std::fs::read_to_string(p).unwrap()).unwrap();
        let mut n = 0;
        plant(&mut root, &mut n, 0);
        assert!(n >= 8, "{n}");
        let spec = SpecFile::parse(Path::new("s.toml"), SPEC).unwrap();
        let lint = Lint {
            file: "td.json",
            container: None,
            runtime: spec.runtime.as_ref(),
            spec_ports: &[],
            image: None,
            specs: &[],
        };
        let mut r = Report::new("image-check");
        r.sections = lint.run(&root).unwrap();
        let found = r.sections[0]
            .checks
            .iter()
            .flat_map(|c| &c.findings)
            .filter(|f| f.code == Code::TaskdefSecretInEnvironment)
            .count();
        assert!(found >= 3, "{found}");
        render_all(&r, usize::MAX, Some(CANARY));
    }

    /// Each fixture as the fuzzer's seed: the planted canary is checked on real
    /// task definitions in every input shape, not only on what the fuzzer makes.
    #[test]
    fn every_fixture_passes_the_fuzz_invariants() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/taskdef");
        for e in std::fs::read_dir(&dir).unwrap() {
            super::fuzz_taskdef(&std::fs::read(e.unwrap().path()).unwrap());
        }
    }
}
