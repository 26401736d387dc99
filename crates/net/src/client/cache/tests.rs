//! The binary cache form: round trips (examples and proptest), the reduction of JSON-valued
//! fields, and damaged or hostile files failing as misses without panicking.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::decode::{CacheDecodeError, decode};
use super::encode::{encode, write_varint};
use super::{CachedPackument, FORMAT_VERSION, HEADER_LEN, MAGIC, PackumentCache};
use crate::client::packument::{Dist, PackageVersion, Packument, PeerDependencyMeta};

const REGISTRY: &str = "http://127.0.0.1:4873";

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A packument using every field, with escaped and non-ASCII strings.
fn sample() -> Packument {
    let full = PackageVersion {
        name: "@scope/pkg".into(),
        version: "2.0.0-beta.1".into(),
        dependencies: map(&[("a", "^1.0.0"), ("b", "npm:c@~2"), ("ü", ">=1 <2")]),
        optional_dependencies: map(&[("fsevents", "*")]),
        peer_dependencies: map(&[("react", "^18 || ^19")]),
        peer_dependencies_meta: [
            ("react".to_owned(), PeerDependencyMeta { optional: true }),
            ("vue".to_owned(), PeerDependencyMeta { optional: false }),
        ]
        .into(),
        bin: Some(json!({ "pkg": "bin/cli.js", "pkg-x": "bin/x.js" })),
        directories: Some(json!({ "bin": "./bin" })),
        engines: Some(json!({ "node": ">=18" })),
        os: vec!["linux".into(), "!win32".into()],
        cpu: vec!["x64".into()],
        libc: vec!["glibc".into()],
        deprecated: Some("use \"other\" ✓".into()),
        has_install_script: true,
        bundle_dependencies: Some(json!(["a"])),
        dist: Dist {
            tarball: "http://127.0.0.1:4873/@scope/pkg/-/pkg-2.0.0-beta.1.tgz".into(),
            integrity: Some("sha512-AAAA".into()),
            shasum: Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d".into()),
        },
    };
    let minimal = PackageVersion {
        name: "@scope/pkg".into(),
        version: "1.0.0".into(),
        bin: Some(json!("cli.js")),
        bundle_dependencies: Some(json!(true)),
        dist: Dist {
            tarball: "http://127.0.0.1:4873/@scope/pkg/-/pkg-1.0.0.tgz".into(),
            ..Dist::default()
        },
        ..PackageVersion::default()
    };
    Packument {
        name: "@scope/pkg".into(),
        dist_tags: map(&[("latest", "1.0.0"), ("next", "2.0.0-beta.1")]),
        versions: [
            ("1.0.0".to_owned(), minimal),
            ("2.0.0-beta.1".to_owned(), full),
        ]
        .into(),
        modified: Some("2024-01-01T00:00:00.000Z".into()),
    }
}

fn sample_entry() -> CachedPackument {
    CachedPackument::new(
        Some("\"etag-1\"".into()),
        Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
        sample(),
    )
}

/// `body` behind a correct header, to reach the structural checks past the checksum.
fn with_header(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_128(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn varints(values: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    for &v in values {
        write_varint(&mut out, v);
    }
    out
}

#[test]
fn every_field_round_trips() {
    let entry = sample_entry();
    assert_eq!(entry.packument, sample(), "the sample is already reduced");
    let bytes = encode(REGISTRY, "@scope/pkg", &entry);
    assert_eq!(&bytes[..4], b"DXPK");
    assert_eq!(decode(&bytes, REGISTRY, "@scope/pkg"), Ok(entry));
}

#[test]
fn encoding_is_deterministic_and_shares_repeated_strings() {
    let entry = sample_entry();
    let bytes = encode(REGISTRY, "@scope/pkg", &entry);
    assert_eq!(bytes, encode(REGISTRY, "@scope/pkg", &entry));
    // "@scope/pkg" is the requested name, the packument's name and both versions' names.
    let needle = b"@scope/pkg";
    let occurrences = bytes.windows(needle.len()).filter(|w| w == needle).count();
    // Once on its own, plus inside the two tarball URLs.
    assert_eq!(occurrences, 3);
}

#[test]
fn json_valued_fields_are_reduced_to_concrete_shapes() {
    let mut packument = sample();
    let odd = PackageVersion {
        bin: Some(json!({ "ok": "a.js", "bad": 3 })),
        directories: Some(json!({ "lib": "lib", "bin": 7 })),
        engines: Some(json!(["node >= 0.4"])),
        bundle_dependencies: Some(json!(false)),
        ..PackageVersion::default()
    };
    let numbered = PackageVersion {
        bin: Some(json!(12)),
        directories: Some(json!({ "bin": "b", "man": "m" })),
        engines: Some(json!({ "node": ">=4", "npm": 3 })),
        bundle_dependencies: Some(json!(["x", 1, "y"])),
        ..PackageVersion::default()
    };
    packument.versions.insert("3.0.0".into(), odd);
    packument.versions.insert("4.0.0".into(), numbered);
    let entry = CachedPackument::new(None, None, packument);
    let odd = &entry.packument.versions["3.0.0"];
    assert_eq!(odd.bin, Some(json!({ "ok": "a.js" })));
    assert_eq!(odd.directories, None);
    assert_eq!(odd.engines, None);
    assert_eq!(odd.bundle_dependencies, None);
    let numbered = &entry.packument.versions["4.0.0"];
    assert_eq!(numbered.bin, None);
    assert_eq!(numbered.directories, Some(json!({ "bin": "b" })));
    assert_eq!(numbered.engines, Some(json!({ "node": ">=4" })));
    assert_eq!(numbered.bundle_dependencies, Some(json!(["x", "y"])));
    let bytes = encode(REGISTRY, "@scope/pkg", &entry);
    assert_eq!(decode(&bytes, REGISTRY, "@scope/pkg"), Ok(entry));
}

#[test]
fn every_truncation_is_a_clean_error() {
    let bytes = encode(REGISTRY, "@scope/pkg", &sample_entry());
    for len in 0..bytes.len() {
        let err = decode(&bytes[..len], REGISTRY, "@scope/pkg").unwrap_err();
        if len < HEADER_LEN {
            assert_eq!(err, CacheDecodeError::TooShort { len });
        } else {
            assert!(
                matches!(err, CacheDecodeError::LengthMismatch { .. }),
                "{len}: {err}"
            );
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        decode(&longer, REGISTRY, "@scope/pkg"),
        Err(CacheDecodeError::LengthMismatch { .. })
    ));
}

#[test]
fn every_byte_flip_is_detected() {
    let bytes = encode(REGISTRY, "@scope/pkg", &sample_entry());
    for i in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= mask;
            let err = decode(&damaged, REGISTRY, "@scope/pkg").unwrap_err();
            let expected_kind = match i {
                0..4 => matches!(err, CacheDecodeError::BadMagic { .. }),
                4..8 => matches!(err, CacheDecodeError::UnsupportedFormat { .. }),
                8..16 => matches!(err, CacheDecodeError::LengthMismatch { .. }),
                _ => err == CacheDecodeError::ChecksumMismatch,
            };
            assert!(expected_kind, "byte {i} ^ {mask:#x}: {err}");
        }
    }
}

#[test]
fn an_entry_for_another_package_or_registry_is_refused() {
    let bytes = encode(REGISTRY, "@scope/pkg", &sample_entry());
    for (registry, package) in [(REGISTRY, "other"), ("http://127.0.0.1:1", "@scope/pkg")] {
        assert!(matches!(
            decode(&bytes, registry, package),
            Err(CacheDecodeError::WrongEntry { .. })
        ));
    }
}

#[test]
fn hostile_bodies_with_valid_checksums_fail_cleanly() {
    use CacheDecodeError as E;
    type Expect = fn(&CacheDecodeError) -> bool;
    let one_x = || [varints(&[1, 1]), b"x".to_vec(), varints(&[1])].concat();
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("empty body", vec![], |e| matches!(e, E::Truncated { .. })),
        (
            "string count beyond the file",
            varints(&[u64::MAX, 0]),
            |e| matches!(e, E::ImplausibleCount { .. }),
        ),
        (
            "byte count beyond the file",
            varints(&[1, 1 << 40, 1]),
            |e| matches!(e, E::ImplausibleCount { .. }),
        ),
        (
            "lengths exceed the bytes",
            [varints(&[1, 1]), b"x".to_vec(), varints(&[5])].concat(),
            |e| matches!(e, E::BadStringTable { .. }),
        ),
        (
            "lengths fall short",
            [varints(&[1, 2]), b"xy".to_vec(), varints(&[1])].concat(),
            |e| matches!(e, E::BadStringTable { .. }),
        ),
        (
            "not UTF-8",
            [varints(&[1, 1]), vec![0xff], varints(&[1])].concat(),
            |e| matches!(e, E::BadStringTable { .. }),
        ),
        (
            "split character",
            [varints(&[2, 2]), "é".as_bytes().to_vec(), varints(&[1, 1])].concat(),
            |e| matches!(e, E::BadStringTable { .. }),
        ),
        (
            "more lengths than bytes left",
            [varints(&[3, 1]), b"x".to_vec(), varints(&[1])].concat(),
            |e| {
                matches!(
                    e,
                    E::ImplausibleCount {
                        what: "string lengths",
                        ..
                    }
                )
            },
        ),
        ("overlong integer", vec![0xff; 11], |e| {
            matches!(e, E::BadInteger { .. })
        }),
        (
            "string index beyond the table",
            [one_x(), varints(&[0, 9])].concat(),
            |e| matches!(e, E::BadStringIndex { index: 9, .. }),
        ),
        (
            "version count beyond the file",
            [one_x(), varints(&[0, 0, 0, 0, 0, 0, 0, u64::MAX])].concat(),
            |e| {
                matches!(
                    e,
                    E::ImplausibleCount {
                        what: "versions",
                        ..
                    }
                )
            },
        ),
        (
            "peer flag that is not 0 or 1",
            [
                one_x(),
                varints(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 2]),
            ]
            .concat(),
            |e| {
                matches!(e, E::InVersion { source, .. }
                    if matches!(**source, E::BadTag { what: "peerDependenciesMeta.optional", tag: 2, .. }))
            },
        ),
    ];
    for (what, body, expected) in cases {
        let result = decode(&with_header(&body), "x", "x");
        match result {
            Err(err) => assert!(expected(&err), "{what}: unexpected {err:?}"),
            Ok(entry) => panic!("{what} decoded: {entry:?}"),
        }
    }
}

#[test]
fn unknown_tags_and_trailing_bytes_are_refused() {
    let mut entry = sample_entry();
    entry.packument.versions.retain(|k, _| k == "1.0.0");
    let bytes = encode(REGISTRY, "@scope/pkg", &entry);
    let mut trailing = bytes[HEADER_LEN..].to_vec();
    trailing.push(0);
    assert_eq!(
        decode(&with_header(&trailing), REGISTRY, "@scope/pkg"),
        Err(CacheDecodeError::TrailingBytes { extra: 1 })
    );
    // The last version's record ends: bundle tag (BUNDLE_ALL = 1), tarball, integrity 0,
    // shasum 0. Make the bundle tag unknown.
    let mut body = bytes[HEADER_LEN..].to_vec();
    let n = body.len();
    assert_eq!(&body[n - 2..], &[0, 0]);
    assert_eq!(body[n - 4], 1, "bundle tag before a one-byte tarball index");
    body[n - 4] = 9;
    let err = decode(&with_header(&body), REGISTRY, "@scope/pkg").unwrap_err();
    let CacheDecodeError::InVersion { version, source } = err else {
        panic!("{err}")
    };
    assert_eq!(version, "1.0.0");
    assert!(matches!(*source, CacheDecodeError::BadTag { tag: 9, .. }));
}

#[test]
fn the_cache_directory_keeps_dotted_names_apart_and_drops_format_1_files() {
    let dir = tempfile::tempdir().unwrap();
    let cache = PackumentCache::new(dir.path());
    let mut entry = sample_entry();
    let legacy = cache.file(REGISTRY, "lodash.merge", "json");
    std::fs::create_dir_all(legacy.parent().unwrap()).unwrap();
    std::fs::write(&legacy, b"{}").unwrap();
    entry.packument.name = "lodash.merge".into();
    cache.store(REGISTRY, "lodash.merge", &entry);
    entry.packument.name = "lodash.mergewith".into();
    cache.store(REGISTRY, "lodash.mergewith", &entry);
    assert!(!legacy.exists(), "the format-1 JSON entry is removed");
    let merge = cache.load(REGISTRY, "lodash.merge").unwrap();
    assert_eq!(merge.packument.name, "lodash.merge");
    assert_eq!(
        cache
            .load(REGISTRY, "lodash.mergewith")
            .unwrap()
            .packument
            .name,
        "lodash.mergewith"
    );
    assert!(
        cache
            .path(REGISTRY, "lodash.merge")
            .to_string_lossy()
            .ends_with("lodash.merge.dxpk")
    );
    // Damaged on disk: a miss that says which file and why.
    let path = cache.path(REGISTRY, "lodash.merge");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(cache.load(REGISTRY, "lodash.merge").is_none());
    let err = cache.try_load(REGISTRY, "lodash.merge").unwrap_err();
    assert!(err.to_string().contains("lodash.merge.dxpk"), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
}

#[test]
fn entries_larger_than_the_first_read_load_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cache = PackumentCache::new(dir.path());
    let mut entry = sample_entry();
    let template = entry.packument.versions["2.0.0-beta.1"].clone();
    for i in 0..200 {
        let mut v = template.clone();
        v.version = format!("3.0.{i}");
        v.dist.tarball = format!("http://127.0.0.1:4873/x/-/x-3.0.{i}.tgz");
        entry.packument.versions.insert(v.version.clone(), v);
    }
    cache.store(REGISTRY, "x", &entry);
    let path = cache.path(REGISTRY, "x");
    assert!(std::fs::metadata(&path).unwrap().len() > 3 * 4096);
    assert_eq!(cache.try_load(REGISTRY, "x").unwrap(), entry);
    // Truncated after the first read's worth: a miss.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(5000);
    std::fs::write(&path, &bytes).unwrap();
    assert!(cache.load(REGISTRY, "x").is_none());
    cache.store(REGISTRY, "x", &entry);
    // Appended bytes are seen: the reads return more than the header declares.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"tail");
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        cache.try_load(REGISTRY, "x"),
        Err(super::CacheLoadError::Decode {
            source: CacheDecodeError::LengthMismatch { .. },
            ..
        })
    ));
}

#[test]
fn paths_escape_like_urls_and_keep_registries_apart() {
    let cache = PackumentCache::new(std::path::Path::new("/m"));
    let a = cache.path(REGISTRY, "@s/n.x");
    assert!(a.starts_with("/m/packuments"));
    assert_eq!(
        a.file_name().unwrap().to_str().unwrap(),
        format!("{}.dxpk", crate::client::escape_package_name("@s/n.x"))
    );
    let b = cache.path("http://127.0.0.1:1", "@s/n.x");
    assert_ne!(a.parent(), b.parent());
    // The memo follows the registry asked for, back and forth.
    assert_eq!(cache.path(REGISTRY, "@s/n.x"), a);
    assert_eq!(cache.path("http://127.0.0.1:1", "@s/n.x"), b);
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,10}"
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(text(), text(), 0..4)
}

fn pairs_object() -> impl Strategy<Value = Value> {
    prop::collection::vec((text(), text()), 0..3).prop_map(|pairs| {
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    })
}

fn version() -> impl Strategy<Value = PackageVersion> {
    let bin = prop_oneof![
        Just(None),
        text().prop_map(|s| Some(Value::String(s))),
        pairs_object().prop_map(Some),
    ];
    let bundle = prop_oneof![
        Just(None),
        Just(Some(Value::Bool(true))),
        prop::collection::vec(text(), 0..3)
            .prop_map(|names| Some(Value::Array(names.into_iter().map(Value::String).collect()))),
    ];
    let lists = prop::collection::vec(prop::collection::vec(text(), 0..3), 3);
    let peer_meta = prop::collection::btree_map(
        text(),
        any::<bool>().prop_map(|optional| PeerDependencyMeta { optional }),
        0..3,
    );
    (
        (text(), text(), string_map(), string_map(), string_map()),
        (
            peer_meta,
            bin,
            prop::option::of(text()),
            prop::option::of(pairs_object()),
        ),
        (lists, prop::option::of(text()), any::<bool>(), bundle),
        (text(), prop::option::of(text()), prop::option::of(text())),
    )
        .prop_map(
            |(
                (name, version, dependencies, optional_dependencies, peer_dependencies),
                (peer_dependencies_meta, bin, directories_bin, engines),
                (lists, deprecated, has_install_script, bundle_dependencies),
                (tarball, integrity, shasum),
            )| {
                let [os, cpu, libc]: [Vec<String>; 3] = lists.try_into().unwrap_or_default();
                PackageVersion {
                    name,
                    version,
                    dependencies,
                    optional_dependencies,
                    peer_dependencies,
                    peer_dependencies_meta,
                    bin,
                    directories: directories_bin.map(|b| json!({ "bin": b })),
                    engines,
                    os,
                    cpu,
                    libc,
                    deprecated,
                    has_install_script,
                    bundle_dependencies,
                    dist: Dist {
                        tarball,
                        integrity,
                        shasum,
                    },
                }
            },
        )
}

fn entry() -> impl Strategy<Value = CachedPackument> {
    (
        prop::option::of(text()),
        prop::option::of(text()),
        text(),
        string_map(),
        prop::collection::btree_map(text(), version(), 0..4),
        prop::option::of(text()),
    )
        .prop_map(
            |(etag, last_modified, name, dist_tags, versions, modified)| CachedPackument {
                etag,
                last_modified,
                packument: Packument {
                    name,
                    dist_tags,
                    versions,
                    modified,
                },
            },
        )
}

proptest! {
    #[test]
    fn any_entry_round_trips(entry in entry(), package in text()) {
        // Entries drawn in the concrete shapes are already reduced.
        prop_assert_eq!(&CachedPackument::new(
            entry.etag.clone(), entry.last_modified.clone(), entry.packument.clone()), &entry);
        let bytes = encode(REGISTRY, &package, &entry);
        prop_assert_eq!(decode(&bytes, REGISTRY, &package), Ok(entry));
    }

    #[test]
    fn damaged_entries_never_decode_or_panic(
        entry in entry(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        mask in 1u8..,
    ) {
        let bytes = encode(REGISTRY, "p", &entry);
        let cut = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..cut], REGISTRY, "p").is_err());
        let mut flipped = bytes.clone();
        flipped[flip.index(bytes.len())] ^= mask;
        prop_assert!(decode(&flipped, REGISTRY, "p").is_err());
    }

    #[test]
    fn arbitrary_bodies_behind_a_valid_header_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = decode(&with_header(&body), "x", "x");
    }

    #[test]
    fn mutated_bodies_behind_a_valid_header_never_panic(
        entry in entry(),
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        // A structurally plausible body with one byte changed, checksum recomputed: reaches
        // deep into the document reader.
        let bytes = encode(REGISTRY, "p", &entry);
        let mut body = bytes[HEADER_LEN..].to_vec();
        let i = at.index(body.len());
        body[i] = value;
        let _ = decode(&with_header(&body), REGISTRY, "p");
    }
}
