//! Inserting packages: validated DXP bytes, or a gzipped tarball checked against its npm
//! integrity while it is converted, in one pass over the bytes.

use std::fs;
use std::io::{self, Read};

use dx_formats::dxp::{BuildLimits, PackageArchive, build_from_tarball};
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
    /// nothing) unless its bytes hash to `expected`.
    ///
    /// The integrity hash is computed by a reader adapter while the converter consumes the
    /// stream, so the tarball is read once. `package` names the package in errors.
    ///
    /// The archive is not run through [`PackageArchive::verify`] again: it comes straight from
    /// the builder, whose output is canonical by construction (the DXP tests check that every
    /// built archive verifies). Verifying would decode every compressed file just written, which
    /// was about a tenth of a cold install's CPU time.
    pub fn import_tarball<R: Read>(
        &self,
        package: &str,
        gzipped: R,
        expected: &Integrity,
        limits: &BuildLimits,
    ) -> Result<ImportedPackage, StoreError> {
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
        let hash = self.store_checked(&built.bytes, Some(expected))?;
        let archive_size = built.bytes.len() as u64;
        Ok(ImportedPackage {
            hash,
            warnings: built.warnings,
            tarball_size,
            archive_size,
            unpacked_size: built.unpacked_size,
            file_count: built.file_count,
        })
    }

    /// Writes the archive file unless an intact-looking copy is there already.
    fn write_archive(&self, hash: &ContentHash, dxp: &[u8]) -> Result<(), StoreError> {
        let path = self.layout.archive_path(hash);
        if let Ok(meta) = fs::metadata(&path)
            && meta.is_file()
            && meta.len() == dxp.len() as u64
        {
            // Same name means same BLAKE3, so same bytes, unless the disk rotted, which `verify`
            // detects; a different length is certainly damage and is replaced below.
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
