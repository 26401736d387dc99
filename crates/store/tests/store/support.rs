//! Fixtures shared by the integration tests: archives, tarballs, stores and child processes.

pub mod child;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use dx_formats::dxp::{ArchiveBuilder, BuildLimits};
use dx_formats::hash::{Integrity, IntegrityAlgorithm, IntegrityHasher};
use dx_store::Store;

/// A small but realistic package archive, distinct for each `(name, version)`.
pub fn package(name: &str, version: u32) -> Vec<u8> {
    package_with_blob(name, version, 0)
}

/// [`package`] plus `blob_len` incompressible bytes, so that writing it takes long enough for a
/// kill to land mid-write.
pub fn package_with_blob(name: &str, version: u32, blob_len: usize) -> Vec<u8> {
    let mut builder = ArchiveBuilder::new(BuildLimits::default());
    let manifest = format!(r#"{{"name":"{name}","version":"1.0.{version}","bin":"bin/cli.js"}}"#);
    builder
        .add_file("package.json", false, manifest.as_bytes())
        .unwrap();
    let body = format!("module.exports = '{name}@{version}';\n").repeat(200);
    builder
        .add_file("index.js", false, body.as_bytes())
        .unwrap();
    builder
        .add_file("bin/cli.js", true, b"#!/usr/bin/env node\nrequire('..');\n")
        .unwrap();
    builder
        .add_file(
            "lib/deep/util.js",
            false,
            format!("// {version}\n").as_bytes(),
        )
        .unwrap();
    if blob_len > 0 {
        let mut blob = vec![0; blob_len];
        blake3::Hasher::new()
            .update(&version.to_le_bytes())
            .finalize_xof()
            .fill(&mut blob);
        builder.add_file("data.bin", false, &blob).unwrap();
    }
    builder.finish().unwrap().bytes
}

/// sha512 integrity of `bytes`.
pub fn sha512(bytes: &[u8]) -> Integrity {
    let mut hasher = IntegrityHasher::new(IntegrityAlgorithm::Sha512);
    hasher.update(bytes);
    hasher.finish()
}

/// A gzipped npm-style tarball (entries under `package/`).
pub fn tarball(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, contents, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(*mode);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append_data(&mut header, format!("package/{path}"), *contents)
            .unwrap();
    }
    let mut gz = tar.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

/// A fresh store in a temp directory (kept alive by the returned guard).
pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

/// Every regular file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Temp-area entries not belonging to `store`'s own session: there must be none after a clean
/// open.
pub fn foreign_temp_entries(root: &Path) -> usize {
    // Our own session is one lock file and one directory; everything else is foreign.
    let tmp = root.join("v1").join("tmp");
    fs::read_dir(&tmp).unwrap().count().saturating_sub(2)
}

/// Archive files in the store.
pub fn archive_files(root: &Path) -> Vec<PathBuf> {
    files_under(&root.join("v1").join("dxp"))
}
