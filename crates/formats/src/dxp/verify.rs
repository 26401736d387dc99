//! The full check of an archive: checksum, canonical layout, structure, content hashes.
//!
//! An archive passing [`verify`] is exactly what the builder would write for its files, so
//! every invariant the reader relies on for speed (sorted directory runs, one parent per entry,
//! the index finding every path) holds.

use super::builder::validate_path;
use super::layout::{
    self, CHILD_SIZE, EMPTY_SLOT, ENTRY_SIZE, HEADER_CHECKED_LEN, HEADER_SIZE, RawHeader, SLOT_SIZE,
};
use super::reader::{EntryRef, PackageArchive};
use super::{Compression, DxpError, EntryKind};

/// See [`PackageArchive::verify`].
pub(crate) fn verify(archive: &PackageArchive<'_>) -> Result<(), DxpError> {
    let bytes = archive.as_bytes();
    let header: &RawHeader = bytemuck::from_bytes(&bytes[..HEADER_SIZE]);
    let expected = layout::checksum(&bytes[..HEADER_CHECKED_LEN], &bytes[HEADER_SIZE..]);
    if expected != header.checksum {
        return Err(DxpError::ChecksumMismatch);
    }
    check_layout(header)?;

    let count = archive.entry_count() as usize;
    let entries: Vec<EntryRef<'_>> = (0..count as u32)
        .map(|index| archive.entry(index))
        .collect::<Result<_, _>>()?;
    let (index_table, children, data) = archive.tables();

    let mut files = 0u64;
    let mut unpacked = 0u64;
    let mut data_cursor = 0u64;
    let mut children_cursor = 0u64;
    let mut listed = vec![false; count];
    for (i, entry) in entries.iter().enumerate() {
        let corrupt = |reason| DxpError::CorruptEntry {
            index: entry.index(),
            path: Some(entry.path().into()),
            reason,
        };
        if i > 0 {
            validate_path(entry.path()).map_err(|_| corrupt("invalid path"))?;
            if path_order(entries[i - 1].path(), entry.path()) != std::cmp::Ordering::Less {
                return Err(corrupt("entries not in path order"));
            }
            let parent = entries
                .get(entry.parent_index() as usize)
                .filter(|parent| parent.index() < entry.index())
                .ok_or_else(|| corrupt("bad parent index"))?;
            let expected_parent = entry.path().rsplit_once('/').map_or("", |(p, _)| p);
            if parent.kind() != EntryKind::Dir || parent.path() != expected_parent {
                return Err(corrupt("parent is not the containing directory"));
            }
        }
        let found = archive.get(entry.path()).map(|e| e.index());
        if found != Some(entry.index()) {
            return Err(corrupt("not found through the path index"));
        }
        let raw = record(archive, entry);
        if raw.reserved0 != [0; 2] || raw.reserved1 != [0; 4] {
            return Err(corrupt("reserved bytes set"));
        }
        match entry.kind() {
            EntryKind::Dir => {
                let file_fields = [
                    raw.data_offset,
                    raw.stored_size,
                    raw.real_size,
                    raw.content_hash,
                ];
                if raw.mode.get() != 0o755 || file_fields.iter().any(|f| f.get() != 0) {
                    return Err(corrupt("bad directory record"));
                }
                if u64::from(raw.children_start.get()) != children_cursor {
                    return Err(corrupt("directory run not contiguous"));
                }
                let mut previous: Option<&str> = None;
                for child in archive.children(entry)? {
                    if listed[child.index() as usize] {
                        return Err(corrupt("child listed twice"));
                    }
                    listed[child.index() as usize] = true;
                    if previous.is_some_and(|p| p.as_bytes() >= child.name().as_bytes()) {
                        return Err(corrupt("children not sorted by name"));
                    }
                    previous = Some(child.name());
                }
                children_cursor += u64::from(entry.child_count());
            }
            EntryKind::File => {
                let mode = raw.mode.get();
                if (mode != 0o644 && mode != 0o755)
                    || raw.children_start.get() != 0
                    || raw.child_count.get() != 0
                {
                    return Err(corrupt("bad file record"));
                }
                if raw.data_offset.get() != data_cursor {
                    return Err(corrupt("data not contiguous"));
                }
                if entry.path() == "package.json" && entry.compression() != Compression::Raw {
                    return Err(corrupt("package.json must be raw"));
                }
                let content = archive.read(entry)?;
                if xxhash_rust::xxh3::xxh3_64(&content) != entry.content_hash() {
                    return Err(DxpError::ContentMismatch {
                        path: entry.path().into(),
                    });
                }
                data_cursor += entry.stored_size();
                unpacked += entry.size();
                files += 1;
            }
        }
    }

    let structure = |reason| DxpError::CorruptEntry {
        index: 0,
        path: None,
        reason,
    };
    if listed.iter().skip(1).any(|&seen| !seen) || listed[0] {
        return Err(structure(
            "an entry is not listed exactly once in the directory table",
        ));
    }
    if children_cursor != children.len() as u64 {
        return Err(structure("directory table has unused cells"));
    }
    if data_cursor != data.len() as u64 {
        return Err(structure("data region has unused bytes"));
    }
    if files != archive.file_count() || count as u64 - files != archive.dir_count() {
        return Err(structure(
            "file and directory counts do not match the header",
        ));
    }
    if unpacked != archive.unpacked_size() {
        return Err(structure("unpacked size does not match the header"));
    }
    let occupied = index_table
        .iter()
        .filter(|slot| slot.entry.get() != EMPTY_SLOT)
        .count();
    if occupied != count {
        return Err(structure("path index holds stray slots"));
    }
    Ok(())
}

/// Checks that the tables sit where the builder puts them: back to back, each aligned, with
/// zeroed reserved fields and padding (the padding is covered by the checksum, and must be
/// zero so two archives of the same files are the same bytes).
fn check_layout(header: &RawHeader) -> Result<(), DxpError> {
    let corrupt = |field, offset| DxpError::CorruptHeader {
        field,
        offset,
        reason: "not where the canonical layout puts it",
    };
    let entry_count = u64::from(header.entry_count.get());
    let index_end = HEADER_SIZE as u64 + u64::from(header.index_slots.get()) * SLOT_SIZE as u64;
    let align =
        |offset: u64| offset.div_ceil(layout::TABLE_ALIGN as u64) * layout::TABLE_ALIGN as u64;
    let entries_offset = align(index_end);
    let children_offset = align(entries_offset + entry_count * ENTRY_SIZE as u64);
    let strings_offset =
        align(children_offset + u64::from(header.children_count.get()) * CHILD_SIZE as u64);
    let data_offset = align(strings_offset + header.strings_len.get());
    let checks = [
        (
            header.index_offset.get() == HEADER_SIZE as u64,
            "index_offset",
            48,
        ),
        (
            header.entries_offset.get() == entries_offset,
            "entries_offset",
            56,
        ),
        (
            header.children_offset.get() == children_offset,
            "children_offset",
            64,
        ),
        (
            header.strings_offset.get() == strings_offset,
            "strings_offset",
            72,
        ),
        (header.data_offset.get() == data_offset, "data_offset", 88),
        (
            header.data_offset.get().checked_add(header.data_len.get())
                == Some(header.total_size.get()),
            "data_len",
            96,
        ),
        (header.reserved == [0; 8], "reserved", 104),
    ];
    match checks.iter().find(|(ok, _, _)| !ok) {
        Some((_, field, offset)) => Err(corrupt(field, *offset)),
        None => Ok(()),
    }
}

/// Component-wise path order: the order of the entry table.
pub(crate) fn path_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |c: u8| if c == b'/' { 0 } else { c };
    a.bytes().map(key).cmp(b.bytes().map(key))
}

/// The raw record behind `entry`.
fn record<'a>(archive: &PackageArchive<'a>, entry: &EntryRef<'a>) -> layout::EntryRecord {
    archive
        .record(entry.index())
        .unwrap_or_else(bytemuck::Zeroable::zeroed)
}
