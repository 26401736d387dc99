//! `dx mount` / `dx unmount`: the virtual node_modules for the current dx.lock.

use std::process::ExitCode;
use std::sync::Arc;

use dx_install::{InstallSettings, NetworkMode, Project, Unmounted, mount};
use serde_json::json;

use crate::cli::{GlobalArgs, MountArgs};
use crate::printer::Printer;
use crate::reporter::CliReporter;

/// Runs `dx mount`.
pub fn mount(args: MountArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let MountArgs {
        foreground,
        reset,
        daemon_child,
    } = args;
    if daemon_child {
        // Started by an install or a mount in the project's root directory: it serves that
        // directory's node_modules and needs nothing from package.json (nor the walk up
        // looking for a workspace root).
        let dir = std::env::current_dir()?;
        mount::run_daemon_child(&dir, dx_install::open_store()?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let project = Project::open_current()?;
    let store = dx_install::open_store()?;
    let settings = InstallSettings {
        frozen_lockfile: true,
        network: NetworkMode::Online,
        registry: global.registry.clone(),
        ..InstallSettings::default()
    };
    let reporter = CliReporter::new(printer);
    let store = Arc::new(store);
    if foreground {
        let node_modules = project.dir.join("node_modules");
        mount::serve_foreground(&project, store, &settings, reset, &reporter, |log| {
            if reset {
                printer.line("discarded every change written into node_modules");
            }
            printer.line(format!(
                "serving {} until interrupted (log: {})",
                node_modules.display(),
                log.display()
            ));
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = mount::mount(&project, &store, &settings, reset, &reporter)?;
    if printer.json() {
        printer.json_value(&json!({
            "node_modules": "mounted", "reloaded": outcome.reloaded, "reset": outcome.reset,
            "packages": outcome.packages, "milliseconds": outcome.elapsed.as_millis() as u64,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    if outcome.reset {
        printer.line("discarded every change written into node_modules");
    }
    printer.line(format!(
        "node_modules {} in {} ms",
        if outcome.reloaded {
            "mount reloaded"
        } else {
            "mounted"
        },
        outcome.elapsed.as_millis()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Runs `dx unmount`.
pub fn unmount(printer: &Printer) -> anyhow::Result<ExitCode> {
    let project_dir = std::env::current_dir()?;
    let store = dx_install::open_store()?;
    let outcome = mount::unmount(&store, &project_dir)?;
    let (word, line) = match outcome {
        Unmounted::RemovedDead => (
            "removed-dead",
            "removed a dead mount (its daemon had stopped)",
        ),
        Unmounted::Unmounted => ("unmounted", "node_modules unmounted"),
        Unmounted::Detached => (
            "detached",
            "node_modules detached: a process still has a file open; the mount goes away when it closes",
        ),
        Unmounted::NotMounted => ("not-mounted", "node_modules is not mounted"),
    };
    if printer.json() {
        printer.json_value(&json!({ "unmount": word }));
    } else {
        printer.line(line);
    }
    Ok(ExitCode::SUCCESS)
}
