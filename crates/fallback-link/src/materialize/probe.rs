//! Deciding the link mode once per target filesystem: try a reflink of one store file into the
//! staging directory, then a hardlink, else copy. One probe instead of a failure per file.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::LinkMode;
use crate::sys;

/// The best mode that works from `source` (a file of the store's unpacked tier) into `dir`.
pub(crate) fn probe(source: &Path, dir: &Path) -> LinkMode {
    let target = dir.join(format!(".dx-probe-{}", std::process::id()));
    let reflinked = File::open(source).and_then(|source| {
        let dest = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&target)?;
        sys::reflink(&source, &dest)
    });
    drop(fs::remove_file(&target));
    if reflinked.is_ok() {
        return LinkMode::Reflink;
    }
    let hardlinked = fs::hard_link(source, &target);
    drop(fs::remove_file(&target));
    if hardlinked.is_ok() {
        LinkMode::Hardlink
    } else {
        LinkMode::Copy
    }
}
