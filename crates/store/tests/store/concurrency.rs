//! Several threads and several processes inserting the same packages at once.

use std::sync::{Arc, Barrier};

use dx_store::Store;

use crate::support::{archive_files, child, foreign_temp_entries, package, sha512};

#[test]
fn threads_inserting_the_same_package_all_succeed_with_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = Arc::new(package("same", 1));
    let integrity = sha512(&bytes);
    let barrier = Arc::new(Barrier::new(8));
    let hashes: Vec<_> = (0..8)
        .map(|_| {
            let (root, bytes, integrity, barrier) = (
                dir.path().to_path_buf(),
                bytes.clone(),
                integrity.clone(),
                barrier.clone(),
            );
            std::thread::spawn(move || {
                // Separate `Store`s, as separate processes would have.
                let store = Store::open(root).unwrap();
                barrier.wait();
                store.put_archive(&bytes, Some(&integrity)).unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(hashes.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(archive_files(dir.path()).len(), 1);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.lookup_integrity(&integrity).unwrap(), Some(hashes[0]));
    assert_eq!(store.get(&hashes[0]).unwrap().unwrap().bytes(), &bytes[..]);
    assert_eq!(foreign_temp_entries(dir.path()), 0);
}

#[test]
fn processes_inserting_the_same_packages_all_succeed_with_one_file_each() {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|seed| child::spawn("insert-all", dir.path(), seed))
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert!(!child::failure_marker(dir.path()).exists());
    assert_eq!(
        archive_files(dir.path()).len(),
        child::PACKAGE_COUNT as usize
    );
    let store = Store::open(dir.path()).unwrap();
    for n in 0..child::PACKAGE_COUNT {
        let bytes = child::child_package(n);
        let hash = store
            .lookup_integrity(&sha512(&bytes))
            .unwrap()
            .expect("indexed");
        assert_eq!(store.get(&hash).unwrap().unwrap().bytes(), &bytes[..]);
    }
    assert!(store.verify().unwrap().is_clean());
    assert_eq!(foreign_temp_entries(dir.path()), 0);
}
