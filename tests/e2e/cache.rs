//! `dx cache dir | verify | clean`, and the store's per-project state.

use crate::support::{TestContext, describe};

#[test]
fn cache_dir_follows_dx_home() {
    let ctx = TestContext::new();
    let out = ctx.dx_ok(&["cache", "dir"]);
    assert_eq!(out.trim(), ctx.store.display().to_string());
}

#[test]
fn cache_dir_falls_back_to_xdg_cache_home() {
    let ctx = TestContext::new();
    let xdg = ctx.home.join("xdg");
    let out = ctx
        .dx_command(&["cache", "dir"])
        .env_remove("DX_HOME")
        .env("XDG_CACHE_HOME", &xdg)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        xdg.join("dx").display().to_string()
    );
}

#[test]
fn cache_verify_on_an_empty_store_is_clean() {
    let ctx = TestContext::new();
    let out = ctx.dx(&["cache", "verify"]);
    assert!(out.status.success(), "{}", crate::support::describe(&out));
}

#[test]
fn cache_clean_empties_the_store_and_install_refetches() {
    // `solo` 1.0.0 (one file, `index.js`) is in the standard fixtures.
    let ctx = TestContext::with_fixtures();
    let registry = ctx.registry();
    ctx.write("package.json", r#"{ "dependencies": { "solo": "1.0.0" } }"#);
    ctx.dx_ok(&["install", "--materialize"]);
    let out = ctx.dx_ok(&["cache", "clean"]);
    assert!(out.contains("removed 1 archives"), "{out}");
    std::fs::remove_dir_all(ctx.path("node_modules")).unwrap();
    registry.requests().clear();
    ctx.dx_ok(&["install", "--materialize"]);
    assert!(
        !registry.requests().is_empty(),
        "the archive must be fetched again"
    );
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/solo/index.js")).unwrap(),
        "1"
    );
}

/// Whether every package file of the mounted tree reads back (a package whose archive the
/// store lost answers EIO).
fn tree_readable(ctx: &TestContext) -> Result<(), String> {
    for (path, want) in [
        ("node_modules/slow/index.js", "slow\n"),
        ("node_modules/other/index.js", "other\n"),
    ] {
        match std::fs::read_to_string(ctx.path(path)) {
            Ok(text) if text == want => {}
            Ok(text) => return Err(format!("{path}: read {text:?}")),
            Err(e) => return Err(format!("{path}: {e}")),
        }
    }
    Ok(())
}

fn slow_registry(ctx: &TestContext) -> dx_net::TestRegistry {
    use dx_net::{TestRegistry, write_test_package};
    let dir = ctx.home.join("registry");
    for name in ["slow", "other"] {
        write_test_package(
            &dir,
            name,
            "1.0.0",
            serde_json::json!({ "main": "index.js" }),
            &[("index.js", format!("{name}\n").as_bytes())],
        );
    }
    TestRegistry::start(&dir)
}

/// The regression: `dx cache clean` while a mounted install downloads used to collect the
/// archives the install had fetched but its mount did not yet protect, leaving a mount whose
/// every file answered EIO, an install that exited 0, and a next install that said "up to
/// date". Now clean waits until the install's mount holds its guard.
#[test]
fn cache_clean_during_a_mounted_install_never_leaves_an_unreadable_tree() {
    use dx_net::{Fault, FaultRule};
    use std::time::{Duration, Instant};
    if !crate::support::fuse_available(
        "cache_clean_during_a_mounted_install_never_leaves_an_unreadable_tree",
    ) {
        return;
    }
    let ctx = TestContext::new();
    let registry = slow_registry(&ctx);
    let ctx = ctx.with_registry(registry.url());
    ctx.write(
        "package.json",
        r#"{ "dependencies": { "slow": "1.0.0", "other": "1.0.0" } }"#,
    );
    // dx.lock first, so the install below sends tarball requests only.
    ctx.dx_ok(&["install", "--lockfile-only"]);
    registry.requests().clear();
    registry
        .faults()
        .add(FaultRule::new(Fault::Latency(Duration::from_secs(3))).on_path_containing("/-/"));

    let install = ctx
        .dx_command(&["install"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until a tarball is being answered: the install is between looking up its archives
    // and registering them.
    let deadline = Instant::now() + Duration::from_secs(60);
    while registry.requests().max_in_flight() == 0 {
        assert!(
            Instant::now() < deadline,
            "the install never asked for a tarball"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let clean = ctx.dx(&["cache", "clean"]);
    let install = install.wait_with_output().unwrap();
    assert!(clean.status.success(), "{}", describe(&clean));
    let clean_err = String::from_utf8_lossy(&clean.stderr);
    assert!(
        clean_err.contains("waiting for"),
        "clean must say it waits for the running install: {}",
        describe(&clean)
    );

    // The install either failed saying why, or left a tree that reads.
    let readable = if install.status.success() {
        let readable = tree_readable(&ctx);
        assert!(
            readable.is_ok(),
            "the install exited 0 but left an unreadable tree: {readable:?}\n{}",
            describe(&install)
        );
        true
    } else {
        let err = String::from_utf8_lossy(&install.stderr);
        assert!(err.contains("error"), "{}", describe(&install));
        false
    };

    // The next install repairs what is broken and says "up to date" only when nothing was.
    registry.faults().clear();
    let next = ctx.dx(&["install"]);
    assert!(next.status.success(), "{}", describe(&next));
    if !readable {
        assert!(
            !String::from_utf8_lossy(&next.stdout).contains("up to date"),
            "{}",
            describe(&next)
        );
    }
    tree_readable(&ctx).unwrap();
}

/// A mount whose store lost what it serves is not "up to date": the next install refetches.
#[test]
fn a_mount_whose_archives_vanished_is_repaired_by_the_next_install() {
    if !crate::support::fuse_available(
        "a_mount_whose_archives_vanished_is_repaired_by_the_next_install",
    ) {
        return;
    }
    let ctx = TestContext::new();
    let registry = slow_registry(&ctx);
    let ctx = ctx.with_registry(registry.url());
    ctx.write(
        "package.json",
        r#"{ "dependencies": { "slow": "1.0.0", "other": "1.0.0" } }"#,
    );
    ctx.dx_ok(&["install"]);
    tree_readable(&ctx).unwrap();
    assert!(ctx.dx_ok(&["install"]).contains("up to date"));

    // What the race above used to do: the project's root, DXL and archives gone while the
    // mount stays up.
    for area in ["dxp", "roots", "dxl", "index"] {
        std::fs::remove_dir_all(ctx.store.join("v1").join(area)).unwrap();
    }
    registry.requests().clear();
    let out = ctx.dx_ok(&["install"]);
    assert!(!out.contains("up to date"), "{out}");
    assert!(
        !registry.requests().is_empty(),
        "the archives must be fetched again"
    );
    tree_readable(&ctx).unwrap();

    // Archives lost behind a root that still claims them: `dx cache verify` names the project
    // and the next install repairs.
    for entry in std::fs::read_dir(ctx.store.join("v1/dxp")).unwrap() {
        std::fs::remove_dir_all(entry.unwrap().path()).unwrap();
    }
    let verify = ctx.dx(&["cache", "verify"]);
    assert_eq!(verify.status.code(), Some(1), "{}", describe(&verify));
    let said = String::from_utf8_lossy(&verify.stderr);
    let project = std::fs::canonicalize(&ctx.project).unwrap();
    assert!(
        said.contains(&project.display().to_string()) && said.contains("missing"),
        "{}",
        describe(&verify)
    );
    let out = ctx.dx_ok(&["install"]);
    assert!(!out.contains("up to date"), "{out}");
    tree_readable(&ctx).unwrap();
    assert!(ctx.dx(&["cache", "verify"]).status.success());
}

/// The state directories in the store, one per project dx has seen.
fn project_states(ctx: &TestContext) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(ctx.store.join("v1/projects")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn cache_clean_reclaims_the_state_of_deleted_projects_only() {
    let ctx = TestContext::new();
    let registry = slow_registry(&ctx);
    let ctx = ctx.with_registry(registry.url());
    let deps = r#"{ "dependencies": { "slow": "1.0.0" } }"#;
    ctx.write("package.json", deps);
    ctx.dx_ok(&["install", "--materialize"]);
    let kept = project_states(&ctx);
    assert_eq!(kept.len(), 1, "{kept:?}");
    {
        let other = TestContext::new()
            .sharing_store(&ctx.store)
            .with_registry(registry.url());
        other.write("package.json", deps);
        other.dx_ok(&["install", "--materialize"]);
        assert_eq!(project_states(&ctx).len(), 2);
    } // the second project's directory is deleted here

    let out = ctx.dx_ok(&["cache", "clean", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["projectStatesRemoved"], 1, "{out}");
    assert_eq!(project_states(&ctx), kept);
    let out = ctx.dx_ok(&["cache", "clean"]);
    assert!(out.contains("the state of 0 deleted projects"), "{out}");
    assert_eq!(project_states(&ctx), kept);
}

/// An older dx kept a project's state (and its overlay) at `<store>/mounts/<digest>/`: the
/// first install after the upgrade moves it into `v1/projects/`, edits included.
#[test]
fn state_left_by_an_older_dx_is_adopted_with_its_overlay_edits() {
    if !crate::support::fuse_available(
        "state_left_by_an_older_dx_is_adopted_with_its_overlay_edits",
    ) {
        return;
    }
    let ctx = TestContext::new();
    let registry = slow_registry(&ctx);
    let ctx = ctx.with_registry(registry.url());
    ctx.write(
        "package.json",
        r#"{ "dependencies": { "slow": "1.0.0", "other": "1.0.0" } }"#,
    );
    ctx.dx_ok(&["install"]);
    std::fs::write(ctx.path("node_modules/slow/index.js"), "edited\n").unwrap();
    std::fs::write(ctx.path("node_modules/.cache-note"), "mine\n").unwrap();
    ctx.dx_ok(&["unmount"]);

    // Put the state where an older dx kept it, without the `project` file it did not write.
    let [state] = project_states(&ctx).try_into().unwrap();
    let canonical = std::fs::canonicalize(&ctx.project).unwrap();
    let digest = blake3::hash(canonical.as_os_str().as_encoded_bytes()).to_hex();
    let legacy = ctx.store.join("mounts").join(&digest.as_str()[..24]);
    std::fs::create_dir_all(ctx.store.join("mounts")).unwrap();
    std::fs::rename(&state, &legacy).unwrap();
    std::fs::remove_file(legacy.join("project")).unwrap();

    ctx.dx_ok(&["install"]);
    assert!(!legacy.exists(), "the old state directory must be moved");
    assert_eq!(project_states(&ctx), vec![state.clone()]);
    assert_eq!(
        std::fs::read(state.join("project")).unwrap(),
        canonical.as_os_str().as_encoded_bytes()
    );
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/slow/index.js")).unwrap(),
        "edited\n"
    );
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/.cache-note")).unwrap(),
        "mine\n"
    );
}
