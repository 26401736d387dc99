//! Per-project state kept in the store, outside the project so tools walking it never see it:
//! the mount daemon's files, the install record and the overlay of writes into a mounted
//! node_modules.
//!
//! `v1/projects/<project-key>/` holds a `project` file naming the project directory (so gc can
//! tell when the project is gone) beside the files [`ProjectState`] names. A state directory is
//! staged in the temp session with its `project` file and renamed into place, so it never lacks
//! one. State an older dx left at `<root>/mounts/<digest>/` is adopted the first time the project
//! is opened ([`Store::project_state`]); docs/store.md has the rules.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Store;
use super::roots::{canonical_project, project_key};
use crate::atomic::{list_dir, remove_file_if_exists, remove_tree, sync_dir, write_atomic_via};
use crate::error::StoreError;
use crate::lock::{FileLock, LockMode};

/// The file naming the project a state directory belongs to (its canonical path, raw bytes).
const PROJECT_FILE: &str = "project";
/// Held by the mount daemon serving the project (`dx_vfs::MountLock`; it records the pid).
const MOUNT_LOCK_FILE: &str = "mount.lock";
/// Held by a `dx install` / `dx mount` while it starts or reloads the project's mount.
const MOUNTING_LOCK_FILE: &str = "mounting.lock";
/// The record of the last install (written and read by the CLI).
const INSTALLED_FILE: &str = "installed";

/// Where one project's state lives in the store, and the name of each file in it. Obtained
/// from [`Store::project_state`], which creates the directory (or adopts an older dx's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectState {
    dir: PathBuf,
    project: PathBuf,
}

impl ProjectState {
    /// The state directory: `v1/projects/<project-key>/`, or an older dx's `mounts/<digest>/`
    /// while a mount it started is still live there.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The project directory this state belongs to (canonical).
    pub fn project(&self) -> &Path {
        &self.project
    }

    /// The mount's writable overlay (dx-vfs keeps `upper/` and `overlay.json` in it): the state
    /// directory itself, so the overlay moves with the rest of the state.
    pub fn overlay_dir(&self) -> &Path {
        &self.dir
    }

    /// The DXL the mount daemon serves (re-read on SIGHUP): `current.dxl`.
    pub fn dxl(&self) -> PathBuf {
        self.dir.join("current.dxl")
    }

    /// The daemon's lock, holding its pid while it runs: `mount.lock`. gc never removes the
    /// state of a project whose mount lock is held.
    pub fn lock(&self) -> PathBuf {
        self.dir.join(MOUNT_LOCK_FILE)
    }

    /// The daemon's log: `daemon.log`.
    pub fn log(&self) -> PathBuf {
        self.dir.join("daemon.log")
    }

    /// The record of the last install (its fingerprint and layout key): `installed`.
    /// [`Store::verify`] removes it when the project's layout references archives the store
    /// lacks, so the next install does the full work instead of finding itself up to date.
    pub fn installed(&self) -> PathBuf {
        self.dir.join(INSTALLED_FILE)
    }

    /// The daemon's request counters, written on SIGUSR1: `stats.json`.
    pub fn stats(&self) -> PathBuf {
        self.dir.join("stats.json")
    }

    /// Held while an install or mount starts or reloads the project's mount, so two of them in
    /// one project take turns: `mounting.lock`.
    pub fn mounting_lock(&self) -> PathBuf {
        self.dir.join(MOUNTING_LOCK_FILE)
    }
}

impl Store {
    /// The state directory of `project_dir`, created if needed. A few syscalls when it exists.
    ///
    /// State an older dx left at `<root>/mounts/<digest>/` is moved here (one rename, so the
    /// overlay's edits survive) unless its mount is live or being started: then that directory
    /// stays in use until the mount ends, and the first open after that moves it. If this
    /// project already has state here (an older dx ran again after an upgrade), the older
    /// directory is left alone once its mount is gone.
    pub fn project_state(&self, project_dir: &Path) -> Result<ProjectState, StoreError> {
        let project = canonical_project(project_dir);
        let dir = self.layout.project_state_dir(&project_key(&project));
        let legacy = self.layout.legacy_state_dir(&project);
        if is_dir(&legacy) && self.adopt_legacy_state(&legacy, &dir, &project)? {
            return Ok(ProjectState {
                dir: legacy,
                project,
            });
        }
        if !is_dir(&dir) {
            self.create_state_dir(&dir, &project)?;
        }
        Ok(ProjectState { dir, project })
    }

    /// Moves an older dx's state directory to `dir` unless it is in use; returns whether it is
    /// (and must go on being used where it is).
    fn adopt_legacy_state(
        &self,
        legacy: &Path,
        dir: &Path,
        project: &Path,
    ) -> Result<bool, StoreError> {
        // Whoever starts a mount holds the mounting lock until its daemon holds the mount lock,
        // so with the first held by us the second tells whether a mount is live.
        let mounting = legacy.join(MOUNTING_LOCK_FILE);
        let _mounting = match FileLock::try_acquire(&mounting, LockMode::Exclusive) {
            Ok(Some(lock)) => lock,
            Ok(None) => return Ok(true),
            // Moved away by another dx between our stat and our open.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StoreError::io("lock", &mounting)(e)),
        };
        if lock_is_held(&legacy.join(MOUNT_LOCK_FILE))? {
            return Ok(true);
        }
        if is_dir(dir) {
            return Ok(false);
        }
        self.write_file(
            &legacy.join(PROJECT_FILE),
            project.as_os_str().as_bytes(),
            0o644,
        )?;
        match fs::rename(legacy, dir) {
            Ok(()) => {
                let projects = self.layout.projects_dir();
                sync_dir(&projects).map_err(StoreError::io("sync directory", &projects))?;
                // The last one out removes the old parent; it stays while others remain.
                let _ = fs::remove_dir(self.layout.legacy_states_dir());
                Ok(false)
            }
            // Another dx moved it first.
            Err(_) if is_dir(dir) => Ok(false),
            // The store's v1/ on another filesystem than its root: keep the old place.
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => Ok(true),
            Err(e) => Err(StoreError::io("move project state", legacy)(e)),
        }
    }

    /// Creates `dir` with its `project` file, whole: staged in the temp session and renamed.
    fn create_state_dir(&self, dir: &Path, project: &Path) -> Result<(), StoreError> {
        let staging = self.session.temp_path("project-");
        fs::create_dir(&staging).map_err(StoreError::io("create directory", &staging))?;
        let file = staging.join(PROJECT_FILE);
        let written = write_atomic_via(
            &self.session.temp_path("w-"),
            &file,
            project.as_os_str().as_bytes(),
            0o644,
        )
        .map_err(StoreError::io("write", &file));
        let renamed = written.and_then(|()| match fs::rename(&staging, dir) {
            Ok(()) => {
                let parent = self.layout.projects_dir();
                sync_dir(&parent).map_err(StoreError::io("sync directory", &parent))
            }
            // Another process created it first; its `project` file says the same.
            Err(_) if is_dir(dir) => Ok(()),
            Err(e) => Err(StoreError::io("create project state", dir)(e)),
        });
        let _ = remove_tree(&staging);
        renamed
    }

    /// Removes the state of projects whose directory is gone and whose mount is neither live
    /// (`live_mounts`, or its mount lock held) nor being started; returns how many. Legacy
    /// state directories are recognised only for `gone_projects` (from their root records):
    /// an older dx recorded no project path. Called by gc under the exclusive gc lock.
    pub(crate) fn reclaim_project_states(
        &self,
        live_mounts: &HashSet<String>,
        gone_projects: &[PathBuf],
    ) -> Result<usize, StoreError> {
        let projects = self.layout.projects_dir();
        let mut removed = 0;
        for dir in list_dir(&projects).map_err(StoreError::io("list projects", &projects))? {
            let key = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if live_mounts.contains(key) {
                continue;
            }
            let project_file = dir.join(PROJECT_FILE);
            let project = match fs::read(&project_file) {
                Ok(bytes) => PathBuf::from(OsStr::from_bytes(&bytes)),
                // Whose it is cannot be told: kept.
                Err(_) => continue,
            };
            if project_is_gone(&project) && self.remove_unused_state(&dir)? {
                removed += 1;
            }
        }
        for project in gone_projects {
            let legacy = self.layout.legacy_state_dir(project);
            if is_dir(&legacy) && self.remove_unused_state(&legacy)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes a state directory unless a mount is live in it or being started, holding both
    /// of its locks meanwhile so that no mount can start in it.
    fn remove_unused_state(&self, dir: &Path) -> Result<bool, StoreError> {
        let mounting = dir.join(MOUNTING_LOCK_FILE);
        let Some(_mounting) = FileLock::try_acquire(&mounting, LockMode::Exclusive)
            .map_err(StoreError::io("lock", &mounting))?
        else {
            return Ok(false);
        };
        let mount = dir.join(MOUNT_LOCK_FILE);
        let _mount = match FileLock::try_acquire_existing(&mount, LockMode::Exclusive)
            .map_err(StoreError::io("lock", &mount))?
        {
            Some(lock) => Some(lock),
            None if mount.exists() => return Ok(false),
            None => None,
        };
        remove_tree(dir).map_err(StoreError::io("remove project state", dir))?;
        Ok(true)
    }

    /// Removes the install record of `project` (wherever its state is), so its next install
    /// does the full work. Returns whether there was one.
    pub(crate) fn forget_install(&self, project: &Path) -> Result<bool, StoreError> {
        let mut forgot = false;
        for dir in [
            self.layout.project_state_dir(&project_key(project)),
            self.layout.legacy_state_dir(project),
        ] {
            let path = dir.join(INSTALLED_FILE);
            forgot |= remove_file_if_exists(&path)
                .map_err(StoreError::io("remove install record", &path))?;
        }
        Ok(forgot)
    }
}

fn is_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

/// Whether someone holds the flock on `path` (which may not exist).
fn lock_is_held(path: &Path) -> Result<bool, StoreError> {
    match FileLock::try_acquire_existing(path, LockMode::Exclusive) {
        Ok(Some(_free)) => Ok(false),
        Ok(None) => Ok(path.exists()),
        Err(e) => Err(StoreError::io("lock", path)(e)),
    }
}

/// Whether the project directory certainly no longer exists (an unreadable parent, say, is not
/// proof: such a project keeps its state).
pub(crate) fn project_is_gone(project: &Path) -> bool {
    match fs::metadata(project) {
        Ok(meta) => !meta.is_dir(),
        Err(e) => e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    /// An older dx's state directory for `project`, with an overlay edit in it.
    fn legacy_state(store: &Store, project: &Path) -> PathBuf {
        let legacy = store
            .layout
            .legacy_state_dir(&fs::canonicalize(project).unwrap());
        fs::create_dir_all(legacy.join("upper/pkg")).unwrap();
        fs::write(legacy.join("upper/pkg/edited.js"), b"mine").unwrap();
        fs::write(legacy.join("installed"), b"fp\nkey\n").unwrap();
        legacy
    }

    #[test]
    fn a_project_state_lives_in_v1_and_records_its_project() {
        let (root, store) = store();
        let project = tempfile::tempdir().unwrap();
        let state = store.project_state(project.path()).unwrap();
        let canonical = fs::canonicalize(project.path()).unwrap();
        assert_eq!(state.project(), canonical);
        assert!(state.dir().starts_with(root.path().join("v1/projects")));
        assert_eq!(
            state.dir().file_name().unwrap().to_str().unwrap(),
            project_key(&canonical)
        );
        assert_eq!(
            fs::read(state.dir().join(PROJECT_FILE)).unwrap(),
            canonical.as_os_str().as_bytes()
        );
        assert_eq!(state.overlay_dir(), state.dir());
        for (path, name) in [
            (state.dxl(), "current.dxl"),
            (state.lock(), "mount.lock"),
            (state.log(), "daemon.log"),
            (state.installed(), "installed"),
            (state.stats(), "stats.json"),
            (state.mounting_lock(), "mounting.lock"),
        ] {
            assert_eq!(path, state.dir().join(name));
        }
        // Opening again (through another spelling of the path) finds the same directory.
        let again = store.project_state(&project.path().join(".")).unwrap();
        assert_eq!(again, state);
    }

    #[test]
    fn an_older_dx_state_is_moved_into_v1_with_its_overlay() {
        let (root, store) = store();
        let project = tempfile::tempdir().unwrap();
        let legacy = legacy_state(&store, project.path());
        let state = store.project_state(project.path()).unwrap();
        assert!(state.dir().starts_with(root.path().join("v1/projects")));
        assert!(!legacy.exists());
        assert!(
            !root.path().join("mounts").exists(),
            "the empty old parent goes"
        );
        assert_eq!(
            fs::read(state.overlay_dir().join("upper/pkg/edited.js")).unwrap(),
            b"mine"
        );
        assert_eq!(fs::read(state.installed()).unwrap(), b"fp\nkey\n");
        assert_eq!(
            fs::read(state.dir().join(PROJECT_FILE)).unwrap(),
            state.project().as_os_str().as_bytes()
        );
    }

    #[test]
    fn a_live_older_mount_keeps_its_state_until_it_ends() {
        let (_root, store) = store();
        let project = tempfile::tempdir().unwrap();
        let legacy = legacy_state(&store, project.path());
        let daemon = FileLock::acquire(&legacy.join(MOUNT_LOCK_FILE), LockMode::Exclusive).unwrap();
        let state = store.project_state(project.path()).unwrap();
        assert_eq!(state.dir(), legacy);
        assert_eq!(state.lock(), legacy.join("mount.lock"));
        drop(daemon);

        // A mount being started there counts as live too.
        let starting =
            FileLock::acquire(&legacy.join(MOUNTING_LOCK_FILE), LockMode::Exclusive).unwrap();
        assert_eq!(store.project_state(project.path()).unwrap().dir(), legacy);
        drop(starting);

        let moved = store.project_state(project.path()).unwrap();
        assert_ne!(moved.dir(), legacy);
        assert!(!legacy.exists());
        assert_eq!(
            fs::read(moved.overlay_dir().join("upper/pkg/edited.js")).unwrap(),
            b"mine"
        );
    }

    #[test]
    fn existing_state_is_never_replaced_by_an_older_one() {
        let (_root, store) = store();
        let project = tempfile::tempdir().unwrap();
        let state = store.project_state(project.path()).unwrap();
        fs::write(state.installed(), b"new").unwrap();
        let legacy = legacy_state(&store, project.path());
        assert_eq!(store.project_state(project.path()).unwrap(), state);
        assert_eq!(fs::read(state.installed()).unwrap(), b"new");
        assert!(legacy.join("upper/pkg/edited.js").is_file());
    }

    #[test]
    fn only_the_state_of_gone_projects_without_a_live_mount_is_reclaimed() {
        let (_root, store) = store();
        let alive = tempfile::tempdir().unwrap();
        let gone = tempfile::tempdir().unwrap();
        let gone_mounted = tempfile::tempdir().unwrap();
        let gone_guarded = tempfile::tempdir().unwrap();
        let alive_state = store.project_state(alive.path()).unwrap();
        let gone_state = store.project_state(gone.path()).unwrap();
        let mounted_state = store.project_state(gone_mounted.path()).unwrap();
        let guarded_state = store.project_state(gone_guarded.path()).unwrap();
        let daemon = FileLock::acquire(&mounted_state.lock(), LockMode::Exclusive).unwrap();
        let guard = store.mount_guard(gone_guarded.path()).unwrap();
        let live: HashSet<String> = [project_key(guarded_state.project())].into();
        // An unreadable `project` file: whose it is cannot be told, so it stays.
        let unknown = store.layout.project_state_dir("unknown");
        fs::create_dir_all(&unknown).unwrap();
        drop((gone, gone_mounted, gone_guarded));

        assert_eq!(store.reclaim_project_states(&live, &[]).unwrap(), 1);
        assert!(alive_state.dir().is_dir());
        assert!(!gone_state.dir().exists());
        assert!(mounted_state.dir().is_dir() && guarded_state.dir().is_dir());
        assert!(unknown.is_dir());

        drop((daemon, guard));
        assert_eq!(
            store.reclaim_project_states(&HashSet::new(), &[]).unwrap(),
            2
        );
        assert!(alive_state.dir().is_dir() && unknown.is_dir());
    }

    #[test]
    fn older_state_of_a_gone_project_is_reclaimed_when_its_root_names_it() {
        let (_root, store) = store();
        let project = tempfile::tempdir().unwrap();
        let canonical = fs::canonicalize(project.path()).unwrap();
        let legacy = legacy_state(&store, project.path());
        drop(project);
        assert_eq!(
            store.reclaim_project_states(&HashSet::new(), &[]).unwrap(),
            0
        );
        assert!(
            legacy.is_dir(),
            "without a root, whose it is cannot be told"
        );
        assert_eq!(
            store
                .reclaim_project_states(&HashSet::new(), &[canonical])
                .unwrap(),
            1
        );
        assert!(!legacy.exists());
    }

    #[test]
    fn forgetting_an_install_removes_its_record() {
        let (_root, store) = store();
        let project = tempfile::tempdir().unwrap();
        let state = store.project_state(project.path()).unwrap();
        assert!(!store.forget_install(state.project()).unwrap());
        fs::write(state.installed(), b"fp\nkey\n").unwrap();
        assert!(store.forget_install(state.project()).unwrap());
        assert!(!state.installed().exists());
    }
}
