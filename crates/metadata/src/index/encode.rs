//! Writing an index: strings interned once into the heap, versions sorted by key.

use std::collections::{BTreeMap, HashMap};

use super::{
    DIRECTORY_LEN, FLAG_DEPRECATED, FLAG_INSTALL_SCRIPT, FLAG_NUMBERS, FLAG_PRERELEASE,
    FORMAT_VERSION, HEADER_LEN, MAGIC, Meta, NONE, RECORD_LEN, TAG_LEN,
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

/// A manifest blob: strings inline (length, bytes), so a blob is checked and decoded alone.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("a count fits in u32"));
    }
    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.out.extend_from_slice(s.as_bytes());
    }
    fn opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
            None => self.u8(0),
        }
    }
    fn map(&mut self, map: &BTreeMap<String, String>) {
        self.len(map.len());
        for (k, v) in map {
            self.str(k);
            self.str(v);
        }
    }
    fn list(&mut self, list: &[String]) {
        self.len(list.len());
        for s in list {
            self.str(s);
        }
    }
    fn manifest(&mut self, m: &VersionManifest) {
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

/// The numbers of a key that is a prerelease for certain: a plain release's three numbers,
/// then `-` and more (`1.2.3-rc.1`, `0.0.0-experimental-abc`). Such a version can satisfy only
/// a range with a prerelease comparator on the same numbers (npm's semver), so a reader may
/// skip it for every other range without parsing it.
pub(crate) fn prerelease_numbers(key: &str) -> Option<(u64, u64, u64)> {
    let (release, rest) = key.split_once('-')?;
    if rest.is_empty() {
        return None;
    }
    plain_release(release)
}

/// (major, minor, patch) of a plain release key: three decimal numbers without leading zeros,
/// each at most JavaScript's largest safe integer, and nothing else. Such a key parses to
/// exactly this version under npm's semver (loose or not), so a reader may skip parsing it.
pub(crate) fn plain_release(key: &str) -> Option<(u64, u64, u64)> {
    const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
    let mut parts = key.split('.');
    let mut number = || -> Option<u64> {
        let part = parts.next()?;
        let canonical = !part.is_empty()
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
            && part.len() <= 16;
        let n: u64 = if canonical {
            part.parse().ok()?
        } else {
            return None;
        };
        (n <= MAX_SAFE_INTEGER).then_some(n)
    };
    let release = (number()?, number()?, number()?);
    parts.next().is_none().then_some(release)
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
    let mut writer = Writer { out: Vec::new() };
    let mut records = Vec::with_capacity(raw.versions.len() * RECORD_LEN);
    for (version, m) in &raw.versions {
        let start = writer.out.len();
        writer.manifest(m);
        let blob = &writer.out[start..];
        put_ref(&mut records, Some(heap.intern(version)));
        put_ref(&mut records, m.engines.get("node").map(|r| heap.intern(r)));
        put_u32(&mut records, start);
        put_u32(&mut records, blob.len());
        let release = plain_release(version);
        let numbers = release.or_else(|| prerelease_numbers(version));
        let flag = |on: bool, bit: u32| if on { bit } else { 0 };
        let flags = flag(m.deprecated.is_some(), FLAG_DEPRECATED)
            | flag(m.has_install_script, FLAG_INSTALL_SCRIPT)
            | flag(numbers.is_some(), FLAG_NUMBERS)
            | flag(release.is_none() && numbers.is_some(), FLAG_PRERELEASE);
        put_u32(&mut records, flags as usize);
        records.extend_from_slice(&(xxhash_rust::xxh3::xxh3_64(blob) as u32).to_le_bytes());
        let (major, minor, patch) = numbers.unwrap_or_default();
        for n in [major, minor, patch] {
            records.extend_from_slice(&n.to_le_bytes());
        }
    }
    let manifests = writer.out;
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
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_128(&body[..manifests_at]).to_le_bytes());
    out.extend_from_slice(&body);
    out
}
