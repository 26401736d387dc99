//! Lockfiles written by the real pnpm and npm (tests/fixtures/README.md) are imported with every
//! version it installed, its members as workspace importers.

use dx_migrate::{Format, ImportOptions, import};

#[test]
fn a_real_pnpm_9_workspace_lock_keeps_every_version() {
    let text = include_str!("fixtures/pnpm-workspace-v9.yaml");
    let root = serde_json::json!({});
    let url = |n: &str, v: &str| format!("http://127.0.0.1:1/{n}/-/{n}-{v}.tgz");
    let options = ImportOptions {
        root_manifest: &root,
        tarball_url: &url,
        members: &[],
    };
    let imported = import("pnpm-lock.yaml", Format::PnpmLock, text, &options).expect("imports");
    let versions: Vec<&str> = imported.versions.iter().map(String::as_str).collect();
    assert_eq!(
        versions,
        ["w@1.0.0", "x@1.0.0", "x@2.0.0", "z@1.0.0", "z@2.0.0"]
    );
    let lock = &imported.resolution;
    let paths: Vec<&str> = lock.workspaces.keys().map(String::as_str).collect();
    assert_eq!(paths, ["packages/a", "packages/b", "packages/c"]);
    assert_eq!(
        lock.workspaces["packages/b"].importer.edges["x"]
            .target
            .as_deref(),
        Some("x@2.0.0")
    );
    assert_eq!(
        lock.workspaces["packages/c"].importer.edges["b"]
            .target
            .as_deref(),
        Some("b@workspace:packages/b")
    );
    assert_eq!(lock.root.edges["w"].target.as_deref(), Some("w@1.0.0"));
    assert!(lock.packages.values().all(|p| p.integrity.is_some()));
    assert_eq!(
        lock.packages["w@1.0.0"].dependencies["z"].target.as_deref(),
        Some("z@1.0.0")
    );
}

/// The package-lock.json npm wrote for the same workspace: members are importers, what npm
/// nested in a member's own node_modules is that member's, links are member targets.
#[test]
fn a_real_npm_workspace_lock_keeps_every_version() {
    let text = include_str!("fixtures/npm-workspace-package-lock.json");
    let root = serde_json::json!({"dependencies": {"x": "^1.0.0", "w": "^1.0.0"}});
    let url = |n: &str, v: &str| format!("http://127.0.0.1:1/{n}/-/{n}-{v}.tgz");
    let options = ImportOptions {
        root_manifest: &root,
        tarball_url: &url,
        members: &[],
    };
    let imported =
        import("package-lock.json", Format::PackageLock, text, &options).expect("imports");
    let versions: Vec<&str> = imported.versions.iter().map(String::as_str).collect();
    assert_eq!(
        versions,
        ["w@1.0.0", "x@1.0.0", "x@2.0.0", "z@1.0.0", "z@2.0.0"]
    );
    let lock = &imported.resolution;
    let b = &lock.workspaces["packages/b"];
    assert_eq!(b.name, "b");
    assert_eq!(b.importer.edges["x"].target.as_deref(), Some("x@2.0.0"));
    let c = &lock.workspaces["packages/c"];
    assert_eq!(
        c.importer.edges["b"].target.as_deref(),
        Some("b@workspace:packages/b")
    );
    assert_eq!(c.importer.edges["z"].target.as_deref(), Some("z@2.0.0"));
    assert_eq!(
        lock.packages["x@2.0.0"].dependencies["z"].target.as_deref(),
        Some("z@2.0.0"),
        "found from packages/b/node_modules/x: the member's own z first"
    );
}

/// The yarn.lock Yarn 4 (berry) wrote for the same workspace: workspaces are importers, the
/// `npm:` berry adds is gone from specifiers, and no integrity is taken from its checksums.
#[test]
fn a_real_yarn_berry_workspace_lock_keeps_every_version() {
    let text = include_str!("fixtures/yarn-berry-workspace.lock");
    let root = serde_json::json!({"dependencies": {"x": "^1.0.0", "w": "^1.0.0"}});
    let url = |n: &str, v: &str| format!("http://127.0.0.1:1/{n}/-/{n}-{v}.tgz");
    let options = ImportOptions {
        root_manifest: &root,
        tarball_url: &url,
        members: &[],
    };
    let imported = import("yarn.lock", Format::YarnLock, text, &options).expect("imports");
    let versions: Vec<&str> = imported.versions.iter().map(String::as_str).collect();
    assert_eq!(
        versions,
        ["w@1.0.0", "x@1.0.0", "x@2.0.0", "z@1.0.0", "z@2.0.0"]
    );
    assert!(!imported.complete_metadata);
    let lock = &imported.resolution;
    assert_eq!(lock.root.edges["x"].target.as_deref(), Some("x@1.0.0"));
    let c = &lock.workspaces["packages/c"].importer.edges;
    assert_eq!(c["b"].target.as_deref(), Some("b@workspace:packages/b"));
    assert_eq!(c["z"].specifier, "^2.0.0");
    assert_eq!(c["z"].target.as_deref(), Some("z@2.0.0"));
    assert_eq!(
        lock.packages["x@2.0.0"].dependencies["z"].target.as_deref(),
        Some("z@2.0.0")
    );
    assert!(lock.packages.values().all(|p| p.integrity.is_none()));
    assert_eq!(lock.packages["x@1.0.0"].bin["x"], "x.js");
}

/// The bun.lock Bun 1.4 wrote for the same workspace (Bun hoists differently from npm: z@2 at
/// the root, z@1 under w): members are importers, `b/x` is member b's own x.
#[test]
fn a_real_bun_workspace_lock_keeps_every_version() {
    let text = include_str!("fixtures/bun-workspace.lock");
    let root = serde_json::json!({"dependencies": {"x": "^1.0.0", "w": "^1.0.0"}});
    let url = |n: &str, v: &str| format!("http://127.0.0.1:1/{n}/-/{n}-{v}.tgz");
    let options = ImportOptions {
        root_manifest: &root,
        tarball_url: &url,
        members: &[],
    };
    let imported = import("bun.lock", Format::BunLock, text, &options).expect("imports");
    let versions: Vec<&str> = imported.versions.iter().map(String::as_str).collect();
    assert_eq!(
        versions,
        ["w@1.0.0", "x@1.0.0", "x@2.0.0", "z@1.0.0", "z@2.0.0"]
    );
    let lock = &imported.resolution;
    assert_eq!(lock.workspaces["packages/c"].name, "@scope/c");
    let b = &lock.workspaces["packages/b"].importer.edges;
    assert_eq!(b["x"].target.as_deref(), Some("x@2.0.0"));
    let c = &lock.workspaces["packages/c"].importer.edges;
    assert_eq!(c["b"].target.as_deref(), Some("b@workspace:packages/b"));
    assert_eq!(c["z"].target.as_deref(), Some("z@2.0.0"));
    assert_eq!(
        lock.packages["w@1.0.0"].dependencies["z"].target.as_deref(),
        Some("z@1.0.0")
    );
}

/// The yarn.lock Yarn classic wrote for the same workspace: it records no members, so their
/// edges are found from their package.json files by `name@spec`.
#[test]
fn a_real_yarn_classic_workspace_lock_keeps_every_version() {
    let text = include_str!("fixtures/yarn-classic-workspace.lock");
    let root = serde_json::json!({"dependencies": {"x": "^1.0.0", "w": "^1.0.0"}});
    let url = |n: &str, v: &str| format!("http://127.0.0.1:1/{n}/-/{n}-{v}.tgz");
    let members = [
        (
            "packages/b".to_owned(),
            serde_json::json!({"name": "b", "version": "1.0.0", "dependencies": {"x": "^2.0.0"}}),
        ),
        (
            "packages/c".to_owned(),
            serde_json::json!({"name": "@scope/c", "version": "0.1.0", "devDependencies": {"z": "^2.0.0", "b": "*"}}),
        ),
    ];
    let options = ImportOptions {
        root_manifest: &root,
        tarball_url: &url,
        members: &members,
    };
    let imported = import("yarn.lock", Format::YarnLock, text, &options).expect("imports");
    let versions: Vec<&str> = imported.versions.iter().map(String::as_str).collect();
    assert_eq!(
        versions,
        ["w@1.0.0", "x@1.0.0", "x@2.0.0", "z@1.0.0", "z@2.0.0"]
    );
    let lock = &imported.resolution;
    assert_eq!(
        lock.workspaces["packages/b"].importer.edges["x"]
            .target
            .as_deref(),
        Some("x@2.0.0")
    );
    let c = &lock.workspaces["packages/c"];
    assert_eq!(c.name, "@scope/c");
    assert_eq!(c.importer.edges["z"].target.as_deref(), Some("z@2.0.0"));
    assert_eq!(
        c.importer.edges["z"].kind,
        dx_formats::lockfile::EdgeKind::Dev
    );
}
