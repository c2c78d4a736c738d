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
    render_strict(report, format, opts, false, w)
}

/// As [`render`], for a run whose exit code counts warnings (`--strict`): the JSON
/// summary's `exit_code` is always the process's.
pub fn render_strict(
    report: &Report,
    format: Format,
    opts: &Options,
    strict: bool,
    w: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Human => human(report, opts.color, w),
        Format::Json => json(report, strict, w),
        Format::Junit => junit(report, strict, w),
        Format::Github => github(report, opts.annotation_file, w),
    }
}

/// Text from an image (file names, config values, error chains) made safe for one
/// line of a terminal or log: control characters (C0, DEL, C1, and the Unicode line
/// and paragraph separators) are written as escapes, so a name holding `\n` or an
/// ANSI sequence can neither forge a line nor repaint the terminal.
pub fn escape_line(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x80 && bad(c) => o.push_str(&format!("\\x{:02x}", c as u32)),
            c if bad(c) => o.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => o.push(c),
        }
    }
    std::borrow::Cow::Owned(o)
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
        writeln!(w, "{}", p.paint("1", &escape_line(&section.target)))?;
        for n in &section.notes {
            writeln!(w, "  {}: {}", p.severity(Severity::Note), escape_line(n))?;
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
        line.push_str(&escape_line(d));
    }
    writeln!(w, "{}", line.trim_end())?;
    for f in &c.findings {
        writeln!(
            w,
            "        {}[{}] {}: {}",
            p.severity(f.severity),
            f.code,
            escape_line(&f.subject),
            escape_line(&f.message)
        )?;
        if let Some(loc) = &f.location {
            writeln!(w, "          --> {}", escape_line(&loc.to_string()))?;
        }
        if let Some(prov) = &f.provenance {
            writeln!(w, "          --> {}", escape_line(prov))?;
        }
        if let Some(h) = &f.hint {
            writeln!(w, "          {}: {}", p.paint("1", "hint"), escape_line(h))?;
        }
    }
    Ok(())
}

/// JSON lines; `strict` must be what decides the process's exit code, which the
/// summary repeats.
pub fn json(report: &Report, strict: bool, w: &mut dyn Write) -> io::Result<()> {
    json_with_exit_code(report, report.exit_code(strict), w)
}

/// How the process ends after a report: it exits with a status, or it replaces
/// itself with a program whose exit status nobody here can know.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'a> {
    Exit(u8),
    /// `verdict` is the status the report alone would have given (0, 1 or 2).
    Exec {
        program: &'a str,
        verdict: u8,
    },
}

/// JSON lines whose summary states `exit_code`: for a process whose exit status
/// is decided after the probes (a signal, a server that could not be started).
pub fn json_with_exit_code(report: &Report, exit_code: u8, w: &mut dyn Write) -> io::Result<()> {
    json_ending(report, Ending::Exit(exit_code), w)
}

/// JSON lines whose summary says how the process ends. On [`Ending::Exec`] the
/// summary's `exit_code` is `null` (the server's status is not known when it is
/// written), `outcome` is `"exec"`, `exec` names the program (never its
/// arguments) and `verdict` is what the report alone would have exited with.
pub fn json_ending(report: &Report, ending: Ending, w: &mut dyn Write) -> io::Result<()> {
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
            writeln!(w, "{}", json_line(&v))?;
        }
    }
    let t = report.totals();
    let mut v = serde_json::json!({
        "type": "summary",
        "tool": report.tool,
        "targets": report.sections.iter().map(|s| serde_json::json!({"target": s.target, "notes": s.notes})).collect::<Vec<_>>(),
        "totals": t,
    });
    match ending {
        Ending::Exit(code) => v["exit_code"] = code.into(),
        Ending::Exec { program, verdict } => {
            v["exit_code"] = serde_json::Value::Null;
            v["outcome"] = "exec".into();
            v["exec"] = program.into();
            v["verdict"] = verdict.into();
        }
    }
    writeln!(w, "{}", json_line(&v))
}

/// A JSON value on one line, with U+2028 and U+2029 escaped: valid JSON either
/// way, but readers that split on Unicode line breaks (Python's `splitlines`)
/// would cut a line holding them raw. They occur only inside strings.
fn json_line(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Escapes for XML 1.0 text and attributes. XML 1.0 forbids most control
/// characters even as character references (`&#1;` is not well-formed), so those
/// (and U+FFFE/U+FFFF) are written as visible `\xNN`/`\u{…}` text instead; the
/// line breaks our own text holds are kept.
fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\n' | '\t' => o.push(ch),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => {
                o.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => o.push(c),
        }
    }
    o
}

/// `FILE:LINE:COLUMN: ` before a finding's text, when it has a location.
fn located(f: &Finding) -> String {
    f.location
        .as_ref()
        .map(|l| format!("{}: ", escape_line(&l.to_string())))
        .unwrap_or_default()
}

fn finding_text(f: &Finding) -> String {
    let mut s = format!(
        "{}{}[{}] {}: {}",
        located(f),
        f.severity.as_str(),
        f.code,
        escape_line(&f.subject),
        escape_line(&f.message)
    );
    if let Some(p) = &f.provenance {
        s.push_str(&format!("\n  --> {}", escape_line(p)));
    }
    if let Some(h) = &f.hint {
        s.push_str(&format!("\n  hint: {}", escape_line(h)));
    }
    s
}

/// JUnit XML. Under `--strict` a warning fails the run, so a check that passed
/// with warnings is a `<failure>` there: the document agrees with the exit code.
pub fn junit(report: &Report, strict: bool, w: &mut dyn Write) -> io::Result<()> {
    let failed = |c: &CheckOutcome| {
        c.status == Status::Failed
            || (strict
                && c.status == Status::Passed
                && c.findings.iter().any(|f| f.severity == Severity::Warning))
    };
    let t = report.totals();
    let all_failed = report
        .sections
        .iter()
        .flat_map(|s| &s.checks)
        .filter(|c| failed(c))
        .count();
    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        w,
        r#"<testsuites name="{}" tests="{}" failures="{}" errors="{}">"#,
        report.tool, t.checks, all_failed, t.not_run
    )?;
    for s in &report.sections {
        let failures = s.checks.iter().filter(|c| failed(c)).count();
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
            let first = c.findings.first().map(|f| {
                format!(
                    "{}{}: {}",
                    located(f),
                    escape_line(&f.subject),
                    escape_line(&f.message)
                )
            });
            match c.status {
                _ if c.status == Status::Passed && failed(c) => writeln!(
                    w,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml_escape(&first.unwrap_or_default()),
                    xml_escape(&text.join("\n"))
                )?,
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
                // A finding's own location wins over the report's file (the spec).
                match (&f.location, file) {
                    (Some(loc), _) => {
                        props.push(format!("file={}", gh_prop(&escape_line(&loc.file))));
                        if let Some(l) = loc.line {
                            props.push(format!("line={l}"));
                            if let Some(c) = loc.column {
                                props.push(format!("col={c}"));
                            }
                        }
                    }
                    (None, Some(file)) => props.push(format!("file={}", gh_prop(file))),
                    (None, None) => {}
                }
                props.push(format!(
                    "title={}",
                    gh_prop(&format!("{} ({})", f.code, escape_line(&s.target)))
                ));
                // Image text is escaped first, so the only line break GitHub sees
                // (as `%0A`) is the one before our hint.
                let mut msg = format!("{}: {}", escape_line(&f.subject), escape_line(&f.message));
                if let Some(p) = &f.provenance {
                    msg.push_str(&format!(" ({})", escape_line(p)));
                }
                if let Some(h) = &f.hint {
                    msg.push_str(&format!("\nhint: {}", escape_line(h)));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile L10: JSON lines hold no raw U+2028/U+2029, which line readers
    /// that split on Unicode line breaks would cut.
    #[test]
    fn json_lines_escape_unicode_line_separators() {
        let v = serde_json::json!({"m": "a\u{2028}b\u{2029}c"});
        let line = json_line(&v);
        assert_eq!(line, r#"{"m":"a\u2028b\u2029c"}"#);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&line).unwrap(), v);
    }

    #[test]
    fn control_characters_are_escaped_for_one_line_and_for_xml_1_0() {
        assert_eq!(
            escape_line("a\nb\r\x1b[2K\u{85}\u{2028}"),
            "a\\nb\\r\\x1b[2K\\u{85}\\u{2028}"
        );
        assert!(matches!(
            escape_line("plain `x`"),
            std::borrow::Cow::Borrowed(_)
        ));
        let x = xml_escape("a\u{1}b\u{fffe}c\nd&");
        assert_eq!(x, "a\\x01b\\u{fffe}c\nd&amp;");
        assert!(!x.contains("&#1;"));
        assert_eq!(gh_prop("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn every_format_carries_a_findings_location() {
        let mut r = crate::report::tests::report_with(&[(Status::Failed, Some(Severity::Error))]);
        r.sections[0].checks[0].findings[0].location =
            Some(Box::new(crate::report::Location::at("td.json", 12, 7)));
        let out = |r: &Report, fmt| {
            let mut o = Vec::new();
            let opts = Options {
                color: false,
                annotation_file: Some("spec.toml"),
            };
            render(r, fmt, &opts, &mut o).unwrap();
            String::from_utf8(o).unwrap()
        };
        assert!(
            out(&r, Format::Human).contains("--> td.json:12:7"),
            "{}",
            out(&r, Format::Human)
        );
        let json = out(&r, Format::Json);
        let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
        assert_eq!(
            first["findings"][0]["location"],
            serde_json::json!({"file": "td.json", "line": 12, "column": 7})
        );
        let gh = out(&r, Format::Github);
        assert!(
            gh.starts_with("::error file=td.json,line=12,col=7,title="),
            "{gh}"
        );
        assert!(
            out(&r, Format::Junit).contains("message=\"td.json:12:7: /x: m\""),
            "{}",
            out(&r, Format::Junit)
        );
        // Without a location, annotations still point at the spec, with no line.
        r.sections[0].checks[0].findings[0].location = None;
        assert!(out(&r, Format::Github).starts_with("::error file=spec.toml,title="));
    }

    /// `--strict --format junit` on an image with only a warning exited 1 while the
    /// document said `failures="0"`.
    #[test]
    fn junit_under_strict_fails_a_check_with_warnings_as_the_exit_code_does() {
        let r = crate::report::tests::report_with(&[(Status::Passed, Some(Severity::Warning))]);
        let doc = |strict| {
            let mut out = Vec::new();
            junit(&r, strict, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(r.exit_code(true), 1);
        assert!(doc(true).contains(r#"failures="1""#) && doc(true).contains("<failure "));
        assert_eq!(r.exit_code(false), 0);
        assert!(doc(false).contains(r#"failures="0""#) && !doc(false).contains("<failure"));
    }
}
