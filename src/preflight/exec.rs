//! Replaces preflight with the server (execvp): same PID, so signals from the
//! container runtime reach the server, and the environment passes through as is.
//!
//! The program is looked up first, as execvp would, so a COMMAND that cannot start
//! is reported with the probes' results (one report, one exit status) rather than
//! after a report that already said "passed".

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// glibc's execvp search path when `PATH` is unset.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

fn executable(p: &Path) -> Result<(), io::Error> {
    let m = std::fs::metadata(p)?;
    if m.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::EACCES));
    }
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::NotFound))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The shell's exit status for a program that cannot be started.
fn code_for(e: &io::Error) -> u8 {
    match e.kind() {
        io::ErrorKind::NotFound => 127,
        _ => 126,
    }
}

/// The file execvp would run for `program` with `path` (`$PATH`), or the exit
/// status and error a shell would give.
pub fn resolve(program: &str, path: Option<&OsStr>) -> Result<PathBuf, (u8, io::Error)> {
    let fail = |e: io::Error| (code_for(&e), e);
    if program.is_empty() {
        return Err(fail(io::Error::from(io::ErrorKind::NotFound)));
    }
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).map(|_| p).map_err(fail);
    }
    let path = path.unwrap_or(OsStr::new(DEFAULT_PATH));
    // Like execvp: a file found but not executable is remembered (EACCES), and the
    // search goes on.
    let mut denied = None;
    for dir in path.as_bytes().split(|b| *b == b':') {
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(program);
        match executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => denied = denied.or(Some(e)),
        }
    }
    Err(fail(denied.unwrap_or_else(|| {
        io::Error::from(io::ErrorKind::NotFound)
    })))
}

/// Only returns on failure: the exit code a shell would use (127 not found, 126
/// not executable) and the error. `argv[0]` stays as given, `program` is what runs.
pub fn exec(program: &Path, argv: &[String]) -> (u8, io::Error) {
    let err = Command::new(program).arg0(&argv[0]).args(&argv[1..]).exec();
    (code_for(&err), err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn resolves_like_execvp() {
        let d = tempfile::TempDir::new().unwrap();
        let plain = d.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = d.path().join("run");
        std::fs::write(&run, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([d.path().join("none"), d.path().to_path_buf()]).unwrap();
        assert_eq!(resolve("run", Some(&path)).unwrap(), run);
        assert_eq!(resolve("absent", Some(&path)).unwrap_err().0, 127);
        assert_eq!(resolve("", Some(&path)).unwrap_err().0, 127);
        assert_eq!(resolve("/nonexistent/server", None).unwrap_err().0, 127);
        assert_eq!(
            resolve(d.path().to_str().unwrap(), None).unwrap_err().0,
            126,
            "a directory"
        );
        // Found but without an execute bit (root too needs one): 126, as a shell says.
        assert_eq!(resolve("plain", Some(&path)).unwrap_err().0, 126);
    }
}
