//! One test per link mode, each on a filesystem where that mode is the natural result.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use dx_fallback_link::{LinkMode, MaterializeOptions, materialize};
use dx_formats::dxl::Dxl;

use crate::fixture::{self, MountGuard};

#[test]
fn hardlinks_on_the_same_filesystem_share_the_store_inodes() {
    let scratch = fixture::scratch();
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let bytes = fixture::layout(&packages, &hashes, 0);
    let dxl = Dxl::parse(&bytes).expect("dxl");
    let project = scratch.path().join("project");
    fs::create_dir(&project).expect("mkdir");

    let report = materialize(
        &store,
        &dxl,
        "key-0",
        &MaterializeOptions::new(&project, LinkMode::Auto),
    )
    .expect("materialize");

    // One filesystem with the store: the probe settles on hardlinks without a step-down.
    assert_eq!(report.mode_used, LinkMode::Hardlink, "{report:?}");
    assert_eq!(report.step_down, None);
    assert!(!report.noop);
    assert_eq!(report.symlinks, 3);
    let node_modules = project.join("node_modules");
    fixture::assert_tree_matches(&store, &dxl, &node_modules);
    let placed = fs::metadata(node_modules.join("cli-tool/bin/cli.js")).expect("stat");
    let unpacked = store
        .unpacked(&hashes[1])
        .expect("unpacked")
        .join("bin/cli.js");
    assert_eq!(
        placed.ino(),
        fs::metadata(unpacked).expect("stat").ino(),
        "a hardlink to the store's file"
    );
    assert_eq!(placed.mode() & 0o777, 0o555);
}

#[test]
fn private_copies_keep_a_package_out_of_the_store_inodes() {
    let scratch = fixture::scratch();
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let bytes = fixture::layout(&packages, &hashes, 0);
    let dxl = Dxl::parse(&bytes).expect("dxl");
    let project = scratch.path().join("project");
    fs::create_dir(&project).expect("mkdir");
    let mut options = MaterializeOptions::new(&project, LinkMode::Hardlink);
    options.private_copies = vec!["cli-tool".to_owned()];

    let report = materialize(&store, &dxl, "key-0", &options).expect("materialize");

    assert_eq!(report.mode_used, LinkMode::Hardlink, "{report:?}");
    let node_modules = project.join("node_modules");
    fixture::assert_tree_matches(&store, &dxl, &node_modules);
    let unpacked = store
        .unpacked(&hashes[1])
        .expect("unpacked")
        .join("bin/cli.js");
    let placed = fs::metadata(node_modules.join("cli-tool/bin/cli.js")).expect("stat");
    assert_ne!(
        placed.ino(),
        fs::metadata(&unpacked).expect("stat").ino(),
        "a private copy"
    );
    assert_eq!(placed.mode() & 0o777, 0o555, "still read-only");
    // Root writes through read-only modes (others get EACCES): the store's file must not change.
    if fs::write(
        node_modules.join("cli-tool/bin/cli.js"),
        b"rewritten by a script\n",
    )
    .is_ok()
    {
        assert_ne!(
            fs::read(&unpacked).expect("read"),
            b"rewritten by a script\n"
        );
    }
}

#[test]
fn an_explicit_reflink_on_ext4_steps_down_and_says_why() {
    let scratch = fixture::scratch();
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let bytes = fixture::layout(&packages, &hashes, 0);
    let dxl = Dxl::parse(&bytes).expect("dxl");
    let project = scratch.path().join("project");
    fs::create_dir(&project).expect("mkdir");

    let report = materialize(
        &store,
        &dxl,
        "key-0",
        &MaterializeOptions::new(&project, LinkMode::Reflink),
    )
    .expect("materialize");

    assert_eq!(report.mode_used, LinkMode::Hardlink);
    let reason = report.step_down.expect("a step-down message");
    assert!(reason.starts_with("reflink failed"), "{reason}");
    assert!(reason.contains("--materialize=hardlink"), "{reason}");
    fixture::assert_tree_matches(&store, &dxl, &project.join("node_modules"));
}

/// Whether the file's extents are shared with another file (a real reflink), per `filefrag`.
fn extents_shared(path: &Path) -> Option<bool> {
    let out = Command::new("filefrag").arg("-v").arg(path).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).contains("shared"))
}

#[test]
fn reflinks_on_a_loop_mounted_xfs_and_auto_prefers_them_there() {
    let scratch = fixture::scratch();
    let mount = match MountGuard::xfs(scratch.path()) {
        Ok(mount) => mount,
        Err(why) => {
            return fixture::skip_or_fail(&format!(
                "reflink test: cannot mount an XFS image ({why})"
            ));
        }
    };
    let packages = fixture::packages();
    // Store and project on the XFS: reflinks need both on one filesystem.
    let (store, hashes) = fixture::store_with(&mount.dir.join("store"), &packages);
    let bytes = fixture::layout(&packages, &hashes, 0);
    let dxl = Dxl::parse(&bytes).expect("dxl");
    let project = mount.dir.join("project");
    fs::create_dir(&project).expect("mkdir");

    let report = materialize(
        &store,
        &dxl,
        "key-0",
        &MaterializeOptions::new(&project, LinkMode::Auto),
    )
    .expect("materialize");

    assert_eq!(report.mode_used, LinkMode::Reflink, "{report:?}");
    assert_eq!(report.step_down, None);
    let node_modules = project.join("node_modules");
    fixture::assert_tree_matches(&store, &dxl, &node_modules);
    let big = node_modules.join("cli-tool/lib/big.txt");
    let meta = fs::metadata(&big).expect("stat");
    let unpacked = store
        .unpacked(&hashes[1])
        .expect("unpacked")
        .join("lib/big.txt");
    assert_ne!(
        meta.ino(),
        fs::metadata(&unpacked).expect("stat").ino(),
        "a reflink is its own inode"
    );
    assert_eq!(meta.nlink(), 1);
    match extents_shared(&big) {
        Some(shared) => assert!(
            shared,
            "{} does not share extents with the store",
            big.display()
        ),
        None => eprintln!("filefrag unavailable: extent sharing not checked"),
    }

    // Asked for, hardlinks work there too (faster; they share the store's inodes).
    let second = mount.dir.join("second");
    fs::create_dir(&second).expect("mkdir");
    let report = materialize(
        &store,
        &dxl,
        "key-0",
        &MaterializeOptions::new(&second, LinkMode::Hardlink),
    )
    .expect("materialize");
    assert_eq!(report.mode_used, LinkMode::Hardlink, "{report:?}");
    fixture::assert_tree_matches(&store, &dxl, &second.join("node_modules"));
    assert_eq!(
        fs::metadata(second.join("node_modules/cli-tool/lib/big.txt"))
            .expect("stat")
            .ino(),
        fs::metadata(&unpacked).expect("stat").ino()
    );
    drop(store);
}

#[test]
fn copies_across_devices_to_a_tmpfs() {
    let scratch = fixture::scratch();
    let mount = match MountGuard::tmpfs(scratch.path()) {
        Ok(mount) => mount,
        Err(why) => {
            return fixture::skip_or_fail(&format!("copy test: cannot mount a tmpfs ({why})"));
        }
    };
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let bytes = fixture::layout(&packages, &hashes, 0);
    let dxl = Dxl::parse(&bytes).expect("dxl");
    let project = mount.dir.join("project");
    fs::create_dir(&project).expect("mkdir");

    let report = materialize(
        &store,
        &dxl,
        "key-0",
        &MaterializeOptions::new(&project, LinkMode::Auto),
    )
    .expect("materialize");
    assert_eq!(report.mode_used, LinkMode::Copy, "{report:?}");
    assert_eq!(
        report.step_down, None,
        "the probe, not a failure, chose copy"
    );
    fixture::assert_tree_matches(&store, &dxl, &project.join("node_modules"));
    // The probe asked with a file of its own: copying reads the archives, so nothing was
    // unpacked (it used to unpack the first package just to probe with one of its files).
    let unpacked = store.root().join("v1").join("unpacked");
    let trees = fs::read_dir(&unpacked).map_or(0, |entries| entries.count());
    assert_eq!(trees, 0, "unpacked trees in {}", unpacked.display());

    // Asking for hardlinks across devices steps down at the first file and names the cause.
    let second = mount.dir.join("second");
    fs::create_dir(&second).expect("mkdir");
    let report = materialize(
        &store,
        &dxl,
        "key-0",
        &MaterializeOptions::new(&second, LinkMode::Hardlink),
    )
    .expect("materialize");
    assert_eq!(report.mode_used, LinkMode::Copy);
    let reason = report.step_down.expect("step-down");
    assert!(
        reason.contains("different filesystems") && reason.contains("--materialize=copy"),
        "{reason}"
    );
    fixture::assert_tree_matches(&store, &dxl, &second.join("node_modules"));
    drop(mount);
}
