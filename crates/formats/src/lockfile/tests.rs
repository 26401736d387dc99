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
    lock.root
        .dependencies
        .insert("react".into(), "^18.2.0".into());
    lock.root.dependencies.insert("x".into(), "npm:y@^2".into());
    lock.root
        .dev_dependencies
        .insert("typescript".into(), "~5.3.0".into());
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
        text.contains("\ndx-lock 1\n\nroot\n  dependency react ^18.2.0\n"),
        "{text}"
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
    assert_eq!(lock.root.dependencies["a"], "1");
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
        err("dx-lock 2\n"),
        LockfileError::UnsupportedVersion {
            line: 1,
            found: "2".into()
        }
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

#[test]
fn staleness_names_the_first_difference() {
    let lock = sample();
    assert_eq!(lock.is_stale_for(&lock.root), None);
    let mut root = lock.root.clone();
    root.dependencies.insert("react".into(), "^18.3.0".into());
    assert_eq!(
        lock.is_stale_for(&root).as_deref(),
        Some("dependencies: `react` is `^18.3.0` in package.json but `^18.2.0` in dx.lock")
    );
    let mut root = lock.root.clone();
    root.dev_dependencies.clear();
    assert_eq!(
        lock.is_stale_for(&root).as_deref(),
        Some("devDependencies: `typescript@~5.3.0` is in dx.lock but no longer in package.json")
    );
    let mut root = lock.root.clone();
    root.peer_dependencies.insert("p".into(), "1".into());
    assert_eq!(
        lock.is_stale_for(&root).as_deref(),
        Some("peerDependencies: `p@1` is in package.json but not in dx.lock")
    );
    let mut root = lock.root.clone();
    root.overrides.clear();
    assert!(
        lock.is_stale_for(&root)
            .unwrap()
            .starts_with("overrides: `a>b@1.0.0`")
    );
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

fn any_kind() -> impl Strategy<Value = EdgeKind> {
    prop_oneof![
        Just(EdgeKind::Normal),
        Just(EdgeKind::Optional),
        Just(EdgeKind::Peer),
        Just(EdgeKind::OptionalPeer)
    ]
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
    (any_string(), any_kind(), prop::option::of(any_string())).prop_map(
        |(specifier, kind, target)| LockedEdge {
            specifier,
            kind,
            target,
        },
    )
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
    let root = (any_map(), any_map(), any_map(), any_map(), any_map()).prop_map(
        |(dependencies, dev_dependencies, optional_dependencies, peer_dependencies, overrides)| {
            RootSpecs {
                dependencies,
                dev_dependencies,
                optional_dependencies,
                peer_dependencies,
                overrides,
            }
        },
    );
    (root, prop::collection::vec(any_package(), 0..6)).prop_map(|(root, packages)| Lockfile {
        root,
        packages: packages.into_iter().collect(),
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
