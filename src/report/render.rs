//! Renderers: the only code that turns a [`Report`] into text.
//!
//! Each renderer is a sink writing one format to any `Write`: human (colour only when
//! asked, which the binaries do only on a TTY), JSON lines for log pipelines, JUnit XML
//! for CI test tabs, and GitHub workflow annotations.

use super::{CheckOutcome, Finding, Report, Severity, Status};
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Junit,
    Github,
}

pub struct Options<'a> {
    pub color: bool,
    /// The file GitHub annotations point at (the spec), when there is one.
    pub annotation_file: Option<&'a str>,
}

pub fn render(
    report: &Report,
    format: Format,
    opts: &Options,
    w: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Human => human(report, opts.color, w),
        Format::Json => json(report, w),
        Format::Junit => junit(report, w),
        Format::Github => github(report, opts.annotation_file, w),
    }
}

struct Paint(bool);

impl Paint {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn severity(&self, sev: Severity) -> String {
        match sev {
            Severity::Error => self.paint("1;31", "error"),
            Severity::Warning => self.paint("1;33", "warning"),
            Severity::Note => self.paint("1;36", "note"),
        }
    }
    fn status(&self, st: Status) -> String {
        match st {
            Status::Passed => self.paint("32", "ok   "),
            Status::Failed => self.paint("1;31", "FAIL "),
            Status::NotRun => self.paint("1;35", "ERROR"),
        }
    }
}

fn format_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

pub fn human(report: &Report, color: bool, w: &mut dyn Write) -> io::Result<()> {
    let p = Paint(color);
    let width = report
        .sections
        .iter()
        .flat_map(|s| &s.checks)
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    for section in &report.sections {
        writeln!(w, "{}", p.paint("1", &section.target))?;
        for n in &section.notes {
            writeln!(w, "  {}: {n}", p.severity(Severity::Note))?;
        }
        for c in &section.checks {
            human_check(&p, c, width, w)?;
        }
    }
    let t = report.totals();
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut line = format!(
        "summary: {}: {} passed, {} failed",
        plural(t.checks, "check"),
        t.passed,
        t.failed
    );
    if t.not_run > 0 {
        line.push_str(&format!(", {} could not run", t.not_run));
    }
    line.push_str(&format!(
        "; {}, {}, {}",
        plural(t.errors, "error"),
        plural(t.warnings, "warning"),
        plural(t.notes, "note")
    ));
    writeln!(w, "{line}")
}

fn human_check(p: &Paint, c: &CheckOutcome, width: usize, w: &mut dyn Write) -> io::Result<()> {
    let mut line = format!("  {} {:<width$}", p.status(c.status), c.name);
    if let Some(ms) = c.duration_ms {
        line.push_str(&format!(" {:>6}", format_duration(ms)));
    }
    if let Some(d) = &c.detail {
        line.push_str("  ");
        line.push_str(d);
    }
    writeln!(w, "{}", line.trim_end())?;
    for f in &c.findings {
        writeln!(
            w,
            "        {}[{}] {}: {}",
            p.severity(f.severity),
            f.code,
            f.subject,
            f.message
        )?;
        if let Some(prov) = &f.provenance {
            writeln!(w, "          --> {prov}")?;
        }
        if let Some(h) = &f.hint {
            writeln!(w, "          {}: {h}", p.paint("1", "hint"))?;
        }
    }
    Ok(())
}

pub fn json(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    json_with_exit_code(report, report.exit_code(false), w)
}

/// JSON lines whose summary states `exit_code`: for a process whose exit status
/// is decided after the probes (a signal, a server that could not be started).
pub fn json_with_exit_code(report: &Report, exit_code: u8, w: &mut dyn Write) -> io::Result<()> {
    for section in &report.sections {
        for c in &section.checks {
            let v = serde_json::json!({
                "type": "check",
                "tool": report.tool,
                "target": section.target,
                "name": c.name,
                "status": c.status,
                "detail": c.detail,
                "duration_ms": c.duration_ms,
                "findings": c.findings,
            });
            writeln!(w, "{v}")?;
        }
    }
    let t = report.totals();
    let v = serde_json::json!({
        "type": "summary",
        "tool": report.tool,
        "targets": report.sections.iter().map(|s| serde_json::json!({"target": s.target, "notes": s.notes})).collect::<Vec<_>>(),
        "totals": t,
        "exit_code": exit_code,
    });
    writeln!(w, "{v}")
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {
                o.push_str(&format!("&#{};", c as u32))
            }
            c => o.push(c),
        }
    }
    o
}

fn finding_text(f: &Finding) -> String {
    let mut s = format!(
        "{}[{}] {}: {}",
        f.severity.as_str(),
        f.code,
        f.subject,
        f.message
    );
    if let Some(p) = &f.provenance {
        s.push_str(&format!("\n  --> {p}"));
    }
    if let Some(h) = &f.hint {
        s.push_str(&format!("\n  hint: {h}"));
    }
    s
}

pub fn junit(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    let t = report.totals();
    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        w,
        r#"<testsuites name="{}" tests="{}" failures="{}" errors="{}">"#,
        report.tool, t.checks, t.failed, t.not_run
    )?;
    for s in &report.sections {
        let failures = s
            .checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .count();
        let errors = s
            .checks
            .iter()
            .filter(|c| c.status == Status::NotRun)
            .count();
        writeln!(
            w,
            r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="{errors}">"#,
            xml_escape(&s.target),
            s.checks.len()
        )?;
        for c in &s.checks {
            let time = c.duration_ms.map(|ms| ms as f64 / 1000.0).unwrap_or(0.0);
            write!(
                w,
                r#"    <testcase classname="{}" name="{}" time="{time:.3}""#,
                xml_escape(&s.target),
                xml_escape(&c.name)
            )?;
            let text: Vec<String> = c.findings.iter().map(finding_text).collect();
            let first = c
                .findings
                .first()
                .map(|f| format!("{}: {}", f.subject, f.message));
            match c.status {
                Status::Passed if text.is_empty() => writeln!(w, "/>")?,
                Status::Passed => writeln!(
                    w,
                    ">\n      <system-out>{}</system-out>\n    </testcase>",
                    xml_escape(&text.join("\n"))
                )?,
                Status::Failed | Status::NotRun => {
                    let tag = if c.status == Status::Failed {
                        "failure"
                    } else {
                        "error"
                    };
                    writeln!(
                        w,
                        ">\n      <{tag} message=\"{}\">{}</{tag}>\n    </testcase>",
                        xml_escape(&first.unwrap_or_default()),
                        xml_escape(&text.join("\n"))
                    )?
                }
            }
        }
        writeln!(w, "  </testsuite>")?;
    }
    writeln!(w, "</testsuites>")
}

fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn gh_prop(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn github(report: &Report, file: Option<&str>, w: &mut dyn Write) -> io::Result<()> {
    for s in &report.sections {
        for c in &s.checks {
            for f in &c.findings {
                let level = match f.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                    Severity::Note => "notice",
                };
                let mut props = Vec::new();
                if let Some(file) = file {
                    props.push(format!("file={}", gh_prop(file)));
                }
                props.push(format!(
                    "title={}",
                    gh_prop(&format!("{} ({})", f.code, s.target))
                ));
                let mut msg = format!("{}: {}", f.subject, f.message);
                if let Some(p) = &f.provenance {
                    msg.push_str(&format!(" ({p})"));
                }
                if let Some(h) = &f.hint {
                    msg.push_str(&format!("\nhint: {h}"));
                }
                writeln!(w, "::{level} {}::{}", props.join(","), gh_data(&msg))?;
            }
        }
    }
    let t = report.totals();
    writeln!(
        w,
        "{}: {} checks, {} passed, {} failed, {} could not run",
        report.tool, t.checks, t.passed, t.failed, t.not_run
    )
}
