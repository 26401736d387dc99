//! Reading layout rows out of a DXL file.

use dx_formats::dxl::{Dxl, NodeKind};

use super::{LayoutRow, LayoutRowKind};
use crate::error::VfsError;

/// Every layout node of a DXL as a row. Reads the layout only (O(nodes)); no package archive
/// is opened. The DXL is verified (checksum and structure) first: a mount serves it for hours.
pub fn rows_from_dxl(bytes: &[u8]) -> Result<Vec<LayoutRow>, VfsError> {
    let dxl = Dxl::parse(bytes).map_err(|e| VfsError::Layout(e.to_string()))?;
    dxl.verify().map_err(|e| VfsError::Layout(e.to_string()))?;
    let mut rows = Vec::with_capacity(dxl.node_count() as usize);
    for node in dxl.nodes() {
        let path = node.path();
        if path.is_empty() {
            continue;
        }
        let kind = match node.kind() {
            NodeKind::Dir => LayoutRowKind::Dir,
            NodeKind::Symlink(target) => LayoutRowKind::Symlink(target.to_owned()),
            NodeKind::Package(view) => LayoutRowKind::Package {
                content_hash: view.content_hash(),
                label: format!("{}@{}", view.name(), view.version()),
            },
        };
        rows.push(LayoutRow {
            path: path.to_owned(),
            kind,
        });
    }
    Ok(rows)
}
