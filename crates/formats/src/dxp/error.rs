//! Errors of DXP building and reading: each names the entry path, entry index or offset at
//! fault, so a corrupt store entry or a hostile tarball can be reported precisely.

use std::path::PathBuf;

use super::Compression;

/// Everything that can go wrong building or reading a DXP archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DxpError {
    /// A path handed to the builder (or found in a tarball) is not a safe relative path.
    #[error("unsafe or invalid path `{path}`: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A path is used both as a file and as a directory (`a` and `a/b`).
    #[error("path `{path}` is both a file and a directory")]
    PathConflict {
        /// The path used both ways.
        path: String,
    },
    /// The package has more files than [`super::BuildLimits::max_files`] allows.
    #[error("too many files: more than {limit} (at `{path}`)")]
    TooManyFiles {
        /// The configured limit.
        limit: u64,
        /// The file that went over it.
        path: String,
    },
    /// The package unpacks to more than [`super::BuildLimits::max_unpacked_bytes`].
    #[error("package too large: more than {limit} unpacked bytes (at `{path}`)")]
    TooLarge {
        /// The configured limit.
        limit: u64,
        /// The entry that went over it.
        path: String,
    },
    /// Compressing a file failed (an internal codec error).
    #[error("compressing `{path}` failed: {source}")]
    Compress {
        /// The file being compressed.
        path: String,
        /// The codec's error.
        source: std::io::Error,
    },
    /// A tarball could not be read: bad gzip, bad tar, or an I/O error.
    #[error("reading tarball failed{}: {source}", entry_suffix(entry))]
    Tarball {
        /// The entry being read, when known.
        entry: Option<String>,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A tarball entry has an absolute path or a `..` component.
    #[error("tarball entry `{entry}` has an unsafe path: {reason}")]
    UnsafeTarEntry {
        /// The entry's path as written in the tarball.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Reading a directory tree for [`super::build_from_dir`] failed.
    #[error("reading `{path}` failed: {source}")]
    Io {
        /// The file or directory being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The buffer is not a DXP archive at all, or is cut short.
    #[error("not a DXP archive: {reason}")]
    NotAnArchive {
        /// Why.
        reason: &'static str,
    },
    /// The archive's format version is one this reader does not know.
    #[error("unsupported DXP format version {version}")]
    UnsupportedVersion {
        /// The version found in the header.
        version: u32,
    },
    /// A header field is inconsistent with the buffer or with another field.
    #[error("corrupt DXP header: field `{field}` at offset {offset}: {reason}")]
    CorruptHeader {
        /// The header field.
        field: &'static str,
        /// Its byte offset in the header.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry record (or a table slot pointing at one) is inconsistent.
    #[error("corrupt DXP entry #{index}{}: {reason}", path_suffix(path))]
    CorruptEntry {
        /// The entry index.
        index: u32,
        /// The entry's path, when it could be read.
        path: Option<String>,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The header checksum does not match the bytes.
    #[error("DXP checksum mismatch: the archive is damaged")]
    ChecksumMismatch,
    /// A file's content does not match its recorded xxh3-64.
    #[error("content of `{path}` does not match its recorded hash")]
    ContentMismatch {
        /// The file.
        path: String,
    },
    /// A file's stored bytes could not be decoded to its recorded size.
    #[error("decoding `{path}` ({codec:?}) failed: {detail}")]
    Decompress {
        /// The file.
        path: String,
        /// Its codec.
        codec: Compression,
        /// The codec's complaint.
        detail: String,
    },
    /// No entry has this path.
    #[error("no entry `{path}` in the archive")]
    NotFound {
        /// The path looked up.
        path: String,
    },
    /// The entry is a file where a directory was needed.
    #[error("`{path}` is not a directory")]
    NotADirectory {
        /// The entry's path.
        path: String,
    },
    /// The entry is a directory where a file was needed.
    #[error("`{path}` is not a file")]
    NotAFile {
        /// The entry's path.
        path: String,
    },
}

/// `" (entry `x`)"` or nothing.
fn entry_suffix(entry: &Option<String>) -> String {
    entry
        .as_deref()
        .map(|e| format!(" at entry `{e}`"))
        .unwrap_or_default()
}

/// `" `x`"` or nothing.
fn path_suffix(path: &Option<String>) -> String {
    path.as_deref()
        .map(|p| format!(" `{p}`"))
        .unwrap_or_default()
}
