use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::layout::*;
use super::*;
use crate::hash::IntegrityHasher;

fn pkg(name: &str, version: &str) -> DxlPackage {
    let mut h = IntegrityHasher::new(IntegrityAlgorithm::Sha512);
    h.update(name.as_bytes());
    DxlPackage {
        name: name.into(),
        version: version.into(),
        content_hash: ContentHash::of(format!("{name}@{version}").as_bytes()),
        integrity: Some(h.finish()),
        has_install_script: name.starts_with('e'),
    }
}

fn sample() -> Vec<u8> {
    let mut b = DxlBuilder::new([7; 16], "linux-x64-glibc");
    let react = b.add_package(pkg("react", "18.2.0"));
    let core = b.add_package(pkg("@babel/core", "7.23.0"));
    let a = b.add_package(pkg("a", "1.0.0"));
    let b2 = b.add_package(pkg("b", "2.0.0"));
    let b1 = b.add_package(pkg("b", "1.0.0"));
    let mut sha1 = pkg("esbuild", "0.19.0");
    sha1.integrity =
        Some(Integrity::from_sha1_hex("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d").unwrap());
    let esbuild = b.add_package(sha1);
    let mut bare = pkg("ts", "5.0.0");
    bare.integrity = None;
    let ts = b.add_package(bare);
    b.place("a/node_modules/b", b1).unwrap();
    b.place("react", react).unwrap();
    b.place("@babel/core", core).unwrap();
    b.place("a", a).unwrap();
    b.place("b", b2).unwrap();
    b.place("esbuild", esbuild).unwrap();
    b.place("typescript", ts).unwrap();
    b.add_bin_link(".bin/tsc", "../typescript/bin/tsc").unwrap();
    b.add_bin_link("a/node_modules/.bin/b", "../b/cli.js")
        .unwrap();
    b.finish()
}

#[test]
fn sample_answers_lookups_children_and_names() {
    let bytes = sample();
    let dxl = Dxl::parse(&bytes).unwrap();
    dxl.verify().unwrap();
    assert_eq!(dxl.lock_digest(), [7; 16]);
    assert_eq!(dxl.platform(), "linux-x64-glibc");
    assert_eq!(dxl.package_count(), 7);

    let root = dxl.root();
    assert_eq!((root.path(), root.name(), root.index()), ("", "", 0));
    assert!(matches!(root.kind(), NodeKind::Dir));
    let names: Vec<&str> = dxl.children(root).map(|n| n.name()).collect();
    assert_eq!(
        names,
        [".bin", "@babel", "a", "b", "esbuild", "react", "typescript"]
    );

    let core = dxl.lookup("@babel/core").unwrap();
    assert_eq!(core.name(), "core");
    let p = core.package().unwrap();
    assert_eq!((p.name(), p.version()), ("@babel/core", "7.23.0"));
    assert_eq!(p.content_hash(), ContentHash::of(b"@babel/core@7.23.0"));
    assert_eq!(p.integrity(), pkg("@babel/core", "7.23.0").integrity);
    assert!(!p.has_install_script());
    assert_eq!(dxl.parent(core).unwrap().path(), "@babel");
    assert!(matches!(
        dxl.lookup("@babel").unwrap().kind(),
        NodeKind::Dir
    ));

    let esbuild = dxl.lookup("esbuild").unwrap().package().unwrap();
    assert!(esbuild.has_install_script());
    assert_eq!(
        esbuild.integrity().unwrap().algorithm(),
        IntegrityAlgorithm::Sha1
    );
    assert_eq!(
        dxl.lookup("typescript")
            .unwrap()
            .package()
            .unwrap()
            .integrity(),
        None
    );

    let a = dxl.lookup("a").unwrap();
    assert_eq!(
        dxl.children(a).map(|n| n.path()).collect::<Vec<_>>(),
        ["a/node_modules"]
    );
    let nm = dxl.lookup("a/node_modules").unwrap();
    assert_eq!(
        dxl.children(nm).map(|n| n.path()).collect::<Vec<_>>(),
        ["a/node_modules/.bin", "a/node_modules/b"]
    );
    assert_eq!(
        dxl.lookup("a/node_modules/b")
            .unwrap()
            .package()
            .unwrap()
            .version(),
        "1.0.0"
    );
    match dxl.lookup(".bin/tsc").unwrap().kind() {
        NodeKind::Symlink(t) => assert_eq!(t, "../typescript/bin/tsc"),
        other => panic!("{other:?}"),
    }
    assert!(dxl.lookup("nope").is_none());
    assert!(dxl.lookup("a/node_modules/b/x").is_none());
    assert_eq!(dxl.lookup("").unwrap().index(), 0);

    let bs: Vec<&str> = dxl.packages_named("b").map(|p| p.version()).collect();
    assert_eq!(bs, ["1.0.0", "2.0.0"]);
    assert_eq!(dxl.packages_named("react").count(), 1);
    assert_eq!(dxl.packages_named("reac").count(), 0);
    let all: Vec<String> = dxl
        .packages()
        .map(|p| format!("{}@{}", p.name(), p.version()))
        .collect();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    let paths: Vec<&str> = dxl.nodes().map(|n| n.path()).collect();
    assert_eq!(paths.len() as u32, dxl.node_count());
    assert!(paths.windows(2).all(|w| w[0] < w[1]));
    for n in dxl.nodes() {
        assert_eq!(dxl.node(n.index()).unwrap().path(), n.path());
    }
}

#[test]
fn builder_rejects_bad_paths_and_collisions() {
    let mut b = DxlBuilder::new([0; 16], "p");
    let id = b.add_package(pkg("a", "1.0.0"));
    assert_eq!(
        b.add_package(pkg("a", "1.0.0")),
        id,
        "equal packages share an id"
    );
    for bad in ["", "/a", "a/", "a//b", "./a", "a/../b", "a/.", "a\0b"] {
        assert!(
            matches!(b.place(bad, id), Err(DxlError::InvalidPath { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(
        b.place("x", PackageId(9)),
        Err(DxlError::UnknownPackage { id: 9 })
    );
    b.place("a/node_modules/b", id).unwrap();
    b.place("a", id).unwrap(); // the directory made for `a/node_modules/b` becomes a package
    assert_eq!(
        b.place("a", id),
        Err(DxlError::PathTaken {
            path: "a".into(),
            existing: "a package"
        })
    );
    assert!(matches!(
        b.add_bin_link("a/node_modules", "x"),
        Err(DxlError::PathTaken {
            existing: "a directory",
            ..
        })
    ));
    b.add_bin_link(".bin/x", "../a/x.js").unwrap();
    assert!(matches!(
        b.place(".bin/x", id),
        Err(DxlError::PathTaken {
            existing: "a bin link",
            ..
        })
    ));
    assert_eq!(
        b.place(".bin/x/y", id),
        Err(DxlError::UnderLink {
            path: ".bin/x/y".into(),
            link: ".bin/x".into()
        })
    );
    assert!(matches!(
        b.add_bin_link(".bin/y", "/etc/passwd"),
        Err(DxlError::InvalidLinkTarget { .. })
    ));
    assert!(matches!(
        b.add_bin_link(".bin/y", ""),
        Err(DxlError::InvalidLinkTarget { .. })
    ));
    let bytes = b.finish();
    let dxl = Dxl::parse(&bytes).unwrap();
    dxl.verify().unwrap();
    assert_eq!(dxl.node_count(), 6); // "", .bin, .bin/x, a, a/node_modules, a/node_modules/b
}

#[test]
fn empty_layout_is_valid() {
    let bytes = DxlBuilder::new([1; 16], "").finish();
    let dxl = Dxl::parse(&bytes).unwrap();
    dxl.verify().unwrap();
    assert_eq!(dxl.nodes().count(), 1);
    assert_eq!(dxl.children(dxl.root()).count(), 0);
    assert_eq!(dxl.packages_named("").count(), 0);
    assert_eq!(dxl.platform(), "");
}

/// Reads everything a consumer could ask for; must never panic whatever the bytes.
fn exercise(dxl: &Dxl<'_>) {
    let _ = (dxl.lock_digest(), dxl.platform(), dxl.verify());
    for p in dxl.packages() {
        let _ = (
            p.name(),
            p.version(),
            p.content_hash(),
            p.integrity(),
            p.has_install_script(),
        );
        let _ = dxl.packages_named(p.name()).count();
    }
    for n in dxl.nodes().take(64) {
        let _ = (n.path(), n.name(), n.kind(), dxl.parent(n));
        let _ = dxl.lookup(n.path());
        let _ = dxl.children(n).take(64).count();
    }
    let _ = dxl.children(dxl.root()).count();
    let _ = dxl.lookup("react");
    let _ = dxl.packages_named("b").count();
}

#[test]
fn every_truncation_is_rejected_and_every_byte_flip_fails_verify() {
    let bytes = sample();
    for len in 0..bytes.len() {
        let cut = &bytes[..len];
        assert!(Dxl::parse(cut).is_err(), "truncated to {len}");
    }
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= flip;
            if let Ok(dxl) = Dxl::parse(&damaged) {
                assert!(dxl.verify().is_err(), "flip {flip:#x} at {i} passed verify");
                exercise(&dxl);
            }
        }
    }
}

#[test]
fn huge_counts_are_refused_without_allocating() {
    let bytes = sample();
    for field in [
        H_STRINGS,
        H_PACKAGES,
        H_NODES,
        H_CHILDREN,
        H_NAME_SLOTS,
        H_PATH_SLOTS,
    ] {
        for (delta, value) in [(4, u32::MAX), (0, u32::MAX), (4, 1 << 31)] {
            let mut damaged = bytes.clone();
            put_u32(&mut damaged, field + delta, value);
            assert!(
                Dxl::parse(&damaged).is_err(),
                "field {field}+{delta} = {value}"
            );
        }
    }
    let mut wrong_version = bytes.clone();
    put_u32(&mut wrong_version, H_VERSION, 2);
    assert_eq!(
        Dxl::parse(&wrong_version).unwrap_err(),
        DxlError::UnsupportedVersion { found: 2 }
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Dxl::parse(&longer),
        Err(DxlError::LengthMismatch { .. })
    ));
    assert_eq!(
        Dxl::parse(b"DXP\0").unwrap_err(),
        DxlError::TooShort { len: 4 }
    );
}

/// Re-seals `bytes` with a correct checksum, so verify's structural checks are what must
/// catch the damage.
fn reseal(bytes: &mut [u8]) {
    let sum = xxhash_rust::xxh3::xxh3_128(&bytes[CHECKSUMMED_FROM..]);
    bytes[H_CHECKSUM..H_CHECKSUM + 16].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn structural_damage_with_a_valid_checksum_fails_verify() {
    let bytes = sample();
    let dxl = Dxl::parse(&bytes).unwrap();
    let nodes_off = u32_at(&bytes, H_NODES) as usize;
    let packages_off = u32_at(&bytes, H_PACKAGES) as usize;
    let node = dxl.lookup("react").unwrap().index() as usize;
    let cases: Vec<(usize, u32)> = vec![
        (nodes_off + node * NODE_LEN + N_VALUE, 999), // package index out of range
        (nodes_off + node * NODE_LEN + N_PARENT, node as u32), // parent is itself
        (nodes_off + node * NODE_LEN + N_PATH + 4, 1 << 30), // path out of bounds
        (nodes_off + N_CHILDREN + 4, 1),              // root lists fewer children
        (packages_off + P_NAME + 4, 0),               // a package with an empty name
    ];
    for (off, value) in cases {
        let mut damaged = bytes.clone();
        put_u32(&mut damaged, off, value);
        reseal(&mut damaged);
        let dxl = Dxl::parse(&damaged).unwrap();
        assert!(
            matches!(dxl.verify(), Err(DxlError::Corrupt { .. })),
            "offset {off} = {value}"
        );
        exercise(&dxl);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Place(String, usize),
    Link(String, String),
}

fn any_path() -> impl Strategy<Value = String> {
    let component = prop::sample::select(vec!["a", "b", "@s", "node_modules", ".bin", "c-d", "é"]);
    prop::collection::vec(component, 1..5).prop_map(|c| c.join("/"))
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any_path(), 0..4usize).prop_map(|(p, i)| Op::Place(p, i)),
        (any_path(), "[a-z./]{1,8}").prop_map(|(p, t)| Op::Link(p, format!("../{t}"))),
    ]
}

#[derive(Debug, PartialEq)]
enum ModelKind {
    Dir,
    Package(String),
    Link(String),
}

fn build(ops: &[Op], pool: &[DxlPackage]) -> (Vec<u8>, Vec<Op>) {
    let mut b = DxlBuilder::new([3; 16], "test");
    let ids: Vec<PackageId> = pool.iter().map(|p| b.add_package(p.clone())).collect();
    let mut applied = Vec::new();
    for op in ops {
        let ok = match op {
            Op::Place(path, i) => b.place(path, ids[*i]).is_ok(),
            Op::Link(path, target) => b.add_bin_link(path, target).is_ok(),
        };
        if ok {
            applied.push(op.clone());
        }
    }
    (b.finish(), applied)
}

proptest! {
    #[test]
    fn random_layouts_match_a_naive_model(ops in prop::collection::vec(any_op(), 0..24)) {
        let pool: Vec<DxlPackage> = ["a", "b", "@s/c", "b"].iter().enumerate().map(|(i, n)| pkg(n, &format!("{i}.0.0"))).collect();
        let (bytes, applied) = build(&ops, &pool);
        let dxl = Dxl::parse(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        dxl.verify().map_err(|e| TestCaseError::fail(e.to_string()))?;

        // The model: every applied op's path and its ancestors.
        let mut model: BTreeMap<String, ModelKind> = BTreeMap::from([(String::new(), ModelKind::Dir)]);
        for op in &applied {
            let path = match op { Op::Place(p, _) | Op::Link(p, _) => p };
            for (i, _) in path.match_indices('/') {
                model.entry(path[..i].to_string()).or_insert(ModelKind::Dir);
            }
            let kind = match op {
                Op::Place(_, i) => ModelKind::Package(format!("{}@{}", pool[*i].name, pool[*i].version)),
                Op::Link(_, t) => ModelKind::Link(t.clone()),
            };
            model.insert(path.clone(), kind);
        }
        prop_assert_eq!(dxl.nodes().map(|n| n.path().to_string()).collect::<Vec<_>>(), model.keys().cloned().collect::<Vec<_>>());
        for (path, kind) in &model {
            let node = dxl.lookup(path).ok_or_else(|| TestCaseError::fail(format!("lookup {}", path)))?;
            prop_assert_eq!(node.path(), path.as_str());
            let got = match node.kind() {
                NodeKind::Dir => ModelKind::Dir,
                NodeKind::Package(p) => ModelKind::Package(format!("{}@{}", p.name(), p.version())),
                NodeKind::Symlink(t) => ModelKind::Link(t.to_string()),
            };
            prop_assert_eq!(&got, kind);
            let want: Vec<&str> = model.keys().filter(|k| !k.is_empty() && k.rsplit_once('/').map_or("", |(p, _)| p) == path).map(|k| k.rsplit_once('/').map_or(k.as_str(), |(_, n)| n)).collect();
            let children: Vec<&str> = dxl.children(node).map(|n| n.name()).collect();
            prop_assert_eq!(children, want);
            let missing = format!("{path}/zz");
            prop_assert!(dxl.lookup(&missing).is_none(), "found {}", missing);
        }
        for p in &pool {
            let want: BTreeSet<&str> = pool.iter().filter(|q| q.name == p.name).map(|q| q.version.as_str()).collect();
            let got: BTreeSet<&str> = dxl.packages_named(&p.name).map(|q| q.version()).collect();
            prop_assert_eq!(got, want);
        }

        // Same content, other order: same bytes.
        let mut reversed = applied.clone();
        reversed.reverse();
        let (again, applied_again) = build(&reversed, &pool);
        prop_assert_eq!(applied_again.len(), applied.len());
        prop_assert!(again == bytes, "output depends on insertion order");
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..600), valid_header in any::<bool>()) {
        if valid_header && bytes.len() >= HEADER_LEN {
            bytes[..4].copy_from_slice(&MAGIC);
            put_u32(&mut bytes, H_VERSION, FORMAT_VERSION);
            let len = bytes.len() as u64;
            put_u64(&mut bytes, H_FILE_LEN, len);
        }
        if let Ok(dxl) = Dxl::parse(&bytes) {
            exercise(&dxl);
        }
    }

    #[test]
    fn resealed_random_damage_never_panics(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = sample();
        for (at, byte) in flips {
            let i = HEADER_LEN + at.index(bytes.len() - HEADER_LEN);
            bytes[i] = byte;
        }
        reseal(&mut bytes);
        if let Ok(dxl) = Dxl::parse(&bytes) {
            exercise(&dxl);
        }
    }
}
