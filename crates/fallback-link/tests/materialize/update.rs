//! In-place updates of a tree whose layout changed: only what differs is placed, the result
//! equals a tree built from scratch, and an update stopped among its renames is never taken
//! for intact (the next install rebuilds the whole tree).

use std::fs;
use std::os::unix::fs::MetadataExt;

use dx_fallback_link::{LinkMode, MARKER_FILE, MaterializeOptions, materialize};
use dx_formats::dxl::Dxl;
use dx_formats::hash::ContentHash;
use dx_store::Store;

use crate::fixture::{self, SyntheticPackage};

/// The fixture's layout changed the ways a `dx add`/`remove`/`update` changes one: `left-pad`
/// removed, `dep@1` hoisted out of `cli-tool` over `dep@2`, `@scope/pkg` moved to a new scope
/// (the old scope directory goes), `.bin/cli` removed and `.bin/new` added.
fn changed_layout(packages: &[SyntheticPackage], hashes: &[ContentHash]) -> Vec<u8> {
    let (mut builder, ids) = fixture::builder_with(packages, hashes, 7);
    builder.place("cli-tool", ids[1]).expect("place");
    builder.place("@other/pkg", ids[2]).expect("place");
    builder.place("dep", ids[3]).expect("place");
    builder.place("bundler", ids[5]).expect("place");
    builder
        .place("bundler/node_modules/dep", ids[4])
        .expect("place");
    builder
        .add_bin_link(".bin/dep", "../dep/bin.js")
        .expect("bin");
    builder
        .add_bin_link(".bin/new", "../cli-tool/bin/cli.js")
        .expect("bin");
    builder.finish()
}

struct Setup {
    _scratch: tempfile::TempDir,
    store: Store,
    layouts: Vec<(String, Vec<u8>)>,
    root: std::path::PathBuf,
}

/// A store holding the fixture's packages and three layouts (each also written to the store
/// under its key, as an install does): the base, the base without `left-pad`, the changed one.
fn setup() -> Setup {
    let scratch = fixture::scratch();
    let packages = fixture::packages();
    let (store, hashes) = fixture::store_with(&scratch.path().join("store"), &packages);
    let layouts = vec![
        ("base".to_owned(), fixture::layout(&packages, &hashes, 0)),
        ("smaller".to_owned(), fixture::layout(&packages, &hashes, 1)),
        ("changed".to_owned(), changed_layout(&packages, &hashes)),
    ];
    for (key, bytes) in &layouts {
        store.write_dxl(key, bytes).expect("write dxl");
    }
    let root = scratch.path().to_path_buf();
    Setup {
        _scratch: scratch,
        store,
        layouts,
        root,
    }
}

impl Setup {
    fn project(&self, name: &str) -> std::path::PathBuf {
        let dir = self.root.join(name);
        fs::create_dir(&dir).expect("mkdir");
        dir
    }

    fn install(
        &self,
        project: &std::path::Path,
        layout: usize,
    ) -> dx_fallback_link::MaterializeReport {
        self.install_with(&MaterializeOptions::new(project, LinkMode::Auto), layout)
            .expect("materialize")
    }

    fn install_with(
        &self,
        opts: &MaterializeOptions,
        layout: usize,
    ) -> Result<dx_fallback_link::MaterializeReport, dx_fallback_link::LinkError> {
        let (key, bytes) = &self.layouts[layout];
        materialize(&self.store, &Dxl::parse(bytes).expect("dxl"), key, opts)
    }

    fn assert_matches(&self, project: &std::path::Path, layout: usize) {
        let dxl = Dxl::parse(&self.layouts[layout].1).expect("dxl");
        fixture::assert_tree_matches(&self.store, &dxl, &project.join("node_modules"));
    }
}

#[test]
fn a_changed_layout_updates_only_what_differs_and_equals_a_fresh_tree() {
    let setup = setup();
    let project = setup.project("project");
    let node_modules = project.join("node_modules");
    let first = setup.install(&project, 0);
    assert_eq!(first.update, None, "nothing to update: built from scratch");
    let root_inode = fs::metadata(&node_modules).expect("stat").ino();
    let bundler_inode = fs::metadata(node_modules.join("bundler"))
        .expect("stat")
        .ino();

    // Remove one package.
    let smaller = setup.install(&project, 1);
    let update = smaller.update.expect("updated in place");
    assert_eq!((update.placed, update.removed, update.files), (0, 1, 0));
    setup.assert_matches(&project, 1);

    // Move, add and remove at once.
    let changed = setup.install(&project, 2);
    let update = changed.update.expect("updated in place");
    // Placed: `.bin/new`, `@other`, `bundler` (its nested dep changed), `dep`; `cli-tool`
    // lost its nested dep and `.bin`, so it is placed again too.
    assert_eq!(update.placed, 5, "{update:?}");
    assert_eq!(update.removed, 2, "`.bin/cli` and `@scope`: {update:?}");
    setup.assert_matches(&project, 2);
    assert_eq!(
        fs::metadata(&node_modules).expect("stat").ino(),
        root_inode,
        "the tree was updated, not replaced"
    );
    assert_ne!(
        fs::metadata(node_modules.join("bundler"))
            .expect("stat")
            .ino(),
        bundler_inode,
        "a package whose nested dependency changed is placed again"
    );

    // The marker's totals are the whole tree's: the same as a tree built from scratch.
    let fresh_project = setup.project("fresh");
    let fresh = setup.install(&fresh_project, 2);
    assert_eq!(
        (changed.files, changed.dirs, changed.symlinks, changed.bytes),
        (fresh.files, fresh.dirs, fresh.symlinks, fresh.bytes)
    );
    let repeat = setup.install(&project, 2);
    assert!(repeat.noop, "the updated tree's marker matches");
    assert_eq!(repeat.files, fresh.files);

    // And back: the base layout again, in place.
    let back = setup.install(&project, 0);
    assert!(back.update.is_some());
    setup.assert_matches(&project, 0);
    assert!(
        !project
            .read_dir()
            .expect("ls")
            .any(|e| e.expect("entry").file_name() != "node_modules"),
        "the replaced units were removed"
    );
}

#[test]
fn an_update_stopped_among_its_renames_is_rebuilt_whole_by_the_next_install() {
    let setup = setup();
    // One rename per changed unit (7 here) plus the point after the last.
    for stop in 0..=7 {
        let project = setup.project(&format!("project-{stop}"));
        setup.install(&project, 0);
        let mut opts = MaterializeOptions::new(&project, LinkMode::Auto);
        opts.interrupt_update_after = Some(stop);
        assert!(setup.install_with(&opts, 2).is_err(), "stopped at {stop}");
        let marker =
            fs::read_to_string(project.join("node_modules").join(MARKER_FILE)).expect("marker");
        assert_eq!(
            marker, "",
            "a tree caught midway has an empty marker (stop {stop})"
        );
        let again = setup.install(&project, 2);
        assert!(
            !again.noop && again.update.is_none(),
            "rebuilt whole (stop {stop})"
        );
        setup.assert_matches(&project, 2);
        // A later change updates in place again.
        assert!(setup.install(&project, 0).update.is_some());
        setup.assert_matches(&project, 0);
    }
}

#[test]
fn a_package_that_becomes_a_private_copy_is_placed_again() {
    let setup = setup();
    let project = setup.project("project");
    let node_modules = project.join("node_modules");
    setup.install(&project, 0);
    let linked = fs::metadata(node_modules.join("cli-tool/bin/cli.js")).expect("stat");
    assert!(linked.nlink() > 1, "hardlinked to the store");
    let mut opts = MaterializeOptions::new(&project, LinkMode::Auto);
    opts.private_copies = vec!["cli-tool".to_owned()];
    let report = setup.install_with(&opts, 0).expect("materialize");
    let update = report.update.expect("updated in place");
    assert_eq!(update.placed, 1);
    let copied = fs::metadata(node_modules.join("cli-tool/bin/cli.js")).expect("stat");
    assert_eq!(copied.nlink(), 1, "a private copy");
    assert!(setup.install_with(&opts, 0).expect("again").noop);
    setup.assert_matches(&project, 0);
}

#[test]
fn without_the_old_layout_in_the_store_the_tree_is_rebuilt() {
    let setup = setup();
    let project = setup.project("project");
    setup.install(&project, 0);
    fs::remove_file(setup.store.dxl_path("base")).expect("rm dxl");
    let report = setup.install(&project, 2);
    assert!(report.update.is_none());
    setup.assert_matches(&project, 2);
}
