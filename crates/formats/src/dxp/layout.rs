//! The on-disk records of a DXP archive, as byte-aligned `Pod` structs of little-endian fields.
//!
//! Every field is a byte array, so every struct has alignment 1: casting any in-bounds slice of
//! an mmap to these types is sound whatever its offset, and reading a field is a
//! `from_le_bytes`, correct on any host.

use bytemuck::{Pod, Zeroable};

/// The first four bytes of every DXP archive.
pub const MAGIC: [u8; 4] = *b"DXP\0";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the fixed header at the start of the archive.
pub const HEADER_SIZE: usize = 128;
/// Size of one entry record.
pub(crate) const ENTRY_SIZE: usize = 64;
/// Size of one path-index slot.
pub(crate) const SLOT_SIZE: usize = 8;
/// Size of one directory-children table cell.
pub(crate) const CHILD_SIZE: usize = 4;
/// Tables start at multiples of this, so an mmap'd archive has aligned tables (not needed
/// for soundness, but cheap and friendly to other readers).
pub(crate) const TABLE_ALIGN: usize = 8;
/// Byte range of the header covered by the checksum (everything before the checksum itself).
pub(crate) const HEADER_CHECKED_LEN: usize = 112;
/// An index slot whose entry is this is empty.
pub(crate) const EMPTY_SLOT: u32 = u32::MAX;

/// A little-endian `u32` with alignment 1.
#[derive(Clone, Copy, Default, Pod, Zeroable, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct U32Le([u8; 4]);

/// A little-endian `u64` with alignment 1.
#[derive(Clone, Copy, Default, Pod, Zeroable, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct U64Le([u8; 8]);

impl U32Le {
    pub(crate) fn new(value: u32) -> Self {
        Self(value.to_le_bytes())
    }
    pub(crate) fn get(self) -> u32 {
        u32::from_le_bytes(self.0)
    }
}

impl U64Le {
    pub(crate) fn new(value: u64) -> Self {
        Self(value.to_le_bytes())
    }
    pub(crate) fn get(self) -> u64 {
        u64::from_le_bytes(self.0)
    }
}

/// The 128-byte header. Field offsets are part of the format (see `docs/dxp.md`).
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct RawHeader {
    /// `DXP\0`.
    pub magic: [u8; 4],
    /// [`FORMAT_VERSION`].
    pub format_version: U32Le,
    /// Reserved, zero in version 1.
    pub flags: U32Le,
    /// Files plus directories, the root included.
    pub entry_count: U32Le,
    /// Regular files.
    pub file_count: U32Le,
    /// Directories, the root included.
    pub dir_count: U32Le,
    /// Slots in the path index.
    pub index_slots: U32Le,
    /// Cells in the directory-children table (`entry_count - 1`: every entry but the root has
    /// exactly one parent).
    pub children_count: U32Le,
    /// Sum of the real sizes of all files.
    pub unpacked_size: U64Le,
    /// Length of the whole archive in bytes.
    pub total_size: U64Le,
    /// Start of the path index.
    pub index_offset: U64Le,
    /// Start of the entry records.
    pub entries_offset: U64Le,
    /// Start of the directory-children table.
    pub children_offset: U64Le,
    /// Start of the string table.
    pub strings_offset: U64Le,
    /// Length of the string table.
    pub strings_len: U64Le,
    /// Start of the data region; entry data offsets are relative to it.
    pub data_offset: U64Le,
    /// Length of the data region.
    pub data_len: U64Le,
    /// Reserved, zero in version 1.
    pub reserved: [u8; 8],
    /// xxh3-128 (little endian) of header bytes `0..112` followed by bytes `128..total_size`.
    pub checksum: [u8; 16],
}

/// One file or directory (64 bytes).
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct EntryRecord {
    /// Offset of the full path in the string table.
    pub path_offset: U32Le,
    /// Length of the full path in bytes.
    pub path_len: U32Le,
    /// Index of the parent directory (the root is its own parent).
    pub parent: U32Le,
    /// [`super::EntryKind`] code.
    pub kind: u8,
    /// [`super::Compression`] code (0 for directories).
    pub compression: u8,
    /// Zero.
    pub reserved0: [u8; 2],
    /// Unix permission bits: 0o644 or 0o755 for files, 0o755 for directories.
    pub mode: U32Le,
    /// Directories: first cell of their run in the children table. Files: 0.
    pub children_start: U32Le,
    /// Directories: number of children. Files: 0.
    pub child_count: U32Le,
    /// Zero.
    pub reserved1: [u8; 4],
    /// Files: offset of the stored bytes, relative to the data region.
    pub data_offset: U64Le,
    /// Files: stored (possibly compressed) length.
    pub stored_size: U64Le,
    /// Files: real (decompressed) length.
    pub real_size: U64Le,
    /// Files: xxh3-64 of the real content.
    pub content_hash: U64Le,
}

/// One path-index slot (8 bytes).
#[derive(Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct IndexSlot {
    /// Entry index, or [`EMPTY_SLOT`].
    pub entry: U32Le,
    /// Low 32 bits of the path's xxh3-64, to skip most string comparisons.
    pub tag: U32Le,
}

const _: () = assert!(size_of::<RawHeader>() == HEADER_SIZE);
const _: () = assert!(size_of::<EntryRecord>() == ENTRY_SIZE);
const _: () = assert!(size_of::<IndexSlot>() == SLOT_SIZE);
const _: () = assert!(size_of::<U32Le>() == CHILD_SIZE);
const _: () = assert!(align_of::<RawHeader>() == 1);
const _: () = assert!(align_of::<EntryRecord>() == 1);
const _: () = assert!(align_of::<IndexSlot>() == 1);

/// Rounds `offset` up to [`TABLE_ALIGN`].
pub(crate) fn align_up(offset: usize) -> usize {
    offset.div_ceil(TABLE_ALIGN) * TABLE_ALIGN
}

/// The xxh3-128 checksum the header carries: header bytes `0..112`, then everything after
/// the header.
pub(crate) fn checksum(header_prefix: &[u8], body: &[u8]) -> [u8; 16] {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(header_prefix);
    hasher.update(body);
    hasher.digest128().to_le_bytes()
}
