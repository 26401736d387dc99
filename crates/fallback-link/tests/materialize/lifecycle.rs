//! Failures midway, interrupted installs, leftovers, and the no-op repeat.

use std::fs;
use std::os::unix::fs::MetadataExt;

use dx_fallback_link::{InjectedFailure, LinkMode, MARKER_FILE, MaterializeOptions, materialize};
use dx_formats::dxl::Dxl;

use crate::fixture;

#[test]
fn an_exdev_midway_steps_down_to_copy_and_the_tree_is_complete() {
    let scratch = fixture::scratch();
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let bytes = fixture::layout(&packages, &hashes, 0);
    let dxl = Dxl::parse(&bytes).expect("dxl");
    let project = scratch.path().join("project");
    fs::create_dir(&project).expect("mkdir");
    let mut opts = MaterializeOptions::new(&project, LinkMode::Hardlink);
    opts.inject_failure = Some(InjectedFailure {
        at_attempt: 6,
        errno: libc::EXDEV,
    });

    let report = materialize(&store, &dxl, "key-0", &opts).expect("materialize");

    assert_eq!(report.mode_used, LinkMode::Copy);
    let reason = report.step_down.expect("step-down message");
    assert!(reason.starts_with("hardlink failed"), "{reason}");
    let node_modules = project.join("node_modules");
    fixture::assert_tree_matches(&store, &dxl, &node_modules);
    let expected_files = fixture::expected_tree(&store, &dxl)
        .values()
        .filter(|n| matches!(n, fixture::Node::File { .. }))
        .count();
    assert_eq!(report.files, expected_files as u64);
    // Files placed before the failure stay hardlinks; the rest are copies.
    let linked = fixture::disk_tree(&node_modules)
        .keys()
        .filter(|path| {
            fs::symlink_metadata(node_modules.join(path))
                .is_ok_and(|m| m.is_file() && m.nlink() > 1)
        })
        .count();
    assert!(
        linked >= 5 && linked < expected_files,
        "{linked} of {expected_files} files hardlinked"
    );
}

#[test]
fn a_fatal_error_midway_leaves_the_old_tree_intact() {
    let scratch = fixture::scratch();
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let old_bytes = fixture::layout(&packages, &hashes, 0);
    let old = Dxl::parse(&old_bytes).expect("dxl");
    let new_bytes = fixture::layout(&packages, &hashes, 1);
    let new = Dxl::parse(&new_bytes).expect("dxl");
    let project = scratch.path().join("project");
    fs::create_dir(&project).expect("mkdir");
    materialize(
        &store,
        &old,
        "old",
        &MaterializeOptions::new(&project, LinkMode::Copy),
    )
    .expect("first install");

    let mut opts = MaterializeOptions::new(&project, LinkMode::Copy);
    opts.inject_failure = Some(InjectedFailure {
        at_attempt: 4,
        errno: libc::EIO,
    });
    let error = materialize(&store, &new, "new", &opts).expect_err("EIO is not stepped around");
    assert!(error.to_string().contains("Input/output error"), "{error}");

    let node_modules = project.join("node_modules");
    fixture::assert_tree_matches(&store, &old, &node_modules);
    let leftovers: Vec<_> = fs::read_dir(&project)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("node_modules")],
        "no staging tree left behind"
    );
    // The old tree is still recognised as intact: a retry of the old lock does nothing.
    let again = materialize(
        &store,
        &old,
        "old",
        &MaterializeOptions::new(&project, LinkMode::Auto),
    )
    .expect("repeat");
    assert!(again.noop);
}

#[test]
fn a_crashed_install_s_staging_tree_is_removed_and_ignored() {
    let scratch = fixture::scratch();
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let bytes = fixture::layout(&packages, &hashes, 0);
    let dxl = Dxl::parse(&bytes).expect("dxl");
    let project = scratch.path().join("project");
    // A process that died mid-build (its pid cannot exist) left a half tree.
    let crashed = project.join(format!("node_modules.dx-new-{}", i32::MAX));
    fs::create_dir_all(crashed.join("left-pad")).expect("mkdir");
    fs::write(crashed.join("left-pad/partial"), b"half").expect("write");

    materialize(
        &store,
        &dxl,
        "key-0",
        &MaterializeOptions::new(&project, LinkMode::Auto),
    )
    .expect("materialize");

    assert!(!crashed.exists());
    fixture::assert_tree_matches(&store, &dxl, &project.join("node_modules"));
}

#[test]
fn a_no_op_install_removes_a_killed_install_s_staging_tree() {
    let scratch = fixture::scratch();
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let bytes = fixture::layout(&packages, &hashes, 0);
    let dxl = Dxl::parse(&bytes).expect("dxl");
    let project = scratch.path().join("project");
    fs::create_dir(&project).expect("mkdir");
    let opts = MaterializeOptions::new(&project, LinkMode::Auto);
    materialize(&store, &dxl, "key-0", &opts).expect("first");
    // Killed while building its own tree (the pid cannot exist), after the first install.
    let crashed = project.join(format!("node_modules.dx-new-{}", i32::MAX));
    fs::create_dir_all(crashed.join("left-pad")).expect("mkdir");
    fs::write(crashed.join("left-pad/partial"), b"half").expect("write");
    let aside = project.join(format!("node_modules.dx-old-{}", i32::MAX));
    fs::create_dir_all(&aside).expect("mkdir");

    let again = materialize(&store, &dxl, "key-0", &opts).expect("repeat");

    assert!(again.noop);
    assert!(!crashed.exists() && !aside.exists(), "leftovers removed");
    fixture::assert_tree_matches(&store, &dxl, &project.join("node_modules"));
}

#[test]
fn a_repeat_install_is_a_noop_until_the_tree_or_the_lock_changes() {
    let scratch = fixture::scratch();
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let bytes = fixture::layout(&packages, &hashes, 0);
    let dxl = Dxl::parse(&bytes).expect("dxl");
    let project = scratch.path().join("project");
    fs::create_dir(&project).expect("mkdir");
    let node_modules = project.join("node_modules");
    let opts = MaterializeOptions::new(&project, LinkMode::Auto);

    let first = materialize(&store, &dxl, "key-0", &opts).expect("first");
    assert!(!first.noop);
    let inode = fs::metadata(&node_modules).expect("stat").ino();
    assert!(
        fs::read_to_string(node_modules.join(MARKER_FILE))
            .expect("marker")
            .contains("key key-0")
    );

    let second = materialize(&store, &dxl, "key-0", &opts).expect("second");
    assert!(second.noop);
    assert_eq!(
        (second.files, second.bytes, second.mode_used),
        (first.files, first.bytes, first.mode_used)
    );
    assert_eq!(
        fs::metadata(&node_modules).expect("stat").ino(),
        inode,
        "nothing was rebuilt"
    );

    // A scoped package removed: the scope directory's mtime changed, so the tree is rebuilt.
    fs::remove_dir_all(node_modules.join("@scope/pkg")).expect("rm");
    let third = materialize(&store, &dxl, "key-0", &opts).expect("third");
    assert!(!third.noop);
    fixture::assert_tree_matches(&store, &dxl, &node_modules);

    // A tool cache at the top level or in a scope is not damage: still a no-op, cache kept.
    fs::create_dir(node_modules.join(".cache")).expect("mkdir");
    fs::write(node_modules.join("@scope/.tool-state"), b"x").expect("write");
    assert!(
        materialize(&store, &dxl, "key-0", &opts)
            .expect("with cache")
            .noop
    );
    assert!(
        materialize(&store, &dxl, "key-0", &opts)
            .expect("fast path again")
            .noop
    );
    assert!(node_modules.join(".cache").is_dir());

    // Something else added at the top level: rebuilt, and the stray entry is gone.
    fs::create_dir(node_modules.join("stray")).expect("mkdir");
    assert!(
        !materialize(&store, &dxl, "key-0", &opts)
            .expect("fourth")
            .noop
    );
    assert!(!node_modules.join("stray").exists());

    // A different lock (key) rebuilds; asking for another mode than the tree has rebuilds.
    let other_bytes = fixture::layout(&packages, &hashes, 1);
    let other = Dxl::parse(&other_bytes).expect("dxl");
    assert!(
        !materialize(&store, &other, "key-1", &opts)
            .expect("fifth")
            .noop
    );
    fixture::assert_tree_matches(&store, &other, &node_modules);
    assert!(
        materialize(&store, &other, "key-1", &opts)
            .expect("sixth")
            .noop
    );
    let copy = MaterializeOptions::new(&project, LinkMode::Copy);
    assert!(
        !materialize(&store, &other, "key-1", &copy)
            .expect("seventh")
            .noop
    );
}

#[test]
fn a_key_with_a_line_break_is_refused() {
    let scratch = fixture::scratch();
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let bytes = fixture::layout(&packages, &hashes, 0);
    let dxl = Dxl::parse(&bytes).expect("dxl");
    let opts = MaterializeOptions::new(scratch.path(), LinkMode::Copy);
    assert!(materialize(&store, &dxl, "a\nb", &opts).is_err());
    assert!(!scratch.path().join("node_modules").exists());
}
