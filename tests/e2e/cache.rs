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
    let out = ctx.dx_command(&["cache", "dir"]).env_remove("DX_HOME").env("XDG_CACHE_HOME", &xdg).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), xdg.join("dx").display().to_string());
}

#[test]
fn cache_verify_on_an_empty_store_is_clean() {
    let ctx = TestContext::new();
    let out = ctx.dx(&["cache", "verify"]);
    assert!(out.status.success(), "{}", crate::support::describe(&out));
}
