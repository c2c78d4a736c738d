//! Replaces preflight with the server: same PID, so signals from the container
//! runtime reach the server, and the environment passes through as is.
//!
//! The program is looked up first, as execvp would, so a COMMAND that cannot start
//! is reported with the probes' results (one report, one exit status) rather than
//! after a report that already said "passed". It is then started with `execve`,
//! as Docker and runc start an ENTRYPOINT: glibc's `execvp` runs a file without
//! `#!` through `/bin/sh`, musl's (the static build's) refuses it, so the glibc
//! build would start what the shipped one cannot.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
pub fn resolve(program: &OsStr, path: Option<&OsStr>) -> Result<PathBuf, (u8, io::Error)> {
    let fail = |e: io::Error| (code_for(&e), e);
    if program.is_empty() {
        return Err(fail(io::Error::from(io::ErrorKind::NotFound)));
    }
    if program.as_bytes().contains(&b'/') {
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
pub fn exec(program: &Path, argv: &[OsString]) -> (u8, io::Error) {
    // Arguments come from our own argv, so they hold no NUL; a path that does
    // cannot name a file.
    let c = |s: &OsStr| CString::new(s.as_bytes());
    let (Ok(path), Ok(args)) = (
        c(program.as_os_str()),
        argv.iter().map(|a| c(a)).collect::<Result<Vec<_>, _>>(),
    ) else {
        let err = io::Error::from(io::ErrorKind::NotFound);
        return (code_for(&err), err);
    };
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: NUL-terminated strings and a NULL-terminated argv that outlive the
    // call; `environ` is the process's own. The Rust runtime ignores SIGPIPE,
    // which an exec would hand on to the server (std's `Command` resets it too).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::execve(path.as_ptr(), ptrs.as_ptr(), environ);
    }
    let err = io::Error::last_os_error();
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
        assert_eq!(resolve(OsStr::new("run"), Some(&path)).unwrap(), run);
        assert_eq!(
            resolve(OsStr::new("absent"), Some(&path)).unwrap_err().0,
            127
        );
        assert_eq!(resolve(OsStr::new(""), Some(&path)).unwrap_err().0, 127);
        assert_eq!(
            resolve(OsStr::new("/nonexistent/server"), None)
                .unwrap_err()
                .0,
            127
        );
        assert_eq!(
            resolve(d.path().as_os_str(), None).unwrap_err().0,
            126,
            "a directory"
        );
        // Found but without an execute bit (root too needs one): 126, as a shell says.
        assert_eq!(
            resolve(OsStr::new("plain"), Some(&path)).unwrap_err().0,
            126
        );
    }
}
