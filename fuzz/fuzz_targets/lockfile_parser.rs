//! Arbitrary text into the `dx.lock` parser: it must return, never panic, and whatever it
//! accepts (version 1 or 2) must survive a write (always version 2) and re-read unchanged; the
//! completeness check must not panic either. Text with merge-conflict markers goes through
//! the conflict reader too, whose union must survive the same round trip.
#![no_main]

use dx_formats::lockfile::Lockfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if dx_formats::lockfile::conflict_marker_line(text).is_some()
        && let Ok(merged) = Lockfile::parse_conflicted(text)
    {
        let written = merged.to_text();
        assert_eq!(Lockfile::parse(&written).expect("a merged lock must parse"), merged);
    }
    let Ok(lock) = Lockfile::parse(text) else {
        return;
    };
    let _ = lock.dangling_edges().count();
    let written = lock.to_text();
    let reread = Lockfile::parse(&written).expect("dx.lock written by dx must parse");
    assert_eq!(reread, lock, "parse(to_text(x)) != x");
    assert_eq!(reread.to_text(), written, "to_text is not stable");
});
