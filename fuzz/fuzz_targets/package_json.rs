//! Arbitrary bytes as package.json (a project's or a dependency's): the manifest parser and
//! the specifier parser over every dependency it yields must return, never panic.
#![no_main]

use dx_resolve::PackageJson;
use dx_resolve::spec::DependencySpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = PackageJson::parse(text) else {
        return;
    };
    for (name, spec) in manifest
        .dependencies
        .iter()
        .chain(&manifest.dev_dependencies)
        .chain(&manifest.optional_dependencies)
        .chain(&manifest.peer_dependencies)
    {
        let _ = dx_resolve::name::validate_dependency_name(name);
        let _ = DependencySpec::parse(name, spec);
    }
});
