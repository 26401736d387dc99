//! `dx cache` statistics: how much each area of the store holds.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::Store;
use crate::error::StoreError;

/// Size of one area of the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AreaStats {
    /// Units in the area: archives, index entries, unpacked packages, DXL files, ...
    pub entries: u64,
    /// Regular files.
    pub files: u64,
    /// Sum of the files' lengths.
    pub bytes: u64,
    /// Space the files occupy on disk (allocated blocks).
    pub disk_bytes: u64,
}

/// Counts and sizes per area; `total` sums them all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// `v1/dxp/`: package archives.
    pub archives: AreaStats,
    /// `v1/index/`: integrity → hash entries.
    pub index: AreaStats,
    /// `v1/unpacked/`: the unpacked tier (entries = packages).
    pub unpacked: AreaStats,
    /// `v1/dxl/`: compiled lock + layout files.
    pub dxl: AreaStats,
    /// `v1/metadata/`: the registry-metadata cache.
    pub metadata: AreaStats,
    /// `v1/roots/` and `v1/mounts/`: liveness records.
    pub roots: AreaStats,
    /// `v1/projects/`: per-project state (mount files, install records, overlays).
    pub projects: AreaStats,
    /// `v1/tmp/` and `v1/quarantine/`.
    pub scratch: AreaStats,
    /// Everything above.
    pub total: AreaStats,
}

impl Store {
    /// Walks the store and sums each area.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let l = &self.layout;
        let mut stats = StoreStats {
            archives: area(&l.archives_dir())?,
            index: area(&l.index_root())?,
            unpacked: area(&l.unpacked_dir())?,
            dxl: area(&l.dxl_dir())?,
            metadata: area(&l.metadata_dir())?,
            roots: add(area(&l.roots_dir())?, area(&l.mounts_dir())?),
            projects: area(&l.projects_dir())?,
            scratch: add(area(&l.tmp_dir())?, area(&l.quarantine_dir())?),
            total: AreaStats::default(),
        };
        stats.unpacked.entries = crate::atomic::list_dir(&l.unpacked_dir())
            .map_err(StoreError::io("list unpacked", l.unpacked_dir()))?
            .len() as u64;
        stats.total = [
            stats.archives,
            stats.index,
            stats.unpacked,
            stats.dxl,
            stats.metadata,
            stats.roots,
            stats.projects,
            stats.scratch,
        ]
        .into_iter()
        .fold(AreaStats::default(), add);
        Ok(stats)
    }
}

fn add(a: AreaStats, b: AreaStats) -> AreaStats {
    AreaStats {
        entries: a.entries + b.entries,
        files: a.files + b.files,
        bytes: a.bytes + b.bytes,
        disk_bytes: a.disk_bytes + b.disk_bytes,
    }
}

fn area(dir: &Path) -> Result<AreaStats, StoreError> {
    let mut stats = AreaStats::default();
    walk(dir, &mut stats).map_err(StoreError::io("measure", dir))?;
    stats.entries = stats.files;
    Ok(stats)
}

fn walk(dir: &Path, stats: &mut AreaStats) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            // Removed by a concurrent gc or install while we walked.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.is_dir() {
            walk(&entry.path(), stats)?;
        } else if meta.is_file() {
            stats.files += 1;
            stats.bytes += meta.len();
            stats.disk_bytes += meta.blocks() * 512;
        }
    }
    Ok(())
}
