//! The byte layout of a DXL file: sizes, offsets and little-endian field access.
//!
//! Kept in one place so the builder and the reader cannot disagree; `docs/dxl.md` is the
//! written form of the same table.

/// `DXL\0`.
pub(crate) const MAGIC: [u8; 4] = *b"DXL\0";
/// Bumped on any incompatible change; readers refuse other versions (the store rebuilds the
/// DXL from `dx.lock`, so there is no migration).
pub(crate) const FORMAT_VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 128;
/// The checksum covers every byte from here to the end of the file.
pub(crate) const CHECKSUMMED_FROM: usize = 24;

// Header field offsets.
pub(crate) const H_VERSION: usize = 4;
pub(crate) const H_CHECKSUM: usize = 8;
pub(crate) const H_FILE_LEN: usize = 24;
pub(crate) const H_LOCK_DIGEST: usize = 32;
pub(crate) const H_PLATFORM: usize = 48;
pub(crate) const H_STRINGS: usize = 56;
pub(crate) const H_PACKAGES: usize = 64;
pub(crate) const H_NODES: usize = 72;
pub(crate) const H_CHILDREN: usize = 80;
pub(crate) const H_NAME_SLOTS: usize = 88;
pub(crate) const H_PATH_SLOTS: usize = 96;

/// Package record: name (off, len), version (off, len), content hash, integrity digest
/// offset, integrity algorithm, flags, 2 reserved bytes.
pub(crate) const PACKAGE_LEN: usize = 56;
pub(crate) const P_NAME: usize = 0;
pub(crate) const P_VERSION: usize = 8;
pub(crate) const P_CONTENT_HASH: usize = 16;
pub(crate) const P_INTEGRITY_OFF: usize = 48;
pub(crate) const P_INTEGRITY_ALG: usize = 52;
pub(crate) const P_FLAGS: usize = 53;
pub(crate) const FLAG_INSTALL_SCRIPT: u8 = 1;
pub(crate) const ALG_NONE: u8 = 0;
pub(crate) const ALG_SHA1: u8 = 1;
pub(crate) const ALG_SHA512: u8 = 2;

/// Node record: path (off, len), kind, 3 reserved bytes, value (package index or symlink
/// target off, len), children (start, count), parent index.
pub(crate) const NODE_LEN: usize = 32;
pub(crate) const N_PATH: usize = 0;
pub(crate) const N_KIND: usize = 8;
pub(crate) const N_VALUE: usize = 12;
pub(crate) const N_VALUE_LEN: usize = 16;
pub(crate) const N_CHILDREN: usize = 20;
pub(crate) const N_PARENT: usize = 28;
pub(crate) const KIND_DIR: u8 = 0;
pub(crate) const KIND_PACKAGE: u8 = 1;
pub(crate) const KIND_SYMLINK: u8 = 2;

/// Children table entry: one u32 node index.
pub(crate) const CHILD_LEN: usize = 4;

/// Name slot: xxh3-64 of the name, first package index, package count (0 = empty slot).
/// Path slot: xxh3-64 of the path, node index + 1 (0 = empty slot), 4 reserved bytes.
pub(crate) const SLOT_LEN: usize = 16;

/// Reads a little-endian u32 at `off`; 0 when out of range (callers pass in-range offsets
/// of records they already bounds-checked, so this never hides a real value).
pub(crate) fn u32_at(bytes: &[u8], off: usize) -> u32 {
    bytes
        .get(off..off + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// Reads a little-endian u64 at `off`; 0 when out of range.
pub(crate) fn u64_at(bytes: &[u8], off: usize) -> u64 {
    bytes
        .get(off..off + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Writes a little-endian u32 at `off` of a buffer the builder sized itself.
pub(crate) fn put_u32(bytes: &mut [u8], off: usize, v: u32) {
    bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian u64 at `off` of a buffer the builder sized itself.
pub(crate) fn put_u64(bytes: &mut [u8], off: usize, v: u64) {
    bytes[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// The xxh3-64 key of a name or path in the hash tables.
pub(crate) fn key_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// Slots for `n` keys: a power of two at least 4/3 of `n`, so probes stay short.
pub(crate) fn slot_count(n: usize) -> usize {
    (n + n / 3 + 1).next_power_of_two()
}
