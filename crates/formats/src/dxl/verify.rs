//! The full check of a DXL: checksum, then every record, so a damaged file is rejected
//! before a mount serves it.

use super::layout::*;
use super::{Dxl, DxlError, blob_at};

fn corrupt(what: String) -> DxlError {
    DxlError::Corrupt { what }
}

fn utf8(strings: &[u8], off: u32, len: u32, what: impl Fn() -> String) -> Result<&str, DxlError> {
    let bytes = blob_at(strings, off, len)
        .ok_or_else(|| corrupt(format!("{} is out of bounds", what())))?;
    std::str::from_utf8(bytes).map_err(|_| corrupt(format!("{} is not UTF-8", what())))
}

pub(super) fn verify(dxl: &Dxl<'_>) -> Result<(), DxlError> {
    let bytes = dxl.bytes;
    let stored = u128::from_le_bytes(
        bytes[H_CHECKSUM..H_CHECKSUM + 16]
            .try_into()
            .map_err(|_| DxlError::ChecksumMismatch)?,
    );
    if xxhash_rust::xxh3::xxh3_128(&bytes[CHECKSUMMED_FROM..]) != stored {
        return Err(DxlError::ChecksumMismatch);
    }
    verify_packages(dxl)?;
    verify_nodes(dxl)
}

fn verify_packages(dxl: &Dxl<'_>) -> Result<(), DxlError> {
    let mut previous: Option<(&str, &str)> = None;
    for i in 0..dxl.package_count {
        let rec = &dxl.packages[i as usize * PACKAGE_LEN..(i as usize + 1) * PACKAGE_LEN];
        let name = utf8(
            dxl.strings,
            u32_at(rec, P_NAME),
            u32_at(rec, P_NAME + 4),
            || format!("package {i}'s name"),
        )?;
        let version = utf8(
            dxl.strings,
            u32_at(rec, P_VERSION),
            u32_at(rec, P_VERSION + 4),
            || format!("package `{name}`'s version"),
        )?;
        let digest_len = match rec[P_INTEGRITY_ALG] {
            ALG_NONE => 0,
            ALG_SHA1 => 20,
            ALG_SHA512 => 64,
            other => {
                return Err(corrupt(format!(
                    "package `{name}@{version}` has integrity algorithm {other}"
                )));
            }
        };
        if digest_len > 0
            && blob_at(dxl.strings, u32_at(rec, P_INTEGRITY_OFF), digest_len).is_none()
        {
            return Err(corrupt(format!(
                "package `{name}@{version}`'s integrity is out of bounds"
            )));
        }
        if rec[P_FLAGS] & !FLAG_INSTALL_SCRIPT != 0 {
            return Err(corrupt(format!(
                "package `{name}@{version}` has unknown flags"
            )));
        }
        if previous.is_some_and(|p| p > (name, version)) {
            return Err(corrupt(format!(
                "package `{name}@{version}` is out of order"
            )));
        }
        previous = Some((name, version));
        // The name table must lead to this package.
        let found = dxl.packages_named(name).any(|p| p.index() == i);
        if !found {
            return Err(corrupt(format!(
                "package `{name}@{version}` is missing from the name table"
            )));
        }
    }
    Ok(())
}

fn verify_nodes(dxl: &Dxl<'_>) -> Result<(), DxlError> {
    let children_total = dxl.children.len() / CHILD_LEN;
    let mut listed = 0usize;
    let mut previous_path: Option<&str> = None;
    for node in dxl.nodes() {
        let i = node.index();
        let rec = node.record;
        let path = utf8(
            dxl.strings,
            u32_at(rec, N_PATH),
            u32_at(rec, N_PATH + 4),
            || format!("node {i}'s path"),
        )?;
        if (i == 0) != path.is_empty() {
            return Err(corrupt(format!(
                "node {i} (`{path}`): only the root, node 0, has the empty path"
            )));
        }
        if previous_path.is_some_and(|p| p >= path) {
            return Err(corrupt(format!("node `{path}` is out of path order")));
        }
        previous_path = Some(path);
        match rec[N_KIND] {
            KIND_DIR => {}
            KIND_PACKAGE if u32_at(rec, N_VALUE) < dxl.package_count => {}
            KIND_SYMLINK => {
                utf8(
                    dxl.strings,
                    u32_at(rec, N_VALUE),
                    u32_at(rec, N_VALUE_LEN),
                    || format!("link `{path}`'s target"),
                )?;
            }
            other => {
                return Err(corrupt(format!(
                    "node `{path}` has kind {other} or a package index out of range"
                )));
            }
        }
        if i != 0 {
            let parent = dxl
                .node(node.parent_index())
                .ok_or_else(|| corrupt(format!("node `{path}`'s parent is out of range")))?;
            if parent.index() >= i || path.rsplit_once('/').map_or("", |(p, _)| p) != parent.path()
            {
                return Err(corrupt(format!(
                    "node `{path}`'s parent is `{}`",
                    parent.path()
                )));
            }
        }
        let start = u32_at(rec, N_CHILDREN) as usize;
        let count = u32_at(rec, N_CHILDREN + 4) as usize;
        if start
            .checked_add(count)
            .is_none_or(|end| end > children_total)
        {
            return Err(corrupt(format!(
                "node `{path}`'s children are out of bounds"
            )));
        }
        listed += count;
        let mut previous_name: Option<&str> = None;
        for k in start..start + count {
            let child_index = u32_at(dxl.children, k * CHILD_LEN);
            let child = dxl
                .node(child_index)
                .ok_or_else(|| corrupt(format!("a child of `{path}` is out of range")))?;
            if child.parent_index() != i || child_index == 0 {
                return Err(corrupt(format!(
                    "`{}` is listed as a child of `{path}`",
                    child.path()
                )));
            }
            if previous_name.is_some_and(|p| p >= child.name()) {
                return Err(corrupt(format!(
                    "the children of `{path}` are out of order"
                )));
            }
            previous_name = Some(child.name());
        }
        if dxl.lookup(path).map(|n| n.index()) != Some(i) {
            return Err(corrupt(format!(
                "node `{path}` is missing from the path table"
            )));
        }
    }
    // Every non-root node names its parent and each list holds distinct children of that
    // parent, so this count proves each appears exactly once.
    if listed != dxl.node_count as usize - 1 || listed != children_total {
        return Err(corrupt(format!(
            "the children tables list {listed} nodes for {} non-root nodes",
            dxl.node_count - 1
        )));
    }
    Ok(())
}
