//! `dx mount` / `dx unmount`: the virtual node_modules for the current dx.lock.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use dx_net::CacheMode;
use dx_vfs::{MountPointState, UnmountOutcome};

use crate::cli::{GlobalArgs, MountArgs};
use crate::node_modules;
use crate::pipeline::{self, PrepareOptions};
use crate::printer::Printer;
use crate::project::Project;
use crate::settings;

/// Runs `dx mount`.
pub fn mount(args: MountArgs, global: &GlobalArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let project = Project::open_current()?;
    let store = Arc::new(settings::open_store()?);
    if args.daemon_child {
        let store = Arc::try_unwrap(store).map_err(|_| anyhow::anyhow!("store still shared"))?;
        node_modules::run_daemon(&project.dir, store, true, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    let node_modules_dir = project.dir.join("node_modules");
    if args.reset {
        if dx_vfs::mount_point_state(&node_modules_dir) != MountPointState::NotMounted {
            bail!("--reset discards what was written into node_modules; run `dx unmount` first");
        }
        dx_vfs::reset_overlay(store.project_state(&project.dir)?.overlay_dir())
            .context("cannot reset the overlay")?;
        printer.line("discarded every change written into node_modules");
    }
    if project.read_lockfile()?.is_none() {
        bail!(
            "no dx.lock in {} (hint: run `dx install` first)",
            project.dir.display()
        );
    }
    // The lock must match package.json: mounting never re-resolves.
    let options = PrepareOptions {
        frozen: true,
        lockfile_only: false,
        cache_mode: CacheMode::Revalidate,
        production: false,
        update: dx_resolve::UpdateSelection::Nothing,
    };
    let layout = pipeline::prepare(&project, &store, global, &options, printer)?;
    if args.foreground {
        let state = store.project_state(&project.dir)?;
        dx_store::write_atomic(&state.dxl(), &layout.dxl)
            .with_context(|| format!("cannot write {}", state.dxl().display()))?;
        let store = Arc::try_unwrap(store).map_err(|_| anyhow::anyhow!("store still shared"))?;
        printer.line(format!(
            "serving {} until interrupted (log: {})",
            node_modules_dir.display(),
            state.log().display()
        ));
        node_modules::run_daemon(&project.dir, store, false, layout.take_store_guard())?;
        return Ok(ExitCode::SUCCESS);
    }
    dx_vfs::check_fuse_available().map_err(|why| anyhow::anyhow!("cannot mount: {why} (hint: `dx install --materialize` writes node_modules to disk instead)"))?;
    let reloaded = node_modules::mount(&project.dir, &store, &layout, printer)?;
    node_modules::record_install(
        &store,
        &project.dir,
        &project.fingerprint("mount prod=false"),
        &layout.key,
    )?;
    printer.line(format!(
        "node_modules {} in {} ms",
        if reloaded {
            "mount reloaded"
        } else {
            "mounted"
        },
        started.elapsed().as_millis()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Runs `dx unmount`.
pub fn unmount(printer: &Printer) -> anyhow::Result<ExitCode> {
    let project_dir = std::env::current_dir().context("cannot read the current directory")?;
    let store = settings::open_store()?;
    let dir = project_dir.join("node_modules");
    if dx_vfs::mount_point_state(&dir) == MountPointState::Stale {
        dx_vfs::cleanup_stale_mount(&dir).context("cannot clean up the dead mount")?;
        printer.line("removed a dead mount (its daemon had stopped)");
        return Ok(ExitCode::SUCCESS);
    }
    match node_modules::unmount(&store, &project_dir)? {
        UnmountOutcome::Unmounted => printer.line("node_modules unmounted"),
        UnmountOutcome::Lazy => printer.line("node_modules detached: a process still has a file open; the mount goes away when it closes"),
        UnmountOutcome::NotMounted => printer.line("node_modules is not mounted"),
    }
    Ok(ExitCode::SUCCESS)
}
