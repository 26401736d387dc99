//! One module per command; [`run`] dispatches.

mod add;
mod audit;
mod cache;
mod changes;
mod install;
mod migrate;
mod outdated;
mod mount;
mod registry;
mod remove;
mod update;

use std::process::ExitCode;

use anyhow::bail;

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
        Command::Install(args) => install::run(args, &cli.global, printer),
        Command::Registry { action } => registry::run(action, printer),
        Command::Mount(args) => mount::mount(args, &cli.global, printer),
        Command::Unmount => mount::unmount(printer),
        Command::Add(args) => add::run(args, &cli.global, printer),
        Command::Migrate(args) => migrate::run(args, &cli.global, printer),
        Command::Audit(args) => audit::run(args, &cli.global, printer),
        Command::Outdated { packages } => outdated::run(&packages, &cli.global, printer),
        Command::Remove { packages, install } => remove::run(&packages, &install, &cli.global, printer),
        Command::Update { packages, latest, install } => update::run(&packages, latest, &install, &cli.global, printer),
        other => not_built(&other),
    }
}

/// The honest answer for a command that is not implemented yet: say so, exit 1.
fn not_built(command: &Command) -> anyhow::Result<ExitCode> {
    let name = match command {
        Command::Install(_) => "install",
        Command::Add(_) => "add",
        Command::Remove { .. } => "remove",
        Command::Update { .. } => "update",
        Command::Mount(_) => "mount",
        Command::Unmount => "unmount",
        Command::List => "list",
        Command::Why { .. } => "why",
        Command::Run { .. } => "run",
        Command::Exec { .. } => "exec",
        Command::Init => "init",
        Command::Audit(_) => "audit",
        Command::Outdated { .. } => "outdated",
        Command::Migrate(_) => "migrate",
        Command::Registry { .. } => "registry",
        Command::Cache { .. } => "cache",
    };
    bail!("`dx {name}` is not built yet in this version of dx")
}
