//! Building the new tree in the staging directory: layout directories first (once each, in
//! order), then every package's files in parallel, then the `.bin` links.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::Path;

use dx_formats::dxp::EntryKind;
use dx_store::Store;
use rayon::prelude::*;

use super::place::Placer;
use super::plan::{LayoutPlan, PackageJob, is_plain_relative};
use super::{MaterializeOptions, MaterializeReport, probe};
use crate::LinkMode;
use crate::error::LinkError;

/// Builds the whole tree at `staging` (which must not exist) and reports what it placed.
pub(crate) fn build_tree(
    store: &Store,
    plan: &LayoutPlan<'_>,
    staging: &Path,
    opts: &MaterializeOptions,
) -> Result<MaterializeReport, LinkError> {
    fs::create_dir(staging).map_err(LinkError::io("create directory", staging))?;
    // One level at a time, each level in parallel: a mkdir costs a new inode and a directory
    // block, hundreds of microseconds on a busy disk, so these are worth overlapping.
    let mut levels: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for dir in &plan.dirs {
        levels
            .entry(dir.matches('/').count())
            .or_default()
            .push(dir);
    }
    for level in levels.values() {
        level.par_iter().try_for_each(|dir| {
            let path = staging.join(dir);
            fs::create_dir(&path).map_err(LinkError::io("create directory", &path))
        })?;
    }
    let mode = match opts.mode {
        LinkMode::Auto => probe_mode(store, plan, staging),
        explicit => explicit,
    };
    let placer = Placer::new(mode, opts.inject_failure);
    let package_dirs = plan
        .packages
        .par_iter()
        .map(|job| place_package(store, &placer, job, staging))
        .try_reduce(|| 0, |a, b| Ok(a + b))?;
    for (link, target) in &plan.symlinks {
        let path = staging.join(link);
        std::os::unix::fs::symlink(target, &path)
            .map_err(LinkError::io("create symlink", &path))?;
    }
    let (files, bytes) = placer.totals();
    Ok(MaterializeReport {
        mode_used: placer.current(),
        step_down: placer.step_down_reason(),
        files,
        dirs: 1 + plan.dirs.len() as u64 + package_dirs,
        symlinks: plan.symlinks.len() as u64,
        bytes,
        noop: false,
    })
}

/// Probes with the first file of the first package that has one; no files, no decision needed.
fn probe_mode(store: &Store, plan: &LayoutPlan<'_>, staging: &Path) -> LinkMode {
    for job in &plan.packages {
        let Ok(Some(stored)) = store.get(&job.hash) else {
            continue;
        };
        let Ok(archive) = stored.archive() else {
            continue;
        };
        let Some(first_file) = archive.entries().find(|e| e.kind() == EntryKind::File) else {
            continue;
        };
        // A store that cannot unpack (read-only, full) can still be copied from.
        let Ok(unpacked) = store.unpacked(&job.hash) else {
            return LinkMode::Copy;
        };
        return probe::probe(&unpacked.join(first_file.path()), staging);
    }
    LinkMode::Copy
}

/// Places one package's directories and files under its root (created already) and returns how
/// many directories it created.
fn place_package(
    store: &Store,
    placer: &Placer,
    job: &PackageJob<'_>,
    staging: &Path,
) -> Result<u64, LinkError> {
    let store_error = |source| LinkError::Store {
        package: job.display.clone(),
        source,
    };
    let stored =
        store
            .get(&job.hash)
            .map_err(store_error)?
            .ok_or_else(|| LinkError::MissingPackage {
                package: job.display.clone(),
                hash: job.hash,
            })?;
    let archive = stored.archive().map_err(store_error)?;
    let unpacked = match placer.current() {
        LinkMode::Copy => None,
        _ => match store.unpacked(&job.hash) {
            Ok(dir) => Some(dir),
            Err(e) => {
                placer.force_copy(|from| {
                    format!("{from} needs the store's unpacked files, which failed for {} ({e}); continued with copy (pass --materialize=copy to avoid the attempt)", job.display)
                });
                None
            }
        },
    };
    let root = staging.join(job.path);
    let mut created: HashSet<&str> = HashSet::new();
    created.insert("");
    let mut dirs = 0;
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
        let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        dirs += create_dirs(&root, parent, &mut created)?;
        if !is_file {
            dirs += create_dirs(&root, path, &mut created)?;
            continue;
        }
        let source = unpacked.as_ref().map(|dir| dir.join(path));
        let read = || {
            archive
                .read(&entry)
                .map_err(|source| LinkError::CorruptArchive {
                    package: job.display.clone(),
                    source,
                })
        };
        placer.place(
            &root.join(path),
            source.as_deref(),
            entry.is_executable(),
            entry.size(),
            &read,
        )?;
    }
    Ok(dirs)
}

/// Creates `dir` (relative to `root`) and any missing parents, once each; a directory the
/// layout already made (a package's `node_modules`) is fine. Returns how many it created.
fn create_dirs<'p>(
    root: &Path,
    dir: &'p str,
    created: &mut HashSet<&'p str>,
) -> Result<u64, LinkError> {
    if created.contains(dir) {
        return Ok(0);
    }
    let mut count = 0;
    if let Some((parent, _)) = dir.rsplit_once('/') {
        count += create_dirs(root, parent, created)?;
    }
    let path = root.join(dir);
    match fs::create_dir(&path) {
        Ok(()) => count += 1,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
        Err(e) => return Err(LinkError::io("create directory", &path)(e)),
    }
    created.insert(dir);
    Ok(count)
}
