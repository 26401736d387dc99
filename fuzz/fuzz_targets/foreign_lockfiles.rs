//! Arbitrary text into every foreign lockfile importer (package-lock.json, bun.lock,
//! yarn.lock): each must return a result, never panic.
#![no_main]

use dx_migrate::{Format, ImportOptions, import};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let root = serde_json::json!({ "dependencies": { "a": "^1" } });
    let options = ImportOptions {
        root_manifest: &root,
        tarball_url: &|n, v| format!("http://r/{n}-{v}.tgz"),
        members: &[],
    };
    for format in Format::ALL {
        let _ = import("lockfile", format, text, &options);
    }
});
