//! `dx migrate`: imports package-lock.json, npm-shrinkwrap.json, bun.lock or yarn.lock into
//! dx.lock (see `dx_install::migrate`) and lists what changed.

use std::process::ExitCode;

use dx_install::Project;
use serde_json::json;

use crate::cli::{GlobalArgs, MigrateArgs};
use crate::printer::Printer;
use crate::reporter::CliReporter;

/// Runs `dx migrate`.
pub fn run(args: MigrateArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let MigrateArgs { from, force } = args;
    let project = Project::open_current()?;
    let store = dx_install::open_store()?;
    let outcome = dx_install::migrate::migrate(
        &project,
        &store,
        global.registry.as_deref(),
        from.as_deref(),
        force,
        &CliReporter::new(printer),
    )?;
    if printer.json() {
        printer.json_value(&json!({
            "from": outcome.from.display().to_string(), "packages": outcome.packages,
            "kept": outcome.kept, "dropped": outcome.dropped, "added": outcome.added,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    printer.line(format!(
        "dx.lock written from {}: {}, {} of {} versions kept",
        outcome
            .from
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default(),
        crate::printer::count(outcome.packages, "package", "packages"),
        outcome.kept,
        outcome.imported
    ));
    for key in &outcome.dropped {
        printer.line(format!("- {key}"));
    }
    for key in &outcome.added {
        printer.line(format!("+ {key}"));
    }
    printer.line("run `dx install` to install them");
    Ok(ExitCode::SUCCESS)
}
