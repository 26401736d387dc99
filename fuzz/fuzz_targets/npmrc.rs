//! Arbitrary text as a `.npmrc` (a project's own file is untrusted input to dx): parsing must
//! return settings or an error, never panic; with every variable unset or set.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Path::new(".npmrc");
    let _ = dx_net::config::parse_npmrc(text, origin, &|_| None);
    if let Ok(settings) = dx_net::config::parse_npmrc(text, origin, &|name| Some(name.repeat(2))) {
        for (key, _) in settings {
            assert!(!key.contains('\n'), "a key spans lines: {key:?}");
        }
    }
});
