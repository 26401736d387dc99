//! `dx install`, `dx add`, `dx remove`, `dx update`: settings from the flags, the engine's
//! [`Install`], and the outcome rendered (one summary line, the direct dependencies an edit
//! changed, blocked scripts; or one JSON document).

use std::process::ExitCode;
use std::sync::Arc;

use dx_install::edit::{self, SaveAs};
use dx_install::{DirectChange, Install, InstallOutcome, InstallPath, NodeModules, Project};
use serde_json::{Value, json};

use crate::cli::{AddArgs, GlobalArgs, InstallArgs};
use crate::printer::{Printer, count};
use crate::reporter::CliReporter;
use crate::settings::{Intent, install_settings};

/// Runs `dx install`.
pub fn install(
    args: &InstallArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let settings = install_settings(args, global, Intent::Install);
    let install = Install::new(
        Project::open_current()?,
        Arc::new(dx_install::open_store()?),
        settings,
    );
    run(install, printer)
}

/// Runs `dx add`.
pub fn add(args: &AddArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let settings = install_settings(&args.install, global, Intent::Edit);
    let project = Project::open_current()?;
    let store = Arc::new(dx_install::open_store()?);
    let save_as = if args.peer {
        SaveAs::Peer
    } else if args.dev {
        SaveAs::Dev
    } else if args.optional {
        SaveAs::Optional
    } else {
        SaveAs::Prod
    };
    let edit = edit::add(
        &project,
        &store,
        &settings,
        &args.packages,
        save_as,
        args.exact,
    )?;
    run(
        Install::new(project, store, settings).with_edit(edit)?,
        printer,
    )
}

/// Runs `dx remove`.
pub fn remove(
    packages: &[String],
    args: &InstallArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let settings = install_settings(args, global, Intent::Edit);
    let project = Project::open_current()?;
    let edit = edit::remove(&project, packages)?;
    let store = Arc::new(dx_install::open_store()?);
    run(
        Install::new(project, store, settings).with_edit(edit)?,
        printer,
    )
}

/// Runs `dx update`.
pub fn update(
    packages: &[String],
    latest: bool,
    args: &InstallArgs,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let settings = install_settings(args, global, Intent::Edit);
    let project = Project::open_current()?;
    let store = Arc::new(dx_install::open_store()?);
    let edit = edit::update(&project, &store, &settings, packages, latest)?;
    run(
        Install::new(project, store, settings).with_edit(edit)?,
        printer,
    )
}

/// Runs `install` and renders its outcome.
pub fn run(install: Install, printer: &Printer) -> anyhow::Result<ExitCode> {
    let outcome = install.run(&CliReporter::new(printer))?;
    render(&outcome, printer);
    Ok(ExitCode::SUCCESS)
}

/// Runs an install inside another command (`dx audit fix`): its summary is printed as a human
/// line, and with `--json` it is returned for the caller's one document instead.
pub fn run_within(install: Install, printer: &Printer) -> anyhow::Result<InstallOutcome> {
    let outcome = install.run(&CliReporter::new(printer))?;
    if !printer.json() {
        render(&outcome, printer);
    }
    Ok(outcome)
}

/// The outcome as users see it: one summary line (or one JSON document).
fn render(outcome: &InstallOutcome, printer: &Printer) {
    if printer.json() {
        printer.json_value(&outcome_json(outcome));
        return;
    }
    if let Some(NodeModules::Materialized {
        step_down: Some(reason),
        ..
    }) = &outcome.node_modules
    {
        printer.warn(reason);
    }
    let ms = outcome.elapsed.as_millis();
    let packages = count(outcome.packages, "package", "packages");
    let downloaded = outcome.downloaded;
    let line = match (outcome.path, &outcome.node_modules) {
        (InstallPath::LockfileOnly, _) => {
            format!("dx.lock written ({packages}) in {ms} ms")
        }
        (InstallPath::UpToDate, _) => format!("node_modules is up to date in {ms} ms"),
        (InstallPath::Repaired, Some(NodeModules::Materialized { mode, files, .. })) => {
            format!(
                "node_modules repaired ({} by {}) in {ms} ms",
                count(*files, "file", "files"),
                mode.as_str()
            )
        }
        (_, Some(NodeModules::Mounted { reloaded })) => {
            let how = if *reloaded {
                "mount reloaded"
            } else {
                "mounted"
            };
            format!("{packages} ({downloaded} downloaded), node_modules {how}, in {ms} ms")
        }
        (_, Some(NodeModules::Materialized { noop: true, .. })) => {
            format!("node_modules is up to date ({packages}) in {ms} ms")
        }
        (
            _,
            Some(NodeModules::Materialized {
                mode,
                files,
                updated_in_place: true,
                ..
            }),
        ) => format!(
            "{packages} ({downloaded} downloaded), node_modules updated in place ({} by {}) in {ms} ms",
            count(*files, "file", "files"),
            mode.as_str()
        ),
        (_, Some(NodeModules::Materialized { mode, files, .. })) => format!(
            "added {packages} ({downloaded} downloaded, {} by {}) in {ms} ms",
            count(*files, "file", "files"),
            mode.as_str()
        ),
        (_, None) => format!("{packages} in {ms} ms"),
    };
    if let Some(import) = &outcome.imported {
        printer.line(format!(
            "imported {} into dx.lock ({} of {} versions kept{})",
            import.from,
            import.kept,
            import.imported,
            match import.added {
                0 => String::new(),
                n => format!(", {n} added"),
            }
        ));
    }
    if let Some(line) = blocked_line(&outcome.blocked_scripts) {
        printer.line(line);
    }
    printer.line(line);
    for change in &outcome.changes {
        printer.line(match change {
            DirectChange::Added { name, version } => format!("+ {name} {version}"),
            DirectChange::Changed { name, from, to } => format!("~ {name} {from} → {to}"),
            DirectChange::Removed { name, version } => format!("- {name} {version}"),
        });
    }
}

/// The `--json` document of an install (docs/cli.md).
pub fn outcome_json(outcome: &InstallOutcome) -> Value {
    let mut doc = json!({
        "path": outcome.path.as_str(),
        "packages": outcome.packages,
        "resolved": outcome.resolved,
        "downloaded": outcome.downloaded,
        "node_modules": Value::Null,
        "blockedScripts": outcome.blocked_scripts,
        "changes": outcome.changes.iter().map(change_json).collect::<Vec<_>>(),
        "milliseconds": outcome.elapsed.as_millis() as u64,
    });
    if let Some(import) = &outcome.imported {
        doc["imported"] = json!({
            "from": import.from,
            "versions": import.imported,
            "kept": import.kept,
            "added": import.added,
        });
    }
    match &outcome.node_modules {
        None => {}
        Some(NodeModules::Mounted { reloaded }) => {
            doc["node_modules"] = json!("mounted");
            doc["reloaded"] = json!(reloaded);
        }
        Some(NodeModules::Materialized {
            mode,
            files,
            noop,
            updated_in_place,
            ..
        }) => {
            doc["node_modules"] = json!("materialized");
            doc["noop"] = json!(noop);
            doc["updatedInPlace"] = json!(updated_in_place);
            doc["linkMode"] = json!(mode.as_str());
            doc["files"] = json!(files);
        }
    }
    doc
}

fn change_json(change: &DirectChange) -> Value {
    match change {
        DirectChange::Added { name, version } => {
            json!({"change": "added", "name": name, "version": version})
        }
        DirectChange::Changed { name, from, to } => {
            json!({"change": "changed", "name": name, "from": from, "version": to})
        }
        DirectChange::Removed { name, version } => {
            json!({"change": "removed", "name": name, "version": version})
        }
    }
}

/// The summary's line about blocked scripts, if any.
fn blocked_line(blocked: &std::collections::BTreeSet<String>) -> Option<String> {
    if blocked.is_empty() {
        return None;
    }
    let names: Vec<&str> = blocked.iter().map(String::as_str).collect();
    let shown = if names.len() > 5 {
        format!("{} and {} more", names[..5].join(", "), names.len() - 5)
    } else {
        names.join(", ")
    };
    Some(format!(
        "blocked install scripts of {} package{}: {shown} (run `dx trust <name>` to allow one)",
        names.len(),
        if names.len() == 1 { "" } else { "s" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_line_lists_at_most_five() {
        let names: std::collections::BTreeSet<String> = ["a", "b", "c", "d", "e", "f", "g"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            blocked_line(&names).unwrap(),
            "blocked install scripts of 7 packages: a, b, c, d, e and 2 more (run `dx trust <name>` to allow one)"
        );
        assert_eq!(blocked_line(&Default::default()), None);
    }
}
