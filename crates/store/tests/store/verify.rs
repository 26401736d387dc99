//! `verify` finds damage, quarantines it, and the store recovers on the next insert.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::{files_under, package, sha512, temp_store};

fn flip_byte(path: &std::path::Path, at: usize) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(path).unwrap();
    let at = at % bytes.len();
    bytes[at] ^= 0x01;
    fs::write(path, bytes).unwrap();
}

#[test]
fn a_flipped_byte_is_quarantined_and_the_package_can_be_stored_again() {
    let (dir, store) = temp_store();
    let packages: Vec<Vec<u8>> = (0..3).map(|n| package("v", n)).collect();
    let hashes: Vec<_> = packages
        .iter()
        .map(|p| store.put_archive(p, Some(&sha512(p))).unwrap())
        .collect();
    assert!(store.verify().unwrap().is_clean());

    // Damage the middle of the second archive's data.
    let victim = hashes[1];
    let path = store.archive_path(&victim);
    flip_byte(&path, packages[1].len() - 100);

    let report = store.verify().unwrap();
    assert_eq!(report.archives_checked, 3);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].hash, victim);
    assert!(
        report.corrupt[0]
            .quarantined_to
            .starts_with(dir.path().join("v1").join("quarantine"))
    );
    assert!(report.corrupt[0].quarantined_to.is_file());
    assert_eq!(report.index_entries_removed, 1);
    assert!(!store.contains(&victim));
    assert_eq!(store.lookup_integrity(&sha512(&packages[1])).unwrap(), None);
    // The others are untouched.
    assert_eq!(
        store.lookup_integrity(&sha512(&packages[0])).unwrap(),
        Some(hashes[0])
    );

    // Re-inserting succeeds and the store is clean again.
    assert_eq!(
        store
            .put_archive(&packages[1], Some(&sha512(&packages[1])))
            .unwrap(),
        victim
    );
    assert_eq!(
        store.lookup_integrity(&sha512(&packages[1])).unwrap(),
        Some(victim)
    );
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn a_truncated_archive_is_quarantined() {
    let (_dir, store) = temp_store();
    let bytes = package("t", 0);
    let hash = store.put_archive(&bytes, None).unwrap();
    let path = store.archive_path(&hash);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.corrupt.len(), 1);
    // Storing it again replaces nothing stale: the damaged file is gone.
    store.put_archive(&bytes, None).unwrap();
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn verify_repairs_edited_files_and_removes_misshapen_trees() {
    let (_dir, store) = temp_store();
    let bytes = package("u", 0);
    let hash = store.put_archive(&bytes, None).unwrap();
    let tree = store.unpacked(&hash).unwrap();
    assert!(store.verify().unwrap().is_clean());

    // Someone edits a hardlinked file through node_modules: it is repaired in place, so the
    // project sharing the inode is repaired too.
    let file = tree.join("index.js");
    let project = tempfile::tempdir_in(store.root()).unwrap();
    let project_link = project.path().join("index.js");
    fs::hard_link(&file, &project_link).unwrap();
    let original = fs::read(&file).unwrap();
    flip_byte(&file, 3);
    let report = store.verify().unwrap();
    assert_eq!(report.unpacked_checked, 1);
    assert_eq!(
        report.unpacked_repaired,
        vec![(hash, "index.js".to_owned())]
    );
    assert!(report.unpacked_removed.is_empty());
    assert!(report.corrupt.is_empty(), "the archive itself is fine");
    assert_eq!(fs::read(&project_link).unwrap(), original);
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o444
    );
    fs::remove_file(&project_link).unwrap();
    assert!(store.verify().unwrap().is_clean());

    // An extra file is structural damage: the tree is removed and re-extracted on demand.
    fs::set_permissions(&tree, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(tree.join("stray.js"), b"").unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.unpacked_removed.len(), 1);
    assert_eq!(report.unpacked_removed[0].0, hash);
    assert!(!tree.exists());

    // And it comes back intact on demand.
    let tree = store.unpacked(&hash).unwrap();
    assert!(files_under(&tree).iter().any(|p| p.ends_with("index.js")));
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn a_project_whose_layout_lost_an_archive_is_reported_and_its_install_record_dropped() {
    let (_dir, store) = temp_store();
    let (a, b) = (
        store.put_archive(&package("p", 0), None).unwrap(),
        store.put_archive(&package("p", 1), None).unwrap(),
    );
    let project = tempfile::tempdir().unwrap();
    let gone = tempfile::tempdir().unwrap();
    store.register_root(project.path(), "k", &[a, b]).unwrap();
    store.register_root(gone.path(), "g", &[b]).unwrap();
    let state = store.project_state(project.path()).unwrap();
    fs::write(state.installed(), b"fingerprint\nk\n").unwrap();
    assert!(store.verify().unwrap().is_clean());
    assert!(
        state.installed().is_file(),
        "an intact project keeps its record"
    );

    fs::remove_file(store.archive_path(&b)).unwrap();
    drop(gone); // a project that is gone is nobody's problem
    let report = store.verify().unwrap();
    assert!(!report.is_clean());
    assert_eq!(
        report.projects_missing_archives,
        vec![dx_store::ProjectMissingArchives {
            project: fs::canonicalize(project.path()).unwrap(),
            missing: 1,
            install_record_dropped: true,
        }]
    );
    assert!(!state.installed().exists());
}
