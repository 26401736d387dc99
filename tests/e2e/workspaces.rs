//! Workspaces end to end: the tree dx builds for a monorepo is npm's, path for path (npm's
//! answer is the recorded `crates/resolve/tests/workspace-cases/conflict.npm.json`, the same
//! packages and members), mounted and materialized; members' own node_modules, bins and
//! lifecycle scripts; a stale member is caught like a stale root; `dx add` in a member edits
//! that member.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::fixtures::Package;
use crate::support::{TestContext, fuse_available, is_mountpoint};

/// The `conflict` workspace case: `x@1`/`x@2` (with a bin) and `z`, `w` in the registry; the
/// root wants x@^1, member b wants x@^2, member @scope/c z@^2 and b.
fn conflict_workspace() -> TestContext {
    let ctx = TestContext::builder()
        .package(
            Package::new("x", "1.0.0")
                .manifest(json!({"bin": "x.js"}))
                .file("x.js", "#!/bin/sh\necho x1\n"),
        )
        .package(
            Package::new("x", "2.0.0")
                .manifest(json!({"bin": "x.js", "dependencies": {"z": "^2.0.0"}}))
                .file("x.js", "#!/bin/sh\necho x2\n"),
        )
        .package(Package::new("z", "1.0.0").exporting("z1"))
        .package(Package::new("z", "2.0.0").exporting("z2"))
        .package(Package::new("w", "1.0.0").manifest(json!({"dependencies": {"z": "^1.0.0"}})))
        .build();
    ctx.package_json(json!({
        "name": "project", "version": "1.0.0",
        "workspaces": ["packages/*"],
        "dependencies": {"x": "^1.0.0", "w": "^1.0.0"}
    }));
    ctx.write(
        "packages/a/package.json",
        &json!({"name": "a", "version": "1.0.0", "dependencies": {"x": "^1.0.0"}}).to_string(),
    );
    ctx.write(
        "packages/b/package.json",
        &json!({"name": "b", "version": "1.0.0", "dependencies": {"x": "^2.0.0"}}).to_string(),
    );
    ctx.write(
        "packages/c/package.json",
        &json!({"name": "@scope/c", "version": "0.1.0", "devDependencies": {"z": "^2.0.0", "b": "*"}})
            .to_string(),
    );
    ctx
}

/// What npm installed for the same workspace (installed paths relative to the root
/// node_modules, `../<member>/node_modules/…` for members' own, links as `link:<target>`).
fn npm_answer() -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../resolve/tests/workspace-cases/conflict.npm.json");
    let fixture: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("npm fixture")).expect("json");
    let map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .expect("object")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("string").to_owned()))
            .collect()
    };
    (map(&fixture["installed"]), map(&fixture["bins"]))
}

/// The tree on disk in npm's fixture shape: every path npm installed, read back (a link's
/// target, or the package.json name@version there), plus anything else dx put beside them.
fn tree_on_disk(ctx: &TestContext, npm: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let root = ctx.path("node_modules");
    let read = |rel: &str| -> Option<String> {
        let path = root.join(rel);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if meta.file_type().is_symlink() {
            return Some(format!(
                "link:{}",
                std::fs::read_link(&path).ok()?.display()
            ));
        }
        let pj: Value = serde_json::from_str(
            &std::fs::read_to_string(path.join("package.json")).unwrap_or_default(),
        )
        .unwrap_or(Value::Null);
        Some(format!(
            "{}@{}",
            pj["name"].as_str().unwrap_or("?"),
            pj["version"].as_str().unwrap_or("?")
        ))
    };
    let mut found: BTreeMap<String, String> = npm
        .keys()
        .filter_map(|rel| Some((rel.clone(), read(rel)?)))
        .collect();
    // Extra top-level entries dx made that npm did not.
    for dir in [
        "",
        "../packages/a/node_modules/",
        "../packages/b/node_modules/",
        "../packages/c/node_modules/",
    ] {
        let top = root.join(dir);
        let Ok(entries) = std::fs::read_dir(&top) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('@') {
                continue;
            }
            let rel = format!("{dir}{name}");
            if !found.contains_key(&rel)
                && let Some(v) = read(&rel)
            {
                found.insert(rel, v);
            }
        }
    }
    found
}

fn bins_on_disk(ctx: &TestContext, npm: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let root = ctx.path("node_modules");
    npm.keys()
        .filter_map(|rel| {
            let target = std::fs::read_link(root.join(rel)).ok()?;
            Some((rel.clone(), target.display().to_string()))
        })
        .collect()
}

fn assert_npm_tree(ctx: &TestContext, how: &str) {
    let (npm, npm_bins) = npm_answer();
    assert_eq!(
        tree_on_disk(ctx, &npm),
        npm,
        "{how}: the installed tree is npm's"
    );
    assert_eq!(
        bins_on_disk(ctx, &npm_bins),
        npm_bins,
        "{how}: the .bin links are npm's"
    );
    // The links work: through node_modules/b the member's own files are reached.
    assert!(ctx.path("node_modules/b/package.json").is_file());
    assert_eq!(
        ctx.read("packages/b/node_modules/z/index.js"),
        "module.exports = 'z2';\n"
    );
}

#[test]
fn a_workspace_installs_as_npm_lays_it_out_materialized() {
    let ctx = conflict_workspace();
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    assert_npm_tree(&ctx, "materialized");
    let lock = ctx.read("dx.lock");
    assert!(lock.contains("workspace packages/b"), "{lock}");
    // Again: nothing to do.
    let again = ctx.dx(&["install", "--json"]);
    assert!(again.success(), "{}", again.render());
    let doc: Value = serde_json::from_str(&again.stdout_text()).expect("json");
    assert_eq!(doc["path"], "up-to-date", "{doc}");
    // A member's own node_modules removed behind dx's back comes back on the next install.
    std::fs::remove_dir_all(ctx.path("packages/b/node_modules")).unwrap();
    ctx.dx_ok(&["install"]);
    assert_npm_tree(&ctx, "repaired");
}

#[test]
fn a_workspace_installs_as_npm_lays_it_out_mounted() {
    if !fuse_available("a_workspace_installs_as_npm_lays_it_out_mounted") {
        return;
    }
    let ctx = conflict_workspace();
    let out = ctx.dx(&["install", "--no-materialize"]);
    assert!(out.success(), "{}", out.render());
    assert!(is_mountpoint(&ctx.path("node_modules")));
    assert_npm_tree(&ctx, "mounted");
    // Warm: node_modules unmounted and every member's own node_modules gone.
    ctx.dx_ok(&["unmount"]);
    std::fs::remove_dir_all(ctx.path("packages/b/node_modules")).unwrap();
    ctx.dx_ok(&["install"]);
    assert_npm_tree(&ctx, "mounted again");
}

#[test]
fn members_scripts_run_and_find_each_others_bins() {
    let ctx = TestContext::with_fixtures();
    ctx.package_json(json!({"name": "mono", "private": true, "workspaces": ["tools/*", "apps/*"]}));
    ctx.write(
        "tools/gen/package.json",
        &json!({
            "name": "gen", "version": "1.0.0", "bin": {"gen": "gen.sh"},
            "scripts": {"postinstall": "echo gen:postinstall >> \"$INIT_CWD/ran.txt\""}
        })
        .to_string(),
    );
    let gen_sh = ctx.write("tools/gen/gen.sh", "#!/bin/sh\necho generated > out.txt\n");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&gen_sh, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    ctx.write(
        "apps/web/package.json",
        &json!({
            "name": "web", "version": "1.0.0",
            "dependencies": {"gen": "workspace:*", "pad": "^1.0.0"},
            "scripts": {"build": "gen", "prepare": "echo web:prepare >> \"$INIT_CWD/ran.txt\""}
        })
        .to_string(),
    );
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    let ran = ctx.read("ran.txt");
    assert!(
        ran.contains("gen:postinstall") && ran.contains("web:prepare"),
        "{ran}"
    );
    assert_eq!(
        std::fs::read_link(ctx.path("node_modules/.bin/gen")).unwrap(),
        Path::new("../gen/gen.sh")
    );
    // A member's script finds another member's bin through the root node_modules/.bin.
    let out = ctx.dx_with(&["run", "build"], |c| {
        c.current_dir(ctx.path("apps/web"));
    });
    assert!(out.success(), "{}", out.render());
    assert_eq!(ctx.read("apps/web/out.txt"), "generated\n");
}

#[test]
fn a_stale_member_is_caught_like_a_stale_root() {
    let ctx = TestContext::with_fixtures();
    ctx.package_json(json!({"name": "mono", "workspaces": ["packages/*"]}));
    ctx.write(
        "packages/a/package.json",
        &json!({"name": "a", "version": "1.0.0", "dependencies": {"pad": "^1.0.0"}}).to_string(),
    );
    ctx.dx_ok(&["install", "--materialize"]);
    ctx.write("packages/a/package.json", &json!({"name": "a", "version": "1.0.0", "dependencies": {"pad": "^1.0.0", "util": "^3.0.0"}}).to_string());
    let out = ctx.dx(&["install", "--frozen-lockfile"]);
    assert!(!out.success(), "{}", out.render());
    let err = out.stderr_text();
    assert!(err.contains("packages/a"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Unfrozen, it is resolved again and the member gets util.
    ctx.dx_ok(&["install"]);
    assert!(ctx.path("node_modules/util/package.json").is_file());
}

#[test]
fn add_in_a_member_directory_edits_that_member() {
    let ctx = TestContext::with_fixtures();
    ctx.package_json(json!({"name": "mono", "workspaces": ["packages/*"]}));
    ctx.write(
        "packages/a/package.json",
        &json!({"name": "a", "version": "1.0.0"}).to_string(),
    );
    ctx.dx_ok(&["install", "--materialize"]);
    let out = ctx.dx_with(&["add", "pad@^1.0.0"], |c| {
        c.current_dir(ctx.path("packages/a"));
    });
    assert!(out.success(), "{}", out.render());
    let member: Value = serde_json::from_str(&ctx.read("packages/a/package.json")).unwrap();
    assert_eq!(member["dependencies"]["pad"], "^1.0.0");
    let root: Value = serde_json::from_str(&ctx.read("package.json")).unwrap();
    assert!(
        root.get("dependencies").is_none(),
        "the root is untouched: {root}"
    );
    assert!(
        !ctx.path("packages/a/dx.lock").exists(),
        "one dx.lock, at the root"
    );
    assert!(ctx.read("dx.lock").contains("workspace packages/a"));
    assert!(ctx.path("node_modules/pad/package.json").is_file());
}

#[test]
fn catalogs_give_members_their_versions_and_a_changed_catalog_is_stale() {
    let ctx = TestContext::with_fixtures();
    ctx.package_json(json!({"name": "mono", "private": true}));
    ctx.write(
        "pnpm-workspace.yaml",
        "packages:\n  - 'packages/*'\ncatalog:\n  pad: ^1.0.0\ncatalogs:\n  next:\n    pad: 2.0.0-beta.1\n",
    );
    ctx.write(
        "packages/a/package.json",
        &json!({"name": "a", "version": "1.0.0", "dependencies": {"pad": "catalog:"}}).to_string(),
    );
    ctx.write(
        "packages/b/package.json",
        &json!({"name": "b", "version": "1.0.0", "dependencies": {"pad": "catalog:next"}})
            .to_string(),
    );
    ctx.dx_ok(&["install", "--materialize"]);
    let version = |rel: &str| -> String {
        let pj: Value = serde_json::from_str(&ctx.read(rel)).unwrap();
        pj["version"].as_str().unwrap().to_owned()
    };
    assert_eq!(version("node_modules/pad/package.json"), "1.1.0");
    assert_eq!(
        version("packages/b/node_modules/pad/package.json"),
        "2.0.0-beta.1"
    );
    // The catalog changed: the lock no longer fits.
    ctx.write("pnpm-workspace.yaml", "packages:\n  - 'packages/*'\ncatalog:\n  pad: 1.0.0\ncatalogs:\n  next:\n    pad: 2.0.0-beta.1\n");
    let frozen = ctx.dx(&["install", "--frozen-lockfile"]);
    assert!(!frozen.success(), "{}", frozen.render());
    ctx.dx_ok(&["install"]);
    assert_eq!(version("node_modules/pad/package.json"), "1.0.0");
}

#[test]
fn add_with_workspace_flag_edits_the_named_member_from_the_root() {
    let ctx = TestContext::with_fixtures();
    ctx.package_json(json!({"name": "mono", "workspaces": ["packages/*"]}));
    ctx.write(
        "packages/a/package.json",
        &json!({"name": "a", "version": "1.0.0"}).to_string(),
    );
    ctx.write(
        "packages/b/package.json",
        &json!({"name": "b", "version": "1.0.0"}).to_string(),
    );
    let out = ctx.dx(&["add", "util", "-w", "b", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    let b: Value = serde_json::from_str(&ctx.read("packages/b/package.json")).unwrap();
    assert_eq!(b["dependencies"]["util"], "^3.0.0");
    let a: Value = serde_json::from_str(&ctx.read("packages/a/package.json")).unwrap();
    assert!(a.get("dependencies").is_none(), "{a}");
    assert!(ctx.path("node_modules/.bin/util").exists() || ctx.path("node_modules/util").is_dir());
    // dx ls names the members.
    let ls = ctx.dx_ok(&["ls"]);
    assert!(
        ls.contains("a@1.0.0 -> ./packages/a") && ls.contains("b@1.0.0 -> ./packages/b"),
        "{ls}"
    );
    // -w shows one member, as npm ls -w; so does running in the member's directory.
    let only_b = ctx.dx_ok(&["ls", "-w", "b"]);
    assert!(
        only_b.contains("b@1.0.0 -> ./packages/b") && !only_b.contains("a@1.0.0"),
        "{only_b}"
    );
    let out = ctx.dx_with(&["ls"], |c| {
        c.current_dir(ctx.path("packages/b"));
    });
    assert_eq!(out.stdout_text(), only_b);
    assert!(!ctx.dx(&["ls", "-w", "nope"]).success());
}

/// One bad input each: a one-line error naming what is wrong, and nothing written.
#[test]
fn bad_workspaces_are_one_line_errors_that_change_nothing() {
    /// What goes wrong, the root package.json, the members (path, package.json).
    type Case<'a> = (&'a str, Value, &'a [(&'a str, Value)]);
    let cases: [Case; 3] = [
        (
            "a pattern that matches nothing",
            json!({"name": "m", "workspaces": ["packages/*", "tools/*"]}),
            &[("packages/a", json!({"name": "a", "version": "1.0.0"}))],
        ),
        (
            "two members with one name",
            json!({"name": "m", "workspaces": ["packages/*"]}),
            &[
                ("packages/a", json!({"name": "same", "version": "1.0.0"})),
                ("packages/b", json!({"name": "same", "version": "1.0.0"})),
            ],
        ),
        (
            "a workspace: range no member satisfies",
            json!({"name": "m", "workspaces": ["packages/*"]}),
            &[
                ("packages/a", json!({"name": "a", "version": "1.0.0"})),
                (
                    "packages/b",
                    json!({"name": "b", "version": "1.0.0", "dependencies": {"a": "workspace:^2.0.0"}}),
                ),
            ],
        ),
    ];
    for (what, root, members) in cases {
        let ctx = TestContext::with_fixtures();
        ctx.package_json(root);
        for (path, manifest) in members {
            ctx.write(&format!("{path}/package.json"), &manifest.to_string());
        }
        let out = ctx.dx(&["install", "--materialize"]);
        assert!(!out.success(), "{what}: {}", out.render());
        let err = out.stderr_text();
        assert_eq!(err.trim().lines().count(), 1, "{what}: {err}");
        assert!(!ctx.path("dx.lock").exists(), "{what}: no dx.lock written");
        assert!(
            !ctx.path("node_modules").exists(),
            "{what}: no node_modules"
        );
        let name = what.replace(' ', "_").replace(':', "");
        crate::snapshot::assert_dx_snapshot!(format!("workspace_error_{name}"), out);
    }
}

#[test]
fn update_latest_moves_a_catalog_entry_for_every_member() {
    let ctx = TestContext::with_fixtures();
    ctx.package_json(json!({"name": "mono", "private": true}));
    ctx.write(
        "pnpm-workspace.yaml",
        "packages:\n  - 'packages/*'\ncatalog:\n  pad: 1.0.0 # pinned for now\n",
    );
    for m in ["a", "b"] {
        ctx.write(
            &format!("packages/{m}/package.json"),
            &json!({"name": m, "version": "1.0.0", "dependencies": {"pad": "catalog:"}})
                .to_string(),
        );
    }
    ctx.dx_ok(&["install", "--materialize"]);
    let out = ctx.dx(&["update", "--latest", "pad"]);
    assert!(out.success(), "{}", out.render());
    assert_eq!(
        ctx.read("pnpm-workspace.yaml"),
        "packages:\n  - 'packages/*'\ncatalog:\n  pad: 1.1.0 # pinned for now\n"
    );
    let a: Value = serde_json::from_str(&ctx.read("packages/a/package.json")).unwrap();
    assert_eq!(
        a["dependencies"]["pad"], "catalog:",
        "members keep their catalog: specifier"
    );
    let pad: Value = serde_json::from_str(&ctx.read("node_modules/pad/package.json")).unwrap();
    assert_eq!(pad["version"], "1.1.0");
}

#[test]
fn file_directories_inside_the_project_get_their_dependencies_installed() {
    let ctx = TestContext::with_fixtures();
    ctx.package_json(json!({"name": "app", "dependencies": {"lib": "file:./libs/lib", "outside": "file:../outside"}}));
    ctx.write(
        "libs/lib/package.json",
        &json!({"name": "lib", "version": "0.1.0", "dependencies": {"pad": "^1.0.0"}}).to_string(),
    );
    ctx.write(
        "../outside/package.json",
        &json!({"name": "outside", "version": "1.0.0", "dependencies": {"util": "^3.0.0"}})
            .to_string(),
    );
    ctx.dx_ok(&["install", "--materialize"]);
    assert_eq!(
        std::fs::read_link(ctx.path("node_modules/lib")).unwrap(),
        Path::new("../libs/lib")
    );
    assert!(
        ctx.path("node_modules/pad/package.json").is_file(),
        "lib's dependency, hoisted"
    );
    // Outside the project: only linked, as npm does (its dependencies are its own business).
    assert_eq!(
        std::fs::read_link(ctx.path("node_modules/outside")).unwrap(),
        Path::new("../../outside")
    );
    assert!(!ctx.path("node_modules/util").exists());
    // lib's manifest changed: the lock is stale, as for a member.
    ctx.write(
        "libs/lib/package.json",
        &json!({"name": "lib", "version": "0.1.0", "dependencies": {"pad": "^1.0.0", "util": "^3.0.0"}}).to_string(),
    );
    assert!(!ctx.dx(&["install", "--frozen-lockfile"]).success());
    ctx.dx_ok(&["install"]);
    assert!(ctx.path("node_modules/util/package.json").is_file());
}

#[test]
fn add_a_directory_saves_it_as_npm_does() {
    let ctx = TestContext::with_fixtures();
    ctx.package_json(json!({"name": "app", "version": "1.0.0"}));
    ctx.write(
        "libs/lib/package.json",
        &json!({"name": "lib", "version": "0.1.0", "dependencies": {"pad": "^1.0.0"}}).to_string(),
    );
    let out = ctx.dx(&["add", "./libs/lib", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    let pj: Value = serde_json::from_str(&ctx.read("package.json")).unwrap();
    assert_eq!(
        pj["dependencies"]["lib"], "file:libs/lib",
        "as npm saves it"
    );
    assert_eq!(
        std::fs::read_link(ctx.path("node_modules/lib")).unwrap(),
        Path::new("../libs/lib")
    );
    assert!(ctx.path("node_modules/pad/package.json").is_file());
    // A path that is not a package directory: one line, nothing changed.
    let out = ctx.dx(&["add", "./nowhere"]);
    assert!(!out.success());
    assert_eq!(
        out.stderr_text().trim().lines().count(),
        1,
        "{}",
        out.render()
    );
    let after: Value = serde_json::from_str(&ctx.read("package.json")).unwrap();
    assert_eq!(after, pj);
}
