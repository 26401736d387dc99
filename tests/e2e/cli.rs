//! The command line's contract: help, usage errors, honest "not built yet" answers.

use crate::support::{TestContext, describe};

#[test]
fn help_lists_commands_and_examples() {
    let ctx = TestContext::new();
    let out = ctx.dx_ok(&["--help"]);
    for cmd in ["install", "mount", "cache", "registry"] {
        assert!(out.contains(cmd), "help lacks {cmd}:\n{out}");
    }
    assert!(out.contains("Examples:"), "{out}");
}

#[test]
fn usage_error_exits_2() {
    let ctx = TestContext::new();
    let out = ctx.dx(&["no-such-flag-anywhere", "--frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}
