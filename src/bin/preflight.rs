//! `preflight`: parse arguments, run the library (which may exec the server), exit.

use std::process::ExitCode;

fn main() -> ExitCode {
    // A panic's message can quote the value that caused it (a credential, a
    // URL): say only where one happened. The probe that panicked is reported
    // as `probe-crashed`; a panic anywhere else still exits nonzero.
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| (l.file(), l.line()));
        // Not `eprintln!`: a failed write there would panic inside the hook.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "{}",
            shipcheck::preflight::app::internal_error_line(at)
        );
    }));
    ExitCode::from(shipcheck::preflight::app::main_args(std::env::args_os()))
}
