//! Imports staged in a batch: invisible until the commit, then exactly what single imports
//! store (archive, index entry, and the unpacked tree when asked); a dropped batch or a refused
//! tarball leaves the store as it was.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use dx_formats::dxp::BuildLimits;
use dx_store::{ImportBatch, ImportedPackage, Store, StoreError};

use crate::support::{archive_files, files_under, sha512, tarball, temp_store};

fn sample(version: &str) -> Vec<u8> {
    let manifest = format!(r#"{{"name":"sample","version":"{version}","bin":"cli.js"}}"#);
    tarball(&[
        ("package.json", manifest.as_bytes(), 0o644),
        ("index.js", b"module.exports = 42;\n", 0o644),
        ("cli.js", b"#!/usr/bin/env node\n", 0o644),
        ("lib/deep/util.js", b"// util\n", 0o644),
    ])
}

/// The session's temp space: what the batch staged, and nothing once it is gone.
fn staged_entries(root: &Path) -> usize {
    let tmp = root.join("v1").join("tmp");
    fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|session| fs::read_dir(session).unwrap().count())
        .sum()
}

/// Stages `tgz` (a version of `sample`) with its own integrity.
fn stage(batch: &ImportBatch, tgz: &[u8]) -> ImportedPackage {
    batch
        .import_tarball("sample", tgz, &sha512(tgz), &BuildLimits::default())
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn staged_imports_appear_only_at_the_commit_with_their_trees() {
    let (dir, store) = temp_store();
    let store = Arc::new(store);
    let batch = store.import_batch(true).unwrap();
    let (one, two) = (sample("1.0.0"), sample("2.0.0"));
    let (i1, i2) = (sha512(&one), sha512(&two));
    let limits = BuildLimits::default();
    let first = batch
        .import_tarball("sample@1.0.0", &one[..], &i1, &limits)
        .unwrap();
    let second = batch
        .import_tarball("sample@2.0.0", &two[..], &i2, &limits)
        .unwrap();
    assert_eq!(first.file_count, 4);

    // Staged: the batch knows them, the store does not yet.
    assert_eq!(batch.staged_hash(&i1), Some(first.hash));
    assert!(!store.contains(&first.hash));
    assert_eq!(store.lookup_integrity(&i1).unwrap(), None);
    assert!(archive_files(dir.path()).is_empty());
    assert!(
        staged_entries(dir.path()) >= 4,
        "two archives and two trees staged"
    );

    assert_eq!(batch.commit().unwrap(), 2);
    for (integrity, hash) in [(&i1, first.hash), (&i2, second.hash)] {
        assert!(store.contains(&hash));
        assert_eq!(store.lookup_integrity(integrity).unwrap(), Some(hash));
        let stored = store.get(&hash).unwrap().expect("archive in the store");
        stored.archive().unwrap().verify().unwrap();
    }
    assert_eq!(batch.staged_hash(&i1), None);
    assert_eq!(
        staged_entries(dir.path()),
        0,
        "every staged file was moved into place"
    );

    // The trees are what extracting the stored archive gives: same files, modes, bin marked.
    let tree = dir.path().join("v1/unpacked").join(first.hash.to_hex());
    assert!(tree.is_dir());
    let relative = |root: &Path| -> Vec<String> {
        files_under(root)
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().display().to_string())
            .collect()
    };
    assert_eq!(
        relative(&tree),
        ["cli.js", "index.js", "lib/deep/util.js", "package.json"]
    );
    assert_eq!(
        fs::read(tree.join("index.js")).unwrap(),
        b"module.exports = 42;\n"
    );
    assert_eq!(mode(&tree.join("index.js")), 0o444);
    assert_eq!(mode(&tree.join("cli.js")), 0o555);
    assert_eq!(mode(&tree.join("lib/deep")), 0o755);
    assert_eq!(store.unpacked(&first.hash).unwrap(), tree);

    // A single import of the same tarball stores the same archive.
    let (_other_dir, other) = temp_store();
    let single = other
        .import_tarball("sample@1.0.0", &one[..], &i1, &limits)
        .unwrap();
    assert_eq!(single.hash, first.hash);
}

#[test]
fn without_unpack_only_archives_are_staged() {
    let (dir, store) = temp_store();
    let store = Arc::new(store);
    let batch = store.import_batch(false).unwrap();
    let tgz = sample("1.0.0");
    let imported = stage(&batch, &tgz);
    assert_eq!(staged_entries(dir.path()), 1);
    batch.commit().unwrap();
    assert!(store.contains(&imported.hash));
    assert!(
        !dir.path()
            .join("v1/unpacked")
            .join(imported.hash.to_hex())
            .exists()
    );
}

#[test]
fn a_dropped_batch_stores_nothing_and_leaves_no_temp_files() {
    let (dir, store) = temp_store();
    let store = Arc::new(store);
    let tgz = sample("1.0.0");
    let integrity = sha512(&tgz);
    let hash = {
        let batch = store.import_batch(true).unwrap();
        let imported = stage(&batch, &tgz);
        assert!(staged_entries(dir.path()) > 0);
        imported.hash
    };
    assert_eq!(staged_entries(dir.path()), 0);
    assert!(!store.contains(&hash));
    assert_eq!(store.lookup_integrity(&integrity).unwrap(), None);
    assert!(archive_files(dir.path()).is_empty());
    assert!(
        fs::read_dir(dir.path().join("v1/unpacked"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn a_refused_tarball_stages_nothing_and_the_rest_still_commits() {
    let (dir, store) = temp_store();
    let store = Arc::new(store);
    let batch = store.import_batch(true).unwrap();
    let good = sample("1.0.0");
    let bad = sample("2.0.0");
    let limits = BuildLimits::default();
    let err = batch
        .import_tarball("sample@2.0.0", &bad[..], &sha512(b"other bytes"), &limits)
        .unwrap_err();
    assert!(matches!(err, StoreError::IntegrityMismatch { .. }), "{err}");
    assert_eq!(staged_entries(dir.path()), 0);
    let imported = batch
        .import_tarball("sample@1.0.0", &good[..], &sha512(&good), &limits)
        .unwrap();
    // The same integrity twice stages it once.
    batch
        .import_tarball("sample@1.0.0", &good[..], &sha512(&good), &limits)
        .unwrap();
    assert_eq!(batch.commit().unwrap(), 1);
    assert!(store.contains(&imported.hash));
    assert_eq!(archive_files(dir.path()).len(), 1);
}

#[test]
fn a_package_the_store_has_is_not_written_again() {
    let (dir, store) = temp_store();
    let store: Arc<Store> = Arc::new(store);
    let tgz = sample("1.0.0");
    let integrity = sha512(&tgz);
    let limits = BuildLimits::default();
    let first = store
        .import_tarball("sample@1.0.0", &tgz[..], &integrity, &limits)
        .unwrap();
    store.unpacked(&first.hash).unwrap();
    let archive = archive_files(dir.path()).remove(0);
    let before = fs::metadata(&archive).unwrap();

    let batch = store.import_batch(true).unwrap();
    batch
        .import_tarball("sample@1.0.0", &tgz[..], &integrity, &limits)
        .unwrap();
    assert_eq!(
        staged_entries(dir.path()),
        0,
        "archive and tree are there already"
    );
    batch.commit().unwrap();
    let after = fs::metadata(&archive).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(before.ino(), after.ino());
}
