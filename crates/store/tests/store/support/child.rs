//! Child processes: the test binary re-run with `DX_STORE_TEST_CHILD=<mode>` and only the
//! `child_process_entry` test selected.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use dx_store::Store;

use super::{package_with_blob, sha512};

const MODE_VAR: &str = "DX_STORE_TEST_CHILD";
const ROOT_VAR: &str = "DX_STORE_TEST_ROOT";
const SEED_VAR: &str = "DX_STORE_TEST_SEED";

/// Packages the children insert.
pub const PACKAGE_COUNT: u32 = 24;

/// Starts this test binary as a child in `mode` against the store at `root`.
pub fn spawn(mode: &str, root: &Path, seed: u64) -> Child {
    let exe = std::env::current_exe().unwrap();
    Command::new(exe)
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(MODE_VAR, mode)
        .env(ROOT_VAR, root)
        .env(SEED_VAR, seed.to_string())
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Does the work of a child when this process is one.
pub fn run_if_requested() {
    let Ok(mode) = std::env::var(MODE_VAR) else {
        return;
    };
    let root = std::env::var_os(ROOT_VAR).unwrap();
    let seed: u64 = std::env::var(SEED_VAR).unwrap().parse().unwrap();
    // A killed child cannot report a failure through its exit status, so a panic leaves a
    // marker the parent checks.
    let marker = failure_marker(Path::new(&root));
    let result = std::panic::catch_unwind(|| work(&mode, &root, seed));
    if let Err(panic) = result {
        let _ = std::fs::write(&marker, b"");
        std::panic::resume_unwind(panic);
    }
}

/// Present when a child failed.
pub fn failure_marker(root: &Path) -> std::path::PathBuf {
    root.join("child-failed")
}

fn work(mode: &str, root: &std::ffi::OsStr, seed: u64) {
    let store = Store::open(root).unwrap();
    match mode {
        // Insert every package once, in an order that depends on the seed.
        "insert-all" => {
            for i in 0..PACKAGE_COUNT {
                let n = (i + seed as u32) % PACKAGE_COUNT;
                insert(&store, n);
            }
        }
        // Insert and unpack packages until killed.
        "insert-forever" => {
            announce_ready();
            let mut n = seed as u32;
            loop {
                n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let which = (n >> 8) % PACKAGE_COUNT;
                let hash = insert(&store, which);
                if which.is_multiple_of(3) {
                    store.unpacked(&hash).unwrap();
                }
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

/// Size of the incompressible part of the children's packages.
const BLOB_LEN: usize = 1 << 20;

/// The bytes of the package number `n` children insert.
pub fn child_package(n: u32) -> Vec<u8> {
    package_with_blob(&format!("pkg-{n}"), n, BLOB_LEN)
}

/// Inserts package number `n` with a sha512 integrity of its own bytes.
pub fn insert(store: &Store, n: u32) -> dx_formats::hash::ContentHash {
    let bytes = child_package(n);
    store.put_archive(&bytes, Some(&sha512(&bytes))).unwrap()
}

/// Tells the parent (waiting in [`wait_until_ready`]) that the child is past start-up.
fn announce_ready() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(b"ready\n").unwrap();
    out.flush().unwrap();
}

/// Waits until a child started with [`spawn`] has opened the store and begins inserting, so a
/// kill lands in its work and not in process start-up.
pub fn wait_until_ready(child: &mut Child) {
    use std::io::BufRead;
    let stdout = child.stdout.as_mut().unwrap();
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    // libtest prints its own lines too; ours is the one that says "ready".
    while reader.read_line(&mut line).unwrap() > 0 {
        if line.trim_end().ends_with("ready") {
            return;
        }
        line.clear();
    }
    panic!("child exited before it was ready");
}
