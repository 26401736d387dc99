use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::hash::{IntegrityAlgorithm, IntegrityHasher};

fn integrity_of(bytes: &[u8]) -> Integrity {
    let mut h = IntegrityHasher::new(IntegrityAlgorithm::Sha512);
    h.update(bytes);
    h.finish()
}

fn edge(spec: &str, kind: EdgeKind, target: Option<&str>) -> LockedEdge {
    LockedEdge {
        specifier: spec.into(),
        kind,
        target: target.map(Into::into),
    }
}

fn sample() -> Lockfile {
    let mut lock = Lockfile::default();
    let root = &mut lock.root.edges;
    root.insert(
        "react".into(),
        edge("^18.2.0", EdgeKind::Normal, Some("react@18.2.0")),
    );
    root.insert(
        "x".into(),
        edge("npm:y@^2", EdgeKind::Normal, Some("y@2.1.0")),
    );
    root.insert(
        "typescript".into(),
        edge("~5.3.0", EdgeKind::Dev, Some("typescript@5.3.3")),
    );
    root.insert("fsevents".into(), edge("^2", EdgeKind::Optional, None));
    root.insert(
        "@types/node".into(),
        edge("*", EdgeKind::OptionalPeer, None),
    );
    lock.root.overrides.insert("a>b".into(), "1.0.0".into());
    let mut react = LockedPackage {
        name: "react".into(),
        version: "18.2.0".into(),
        resolved: Some("https://registry.example.invalid/react/-/react-18.2.0.tgz".into()),
        integrity: Some(integrity_of(b"react")),
        ..Default::default()
    };
    react.dependencies.insert(
        "loose-envify".into(),
        edge("^1.1.0", EdgeKind::Normal, Some("loose-envify@1.4.0")),
    );
    react
        .dependencies
        .insert("fsevents".into(), edge("^2", EdgeKind::Optional, None));
    react.dependencies.insert(
        "@types/react".into(),
        edge("*", EdgeKind::OptionalPeer, None),
    );
    react.dependencies.insert(
        "scheduler".into(),
        edge(">= 0.23", EdgeKind::Peer, Some("scheduler@0.23.0")),
    );
    lock.packages.insert(package_key("react", "18.2.0"), react);
    let y = LockedPackage {
        name: "y".into(),
        version: "2.1.0".into(),
        os: vec!["linux".into(), "!win32".into()],
        cpu: vec!["x64".into()],
        libc: vec!["glibc".into()],
        bin: BTreeMap::from([
            ("y".into(), "bin/y.js".into()),
            ("y two".into(), "bin/y 2.js".into()),
        ]),
        has_install_script: true,
        deprecated: Some("use \"z\" instead # really\nsecond line".into()),
        optional: true,
        dev: true,
        ..Default::default()
    };
    lock.packages.insert(package_key("y", "2.1.0"), y);
    let local = LockedPackage {
        name: "@scope/local".into(),
        version: "file:../local pkg".into(),
        ..Default::default()
    };
    lock.packages
        .insert(package_key("@scope/local", "file:../local pkg"), local);
    lock.packages.insert(
        package_key("typescript", "5.3.3"),
        LockedPackage {
            name: "typescript".into(),
            version: "5.3.3".into(),
            dev: true,
            ..Default::default()
        },
    );
    lock
}

#[test]
fn sample_round_trips_and_reads_well() {
    let lock = sample();
    let text = lock.to_text();
    let expected_block = "package react@18.2.0
  resolved https://registry.example.invalid/react/-/react-18.2.0.tgz
  integrity ";
    assert!(text.contains(expected_block), "{text}");
    assert!(
        text.contains("  optional-peer-dependency @types/react *\n"),
        "{text}"
    );
    assert!(
        text.contains("  peer-dependency scheduler \">= 0.23\" scheduler@0.23.0\n"),
        "{text}"
    );
    assert!(
        text.contains("  deprecated \"use \\\"z\\\" instead # really\\nsecond line\"\n"),
        "{text}"
    );
    assert!(
        text.contains("package \"@scope/local@file:../local pkg\"\n\n"),
        "name/version come from the key: {text}"
    );
    assert!(text.starts_with("# dx.lock"));
    assert!(
        text.contains(
            "\ndx-lock 2\n\nroot\n  dependency react ^18.2.0 react@18.2.0\n  dependency x npm:y@^2 y@2.1.0\n  dev-dependency typescript ~5.3.0 typescript@5.3.3\n  optional-dependency fsevents ^2\n  optional-peer-dependency @types/node *\n  override a>b 1.0.0\n\npackage"
        ),
        "root edges carry their targets, by kind then name: {text}"
    );
    let parsed = Lockfile::parse(&text).unwrap();
    assert_eq!(parsed, lock);
    assert_eq!(parsed.to_text(), text);
}

#[test]
fn alias_edges_keep_the_alias_name_and_point_at_the_real_package() {
    let text = "dx-lock 1\nroot\n  dependency x npm:y@^2\npackage app@1.0.0\n  dependency x npm:y@^2 y@2.1.0\npackage y@2.1.0\n";
    let lock = Lockfile::parse(text).unwrap();
    let e = &lock.packages["app@1.0.0"].dependencies["x"];
    assert_eq!(e.specifier, "npm:y@^2");
    assert_eq!(e.target.as_deref(), Some("y@2.1.0"));
    assert_eq!(lock.packages["y@2.1.0"].name, "y");
}

#[test]
fn non_registry_keys_split_at_the_first_at_after_the_scope() {
    assert_eq!(split_package_key("@s/a@1.0.0"), Some(("@s/a", "1.0.0")));
    assert_eq!(
        split_package_key("a@git+ssh://git@host.invalid/a.git#abc"),
        Some(("a", "git+ssh://git@host.invalid/a.git#abc"))
    );
    assert_eq!(split_package_key("noversion"), None);
    assert_eq!(split_package_key("@"), None);
    assert_eq!(split_package_key(""), None);
    let lock =
        Lockfile::parse("dx-lock 1\npackage \"a@git+ssh://git@host.invalid/a.git#abc\"\n").unwrap();
    let pkg = &lock.packages["a@git+ssh://git@host.invalid/a.git#abc"];
    assert_eq!(
        (pkg.name.as_str(), pkg.version.as_str()),
        ("a", "git+ssh://git@host.invalid/a.git#abc")
    );
}

#[test]
fn crlf_comments_and_unsorted_blocks_are_accepted() {
    let text = "# hi\r\ndx-lock 1\r\n\r\npackage b@1.0.0\r\n  # note\r\n  dev\r\npackage a@1.0.0\r\nroot\r\n  dependency a 1\r\n";
    let lock = Lockfile::parse(text).unwrap();
    assert_eq!(
        lock.packages.keys().collect::<Vec<_>>(),
        ["a@1.0.0", "b@1.0.0"]
    );
    assert!(lock.packages["b@1.0.0"].dev);
    assert_eq!(lock.root.edges["a"].specifier, "1");
}

fn err(text: &str) -> LockfileError {
    Lockfile::parse(text).unwrap_err()
}

#[test]
fn errors_name_the_line_and_the_package() {
    let e = err("dx-lock 1\n\npackage a@1.0.0\n  resolved x\n  resolved y\n");
    assert_eq!(e.line(), 5);
    assert_eq!(
        e.to_string(),
        "dx.lock:5: package `a@1.0.0`: duplicate `resolved`"
    );

    let e = err("dx-lock 1\npackage a@1.0.0\n  integrity md5-abc\n");
    assert_eq!(e.line(), 3);
    assert!(
        e.to_string()
            .starts_with("dx.lock:3: package `a@1.0.0`: invalid integrity"),
        "{e}"
    );

    let e = err("dx-lock 1\npackage a@1.0.0\n  frobnicate 1\n");
    assert_eq!(
        e.to_string(),
        "dx.lock:3: package `a@1.0.0`: unknown field `frobnicate`"
    );

    let e = err("dx-lock 1\npackage a@1.0.0\n  deprecated \"open\n");
    assert_eq!(e.to_string(), "dx.lock:3: unterminated quoted string");

    let e = err("dx-lock 1\npackage a@1.0.0\npackage a@1.0.0\n");
    assert_eq!(
        e.to_string(),
        "dx.lock:3: package `a@1.0.0` is listed twice (first on line 2)"
    );

    let e = err("dx-lock 1\n  dependency a 1\n");
    assert_eq!(e.line(), 2);

    let e =
        err("dx-lock 1\npackage a@1.0.0\n  dependency b ^1 b@1.0.0\n  optional-dependency b ^1\n");
    assert_eq!(
        e.to_string(),
        "dx.lock:4: duplicate dependency of `a@1.0.0`: `b`"
    );

    let e = err("dx-lock 1\npackage nokey\n");
    assert_eq!(e.line(), 2);
    assert!(e.to_string().contains("`name` line is required"), "{e}");

    assert_eq!(
        err("dx-lock 3\n"),
        LockfileError::UnsupportedVersion {
            line: 1,
            found: "3".into()
        }
    );
    assert_eq!(
        err("dx-lock 02\n"),
        LockfileError::UnsupportedVersion {
            line: 1,
            found: "02".into()
        }
    );
    assert!(matches!(
        err("dx-lock 0\n"),
        LockfileError::UnsupportedVersion { line: 1, .. }
    ));
    assert_eq!(
        err("dx-lock 2\npackage a@1.0.0\n  dev-dependency b ^1 b@1.0.0\n").to_string(),
        "dx.lock:3: package `a@1.0.0`: `dev-dependency` belongs to the root block only"
    );
    assert_eq!(
        err("dx-lock 2\nroot\n  dependency b ^1 b@1.0.0\n  dev-dependency b ^1\n").to_string(),
        "dx.lock:4: duplicate root dependency `b`"
    );
    assert_eq!(
        err("dx-lock 2\nroot\n  dependency b\n").to_string(),
        "dx.lock:3: `dependency` takes a name, a specifier and the resolved key, found 1 values"
    );
    assert_eq!(
        err("dx-lock 2\nroot\n  override a>b\n").to_string(),
        "dx.lock:3: `override` takes a selector and a specifier, found 1 values"
    );
    assert_eq!(
        err("# only a comment\n"),
        LockfileError::MissingHeader { line: 2 }
    );
    assert_eq!(err("\n\nroot\n"), LockfileError::MissingHeader { line: 3 });
    assert!(matches!(
        err("dx-lock 1\nroot\nroot\n"),
        LockfileError::Syntax { line: 3, .. }
    ));
    assert!(matches!(
        err("dx-lock 1\npackage a@1\n  os\n"),
        LockfileError::Syntax { line: 3, .. }
    ));
    assert!(matches!(
        err("dx-lock 1\npackage a@1\n  dev yes\n"),
        LockfileError::Syntax { line: 3, .. }
    ));
    assert!(matches!(
        err("dx-lock 1\npackage a@1\n  bin x\n"),
        LockfileError::Syntax { line: 3, .. }
    ));
    assert!(matches!(
        err("dx-lock 1\npackage a\"b@1\n"),
        LockfileError::Syntax { line: 2, .. }
    ));
    assert!(matches!(
        err("dx-lock 1\npackage \"a\\q\"\n"),
        LockfileError::Syntax { line: 2, .. }
    ));
    assert!(matches!(
        err("dx-lock 1\npackage \"a\\u{110000}\"\n"),
        LockfileError::Syntax { line: 2, .. }
    ));
    assert!(matches!(
        err("dx-lock 1\npackage \"a\"b\n"),
        LockfileError::Syntax { line: 2, .. }
    ));
}

/// The importer a manifest gives: the lock's edges without targets.
fn manifest_of(lock: &Lockfile) -> Importer {
    let mut manifest = lock.root.clone();
    for edge in manifest.edges.values_mut() {
        edge.target = None;
    }
    manifest
}

#[test]
fn staleness_names_the_first_difference() {
    let lock = sample();
    assert_eq!(lock.is_stale_for(&lock.root), None);
    assert_eq!(
        lock.is_stale_for(&manifest_of(&lock)),
        None,
        "targets are not the manifest's business"
    );
    let mut root = manifest_of(&lock);
    root.edges.get_mut("react").unwrap().specifier = "^18.3.0".into();
    assert_eq!(
        lock.is_stale_for(&root).as_deref(),
        Some("dependencies: `react` is `^18.3.0` in package.json but `^18.2.0` in dx.lock")
    );
    let mut root = manifest_of(&lock);
    root.edges.remove("typescript");
    assert_eq!(
        lock.is_stale_for(&root).as_deref(),
        Some("devDependencies: `typescript@~5.3.0` is in dx.lock but no longer in package.json")
    );
    let mut root = manifest_of(&lock);
    root.edges
        .insert("p".into(), edge("1", EdgeKind::Peer, None));
    assert_eq!(
        lock.is_stale_for(&root).as_deref(),
        Some("peerDependencies: `p@1` is in package.json but not in dx.lock")
    );
    let mut root = manifest_of(&lock);
    root.edges.get_mut("typescript").unwrap().kind = EdgeKind::Normal;
    assert_eq!(
        lock.is_stale_for(&root).as_deref(),
        Some("dependencies: `typescript@~5.3.0` is in package.json but not in dx.lock"),
        "moving a name to another section is a change"
    );
    let mut root = manifest_of(&lock);
    root.edges.get_mut("@types/node").unwrap().kind = EdgeKind::Peer;
    assert_eq!(
        lock.is_stale_for(&root),
        None,
        "both peer kinds are peerDependencies (version 1 wrote optional peers as peers)"
    );
    let mut root = manifest_of(&lock);
    root.overrides.clear();
    assert!(
        lock.is_stale_for(&root)
            .unwrap()
            .starts_with("overrides: `a>b@1.0.0`")
    );
}

#[test]
fn version_1_is_read_without_root_targets() {
    let v1 = "# dx.lock: written by dx. One package per block, sorted, so merges stay simple.
dx-lock 1

root
  dependency react ^18.2.0
  dev-dependency typescript ~5.3.0
  peer-dependency p 1
  override a>b 1.0.0

package react@18.2.0
  dependency loose-envify ^1.1.0 loose-envify@1.4.0
";
    let (lock, version) = Lockfile::parse_versioned(v1).unwrap();
    assert_eq!(version, 1);
    assert_eq!(lock, Lockfile::parse(v1).unwrap());
    assert_eq!(
        lock.root.edges["react"],
        edge("^18.2.0", EdgeKind::Normal, None)
    );
    assert_eq!(lock.root.edges["typescript"].kind, EdgeKind::Dev);
    assert_eq!(lock.root.edges["p"].kind, EdgeKind::Peer);
    assert_eq!(lock.root.overrides["a>b"], "1.0.0");
    assert_eq!(
        lock.packages["react@18.2.0"].dependencies["loose-envify"]
            .target
            .as_deref(),
        Some("loose-envify@1.4.0")
    );
    // Written back as version 2, read back the same.
    let text = lock.to_text();
    assert!(text.contains("\ndx-lock 2\n"), "{text}");
    assert_eq!(Lockfile::parse_versioned(&text), Ok((lock, 2)));
}

#[test]
fn dangling_edges_name_the_dependent_the_edge_and_the_missing_target() {
    let mut lock = sample();
    assert_eq!(
        lock.dangling_edges().count(),
        2,
        "sample has loose-envify and scheduler edges without blocks"
    );
    for key in ["loose-envify@1.4.0", "scheduler@0.23.0"] {
        lock.packages.insert(
            key.into(),
            LockedPackage {
                name: split_package_key(key).unwrap().0.into(),
                version: split_package_key(key).unwrap().1.into(),
                ..Default::default()
            },
        );
    }
    assert_eq!(
        lock.dangling_edges().next(),
        None,
        "complete, with unmet optional edges"
    );

    // A lost block: the root's and packages' edges into it are reported, root first.
    let mut lost = lock.clone();
    lost.packages.remove("y@2.1.0");
    lost.packages.remove("scheduler@0.23.0");
    let found: Vec<String> = lost.dangling_edges().map(|d| d.to_string()).collect();
    assert_eq!(
        found,
        [
            "the root project depends on `x` (npm:y@^2), locked to `y@2.1.0`, which has no `package` block",
            "react@18.2.0 depends on `scheduler` (>= 0.23), locked to `scheduler@0.23.0`, which has no `package` block",
        ]
    );
    let first = lost.dangling_edges().next().unwrap();
    assert_eq!((first.dependent, first.name), (None, "x"));

    // A required root edge without a target (a version 1 lock whose block was lost).
    let mut untargeted = lock.clone();
    untargeted.root.edges.get_mut("react").unwrap().target = None;
    let d = untargeted.dangling_edges().next().unwrap();
    assert_eq!(
        d.to_string(),
        "the root project depends on `react` (^18.2.0), which no `package` block provides"
    );
}

#[test]
fn truncating_at_a_block_boundary_leaves_dangling_edges() {
    let mut lock = sample();
    for key in ["loose-envify@1.4.0", "scheduler@0.23.0"] {
        let (name, version) = split_package_key(key).unwrap();
        lock.packages.insert(
            key.into(),
            LockedPackage {
                name: name.into(),
                version: version.into(),
                ..Default::default()
            },
        );
    }
    let text = lock.to_text();
    let cut = text.rfind("\npackage ").unwrap();
    let truncated = Lockfile::parse(&text[..cut + 1]).expect("a block boundary parses");
    assert_eq!(truncated.packages.len(), lock.packages.len() - 1);
    assert!(truncated.dangling_edges().next().is_some());
}

#[test]
fn links_are_directories_not_tarballs() {
    let pkg = |version: &str| LockedPackage {
        version: version.into(),
        ..Default::default()
    };
    assert!(pkg("link:../x").is_link());
    assert!(pkg("file:../x").is_link());
    assert!(!pkg("file:../x.TGZ").is_link());
    assert!(!pkg("file:../x.tar.gz").is_link());
    assert!(!pkg("1.0.0").is_link());
    assert!(!pkg("https://host.invalid/x.tgz").is_link());
}

#[test]
fn tokens_with_every_awkward_character_round_trip() {
    for s in [
        "", " ", "#", "\"", "\\", "a b", "\u{2028}", "\u{0}", "\u{7f}", "\u{85}", "é", "\t\r\n",
        "\\u{41}",
    ] {
        let mut out = String::new();
        token::push_token(&mut out, s);
        assert!(!out.contains('\n') && !out.contains('\r'), "{out:?}");
        let mut toks = Vec::new();
        token::tokenize(&out, &mut toks).unwrap();
        assert_eq!(toks.len(), 1, "{out:?}");
        assert_eq!(toks[0], s);
    }
}

/// Arbitrary strings, biased towards the characters the quoting has to handle.
fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z@/.^~<>=|*:-]{0,12}",
        "[ \"#\\\\\t\r\n@a]{0,6}",
        any::<String>(),
    ]
}

/// A package edge's kind (`Dev` is an importer's only).
fn any_kind() -> impl Strategy<Value = EdgeKind> {
    prop_oneof![
        Just(EdgeKind::Normal),
        Just(EdgeKind::Optional),
        Just(EdgeKind::Peer),
        Just(EdgeKind::OptionalPeer)
    ]
}

fn any_root_kind() -> impl Strategy<Value = EdgeKind> {
    prop::sample::select(EdgeKind::ALL.to_vec())
}

fn any_integrity() -> impl Strategy<Value = Option<Integrity>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 64).prop_map(|d| Integrity::from_digest(
            IntegrityAlgorithm::Sha512,
            &d
        )
        .ok()),
        prop::collection::vec(any::<u8>(), 20).prop_map(|d| Integrity::from_digest(
            IntegrityAlgorithm::Sha1,
            &d
        )
        .ok()),
    ]
}

fn any_edge() -> impl Strategy<Value = LockedEdge> {
    edge_of(any_kind())
}

fn edge_of(kind: impl Strategy<Value = EdgeKind>) -> impl Strategy<Value = LockedEdge> {
    (any_string(), kind, prop::option::of(any_string())).prop_map(|(specifier, kind, target)| {
        LockedEdge {
            specifier,
            kind,
            target,
        }
    })
}

fn any_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(any_string(), any_string(), 0..3)
}

fn any_list() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(any_string(), 0..3)
}

fn any_package() -> impl Strategy<Value = (String, LockedPackage)> {
    let head = (
        any_string(),
        any_string(),
        any::<bool>(),
        prop::option::of(any_string()),
        any_integrity(),
    );
    let body = (
        prop::collection::btree_map(any_string(), any_edge(), 0..4),
        any_list(),
        any_list(),
        any_list(),
        any_map(),
    );
    let flags = (
        any::<bool>(),
        prop::option::of(any_string()),
        any::<bool>(),
        any::<bool>(),
    );
    (head, body, flags).prop_map(
        |(
            (name, version, key_from_fields, resolved, integrity),
            (dependencies, os, cpu, libc, bin),
            (has_install_script, deprecated, optional, dev),
        )| {
            // Half the time a canonical key, else an arbitrary one (fields must survive either way).
            let key = if key_from_fields {
                package_key(&name, &version)
            } else {
                format!("{name}{version}")
            };
            let pkg = LockedPackage {
                name,
                version,
                resolved,
                integrity,
                dependencies,
                os,
                cpu,
                libc,
                bin,
                has_install_script,
                deprecated,
                optional,
                dev,
            };
            (key, pkg)
        },
    )
}

fn any_lockfile() -> impl Strategy<Value = Lockfile> {
    let root = (
        prop::collection::btree_map(any_string(), edge_of(any_root_kind()), 0..5),
        any_map(),
    )
        .prop_map(|(edges, overrides)| Importer { edges, overrides });
    (root, prop::collection::vec(any_package(), 0..6)).prop_map(|(root, packages)| Lockfile {
        root,
        packages: packages.into_iter().collect(),
        ..Lockfile::default()
    })
}

proptest! {
    #[test]
    fn random_lockfiles_round_trip_byte_for_byte(lock in any_lockfile()) {
        let text = lock.to_text();
        let parsed = Lockfile::parse(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&lock), "text:\n{}", text);
        prop_assert_eq!(parsed.map(|p| p.to_text()), Ok(text));
    }

    #[test]
    fn version_1_text_reads_as_the_same_lock_without_root_targets(lock in any_lockfile()) {
        // What version 1 wrote: the same text, no root targets, the old header.
        let mut lock = lock;
        for edge in lock.root.edges.values_mut() {
            edge.target = None;
        }
        let v1 = lock.to_text().replacen("\ndx-lock 2\n", "\ndx-lock 1\n", 1);
        prop_assert_eq!(Lockfile::parse_versioned(&v1), Ok((lock, 1)));
    }

    #[test]
    fn any_string_survives_as_a_token(s in any::<String>()) {
        let mut out = String::new();
        token::push_token(&mut out, &s);
        prop_assert!(!out.contains('\n'));
        let mut toks = Vec::new();
        token::tokenize(&out, &mut toks).map_err(TestCaseError::fail)?;
        prop_assert_eq!(toks.len(), 1);
        prop_assert_eq!(toks[0].as_ref(), s.as_str());
    }

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        let _ = Lockfile::parse(&s);
        let _ = Lockfile::parse(&format!("dx-lock 1\n{s}"));
        if let Ok(lock) = Lockfile::parse(&format!("dx-lock 2\n{s}")) {
            let _ = lock.dangling_edges().count();
        }
    }

    #[test]
    fn mutated_lockfiles_never_panic(lock in any_lockfile(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let text = lock.to_text();
        let mut bytes = text.into_bytes();
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            bytes[i] = byte;
            bytes.truncate(bytes.len() - i / 2);
        }
        let lossy = String::from_utf8_lossy(&bytes);
        // Whatever the parser accepts, dx must write back and re-read unchanged.
        if let Ok(parsed) = Lockfile::parse(&lossy) {
            let written = parsed.to_text();
            let reread = Lockfile::parse(&written);
            prop_assert_eq!(reread, Ok(parsed));
        }
    }
}
