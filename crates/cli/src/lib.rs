//! The `dx` command line: clap definitions, settings, output, and one module per command.
//!
//! This crate is thin by design: it parses arguments, turns them into the engine's typed
//! settings (one resolution per command, [`settings`]), calls `dx_install` and the other
//! library crates, and renders their outcomes and errors. No install, format, store or
//! resolution logic lives here.
#![deny(missing_docs)]

mod cli;
mod commands;
mod printer;
mod progress;
mod reporter;
mod settings;

use std::process::ExitCode;

use clap::Parser as _;

pub use cli::Cli;
use printer::Printer;

/// Runs dx with the process's arguments and returns its exit status: 0 success, 1 failure,
/// 2 usage error (clap's own exit code for bad arguments).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(&cli.global);
    // A tree an install replaces is removed by `dx remove-leftover` in the background.
    if let Ok(exe) = std::env::current_exe() {
        dx_install::remove_replaced_trees_with(exe);
    }
    let code = match commands::run(cli, &printer) {
        Ok(code) => code,
        Err(err) => {
            printer.error(&err);
            ExitCode::from(1)
        }
    };
    // What is left on the async runtime is speculative (metadata prefetched for names the
    // resolver did not need): it is not waited for, but a file write in flight finishes first
    // and none starts after this.
    dx_store::quiesce_writes(std::time::Duration::from_secs(2));
    dx_install::runtime::shutdown();
    code
}
