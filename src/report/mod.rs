//! Findings as data, and the report both tools build from them.
//!
//! Checks and probes only ever return [`Finding`]s grouped into [`CheckOutcome`]s;
//! the renderers in [`render`] are the only code that prints them, and
//! [`Report::exit_code`] is the only place the 0/1/2 exit policy lives.

mod codes;
pub mod render;

pub use codes::Code;
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// Where in a file a finding points: the task definition's line for a lint
/// finding, the spec's line for a spec error. Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Location {
    pub fn at(file: impl Into<String>, line: usize, column: usize) -> Self {
        Location {
            file: file.into(),
            line: Some(line),
            column: Some(column),
        }
    }
}

impl std::fmt::Display for Location {
    /// `FILE:LINE:COLUMN`, as compilers write it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        Ok(())
    }
}

/// One problem (or fact worth telling), in a shape every renderer understands.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    /// What the finding is about: a path in the image, a variable, a probe.
    pub subject: String,
    /// One line, lowercase start, cause first.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Where the subject came from, e.g. the layer that wrote or deleted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// The file and line the finding is about, when it is about a file's text.
    /// Boxed: most findings have none, and `Result<_, Finding>` stays small.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Box<Location>>,
}

impl Finding {
    pub fn new(
        code: Code,
        severity: Severity,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            code,
            severity,
            subject: subject.into(),
            message: message.into(),
            hint: None,
            provenance: None,
            location: None,
        }
    }

    pub fn error(code: Code, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, subject, message)
    }

    pub fn warning(code: Code, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, subject, message)
    }

    pub fn note(code: Code, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Note, subject, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn provenance(mut self, p: Option<String>) -> Self {
        self.provenance = p;
        self
    }

    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location.map(Box::new);
        self
    }
}

/// Whether a check ran, and how it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Ran, and found no errors (warnings and notes may be attached).
    Passed,
    /// Ran, and found at least one error.
    Failed,
    /// Could not run; never counted as a pass.
    NotRun,
}

/// The result of one named check or probe.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    pub name: String,
    pub status: Status,
    /// A one-line summary of what was verified when it passed (server version, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    pub findings: Vec<Finding>,
}

impl CheckOutcome {
    /// Status follows from the findings: any error fails the check.
    pub fn from_findings(name: impl Into<String>, findings: Vec<Finding>) -> Self {
        let status = if findings.iter().any(|f| f.severity == Severity::Error) {
            Status::Failed
        } else {
            Status::Passed
        };
        CheckOutcome {
            name: name.into(),
            status,
            detail: None,
            duration_ms: None,
            findings,
        }
    }

    /// A check that could not run; `finding` says why.
    pub fn not_run(name: impl Into<String>, finding: Finding) -> Self {
        CheckOutcome {
            name: name.into(),
            status: Status::NotRun,
            detail: None,
            duration_ms: None,
            findings: vec![finding],
        }
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    pub fn duration(mut self, d: Duration) -> Self {
        self.duration_ms = Some(d.as_millis() as u64);
        self
    }
}

/// The checks run against one target (an image platform, or the container's runtime).
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub target: String,
    /// Facts about the run the reader should know (e.g. which spec was used).
    pub notes: Vec<String>,
    pub checks: Vec<CheckOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub checks: usize,
    pub passed: usize,
    pub failed: usize,
    pub not_run: usize,
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
}

impl Report {
    pub fn new(tool: &'static str) -> Self {
        Report {
            tool,
            sections: Vec::new(),
        }
    }

    /// Nothing could be checked: one check that could not run, so machine-readable
    /// consumers (JSON, JUnit) see an error rather than an empty pass.
    pub fn not_run(tool: &'static str, target: &str, check: &str, finding: Finding) -> Self {
        Report {
            tool,
            sections: vec![Section {
                target: target.to_string(),
                notes: vec![],
                checks: vec![CheckOutcome::not_run(check, finding)],
            }],
        }
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for c in self.sections.iter().flat_map(|s| &s.checks) {
            t.checks += 1;
            match c.status {
                Status::Passed => t.passed += 1,
                Status::Failed => t.failed += 1,
                Status::NotRun => t.not_run += 1,
            }
            for f in &c.findings {
                match f.severity {
                    Severity::Error => t.errors += 1,
                    Severity::Warning => t.warnings += 1,
                    Severity::Note => t.notes += 1,
                }
            }
        }
        t
    }

    /// 2 when anything could not be checked (that is never a pass), 1 for errors (and
    /// warnings when `strict`), else 0.
    pub fn exit_code(&self, strict: bool) -> u8 {
        let t = self.totals();
        if t.not_run > 0 || t.checks == 0 {
            2
        } else if t.errors > 0 || (strict && t.warnings > 0) {
            1
        } else {
            0
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn report_with(statuses: &[(Status, Option<Severity>)]) -> Report {
        let checks = statuses
            .iter()
            .map(|(st, sev)| CheckOutcome {
                name: "c".into(),
                status: *st,
                detail: None,
                duration_ms: None,
                findings: sev
                    .map(|s| vec![Finding::new(Code::FileMissing, s, "/x", "m")])
                    .unwrap_or_default(),
            })
            .collect();
        Report {
            tool: "t",
            sections: vec![Section {
                target: "t".into(),
                notes: vec![],
                checks,
            }],
        }
    }

    #[test]
    fn exit_codes_follow_policy() {
        assert_eq!(report_with(&[(Status::Passed, None)]).exit_code(false), 0);
        let warn = report_with(&[(Status::Passed, Some(Severity::Warning))]);
        assert_eq!(warn.exit_code(false), 0);
        assert_eq!(warn.exit_code(true), 1);
        let err = report_with(&[(Status::Failed, Some(Severity::Error))]);
        assert_eq!(err.exit_code(false), 1);
        let not_run = report_with(&[
            (Status::Failed, Some(Severity::Error)),
            (Status::NotRun, Some(Severity::Error)),
        ]);
        assert_eq!(not_run.exit_code(false), 2);
        assert_eq!(
            report_with(&[]).exit_code(false),
            2,
            "no checks is not a pass"
        );
    }

    #[test]
    fn status_follows_findings() {
        let f = Finding::warning(Code::PathEscapesRoot, "../x", "m");
        assert_eq!(
            CheckOutcome::from_findings("a", vec![f]).status,
            Status::Passed
        );
        let f = Finding::error(Code::FileMissing, "/x", "m");
        assert_eq!(
            CheckOutcome::from_findings("a", vec![f]).status,
            Status::Failed
        );
    }
}
