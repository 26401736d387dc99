//! Arbitrary bytes as a gzipped tarball, and wrapped in gzip as a raw tar stream, through the
//! DXP builder with small limits; whatever builds must parse and verify.
#![no_main]

use dx_formats::dxp::{BuildLimits, PackageArchive, build_from_tarball, gzip_stored};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = BuildLimits {
        max_unpacked_bytes: 16 << 20,
        max_files: 10_000,
    };
    for input in [data.to_vec(), gzip_stored(data)] {
        if let Ok(built) = build_from_tarball(input.as_slice(), &limits) {
            let archive = PackageArchive::parse(&built.bytes).expect("built archive parses");
            archive.verify().expect("built archive verifies");
        }
    }
});
