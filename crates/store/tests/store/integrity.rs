//! Importing tarballs: integrity is checked on the stream, and a mismatch stores nothing.

use dx_formats::dxp::BuildLimits;
use dx_store::StoreError;

use crate::support::{files_under, foreign_temp_entries, sha512, tarball, temp_store};

fn sample_tarball() -> Vec<u8> {
    tarball(&[
        (
            "package.json",
            br#"{"name":"sample","version":"1.0.0"}"#,
            0o644,
        ),
        ("index.js", b"module.exports = 42;\n", 0o644),
        ("bin/run", b"#!/bin/sh\necho hi\n", 0o755),
    ])
}

#[test]
fn a_matching_tarball_is_stored_and_indexed() {
    let (_dir, store) = temp_store();
    let tgz = sample_tarball();
    let integrity = sha512(&tgz);
    let imported = store
        .import_tarball(
            "sample@1.0.0",
            &tgz[..],
            &integrity,
            &BuildLimits::default(),
        )
        .unwrap();
    assert_eq!(imported.tarball_size, tgz.len() as u64);
    assert_eq!(imported.file_count, 3);
    assert_eq!(
        store.lookup_integrity(&integrity).unwrap(),
        Some(imported.hash)
    );
    let stored = store.get(&imported.hash).unwrap().unwrap();
    assert_eq!(stored.bytes().len() as u64, imported.archive_size);
    let archive = stored.archive().unwrap();
    let index = archive.get("index.js").unwrap();
    assert_eq!(&*archive.read(&index).unwrap(), b"module.exports = 42;\n");
    assert!(archive.get("bin/run").unwrap().is_executable());

    // Importing again is idempotent.
    let again = store
        .import_tarball(
            "sample@1.0.0",
            &tgz[..],
            &integrity,
            &BuildLimits::default(),
        )
        .unwrap();
    assert_eq!(again.hash, imported.hash);
}

#[test]
fn a_mismatching_tarball_leaves_nothing_behind() {
    let (dir, store) = temp_store();
    let tgz = sample_tarball();
    let wrong = sha512(b"something else");
    let err = store
        .import_tarball("sample@1.0.0", &tgz[..], &wrong, &BuildLimits::default())
        .unwrap_err();
    match err {
        StoreError::IntegrityMismatch {
            package,
            expected,
            actual,
        } => {
            assert_eq!(package, "sample@1.0.0");
            assert_eq!(expected, wrong);
            assert_eq!(actual, sha512(&tgz));
        }
        other => panic!("expected an integrity mismatch, got {other}"),
    }
    let v1 = dir.path().join("v1");
    assert_eq!(
        files_under(&v1.join("dxp")),
        Vec::<std::path::PathBuf>::new()
    );
    assert_eq!(
        files_under(&v1.join("index")),
        Vec::<std::path::PathBuf>::new()
    );
    // No temp file either: only our (empty) session directory and its lock.
    assert_eq!(foreign_temp_entries(dir.path()), 0);
    assert_eq!(
        files_under(&v1.join("tmp")).len(),
        1,
        "only the session lock file"
    );
    assert_eq!(store.lookup_integrity(&wrong).unwrap(), None);
}

#[test]
fn a_tampered_tarball_is_reported_as_tampered_even_when_it_is_also_broken() {
    let (_dir, store) = temp_store();
    let mut tgz = sample_tarball();
    let integrity = sha512(&tgz);
    let middle = tgz.len() / 2;
    tgz[middle] ^= 0xff;
    let err = store
        .import_tarball(
            "sample@1.0.0",
            &tgz[..],
            &integrity,
            &BuildLimits::default(),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::IntegrityMismatch { .. }), "{err}");
}

#[test]
fn a_broken_tarball_with_matching_integrity_is_refused() {
    let (dir, store) = temp_store();
    let garbage = b"this is not gzip at all".to_vec();
    let err = store
        .import_tarball(
            "junk@0.0.1",
            &garbage[..],
            &sha512(&garbage),
            &BuildLimits::default(),
        )
        .unwrap_err();
    match err {
        StoreError::InvalidTarball { package, .. } => assert_eq!(package, "junk@0.0.1"),
        other => panic!("expected an invalid tarball, got {other}"),
    }
    assert!(files_under(&dir.path().join("v1").join("dxp")).is_empty());
}

#[test]
fn invalid_archive_bytes_are_refused() {
    let (dir, store) = temp_store();
    let err = store
        .put_archive(b"DXP\0 but not really", None)
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidArchive { .. }), "{err}");
    assert!(files_under(&dir.path().join("v1").join("dxp")).is_empty());
}
