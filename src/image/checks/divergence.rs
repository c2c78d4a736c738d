//! Runtimes that disagree: when a layer goes through a symlink a lower layer made,
//! umoci and containerd's native snapshotter unpack one tree, Docker and
//! containerd's overlayfs snapshotter another (see `fs.rs` for what each does).
//! Every check runs on both trees; where a subject passes in one and fails in the
//! other, or fails differently, that is a `runtime-divergence` error, so the gate
//! never passes on the strength of one runtime's reading.

use crate::image::fs::{display, FlatFs, Reading};
use crate::report::{CheckOutcome, Code, Finding, Severity, Status};
use std::collections::BTreeMap;

/// The check whose findings describe the layers themselves, not a verdict on a path.
const LAYERS: &str = "layers";

/// Adds an error to each check of `primary` (run on `fs`, umoci's reading) whose
/// verdict on a subject differs in `other` (the same checks run on the overlay
/// reading, in the same order).
pub fn reconcile(
    fs: &FlatFs,
    mut primary: Vec<CheckOutcome>,
    other: Vec<CheckOutcome>,
) -> Vec<CheckOutcome> {
    for (p, o) in primary.iter_mut().zip(other) {
        if p.name != o.name || p.name == LAYERS {
            continue;
        }
        if p.status == Status::NotRun || o.status == Status::NotRun {
            continue;
        }
        let ours = verdicts(&p.findings);
        let theirs = verdicts(&o.findings);
        let mut subjects: Vec<&String> = ours.keys().chain(theirs.keys()).collect();
        subjects.sort();
        subjects.dedup();
        let mut added = Vec::new();
        for s in subjects {
            let (a, b) = (ours.get(s), theirs.get(s));
            if a.map(|v| &v.0) == b.map(|v| &v.0) {
                continue;
            }
            let say = |v: Option<&(Vec<Code>, String)>| match v {
                None => "pass it".to_string(),
                Some((_, m)) => format!("fail it ({m})"),
            };
            let cause = fs.divergence(s).map(|d| {
                format!(
                    "layer {} goes through `{}`, a symlink a lower layer made",
                    d.layer,
                    display(&d.link)
                )
            });
            let mut f = Finding::error(
                Code::RuntimeDivergence,
                s.clone(),
                format!(
                    "the runtimes unpack different trees here: {} {}; {} {}",
                    Reading::Extract.runtimes(),
                    say(a),
                    Reading::Overlay.runtimes(),
                    say(b)
                ),
            )
            .hint("write the real path in the layer (not through a symlink from a lower layer), so every runtime unpacks the same tree");
            f.provenance = cause;
            added.push(f);
        }
        if !added.is_empty() {
            p.findings.extend(added);
            p.status = Status::Failed;
        }
    }
    primary
}

/// Per subject: the codes of its errors (sorted) and the first error's message.
fn verdicts(findings: &[Finding]) -> BTreeMap<String, (Vec<Code>, String)> {
    let mut out: BTreeMap<String, (Vec<Code>, String)> = BTreeMap::new();
    for f in findings.iter().filter(|f| f.severity == Severity::Error) {
        let e = out
            .entry(f.subject.clone())
            .or_insert_with(|| (Vec::new(), format!("`{}`: {}", f.code.as_str(), f.message)));
        e.0.push(f.code);
    }
    for v in out.values_mut() {
        v.0.sort();
        v.0.dedup();
    }
    out
}
