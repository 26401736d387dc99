//! Packument JSON from a registry (untrusted): parsing must never panic, and whatever parses
//! must survive its index unchanged.
#![no_main]

use dx_metadata::{Meta, Packument, RawPackument};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = serde_json::from_slice::<RawPackument>(data) else {
        return;
    };
    let p = Packument::from_raw(&raw, &Meta::default());
    assert_eq!(p.to_raw(), raw, "the index changed the document");
});
