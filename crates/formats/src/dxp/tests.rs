//! Round trips, hostile builder inputs, and hostile archive bytes.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::layout::{HEADER_CHECKED_LEN, HEADER_SIZE, checksum};
use super::*;

/// Builds an archive of `files` with the default limits and policy.
fn build(files: &[(&str, bool, &[u8])]) -> Vec<u8> {
    let mut builder = ArchiveBuilder::new(BuildLimits::default());
    for (path, executable, contents) in files {
        builder.add_file(path, *executable, contents).unwrap();
    }
    builder.finish().unwrap().bytes
}

/// Text that compresses well and is long enough to be compressed.
fn text(lines: usize) -> Vec<u8> {
    (0..lines)
        .map(|i| format!("export function f{i}(x) {{ return x + {i}; }}\n"))
        .collect::<String>()
        .into_bytes()
}

/// Recomputes the header checksum after a deliberate edit, so deeper checks are reached.
fn reseal(bytes: &mut [u8]) {
    let sum = checksum(&bytes[..HEADER_CHECKED_LEN], &bytes[HEADER_SIZE..]);
    bytes[HEADER_CHECKED_LEN..HEADER_SIZE].copy_from_slice(&sum);
}

/// Touches every reader entry point; must never panic whatever the bytes.
fn exercise(bytes: &[u8]) {
    let Ok(archive) = PackageArchive::parse(bytes) else {
        return;
    };
    let _ = archive.verify();
    let _ = archive.manifest();
    for path in ["", "package.json", "lib", "lib/index.js", "a/b/c", "zzz"] {
        if let Some(entry) = archive.get(path) {
            let _ = archive.read(&entry);
            let _ = archive.read_dir(path).map(|dir| dir.count());
        }
    }
    for entry in archive.entries() {
        let _ = (entry.name(), entry.mode(), entry.size(), entry.path());
        let _ = archive.read(&entry);
        if let Ok(children) = archive.children(&entry) {
            for child in children {
                let _ = archive.child(&entry, child.name());
            }
        }
        let _ = archive.child(&entry, "index.js");
    }
    for index in [0, 1, 2, u32::MAX] {
        let _ = archive.entry(index);
    }
}

#[test]
fn round_trip_lookup_read_and_listing() {
    let big = text(400);
    let bytes = build(&[
        ("package.json", false, br#"{"name":"x","version":"1.0.0"}"#),
        ("lib/index.js", false, &big),
        ("lib/util/a.js", false, b"a"),
        ("bin/cli.js", true, b"#!/usr/bin/env node\n"),
        ("README.md", false, b"# x\n"),
    ]);
    let archive = PackageArchive::parse(&bytes).unwrap();
    archive.verify().unwrap();
    assert_eq!(archive.file_count(), 5);
    assert_eq!(archive.dir_count(), 4); // root, bin, lib, lib/util
    assert_eq!(archive.unpacked_size(), 30 + big.len() as u64 + 1 + 20 + 4);

    let root = archive.get("").unwrap();
    assert_eq!(
        (root.index(), root.kind(), root.name()),
        (0, EntryKind::Dir, "")
    );
    let names: Vec<_> = archive.read_dir("").unwrap().map(|e| e.name()).collect();
    assert_eq!(names, ["README.md", "bin", "lib", "package.json"]);
    let names: Vec<_> = archive.read_dir("lib").unwrap().map(|e| e.path()).collect();
    assert_eq!(names, ["lib/index.js", "lib/util"]);
    assert!(matches!(
        archive.read_dir("lib/index.js"),
        Err(DxpError::NotADirectory { .. })
    ));
    assert!(matches!(
        archive.read_dir("nope"),
        Err(DxpError::NotFound { .. })
    ));

    let index = archive.get("lib/index.js").unwrap();
    assert_eq!(index.compression(), Compression::Lz4);
    assert!(index.stored_size() < index.size());
    assert_eq!(archive.read(&index).unwrap().as_ref(), big.as_slice());
    let lib = archive.get("lib").unwrap();
    assert_eq!(archive.child(&lib, "util").unwrap().path(), "lib/util");
    assert!(archive.child(&lib, "nope").is_none());

    let cli = archive.get("bin/cli.js").unwrap();
    assert!(cli.is_executable());
    assert_eq!(cli.mode(), 0o755);
    let readme = archive.get("README.md").unwrap();
    assert_eq!((readme.mode(), readme.is_executable()), (0o644, false));
    assert_eq!(readme.compression(), Compression::Raw);
    assert!(matches!(
        archive.read(&readme).unwrap(),
        std::borrow::Cow::Borrowed(b"# x\n")
    ));
    assert_eq!(lib.mode(), 0o755);
    assert!(matches!(archive.read(&lib), Err(DxpError::NotAFile { .. })));

    assert_eq!(
        archive.manifest().unwrap(),
        br#"{"name":"x","version":"1.0.0"}"#
    );
    let paths: Vec<_> = archive.entries().map(|e| e.path()).collect();
    assert_eq!(
        paths,
        [
            "",
            "README.md",
            "bin",
            "bin/cli.js",
            "lib",
            "lib/index.js",
            "lib/util",
            "lib/util/a.js",
            "package.json"
        ]
    );
    for (i, entry) in archive.entries().enumerate() {
        assert_eq!(entry.index() as usize, i);
    }
}

#[test]
fn package_json_is_raw_even_when_large() {
    let manifest = text(500);
    let bytes = build(&[
        ("package.json", false, &manifest),
        ("sub/package.json", false, &manifest),
    ]);
    let archive = PackageArchive::parse(&bytes).unwrap();
    assert_eq!(
        archive.get("package.json").unwrap().compression(),
        Compression::Raw
    );
    assert_eq!(archive.manifest().unwrap(), manifest.as_slice());
    // Only the root manifest is special.
    assert_eq!(
        archive.get("sub/package.json").unwrap().compression(),
        Compression::Lz4
    );
}

#[test]
fn archives_of_the_previous_zstd_default_still_read_and_verify() {
    // Until 2026-11-24 the default was zstd level 3; stores hold such archives.
    let previous = CompressionPolicy {
        codec: Some(Codec::Zstd { level: 3 }),
        ..CompressionPolicy::default()
    };
    let big = text(300);
    let mut builder = ArchiveBuilder::with_policy(BuildLimits::default(), previous);
    builder
        .add_file("package.json", false, br#"{"name":"old"}"#)
        .unwrap();
    builder.add_file("lib/a.js", false, &big).unwrap();
    let bytes = builder.finish().unwrap().bytes;
    let archive = PackageArchive::parse(&bytes).unwrap();
    archive.verify().unwrap();
    let entry = archive.get("lib/a.js").unwrap();
    assert_eq!(entry.compression(), Compression::Zstd);
    assert_eq!(archive.read(&entry).unwrap().as_ref(), big.as_slice());
    // The same files under today's default differ only in the codec of lib/a.js.
    let now = build(&[
        ("package.json", false, br#"{"name":"old"}"#),
        ("lib/a.js", false, &big),
    ]);
    let now = PackageArchive::parse(&now).unwrap();
    let entry = now.get("lib/a.js").unwrap();
    assert_eq!(entry.compression(), Compression::Lz4);
    assert_eq!(now.read(&entry).unwrap().as_ref(), big.as_slice());
}

#[test]
fn tiny_incompressible_and_compressed_types_stay_raw() {
    let mut png = vec![0x89, b'P', b'N', b'G'];
    png.extend(text(100));
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let bytes = build(&[
        ("tiny.js", false, b"x=1"),
        ("logo.png", false, &png),
        ("noise.bin", false, &noise),
    ]);
    let archive = PackageArchive::parse(&bytes).unwrap();
    for path in ["tiny.js", "logo.png", "noise.bin"] {
        assert_eq!(
            archive.get(path).unwrap().compression(),
            Compression::Raw,
            "{path}"
        );
    }
    archive.verify().unwrap();
}

#[test]
fn native_executables_stay_raw_so_the_mount_serves_their_pages_from_the_mapping() {
    let with_magic = |magic: &[u8]| {
        let mut file = magic.to_vec();
        file.extend(text(300));
        file
    };
    let elf = with_magic(&[0x7f, b'E', b'L', b'F']);
    let macho = with_magic(&[0xcf, 0xfa, 0xed, 0xfe]);
    let pe = with_magic(b"MZ");
    let script = with_magic(b"MZ");
    let bytes = build(&[
        ("bin/tool", true, &elf),
        ("binding.darwin-arm64.node", false, &macho),
        ("win/tool.exe", false, &pe),
        ("lib/mz.js", false, &script),
    ]);
    let archive = PackageArchive::parse(&bytes).unwrap();
    for path in ["bin/tool", "binding.darwin-arm64.node", "win/tool.exe"] {
        assert_eq!(
            archive.get(path).unwrap().compression(),
            Compression::Raw,
            "{path}"
        );
    }
    // "MZ" alone is no executable: a script starting with it is compressed as text.
    assert_eq!(
        archive.get("lib/mz.js").unwrap().compression(),
        Compression::Lz4
    );
    archive.verify().unwrap();
    // The policy switch is honoured.
    let policy = CompressionPolicy {
        raw_executables: false,
        ..CompressionPolicy::default()
    };
    let mut builder = ArchiveBuilder::with_policy(BuildLimits::default(), policy);
    builder
        .add_file("package.json", false, br#"{"name":"x"}"#)
        .unwrap();
    builder.add_file("bin/tool", true, &elf).unwrap();
    let bytes = builder.finish().unwrap().bytes;
    let archive = PackageArchive::parse(&bytes).unwrap();
    assert_eq!(
        archive.get("bin/tool").unwrap().compression(),
        Compression::Lz4
    );
}

#[test]
fn policies_all_round_trip() {
    let big = text(300);
    for policy in [
        CompressionPolicy::default(),
        CompressionPolicy::all_raw(),
        CompressionPolicy::always(Codec::Lz4),
        CompressionPolicy::always(Codec::Zstd { level: 19 }),
        CompressionPolicy::always(Codec::Zstd { level: 1 }),
        CompressionPolicy::always(Codec::Zstd { level: -3 }),
    ] {
        let mut builder = ArchiveBuilder::with_policy(BuildLimits::default(), policy);
        builder.add_file("a.js", false, &big).unwrap();
        builder.add_file("empty", false, b"").unwrap();
        let built = builder.finish().unwrap();
        let archive = PackageArchive::parse(&built.bytes).unwrap();
        archive.verify().unwrap();
        assert_eq!(
            archive
                .read(&archive.get("a.js").unwrap())
                .unwrap()
                .as_ref(),
            big.as_slice()
        );
        assert!(
            archive
                .read(&archive.get("empty").unwrap())
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn output_is_deterministic_whatever_the_order() {
    let big = text(200);
    let files: Vec<(&str, bool, &[u8])> = vec![
        ("a/b.js", false, &big),
        ("a-b.js", false, b"1"),
        ("a/c/d.js", true, b"2"),
        ("package.json", false, b"{}"),
    ];
    let forward = build(&files);
    let mut reversed = files.clone();
    reversed.reverse();
    assert_eq!(forward, build(&reversed));
    assert_eq!(forward, build(&files));
    // Component order: `a` and its subtree come before `a-b.js`.
    let archive = PackageArchive::parse(&forward).unwrap();
    let paths: Vec<_> = archive.entries().map(|e| e.path()).collect();
    assert_eq!(
        paths,
        [
            "",
            "a",
            "a/b.js",
            "a/c",
            "a/c/d.js",
            "a-b.js",
            "package.json"
        ]
    );
    archive.verify().unwrap();
}

#[test]
fn hostile_paths_are_rejected() {
    let mut builder = ArchiveBuilder::new(BuildLimits::default());
    for path in [
        "../x",
        "/etc/passwd",
        "package/../../x",
        "a/../b",
        "./a",
        "a//b",
        "a/",
        "",
        "a\0b",
        "..",
        &"n".repeat(256),
    ] {
        let err = builder.add_file(path, false, b"x").unwrap_err();
        assert!(
            matches!(err, DxpError::InvalidPath { .. }),
            "{path:?}: {err}"
        );
        assert!(builder.add_dir(path).is_err(), "{path:?}");
    }
    assert_eq!(builder.finish().unwrap().file_count, 0);
}

#[test]
fn duplicates_keep_the_later_copy_and_conflicts_fail() {
    let mut builder = ArchiveBuilder::new(BuildLimits::default());
    builder.add_file("a.js", false, b"old").unwrap();
    builder.add_file("a.js", true, b"new!").unwrap();
    builder.add_file("dir/x", false, b"x").unwrap();
    assert!(matches!(
        builder.add_file("dir", false, b""),
        Err(DxpError::PathConflict { .. })
    ));
    assert!(matches!(
        builder.add_file("a.js/y", false, b""),
        Err(DxpError::PathConflict { .. })
    ));
    assert!(matches!(
        builder.add_dir("a.js"),
        Err(DxpError::PathConflict { .. })
    ));
    builder.add_dir("empty/dir").unwrap();
    let built = builder.finish().unwrap();
    assert_eq!((built.file_count, built.unpacked_size), (2, 5));
    assert_eq!(built.warnings.len(), 1);
    let archive = PackageArchive::parse(&built.bytes).unwrap();
    let a = archive.get("a.js").unwrap();
    assert_eq!(archive.read(&a).unwrap().as_ref(), b"new!");
    assert!(a.is_executable());
    assert_eq!(archive.read_dir("empty/dir").unwrap().count(), 0);
    archive.verify().unwrap();
}

#[test]
fn limits_are_enforced_as_files_arrive() {
    let limits = BuildLimits {
        max_unpacked_bytes: 1000,
        max_files: 3,
    };
    let mut builder = ArchiveBuilder::new(limits);
    builder.add_file("a", false, &[0; 400]).unwrap();
    let err = builder.add_file("b", false, &[0; 700]).unwrap_err();
    assert!(
        matches!(err, DxpError::TooLarge { limit: 1000, ref path } if path == "b"),
        "{err}"
    );
    builder.add_file("b", false, &[0; 10]).unwrap();
    // `c/d` needs two entries (`c` and `c/d`), one too many.
    let err = builder.add_file("c/d", false, b"").unwrap_err();
    assert!(
        matches!(err, DxpError::TooManyFiles { limit: 3, .. }),
        "{err}"
    );
    builder.add_file("c", false, b"").unwrap();
    assert!(matches!(
        builder.add_file("e", false, b""),
        Err(DxpError::TooManyFiles { .. })
    ));
    // Replacing a file does not count it twice.
    builder.add_file("a", false, &[1; 995]).unwrap_err();
    builder.add_file("a", false, &[1; 500]).unwrap();
    assert_eq!(builder.finish().unwrap().unpacked_size, 510);
}

#[test]
fn verify_catches_a_flipped_data_byte() {
    let big = text(100);
    let bytes = build(&[("a.js", false, &big), ("b.txt", false, b"hello world")]);
    let archive = PackageArchive::parse(&bytes).unwrap();
    archive.verify().unwrap();
    let last = bytes.len() - 1; // the last byte of data
    let mut flipped = bytes.clone();
    flipped[last] ^= 1;
    let damaged = PackageArchive::parse(&flipped).unwrap();
    assert!(matches!(damaged.verify(), Err(DxpError::ChecksumMismatch)));
    // With the checksum recomputed, the per-file hash still notices.
    reseal(&mut flipped);
    let damaged = PackageArchive::parse(&flipped).unwrap();
    let err = damaged.verify().unwrap_err();
    assert!(
        matches!(&err, DxpError::ContentMismatch { path } if path == "b.txt"),
        "{err}"
    );
}

#[test]
fn parse_rejects_garbage_headers() {
    let bytes = build(&[("a", false, b"a")]);
    assert!(matches!(
        PackageArchive::parse(&bytes[..100]),
        Err(DxpError::NotAnArchive { .. })
    ));
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(matches!(
        PackageArchive::parse(&bad),
        Err(DxpError::NotAnArchive { .. })
    ));
    let mut bad = bytes.clone();
    bad[4] = 9;
    assert!(matches!(
        PackageArchive::parse(&bad),
        Err(DxpError::UnsupportedVersion { version: 9 })
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        PackageArchive::parse(&longer),
        Err(DxpError::CorruptHeader {
            field: "total_size",
            ..
        })
    ));
}

#[test]
fn every_truncation_fails_cleanly() {
    let big = text(30);
    let bytes = build(&[
        ("package.json", false, b"{}"),
        ("lib/a.js", false, &big),
        ("b", true, b"b"),
    ]);
    for len in 0..bytes.len() {
        assert!(
            PackageArchive::parse(&bytes[..len]).is_err(),
            "truncated to {len}"
        );
        exercise(&bytes[..len]);
    }
}

#[test]
fn every_single_byte_flip_is_survived() {
    let big = text(30);
    let bytes = build(&[
        ("package.json", false, b"{}"),
        ("lib/a.js", false, &big),
        ("lib/b", true, b"b"),
    ]);
    for at in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut flipped = bytes.clone();
            flipped[at] ^= mask;
            exercise(&flipped);
            if let Ok(archive) = PackageArchive::parse(&flipped) {
                assert!(archive.verify().is_err(), "flip at {at} unnoticed");
            }
            // Past the checksum, the structural checks must hold on their own.
            if at != HEADER_CHECKED_LEN && at >= 8 {
                reseal(&mut flipped);
                exercise(&flipped);
            }
        }
    }
}

#[test]
fn index_never_loops_on_a_full_table() {
    let bytes = build(&[("a", false, b"a"), ("b", false, b"b")]);
    let mut full = bytes.clone();
    // Point every slot at entry 0 with a tag nobody has.
    let slots = u32::from_le_bytes(full[24..28].try_into().unwrap()) as usize;
    for slot in 0..slots {
        let at = HEADER_SIZE + slot * 8;
        full[at..at + 8].copy_from_slice(&[0, 0, 0, 0, 1, 2, 3, 4]);
    }
    let archive = PackageArchive::parse(&full).unwrap();
    assert!(archive.get("a").is_none());
    assert!(archive.verify().is_err());
}

/// A random file tree: paths from a small alphabet so directories nest and collide.
fn file_tree() -> impl Strategy<Value = BTreeMap<String, (bool, Vec<u8>)>> {
    let component = prop::sample::select(vec!["a", "b", "ab", "a-b", "index.js", "x.png", "Z"]);
    let path = prop::collection::vec(component, 1..4).prop_map(|parts| parts.join("/"));
    let contents = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (1usize..60).prop_map(text),
        (0usize..3000).prop_map(|n| vec![b'z'; n]),
    ];
    prop::collection::btree_map(path, (any::<bool>(), contents), 0..12)
}

proptest! {
    #[test]
    fn random_trees_round_trip(tree in file_tree()) {
        let mut builder = ArchiveBuilder::new(BuildLimits::default());
        let mut expected = BTreeMap::new();
        for (path, (executable, contents)) in &tree {
            if builder.add_file(path, *executable, contents).is_ok() {
                expected.insert(path.clone(), (*executable, contents.clone()));
            }
        }
        let built = builder.finish().unwrap();
        let archive = PackageArchive::parse(&built.bytes).unwrap();
        archive.verify().unwrap();
        prop_assert_eq!(archive.file_count(), expected.len() as u64);
        for (path, (executable, contents)) in &expected {
            let entry = archive.get(path).unwrap();
            prop_assert_eq!(entry.path(), path.as_str());
            prop_assert_eq!(entry.is_executable(), *executable);
            let read = archive.read(&entry).unwrap();
            prop_assert_eq!(read.as_ref(), contents.as_slice());
            // Every ancestor lists its child exactly once, in name order.
            let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
            let names: Vec<&str> = archive.read_dir(parent).unwrap().map(|e| e.name()).collect();
            prop_assert!(names.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(names.iter().filter(|n| **n == entry.name()).count(), 1);
            let parent_entry = archive.get(parent).unwrap();
            prop_assert_eq!(archive.child(&parent_entry, entry.name()).map(|e| e.index()), Some(entry.index()));
        }
        let rebuilt = {
            let mut again = ArchiveBuilder::new(BuildLimits::default());
            for (path, (executable, contents)) in expected.iter().rev() {
                again.add_file(path, *executable, contents).unwrap();
            }
            again.finish().unwrap().bytes
        };
        prop_assert_eq!(rebuilt, built.bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..1024),
        cut in 0usize..4096,
    ) {
        // A real header followed by noise reaches the per-entry checks.
        let c = text(20);
        let valid = build(&[("a/b", false, b"b"), ("c", true, &c)]);
        let mut bytes = valid[..HEADER_SIZE].to_vec();
        bytes.extend_from_slice(&valid[HEADER_SIZE..valid.len().min(HEADER_SIZE + cut)]);
        bytes.extend_from_slice(&tail);
        bytes.resize(valid.len(), 0);
        exercise(&bytes);
    }
}

/// Overwrites the recorded real size of entry `index` and reseals the checksum.
fn with_real_size(bytes: &[u8], index: usize, real_size: u64) -> Vec<u8> {
    let mut edited = bytes.to_vec();
    let entries_offset = u64::from_le_bytes(edited[56..64].try_into().unwrap()) as usize;
    let at = entries_offset + index * 64 + 48;
    edited[at..at + 8].copy_from_slice(&real_size.to_le_bytes());
    reseal(&mut edited);
    edited
}

#[test]
fn decoding_never_exceeds_the_recorded_size() {
    for codec in [Codec::Lz4, Codec::Zstd { level: 3 }] {
        let big = text(200);
        let mut builder =
            ArchiveBuilder::with_policy(BuildLimits::default(), CompressionPolicy::always(codec));
        builder.add_file("a.js", false, &big).unwrap();
        let bytes = builder.finish().unwrap().bytes;
        let archive = PackageArchive::parse(&bytes).unwrap();
        let entry = archive.get("a.js").unwrap();
        assert_ne!(entry.compression(), Compression::Raw);
        let index = entry.index() as usize;
        let stored = entry.stored_size();

        // Recorded smaller than the stream: the decoder stops and fails, it does not grow.
        let short = with_real_size(&bytes, index, big.len() as u64 - 1);
        let archive = PackageArchive::parse(&short).unwrap();
        let err = archive.read(&archive.get("a.js").unwrap()).unwrap_err();
        assert!(
            matches!(&err, DxpError::Decompress { path, .. } if path == "a.js"),
            "{err}"
        );

        // Recorded larger than the stream: decoding gives less and fails.
        let long = with_real_size(&bytes, index, big.len() as u64 + 1);
        let archive = PackageArchive::parse(&long).unwrap();
        assert!(archive.read(&archive.get("a.js").unwrap()).is_err());

        // Recorded larger than the stored bytes could ever expand to: refused before allocating.
        let absurd = with_real_size(&bytes, index, stored * 40_000);
        let archive = PackageArchive::parse(&absurd).unwrap();
        assert!(archive.get("a.js").is_none());
        assert!(matches!(
            archive.entry(index as u32),
            Err(DxpError::CorruptEntry { .. })
        ));
        assert!(archive.verify().is_err());
    }
}

#[test]
fn bin_targets_become_executable_as_npm_links_them() {
    let manifest = br#"{"name":"x","bin":{"a":"./bin/a.js","b":"lib//b.js","evil":"../../etc/passwd"},"directories":{"bin":"./tools"}}"#;
    let bytes = build(&[
        ("package.json", false, manifest),
        ("bin/a.js", false, b"#!/usr/bin/env node\n"),
        ("lib/b.js", false, b"b"),
        ("tools/t.sh", false, b"t"),
        ("tools2/u.sh", false, b"u"),
        ("index.js", false, b"i"),
    ]);
    let archive = PackageArchive::parse(&bytes).unwrap();
    for (path, exec) in [
        ("bin/a.js", true),
        ("lib/b.js", true),
        ("tools/t.sh", true),
        ("tools2/u.sh", false),
        ("index.js", false),
        ("package.json", false),
    ] {
        assert_eq!(archive.get(path).unwrap().is_executable(), exec, "{path}");
    }
    let single = build(&[
        ("package.json", false, br#"{"name":"y","bin":"cli.js"}"#),
        ("cli.js", false, b"c"),
    ]);
    assert!(
        PackageArchive::parse(&single)
            .unwrap()
            .get("cli.js")
            .unwrap()
            .is_executable()
    );
}

#[test]
fn owned_and_borrowed_contents_build_the_same_archive() {
    let big = text(300);
    let files: [(&str, &[u8]); 3] = [
        ("package.json", br#"{"name":"same"}"#),
        ("lib/big.js", &big),
        ("tiny.js", b"x"),
    ];
    let mut borrowed = ArchiveBuilder::new(BuildLimits::default());
    let mut owned = ArchiveBuilder::new(BuildLimits::default());
    for (path, contents) in files {
        borrowed.add_file(path, false, contents).unwrap();
        owned
            .add_file_owned(path, false, contents.to_vec())
            .unwrap();
    }
    let (borrowed, owned) = (borrowed.finish().unwrap(), owned.finish().unwrap());
    assert_eq!(borrowed.bytes, owned.bytes);
    let archive = PackageArchive::parse(&owned.bytes).unwrap();
    archive.verify().unwrap();
    let tiny = archive.get("tiny.js").unwrap();
    assert_eq!(archive.read(&tiny).unwrap().as_ref(), b"x");
}

#[test]
fn a_large_package_encoded_in_the_background_is_byte_identical() {
    // Past BACKGROUND_AFTER of inline encoding the rest goes to the second thread: compressible
    // text, an incompressible file, a small file, and paths added twice in both directions (a
    // queued copy replaced by an inline one and the other way round).
    let big = text(30_000);
    assert!(big.len() as u64 > builder::BACKGROUND_AFTER);
    let noise: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "package.json".into(),
            br#"{"name":"big","version":"1.0.0"}"#.to_vec(),
        ),
        ("dist/a.js".into(), big.clone()),
        ("dist/b.js".into(), text(5_000)),
        ("dist/noise.bin".into(), noise),
        ("dist/c.js".into(), text(40)),
        ("dist/twice.js".into(), text(3_000)),
        ("dist/small.js".into(), b"x".to_vec()),
        ("dist/twice.js".into(), b"later and small".to_vec()),
        ("dist/other.js".into(), b"short".to_vec()),
        ("dist/other.js".into(), text(4_000)),
    ];
    let build_with = |builder: ArchiveBuilder| {
        let mut builder = builder;
        for (path, contents) in &files {
            builder
                .add_file_owned(path, false, contents.clone())
                .unwrap();
        }
        builder.finish().unwrap()
    };
    let background = build_with(ArchiveBuilder::new(BuildLimits::default()));
    let inline = build_with(ArchiveBuilder::new(BuildLimits::default()).without_background());
    assert_eq!(background, inline);
    let archive = PackageArchive::parse(&background.bytes).unwrap();
    archive.verify().unwrap();
    let read = |path: &str| {
        archive
            .read(&archive.get(path).unwrap())
            .unwrap()
            .into_owned()
    };
    assert_eq!(read("dist/twice.js"), b"later and small");
    assert_eq!(read("dist/other.js"), text(4_000));
    assert_eq!(read("dist/b.js"), text(5_000));
    assert!(
        background
            .warnings
            .iter()
            .any(|w| w.contains("dist/twice.js"))
    );
}
