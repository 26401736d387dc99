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

/// dx.lock after `dx install` of a project depending on `deps` (a fresh directory each time).
fn lock_for(ctx: &TestContext, deps: &str) -> String {
    ctx.write(
        "package.json",
        &format!(r#"{{ "name": "app", "version": "1.0.0", "dependencies": {{ {deps} }} }}"#),
    );
    let _ = std::fs::remove_file(ctx.path("dx.lock"));
    ctx.dx_ok(&["install", "--lockfile-only"]);
    std::fs::read_to_string(ctx.path("dx.lock")).unwrap()
}

/// Two branches each added a dependency; git's merge of their dx.lock has conflict markers
/// (made here with `git merge-file`, as `git merge` writes them).
fn conflicted_project() -> (TestContext, String) {
    let ctx = TestContext::with_fixtures();
    let base = lock_for(&ctx, r#""solo": "^1.0.0""#);
    let ours = lock_for(&ctx, r#""solo": "^1.0.0", "pad": "^1.0.0""#);
    let theirs = lock_for(&ctx, r#""solo": "^1.0.0", "dep-c": "^1.0.0""#);
    let dir = ctx.home.join("merge");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in [("base", &base), ("ours", &ours), ("theirs", &theirs)] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let merged = std::process::Command::new("git")
        .args([
            "merge-file",
            "-p",
            "-L",
            "HEAD",
            "-L",
            "base",
            "-L",
            "feature",
        ])
        .arg(dir.join("ours"))
        .arg(dir.join("base"))
        .arg(dir.join("theirs"))
        .output()
        .expect("run git merge-file");
    let text = String::from_utf8(merged.stdout).unwrap();
    assert!(
        text.contains("<<<<<<< HEAD"),
        "git made no conflict:\n{text}"
    );
    ctx.write("dx.lock", &text);
    // package.json merged cleanly (git merges its lines).
    ctx.write(
        "package.json",
        r#"{ "name": "app", "version": "1.0.0", "dependencies": { "solo": "^1.0.0", "pad": "^1.0.0", "dep-c": "^1.0.0" } }"#,
    );
    (ctx, text)
}

#[test]
fn a_dx_lock_with_merge_conflicts_is_merged_and_resolved_again() {
    let (ctx, _) = conflicted_project();
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    assert!(
        out.stderr_text().contains("dx.lock had merge conflicts"),
        "{}",
        out.render()
    );
    let lock = ctx.read("dx.lock");
    assert!(
        !lock.contains("<<<<<<<") && !lock.contains(">>>>>>>"),
        "{lock}"
    );
    for key in [
        "package solo@1.0.0",
        "package pad@1.1.0",
        "package dep-c@1.0.0",
    ] {
        assert!(lock.contains(key), "{key} in\n{lock}");
    }
    assert_eq!(
        ctx.read("node_modules/pad/index.js"),
        "module.exports = 'pad 1.1.0';\n"
    );
    // The repaired lock is what a fresh resolution writes.
    let fresh = lock_for(
        &ctx,
        r#""solo": "^1.0.0", "pad": "^1.0.0", "dep-c": "^1.0.0""#,
    );
    assert_eq!(lock, fresh);
}

#[test]
fn a_dx_lock_with_merge_conflicts_fails_frozen_and_for_readers_with_the_way_out() {
    let (ctx, text) = conflicted_project();
    let out = ctx.dx_with(&["install"], |cmd| {
        cmd.env("CI", "true");
    });
    out.assert_code(1);
    crate::snapshot::assert_dx_snapshot!("conflicted_lock_frozen", out);
    assert_eq!(
        ctx.read("dx.lock"),
        text,
        "a frozen install must not touch dx.lock"
    );
    let out = ctx.dx(&["list"]);
    out.assert_code(1);
    assert!(
        out.stderr_text().contains("merge conflicts"),
        "{}",
        out.render()
    );
}
