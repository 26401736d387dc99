//! Integration tests of dx-store: one test binary, one module per concern. Tests that need a
//! second process re-run this binary with `DX_STORE_TEST_CHILD` set (see `child_process_entry`).

mod batch;
mod concurrency;
mod crash;
mod gc;
mod integrity;
mod support;
mod unpacked;
mod verify;

/// Entry point of child processes; a no-op in a normal test run.
#[test]
fn child_process_entry() {
    support::child::run_if_requested();
}
