//! Writing an index: strings interned once into the heap, versions sorted by key.

use std::collections::{BTreeMap, HashMap};

use super::{
    DIRECTORY_LEN, FLAG_DEPRECATED, FLAG_INSTALL_SCRIPT, FORMAT_VERSION, HEADER_LEN, MAGIC, Meta,
    NONE, RECORD_LEN, TAG_LEN,
};
use crate::lenient::{BundleDependencies, RawBin};
use crate::packument::{RawPackument, VersionManifest};

/// Tags of the variant fields in a manifest blob.
pub(super) mod tag {
    /// Absent.
    pub(crate) const NONE: u8 = 0;
    /// `bin` is one path / `bundleDependencies: true`.
    pub(crate) const FIRST: u8 = 1;
    /// `bin` is a map / `bundleDependencies` lists names.
    pub(crate) const SECOND: u8 = 2;
}

#[derive(Default)]
struct Heap<'a> {
    bytes: Vec<u8>,
    seen: HashMap<&'a str, (u32, u32)>,
}

impl<'a> Heap<'a> {
    fn intern(&mut self, s: &'a str) -> (u32, u32) {
        if let Some(&r) = self.seen.get(s) {
            return r;
        }
        let r = (
            u32::try_from(self.bytes.len()).expect("a packument index heap fits in 4 GiB"),
            u32::try_from(s.len()).expect("a string fits in 4 GiB"),
        );
        self.bytes.extend_from_slice(s.as_bytes());
        self.seen.insert(s, r);
        r
    }
}

struct Writer<'h, 'a> {
    out: Vec<u8>,
    heap: &'h mut Heap<'a>,
}

impl<'a> Writer<'_, 'a> {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("a count fits in u32"));
    }
    fn str(&mut self, s: &'a str) {
        let (off, len) = self.heap.intern(s);
        self.u32(off);
        self.u32(len);
    }
    fn opt(&mut self, s: Option<&'a str>) {
        match s {
            Some(s) => self.str(s),
            None => {
                self.u32(NONE);
                self.u32(0);
            }
        }
    }
    fn map(&mut self, map: &'a BTreeMap<String, String>) {
        self.len(map.len());
        for (k, v) in map {
            self.str(k);
            self.str(v);
        }
    }
    fn list(&mut self, list: &'a [String]) {
        self.len(list.len());
        for s in list {
            self.str(s);
        }
    }
    fn manifest(&mut self, m: &'a VersionManifest) {
        self.str(&m.name);
        self.str(&m.version);
        self.map(&m.dependencies);
        self.map(&m.optional_dependencies);
        self.map(&m.peer_dependencies);
        self.len(m.peer_dependencies_meta.len());
        for (k, meta) in &m.peer_dependencies_meta {
            self.str(k);
            self.u8(u8::from(meta.optional));
        }
        match &m.bundle_dependencies {
            BundleDependencies::None => self.u8(tag::NONE),
            BundleDependencies::All => self.u8(tag::FIRST),
            BundleDependencies::Names(names) => {
                self.u8(tag::SECOND);
                self.list(names);
            }
        }
        match &m.bin {
            RawBin::None => self.u8(tag::NONE),
            RawBin::Single(path) => {
                self.u8(tag::FIRST);
                self.str(path);
            }
            RawBin::Map(map) => {
                self.u8(tag::SECOND);
                self.map(map);
            }
        }
        self.list(&m.os);
        self.list(&m.cpu);
        self.list(&m.libc);
        self.map(&m.engines);
        self.opt(m.deprecated.as_deref());
        self.opt(m.dist.tarball.as_deref());
        self.opt(m.dist.integrity.as_deref());
        self.opt(m.dist.shasum.as_deref());
    }
}

fn put_u32(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(
        &u32::try_from(v)
            .expect("a packument index fits in 4 GiB")
            .to_le_bytes(),
    );
}

fn put_ref(out: &mut Vec<u8>, r: Option<(u32, u32)>) {
    let (off, len) = r.unwrap_or((NONE, 0));
    out.extend_from_slice(&off.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
}

/// The index of `raw` with `meta` recorded (header included): what the cache stores and
/// [`crate::Packument::open`] reads.
pub fn encode(raw: &RawPackument, meta: &Meta) -> Vec<u8> {
    let mut heap = Heap::default();
    let mut manifests = Vec::new();
    let mut records = Vec::with_capacity(raw.versions.len() * RECORD_LEN);
    for (version, m) in &raw.versions {
        let start = manifests.len();
        let mut w = Writer {
            out: std::mem::take(&mut manifests),
            heap: &mut heap,
        };
        w.manifest(m);
        manifests = w.out;
        put_ref(&mut records, Some(heap.intern(version)));
        put_ref(&mut records, m.engines.get("node").map(|r| heap.intern(r)));
        put_u32(&mut records, start);
        put_u32(&mut records, manifests.len() - start);
        let flags = if m.deprecated.is_some() {
            FLAG_DEPRECATED
        } else {
            0
        } | if m.has_install_script {
            FLAG_INSTALL_SCRIPT
        } else {
            0
        };
        put_u32(&mut records, flags as usize);
        put_u32(&mut records, 0);
    }
    let mut tags = Vec::with_capacity(raw.dist_tags.len() * TAG_LEN);
    for (tag, version) in &raw.dist_tags {
        put_ref(&mut tags, Some(heap.intern(tag)));
        put_ref(&mut tags, Some(heap.intern(version)));
    }
    let refs = [
        Some(heap.intern(&meta.registry)),
        Some(heap.intern(&meta.package)),
        meta.etag.as_deref().map(|s| heap.intern(s)),
        meta.last_modified.as_deref().map(|s| heap.intern(s)),
        Some(heap.intern(&raw.name)),
    ];
    let heap_at = DIRECTORY_LEN;
    let table_at = heap_at + heap.bytes.len();
    let tags_at = table_at + records.len();
    let manifests_at = tags_at + tags.len();
    let mut body = Vec::with_capacity(manifests_at + manifests.len());
    put_u32(&mut body, heap_at);
    put_u32(&mut body, heap.bytes.len());
    put_u32(&mut body, table_at);
    put_u32(&mut body, raw.versions.len());
    put_u32(&mut body, tags_at);
    put_u32(&mut body, raw.dist_tags.len());
    put_u32(&mut body, manifests_at);
    put_u32(&mut body, manifests.len());
    for r in refs {
        put_ref(&mut body, r);
    }
    debug_assert_eq!(body.len(), DIRECTORY_LEN);
    body.extend_from_slice(&heap.bytes);
    body.extend_from_slice(&records);
    body.extend_from_slice(&tags);
    body.extend_from_slice(&manifests);
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_128(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}
