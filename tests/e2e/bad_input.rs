//! Bad input in the project, as a careless user or a hostile package brings it: broken
//! package.json, a dx.lock with merge-conflict markers, invalid ranges, cycles, names and bins
//! that try to leave node_modules, names that differ only in case or Unicode normalization,
//! deep paths. Each gets a clear error or installs as npm would, and nothing is written outside
//! the project and the store.

use serde_json::json;

use crate::fixtures::Package;
use crate::snapshot::assert_dx_snapshot;
use crate::support::{TestContext, exists_no_follow};

#[test]
fn a_package_json_syntax_error_names_the_file_line_and_column() {
    let ctx = TestContext::with_fixtures();
    ctx.write(
        "package.json",
        "{\n  \"name\": \"app\",\n  \"dependencies\": {\n    \"a\": \"^1.0.0\",\n  }\n}\n",
    );
    let out = ctx.dx(&["install"]);
    out.assert_code(1);
    let err = out.stderr_text();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("package.json") && err.contains("line 5"),
        "{err}"
    );
    assert_dx_snapshot!("package_json_syntax_error", out);
    assert!(!ctx.path("dx.lock").exists());
    assert!(!exists_no_follow(&ctx.path("node_modules")));
}

#[test]
fn an_invalid_range_names_the_dependency() {
    let ctx = TestContext::with_fixtures();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "a": "^^1.x.y" } }"#,
    );
    let out = ctx.dx(&["install"]);
    out.assert_code(1);
    let err = out.stderr_text();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("^^1.x.y") && err.contains('a'), "{err}");
    assert_dx_snapshot!("invalid_range", out);
    assert!(!ctx.path("dx.lock").exists());
}

#[test]
fn a_dependency_cycle_installs_as_npm_lays_it_out() {
    let ctx = TestContext::builder()
        .package(
            Package::new("cyc-a", "1.0.0")
                .manifest(json!({ "main": "index.js", "dependencies": { "cyc-b": "^1.0.0" } }))
                .exporting("cyc-a"),
        )
        .package(
            Package::new("cyc-b", "1.0.0")
                .manifest(json!({ "main": "index.js", "dependencies": { "cyc-a": "^1.0.0" } }))
                .exporting("cyc-b"),
        )
        .build();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "cyc-a": "^1.0.0" } }"#,
    );
    ctx.dx_ok(&["install", "--materialize"]);
    for name in ["cyc-a", "cyc-b"] {
        assert_eq!(
            ctx.read(&format!("node_modules/{name}/index.js")),
            format!("module.exports = '{name}';\n")
        );
    }
    assert!(!ctx.path("node_modules/cyc-b/node_modules").exists());
    // The lock round-trips: a frozen install of it is a no-op.
    ctx.dx_ok(&["install", "--materialize", "--frozen-lockfile"]);
    let out = ctx.dx(&["why", "cyc-a"]);
    assert!(out.success(), "{}", out.render());
}

#[test]
fn dependency_names_that_leave_node_modules_are_refused() {
    for name in [
        "../evil",
        "/etc/evil",
        "a/../../evil",
        "node_modules",
        ".bin",
        "@x/../evil",
    ] {
        let ctx = TestContext::with_fixtures();
        ctx.package_json(json!({ "name": "app", "dependencies": { name: "^1.0.0" } }));
        let out = ctx.dx(&["install", "--materialize"]);
        out.assert_code(1);
        let err = out.stderr_text();
        assert_eq!(err.trim().lines().count(), 1, "{name}: one line: {err}");
        assert!(err.contains(name), "{name}: {err}");
        assert!(!exists_no_follow(&ctx.path("node_modules")), "{name}");
        assert!(
            !ctx.project.parent().unwrap().join("evil").exists(),
            "{name}"
        );
        if name == "../evil" {
            assert_dx_snapshot!("dependency_name_leaves_node_modules", out);
        }
    }
}

#[test]
fn bins_that_point_outside_their_package_are_not_linked() {
    let ctx = TestContext::builder()
        .package(
            Package::new("sneaky", "1.0.0")
                .manifest(json!({
                    "bin": {
                        "../../../outside-bin": "cli.js",
                        "ok-bin": "cli.js",
                        "passwd": "../../../../../etc/passwd",
                        "abs": "/etc/passwd"
                    }
                }))
                .file("cli.js", "#!/bin/sh\necho ok\n"),
        )
        .package(
            Package::new("sneaky-dir", "1.0.0")
                .manifest(json!({ "directories": { "bin": "../../.." } }))
                .file("index.js", "module.exports = 1;\n"),
        )
        .build();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "sneaky": "1.0.0", "sneaky-dir": "1.0.0" } }"#,
    );
    ctx.dx_ok(&["install", "--materialize"]);
    let bin = ctx.path("node_modules/.bin");
    let mut linked: Vec<String> = std::fs::read_dir(&bin)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    linked.sort();
    // As npm normalizes bins: the traversing name is reduced to its basename, the targets
    // outside the package are resolved inside it (`/etc/passwd` → `<package>/etc/passwd`,
    // which does not exist), and directories.bin outside the package links nothing.
    assert_eq!(linked, ["abs", "ok-bin", "outside-bin", "passwd"]);
    let package = ctx.path("node_modules/sneaky");
    for name in &linked {
        let target = std::fs::read_link(bin.join(name)).unwrap();
        // Lexically, as the kernel resolves the link (no `..` may climb out of the package).
        let mut resolved = bin.clone();
        for part in target.components() {
            match part {
                std::path::Component::ParentDir => {
                    resolved.pop();
                }
                std::path::Component::Normal(p) => resolved.push(p),
                other => panic!("{name} -> {}: {other:?}", target.display()),
            }
        }
        assert!(
            resolved.starts_with(&package),
            "{name} -> {}",
            target.display()
        );
    }
    assert_eq!(ctx.read("node_modules/.bin/ok-bin"), "#!/bin/sh\necho ok\n");
    assert!(
        !std::fs::exists(bin.join("abs")).unwrap(),
        "dangling inside the package"
    );
    assert!(!ctx.project.parent().unwrap().join("outside-bin").exists());
}

#[test]
fn file_names_differing_only_in_case_or_normalization_are_kept_apart() {
    let nfc = "caf\u{e9}.txt";
    let nfd = "cafe\u{301}.txt";
    let ctx = TestContext::builder()
        .package(
            Package::new("names", "1.0.0")
                .file("File.txt", "upper\n")
                .file("file.txt", "lower\n")
                .file(nfc, "nfc\n")
                .file(nfd, "nfd\n"),
        )
        .package(Package::new("Names-Case", "1.0.0").file("x.txt", "upper package\n"))
        .package(Package::new("names-case", "1.0.0").file("x.txt", "lower package\n"))
        .build();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "names": "1.0.0", "Names-Case": "1.0.0", "names-case": "1.0.0" } }"#,
    );
    for mode in ["--materialize", "--no-materialize"] {
        if mode == "--no-materialize"
            && !crate::support::fuse_available("file_names_differing_only_in_case")
        {
            continue;
        }
        ctx.dx_ok(&["install", mode]);
        let read = |rel: &str| ctx.read(&format!("node_modules/{rel}"));
        assert_eq!(read("names/File.txt"), "upper\n", "{mode}");
        assert_eq!(read("names/file.txt"), "lower\n", "{mode}");
        assert_eq!(read(&format!("names/{nfc}")), "nfc\n", "{mode}");
        assert_eq!(read(&format!("names/{nfd}")), "nfd\n", "{mode}");
        assert_eq!(read("Names-Case/x.txt"), "upper package\n", "{mode}");
        assert_eq!(read("names-case/x.txt"), "lower package\n", "{mode}");
    }
}

#[test]
fn deep_paths_install_and_overlong_names_fail_naming_the_file() {
    let deep: String = (0..40).map(|i| format!("d{i}/")).collect::<String>() + "leaf.txt";
    let ctx = TestContext::builder()
        .package(Package::new("deep", "1.0.0").file(&deep, "leaf\n"))
        .package(Package::new("long-name", "1.0.0").file(&"n".repeat(300), "x\n"))
        .build();
    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "deep": "1.0.0" } }"#,
    );
    ctx.dx_ok(&["install", "--materialize"]);
    assert_eq!(ctx.read(&format!("node_modules/deep/{deep}")), "leaf\n");

    ctx.write(
        "package.json",
        r#"{ "name": "app", "dependencies": { "deep": "1.0.0", "long-name": "1.0.0" } }"#,
    );
    let before = std::fs::read(ctx.path("dx.lock")).unwrap();
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    let err = out.stderr_text();
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("long-name@1.0.0"), "{err}");
    assert_dx_snapshot!("overlong_file_name", out);
    assert_eq!(std::fs::read(ctx.path("dx.lock")).unwrap(), before);
    assert_eq!(ctx.read(&format!("node_modules/deep/{deep}")), "leaf\n");
}
