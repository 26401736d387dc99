//! Hardlinked files are the store's own: they must be read-only, and damage must be detected
//! and repaired for every project at once.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use dx_fallback_link::{
    LinkMode, MaterializeOptions, UnpackedProblem, materialize, repair_unpacked, verify_unpacked,
};
use dx_formats::dxl::Dxl;

use crate::fixture;

#[test]
fn store_files_are_read_only_and_damage_is_detected_and_repaired_in_place() {
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
        &MaterializeOptions::new(&project, LinkMode::Hardlink),
    )
    .expect("materialize");
    assert_eq!(report.mode_used, LinkMode::Hardlink);

    let placed = project.join("node_modules/left-pad/index.js");
    let placed_exec = project.join("node_modules/cli-tool/bin/cli.js");
    assert_eq!(fs::metadata(&placed).expect("stat").mode() & 0o7777, 0o444);
    assert_eq!(
        fs::metadata(&placed_exec).expect("stat").mode() & 0o7777,
        0o555
    );
    assert!(
        verify_unpacked(&store, &hashes[0])
            .expect("verify")
            .is_empty(),
        "a fresh tree is clean"
    );

    // Someone with the power to (root, or after a chmod) edits the file through node_modules.
    let original = fs::read(&placed).expect("read");
    fs::set_permissions(&placed, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::OpenOptions::new()
        .append(true)
        .open(&placed)
        .expect("open")
        .write_all(b"// edited\n")
        .expect("edit");
    let unpacked_root = store.unpacked(&hashes[0]).expect("unpacked");
    fs::remove_file(unpacked_root.join("README.md")).expect("remove");

    let mut damage = verify_unpacked(&store, &hashes[0]).expect("verify");
    damage.sort_by(|a, b| a.entry.cmp(&b.entry));
    let problems: Vec<_> = damage
        .iter()
        .map(|d| (d.entry.as_str(), d.problem))
        .collect();
    assert_eq!(
        problems,
        vec![
            ("README.md", UnpackedProblem::Missing),
            ("index.js", UnpackedProblem::ContentChanged)
        ]
    );

    repair_unpacked(&store, &hashes[0], &damage).expect("repair");
    assert!(
        verify_unpacked(&store, &hashes[0])
            .expect("verify")
            .is_empty()
    );
    // Repaired through the same inode: the project's hardlink sees the original bytes again.
    assert_eq!(fs::read(&placed).expect("read"), original);
    assert_eq!(fs::metadata(&placed).expect("stat").mode() & 0o7777, 0o444);

    // A lost executable bit is a mode problem, fixed by chmod.
    let unpacked_exec = store
        .unpacked(&hashes[1])
        .expect("unpacked")
        .join("bin/cli.js");
    fs::set_permissions(&unpacked_exec, fs::Permissions::from_mode(0o644)).expect("chmod");
    let damage = verify_unpacked(&store, &hashes[1]).expect("verify");
    assert_eq!(damage.len(), 1);
    assert_eq!(
        damage[0].problem,
        UnpackedProblem::ModeChanged { found: 0o644 }
    );
    repair_unpacked(&store, &hashes[1], &damage).expect("repair");
    assert_eq!(
        fs::metadata(&placed_exec).expect("stat").mode() & 0o7777,
        0o555
    );
}
