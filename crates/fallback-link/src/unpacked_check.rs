//! Detecting and repairing damage to the store's unpacked tier.
//!
//! Hardlinked `node_modules` files are the store's own inodes. They are read-only (0444/0555),
//! but root, a `chmod`, or a tool that rewrites files in place can still change them, and the
//! change then shows in every project linked to them. The DXP archive is the source of truth:
//! [`verify_unpacked`] compares each unpacked file with its archive entry, and
//! [`repair_unpacked`] rewrites damaged files *in place* (same inode), which repairs every
//! project hardlinked to them at once.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dx_formats::dxp::{EntryKind, PackageArchive};
use dx_formats::hash::ContentHash;
use dx_store::Store;
use rayon::prelude::*;

use crate::error::LinkError;
use crate::materialize::is_plain_relative;

/// What is wrong with one unpacked file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnpackedProblem {
    /// The file is gone.
    Missing,
    /// Something other than a regular file is in its place.
    NotAFile,
    /// Its bytes differ from the archive's.
    ContentChanged,
    /// Its permission bits differ from 0444 (0555 for executables): it became writable or lost
    /// its executable bit.
    ModeChanged {
        /// The permission bits found.
        found: u32,
    },
}

/// One damaged file of a package's unpacked tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackedDamage {
    /// The archive entry's path within the package.
    pub entry: String,
    /// The file in the store's unpacked tier.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: UnpackedProblem,
}

/// Compares every file of the package's unpacked tree with its archive (content and mode) and
/// lists what differs. Reads every file: this is `dx cache verify` work, not install work.
pub fn verify_unpacked(
    store: &Store,
    hash: &ContentHash,
) -> Result<Vec<UnpackedDamage>, LinkError> {
    let (stored, root) = open(store, hash)?;
    let archive = stored
        .archive()
        .map_err(|source| store_error(hash, source))?;
    let entries: Vec<_> = archive
        .entries()
        .filter(|e| e.kind() == EntryKind::File)
        .collect();
    let damage: Result<Vec<Option<UnpackedDamage>>, LinkError> = entries
        .par_iter()
        .map(|entry| {
            let relative = entry.path();
            if !is_plain_relative(relative) {
                return Err(LinkError::UnsafePath {
                    path: relative.to_owned(),
                    origin: hash.to_hex(),
                });
            }
            let path = root.join(relative);
            let expected = read_entry(&archive, entry, hash)?;
            let problem = check_file(&path, &expected, entry.is_executable())
                .map_err(LinkError::io("read unpacked file", &path))?;
            Ok(problem.map(|problem| UnpackedDamage {
                entry: relative.to_owned(),
                path,
                problem,
            }))
        })
        .collect();
    Ok(damage?.into_iter().flatten().collect())
}

/// Repairs what [`verify_unpacked`] found: content is rewritten in place (keeping the inode, so
/// hardlinked projects see the repair), modes are reset, missing files are recreated.
pub fn repair_unpacked(
    store: &Store,
    hash: &ContentHash,
    damage: &[UnpackedDamage],
) -> Result<(), LinkError> {
    let (stored, root) = open(store, hash)?;
    let archive = stored
        .archive()
        .map_err(|source| store_error(hash, source))?;
    for item in damage {
        let entry = archive
            .get(&item.entry)
            .filter(|e| e.kind() == EntryKind::File && is_plain_relative(&item.entry))
            .ok_or_else(|| LinkError::UnsafePath {
                path: item.entry.clone(),
                origin: hash.to_hex(),
            })?;
        // Only ever write inside this package's unpacked tree.
        let path = root.join(&item.entry);
        let mode = if entry.is_executable() { 0o555 } else { 0o444 };
        let expected = read_entry(&archive, &entry, hash)?;
        match item.problem {
            UnpackedProblem::ModeChanged { .. } => set_mode(&path, mode)?,
            UnpackedProblem::ContentChanged => rewrite_in_place(&path, &expected, mode)?,
            UnpackedProblem::Missing | UnpackedProblem::NotAFile => {
                remove_any(&path).map_err(LinkError::io("remove", &path))?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&path)
                    .map_err(LinkError::io("create", &path))?;
                file.write_all(&expected)
                    .map_err(LinkError::io("write", &path))?;
                file.sync_all().map_err(LinkError::io("sync", &path))?;
                set_mode(&path, mode)?;
            }
        }
    }
    Ok(())
}

fn open(
    store: &Store,
    hash: &ContentHash,
) -> Result<(dx_store::StoredArchive, PathBuf), LinkError> {
    let stored = store
        .get(hash)
        .map_err(|source| store_error(hash, source))?
        .ok_or_else(|| LinkError::MissingPackage {
            package: hash.to_hex(),
            hash: *hash,
        })?;
    let root = store
        .unpacked(hash)
        .map_err(|source| store_error(hash, source))?;
    Ok((stored, root))
}

fn store_error(hash: &ContentHash, source: dx_store::StoreError) -> LinkError {
    LinkError::Store {
        package: hash.to_hex(),
        source,
    }
}

fn read_entry<'a>(
    archive: &PackageArchive<'a>,
    entry: &dx_formats::dxp::EntryRef<'a>,
    hash: &ContentHash,
) -> Result<std::borrow::Cow<'a, [u8]>, LinkError> {
    archive
        .read(entry)
        .map_err(|source| LinkError::CorruptArchive {
            package: hash.to_hex(),
            source,
        })
}

/// The problem with the file at `path`, if any. Content is compared only when the size matches.
fn check_file(
    path: &Path,
    expected: &[u8],
    executable: bool,
) -> io::Result<Option<UnpackedProblem>> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(UnpackedProblem::Missing)),
        Err(e) => return Err(e),
    };
    if !meta.is_file() {
        return Ok(Some(UnpackedProblem::NotAFile));
    }
    if meta.len() != expected.len() as u64 || fs::read(path)? != expected {
        return Ok(Some(UnpackedProblem::ContentChanged));
    }
    let found = meta.permissions().mode() & 0o7777;
    let wanted = if executable { 0o555 } else { 0o444 };
    Ok((found != wanted).then_some(UnpackedProblem::ModeChanged { found }))
}

/// Rewrites the file's bytes through its existing inode, briefly making it owner-writable.
fn rewrite_in_place(path: &Path, bytes: &[u8], mode: u32) -> Result<(), LinkError> {
    set_mode(path, 0o644)?;
    let written = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
    set_mode(path, mode)?;
    written.map_err(LinkError::io("rewrite", path))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), LinkError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(LinkError::io("chmod", path))
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
