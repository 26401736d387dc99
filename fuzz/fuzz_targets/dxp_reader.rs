//! Arbitrary bytes through the DXP reader: parse, lookups, listings, reads, verify. Any
//! outcome but a panic (or an allocation beyond the input-derived bound) is fine.
#![no_main]

use dx_formats::dxp::{EntryKind, PackageArchive};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(archive) = PackageArchive::parse(data) else {
        return;
    };
    let _ = archive.verify();
    let _ = archive.manifest();
    for path in ["", "package.json", "index.js", "lib", "lib/index.js"] {
        if let Some(entry) = archive.get(path) {
            let _ = archive.read(&entry);
        }
        let _ = archive.read_dir(path).map(Iterator::count);
    }
    for entry in archive.entries().take(4096) {
        let _ = (entry.path(), entry.name(), entry.mode(), entry.size());
        match entry.kind() {
            EntryKind::File => {
                let _ = archive.read(&entry);
            }
            EntryKind::Dir => {
                if let Ok(children) = archive.children(&entry) {
                    for child in children.take(64) {
                        let _ = archive.child(&entry, child.name());
                        let _ = archive.get(child.path());
                    }
                }
            }
        }
    }
});
