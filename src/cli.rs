//! What both binaries share: printing an error chain once, and deciding on colour.
//!
//! Kept out of `report` because it is about the process (stderr, TTYs, exit codes
//! for failures before any report exists), not about findings.

use std::error::Error;
use std::io::{IsTerminal, Write};

/// Colour only for a terminal, and never when `NO_COLOR` is set.
pub fn color_for(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

pub fn stdout_color() -> bool {
    color_for(std::io::stdout().is_terminal())
}

pub fn stderr_color() -> bool {
    color_for(std::io::stderr().is_terminal())
}

/// An error and its sources on one line, for findings that must stay on one line.
/// A source whose text the line already holds is not repeated.
pub fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// Prints `error:` with the top message, one `caused by:` per source, then `hint:`.
pub fn print_error(err: &dyn Error, hint: Option<&str>) {
    use crate::report::render::escape_line;
    // Errors can quote names from an image or archive: escaped, so a name holding a
    // newline cannot forge a line of its own.
    let mut out = std::io::stderr().lock();
    let _ = writeln!(out, "error: {}", escape_line(&err.to_string()));
    let mut source = err.source();
    while let Some(s) = source {
        let _ = writeln!(out, "  caused by: {}", escape_line(&s.to_string()));
        source = s.source();
    }
    if let Some(h) = hint {
        let _ = writeln!(out, "  hint: {}", escape_line(h));
    }
}
