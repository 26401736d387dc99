//! `dx cache dir | verify`.

use crate::support::TestContext;

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
