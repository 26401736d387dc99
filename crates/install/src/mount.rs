//! `dx mount` / `dx unmount`: the virtual node_modules for the current dx.lock, without
//! re-resolving (the lock must match package.json).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dx_resolve::UpdateSelection;
use dx_store::Store;
use dx_vfs::{MountPointState, UnmountOutcome};

use crate::bail;
use crate::error::{Context as _, Error, Result};
use crate::node_modules;
use crate::prepare::{self, PrepareOptions, PreparedLayout};
use crate::project::Project;
use crate::reporter::Reporter;
use crate::settings::InstallSettings;

/// What `dx mount` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOutcome {
    /// An existing mount swapped layouts instead of a new daemon starting.
    pub reloaded: bool,
    /// `--reset` discarded what had been written into node_modules.
    pub reset: bool,
    /// Packages in the layout.
    pub packages: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// What `dx unmount` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmounted {
    /// The mount is gone and its daemon stopped.
    Unmounted,
    /// A process still had a file open: the mount was detached and goes away when it closes.
    Detached,
    /// node_modules was a dead mount (its daemon had stopped): cleaned up.
    RemovedDead,
    /// Nothing was mounted.
    NotMounted,
}

/// The layout for `project`'s dx.lock, prepared without re-resolving (`--frozen-lockfile`).
fn frozen_layout(
    project: &Project,
    store: &Arc<Store>,
    settings: &InstallSettings,
    reporter: &dyn Reporter,
) -> Result<PreparedLayout> {
    project.require_lockfile()?;
    let options = PrepareOptions {
        frozen: true,
        lockfile_only: false,
        network: settings.network,
        registry: settings.registry.as_deref(),
        production: false,
        update: UpdateSelection::Nothing,
        unpack: false, // for the mount
    };
    prepare::prepare(project, store, &options, reporter)
}

/// Discards the overlay (what was written into node_modules); node_modules must not be mounted.
fn reset_overlay(project: &Project, store: &Store) -> Result<()> {
    let node_modules = project.dir.join("node_modules");
    if dx_vfs::mount_point_state(&node_modules) != MountPointState::NotMounted {
        bail!("--reset discards what was written into node_modules; run `dx unmount` first");
    }
    dx_vfs::reset_overlay(store.project_state(&project.dir)?.overlay_dir())
        .context("cannot reset the overlay")
}

/// Mounts node_modules for dx.lock as it is (a running daemon is handed the layout), after
/// discarding the overlay when `reset`.
pub fn mount(
    project: &Project,
    store: &Arc<Store>,
    settings: &InstallSettings,
    reset: bool,
    reporter: &dyn Reporter,
) -> Result<MountOutcome> {
    let started = Instant::now();
    if reset {
        reset_overlay(project, store)?;
    }
    let layout = frozen_layout(project, store, settings, reporter)?;
    dx_vfs::check_fuse_available().map_err(|why| {
        Error::msg(format!(
            "cannot mount: {why} (hint: `dx install --materialize` writes node_modules to disk instead)"
        ))
    })?;
    let state = store.project_state(&project.dir)?;
    let reloaded = node_modules::mount(&project.dir, store, &state, &layout, reporter)?;
    layout.finish_writes()?;
    node_modules::record_install(
        &state,
        &project.fingerprint("mount prod=false"),
        &layout.key,
        None,
    )?;
    Ok(MountOutcome {
        reloaded,
        reset,
        packages: layout.packages,
        elapsed: started.elapsed(),
    })
}

/// `dx mount --foreground`: prepares the layout, calls `serving` with the daemon log's path,
/// then serves node_modules in this process until unmounted or interrupted.
pub fn serve_foreground(
    project: &Project,
    store: Arc<Store>,
    settings: &InstallSettings,
    reset: bool,
    reporter: &dyn Reporter,
    serving: impl FnOnce(&std::path::Path),
) -> Result<()> {
    if reset {
        reset_overlay(project, &store)?;
    }
    let layout = frozen_layout(project, &store, settings, reporter)?;
    layout.finish_writes()?;
    let state = store.project_state(&project.dir)?;
    dx_store::replace_atomic_unsynced(&state.dxl(), &layout.dxl)
        .with_context(|| format!("cannot write {}", state.dxl().display()))?;
    let store = Arc::try_unwrap(store).map_err(|_| Error::msg("the store is still shared"))?;
    serving(&state.log());
    node_modules::run_daemon(&project.dir, store, false, layout.take_store_guard())
}

/// The background daemon `dx mount` / `dx install` start (`dx mount --daemon-child`).
pub fn run_daemon_child(project_dir: &std::path::Path, store: Store) -> Result<()> {
    node_modules::run_daemon(project_dir, store, true, None)
}

/// Unmounts `project_dir/node_modules` (cleaning up a dead mount).
pub fn unmount(store: &Store, project_dir: &std::path::Path) -> Result<Unmounted> {
    let dir = project_dir.join("node_modules");
    if dx_vfs::mount_point_state(&dir) == MountPointState::Stale {
        dx_vfs::cleanup_stale_mount(&dir).context("cannot clean up the dead mount")?;
        return Ok(Unmounted::RemovedDead);
    }
    Ok(match node_modules::unmount(store, project_dir)? {
        UnmountOutcome::Unmounted => Unmounted::Unmounted,
        UnmountOutcome::Lazy => Unmounted::Detached,
        UnmountOutcome::NotMounted => Unmounted::NotMounted,
    })
}
