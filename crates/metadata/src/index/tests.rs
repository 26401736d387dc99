use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::lenient::{BundleDependencies, RawBin};
use crate::packument::{Dist, Packument, PeerDependencyMeta, RawPackument, VersionManifest};

fn sample() -> RawPackument {
    let json = br#"{"name":"a","dist-tags":{"latest":"1.1.0","next":"2.0.0-rc.1"},"versions":{
        "1.0.0":{"name":"a","version":"1.0.0","dependencies":{"b":"^1"},"engines":{"node":">=10"},
                 "deprecated":"old","dist":{"tarball":"http://127.0.0.1/a-1.0.0.tgz","integrity":"sha512-AA=="}},
        "1.1.0":{"name":"a","version":"1.1.0","dependencies":{"b":"^1"},"bin":{"a":"cli.js"},
                 "peerDependencies":{"c":"*"},"peerDependenciesMeta":{"c":{"optional":true}},
                 "os":["linux"],"hasInstallScript":true,"bundleDependencies":["b"],
                 "dist":{"tarball":"http://127.0.0.1/a-1.1.0.tgz","shasum":"ff"}},
        "2.0.0-rc.1":{"name":"a","version":"2.0.0-rc.1","bundleDependencies":true,"bin":"x.js",
                 "cpu":["x64"],"libc":["glibc"],"optionalDependencies":{"d":"1"},"dist":{}}}}"#;
    serde_json::from_slice(json).unwrap()
}

fn meta() -> Meta {
    Meta {
        registry: "http://127.0.0.1:4873".into(),
        package: "a".into(),
        etag: Some("\"e1\"".into()),
        last_modified: None,
    }
}

fn open(bytes: Vec<u8>) -> Result<Packument, IndexError> {
    Packument::open(IndexBytes::Owned(bytes), None)
}

#[test]
fn every_field_survives_the_index() {
    let raw = sample();
    let p = open(encode(&raw, &meta())).unwrap();
    assert_eq!(p.to_raw(), raw);
    assert_eq!(p.meta(), meta());
    assert_eq!(p.entry("1.0.0").unwrap().engines_node, Some(">=10"));
    assert!(p.entry("1.0.0").unwrap().deprecated);
    assert!(p.manifest("1.1.0").unwrap().has_install_script);
    assert!(!p.contains("3.0.0"));
    assert_eq!(p.entry("1.1.0").unwrap().release, Some((1, 1, 0)));
    assert_eq!(p.entry("2.0.0-rc.1").unwrap().release, None);
    assert_eq!(p.entry("2.0.0-rc.1").unwrap().prerelease, Some((2, 0, 0)));
    assert_eq!(p.entry("1.1.0").unwrap().prerelease, None);
}

#[test]
fn only_certain_prereleases_are_flagged() {
    use super::encode::prerelease_numbers;
    for (pre, numbers) in [
        ("1.2.3-rc.1", (1, 2, 3)),
        ("0.0.0-experimental-abc", (0, 0, 0)),
        ("1.0.0-0", (1, 0, 0)),
        ("1.0.0-a+b", (1, 0, 0)),
    ] {
        assert_eq!(prerelease_numbers(pre), Some(numbers), "{pre}");
    }
    for not in [
        "1.2.3",
        "1.2.3+build-1",
        "v1.2.3-rc",
        "01.2.3-rc",
        "1.2.3-",
        "1.2-rc.1",
        "x",
    ] {
        assert_eq!(prerelease_numbers(not), None, "{not}");
    }
}

#[test]
fn only_plain_releases_carry_their_numbers() {
    use super::encode::plain_release;
    assert_eq!(plain_release("1.2.3"), Some((1, 2, 3)));
    assert_eq!(plain_release("0.0.0"), Some((0, 0, 0)));
    assert_eq!(
        plain_release("9007199254740991.0.10"),
        Some(((1 << 53) - 1, 0, 10))
    );
    for odd in [
        "01.2.3",
        "1.02.3",
        "v1.2.3",
        "=1.2.3",
        " 1.2.3",
        "1.2",
        "1.2.3.4",
        "1.2.3-rc.1",
        "1.2.3+build",
        "9007199254740992.0.0",
        "1..3",
        "",
        "1.2.x",
    ] {
        assert_eq!(plain_release(odd), None, "{odd:?}");
    }
}

#[test]
fn the_expected_origin_is_checked() {
    let bytes = encode(&sample(), &meta());
    let ok = Packument::open(
        IndexBytes::Owned(bytes.clone()),
        Some(("http://127.0.0.1:4873", "a")),
    );
    assert!(ok.is_ok());
    let other = Packument::open(
        IndexBytes::Owned(bytes),
        Some(("http://127.0.0.1:4873", "b")),
    );
    assert_eq!(other.unwrap_err(), IndexError::WrongPackage);
}

/// Where the manifests start (directory word 6), body-relative.
fn manifests_at(bytes: &[u8]) -> usize {
    let at = HEADER_LEN + 24;
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

#[test]
fn a_flipped_byte_in_the_head_is_refused_by_the_checksum() {
    let bytes = encode(&sample(), &meta());
    let head_end = HEADER_LEN + manifests_at(&bytes);
    for at in [HEADER_LEN, HEADER_LEN + 40, head_end - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x20;
        assert_eq!(open(bad).unwrap_err(), IndexError::Checksum, "byte {at}");
    }
}

#[test]
fn a_flipped_byte_in_a_manifest_makes_that_version_unreadable_and_no_other() {
    let bytes = encode(&sample(), &meta());
    let good = open(bytes.clone()).unwrap();
    // The last byte belongs to the last version's manifest (keys sort "1.0.0" < "1.1.0" <
    // "2.0.0-rc.1").
    let mut bad = bytes;
    let last = bad.len() - 1;
    bad[last] ^= 0x20;
    let p = open(bad).unwrap();
    assert_eq!(p.manifest("2.0.0-rc.1"), None);
    assert_eq!(p.manifest("1.0.0"), good.manifest("1.0.0"));
    assert_eq!(p.manifest("1.1.0"), good.manifest("1.1.0"));
}

#[test]
fn a_truncated_index_is_refused() {
    let bytes = encode(&sample(), &meta());
    for len in [0, 10, HEADER_LEN, bytes.len() / 2, bytes.len() - 1] {
        assert_eq!(
            open(bytes[..len].to_vec()).unwrap_err(),
            IndexError::Truncated,
            "len {len}"
        );
    }
    let mut longer = bytes;
    longer.push(0);
    assert_eq!(open(longer).unwrap_err(), IndexError::Truncated);
}

#[test]
fn another_format_version_is_refused() {
    let mut bytes = encode(&sample(), &meta());
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(
        open(bytes.clone()).unwrap_err(),
        IndexError::Version { found: 2 }
    );
    bytes[0] = b'X';
    assert_eq!(open(bytes).unwrap_err(), IndexError::BadMagic);
}

/// Re-checksums a body edited on purpose, to reach the structural checks behind the checksum.
fn resealed(mut bytes: Vec<u8>) -> Vec<u8> {
    let end = (HEADER_LEN + manifests_at(&bytes)).min(bytes.len());
    let sum = xxhash_rust::xxh3::xxh3_128(&bytes[HEADER_LEN..end]);
    bytes[16..32].copy_from_slice(&sum.to_le_bytes());
    bytes
}

#[test]
fn a_checksummed_but_inconsistent_index_is_refused() {
    let bytes = encode(&sample(), &meta());
    // The version count (directory word 3) claims more records than the body holds.
    let mut bad = bytes.clone();
    bad[HEADER_LEN + 12..HEADER_LEN + 16].copy_from_slice(&1000u32.to_le_bytes());
    assert!(matches!(open(resealed(bad)), Err(IndexError::Malformed(_))));
    // The heap length runs past the body.
    let mut bad = bytes;
    bad[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(open(resealed(bad)), Err(IndexError::Malformed(_))));
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z@/^~<>=| .*0-9-]{0,12}", "\\PC{0,6}",]
}

fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(text(), text(), 0..4)
}

fn manifest() -> impl Strategy<Value = VersionManifest> {
    (
        (text(), text(), map(), map(), map()),
        prop::collection::btree_map(text(), any::<bool>(), 0..3),
        prop_oneof![
            Just(BundleDependencies::None),
            Just(BundleDependencies::All),
            prop::collection::vec(text(), 0..3).prop_map(BundleDependencies::Names)
        ],
        prop_oneof![
            Just(RawBin::None),
            text().prop_map(RawBin::Single),
            map().prop_map(RawBin::Map)
        ],
        (
            prop::collection::vec(text(), 0..3),
            prop::collection::vec(text(), 0..2),
            map(),
            prop::option::of(text()),
            any::<bool>(),
            (
                prop::option::of(text()),
                prop::option::of(text()),
                prop::option::of(text()),
            ),
        ),
    )
        .prop_map(
            |(
                (name, version, dependencies, optional_dependencies, peer_dependencies),
                peer_meta,
                bundle_dependencies,
                bin,
                (os, cpu, engines, deprecated, has_install_script, (tarball, integrity, shasum)),
            )| {
                VersionManifest {
                    name,
                    version,
                    dependencies,
                    optional_dependencies,
                    peer_dependencies,
                    peer_dependencies_meta: peer_meta
                        .into_iter()
                        .map(|(k, optional)| (k, PeerDependencyMeta { optional }))
                        .collect(),
                    bundle_dependencies,
                    bin,
                    libc: cpu.clone(),
                    os,
                    cpu,
                    engines,
                    deprecated,
                    has_install_script,
                    dist: Dist {
                        tarball,
                        integrity,
                        shasum,
                    },
                }
            },
        )
}

fn packument() -> impl Strategy<Value = RawPackument> {
    (
        text(),
        map(),
        prop::collection::btree_map(text(), manifest(), 0..6),
    )
        .prop_map(|(name, dist_tags, versions)| RawPackument {
            name,
            dist_tags,
            versions,
        })
}

proptest! {
    #[test]
    fn any_packument_survives_its_index(raw in packument()) {
        let p = open(encode(&raw, &Meta::default())).unwrap();
        prop_assert_eq!(p.to_raw(), raw.clone());
        for (version, m) in &raw.versions {
            let entry = p.entry(version).unwrap();
            prop_assert_eq!(entry.deprecated, m.deprecated.is_some());
            prop_assert_eq!(entry.engines_node, m.engines.get("node").map(String::as_str));
        }
    }

    #[test]
    fn damaged_indexes_never_panic(raw in packument(), at in any::<prop::sample::Index>(), byte in any::<u8>(), reseal in any::<bool>()) {
        let mut bytes = encode(&raw, &Meta::default());
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let bytes = if reseal { resealed(bytes) } else { bytes };
        if let Ok(p) = open(bytes) {
            for (version, _) in p.manifests() {
                let _ = p.manifest(&version);
            }
        }
    }
}
