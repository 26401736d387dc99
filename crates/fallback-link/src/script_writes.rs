//! Files that install scripts rewrote through a hardlink: the project keeps what the script
//! wrote, the store gets its own file back.
//!
//! A hardlinked file *is* the store's file. Placed files are read-only, but root (the usual
//! user in CI containers) writes through read-only modes, so a trusted package's postinstall
//! that patches another package's file in place (`fs.writeFileSync` on
//! `node_modules/other/index.js`) would change that file for every project linked to it.
//! Packages whose own scripts run are private copies already
//! ([`MaterializeOptions::private_copies`](crate::MaterializeOptions)); this covers the rest.
//!
//! [`ScriptWatch::start`] takes the time, on the filesystem's own clock (the change time of a
//! file created in `node_modules`: the kernel stamps inodes with a coarse clock that can lag
//! the system clock by a tick, so the system clock would miss a write made right after it),
//! before the scripts run. [`ScriptWatch::detach_rewritten`] then `stat`s every file the
//! layout placed; a file whose inode changed since then and is still the store's inode is
//! compared with its archive entry, and if its bytes or mode differ, the rewritten file is
//! copied into a private file at the same path (renamed over the link) and the store's file
//! is repaired in place, which also repairs every other project linked to it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use dx_formats::dxl::Dxl;
use dx_formats::dxp::EntryKind;
use dx_store::Store;
use rayon::prelude::*;

use crate::error::LinkError;
use crate::materialize::LayoutPlan;
use crate::unpacked_check::{UnpackedDamage, UnpackedProblem, repair_unpacked};

/// The moment before install scripts run, on the clock of the filesystem `node_modules` is on.
#[derive(Clone, Copy, Debug)]
pub struct ScriptWatch {
    since: (i64, i64),
}

impl ScriptWatch {
    /// Reads the clock of the filesystem `node_modules` is on by creating (and removing) a
    /// file beside it (inside, it would change the directory the no-op check fingerprints).
    pub fn start(node_modules: &Path) -> Result<ScriptWatch, LinkError> {
        let dir = node_modules.parent().unwrap_or(node_modules);
        let probe = dir.join(format!(".dx-script-watch-{}", std::process::id()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&probe)
            .map_err(LinkError::io("create", &probe))?;
        let meta = file.metadata().map_err(LinkError::io("stat", &probe))?;
        fs::remove_file(&probe).map_err(LinkError::io("remove", &probe))?;
        Ok(ScriptWatch {
            since: (meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// After the scripts: every placed file of `dxl` under `node_modules` that a script
    /// rewrote (bytes or mode) while it was the store's inode becomes a private file holding
    /// what the script wrote, and the store's file is restored. Returns those files' paths,
    /// relative to `node_modules`.
    pub fn detach_rewritten(
        &self,
        store: &Store,
        dxl: &Dxl<'_>,
        node_modules: &Path,
    ) -> Result<Vec<String>, LinkError> {
        let plan = LayoutPlan::from_dxl(dxl)?;
        let found: Vec<Vec<String>> = plan
            .packages
            .par_iter()
            .map(|job| {
                let Some(stored) = store.get(&job.hash).ok().flatten() else {
                    return Ok(Vec::new());
                };
                let archive = stored.archive().map_err(|source| LinkError::Store {
                    package: job.display.clone(),
                    source,
                })?;
                let root = node_modules.join(job.path);
                let mut detached = Vec::new();
                for entry in archive.entries() {
                    if entry.kind() != EntryKind::File || job.is_shadowed(entry.path(), true) {
                        continue;
                    }
                    let placed = root.join(entry.path());
                    let Ok(meta) = fs::symlink_metadata(&placed) else {
                        continue;
                    };
                    if !meta.is_file()
                        || meta.nlink() < 2
                        || (meta.ctime(), meta.ctime_nsec()) < self.since
                    {
                        continue;
                    }
                    let Ok(unpacked) = store.unpacked(&job.hash) else {
                        continue;
                    };
                    let in_store = unpacked.join(entry.path());
                    let shared = fs::symlink_metadata(&in_store)
                        .is_ok_and(|s| s.ino() == meta.ino() && s.dev() == meta.dev());
                    if !shared {
                        continue;
                    }
                    let expected =
                        archive
                            .read(&entry)
                            .map_err(|source| LinkError::CorruptArchive {
                                package: job.display.clone(),
                                source,
                            })?;
                    let bytes = fs::read(&placed).map_err(LinkError::io("read", &placed))?;
                    let mode = meta.permissions().mode() & 0o7777;
                    let expected_mode = if entry.is_executable() { 0o555 } else { 0o444 };
                    let problem = if bytes != *expected {
                        UnpackedProblem::ContentChanged
                    } else if mode != expected_mode {
                        UnpackedProblem::ModeChanged { found: mode }
                    } else {
                        continue;
                    };
                    keep_private(&placed, &bytes, mode)?;
                    repair_unpacked(
                        store,
                        &job.hash,
                        &[UnpackedDamage {
                            entry: entry.path().to_owned(),
                            path: in_store,
                            problem,
                        }],
                    )?;
                    detached.push(format!("{}/{}", job.path, entry.path()));
                }
                Ok(detached)
            })
            .collect::<Result<_, LinkError>>()?;
        let mut all: Vec<String> = found.into_iter().flatten().collect();
        all.sort();
        Ok(all)
    }
}

/// Replaces the link at `path` by a file of its own holding `bytes` with `mode`.
fn keep_private(path: &Path, bytes: &[u8], mode: u32) -> Result<(), LinkError> {
    let temp = path.with_file_name(format!(
        ".{}.dx-private-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| fs::set_permissions(&temp, fs::Permissions::from_mode(mode)))
        .and_then(|()| fs::rename(&temp, path));
    written.map_err(|e| {
        drop(fs::remove_file(&temp));
        LinkError::io("keep a private copy of", path)(e)
    })
}
