//! Reading an archive from a byte slice (usually an mmap), without copying raw files.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::compression::{self, max_real_size};
use super::layout::{
    CHILD_SIZE, ENTRY_SIZE, EntryRecord, FORMAT_VERSION, HEADER_SIZE, IndexSlot, MAGIC, RawHeader,
    SLOT_SIZE, U32Le,
};
use super::{Compression, DxpError, EntryKind, path_index};

/// A parsed archive: the header's tables as slices of the caller's bytes. Copying it is
/// cheap (a few slices and counters).
#[derive(Clone, Copy)]
pub struct PackageArchive<'a> {
    bytes: &'a [u8],
    index: &'a [IndexSlot],
    entries: &'a [EntryRecord],
    children: &'a [U32Le],
    strings: &'a [u8],
    data: &'a [u8],
    file_count: u64,
    dir_count: u64,
    unpacked_size: u64,
}

/// One file or directory of an archive, checked on creation: its path is valid UTF-8 inside
/// the string table, and its data or children range lies inside its table.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    record: &'a EntryRecord,
    path: &'a str,
    index: u32,
    kind: EntryKind,
    compression: Compression,
}

/// The children of one directory, in name order, straight from the directory table.
#[derive(Clone)]
pub struct ReadDir<'a> {
    archive: PackageArchive<'a>,
    cells: std::slice::Iter<'a, U32Le>,
}

impl<'a> PackageArchive<'a> {
    /// Checks the header, magic, version, counts, and that every table lies inside `bytes`.
    /// Does not hash anything (that is [`Self::verify`]); entries are checked when touched, so
    /// opening an archive costs the same whatever its size.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DxpError> {
        let header_bytes = bytes.get(..HEADER_SIZE).ok_or(DxpError::NotAnArchive {
            reason: "shorter than the 128-byte header",
        })?;
        let header: &RawHeader = bytemuck::from_bytes(header_bytes);
        if header.magic != MAGIC {
            return Err(DxpError::NotAnArchive {
                reason: "bad magic",
            });
        }
        let version = header.format_version.get();
        if version != FORMAT_VERSION {
            return Err(DxpError::UnsupportedVersion { version });
        }
        let corrupt = |field, offset, reason| DxpError::CorruptHeader {
            field,
            offset,
            reason,
        };
        if header.flags.get() != 0 {
            return Err(corrupt("flags", 8, "unknown flags set"));
        }
        if header.total_size.get() != bytes.len() as u64 {
            return Err(corrupt(
                "total_size",
                40,
                "does not match the archive's length",
            ));
        }
        let entry_count = header.entry_count.get();
        let file_count = header.file_count.get();
        let dir_count = header.dir_count.get();
        if entry_count == 0 || dir_count == 0 {
            return Err(corrupt("entry_count", 12, "no root directory"));
        }
        if u64::from(file_count) + u64::from(dir_count) != u64::from(entry_count) {
            return Err(corrupt("file_count", 16, "files + directories != entries"));
        }
        if header.children_count.get() != entry_count - 1 {
            return Err(corrupt(
                "children_count",
                28,
                "every entry but the root must have one parent",
            ));
        }
        let slots = header.index_slots.get();
        if slots <= entry_count {
            return Err(corrupt("index_slots", 24, "fewer slots than entries + 1"));
        }

        let table = |field, offset_at, offset: u64, len: u64| -> Result<&'a [u8], DxpError> {
            let start = usize::try_from(offset)
                .ok()
                .filter(|&start| start >= HEADER_SIZE);
            let range = start.and_then(|start| {
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                bytes.get(start..end)
            });
            range.ok_or(DxpError::CorruptHeader {
                field,
                offset: offset_at,
                reason: "table out of bounds",
            })
        };
        let index = table(
            "index_offset",
            48,
            header.index_offset.get(),
            u64::from(slots) * SLOT_SIZE as u64,
        )?;
        let entries = table(
            "entries_offset",
            56,
            header.entries_offset.get(),
            u64::from(entry_count) * ENTRY_SIZE as u64,
        )?;
        let children = table(
            "children_offset",
            64,
            header.children_offset.get(),
            u64::from(entry_count - 1) * CHILD_SIZE as u64,
        )?;
        let strings = table(
            "strings_offset",
            72,
            header.strings_offset.get(),
            header.strings_len.get(),
        )?;
        let data = table(
            "data_offset",
            88,
            header.data_offset.get(),
            header.data_len.get(),
        )?;

        let archive = Self {
            bytes,
            index: bytemuck::cast_slice(index),
            entries: bytemuck::cast_slice(entries),
            children: bytemuck::cast_slice(children),
            strings,
            data,
            file_count: u64::from(file_count),
            dir_count: u64::from(dir_count),
            unpacked_size: header.unpacked_size.get(),
        };
        let root = archive.entry(0)?;
        if root.kind != EntryKind::Dir || !root.path.is_empty() || root.record.parent.get() != 0 {
            return Err(DxpError::CorruptEntry {
                index: 0,
                path: Some(root.path.into()),
                reason: "entry 0 is not the root directory",
            });
        }
        Ok(archive)
    }

    /// The whole archive, as passed to [`Self::parse`].
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The entry at `path` (`""` is the root), through the hash index: one hash and usually
    /// one string comparison.
    pub fn get(&self, path: &str) -> Option<EntryRef<'a>> {
        path_index::candidates(self.index, path)
            .filter(|&index| self.path_bytes(index) == Some(path.as_bytes()))
            .find_map(|index| self.entry(index).ok())
    }

    /// Entry number `index` (the number [`EntryRef::index`] gives), checked.
    pub fn entry(&self, index: u32) -> Result<EntryRef<'a>, DxpError> {
        let record = self
            .entries
            .get(index as usize)
            .ok_or(DxpError::CorruptEntry {
                index,
                path: None,
                reason: "entry index out of range",
            })?;
        let corrupt = |path: Option<&str>, reason| DxpError::CorruptEntry {
            index,
            path: path.map(str::to_owned),
            reason,
        };
        let path_bytes = self
            .path_bytes(index)
            .ok_or_else(|| corrupt(None, "path outside the string table"))?;
        let path =
            std::str::from_utf8(path_bytes).map_err(|_| corrupt(None, "path is not UTF-8"))?;
        let kind =
            EntryKind::from_code(record.kind).ok_or_else(|| corrupt(Some(path), "unknown kind"))?;
        let compression = Compression::from_code(record.compression)
            .ok_or_else(|| corrupt(Some(path), "unknown compression"))?;
        match kind {
            EntryKind::Dir => {
                let start = u64::from(record.children_start.get());
                let end = start + u64::from(record.child_count.get());
                if compression != Compression::Raw || end > self.children.len() as u64 {
                    return Err(corrupt(Some(path), "children outside the directory table"));
                }
            }
            EntryKind::File => {
                let stored = record.stored_size.get();
                let end = record.data_offset.get().checked_add(stored);
                if end.is_none_or(|end| end > self.data.len() as u64) {
                    return Err(corrupt(Some(path), "data outside the data region"));
                }
                let real = record.real_size.get();
                let plausible = match compression {
                    Compression::Raw => real == stored,
                    _ => real <= max_real_size(compression, stored),
                };
                if !plausible {
                    return Err(corrupt(Some(path), "impossible real size"));
                }
            }
        }
        Ok(EntryRef {
            record,
            path,
            index,
            kind,
            compression,
        })
    }

    /// The children of the directory at `dir`, from the directory table.
    pub fn read_dir(&self, dir: &str) -> Result<ReadDir<'a>, DxpError> {
        let entry = self
            .get(dir)
            .ok_or_else(|| DxpError::NotFound { path: dir.into() })?;
        self.children(&entry)
    }

    /// The children of `dir` (an entry of this archive). Every child is checked here, so the
    /// iterator then yields each of them.
    pub fn children(&self, dir: &EntryRef<'a>) -> Result<ReadDir<'a>, DxpError> {
        let cells = self.child_cells(dir)?;
        for cell in cells {
            let child = self.entry(cell.get())?;
            if child.index == 0 || child.record.parent.get() != dir.index {
                return Err(DxpError::CorruptEntry {
                    index: child.index,
                    path: Some(child.path.into()),
                    reason: "listed under a directory that is not its parent",
                });
            }
        }
        Ok(ReadDir {
            archive: *self,
            cells: cells.iter(),
        })
    }

    /// The child of `dir` called `name`, by binary search of the directory's sorted run.
    pub fn child(&self, dir: &EntryRef<'a>, name: &str) -> Option<EntryRef<'a>> {
        let cells = self.child_cells(dir).ok()?;
        let found = cells
            .binary_search_by(|cell| match self.entry(cell.get()) {
                Ok(child) => child.name().as_bytes().cmp(name.as_bytes()),
                Err(_) => Ordering::Less,
            })
            .ok()?;
        let child = self.entry(cells.get(found)?.get()).ok()?;
        (child.record.parent.get() == dir.index && child.index != 0).then_some(child)
    }

    /// A file's content: borrowed from the archive when raw, else decoded into exactly its
    /// recorded size (never more).
    pub fn read(&self, entry: &EntryRef<'a>) -> Result<Cow<'a, [u8]>, DxpError> {
        if entry.kind != EntryKind::File {
            return Err(DxpError::NotAFile {
                path: entry.path.into(),
            });
        }
        // Bounds are checked again: `entry` may come from another archive.
        let stored = self.stored_bytes(entry).ok_or(DxpError::CorruptEntry {
            index: entry.index,
            path: Some(entry.path.into()),
            reason: "data outside the data region",
        })?;
        match entry.compression {
            Compression::Raw => Ok(Cow::Borrowed(stored)),
            codec => compression::decode(codec, stored, entry.size(), entry.path).map(Cow::Owned),
        }
    }

    /// Checks everything: the header checksum over the whole archive, the structure (paths,
    /// parents, directory runs, the index, counts), and every file's content hash.
    pub fn verify(&self) -> Result<(), DxpError> {
        super::verify::verify(self)
    }

    /// The root `package.json`, which the builder always stores raw, so reading it costs no
    /// decoding. `None` when there is none (or it is not raw, which the builder never does).
    pub fn manifest(&self) -> Option<&'a [u8]> {
        let entry = self.get("package.json")?;
        if entry.kind != EntryKind::File || entry.compression != Compression::Raw {
            return None;
        }
        self.stored_bytes(&entry)
    }

    /// Every entry in path order, the root first. Entries that fail their checks are skipped;
    /// [`Self::verify`] reports them.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'a>> + 'a {
        let archive = *self;
        (0..self.entries.len() as u32).filter_map(move |index| archive.entry(index).ok())
    }

    /// Number of entries, files and directories (the root included).
    pub fn entry_count(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Number of regular files.
    pub fn file_count(&self) -> u64 {
        self.file_count
    }

    /// Number of directories, the root included.
    pub fn dir_count(&self) -> u64 {
        self.dir_count
    }

    /// Sum of the real sizes of all files, as recorded in the header.
    pub fn unpacked_size(&self) -> u64 {
        self.unpacked_size
    }

    /// The raw path bytes of entry `index`, if in bounds.
    fn path_bytes(&self, index: u32) -> Option<&'a [u8]> {
        let record = self.entries.get(index as usize)?;
        let start = record.path_offset.get() as usize;
        let end = start.checked_add(record.path_len.get() as usize)?;
        self.strings.get(start..end)
    }

    /// The stored bytes of a file entry, if in bounds.
    fn stored_bytes(&self, entry: &EntryRef<'a>) -> Option<&'a [u8]> {
        let start = usize::try_from(entry.record.data_offset.get()).ok()?;
        let end = start.checked_add(usize::try_from(entry.stored_size()).ok()?)?;
        self.data.get(start..end)
    }

    /// The directory-table run of `dir`.
    fn child_cells(&self, dir: &EntryRef<'a>) -> Result<&'a [U32Le], DxpError> {
        if dir.kind != EntryKind::Dir {
            return Err(DxpError::NotADirectory {
                path: dir.path.into(),
            });
        }
        let start = dir.record.children_start.get() as usize;
        let end = start.saturating_add(dir.record.child_count.get() as usize);
        self.children
            .get(start..end)
            .ok_or_else(|| DxpError::CorruptEntry {
                index: dir.index,
                path: Some(dir.path.into()),
                reason: "children outside the directory table",
            })
    }

    /// A copy of the raw record of entry `index`, for the verifier.
    pub(super) fn record(&self, index: u32) -> Option<EntryRecord> {
        self.entries.get(index as usize).copied()
    }

    /// Raw accessors for the verifier.
    pub(super) fn tables(&self) -> (&'a [IndexSlot], &'a [U32Le], &'a [u8]) {
        (self.index, self.children, self.data)
    }
}

impl<'a> EntryRef<'a> {
    /// The full path inside the package (`""` for the root, no leading or trailing `/`).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The last path component (`""` for the root).
    pub fn name(&self) -> &'a str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }

    /// File or directory.
    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    /// Permission bits: 0o644 or 0o755 for files, 0o755 for directories. Derived from the kind
    /// and the executable bit, never taken verbatim from the record, so no archive can carry
    /// set-uid or world-writable modes.
    pub fn mode(&self) -> u32 {
        match self.kind {
            EntryKind::Dir => 0o755,
            EntryKind::File if self.is_executable() => 0o755,
            EntryKind::File => 0o644,
        }
    }

    /// Whether the file is executable (directories: false).
    pub fn is_executable(&self) -> bool {
        self.kind == EntryKind::File && self.record.mode.get() & 0o111 != 0
    }

    /// Real (decoded) size in bytes; 0 for directories.
    pub fn size(&self) -> u64 {
        match self.kind {
            EntryKind::File => self.record.real_size.get(),
            EntryKind::Dir => 0,
        }
    }

    /// Stored size in bytes; 0 for directories.
    pub fn stored_size(&self) -> u64 {
        match self.kind {
            EntryKind::File => self.record.stored_size.get(),
            EntryKind::Dir => 0,
        }
    }

    /// How the file is stored (directories: raw).
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The entry's number inside the archive, stable for a given archive; the root is 0. The
    /// FUSE layer builds inode numbers from it.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The parent directory's index (the root is its own parent).
    pub fn parent_index(&self) -> u32 {
        self.record.parent.get()
    }

    /// Number of children of a directory (0 for files).
    pub fn child_count(&self) -> u32 {
        match self.kind {
            EntryKind::Dir => self.record.child_count.get(),
            EntryKind::File => 0,
        }
    }

    /// xxh3-64 of the real content (0 for directories): a cheap checksum, not an identity.
    pub fn content_hash(&self) -> u64 {
        match self.kind {
            EntryKind::File => self.record.content_hash.get(),
            EntryKind::Dir => 0,
        }
    }
}

impl std::fmt::Debug for EntryRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryRef")
            .field("index", &self.index)
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("size", &self.size())
            .field("compression", &self.compression)
            .finish()
    }
}

impl std::fmt::Debug for PackageArchive<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackageArchive")
            .field("len", &self.bytes.len())
            .field("entries", &self.entries.len())
            .field("files", &self.file_count)
            .field("unpacked_size", &self.unpacked_size)
            .finish()
    }
}

impl<'a> Iterator for ReadDir<'a> {
    type Item = EntryRef<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        // Every cell was checked by `PackageArchive::children`.
        self.cells
            .by_ref()
            .find_map(|cell| self.archive.entry(cell.get()).ok())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.cells.size_hint()
    }
}

impl ExactSizeIterator for ReadDir<'_> {}
