//! Writes the binary cache form (layout in `docs/registry.md` and the parent module).
//!
//! Every string goes once into a string table (dependency names and ranges repeat across a
//! package's versions), and the document refers to strings by index, all integers LEB128.

use std::collections::{BTreeMap, HashMap};

use super::fields::{BinField, BundleField, directories_bin, engines_pairs};
use super::{CachedPackument, FORMAT_VERSION, HEADER_LEN, MAGIC, tag};
use crate::client::packument::PackageVersion;

/// The complete file for `entry`, cached for `package` from `registry`.
pub(crate) fn encode(registry: &str, package: &str, entry: &CachedPackument) -> Vec<u8> {
    let mut doc = DocumentWriter::default();
    doc.string(registry);
    doc.string(package);
    doc.opt_string(entry.etag.as_deref());
    doc.opt_string(entry.last_modified.as_deref());
    let packument = &entry.packument;
    doc.string(&packument.name);
    doc.opt_string(packument.modified.as_deref());
    doc.string_map(&packument.dist_tags);
    doc.count(packument.versions.len());
    for (key, version) in &packument.versions {
        doc.string(key);
        doc.version(version);
    }

    let mut out = vec![0; HEADER_LEN];
    doc.strings.write_to(&mut out);
    out.extend_from_slice(&doc.bytes);
    let body_len = (out.len() - HEADER_LEN) as u64;
    let checksum = xxhash_rust::xxh3::xxh3_128(&out[HEADER_LEN..]);
    out[0..4].copy_from_slice(&MAGIC);
    out[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[8..16].copy_from_slice(&body_len.to_le_bytes());
    out[16..32].copy_from_slice(&checksum.to_le_bytes());
    out
}

/// Each distinct string once, in first-use order.
#[derive(Default)]
struct StringTable<'a> {
    index: HashMap<&'a str, u64>,
    strings: Vec<&'a str>,
}

impl<'a> StringTable<'a> {
    fn intern(&mut self, s: &'a str) -> u64 {
        *self.index.entry(s).or_insert_with(|| {
            self.strings.push(s);
            (self.strings.len() - 1) as u64
        })
    }

    /// count, total bytes, the bytes (one UTF-8 run), then each length.
    fn write_to(&self, out: &mut Vec<u8>) {
        let total: usize = self.strings.iter().map(|s| s.len()).sum();
        write_varint(out, self.strings.len() as u64);
        write_varint(out, total as u64);
        out.reserve(total + self.strings.len());
        for s in &self.strings {
            out.extend_from_slice(s.as_bytes());
        }
        for s in &self.strings {
            write_varint(out, s.len() as u64);
        }
    }
}

#[derive(Default)]
struct DocumentWriter<'a> {
    strings: StringTable<'a>,
    bytes: Vec<u8>,
}

impl<'a> DocumentWriter<'a> {
    fn count(&mut self, n: usize) {
        write_varint(&mut self.bytes, n as u64);
    }

    fn byte(&mut self, b: u8) {
        self.bytes.push(b);
    }

    fn string(&mut self, s: &'a str) {
        let index = self.strings.intern(s);
        write_varint(&mut self.bytes, index);
    }

    /// 0 for none, else index + 1.
    fn opt_string(&mut self, s: Option<&'a str>) {
        let value = s.map_or(0, |s| self.strings.intern(s) + 1);
        write_varint(&mut self.bytes, value);
    }

    fn string_map(&mut self, map: &'a BTreeMap<String, String>) {
        self.count(map.len());
        for (k, v) in map {
            self.string(k);
            self.string(v);
        }
    }

    fn pairs(&mut self, pairs: &[(&'a str, &'a str)]) {
        self.count(pairs.len());
        for (k, v) in pairs {
            self.string(k);
            self.string(v);
        }
    }

    fn list(&mut self, items: impl ExactSizeIterator<Item = &'a str>) {
        self.count(items.len());
        for item in items {
            self.string(item);
        }
    }

    fn version(&mut self, v: &'a PackageVersion) {
        self.string(&v.name);
        self.string(&v.version);
        self.string_map(&v.dependencies);
        self.string_map(&v.optional_dependencies);
        self.string_map(&v.peer_dependencies);
        self.count(v.peer_dependencies_meta.len());
        for (name, meta) in &v.peer_dependencies_meta {
            self.string(name);
            self.byte(u8::from(meta.optional));
        }
        match v.bin.as_ref().and_then(BinField::from_value) {
            None => self.byte(tag::NONE),
            Some(BinField::Single(path)) => {
                self.byte(tag::BIN_SINGLE);
                self.string(path);
            }
            Some(BinField::Map(pairs)) => {
                self.byte(tag::BIN_MAP);
                self.pairs(&pairs);
            }
        }
        self.opt_string(v.directories.as_ref().and_then(directories_bin));
        match v.engines.as_ref().and_then(engines_pairs) {
            None => self.byte(tag::NONE),
            Some(pairs) => {
                self.byte(tag::ENGINES_MAP);
                self.pairs(&pairs);
            }
        }
        self.list(v.os.iter().map(String::as_str));
        self.list(v.cpu.iter().map(String::as_str));
        self.list(v.libc.iter().map(String::as_str));
        self.opt_string(v.deprecated.as_deref());
        self.byte(u8::from(v.has_install_script));
        match v
            .bundle_dependencies
            .as_ref()
            .and_then(BundleField::from_value)
        {
            None => self.byte(tag::NONE),
            Some(BundleField::All) => self.byte(tag::BUNDLE_ALL),
            Some(BundleField::Names(names)) => {
                self.byte(tag::BUNDLE_NAMES);
                self.list(names.into_iter());
            }
        }
        self.string(&v.dist.tarball);
        self.opt_string(v.dist.integrity.as_deref());
        self.opt_string(v.dist.shasum.as_deref());
    }
}

/// Unsigned LEB128: 7 bits a byte, low first, high bit set on all but the last.
pub(crate) fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
