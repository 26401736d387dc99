//! Inserting packages: validated DXP bytes, or a gzipped tarball checked against its npm
//! integrity while it is converted, in one pass over the bytes.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use dx_formats::dxp::{BuildLimits, BuiltArchive, PackageArchive, build_from_tarball};
use dx_formats::hash::{ContentHash, Integrity, IntegrityHasher};

use super::Store;
use crate::atomic::{Durability, write_atomic_via, write_via};
use crate::error::StoreError;

/// What [`Store::import_tarball`] stored.
#[derive(Debug)]
pub struct ImportedPackage {
    /// The archive's content hash (its key in the store and in DXL files).
    pub hash: ContentHash,
    /// Entries the converter skipped or changed (links, devices, odd paths), to show the user.
    pub warnings: Vec<String>,
    /// Bytes of the gzipped tarball read.
    pub tarball_size: u64,
    /// Bytes of the DXP archive stored.
    pub archive_size: u64,
    /// Sum of the sizes of the files in the package.
    pub unpacked_size: u64,
    /// Number of files in the package.
    pub file_count: u64,
}

impl Store {
    /// Stores a DXP archive and returns its content hash.
    ///
    /// The bytes are parsed and fully verified first (a broken archive never enters the store),
    /// then written to a temp file, fsynced and renamed into place, and the directory fsynced;
    /// only then is `integrity → hash` recorded, so the index never points at a missing or
    /// partial archive. Idempotent; two processes inserting the same package at once both
    /// succeed and one file results (both rename identical bytes to the same name).
    pub fn put_archive(
        &self,
        dxp: &[u8],
        integrity: Option<&Integrity>,
    ) -> Result<ContentHash, StoreError> {
        let archive =
            PackageArchive::parse(dxp).map_err(|source| StoreError::InvalidArchive { source })?;
        archive
            .verify()
            .map_err(|source| StoreError::InvalidArchive { source })?;
        self.store_checked(dxp, integrity)
    }

    /// Stores archive bytes already known to be valid (verified, or just written by the
    /// builder): hash, write, then index. See [`Store::put_archive`] for the order and why.
    fn store_checked(
        &self,
        dxp: &[u8],
        integrity: Option<&Integrity>,
    ) -> Result<ContentHash, StoreError> {
        let hash = ContentHash::of(dxp);
        let _guard = self.insert_guard()?;
        self.write_archive(&hash, dxp)?;
        if let Some(integrity) = integrity {
            self.record_integrity(integrity, &hash)?;
        }
        Ok(hash)
    }

    /// Converts a gzipped npm tarball into a DXP archive and stores it, refusing it (and storing
    /// nothing) unless its bytes hash to `expected`, in one pass over the stream (see
    /// [`convert_tarball`]). `package` names the package in errors. Durable when it returns;
    /// [`Store::import_batch`] imports many with one flush.
    pub fn import_tarball<R: Read>(
        &self,
        package: &str,
        gzipped: R,
        expected: &Integrity,
        limits: &BuildLimits,
    ) -> Result<ImportedPackage, StoreError> {
        let (built, tarball_size) = convert_tarball(package, gzipped, expected, limits)?;
        let hash = self.store_checked(&built.bytes, Some(expected))?;
        Ok(ImportedPackage::new(hash, built, tarball_size))
    }

    /// Whether the archive file at `path` is there with `len` bytes: same name means same
    /// BLAKE3, so same bytes, unless the disk rotted, which `verify` detects; a different
    /// length is certainly damage and is replaced.
    pub(crate) fn archive_present(path: &Path, len: usize) -> bool {
        fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.len() == len as u64)
    }

    /// Writes the archive file unless an intact-looking copy is there already.
    fn write_archive(&self, hash: &ContentHash, dxp: &[u8]) -> Result<(), StoreError> {
        let path = self.layout.archive_path(hash);
        if Self::archive_present(&path, dxp.len()) {
            return Ok(());
        }
        let temp = self.session.temp_path("dxp-");
        write_atomic_via(&temp, &path, dxp, 0o444).map_err(StoreError::io("store archive", &path))
    }

    /// Records `integrity → hash` in the index (one small file per integrity).
    pub(crate) fn record_integrity(
        &self,
        integrity: &Integrity,
        hash: &ContentHash,
    ) -> Result<(), StoreError> {
        let path = self.layout.index_path(integrity);
        let line = format!("{}\n", hash.to_hex());
        if fs::read(&path).is_ok_and(|old| old == line.as_bytes()) {
            return Ok(());
        }
        let temp = self.session.temp_path("idx-");
        // An index entry lost or emptied by a crash reads as a miss (lookups parse it and check
        // the archive exists), so it skips the two fsyncs an archive pays.
        write_via(&temp, &path, line.as_bytes(), 0o644, Durability::RenameOnly)
            .map_err(StoreError::io("write index entry", &path))
    }
}

impl ImportedPackage {
    /// What was imported: the archive `built` from a tarball of `tarball_size` bytes, stored as
    /// `hash`.
    pub(crate) fn new(hash: ContentHash, built: BuiltArchive, tarball_size: u64) -> Self {
        ImportedPackage {
            hash,
            tarball_size,
            archive_size: built.bytes.len() as u64,
            unpacked_size: built.unpacked_size,
            file_count: built.file_count,
            warnings: built.warnings,
        }
    }
}

/// Converts a gzipped npm tarball into DXP bytes, refusing it unless its bytes hash to
/// `expected`; returns the archive and the tarball's size.
///
/// The integrity hash is computed by a reader adapter while the converter consumes the
/// stream, so the tarball is read once. The archive is not run through
/// [`PackageArchive::verify`] again: it comes straight from the builder, whose output is
/// canonical by construction (the DXP tests check that every built archive verifies).
/// Verifying would decode every compressed file just written, which was about a tenth of a
/// cold install's CPU time.
pub(crate) fn convert_tarball<R: Read>(
    package: &str,
    gzipped: R,
    expected: &Integrity,
    limits: &BuildLimits,
) -> Result<(BuiltArchive, u64), StoreError> {
    let mut reader = IntegrityReader {
        inner: gzipped,
        hasher: expected.hasher(),
        bytes_read: 0,
    };
    let built = build_from_tarball(&mut reader, limits);
    // The converter may stop before the end of the stream (after the gzip member, or at an
    // error); the integrity covers every byte, so read the rest through the hasher too.
    io::copy(&mut reader, &mut io::sink()).map_err(|source| StoreError::TarballRead {
        package: package.to_owned(),
        source,
    })?;
    let tarball_size = reader.bytes_read;
    let actual = reader.hasher.finish();
    // Integrity first: a tampered tarball is reported as such, not as whatever broke in it.
    if actual != *expected {
        return Err(StoreError::IntegrityMismatch {
            package: package.to_owned(),
            expected: expected.clone(),
            actual,
        });
    }
    let built = built.map_err(|source| StoreError::InvalidTarball {
        package: package.to_owned(),
        source,
    })?;
    debug_assert!(
        PackageArchive::parse(&built.bytes)
            .and_then(|a| a.verify())
            .is_ok(),
        "the builder wrote an archive that does not verify"
    );
    Ok((built, tarball_size))
}

/// Hashes every byte read through it, for the integrity check during conversion.
struct IntegrityReader<R> {
    inner: R,
    hasher: IntegrityHasher,
    bytes_read: u64,
}

impl<R: Read> Read for IntegrityReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes_read += n as u64;
        Ok(n)
    }
}
