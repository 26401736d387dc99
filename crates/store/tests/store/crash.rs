//! Crash consistency: children inserting packages are SIGKILLed at random points, many times;
//! the store must stay consistent and every package must insert again afterwards.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dx_store::Store;

use crate::support::{child, foreign_temp_entries, sha512};

const ROUNDS: u64 = 30;

#[test]
fn sigkilled_inserts_leave_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let mut rng = seed | 1;
    let mut next = || {
        // xorshift64: reproducible from the printed seed.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..ROUNDS {
        // Two children at once, so kills also land while another process is mid-insert.
        let mut a = child::spawn("insert-forever", dir.path(), next());
        let mut b = child::spawn("insert-forever", dir.path(), next());
        child::wait_until_ready(&mut a);
        child::wait_until_ready(&mut b);
        // Random points in the insert loop (an insert of these packages takes milliseconds).
        std::thread::sleep(Duration::from_millis(next() % 150));
        a.kill().unwrap();
        std::thread::sleep(Duration::from_millis(next() % 5));
        b.kill().unwrap();
        let (sa, sb) = (a.wait().unwrap(), b.wait().unwrap());
        // A child that exited on its own would have panicked: its failure is the store's.
        assert!(
            sa.code().is_none() && sb.code().is_none(),
            "round {round}: a child failed: {sa:?} {sb:?}"
        );
        // Checked after every round: a later round would otherwise repair damage by inserting
        // the same package again.
        assert_consistent(dir.path(), round);
    }

    assert!(
        !child::failure_marker(dir.path()).exists(),
        "a child failed before it was killed"
    );

    let store = Store::open(dir.path()).unwrap();
    assert!(
        store.stats().unwrap().archives.entries > 0,
        "no child got far enough to insert anything"
    );

    for n in 0..child::PACKAGE_COUNT {
        let bytes = child::child_package(n);
        let hash = store.put_archive(&bytes, Some(&sha512(&bytes))).unwrap();
        assert_eq!(store.lookup_integrity(&sha512(&bytes)).unwrap(), Some(hash));
        store.unpacked(&hash).unwrap();
    }
    assert!(store.verify().unwrap().is_clean());
}

/// The store after a round of kills: no temp leftovers once reopened, nothing for verify to
/// repair.
fn assert_consistent(root: &std::path::Path, round: u64) {
    // The next open cleans the dead processes' temp files.
    let store = Store::open(root).unwrap();
    assert_eq!(
        foreign_temp_entries(root),
        0,
        "round {round}: temp files left behind"
    );
    let report = store.verify().unwrap();
    assert!(
        report.corrupt.is_empty(),
        "round {round}: corrupt archives: {:?}",
        report.corrupt
    );
    assert_eq!(
        report.index_entries_removed, 0,
        "round {round}: an index entry pointed at a missing archive"
    );
    assert!(
        report.unpacked_removed.is_empty(),
        "round {round}: bad unpacked trees: {:?}",
        report.unpacked_removed
    );
}
