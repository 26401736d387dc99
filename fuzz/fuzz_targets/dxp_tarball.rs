//! Arbitrary bytes as a gzipped tarball, and wrapped in gzip as a raw tar stream, through the
//! DXP builder with small limits; whatever builds must parse and verify.
#![no_main]

use dx_formats::dxp::{BuildLimits, PackageArchive, build_from_tarball};
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

/// `data` as a gzip member of stored (uncompressed) deflate blocks, so the fuzzer's bytes
/// reach the tar parser unchanged (no compression crate needed here).
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let len = chunk.len() as u16;
        out.push(u8::from(chunks.peek().is_none()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// CRC-32 (IEEE), bitwise: inputs are small.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}
