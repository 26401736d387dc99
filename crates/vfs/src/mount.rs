//! Mounting a [`NodeModulesTree`] with `fuser`: several worker threads on cloned `/dev/fuse`
//! descriptors, live reload with kernel cache invalidation, and the foreground daemon loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dx_store::Store;
use fuser::{BackgroundSession, Config, INodeNo, MountOption, Notifier, Session};

use crate::error::{FuseUnavailable, VfsError};
use crate::fuse::{FuseAdapter, RequestCounters, RequestCounts};
use crate::layout::{LayoutRow, rows_from_dxl};
use crate::lifecycle::{self, MountPointState, ReadyWriter, UnmountOutcome};
use crate::tree::{NodeModulesTree, ReloadChanges};

/// Everything a mount needs.
#[derive(Debug)]
pub struct MountConfig {
    /// The directory to mount on (`<project>/node_modules`); created if missing.
    pub mountpoint: PathBuf,
    /// The store holding every package the layout names.
    pub store: Store,
    /// The layout to serve.
    pub layout: Vec<LayoutRow>,
    /// The project's writable layer (`upper/` + `overlay.json`), chosen by the caller; dx
    /// passes `dx_store::ProjectState::overlay_dir`.
    pub overlay_dir: PathBuf,
    /// The DXL file to re-read on SIGHUP in [`serve_until_signalled`].
    pub dxl_path: Option<PathBuf>,
    /// Worker threads, each on its own cloned `/dev/fuse` descriptor.
    pub threads: usize,
    /// Mount read-only: no writes, and the kernel then never invalidates cached attributes
    /// after a read (it does so for atime on writable FUSE mounts, whatever `noatime` says),
    /// so a warm pass costs no request at all. For CI and benchmarks.
    pub read_only: bool,
    /// Where [`serve_until_signalled`] writes the request counters (JSON) on SIGUSR1.
    pub stats_path: Option<PathBuf>,
}

impl MountConfig {
    /// A config serving the DXL at `dxl_path` (re-read on SIGHUP), with 4 worker threads.
    pub fn from_dxl_file(
        mountpoint: PathBuf,
        store: Store,
        dxl_path: PathBuf,
        overlay_dir: PathBuf,
    ) -> Result<MountConfig, VfsError> {
        let bytes = std::fs::read(&dxl_path).map_err(|e| VfsError::io("reading", &dxl_path, e))?;
        Ok(MountConfig {
            mountpoint,
            store,
            layout: rows_from_dxl(&bytes)?,
            overlay_dir,
            dxl_path: Some(dxl_path),
            threads: 4,
            read_only: false,
            stats_path: None,
        })
    }
}

/// A live mount served by background threads of this process. Dropping it unmounts (lazily
/// if busy).
#[derive(Debug)]
pub struct Mount {
    session: Option<BackgroundSession>,
    notifier: Notifier,
    tree: Arc<NodeModulesTree>,
    counters: Arc<RequestCounters>,
    mountpoint: PathBuf,
}

impl Mount {
    /// Mounts and returns once the mount answers. A stale mount at the mountpoint is cleaned
    /// up first; missing FUSE gives [`VfsError::FuseUnavailable`] (never a hang).
    pub fn start(config: MountConfig) -> Result<Mount, VfsError> {
        lifecycle::check_fuse_available()?;
        let mountpoint = config.mountpoint.clone();
        match lifecycle::mount_point_state(&mountpoint) {
            MountPointState::Stale => {
                log::warn!(
                    "{}: stale mount (daemon died); cleaning up",
                    mountpoint.display()
                );
                lifecycle::cleanup_stale_mount(&mountpoint)?;
            }
            MountPointState::Mounted => {
                return Err(VfsError::AlreadyMounted { mountpoint, pid: 0 });
            }
            MountPointState::NotMounted => {}
        }
        std::fs::create_dir_all(&mountpoint)
            .map_err(|e| VfsError::io("creating", &mountpoint, e))?;
        // Decoded files are allocated and freed constantly; a fixed mmap threshold returns
        // every large buffer to the system at once instead of letting glibc's adaptive
        // threshold keep tens of MB of freed heap resident in the daemon.
        // SAFETY: mallopt only tunes the allocator; any value is valid.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
        }
        let tree = Arc::new(NodeModulesTree::new(
            config.layout,
            config.store,
            &config.overlay_dir,
        )?);
        let counters = Arc::new(RequestCounters::default());
        let adapter = FuseAdapter::new(tree.clone(), counters.clone());
        let mut fuse_config = Config::default();
        fuse_config.mount_options = vec![
            MountOption::FSName("dx".into()),
            MountOption::Subtype("dx".into()),
            MountOption::DefaultPermissions,
            MountOption::NoAtime,
            MountOption::NoDev,
            MountOption::NoSuid,
        ];
        if config.read_only {
            fuse_config.mount_options.push(MountOption::RO);
        }
        fuse_config.n_threads = Some(config.threads.max(1));
        fuse_config.clone_fd = true;
        let session =
            Session::new(adapter, &mountpoint, &fuse_config).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    VfsError::FuseUnavailable(FuseUnavailable::NoFusermount)
                }
                _ => VfsError::FuseUnavailable(FuseUnavailable::MountRefused(e.to_string())),
            })?;
        let notifier = session.notifier();
        let session = session
            .spawn()
            .map_err(|e| VfsError::io("starting workers for", &mountpoint, e))?;
        let mount = Mount {
            session: Some(session),
            notifier,
            tree,
            counters,
            mountpoint,
        };
        // The handshake is done; one stat proves the workers answer.
        std::fs::metadata(&mount.mountpoint)
            .map_err(|e| VfsError::io("checking the new mount", &mount.mountpoint, e))?;
        log::info!("mounted {}", mount.mountpoint.display());
        Ok(mount)
    }

    /// The tree being served.
    pub fn tree(&self) -> &Arc<NodeModulesTree> {
        &self.tree
    }

    /// Where it is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Requests that reached the daemon so far.
    pub fn request_counts(&self) -> RequestCounts {
        self.counters.snapshot()
    }

    /// Swaps in a new layout without unmounting and invalidates what changed in the kernel's
    /// caches. Open files stay valid (their old inodes keep serving their old content).
    pub fn reload(&self, rows: Vec<LayoutRow>) -> ReloadChanges {
        let changes = self.tree.reload(rows);
        for (parent, name) in &changes.entries {
            if let Err(e) = self.notifier.inval_entry(INodeNo(*parent), name.as_ref()) {
                log::debug!("inval_entry {parent}/{name}: {e}");
            }
        }
        for dir in &changes.listings {
            if let Err(e) = self.notifier.inval_inode(INodeNo(*dir), 0, 0) {
                log::debug!("inval_inode {dir}: {e}");
            }
        }
        log::info!(
            "reloaded layout: {} entries and {} listings invalidated",
            changes.entries.len(),
            changes.listings.len()
        );
        changes
    }

    /// [`Self::reload`] from DXL bytes.
    pub fn reload_dxl(&self, dxl: &[u8]) -> Result<ReloadChanges, VfsError> {
        Ok(self.reload(rows_from_dxl(dxl)?))
    }

    /// Whether the serving threads are still running.
    pub fn is_serving(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| !s.guard.is_finished())
    }

    /// Unmounts (lazily if a file is still open) and, unless lazy, waits for the workers.
    pub fn unmount(mut self) -> Result<UnmountOutcome, VfsError> {
        let outcome = lifecycle::unmount(&self.mountpoint)?;
        if let Some(session) = self.session.take() {
            if outcome == UnmountOutcome::Unmounted {
                let _ = session.join();
            } else {
                drop(session);
            }
        }
        Ok(outcome)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            match lifecycle::unmount(&self.mountpoint) {
                Ok(UnmountOutcome::Unmounted) => {
                    let _ = session.join();
                }
                Ok(_) => {}
                Err(e) => log::error!("{e}"),
            }
        }
    }
}

/// The daemon's main loop (`dx mount --foreground` and the background child): mounts,
/// reports readiness, then serves until SIGTERM/SIGINT (unmount and return) or until someone
/// else unmounts. SIGHUP re-reads `config.dxl_path` and reloads live.
pub fn serve_until_signalled(
    config: MountConfig,
    ready: Option<ReadyWriter>,
) -> Result<(), VfsError> {
    // Block the signals in this thread before any worker starts, so every thread inherits the
    // mask and only our sigtimedwait sees them.
    // SAFETY: sigset manipulation on a local set; pthread_sigmask on the current thread.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let dxl_path = config.dxl_path.clone();
    let stats_path = config.stats_path.clone();
    let mount = match Mount::start(config) {
        Ok(mount) => mount,
        Err(e) => {
            if let Some(ready) = ready {
                ready.failed(&e.to_string());
            }
            return Err(e);
        }
    };
    if let Some(ready) = ready {
        ready.ready();
    }
    loop {
        let timeout = libc::timespec {
            tv_sec: 1,
            tv_nsec: 0,
        };
        // SAFETY: `set` is an initialized signal set; no siginfo is requested.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        match sig {
            libc::SIGHUP => match &dxl_path {
                Some(path) => match std::fs::read(path) {
                    Ok(bytes) => match mount.reload_dxl(&bytes) {
                        Ok(_) => acknowledge_reload(path, &bytes),
                        Err(e) => log::error!("reload from {}: {e}", path.display()),
                    },
                    Err(e) => log::error!("reload: reading {}: {e}", path.display()),
                },
                None => log::warn!("SIGHUP without a DXL path: nothing to reload"),
            },
            libc::SIGUSR1 => {
                if let Some(path) = &stats_path {
                    let counts = mount.request_counts();
                    let json = serde_json::to_vec(&counts).unwrap_or_default();
                    if let Err(e) = dx_store::write_atomic(path, &json) {
                        log::error!("writing stats to {}: {e}", path.display());
                    }
                }
            }
            libc::SIGTERM | libc::SIGINT => {
                let outcome = mount.unmount()?;
                log::info!("unmounted on signal: {outcome:?}");
                return Ok(());
            }
            _ => {
                if !mount.is_serving() {
                    log::info!("mount ended (unmounted externally)");
                    return Ok(());
                }
            }
        }
    }
}

/// The file beside a mount's DXL where the daemon records the BLAKE3 of the DXL it serves
/// after a reload, so a `dx install` that sent SIGHUP can wait until the new tree is live.
pub fn reload_ack_path(dxl_path: &Path) -> PathBuf {
    let mut name = dxl_path.file_name().unwrap_or_default().to_os_string();
    name.push(".loaded");
    dxl_path.with_file_name(name)
}

fn acknowledge_reload(dxl_path: &Path, bytes: &[u8]) {
    let ack = reload_ack_path(dxl_path);
    let digest = blake3::hash(bytes).to_hex();
    // Read only by the `dx install` waiting for this reload: atomic, no fsync.
    if let Err(e) = dx_store::replace_atomic_unsynced(&ack, digest.as_bytes()) {
        log::error!("writing {}: {e}", ack.display());
    }
}
