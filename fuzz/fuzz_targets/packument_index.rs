//! The packument index reader (`dx_metadata::index`) on arbitrary bytes: opening must never
//! panic; an index that opens must answer every query without panicking. Bytes are tried both
//! as they are and resealed with a correct checksum, so the structural checks behind the
//! checksum are reached too.
#![no_main]

use dx_metadata::{IndexBytes, Packument};
use libfuzzer_sys::fuzz_target;

const HEADER_LEN: usize = dx_metadata::index::HEADER_LEN;

fn exercise(bytes: Vec<u8>) {
    let Ok(p) = Packument::open(IndexBytes::Owned(bytes), None) else {
        return;
    };
    let _ = p.meta();
    let versions: Vec<String> = p.versions().map(|e| e.version.to_owned()).collect();
    for v in &versions {
        let _ = p.entry(v);
        let _ = p.manifest(v);
    }
    for tagged in p.dist_tags.values() {
        let _ = p.manifest(tagged);
    }
}

fuzz_target!(|data: &[u8]| {
    exercise(data.to_vec());
    // The same bytes behind a valid header: magic, format, length, and the checksum of the
    // head (the bytes before the manifests offset, directory word 6).
    let head_end = data
        .get(24..28)
        .map_or(data.len(), |w| {
            u32::from_le_bytes(w.try_into().unwrap()) as usize
        })
        .min(data.len());
    let mut sealed = Vec::with_capacity(HEADER_LEN + data.len());
    sealed.extend_from_slice(&dx_metadata::index::MAGIC);
    sealed.extend_from_slice(&dx_metadata::index::FORMAT_VERSION.to_le_bytes());
    sealed.extend_from_slice(&(data.len() as u64).to_le_bytes());
    sealed.extend_from_slice(&xxhash_rust::xxh3::xxh3_128(&data[..head_end]).to_le_bytes());
    sealed.extend_from_slice(data);
    exercise(sealed);
});
