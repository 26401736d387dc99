//! Converting an npm tarball (or a directory) into an archive, streaming and bounded.
//!
//! The gzip stream is read once, through a cap on the decompressed bytes (the unpacked limit
//! plus 2 KiB of tar overhead per allowed entry plus 1 MiB): a decompression bomb, including
//! one hidden in pax or GNU long-name headers that the tar reader buffers, fails at the cap.
//! Each file is checked against the limits from its header before a byte of it is buffered.

use std::cell::Cell;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use tar::EntryType;

use super::DxpError;
use super::builder::{ArchiveBuilder, BuildLimits, BuiltArchive};
use super::compression::CompressionPolicy;

/// Tar bytes allowed per entry beyond its content: a header, padding, and a pax header.
const TAR_OVERHEAD_PER_ENTRY: u64 = 2048;
/// Tar bytes allowed beyond everything else (end-of-archive blocks, global headers).
const TAR_OVERHEAD_FIXED: u64 = 1 << 20;

/// Builds an archive from a gzipped npm tarball with the default compression policy.
///
/// The first path component is stripped as npm does (it is usually `package/`, not always);
/// `.` and empty components are dropped. Absolute paths and `..` components fail naming the
/// entry. Symlinks, hard links, devices and FIFOs are skipped with a warning; pax and GNU
/// long-name headers are honoured, pax global headers ignored.
pub fn build_from_tarball<R: Read>(
    gzipped: R,
    limits: &BuildLimits,
) -> Result<BuiltArchive, DxpError> {
    build_from_tarball_with_policy(gzipped, limits, CompressionPolicy::default())
}

/// [`build_from_tarball`] with an explicit compression policy.
pub fn build_from_tarball_with_policy<R: Read>(
    gzipped: R,
    limits: &BuildLimits,
    policy: CompressionPolicy,
) -> Result<BuiltArchive, DxpError> {
    let exceeded = Rc::new(Cell::new(false));
    let stream_cap = limits
        .max_unpacked_bytes
        .saturating_add(limits.max_files.saturating_mul(TAR_OVERHEAD_PER_ENTRY))
        .saturating_add(TAR_OVERHEAD_FIXED);
    let capped = CappedReader {
        inner: flate2::read::MultiGzDecoder::new(gzipped),
        remaining: stream_cap,
        exceeded: Rc::clone(&exceeded),
    };
    let mut builder = ArchiveBuilder::with_policy(*limits, policy);
    let fail = |entry: Option<&str>, source: io::Error| {
        if exceeded.get() {
            DxpError::TooLarge {
                limit: limits.max_unpacked_bytes,
                path: entry.unwrap_or_default().to_owned(),
            }
        } else {
            DxpError::Tarball {
                entry: entry.map(str::to_owned),
                source,
            }
        }
    };

    let mut archive = tar::Archive::new(capped);
    let entries = archive.entries().map_err(|e| fail(None, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| fail(None, e))?;
        let raw_path = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        let entry_type = entry.header().entry_type();
        let is_file = matches!(entry_type, EntryType::Regular | EntryType::Continuous);
        let is_dir = entry_type == EntryType::Directory;
        if matches!(entry_type, EntryType::XGlobalHeader | EntryType::XHeader) {
            continue;
        }
        if !is_file && !is_dir {
            builder.warn(format!(
                "skipped `{shown}`: {} entries are not installed",
                describe(entry_type)
            ));
            continue;
        }
        let Ok(path) = std::str::from_utf8(&raw_path) else {
            builder.warn(format!("skipped `{shown}`: path is not UTF-8"));
            continue;
        };
        let Some(relative) = strip_package_dir(path)? else {
            if is_file {
                builder.warn(format!("skipped `{shown}`: outside the package directory"));
            }
            continue;
        };
        if is_dir {
            builder.add_dir(&relative)?;
            continue;
        }

        let size = entry.size();
        if builder.unpacked_size().saturating_add(size) > limits.max_unpacked_bytes {
            return Err(DxpError::TooLarge {
                limit: limits.max_unpacked_bytes,
                path: relative,
            });
        }
        let executable = entry.header().mode().is_ok_and(|mode| mode & 0o111 != 0);
        // `size` is within the unpacked limit, so this allocation is bounded by it.
        let mut contents = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut entry)
            .take(size)
            .read_to_end(&mut contents)
            .map_err(|e| fail(Some(path), e))?;
        if contents.len() as u64 != size {
            return Err(fail(
                Some(path),
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "entry shorter than its header says",
                ),
            ));
        }
        builder.add_file_owned(&relative, executable, contents)?;
    }
    builder.finish()
}

/// Builds an archive from a directory on disk (a package already unpacked, or a workspace
/// package), with paths relative to `dir`. Symlinks and special files are skipped with a
/// warning.
pub fn build_from_dir(dir: &Path, limits: &BuildLimits) -> Result<BuiltArchive, DxpError> {
    let mut builder = ArchiveBuilder::new(*limits);
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DxpError::Io { path, source }
    };
    let mut pending: Vec<(PathBuf, String)> = vec![(dir.to_path_buf(), String::new())];
    while let Some((disk_dir, relative_dir)) = pending.pop() {
        let mut children = std::fs::read_dir(&disk_dir)
            .map_err(io_err(&disk_dir))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io_err(&disk_dir))?;
        children.sort_by_key(|child| child.file_name());
        for child in children {
            let disk_path = child.path();
            let name = child.file_name();
            let Some(name) = name.to_str() else {
                builder.warn(format!(
                    "skipped {}: name is not UTF-8",
                    disk_path.display()
                ));
                continue;
            };
            let relative = if relative_dir.is_empty() {
                name.to_owned()
            } else {
                format!("{relative_dir}/{name}")
            };
            let file_type = child.file_type().map_err(io_err(&disk_path))?;
            if file_type.is_dir() {
                builder.add_dir(&relative)?;
                pending.push((disk_path, relative));
            } else if file_type.is_file() {
                let metadata = child.metadata().map_err(io_err(&disk_path))?;
                if builder.unpacked_size().saturating_add(metadata.len())
                    > limits.max_unpacked_bytes
                {
                    return Err(DxpError::TooLarge {
                        limit: limits.max_unpacked_bytes,
                        path: relative,
                    });
                }
                let contents = std::fs::read(&disk_path).map_err(io_err(&disk_path))?;
                builder.add_file_owned(&relative, is_executable(&metadata), contents)?;
            } else {
                builder.warn(format!(
                    "skipped `{relative}`: not a regular file or directory"
                ));
            }
        }
    }
    builder.finish()
}

/// Whether file metadata says executable.
#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    metadata.permissions().mode() & 0o111 != 0
}

/// Whether file metadata says executable (no such bit off Unix).
#[cfg(not(unix))]
fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    false
}

/// Strips the first component of a tarball path, npm style. `Ok(None)` for the top directory
/// itself or a top-level file (npm drops those too).
fn strip_package_dir(path: &str) -> Result<Option<String>, DxpError> {
    let unsafe_entry = |reason| DxpError::UnsafeTarEntry {
        entry: path.into(),
        reason,
    };
    if path.starts_with('/') || path.starts_with('\\') {
        return Err(unsafe_entry("absolute path"));
    }
    let mut components = path.split('/').filter(|c| !c.is_empty() && *c != ".");
    if path.split('/').any(|c| c == "..") {
        return Err(unsafe_entry("`..` component"));
    }
    if components.next().is_none() {
        return Ok(None);
    }
    let rest: Vec<&str> = components.collect();
    Ok((!rest.is_empty()).then(|| rest.join("/")))
}

/// A human word for a tar entry type that is skipped.
fn describe(entry_type: EntryType) -> &'static str {
    match entry_type {
        EntryType::Symlink => "symlink",
        EntryType::Link => "hard link",
        EntryType::Char | EntryType::Block => "device",
        EntryType::Fifo => "FIFO",
        EntryType::GNUSparse => "sparse file",
        _ => "unsupported",
    }
}

/// Fails reads once more than `remaining` bytes went through, recording that it did.
struct CappedReader<R> {
    inner: R,
    remaining: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // One more byte would be over the cap: find out whether there is one.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.set(true);
                    Err(io::Error::other(
                        "decompressed tarball exceeds the size limit",
                    ))
                }
            };
        }
        let wanted = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..wanted])?;
        self.remaining -= read as u64;
        Ok(read)
    }
}

/// `data` (a tar stream) as a gzip member of stored deflate blocks: header with mtime 0 and OS
/// "unknown", blocks of at most 65535 bytes, CRC-32 and size. What dx writes when it packs a
/// directory (the bytes then hash the same on every machine), and what tests and fuzz targets
/// use to hand tar bytes to the converter unchanged.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65535 * 5 + 32);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    if data.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    let mut chunks = data.chunks(u16::MAX as usize).peekable();
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests;
