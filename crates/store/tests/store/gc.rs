//! gc keeps what registered projects and live mounts use, removes the rest, and never races an
//! install that has stored archives but not yet registered them.

use std::fs;
use std::time::Duration;

use dx_store::{GcOptions, PROJECT_LOCKFILE, Store};

use crate::support::{package, sha512, temp_store};

fn now() -> GcOptions {
    GcOptions {
        min_age: Duration::ZERO,
        ..GcOptions::default()
    }
}

fn project_with_lock() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(PROJECT_LOCKFILE), b"lock").unwrap();
    dir
}

#[test]
fn gc_keeps_referenced_and_mounted_packages_and_removes_the_rest() {
    let (_dir, store) = temp_store();
    let put = |n: u32| {
        let bytes = package("gc", n);
        store.put_archive(&bytes, Some(&sha512(&bytes))).unwrap()
    };
    let (a, b, c, d) = (put(0), put(1), put(2), put(3));

    // P1: alive, uses A. P2: its lockfile is gone but it is mounted, uses B.
    // P3: deleted, uses C. D: nobody.
    let p1 = project_with_lock();
    let p2 = project_with_lock();
    let p3 = project_with_lock();
    store.register_root(p1.path(), "key1", &[a]).unwrap();
    store.register_root(p2.path(), "key2", &[b]).unwrap();
    store.register_root(p3.path(), "key3", &[c, a]).unwrap();
    fs::remove_file(p2.path().join(PROJECT_LOCKFILE)).unwrap();
    let mount = store.mount_guard(p2.path()).unwrap();
    drop(p3);
    for key in ["key1", "key2", "key3"] {
        store.write_dxl(key, b"DXL\0").unwrap();
    }
    store.unpacked(&a).unwrap();
    store.unpacked(&d).unwrap();

    let report = store.gc(&now()).unwrap();
    assert_eq!(report.live_mounts, 1);
    assert_eq!((report.roots_kept, report.roots_removed), (2, 1));
    assert_eq!((report.archives_kept, report.archives_removed), (2, 2));
    assert_eq!(report.unpacked_removed, 1);
    assert_eq!(report.dxl_removed, 1);
    assert_eq!(report.index_entries_removed, 2);
    assert!(store.contains(&a) && store.contains(&b));
    assert!(!store.contains(&c) && !store.contains(&d));
    assert!(store.root().join("v1/unpacked").join(a.to_hex()).is_dir());
    assert!(store.dxl_path("key1").is_file() && store.dxl_path("key2").is_file());
    assert!(!store.dxl_path("key3").exists());
    assert_eq!(
        store.lookup_integrity(&sha512(&package("gc", 3))).unwrap(),
        None
    );
    assert!(store.verify().unwrap().is_clean());

    // Once the mount ends, P2 (lockfile gone) is no longer a root.
    drop(mount);
    let report = store.gc(&now()).unwrap();
    assert_eq!(report.live_mounts, 0);
    assert_eq!(report.archives_removed, 1);
    assert!(!store.contains(&b) && store.contains(&a));
}

#[test]
fn young_files_survive_routine_gc() {
    let (_dir, store) = temp_store();
    let hash = store.put_archive(&package("young", 0), None).unwrap();
    let report = store.gc(&GcOptions::default()).unwrap();
    assert_eq!(report.archives_removed, 0);
    assert!(store.contains(&hash));
}

#[test]
fn cache_clean_keeps_only_what_live_mounts_use() {
    let (_dir, store) = temp_store();
    let (a, b) = (
        store.put_archive(&package("c", 0), None).unwrap(),
        store.put_archive(&package("c", 1), None).unwrap(),
    );
    let registered = project_with_lock();
    let mounted = project_with_lock();
    store.register_root(registered.path(), "r", &[a]).unwrap();
    store.register_root(mounted.path(), "m", &[b]).unwrap();
    let _mount = store.mount_guard(mounted.path()).unwrap();
    let clean = GcOptions {
        min_age: Duration::ZERO,
        keep_registered_roots: false,
    };
    let report = store.gc(&clean).unwrap();
    assert_eq!(report.archives_removed, 1);
    assert!(!store.contains(&a) && store.contains(&b));
}

#[test]
fn gc_waits_for_an_install_to_register_what_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let project = project_with_lock();

    let guard = store.insert_guard().unwrap();
    let hash = store.put_archive(&package("install", 0), None).unwrap();
    // gc starts while the install is between storing and registering.
    let root = dir.path().to_path_buf();
    let gc = std::thread::spawn(move || Store::open(root).unwrap().gc(&now()).unwrap());
    // Give a broken lock every chance to let gc run now (not a threshold: a correct store passes
    // whatever the scheduling).
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        store.contains(&hash),
        "gc ran while an install held the insert guard"
    );
    store.register_root(project.path(), "k", &[hash]).unwrap();
    drop(guard);
    let report = gc.join().unwrap();
    assert_eq!(report.archives_removed, 0);
    assert!(store.contains(&hash));
}

#[test]
fn roots_round_trip_through_the_store() {
    let (_dir, store) = temp_store();
    let project = project_with_lock();
    let hashes = vec![store.put_archive(&package("r", 0), None).unwrap()];
    store.register_root(project.path(), "key", &hashes).unwrap();
    let roots = store.roots().unwrap();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].project, fs::canonicalize(project.path()).unwrap());
    assert_eq!(roots[0].hashes, hashes);
    assert!(store.unregister_root(project.path()).unwrap());
    assert!(store.roots().unwrap().is_empty());
}

#[test]
fn gc_and_clean_reclaim_the_state_of_gone_projects_but_never_of_a_live_mount() {
    let (_dir, store) = temp_store();
    let hash = store.put_archive(&package("s", 0), None).unwrap();
    let alive = project_with_lock();
    let gone = project_with_lock();
    let gone_mounted = project_with_lock();
    let states: Vec<_> = [&alive, &gone, &gone_mounted]
        .iter()
        .map(|p| {
            store.register_root(p.path(), "k", &[hash]).unwrap();
            let state = store.project_state(p.path()).unwrap();
            fs::create_dir_all(state.overlay_dir().join("upper")).unwrap();
            fs::write(state.overlay_dir().join("upper/edit.js"), b"x").unwrap();
            state
        })
        .collect();
    let mount = store.mount_guard(gone_mounted.path()).unwrap();
    drop((gone, gone_mounted));

    let report = store.gc(&now()).unwrap();
    assert_eq!(report.project_states_removed, 1);
    assert!(states[0].dir().is_dir() && states[2].dir().is_dir());
    assert!(!states[1].dir().exists());

    // `dx cache clean` drops every root but a live mount's, and still keeps the state of
    // projects that exist.
    let clean = GcOptions {
        min_age: Duration::ZERO,
        keep_registered_roots: false,
    };
    assert_eq!(store.gc(&clean).unwrap().project_states_removed, 0);
    assert!(states[0].dir().is_dir() && states[2].dir().is_dir());
    drop(mount);
    assert_eq!(store.gc(&clean).unwrap().project_states_removed, 1);
    assert!(states[0].dir().is_dir() && !states[2].dir().exists());
}

#[test]
fn the_gc_lock_is_refused_while_an_install_holds_its_guard() {
    let (_dir, store) = temp_store();
    let guard = store.insert_guard().unwrap();
    assert!(store.try_gc_lock().unwrap().is_none());
    drop(guard);
    let lock = store
        .try_gc_lock()
        .unwrap()
        .expect("free once the install is done");
    store.gc_locked(&lock, &now()).unwrap();
    assert!(
        store.try_gc_lock().unwrap().is_none(),
        "held by the first lock"
    );
    drop(lock);
}
