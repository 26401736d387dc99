//! Building the new tree in the staging directory, in three passes: every directory (the
//! layout's and every package's own) is created once, level by level with each level in
//! parallel; then every package's files are placed in parallel; then the `.bin` links.
//!
//! Every call is relative to an open directory (`mkdirat`, `linkat`, `openat`): the staging
//! root for directories, the package's root and its unpacked copy in the store for files. The
//! kernel then resolves two or three components per file instead of two full paths, and no
//! path is built or allocated per file.

use std::collections::{BTreeMap, HashSet};
use std::ffi::{CStr, CString};
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use dx_formats::dxp::{EntryKind, PackageArchive};
use dx_formats::hash::ContentHash;
use dx_store::{Store, StoredArchive};
use rayon::prelude::*;

use super::place::{FileInfo, Placer};
use super::plan::{LayoutPlan, PackageJob, is_plain_relative};
use super::{MaterializeOptions, MaterializeReport, probe};
use crate::LinkMode;
use crate::error::LinkError;
use crate::sys::{self, At};

/// Builds the whole tree at `staging` (which must not exist) and reports what it placed.
pub(crate) fn build_tree(
    store: &Store,
    plan: &LayoutPlan<'_>,
    staging: &Path,
    opts: &MaterializeOptions,
) -> Result<MaterializeReport, LinkError> {
    fs::create_dir(staging).map_err(LinkError::io("create directory", staging))?;
    let root = sys::open_dir(staging).map_err(LinkError::io("open directory", staging))?;
    let packages: Vec<OpenPackage<'_>> = plan
        .packages
        .par_iter()
        .map(|job| OpenPackage::open(store, job))
        .collect::<Result<_, _>>()?;
    let levels = directory_levels(plan, &packages)?;
    let dirs = create_directories(root.as_fd(), staging, &levels)?;
    let mode = match opts.mode {
        LinkMode::Auto => probe_mode(store, &packages, staging),
        explicit => explicit,
    };
    if mode != LinkMode::Copy {
        // Every missing unpacked tree at once, with one flush for all (see
        // `Store::unpack_missing`). A failure here is not fatal: each package asks again when
        // it is placed, and steps down to copying with the reason if it still fails.
        let shared: Vec<ContentHash> = packages
            .iter()
            .filter(|p| !opts.is_private_copy(p.job.path))
            .map(|p| p.job.hash)
            .collect();
        drop(store.unpack_missing(&shared));
    }
    let placer = Placer::new(mode, opts.inject_failure);
    let copier = Placer::new(LinkMode::Copy, None);
    packages.par_iter().try_for_each(|package| {
        let private = opts.is_private_copy(package.job.path);
        place_files(
            store,
            if private { &copier } else { &placer },
            package,
            root.as_fd(),
            staging,
        )
    })?;
    for (link, target) in &plan.symlinks {
        let (name, target) = (c_name(link)?, c_name(target)?);
        sys::symlink_at(&target, At::new(root.as_fd(), &name))
            .map_err(LinkError::io("create symlink", staging.join(link)))?;
    }
    let (files, bytes) = placer.totals();
    let (copied_files, copied_bytes) = copier.totals();
    let (files, bytes) = (files + copied_files, bytes + copied_bytes);
    Ok(MaterializeReport {
        mode_used: placer.current(),
        step_down: placer.step_down_reason(),
        files,
        dirs: 1 + dirs,
        symlinks: plan.symlinks.len() as u64,
        bytes,
        noop: false,
        old_tree: None,
        update: None,
    })
}

/// What the part of a tree that `plan` describes holds, counted from the archives without
/// writing anything: (files, directories, symbolic links, bytes), the same numbers
/// [`build_tree`] reports for it (less its root).
pub(crate) fn tally(
    store: &Store,
    plan: &LayoutPlan<'_>,
) -> Result<(u64, u64, u64, u64), LinkError> {
    let packages: Vec<OpenPackage<'_>> = plan
        .packages
        .par_iter()
        .map(|job| OpenPackage::open(store, job))
        .collect::<Result<_, _>>()?;
    let dirs: u64 = directory_levels(plan, &packages)?
        .iter()
        .map(|level| level.len() as u64)
        .sum();
    let (mut files, mut bytes) = (0, 0);
    for package in &packages {
        let archive = package.archive()?;
        for entry in archive.entries() {
            if entry.kind() == EntryKind::File && !package.job.is_shadowed(entry.path(), true) {
                files += 1;
                bytes += entry.size();
            }
        }
    }
    Ok((files, dirs, plan.symlinks.len() as u64, bytes))
}

/// A package to place, with its archive mapped (once, for both passes).
struct OpenPackage<'p> {
    job: &'p PackageJob<'p>,
    stored: StoredArchive,
}

impl<'p> OpenPackage<'p> {
    fn open(store: &Store, job: &'p PackageJob<'p>) -> Result<OpenPackage<'p>, LinkError> {
        let stored = store
            .get(&job.hash)
            .map_err(|source| job.store_error(source))?
            .ok_or_else(|| LinkError::MissingPackage {
                package: job.display.clone(),
                hash: job.hash,
            })?;
        Ok(OpenPackage { job, stored })
    }

    /// The parsed archive (cheap: header and tables).
    fn archive(&self) -> Result<PackageArchive<'_>, LinkError> {
        self.stored
            .archive()
            .map_err(|source| self.job.store_error(source))
    }
}

impl PackageJob<'_> {
    fn store_error(&self, source: dx_store::StoreError) -> LinkError {
        LinkError::Store {
            package: self.display.clone(),
            source,
        }
    }

    /// Whether the layout itself creates the directory `path` inside this package (a nested
    /// `node_modules`), which the package's own directory of that name merges with.
    fn layout_makes_dir(&self, path: &str) -> bool {
        self.shadows
            .iter()
            .any(|&(shadow, replaces)| !replaces && shadow == path)
    }
}

/// A layout or archive path as a C string; every one was checked to be a plain relative path
/// (no NUL) before it gets here, so the error is a second line of defence.
fn c_name(path: &str) -> Result<CString, LinkError> {
    CString::new(path).map_err(|_| LinkError::UnsafePath {
        path: path.escape_debug().to_string(),
        origin: "the layout".to_owned(),
    })
}

/// Every directory of the new tree but its root, relative to it, grouped by depth (parents in
/// an earlier group than their children): the layout's directories and package roots, and the
/// directories of each package's files that the layout does not already make or hide.
fn directory_levels(
    plan: &LayoutPlan<'_>,
    packages: &[OpenPackage<'_>],
) -> Result<Vec<Vec<CString>>, LinkError> {
    let per_package: Vec<Vec<String>> = packages
        .par_iter()
        .map(package_directories)
        .collect::<Result<_, _>>()?;
    let mut levels: BTreeMap<usize, Vec<CString>> = BTreeMap::new();
    let layout = plan.dirs.iter().map(|dir| (*dir).to_owned());
    for dir in layout.chain(per_package.into_iter().flatten()) {
        let depth = dir.matches('/').count();
        levels.entry(depth).or_default().push(c_name(&dir)?);
    }
    Ok(levels.into_values().collect())
}

/// The directories one package's entries need (each once), as paths relative to
/// `node_modules`; refuses an entry path that could leave the package.
fn package_directories(package: &OpenPackage<'_>) -> Result<Vec<String>, LinkError> {
    let job = package.job;
    let archive = package.archive()?;
    let mut needed: HashSet<&str> = HashSet::new();
    for entry in archive.entries() {
        let path = entry.path();
        if path.is_empty() {
            continue;
        }
        if !is_plain_relative(path) {
            return Err(LinkError::UnsafePath {
                path: path.to_owned(),
                origin: job.display.clone(),
            });
        }
        let is_file = entry.kind() == EntryKind::File;
        if job.is_shadowed(path, is_file) {
            continue;
        }
        let mut dir = if is_file {
            match path.rsplit_once('/') {
                Some((parent, _)) => parent,
                None => continue,
            }
        } else {
            path
        };
        // The directory and any parent not seen yet (an archive lists its directories, but a
        // parent must never be missed).
        while needed.insert(dir) {
            match dir.rsplit_once('/') {
                Some((parent, _)) => dir = parent,
                None => break,
            }
        }
    }
    Ok(needed
        .into_iter()
        .filter(|dir| !job.layout_makes_dir(dir))
        .map(|dir| format!("{}/{dir}", job.path))
        .collect())
}

/// Creates every directory, one depth at a time and each depth in parallel (a `mkdir` costs a
/// new inode and a directory block, so they are worth overlapping); returns how many.
fn create_directories(
    root: BorrowedFd<'_>,
    staging: &Path,
    levels: &[Vec<CString>],
) -> Result<u64, LinkError> {
    for level in levels {
        level.par_iter().try_for_each(|dir| {
            sys::mkdir_at(At::new(root, dir)).map_err(|e| {
                let shown = staging.join(At::new(root, dir).name_path());
                LinkError::io("create directory", shown)(e)
            })
        })?;
    }
    Ok(levels.iter().map(|level| level.len() as u64).sum())
}

/// Probes with a file on the unpacked tier's filesystem when some package has a file (no
/// files, no decision needed). Nothing is unpacked for it: the packages are unpacked together
/// afterwards, with one flush (unpacking the first one here cost a flush of its own).
fn probe_mode(store: &Store, packages: &[OpenPackage<'_>], staging: &Path) -> LinkMode {
    let has_files = packages.iter().any(|package| {
        package
            .archive()
            .is_ok_and(|archive| archive.entries().any(|e| e.kind() == EntryKind::File))
    });
    if !has_files {
        return LinkMode::Copy;
    }
    // A store that cannot be written (read-only, full) cannot unpack, but can be copied from.
    match store.sharing_probe() {
        Ok(file) => probe::probe(file.path(), staging),
        Err(_) => LinkMode::Copy,
    }
}

/// Places one package's files into its root (whose directories all exist already).
fn place_files(
    store: &Store,
    placer: &Placer,
    package: &OpenPackage<'_>,
    root: BorrowedFd<'_>,
    staging: &Path,
) -> Result<(), LinkError> {
    let job = package.job;
    let archive = package.archive()?;
    let shown = staging.join(job.path);
    let root_name = c_name(job.path)?;
    let dest = sys::open_dir_at(At::new(root, &root_name))
        .map_err(LinkError::io("open directory", &shown))?;
    let unpacked = match placer.current() {
        LinkMode::Copy => None,
        _ => open_unpacked(store, placer, job),
    };
    let mut name = Vec::with_capacity(256);
    for entry in archive.entries() {
        if entry.kind() != EntryKind::File {
            continue;
        }
        let path = entry.path();
        if job.is_shadowed(path, true) {
            continue;
        }
        let name = nul_terminated(&mut name, path).ok_or_else(|| LinkError::UnsafePath {
            path: path.escape_debug().to_string(),
            origin: job.display.clone(),
        })?;
        let read = || {
            archive
                .read(&entry)
                .map_err(|source| LinkError::CorruptArchive {
                    package: job.display.clone(),
                    source,
                })
        };
        let file = FileInfo {
            executable: entry.is_executable(),
            size: entry.size(),
        };
        let source = unpacked.as_ref().map(|dir| At::new(dir.as_fd(), name));
        placer.place(At::new(dest.as_fd(), name), source, file, &shown, &read)?;
    }
    Ok(())
}

/// The package's directory in the store's unpacked tier, opened (extracting it first if
/// needed); when that fails, every placement from here on copies, and the report says why.
fn open_unpacked(store: &Store, placer: &Placer, job: &PackageJob<'_>) -> Option<OwnedFd> {
    let opened = store
        .unpacked(&job.hash)
        .map_err(|e| e.to_string())
        .and_then(|dir| sys::open_dir(&dir).map_err(|e| format!("{}: {e}", dir.display())));
    match opened {
        Ok(fd) => Some(fd),
        Err(e) => {
            placer.force_copy(|from| {
                format!("{from} needs the store's unpacked files, which failed for {} ({e}); continued with copy (pass --materialize=copy to avoid the attempt)", job.display)
            });
            None
        }
    }
}

/// `path` with a NUL appended, in `buffer` (reused across files); `None` if `path` holds a NUL.
fn nul_terminated<'b>(buffer: &'b mut Vec<u8>, path: &str) -> Option<&'b CStr> {
    buffer.clear();
    buffer.extend_from_slice(path.as_bytes());
    buffer.push(0);
    CStr::from_bytes_with_nul(buffer).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_nul_terminated_in_place_and_inner_nuls_refused() {
        let mut buffer = Vec::new();
        let name = nul_terminated(&mut buffer, "lib/index.js").expect("plain path");
        assert_eq!(name.to_bytes(), b"lib/index.js");
        assert!(nul_terminated(&mut buffer, "a\0b").is_none());
        let name = nul_terminated(&mut buffer, "x").expect("buffer is reused");
        assert_eq!(name.to_bytes(), b"x");
    }
}
