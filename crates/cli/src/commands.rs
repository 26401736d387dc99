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

use crate::cli::{Cli, Command, WorkspaceArgs};
use crate::printer::Printer;

/// Runs the parsed command.
pub fn run(cli: Cli, printer: &Printer) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &cli.global.cwd {
        std::env::set_current_dir(dir)
            .map_err(|e| anyhow::anyhow!("cannot change to directory {}: {e}", dir.display()))?;
    }
    match cli.command {
        Command::Cache { action } => cache::run(action, printer),
        // pnpm installs the whole workspace whatever the filter; so does dx.
        Command::Install {
            install,
            workspace: _,
        } => install::install(&install, &cli.global, printer),
        Command::Registry { action } => registry::run(action, printer),
        Command::RemoveLeftover { path } => {
            dx_install::remove_leftover_tree(&path)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mount(args) => mount::mount(args, &cli.global, printer),
        Command::Unmount => mount::unmount(printer),
        Command::Add(args) => in_each_member(&args.workspace, || {
            install::add(&args, &cli.global, printer)
        }),
        Command::Migrate(args) => migrate::run(args, &cli.global, printer),
        Command::Audit(args) => audit::run(args, &cli.global, printer),
        Command::Outdated { packages } => outdated::run(&packages, &cli.global, printer),
        Command::Remove {
            packages,
            install,
            workspace,
        } => in_each_member(&workspace, || {
            install::remove(&packages, &install, &cli.global, printer)
        }),
        Command::Update {
            packages,
            latest,
            install,
            workspace,
        } => in_each_member(&workspace, || {
            install::update(&packages, latest, &install, &cli.global, printer)
        }),
        Command::Run(args) => run::run(args, &cli.global, printer),
        Command::External(args) => run::run_external(args, &cli.global, printer),
        Command::Exec(args) => exec::run(args, &cli.global, printer),
        Command::Init(args) => init::run(&args, printer),
        Command::List(args) => list::run(&args, printer),
        Command::Why(args) => why::run(&args, printer),
        Command::Trust(args) => trust::run(&args, printer),
    }
}

/// Runs `command` (an `add`, `remove` or `update`) in each directory the workspace flags select
/// (as the current directory, which the command opens as its project), stopping at the first
/// failure; without workspace flags, once where dx runs.
fn in_each_member(
    flags: &WorkspaceArgs,
    mut command: impl FnMut() -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    let Some(dirs) = run::workspace::edit_dirs(flags)? else {
        return command();
    };
    for dir in dirs {
        std::env::set_current_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot change to directory {}: {e}", dir.display()))?;
        let code = command()?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}
