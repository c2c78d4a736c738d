//! `preflight`: parse arguments, run the library (which may exec the server), exit.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(shipcheck::preflight::app::main_args(std::env::args_os()))
}
