//! DXP: one npm package in one file, laid out so a FUSE mount can serve it straight from an
//! mmap.
//!
//! The byte layout is specified in `docs/dxp.md`. In short: a 128-byte header, a path index
//! (open addressing on xxh3-64 of the full path), entry records (64 bytes each, in path order,
//! the root directory first), a directory-children table, a string table of paths, then file
//! data, each file raw, LZ4 or zstd.
//!
//! Invariants:
//! - [`PackageArchive::parse`] checks only the header and that every table lies inside the
//!   buffer, so opening thousands of archives is cheap; each entry is checked when it is
//!   touched, and [`PackageArchive::verify`] checks everything, checksums included.
//! - No reader path panics or allocates beyond a bound derived from the input on hostile bytes:
//!   decompression never produces more than the entry's recorded size, and a recorded size is
//!   rejected when the stored bytes could not possibly expand to it.
//! - The builder is deterministic: the same files give the same bytes (sorted paths, fixed
//!   compression levels).
//! - Paths are relative, `/`-separated, valid UTF-8, and never contain empty, `.` or `..`
//!   components or NUL; the root directory has the empty path and entry index 0.

mod builder;
mod compression;
mod error;
mod layout;
mod path_index;
mod reader;
mod tarball;
mod verify;

#[cfg(test)]
mod tests;

pub use builder::{ArchiveBuilder, BuildLimits, BuiltArchive};
pub use compression::{Codec, CompressionPolicy};
pub use error::DxpError;
pub use layout::{FORMAT_VERSION, HEADER_SIZE, MAGIC};
pub use reader::{EntryRef, PackageArchive, ReadDir};
pub use tarball::{
    build_from_dir, build_from_tarball, build_from_tarball_with_policy, gzip_stored,
};

/// What an entry is. Links, devices and the like never enter an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file with data.
    File,
    /// A directory, whose children are listed in the directory table.
    Dir,
}

/// How a file's bytes are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Stored as is: read without a copy.
    Raw,
    /// An LZ4 block (no frame), decoded into a buffer of the recorded real size.
    Lz4,
    /// A zstd frame.
    Zstd,
}

impl EntryKind {
    /// The on-disk code.
    fn code(self) -> u8 {
        match self {
            EntryKind::File => 0,
            EntryKind::Dir => 1,
        }
    }

    /// Decodes an on-disk code.
    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(EntryKind::File),
            1 => Some(EntryKind::Dir),
            _ => None,
        }
    }
}

impl Compression {
    /// The on-disk code.
    fn code(self) -> u8 {
        match self {
            Compression::Raw => 0,
            Compression::Lz4 => 1,
            Compression::Zstd => 2,
        }
    }

    /// Decodes an on-disk code.
    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Compression::Raw),
            1 => Some(Compression::Lz4),
            2 => Some(Compression::Zstd),
            _ => None,
        }
    }
}
