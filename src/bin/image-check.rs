//! `image-check`: parse arguments, run the library, exit with its code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(shipcheck::image::app::main(
        shipcheck::image::app::Cli::parse(),
    ))
}
