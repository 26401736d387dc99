//! One module per command; [`run`] dispatches.

mod audit;
mod cache;
mod exec;
mod init;
mod install;
mod list;
mod migrate;
mod mount;
mod outdated;
mod registry;
mod run;
mod trust;
mod why;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::printer::Printer;

/// Runs the parsed command.
pub fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &cli.global.cwd {
        std::env::set_current_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot change to directory {}: {e}", dir.display()))?;
    }
    match cli.command {
        Command::Cache { action } => cache::run(action, printer),
        Command::Install(args) => install::install(&args, &cli.global, printer),
        Command::Registry { action } => registry::run(action, printer),
        Command::Mount(args) => mount::mount(args, &cli.global, printer),
        Command::Unmount => mount::unmount(printer),
        Command::Add(args) => install::add(&args, &cli.global, printer),
        Command::Migrate(args) => migrate::run(args, &cli.global, printer),
        Command::Audit(args) => audit::run(args, &cli.global, printer),
        Command::Outdated { packages } => outdated::run(&packages, &cli.global, printer),
        Command::Remove { packages, install } => {
            install::remove(&packages, &install, &cli.global, printer)
        }
        Command::Update {
            packages,
            latest,
            install,
        } => install::update(&packages, latest, &install, &cli.global, printer),
        Command::Run(args) => run::run(args, &cli.global, printer),
        Command::External(args) => run::run_external(args, &cli.global, printer),
        Command::Exec(args) => exec::run(args, printer),
        Command::Init(args) => init::run(&args, printer),
        Command::List(args) => list::run(&args, printer),
        Command::Why(args) => why::run(&args, printer),
        Command::Trust(args) => trust::run(&args, printer),
    }
}
