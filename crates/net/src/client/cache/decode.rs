//! Reads the binary cache form back, checking every length, count, index and tag against the
//! bytes actually present: a truncated, flipped or hostile file is an error (a cache miss),
//! never a panic and never an allocation larger than the file justifies.

use std::collections::BTreeMap;

use crate::client::packument::{Dist, PackageVersion, Packument, PeerDependencyMeta};

use super::fields::{BinField, BundleField, directories_value, pairs_to_object};
use super::{CachedPackument, FORMAT_VERSION, HEADER_LEN, MAGIC, tag};

/// Why a cache file could not be read back. Offsets are byte offsets in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CacheDecodeError {
    /// Shorter than the fixed header.
    #[error("file is {len} bytes, shorter than the {HEADER_LEN}-byte header")]
    TooShort {
        /// The file's length.
        len: usize,
    },
    /// Not a packument cache file at all.
    #[error("not a dx packument cache file (magic {found:02x?})")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// Written by another version of dx.
    #[error("cache format {found}, this dx reads format {FORMAT_VERSION}")]
    UnsupportedFormat {
        /// The format version in the header.
        found: u32,
    },
    /// The body is not as long as the header says (a truncated write or an appended tail).
    #[error("header declares a {declared}-byte body, the file holds {actual}")]
    LengthMismatch {
        /// From the header.
        declared: u64,
        /// Bytes after the header.
        actual: usize,
    },
    /// The body's xxh3-128 does not match the header.
    #[error("checksum mismatch: the body is damaged")]
    ChecksumMismatch,
    /// The body ended in the middle of a field.
    #[error("truncated at byte {offset} reading {what}")]
    Truncated {
        /// Where the missing bytes should be.
        offset: usize,
        /// The field being read.
        what: &'static str,
    },
    /// A LEB128 integer longer than 64 bits.
    #[error("malformed integer at byte {offset} reading {what}")]
    BadInteger {
        /// Where it starts.
        offset: usize,
        /// The field being read.
        what: &'static str,
    },
    /// A count larger than the bytes left could hold.
    #[error("{what} at byte {offset} claims {count} items, more than the bytes left")]
    ImplausibleCount {
        /// Where the count is.
        offset: usize,
        /// The field being read.
        what: &'static str,
        /// The claimed count.
        count: u64,
    },
    /// The string table's lengths do not add up, or split UTF-8 in the middle of a character.
    #[error("string table: {reason}")]
    BadStringTable {
        /// What is wrong.
        reason: &'static str,
    },
    /// A string index beyond the table.
    #[error("string index {index} at byte {offset} ({what}) is beyond the {count}-entry table")]
    BadStringIndex {
        /// Where the index is.
        offset: usize,
        /// The field being read.
        what: &'static str,
        /// The index found.
        index: u64,
        /// The table's size.
        count: usize,
    },
    /// A tag or flag byte with a value this format does not define.
    #[error("unknown {what} tag {tag} at byte {offset}")]
    BadTag {
        /// Where the tag is.
        offset: usize,
        /// The field being read.
        what: &'static str,
        /// The byte found.
        tag: u8,
    },
    /// Bytes left after the document.
    #[error("{extra} unexpected bytes after the document")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The file holds another (registry, package) than the one its path stands for.
    #[error("entry is for {package} from {registry}")]
    WrongEntry {
        /// The registry recorded in the file.
        registry: String,
        /// The package recorded in the file.
        package: String,
    },
    /// A field of one version was malformed.
    #[error("version {version}: {source}")]
    InVersion {
        /// The version's key.
        version: String,
        /// What was wrong.
        #[source]
        source: Box<CacheDecodeError>,
    },
}

type Result<T> = std::result::Result<T, CacheDecodeError>;

/// The entry in `bytes`, which must have been cached for `package` from `registry`.
pub(crate) fn decode(bytes: &[u8], registry: &str, package: &str) -> Result<CachedPackument> {
    let body = check_header(bytes)?;
    let mut reader = Reader { body, pos: 0 };
    let strings = read_string_table(&mut reader)?;
    let mut doc = DocumentReader { reader, strings };

    let (found_registry, found_package) = (doc.str("registry")?, doc.str("package")?);
    if found_registry != registry || found_package != package {
        return Err(CacheDecodeError::WrongEntry {
            registry: found_registry.to_owned(),
            package: found_package.to_owned(),
        });
    }
    let etag = doc.opt_string("etag")?;
    let last_modified = doc.opt_string("last-modified")?;
    let name = doc.string("name")?;
    let modified = doc.opt_string("modified")?;
    let dist_tags = doc.string_map("dist-tags")?;
    let count = doc.count("versions", 1)?;
    let mut versions = BTreeMap::new();
    for _ in 0..count {
        let key = doc.str("version key")?;
        let version = doc
            .version()
            .map_err(|source| CacheDecodeError::InVersion {
                version: key.to_owned(),
                source: Box::new(source),
            })?;
        versions.insert(key.to_owned(), version);
    }
    let extra = doc.reader.body.len() - doc.reader.pos;
    if extra != 0 {
        return Err(CacheDecodeError::TrailingBytes { extra });
    }
    Ok(CachedPackument {
        etag,
        last_modified,
        packument: Packument {
            name,
            dist_tags,
            versions,
            modified,
        },
    })
}

/// The body, once magic, format, length and checksum are right.
fn check_header(bytes: &[u8]) -> Result<&[u8]> {
    let (Some(header), Some(body)) = (bytes.get(..HEADER_LEN), bytes.get(HEADER_LEN..)) else {
        return Err(CacheDecodeError::TooShort { len: bytes.len() });
    };
    let field = |range: std::ops::Range<usize>| &header[range];
    let mut magic = [0; 4];
    magic.copy_from_slice(field(0..4));
    if magic != MAGIC {
        return Err(CacheDecodeError::BadMagic { found: magic });
    }
    let mut word = [0; 4];
    word.copy_from_slice(field(4..8));
    let format = u32::from_le_bytes(word);
    if format != FORMAT_VERSION {
        return Err(CacheDecodeError::UnsupportedFormat { found: format });
    }
    let mut long = [0; 8];
    long.copy_from_slice(field(8..16));
    let declared = u64::from_le_bytes(long);
    if declared != body.len() as u64 {
        return Err(CacheDecodeError::LengthMismatch {
            declared,
            actual: body.len(),
        });
    }
    let mut wide = [0; 16];
    wide.copy_from_slice(field(16..32));
    if u128::from_le_bytes(wide) != xxhash_rust::xxh3::xxh3_128(body) {
        return Err(CacheDecodeError::ChecksumMismatch);
    }
    Ok(body)
}

/// count, total bytes, the bytes, then each length: the bytes are validated as UTF-8 once,
/// then split at checked character boundaries.
fn read_string_table<'a>(reader: &mut Reader<'a>) -> Result<Vec<&'a str>> {
    let count = reader.count("string count", 1)?;
    let total = reader.count("string bytes", 0)?;
    let blob = reader.take(total, "string bytes")?;
    let blob = std::str::from_utf8(blob).map_err(|_| CacheDecodeError::BadStringTable {
        reason: "not UTF-8",
    })?;
    // Each length takes at least one byte.
    if count > reader.remaining() {
        return Err(CacheDecodeError::ImplausibleCount {
            offset: reader.offset(),
            what: "string lengths",
            count: count as u64,
        });
    }
    let mut strings = Vec::with_capacity(count);
    let mut start = 0usize;
    for _ in 0..count {
        let length = reader.varint("string length")?;
        let end = usize::try_from(length)
            .ok()
            .and_then(|l| start.checked_add(l))
            .ok_or(CacheDecodeError::BadStringTable {
                reason: "a length overflows",
            })?;
        let s = blob
            .get(start..end)
            .ok_or(CacheDecodeError::BadStringTable {
                reason: "a string is out of range or splits a character",
            })?;
        strings.push(s);
        start = end;
    }
    if start != blob.len() {
        return Err(CacheDecodeError::BadStringTable {
            reason: "lengths do not add up to the byte count",
        });
    }
    Ok(strings)
}

/// A cursor over the body; every read checks what is left.
struct Reader<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn offset(&self) -> usize {
        HEADER_LEN + self.pos
    }

    fn remaining(&self) -> usize {
        self.body.len() - self.pos
    }

    fn byte(&mut self, what: &'static str) -> Result<u8> {
        let b = *self.body.get(self.pos).ok_or(CacheDecodeError::Truncated {
            offset: self.offset(),
            what,
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.body.len());
        let Some(end) = end else {
            return Err(CacheDecodeError::Truncated {
                offset: self.offset(),
                what,
            });
        };
        let slice = &self.body[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    #[inline]
    fn varint(&mut self, what: &'static str) -> Result<u64> {
        // Most integers (string indexes of small documents, counts) are one byte.
        if let Some(&b) = self.body.get(self.pos).filter(|&&b| b < 0x80) {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        self.varint_long(what)
    }

    fn varint_long(&mut self, what: &'static str) -> Result<u64> {
        let start = self.offset();
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may only carry the top bit.
            if shift == 63 && bits > 1 {
                break;
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CacheDecodeError::BadInteger {
            offset: start,
            what,
        })
    }

    /// A count of items taking at least `min_item_bytes` each, so a lying count fails here
    /// instead of reserving memory for items that cannot be there.
    fn count(&mut self, what: &'static str, min_item_bytes: usize) -> Result<usize> {
        let offset = self.offset();
        let count = self.varint(what)?;
        let fits = usize::try_from(count).ok().filter(|&c| {
            c.checked_mul(min_item_bytes.max(1))
                .is_some_and(|bytes| bytes <= self.remaining())
        });
        fits.ok_or(CacheDecodeError::ImplausibleCount {
            offset,
            what,
            count,
        })
    }
}

/// The document section: integers, tags and references into the string table.
struct DocumentReader<'a> {
    reader: Reader<'a>,
    strings: Vec<&'a str>,
}

impl<'a> DocumentReader<'a> {
    fn count(&mut self, what: &'static str, min_item_bytes: usize) -> Result<usize> {
        self.reader.count(what, min_item_bytes)
    }

    fn lookup(&self, index: u64, offset: usize, what: &'static str) -> Result<&'a str> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.strings.get(i).copied())
            .ok_or(CacheDecodeError::BadStringIndex {
                offset,
                what,
                index,
                count: self.strings.len(),
            })
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str> {
        let offset = self.reader.offset();
        let index = self.reader.varint(what)?;
        self.lookup(index, offset, what)
    }

    fn string(&mut self, what: &'static str) -> Result<String> {
        self.str(what).map(str::to_owned)
    }

    /// 0 for none, else index + 1.
    fn opt_str(&mut self, what: &'static str) -> Result<Option<&'a str>> {
        let offset = self.reader.offset();
        match self.reader.varint(what)? {
            0 => Ok(None),
            n => self.lookup(n - 1, offset, what).map(Some),
        }
    }

    fn opt_string(&mut self, what: &'static str) -> Result<Option<String>> {
        Ok(self.opt_str(what)?.map(str::to_owned))
    }

    fn flag(&mut self, what: &'static str) -> Result<bool> {
        let offset = self.reader.offset();
        match self.reader.byte(what)? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(CacheDecodeError::BadTag { offset, what, tag }),
        }
    }

    fn pairs(&mut self, what: &'static str) -> Result<Vec<(&'a str, &'a str)>> {
        let count = self.count(what, 2)?;
        let mut pairs = Vec::with_capacity(count);
        for _ in 0..count {
            pairs.push((self.str(what)?, self.str(what)?));
        }
        Ok(pairs)
    }

    /// Inserted one by one: the encoder wrote them sorted, and small maps are the rule, so
    /// this beats collecting (which buffers and sorts).
    fn string_map(&mut self, what: &'static str) -> Result<BTreeMap<String, String>> {
        let count = self.count(what, 2)?;
        let mut map = BTreeMap::new();
        for _ in 0..count {
            let key = self.string(what)?;
            map.insert(key, self.string(what)?);
        }
        Ok(map)
    }

    fn strs(&mut self, what: &'static str) -> Result<Vec<&'a str>> {
        let count = self.count(what, 1)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(self.str(what)?);
        }
        Ok(items)
    }

    fn strings(&mut self, what: &'static str) -> Result<Vec<String>> {
        let count = self.count(what, 1)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(self.string(what)?);
        }
        Ok(items)
    }

    fn tag(&mut self, what: &'static str, known: &[u8]) -> Result<u8> {
        let offset = self.reader.offset();
        let tag = self.reader.byte(what)?;
        if known.contains(&tag) {
            Ok(tag)
        } else {
            Err(CacheDecodeError::BadTag { offset, what, tag })
        }
    }

    fn version(&mut self) -> Result<PackageVersion> {
        let name = self.string("name")?;
        let version = self.string("version")?;
        let dependencies = self.string_map("dependencies")?;
        let optional_dependencies = self.string_map("optionalDependencies")?;
        let peer_dependencies = self.string_map("peerDependencies")?;
        let count = self.count("peerDependenciesMeta", 2)?;
        let mut peer_dependencies_meta = BTreeMap::new();
        for _ in 0..count {
            let peer = self.string("peerDependenciesMeta")?;
            let optional = self.flag("peerDependenciesMeta.optional")?;
            peer_dependencies_meta.insert(peer, PeerDependencyMeta { optional });
        }
        let bin = match self.tag("bin", &[tag::NONE, tag::BIN_SINGLE, tag::BIN_MAP])? {
            tag::BIN_SINGLE => Some(BinField::Single(self.str("bin")?).to_value()),
            tag::BIN_MAP => Some(BinField::Map(self.pairs("bin")?).to_value()),
            _ => None,
        };
        let directories = self.opt_str("directories.bin")?.map(directories_value);
        let engines = match self.tag("engines", &[tag::NONE, tag::ENGINES_MAP])? {
            tag::ENGINES_MAP => Some(pairs_to_object(&self.pairs("engines")?)),
            _ => None,
        };
        let os = self.strings("os")?;
        let cpu = self.strings("cpu")?;
        let libc = self.strings("libc")?;
        let deprecated = self.opt_string("deprecated")?;
        let has_install_script = self.flag("hasInstallScript")?;
        let known = [tag::NONE, tag::BUNDLE_ALL, tag::BUNDLE_NAMES];
        let bundle_dependencies = match self.tag("bundleDependencies", &known)? {
            tag::BUNDLE_ALL => Some(BundleField::All.to_value()),
            tag::BUNDLE_NAMES => {
                Some(BundleField::Names(self.strs("bundleDependencies")?).to_value())
            }
            _ => None,
        };
        let dist = Dist {
            tarball: self.string("dist.tarball")?,
            integrity: self.opt_string("dist.integrity")?,
            shasum: self.opt_string("dist.shasum")?,
        };
        Ok(PackageVersion {
            name,
            version,
            dependencies,
            optional_dependencies,
            peer_dependencies,
            peer_dependencies_meta,
            bin,
            directories,
            engines,
            os,
            cpu,
            libc,
            deprecated,
            has_install_script,
            bundle_dependencies,
            dist,
        })
    }
}
