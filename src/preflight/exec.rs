//! Replaces preflight with the server (execvp): same PID, so signals from the
//! container runtime reach the server, and the environment passes through as is.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Only returns on failure; the exit code a shell would use (127 not found, 126
/// not executable) and the error.
pub fn exec(argv: &[String]) -> (u8, std::io::Error) {
    let err = Command::new(&argv[0]).args(&argv[1..]).exec();
    let code = match err.kind() {
        std::io::ErrorKind::NotFound => 127,
        _ => 126,
    };
    (code, err)
}
