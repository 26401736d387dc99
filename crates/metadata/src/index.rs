//! The packument index: one package's registry metadata in a compact binary form that is
//! opened without parsing (usually memory-mapped) and decoded lazily.
//!
//! Layout (integers little-endian, at any alignment; `docs/registry.md` has the table):
//!
//! ```text
//! header     0..4    magic "DXPK"
//!            4..8    format version (u32) = 4
//!            8..16   body length (u64)
//!            16..32  xxh3-128 of the body's head (everything before the manifests)
//! body       head:
//!              directory (DIRECTORY_LEN bytes):
//!                heap offset, heap length            (u32, u32)
//!                version table offset, version count (u32, u32)
//!                dist-tag table offset, tag count    (u32, u32)
//!                manifests offset, manifests length  (u32, u32)
//!                registry, package, etag, last-modified, name   (5 string refs)
//!              heap: the strings the head names, UTF-8, back to back
//!              version table: RECORD_LEN-byte records sorted by version key (byte order):
//!                version (str ref), engines.node (str ref), manifest offset, manifest length,
//!                flags (u32: bit 0 deprecated, bit 1 has install script, bit 2 numbers
//!                set, bit 3 prerelease `N.N.N-…`), manifest checksum (low 32 bits of its
//!                xxh3-64), major, minor, patch (u64 each; set for `N.N.N` and `N.N.N-…`)
//!              dist-tag table: (tag, version) string refs
//!            manifests: one blob per version ([`decode`] reads one), strings inline
//! ```
//!
//! A string ref is (offset, length) into the heap; offset `u32::MAX` means absent.
//!
//! Opening touches only the head (a few bytes per version): the manifests, most of the bytes,
//! are read only for the versions a resolution chooses, each checked against its own checksum
//! then. Plain release versions carry their numbers, so choosing among them parses nothing.
//!
//! Invariants: [`Index::open`] checks the magic, the format version, the length, the head's
//! checksum, that every table lies inside the head and the heap is UTF-8, so anything damaged,
//! truncated or of another format version is an error (for the cache: a miss), never a panic;
//! a manifest is checked against its checksum and bounds-checked as it is decoded (damage: the
//! version reads as unreadable, `None`). A file forged with valid checksums can make answers
//! wrong (an unsorted table hides versions) but never make the reader panic or over-allocate.

mod decode;
mod encode;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ops::Deref;

pub use encode::encode;

use crate::packument::{VersionEntry, VersionManifest};

/// The first bytes of every index.
pub const MAGIC: [u8; 4] = *b"DXPK";
/// Bumped when the layout changes; an index of another version is refused. (Format 1 was JSON,
/// format 2 a whole-document binary form decoded at once, format 3 a development layout that
/// never shipped.)
pub const FORMAT_VERSION: u32 = 4;
/// Magic, format, body length, checksum.
pub const HEADER_LEN: usize = 32;
const DIRECTORY_LEN: usize = 4 * 8 + 5 * 8;
const RECORD_LEN: usize = 56;
const TAG_LEN: usize = 16;
const NONE: u32 = u32::MAX;
const FLAG_DEPRECATED: u32 = 1;
const FLAG_INSTALL_SCRIPT: u32 = 2;
const FLAG_NUMBERS: u32 = 4;
const FLAG_PRERELEASE: u32 = 8;

/// Why an index could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Shorter than its header or than the body its header declares.
    #[error("truncated packument index")]
    Truncated,
    /// Not an index.
    #[error("not a packument index (bad magic)")]
    BadMagic,
    /// Written by a dx with another layout.
    #[error("packument index format {found}, this dx reads {FORMAT_VERSION}")]
    Version {
        /// The format version found.
        found: u32,
    },
    /// The body does not match its checksum.
    #[error("packument index checksum mismatch")]
    Checksum,
    /// Checksummed but inconsistent (a table outside the body, a string that is not UTF-8).
    #[error("malformed packument index: {0}")]
    Malformed(&'static str),
    /// Written for another registry or package.
    #[error("packument index is for another package")]
    WrongPackage,
}

/// The origin and validators recorded with an index: where it came from and how to ask the
/// registry whether it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// The registry URL it was fetched from ("" when built from JSON in memory).
    pub registry: String,
    /// The package name it was fetched for.
    pub package: String,
    /// The ETag the registry sent.
    pub etag: Option<String>,
    /// The Last-Modified the registry sent.
    pub last_modified: Option<String>,
}

/// The bytes of an index: read into memory or mapped from the cache file.
pub enum IndexBytes {
    /// Owned bytes (a fresh download, a small file).
    Owned(Vec<u8>),
    /// A read-only mapping of a cache file. Cache files are replaced by rename, never written
    /// in place, so the mapped bytes do not change under the reader.
    Mapped(memmap2::Mmap),
}

impl Deref for IndexBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            IndexBytes::Owned(v) => v,
            IndexBytes::Mapped(m) => m,
        }
    }
}

/// A string ref as stored: (offset into the heap, length).
#[derive(Clone, Copy)]
struct StrRef {
    off: u32,
    len: u32,
}

/// An opened, checked index.
pub(crate) struct Index {
    bytes: IndexBytes,
    /// Body-relative range of the heap, whose bytes were checked to be UTF-8 on open.
    heap: (usize, usize),
    table: usize,
    count: usize,
    tags: usize,
    tag_count: usize,
    manifests: (usize, usize),
    refs: [StrRef; 5],
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn str_ref_at(bytes: &[u8], at: usize) -> Option<StrRef> {
    Some(StrRef {
        off: u32_at(bytes, at)?,
        len: u32_at(bytes, at + 4)?,
    })
}

fn range_inside(off: usize, len: usize, total: usize) -> Option<(usize, usize)> {
    let end = off.checked_add(len)?;
    (end <= total).then_some((off, end))
}

impl Index {
    /// Checks the header, the head's checksum and the tables (see the module invariants).
    pub(crate) fn open(bytes: IndexBytes) -> Result<Self, IndexError> {
        let header = bytes.get(..HEADER_LEN).ok_or(IndexError::Truncated)?;
        if header[0..4] != MAGIC {
            return Err(IndexError::BadMagic);
        }
        let version = u32_at(header, 4).ok_or(IndexError::Truncated)?;
        if version != FORMAT_VERSION {
            return Err(IndexError::Version { found: version });
        }
        let body_len = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        let body_len = usize::try_from(body_len).map_err(|_| IndexError::Truncated)?;
        let body = bytes
            .get(HEADER_LEN..)
            .filter(|b| b.len() == body_len)
            .ok_or(IndexError::Truncated)?;
        let malformed = IndexError::Malformed;
        if body.len() < DIRECTORY_LEN {
            return Err(malformed("directory"));
        }
        let word = |i: usize| u32_at(body, i * 4).expect("directory is inside the body") as usize;
        let manifests = range_inside(word(6), word(7), body.len()).ok_or(malformed("manifests"))?;
        let head = &body[..manifests.0];
        let sum = u128::from_le_bytes(header[16..32].try_into().expect("16 bytes"));
        if xxhash_rust::xxh3::xxh3_128(head) != sum {
            return Err(IndexError::Checksum);
        }
        if head.len() < DIRECTORY_LEN {
            return Err(malformed("directory"));
        }
        let heap = range_inside(word(0), word(1), head.len()).ok_or(malformed("heap"))?;
        std::str::from_utf8(&head[heap.0..heap.1]).map_err(|_| malformed("heap is not UTF-8"))?;
        let (table, count) = (word(2), word(3));
        range_inside(
            table,
            count.checked_mul(RECORD_LEN).ok_or(malformed("table"))?,
            head.len(),
        )
        .ok_or(malformed("version table"))?;
        let (tags, tag_count) = (word(4), word(5));
        range_inside(
            tags,
            tag_count.checked_mul(TAG_LEN).ok_or(malformed("tags"))?,
            head.len(),
        )
        .ok_or(malformed("dist-tag table"))?;
        let mut refs = [StrRef { off: NONE, len: 0 }; 5];
        for (i, r) in refs.iter_mut().enumerate() {
            *r = str_ref_at(body, 32 + i * 8).expect("directory is inside the body");
        }
        Ok(Self {
            bytes,
            heap,
            table,
            count,
            tags,
            tag_count,
            manifests,
            refs,
        })
    }

    fn body(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// The whole index, header included.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn word_at(&self, at: usize) -> usize {
        u32_at(self.body(), at).map_or(0, |w| w as usize)
    }

    /// The string `r` names, if it lies in the heap on character boundaries (absent refs are
    /// `None`). The heap was checked to be UTF-8 on open, so this is two boundary checks.
    fn str(&self, r: StrRef) -> Option<&str> {
        if r.off == NONE {
            return None;
        }
        let heap = &self.body()[self.heap.0..self.heap.1];
        // SAFETY: `open` checked that the heap is UTF-8 and the bytes never change (owned, or
        // a mapping of a file that is only ever replaced by rename).
        let heap = unsafe { std::str::from_utf8_unchecked(heap) };
        let start = r.off as usize;
        heap.get(start..start.checked_add(r.len as usize)?)
    }

    fn str_at(&self, at: usize) -> Option<&str> {
        self.str(str_ref_at(self.body(), at)?)
    }

    fn directory_str(&self, i: usize) -> Option<&str> {
        self.str(self.refs[i])
    }

    pub(crate) fn meta_registry(&self) -> &str {
        self.directory_str(0).unwrap_or("")
    }

    pub(crate) fn meta_package(&self) -> &str {
        self.directory_str(1).unwrap_or("")
    }

    pub(crate) fn meta(&self) -> Meta {
        Meta {
            registry: self.meta_registry().to_owned(),
            package: self.meta_package().to_owned(),
            etag: self.directory_str(2).map(str::to_owned),
            last_modified: self.directory_str(3).map(str::to_owned),
        }
    }

    /// The name and the dist-tags (decoded on open: both are small).
    pub(crate) fn header_fields(&self) -> Result<(String, BTreeMap<String, String>), IndexError> {
        let name = self.directory_str(4).unwrap_or("").to_owned();
        let mut tags = BTreeMap::new();
        for i in 0..self.tag_count {
            let at = self.tags + i * TAG_LEN;
            match (self.str_at(at), self.str_at(at + 8)) {
                (Some(tag), Some(version)) => {
                    tags.insert(tag.to_owned(), version.to_owned());
                }
                _ => return Err(IndexError::Malformed("dist-tag")),
            }
        }
        Ok((name, tags))
    }

    pub(crate) fn version_count(&self) -> usize {
        self.count
    }

    /// Entry `i` of the version table.
    pub(crate) fn entry(&self, i: usize) -> Option<VersionEntry<'_>> {
        if i >= self.count {
            return None;
        }
        let at = self.table + i * RECORD_LEN;
        let flags = self.word_at(at + 24) as u32;
        let body = self.body();
        let number = |o: usize| {
            body.get(at + o..at + o + 8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        };
        let numbers = if flags & FLAG_NUMBERS != 0 {
            Some((number(32)?, number(40)?, number(48)?))
        } else {
            None
        };
        let prerelease = flags & FLAG_PRERELEASE != 0;
        Some(VersionEntry {
            version: self.str_at(at)?,
            engines_node: self.str_at(at + 8),
            deprecated: flags & FLAG_DEPRECATED != 0,
            release: numbers.filter(|_| !prerelease),
            prerelease: numbers.filter(|_| prerelease),
        })
    }

    /// The table position of `version` (binary search: the table is sorted by key).
    pub(crate) fn find(&self, version: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let key = self.str_at(self.table + mid * RECORD_LEN)?;
            match key.cmp(version) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// Decodes the manifest of entry `i`.
    pub(crate) fn manifest(&self, i: usize) -> Option<VersionManifest> {
        if i >= self.count {
            return None;
        }
        let at = self.table + i * RECORD_LEN;
        let (off, len) = (self.word_at(at + 16), self.word_at(at + 20));
        let start = self.manifests.0.checked_add(off)?;
        let blob = self.body().get(start..start.checked_add(len)?)?;
        if xxhash_rust::xxh3::xxh3_64(blob) as u32 != self.word_at(at + 28) as u32 {
            return None;
        }
        let flags = self.word_at(at + 24) as u32;
        decode::manifest(blob, flags & FLAG_INSTALL_SCRIPT != 0)
    }
}
