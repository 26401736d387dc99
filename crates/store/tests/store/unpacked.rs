//! The unpacked tier: extracted once, read-only, identical to the archive.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::Arc;

use dx_formats::hash::ContentHash;
use dx_store::{Store, StoreError};

use crate::support::{foreign_temp_entries, package, temp_store};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn unpacked_files_match_the_archive_and_are_read_only() {
    let (_dir, store) = temp_store();
    let bytes = package("up", 7);
    let hash = store.put_archive(&bytes, None).unwrap();
    let tree = store.unpacked(&hash).unwrap();
    assert_eq!(
        tree,
        store.root().join("v1").join("unpacked").join(hash.to_hex())
    );
    assert_eq!(
        fs::read_to_string(tree.join("lib/deep/util.js")).unwrap(),
        "// 7\n"
    );
    assert!(
        fs::read_to_string(tree.join("package.json"))
            .unwrap()
            .contains("\"up\"")
    );
    assert_eq!(mode(&tree.join("index.js")), 0o444);
    assert_eq!(mode(&tree.join("bin/cli.js")), 0o555);
    assert_eq!(mode(&tree.join("lib/deep")), 0o755);
    assert_eq!(mode(&tree), 0o755);

    // The second call finds the same tree without extracting again.
    let inode = fs::metadata(tree.join("index.js")).unwrap().ino();
    assert_eq!(store.unpacked(&hash).unwrap(), tree);
    assert_eq!(fs::metadata(tree.join("index.js")).unwrap().ino(), inode);
}

#[test]
fn concurrent_unpacks_agree_and_leave_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let hash = Store::open(dir.path())
        .unwrap()
        .put_archive(&package("race", 1), None)
        .unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(6));
    let trees: Vec<_> = (0..6)
        .map(|_| {
            let (root, barrier) = (dir.path().to_path_buf(), barrier.clone());
            std::thread::spawn(move || {
                let store = Store::open(root).unwrap();
                barrier.wait();
                store.unpacked(&hash).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(trees.windows(2).all(|w| w[0] == w[1]));
    let store = Store::open(dir.path()).unwrap();
    assert!(store.verify().unwrap().is_clean());
    assert_eq!(foreign_temp_entries(dir.path()), 0);
}

#[test]
fn unpacking_a_missing_archive_is_an_error() {
    let (_dir, store) = temp_store();
    let missing = ContentHash::of(b"nothing");
    assert!(
        matches!(store.unpacked(&missing), Err(StoreError::MissingArchive { hash }) if hash == missing)
    );
}

#[test]
fn many_trees_unpack_at_once_and_a_missing_archive_publishes_none() {
    let (_dir, store) = temp_store();
    let hashes: Vec<ContentHash> = (0..5)
        .map(|i| store.put_archive(&package("many", i), None).unwrap())
        .collect();
    // One already there: left as it is.
    let first = store.unpacked(&hashes[0]).unwrap();
    let inode = fs::metadata(first.join("index.js")).unwrap().ino();
    store.unpack_missing(&hashes).unwrap();
    for (i, hash) in hashes.iter().enumerate() {
        let tree = store.root().join("v1/unpacked").join(hash.to_hex());
        assert_eq!(
            fs::read_to_string(tree.join("lib/deep/util.js")).unwrap(),
            format!("// {i}\n")
        );
        assert_eq!(mode(&tree.join("bin/cli.js")), 0o555);
    }
    assert_eq!(fs::metadata(first.join("index.js")).unwrap().ino(), inode);

    let more: Vec<ContentHash> = (5..7)
        .map(|i| store.put_archive(&package("many", i), None).unwrap())
        .chain([ContentHash::of(b"not stored")])
        .collect();
    assert!(matches!(
        store.unpack_missing(&more),
        Err(StoreError::MissingArchive { .. })
    ));
    for hash in &more {
        assert!(
            !store
                .root()
                .join("v1/unpacked")
                .join(hash.to_hex())
                .exists(),
            "nothing is published when one extraction fails"
        );
    }
    assert!(store.verify().unwrap().is_clean());
}
