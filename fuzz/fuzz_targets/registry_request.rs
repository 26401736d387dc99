//! Arbitrary request text against the registry server's request parsing (method, path, search
//! query, audit body): never a panic, and every package name and tarball file name it yields
//! stays inside the served directory when joined to it.
#![no_main]

use std::path::{Component, Path};

use dx_net::server::request::{Route, is_served_name, parse_audit_body, parse_search_query};
use libfuzzer_sys::fuzz_target;

/// Joined to a directory, `rel` names something inside it.
fn stays_inside(rel: &str) -> bool {
    Path::new(rel)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let method = match selector % 4 {
        0 => "GET",
        1 => "HEAD",
        2 => "POST",
        _ => "PUT",
    };
    let text = String::from_utf8_lossy(rest);
    match Route::parse(method, &text) {
        Route::Tarball { name, file } => {
            assert!(is_served_name(&name), "{name:?}");
            assert!(stays_inside(&name) && stays_inside(&file), "{name:?} {file:?}");
            assert!(!file.contains('/'), "{file:?}");
        }
        Route::Packument { name } | Route::Version { name, .. } => {
            assert!(is_served_name(&name) && stays_inside(&name), "{name:?}");
        }
        _ => {}
    }
    let (_, size) = parse_search_query(Some(&text));
    assert!((1..=250).contains(&size));
    let _ = parse_audit_body(selector & 0x80 != 0, rest);
});
