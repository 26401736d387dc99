//! Hostile bytes into the DXL reader: `parse`, `verify` and every accessor must return, never
//! panic, and never allocate by a count read from the file.
#![no_main]

use dx_formats::dxl::{Dxl, NodeKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dxl) = Dxl::parse(data) else { return };
    let _ = dxl.verify();
    let _ = (dxl.lock_digest(), dxl.platform());
    for p in dxl.packages() {
        let _ = (
            p.name(),
            p.version(),
            p.content_hash(),
            p.integrity(),
            p.has_install_script(),
        );
        let _ = dxl.packages_named(p.name()).count();
    }
    for node in dxl.nodes() {
        let _ = (node.name(), dxl.parent(node), dxl.lookup(node.path()));
        if let NodeKind::Symlink(target) = node.kind() {
            let _ = target.len();
        }
        let _ = dxl.children(node).count();
    }
    let _ = dxl.lookup("node_modules");
});
