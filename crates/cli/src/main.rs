//! The `dx` binary: parse the command line, run the command, render errors once.
use std::process::ExitCode;

fn main() -> ExitCode {
    dx_cli::main()
}
