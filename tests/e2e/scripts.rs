//! Lifecycle scripts at install time and `dx trust`: the project's own scripts run, a
//! dependency's only when trusted, in dependency order; blocked ones are reported.

use serde_json::json;
use std::os::unix::fs::MetadataExt as _;

use crate::snapshot::assert_dx_snapshot;
use crate::support::{TestContext, describe};

fn ran(ctx: &TestContext) -> Vec<String> {
    std::fs::read_to_string(ctx.path("ran.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A project depending on `tool` from the standard fixtures (whose scripts, and those of its
/// dependency `lib`, append `<name>:<event>` to `$INIT_CWD/ran.txt`), trusting `trusted`, with
/// its own scripts logging the same way.
fn context(trusted: &[&str]) -> TestContext {
    let ctx = TestContext::with_fixtures();
    let pj = json!({
        "name": "app", "version": "1.0.0",
        "dependencies": { "tool": "^1.0.0" },
        "trustedDependencies": trusted,
        "scripts": {
            "preinstall": "echo \"$npm_package_name:preinstall\" >> ran.txt",
            "postinstall": "echo \"$npm_package_name:postinstall\" >> ran.txt",
            "prepare": "echo \"$npm_package_name:prepare\" >> ran.txt"
        }
    });
    ctx.write("package.json", &serde_json::to_string_pretty(&pj).unwrap());
    ctx
}

#[test]
fn untrusted_dependency_scripts_are_blocked_and_reported() {
    let ctx = context(&[]);
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(
        out.stdout_text().contains(
            "blocked install scripts of 2 packages: lib, tool (run `dx trust <name>` to allow one)"
        ),
        "{}",
        out.render()
    );
    assert_dx_snapshot!("install_blocks_untrusted_scripts", out);
    assert_eq!(
        ran(&ctx),
        ["app:preinstall", "app:postinstall", "app:prepare"]
    );
    assert!(!ctx.path("node_modules/lib/built.txt").exists());
    // Untrusted packages are hardlinked from the store as usual.
    assert!(
        std::fs::metadata(ctx.path("node_modules/lib/index.js"))
            .unwrap()
            .nlink()
            >= 2
    );

    // `dx trust` lists, then trusts and runs now, in dependency order, and records it.
    assert_eq!(
        ctx.dx_ok(&["trust"]).lines().collect::<Vec<_>>(),
        ["lib", "tool"]
    );
    std::fs::remove_file(ctx.path("ran.txt")).unwrap();
    let out = ctx.dx(&["trust", "tool", "lib"]);
    assert!(
        out.stdout_text()
            .contains("trusted tool, lib (install scripts ran in 2 places)"),
        "{}",
        out.render()
    );
    assert_dx_snapshot!("trust_runs_the_scripts", out);
    assert_eq!(
        ran(&ctx),
        ["lib:postinstall", "tool:preinstall", "tool:install"]
    );
    let pj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ctx.path("package.json")).unwrap()).unwrap();
    assert_eq!(pj["trustedDependencies"], json!(["lib", "tool"]));

    let out = ctx.dx(&["trust", "nothing"]);
    assert!(
        !out.status.success() && out.stderr_text().contains("nothing is not installed"),
        "{}",
        describe(&out)
    );
    assert_dx_snapshot!("trust_not_installed", out);
}

#[test]
fn trusted_scripts_run_at_install_dependencies_first() {
    for materialize in [true, false] {
        let ctx = context(&["lib", "tool"]);
        let mut args = vec!["install"];
        if materialize {
            args.push("--materialize");
        } else if !crate::support::fuse_available(
            "trusted_scripts_run_at_install_dependencies_first",
        ) {
            continue;
        }
        let out = ctx.dx_ok(&args);
        assert!(!out.contains("blocked"), "{out}");
        assert_eq!(
            ran(&ctx),
            [
                "app:preinstall",
                "lib:postinstall",
                "tool:preinstall",
                "tool:install",
                "app:postinstall",
                "app:prepare"
            ],
            "materialize={materialize}"
        );
        assert_eq!(
            std::fs::read_to_string(ctx.path("node_modules/lib/built.txt")).unwrap(),
            "built\n"
        );
        if materialize {
            // A trusted script may rewrite its own files: they are private copies, not store links.
            assert_eq!(
                std::fs::metadata(ctx.path("node_modules/lib/index.js"))
                    .unwrap()
                    .nlink(),
                1
            );
        }
        // --ignore-scripts runs nothing, not even the project's own.
        std::fs::remove_file(ctx.path("ran.txt")).unwrap();
        ctx.dx_ok(&[
            "install",
            "--ignore-scripts",
            if materialize {
                "--materialize"
            } else {
                "--frozen-lockfile"
            },
        ]);
        assert!(ran(&ctx).is_empty(), "{:?}", ran(&ctx));
        if !materialize {
            ctx.dx_ok(&["unmount"]);
        }
    }
}

#[test]
fn a_failing_trusted_script_fails_the_install_naming_it() {
    let ctx = context(&["failing"]);
    ctx.write("package.json", r#"{ "name": "app", "dependencies": { "failing": "1.0.0" }, "trustedDependencies": ["failing"] }"#);
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(!out.status.success());
    assert_dx_snapshot!("failing_trusted_script", out);
    let stderr = out.stderr_text();
    assert!(
        stderr.contains("the postinstall script of failing@1.0.0 failed with exit code 7"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn a_script_rewriting_a_hardlinked_file_changes_only_its_own_project() {
    let as_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    if !as_root {
        // Without root the read-only mode already stops the write (the script fails).
        eprintln!("SKIPPED: root writes through read-only modes; this test needs root");
        return;
    }
    let patcher = crate::fixtures::Package::new("patcher", "1.0.0")
        .manifest(json!({ "scripts": {
            // In place, through whatever inode is there: what `patch-package`-like scripts do.
            "postinstall": "printf 'patched\\n' > ../solo/index.js && chmod 644 ../solo/index.js"
        } }))
        .file("index.js", "\n");
    let first = TestContext::builder().package(patcher).build();
    first.package_json(json!({
        "name": "patched-app", "version": "1.0.0",
        "dependencies": { "patcher": "1.0.0", "solo": "1.0.0" },
        "trustedDependencies": ["patcher"]
    }));
    let other = TestContext::new()
        .with_registry(first.registry_url())
        .sharing_store(&first.store);
    other.package_json(json!({
        "name": "other", "version": "1.0.0", "dependencies": { "solo": "1.0.0" }
    }));
    other.dx_ok(&["install", "--materialize=hardlink"]);
    let solo = |ctx: &TestContext| ctx.path("node_modules/solo/index.js");
    assert!(std::fs::metadata(solo(&other)).unwrap().nlink() >= 2);

    let out = first.dx(&["install", "--materialize=hardlink", "--verbose"]);
    assert!(out.success(), "{}", out.render());
    assert!(
        out.stderr_text()
            .contains("install scripts rewrote 1 hardlinked file(s) (node_modules/solo/index.js)")
            || out.stdout_text().contains(
                "install scripts rewrote 1 hardlinked file(s) (node_modules/solo/index.js)"
            ),
        "{}",
        out.render()
    );
    // The project that ran the script keeps what it wrote, in a file of its own.
    assert_eq!(std::fs::read_to_string(solo(&first)).unwrap(), "patched\n");
    let own = std::fs::metadata(solo(&first)).unwrap();
    assert_eq!(own.nlink(), 1);
    // The other project and the store still hold the package's file, read-only.
    assert_eq!(std::fs::read_to_string(solo(&other)).unwrap(), "1");
    let shared = std::fs::metadata(solo(&other)).unwrap();
    assert_eq!(shared.mode() & 0o777, 0o444);
    let verify: serde_json::Value =
        serde_json::from_str(&other.dx_ok(&["cache", "verify", "--json"])).unwrap();
    for field in ["corrupt", "unpackedRemoved", "unpackedRepaired"] {
        assert_eq!(verify[field], json!([]), "{verify}");
    }
}

#[test]
fn an_in_place_update_runs_only_the_scripts_of_what_it_placed() {
    let ctx = context(&["lib", "tool"]);
    ctx.dx_ok(&["install", "--materialize"]);
    assert!(ran(&ctx).contains(&"lib:postinstall".to_owned()));
    std::fs::remove_file(ctx.path("ran.txt")).unwrap();
    // `lib` and `tool` stay where they were, with what their scripts wrote: npm does not run
    // them again for an unrelated add, and neither does dx.
    let out = ctx.dx_ok(&["add", "solo"]);
    assert!(out.contains("node_modules updated in place"), "{out}");
    let again: Vec<String> = ran(&ctx)
        .into_iter()
        .filter(|line| line.starts_with("lib:") || line.starts_with("tool:"))
        .collect();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/lib/built.txt")).unwrap(),
        "built\n"
    );
}
