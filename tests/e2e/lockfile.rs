//! dx.lock that lost `package` blocks (a bad merge, a truncated file), and version 1 locks.
//!
//! The registry is install.rs's: the root wants `a@^1` and `b@^1`, `a@1.0.0` wants `b@^2`, so
//! dx.lock holds `a@1.0.0`, `b@1.0.0` and `b@2.0.0` (nested under `a`).

use std::path::Path;

use crate::install::{conflict_registry, project_json};
use crate::support::{TestContext, describe, make_writable_and_remove};

/// `text` without the `package <key>` block.
fn without_block(text: &str, key: &str) -> String {
    let head = format!("\npackage {key}\n");
    let start = text.find(&head).expect("the block is in dx.lock") + 1;
    let end = text[start..]
        .find("\n\n")
        .map_or(text.len(), |i| start + i + 1);
    format!("{}{}", &text[..start], &text[end..])
}

/// A project installed once (materialized), with its dx.lock text.
fn installed(ctx: &TestContext) -> String {
    project_json(ctx);
    ctx.dx_ok(&["install", "--materialize"]);
    std::fs::read_to_string(ctx.path("dx.lock")).unwrap()
}

fn remove_tree(ctx: &TestContext) {
    make_writable_and_remove(&ctx.path("node_modules"));
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_complete_tree(project: &Path) {
    let nm = project.join("node_modules");
    for (file, text) in [
        ("b/index.js", "module.exports = 'b1';\n"),
        ("a/node_modules/b/index.js", "module.exports = 'b2';\n"),
        ("a/index.js", "module.exports = 'a+' + require('b');\n"),
    ] {
        assert_eq!(
            std::fs::read_to_string(nm.join(file)).ok().as_deref(),
            Some(text),
            "node_modules/{file}"
        );
    }
}

#[test]
fn dx_lock_records_root_targets() {
    let ctx = TestContext::new();
    let registry = conflict_registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    let lock = installed(&ctx);
    assert!(
        lock.contains(
            "\ndx-lock 3\n\nroot\n  dependency a ^1.0.0 a@1.0.0\n  dependency b ^1.0.0 b@1.0.0\n"
        ),
        "{lock}"
    );
}

#[test]
fn a_lost_package_block_fails_frozen_and_is_repaired_otherwise() {
    let ctx = TestContext::new();
    let registry = conflict_registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    let lock = installed(&ctx);
    let damaged = without_block(&lock, "b@2.0.0");
    assert!(!damaged.contains("package b@2.0.0"), "{damaged}");
    ctx.write("dx.lock", &damaged);
    remove_tree(&ctx);

    // Frozen (by flag or by CI): an error naming the dependent, the edge and the target.
    for ci in [false, true] {
        let mut cmd = if ci {
            ctx.dx_command(&["install", "--materialize"])
        } else {
            ctx.dx_command(&["install", "--frozen-lockfile", "--materialize"])
        };
        if ci {
            cmd.env("CI", "true");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let err = stderr(&out);
        assert!(
            err.contains("dx.lock is incomplete: a@1.0.0 depends on `b` (^2.0.0), locked to `b@2.0.0`, which has no `package` block"),
            "{err}"
        );
        assert!(err.contains("without --frozen-lockfile"), "{err}");
        assert_eq!(
            std::fs::read_to_string(ctx.path("dx.lock")).unwrap(),
            damaged
        );
        assert!(!ctx.path("node_modules").exists(), "nothing installed");
    }

    // `dx list` notices: the missing package on stderr, exit 1.
    let out = ctx.dx(&["list"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("b@2.0.0"), "{}", describe(&out));

    // Not frozen: re-resolved with the rest of the lock kept, the block is back.
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("dx.lock is incomplete"),
        "{}",
        describe(&out)
    );
    assert_eq!(std::fs::read_to_string(ctx.path("dx.lock")).unwrap(), lock);
    assert_complete_tree(&ctx.project);
    let out = ctx.dx(&["list"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stderr(&out), "", "{}", describe(&out));
}

#[test]
fn a_lock_truncated_at_a_block_boundary_fails_frozen_and_is_repaired_otherwise() {
    let ctx = TestContext::new();
    let registry = conflict_registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    let lock = installed(&ctx);
    // Blocks are sorted: cutting before `b@1.0.0` loses both copies of `b`.
    let cut = lock.find("\npackage b@1.0.0\n").unwrap();
    ctx.write("dx.lock", &lock[..cut + 1]);
    remove_tree(&ctx);

    let out = ctx.dx(&["install", "--frozen-lockfile", "--materialize"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("the root project depends on `b` (^1.0.0), locked to `b@1.0.0`, which has no `package` block"),
        "{}",
        describe(&out)
    );

    // `dx list` shows the root's `b` as missing, and fails.
    let out = ctx.dx(&["list"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("UNMET DEPENDENCY b@^1.0.0"),
        "{}",
        describe(&out)
    );

    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(std::fs::read_to_string(ctx.path("dx.lock")).unwrap(), lock);
    assert_complete_tree(&ctx.project);
}

/// The text dx wrote before version 2: no root targets, the old header.
fn as_version_1(lock: &str) -> String {
    let mut out = String::new();
    let mut in_root = false;
    for line in lock.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_root = line == "root";
        }
        let line = match line.strip_prefix("dx-lock ") {
            Some(_) => "dx-lock 1".to_owned(),
            None if in_root && !line.starts_with("  override ") && line.starts_with("  ") => {
                let mut words: Vec<&str> = line.split(' ').collect();
                if words.len() == 6 {
                    words.pop();
                }
                words.join(" ")
            }
            None => line.to_owned(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn a_version_1_lock_still_installs_frozen_and_a_lost_block_is_still_caught() {
    let ctx = TestContext::new();
    let registry = conflict_registry(&ctx.home.join("registry"));
    let ctx = ctx.with_registry(registry.url());
    let lock = installed(&ctx);
    let v1 = as_version_1(&lock);
    assert!(
        v1.contains("\ndx-lock 1\n\nroot\n  dependency a ^1.0.0\n  dependency b ^1.0.0\n"),
        "{v1}"
    );
    ctx.write("dx.lock", &v1);
    remove_tree(&ctx);

    // Frozen: accepted as it is (root targets inferred), the same tree, dx.lock untouched.
    let out = ctx.dx(&["install", "--frozen-lockfile", "--materialize"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_complete_tree(&ctx.project);
    assert_eq!(std::fs::read_to_string(ctx.path("dx.lock")).unwrap(), v1);

    // A version 1 lock that lost a direct dependency's block is caught too.
    ctx.write("dx.lock", &without_block(&v1, "b@1.0.0"));
    remove_tree(&ctx);
    let out = ctx.dx(&["install", "--frozen-lockfile", "--materialize"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains(
            "the root project depends on `b` (^1.0.0), which no `package` block provides"
        ),
        "{}",
        describe(&out)
    );
    // Repaired as version 2.
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(std::fs::read_to_string(ctx.path("dx.lock")).unwrap(), lock);
    assert_complete_tree(&ctx.project);
}
