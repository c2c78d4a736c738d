//! `preflight`: parse arguments, run the library (which may exec the server), exit.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(shipcheck::preflight::app::main(
        shipcheck::preflight::app::Cli::parse(),
    ))
}
