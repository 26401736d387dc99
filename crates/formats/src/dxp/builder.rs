//! Building an archive from files handed in one by one.
//!
//! Files are compressed as they arrive (so the builder holds about the archive's size, not the
//! unpacked size) and laid out at [`ArchiveBuilder::finish`] in path order, which makes the
//! output independent of the order files were added.
//!
//! Once a package has proven large ([`BACKGROUND_AFTER`] bytes encoded), later files are
//! compressed on a second thread while the caller produces the next ones (for a tarball:
//! inflates them), so a big package costs about the longer of the two instead of their sum
//! (measured in docs/dxp.md). The bytes are the same either way.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::thread::JoinHandle;

use bytemuck::Zeroable;

use super::compression::{CompressionPolicy, Encoder};
use super::layout::{
    self, EntryRecord, FORMAT_VERSION, HEADER_CHECKED_LEN, HEADER_SIZE, MAGIC, RawHeader, U32Le,
    U64Le,
};
use super::verify::path_order;
use super::{Compression, DxpError, EntryKind, path_index};

/// Longest accepted path, in bytes (Linux's `PATH_MAX` less the terminator).
const MAX_PATH_LEN: usize = 4095;
/// Longest accepted path component, in bytes (Linux's `NAME_MAX`).
const MAX_NAME_LEN: usize = 255;
/// Mode of regular files.
const FILE_MODE: u32 = 0o644;
/// Mode of executable files and directories.
const EXEC_MODE: u32 = 0o755;

/// Caps that keep a hostile package from exhausting memory or disk. They are checked while
/// files arrive, so a decompression bomb fails at the first byte over the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildLimits {
    /// Most bytes the package may unpack to. Path bytes of new entries count too, so deep
    /// trees of empty directories cannot grow memory without bound. Default 1 GiB.
    pub max_unpacked_bytes: u64,
    /// Most entries, files and directories together. Default 200,000.
    pub max_files: u64,
}

impl Default for BuildLimits {
    fn default() -> Self {
        Self {
            max_unpacked_bytes: 1 << 30,
            max_files: 200_000,
        }
    }
}

/// A finished archive and what the builder noticed on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltArchive {
    /// The archive's bytes.
    pub bytes: Vec<u8>,
    /// Things skipped or overridden (links, devices, duplicate paths), one line each.
    pub warnings: Vec<String>,
    /// Sum of the real sizes of all files.
    pub unpacked_size: u64,
    /// Number of regular files.
    pub file_count: u64,
}

/// Raw bytes a builder encodes on the caller's thread before it starts the background encoder:
/// small packages (almost all) never start a thread.
pub(crate) const BACKGROUND_AFTER: u64 = 1 << 20;
/// Files queued for the background encoder at most; the caller waits when it is this far ahead
/// (its memory stays bounded by the queue, not by the package).
const BACKGROUND_QUEUE: usize = 32;

/// One file, in its stored form (or, while `pending`, with its encoding still being done by the
/// background encoder).
struct StoredFile {
    executable: bool,
    compression: Compression,
    real_size: u64,
    content_hash: u64,
    stored: Vec<u8>,
    /// Which `add` made this entry: a result from the background encoder applies only to the
    /// entry of the same `add` (a path added twice keeps the later copy).
    seq: u64,
    /// Its encoding is with the background encoder.
    pending: bool,
}

/// A file the background encoder has stored: `(seq, path, stored form)`. Only the stored form
/// is kept: a file it compressed does not also hold its raw bytes until `finish`.
type Encoded = (u64, String, Result<(Compression, Vec<u8>), DxpError>);

/// The second thread that compresses files while the caller reads the next ones.
struct BackgroundEncoder {
    jobs: mpsc::SyncSender<(u64, String, Vec<u8>)>,
    done: JoinHandle<Vec<Encoded>>,
}

impl BackgroundEncoder {
    /// Starts the thread, or `None` when there is no second core or no thread to be had.
    fn start(policy: CompressionPolicy) -> Option<Self> {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return None;
        }
        let (jobs, queue) = mpsc::sync_channel::<(u64, String, Vec<u8>)>(BACKGROUND_QUEUE);
        let done = std::thread::Builder::new()
            .name("dx-dxp-encode".into())
            .spawn(move || {
                let mut encoder = Encoder::new(policy);
                queue
                    .into_iter()
                    .map(|(seq, path, contents)| {
                        let stored = encoder.store(&path, Cow::Owned(contents));
                        (seq, path, stored)
                    })
                    .collect()
            })
            .ok()?;
        Some(Self { jobs, done })
    }
}

/// Collects files and lays out a DXP archive.
pub struct ArchiveBuilder {
    limits: BuildLimits,
    encoder: Encoder,
    files: HashMap<String, StoredFile>,
    /// Every directory but the root, explicit or implied by a file path.
    dirs: HashSet<String>,
    unpacked_size: u64,
    path_bytes: u64,
    warnings: Vec<String>,
    /// Raw bytes encoded on the caller's thread so far (see [`BACKGROUND_AFTER`]).
    encoded_inline: u64,
    /// The background encoder, once started; `Some(None)` when it could not be.
    background: Option<Option<BackgroundEncoder>>,
    /// Number of `add` calls so far.
    seq: u64,
}

impl ArchiveBuilder {
    /// A builder with the default compression policy.
    pub fn new(limits: BuildLimits) -> Self {
        Self::with_policy(limits, CompressionPolicy::default())
    }

    /// A builder with an explicit compression policy (benchmarks compare policies this way).
    pub fn with_policy(limits: BuildLimits, policy: CompressionPolicy) -> Self {
        Self {
            limits,
            encoder: Encoder::new(policy),
            files: HashMap::new(),
            dirs: HashSet::new(),
            unpacked_size: 0,
            path_bytes: 0,
            warnings: Vec::new(),
            encoded_inline: 0,
            background: None,
            seq: 0,
        }
    }

    /// Adds a file. `path` is relative and `/`-separated; absolute paths, empty, `.` or `..`
    /// components, NUL bytes, over-long names, and paths used elsewhere as directories are
    /// rejected. A path added twice keeps the later contents, as extracting a tar does, and
    /// leaves a warning.
    pub fn add_file(
        &mut self,
        path: &str,
        executable: bool,
        contents: &[u8],
    ) -> Result<(), DxpError> {
        self.add(path, executable, Cow::Borrowed(contents))
    }

    /// [`ArchiveBuilder::add_file`] taking the contents by value, so a file stored raw keeps
    /// its buffer instead of being copied.
    pub fn add_file_owned(
        &mut self,
        path: &str,
        executable: bool,
        contents: Vec<u8>,
    ) -> Result<(), DxpError> {
        self.add(path, executable, Cow::Owned(contents))
    }

    /// Both forms of `add_file`.
    fn add(
        &mut self,
        path: &str,
        executable: bool,
        contents: Cow<'_, [u8]>,
    ) -> Result<(), DxpError> {
        validate_path(path)?;
        if self.dirs.contains(path) {
            return Err(DxpError::PathConflict { path: path.into() });
        }
        let previous_size = self.files.get(path).map(|f| f.real_size);
        let new_entries = match previous_size {
            Some(_) => 0,
            None => self.missing_ancestors(path)? + 1,
        };
        let unpacked_after =
            self.unpacked_size - previous_size.unwrap_or(0) + contents.len() as u64;
        let new_path_bytes = if previous_size.is_some() {
            0
        } else {
            path.len() as u64
        };
        self.check_limits(path, new_entries, unpacked_after, new_path_bytes)?;

        let real_size = contents.len() as u64;
        let content_hash = xxhash_rust::xxh3::xxh3_64(&contents);
        self.seq += 1;
        let seq = self.seq;
        let (compression, stored, pending) = match self.background_for(path) {
            Some(background) => {
                let job = (seq, path.to_owned(), contents.into_owned());
                match background.jobs.send(job) {
                    Ok(()) => (Compression::Raw, Vec::new(), true),
                    // The thread is gone (it panicked): `finish` reports that.
                    Err(mpsc::SendError((_, _, contents))) => (Compression::Raw, contents, true),
                }
            }
            None => {
                self.encoded_inline += real_size;
                let (compression, stored) = self.encoder.store(path, contents)?;
                (compression, stored, false)
            }
        };
        let file = StoredFile {
            executable,
            compression,
            real_size,
            content_hash,
            stored,
            seq,
            pending,
        };
        if previous_size.is_some() {
            self.warnings
                .push(format!("`{path}` appears twice; the later copy wins"));
        } else {
            self.add_ancestors(path);
            self.path_bytes += path.len() as u64;
        }
        self.unpacked_size = unpacked_after;
        self.files.insert(path.to_owned(), file);
        Ok(())
    }

    /// The background encoder for `path`, started when the package has proven large; `None`
    /// to encode on this thread (small packages, the manifest, no codec, no second core).
    fn background_for(&mut self, path: &str) -> Option<&BackgroundEncoder> {
        if self.encoded_inline < BACKGROUND_AFTER
            || path == "package.json"
            || self.encoder.policy().codec.is_none()
        {
            return None;
        }
        let policy = self.encoder.policy();
        self.background
            .get_or_insert_with(|| BackgroundEncoder::start(policy))
            .as_ref()
    }

    /// Waits for the background encoder and puts what it encoded in place.
    fn collect_background(&mut self) -> Result<(), DxpError> {
        let Some(Some(background)) = self.background.take() else {
            return Ok(());
        };
        let BackgroundEncoder { jobs, done } = background;
        drop(jobs);
        let encoded = match done.join() {
            Ok(encoded) => encoded,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        for (seq, path, result) in encoded {
            let Some(file) = self.files.get_mut(&path).filter(|f| f.seq == seq) else {
                continue;
            };
            let (compression, stored) = result?;
            file.compression = compression;
            file.stored = stored;
            file.pending = false;
        }
        debug_assert!(self.files.values().all(|f| !f.pending));
        Ok(())
    }

    /// Never starts the background encoder (tests compare its output with this).
    #[cfg(test)]
    pub(crate) fn without_background(mut self) -> Self {
        self.background = Some(None);
        self
    }

    /// Adds a directory, so that empty directories survive. Directories holding files need
    /// not be added: they are implied.
    pub fn add_dir(&mut self, path: &str) -> Result<(), DxpError> {
        validate_path(path)?;
        if self.files.contains_key(path) {
            return Err(DxpError::PathConflict { path: path.into() });
        }
        if self.dirs.contains(path) {
            return Ok(());
        }
        let new_entries = self.missing_ancestors(path)? + 1;
        self.check_limits(path, new_entries, self.unpacked_size, path.len() as u64)?;
        self.add_ancestors(path);
        self.dirs.insert(path.to_owned());
        self.path_bytes += path.len() as u64;
        Ok(())
    }

    /// Records a warning to be returned in [`BuiltArchive::warnings`].
    pub fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// Files added so far (a path added twice counts once).
    pub fn file_count(&self) -> u64 {
        self.files.len() as u64
    }

    /// Real bytes of the files added so far.
    pub fn unpacked_size(&self) -> u64 {
        self.unpacked_size
    }

    /// Lays the archive out: entries in path order (each directory followed by its subtree,
    /// siblings by name), data in the same order.
    pub fn finish(mut self) -> Result<BuiltArchive, DxpError> {
        self.collect_background()?;
        mark_bin_targets(&mut self.files);
        let Self {
            files,
            dirs,
            unpacked_size,
            warnings,
            ..
        } = self;
        let file_count = files.len() as u64;

        let mut order: Vec<(String, Option<StoredFile>)> =
            Vec::with_capacity(files.len() + dirs.len() + 1);
        order.push((String::new(), None));
        order.extend(dirs.into_iter().map(|dir| (dir, None)));
        order.extend(files.into_iter().map(|(path, file)| (path, Some(file))));
        // Component-wise order: `/` sorts before every byte a name can hold.
        order.sort_unstable_by(|(a, _), (b, _)| path_order(a, b));

        let entry_count = u32::try_from(order.len())
            .ok()
            .filter(|&n| n < layout::EMPTY_SLOT)
            .ok_or_else(|| DxpError::TooManyFiles {
                limit: u64::from(layout::EMPTY_SLOT - 1),
                path: String::new(),
            })?;
        let paths: Vec<&str> = order.iter().map(|(path, _)| path.as_str()).collect();
        let position: HashMap<&str, u32> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| (*p, i as u32))
            .collect();
        let parent_of = |path: &str| -> u32 {
            let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
            position.get(parent).copied().unwrap_or(0)
        };

        // Children, per directory, in entry order (which is name order among siblings).
        let mut children: Vec<Vec<u32>> = vec![Vec::new(); order.len()];
        for (index, path) in paths.iter().enumerate().skip(1) {
            children[parent_of(path) as usize].push(index as u32);
        }

        let index_table = path_index::build(&paths);
        let strings_len: usize = paths.iter().map(|p| p.len()).sum();
        let data_len: usize = order
            .iter()
            .filter_map(|(_, file)| file.as_ref().map(|f| f.stored.len()))
            .sum();
        let index_offset = HEADER_SIZE;
        let entries_offset = layout::align_up(index_offset + index_table.len() * layout::SLOT_SIZE);
        let children_offset = layout::align_up(entries_offset + order.len() * layout::ENTRY_SIZE);
        let children_count = order.len() - 1;
        let strings_offset =
            layout::align_up(children_offset + children_count * layout::CHILD_SIZE);
        let data_offset = layout::align_up(strings_offset + strings_len);
        let total_size = data_offset + data_len;

        let mut records = Vec::with_capacity(order.len());
        let mut child_cells: Vec<U32Le> = Vec::with_capacity(children_count);
        let mut strings = Vec::with_capacity(strings_len);
        let mut data_cursor = 0u64;
        for (index, (path, file)) in order.iter().enumerate() {
            let mut record = EntryRecord::zeroed();
            record.path_offset = U32Le::new(strings.len() as u32);
            record.path_len = U32Le::new(path.len() as u32);
            record.parent = U32Le::new(parent_of(path));
            strings.extend_from_slice(path.as_bytes());
            match file {
                Some(file) => {
                    record.kind = EntryKind::File.code();
                    record.compression = file.compression.code();
                    record.mode = U32Le::new(if file.executable {
                        EXEC_MODE
                    } else {
                        FILE_MODE
                    });
                    record.data_offset = U64Le::new(data_cursor);
                    record.stored_size = U64Le::new(file.stored.len() as u64);
                    record.real_size = U64Le::new(file.real_size);
                    record.content_hash = U64Le::new(file.content_hash);
                    data_cursor += file.stored.len() as u64;
                }
                None => {
                    record.kind = EntryKind::Dir.code();
                    record.mode = U32Le::new(EXEC_MODE);
                    record.children_start = U32Le::new(child_cells.len() as u32);
                    record.child_count = U32Le::new(children[index].len() as u32);
                    child_cells.extend(children[index].iter().map(|&c| U32Le::new(c)));
                }
            }
            records.push(record);
        }
        drop(position);
        let dir_count = u64::from(entry_count) - file_count;

        let mut bytes = Vec::with_capacity(total_size);
        bytes.resize(HEADER_SIZE, 0);
        bytes.extend_from_slice(bytemuck::cast_slice(&index_table));
        bytes.resize(entries_offset, 0);
        bytes.extend_from_slice(bytemuck::cast_slice(&records));
        bytes.resize(children_offset, 0);
        bytes.extend_from_slice(bytemuck::cast_slice(&child_cells));
        bytes.resize(strings_offset, 0);
        bytes.extend_from_slice(&strings);
        bytes.resize(data_offset, 0);
        for (_, file) in order {
            if let Some(file) = file {
                bytes.extend_from_slice(&file.stored);
            }
        }
        debug_assert_eq!(bytes.len(), total_size);

        let mut header = RawHeader::zeroed();
        header.magic = MAGIC;
        header.format_version = U32Le::new(FORMAT_VERSION);
        header.entry_count = U32Le::new(entry_count);
        header.file_count = U32Le::new(file_count as u32);
        header.dir_count = U32Le::new(dir_count as u32);
        header.index_slots = U32Le::new(index_table.len() as u32);
        header.children_count = U32Le::new(children_count as u32);
        header.unpacked_size = U64Le::new(unpacked_size);
        header.total_size = U64Le::new(total_size as u64);
        header.index_offset = U64Le::new(index_offset as u64);
        header.entries_offset = U64Le::new(entries_offset as u64);
        header.children_offset = U64Le::new(children_offset as u64);
        header.strings_offset = U64Le::new(strings_offset as u64);
        header.strings_len = U64Le::new(strings_len as u64);
        header.data_offset = U64Le::new(data_offset as u64);
        header.data_len = U64Le::new(data_len as u64);
        bytes[..HEADER_SIZE].copy_from_slice(bytemuck::bytes_of(&header));
        let checksum = layout::checksum(&bytes[..HEADER_CHECKED_LEN], &bytes[HEADER_SIZE..]);
        bytes[HEADER_CHECKED_LEN..HEADER_SIZE].copy_from_slice(&checksum);

        Ok(BuiltArchive {
            bytes,
            warnings,
            unpacked_size,
            file_count,
        })
    }

    /// How many ancestors of `path` are not yet directories; errors if one is a file.
    fn missing_ancestors(&self, path: &str) -> Result<u64, DxpError> {
        let mut missing = 0;
        for ancestor in ancestors(path) {
            if self.files.contains_key(ancestor) {
                return Err(DxpError::PathConflict {
                    path: ancestor.into(),
                });
            }
            if !self.dirs.contains(ancestor) {
                missing += 1;
            }
        }
        Ok(missing)
    }

    /// Records every ancestor of `path` as a directory.
    fn add_ancestors(&mut self, path: &str) {
        for ancestor in ancestors(path) {
            if !self.dirs.contains(ancestor) {
                self.path_bytes += ancestor.len() as u64;
                self.dirs.insert(ancestor.to_owned());
            }
        }
    }

    /// Checks that adding `new_entries` entries, `new_path_bytes` path bytes and reaching
    /// `unpacked_after` file bytes stays within the limits.
    fn check_limits(
        &self,
        path: &str,
        new_entries: u64,
        unpacked_after: u64,
        new_path_bytes: u64,
    ) -> Result<(), DxpError> {
        let entries_after = self.files.len() as u64 + self.dirs.len() as u64 + new_entries;
        if entries_after > self.limits.max_files {
            return Err(DxpError::TooManyFiles {
                limit: self.limits.max_files,
                path: path.into(),
            });
        }
        // Ancestors' path bytes are at most `new_entries * path.len()`; counting that bound
        // keeps the check cheap and conservative.
        let path_bytes_after = self
            .path_bytes
            .saturating_add(new_path_bytes)
            .saturating_add(
                new_entries
                    .saturating_sub(1)
                    .saturating_mul(path.len() as u64),
            );
        if unpacked_after.saturating_add(path_bytes_after) > self.limits.max_unpacked_bytes {
            return Err(DxpError::TooLarge {
                limit: self.limits.max_unpacked_bytes,
                path: path.into(),
            });
        }
        Ok(())
    }
}

/// The proper ancestors of `path`, nearest last (`a/b/c` gives `a`, `a/b`).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(at, _)| &path[..at])
}

/// Checks that `path` is a safe, canonical relative path.
pub(crate) fn validate_path(path: &str) -> Result<(), DxpError> {
    let reason = if path.is_empty() {
        Some("empty path")
    } else if path.starts_with('/') {
        Some("absolute path")
    } else if path.contains('\0') {
        Some("NUL byte")
    } else if path.len() > MAX_PATH_LEN {
        Some("path longer than 4095 bytes")
    } else {
        path.split('/').find_map(|component| match component {
            "" => Some("empty component"),
            "." => Some("`.` component"),
            ".." => Some("`..` component"),
            name if name.len() > MAX_NAME_LEN => Some("component longer than 255 bytes"),
            _ => None,
        })
    };
    match reason {
        Some(reason) => Err(DxpError::InvalidPath {
            path: path.into(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Makes the files that package.json's `bin` (string or object) and `directories.bin` name
/// executable, as npm's bin-links does when it links them. Doing it once here, when the
/// archive is built, means the mount and the materialized tree agree without either of them
/// knowing about bins. A package.json that is not valid JSON changes nothing.
fn mark_bin_targets(files: &mut HashMap<String, StoredFile>) {
    let Some(manifest) = files
        .get("package.json")
        .filter(|f| f.compression == Compression::Raw)
    else {
        return;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&manifest.stored) else {
        return;
    };
    let mut targets: Vec<String> = match json.get("bin") {
        Some(serde_json::Value::String(path)) => vec![path.clone()],
        Some(serde_json::Value::Object(map)) => map
            .values()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let bin_dir = json
        .get("directories")
        .and_then(|d| d.get("bin"))
        .and_then(|d| d.as_str())
        .map(normalize_bin_path);
    targets.iter_mut().for_each(|t| *t = normalize_bin_path(t));
    for (path, file) in files.iter_mut() {
        let in_bin_dir = bin_dir.as_deref().is_some_and(|dir| {
            !dir.is_empty()
                && path
                    .strip_prefix(dir)
                    .is_some_and(|rest| rest.starts_with('/'))
        });
        if in_bin_dir || targets.iter().any(|t| t == path) {
            file.executable = true;
        }
    }
}

/// `./bin//cli.js` → `bin/cli.js`; `..` components make the path match nothing.
fn normalize_bin_path(path: &str) -> String {
    let mut parts = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return String::from("\0"),
            other => parts.push(other),
        }
    }
    parts.join("/")
}
