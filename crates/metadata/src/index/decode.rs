//! Reading one manifest blob: every read bounds-checked, every count checked against the bytes
//! left before anything is allocated for it.

use std::collections::BTreeMap;

use super::encode::tag;
use crate::lenient::{BundleDependencies, RawBin};
use crate::packument::{Dist, PeerDependencyMeta, VersionManifest};

struct Reader<'a> {
    blob: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.blob.get(self.at)?;
        self.at += 1;
        Some(v)
    }
    fn u32(&mut self) -> Option<u32> {
        let v = super::u32_at(self.blob, self.at)?;
        self.at += 4;
        Some(v)
    }
    /// A count of items at least `item` bytes each: refused when the blob cannot hold them.
    fn count(&mut self, item: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.checked_mul(item)? <= self.blob.len() - self.at).then_some(n)
    }
    fn str(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        let bytes = self.blob.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    }
    fn opt(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }
    fn map(&mut self) -> Option<BTreeMap<String, String>> {
        let n = self.count(8)?;
        let mut map = BTreeMap::new();
        for _ in 0..n {
            let k = self.str()?;
            map.insert(k, self.str()?);
        }
        Some(map)
    }
    fn list(&mut self) -> Option<Vec<String>> {
        let n = self.count(4)?;
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            list.push(self.str()?);
        }
        Some(list)
    }
}

/// The manifest `blob` holds, or `None` when it is malformed.
pub(super) fn manifest(blob: &[u8], install_script: bool) -> Option<VersionManifest> {
    let mut r = Reader { blob, at: 0 };
    let name = r.str()?;
    let version = r.str()?;
    let dependencies = r.map()?;
    let optional_dependencies = r.map()?;
    let peer_dependencies = r.map()?;
    let n = r.count(5)?;
    let mut peer_dependencies_meta = BTreeMap::new();
    for _ in 0..n {
        let k = r.str()?;
        let optional = r.u8()? != 0;
        peer_dependencies_meta.insert(k, PeerDependencyMeta { optional });
    }
    let bundle_dependencies = match r.u8()? {
        tag::NONE => BundleDependencies::None,
        tag::FIRST => BundleDependencies::All,
        tag::SECOND => BundleDependencies::Names(r.list()?),
        _ => return None,
    };
    let bin = match r.u8()? {
        tag::NONE => RawBin::None,
        tag::FIRST => RawBin::Single(r.str()?),
        tag::SECOND => RawBin::Map(r.map()?),
        _ => return None,
    };
    let os = r.list()?;
    let cpu = r.list()?;
    let libc = r.list()?;
    let engines = r.map()?;
    let deprecated = r.opt()?;
    let dist = Dist {
        tarball: r.opt()?,
        integrity: r.opt()?,
        shasum: r.opt()?,
    };
    (r.at == blob.len()).then_some(VersionManifest {
        name,
        version,
        dependencies,
        optional_dependencies,
        peer_dependencies,
        peer_dependencies_meta,
        bundle_dependencies,
        bin,
        os,
        cpu,
        libc,
        engines,
        deprecated,
        has_install_script: install_script,
        dist,
    })
}
