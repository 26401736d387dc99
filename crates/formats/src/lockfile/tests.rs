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
            "\ndx-lock 3\n\nroot\n  dependency react ^18.2.0 react@18.2.0\n  dependency x npm:y@^2 y@2.1.0\n  dev-dependency typescript ~5.3.0 typescript@5.3.3\n  optional-dependency fsevents ^2\n  optional-peer-dependency @types/node *\n  override a>b 1.0.0\n\npackage"
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
        err("dx-lock 4\n"),
        LockfileError::UnsupportedVersion {
            line: 1,
            found: "4".into()
        }
    );
    assert_eq!(
        err("dx-lock 03\n"),
        LockfileError::UnsupportedVersion {
            line: 1,
            found: "03".into()
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
    // Written back as the current version, read back the same.
    let text = lock.to_text();
    assert!(text.contains("\ndx-lock 3\n"), "{text}");
    assert_eq!(Lockfile::parse_versioned(&text), Ok((lock, 3)));
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
    assert_eq!((first.dependent, first.name), (Dependent::Root, "x"));

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

/// `sample()` with two members: `packages/a` (named `a`, with a bin, depending on the other
/// member through `workspace:^` and on react) and `packages/b` (`@scope/b`, no version, a dev
/// edge); the root depends on `a`.
fn with_workspaces() -> Lockfile {
    let mut lock = sample();
    let mut a = Workspace {
        name: "a".into(),
        version: "1.0.0".into(),
        bin: BTreeMap::from([("a-cli".into(), "bin/cli.js".into())]),
        ..Default::default()
    };
    a.importer.edges.insert(
        "@scope/b".into(),
        edge(
            "workspace:^",
            EdgeKind::Normal,
            Some(&workspace_key("@scope/b", "packages/b")),
        ),
    );
    a.importer.edges.insert(
        "react".into(),
        edge("^18.0.0", EdgeKind::Normal, Some("react@18.2.0")),
    );
    a.importer
        .edges
        .insert("fsevents".into(), edge("^2", EdgeKind::Optional, None));
    let mut b = Workspace {
        name: "@scope/b".into(),
        ..Default::default()
    };
    b.importer.edges.insert(
        "typescript".into(),
        edge("~5.3.0", EdgeKind::Dev, Some("typescript@5.3.3")),
    );
    lock.workspaces.insert("packages/a".into(), a);
    lock.workspaces.insert("packages/b".into(), b);
    lock.root.edges.insert(
        "a".into(),
        edge(
            "workspace:*",
            EdgeKind::Dev,
            Some(&workspace_key("a", "packages/a")),
        ),
    );
    lock
}

#[test]
fn workspaces_round_trip_between_root_and_packages() {
    let lock = with_workspaces();
    let text = lock.to_text();
    let expected = "  override a>b 1.0.0

workspace packages/a
  name a
  version 1.0.0
  bin a-cli bin/cli.js
  dependency @scope/b workspace:^ @scope/b@workspace:packages/b
  dependency react ^18.0.0 react@18.2.0
  optional-dependency fsevents ^2

workspace packages/b
  name @scope/b
  dev-dependency typescript ~5.3.0 typescript@5.3.3

package ";
    assert!(text.contains(expected), "{text}");
    assert!(
        text.contains("  dev-dependency a workspace:* a@workspace:packages/a\n"),
        "{text}"
    );
    let (parsed, version) = Lockfile::parse_versioned(&text).unwrap();
    assert_eq!(version, LOCKFILE_VERSION);
    assert_eq!(parsed, lock);
    assert_eq!(parsed.to_text(), text);
    assert_eq!(
        parsed.workspaces["packages/b"].version, "",
        "no version line: empty"
    );

    // Awkward paths are quoted and survive; blocks may come in any order.
    let mut odd = Lockfile::default();
    odd.workspaces.insert(
        "apps/my app #1".into(),
        Workspace {
            name: "".into(),
            ..Default::default()
        },
    );
    let text = odd.to_text();
    assert!(
        text.contains("\nworkspace \"apps/my app #1\"\n  name \"\"\n"),
        "{text}"
    );
    assert_eq!(Lockfile::parse(&text), Ok(odd));
    let shuffled = "dx-lock 3\npackage a@1.0.0\nworkspace w\n  name w\nroot\n  dependency w workspace:* w@workspace:w\n";
    let lock = Lockfile::parse(shuffled).unwrap();
    assert_eq!(lock.workspaces["w"].name, "w");
    assert_eq!(lock.dangling_edges().next(), None);
}

#[test]
fn version_2_without_workspaces_reads_as_before() {
    let v3 = sample().to_text();
    let v2 = v3.replacen("\ndx-lock 3\n", "\ndx-lock 2\n", 1);
    assert_ne!(v2, v3);
    assert_eq!(Lockfile::parse_versioned(&v2), Ok((sample(), 2)));
    // Rewritten, it is the current version, byte for byte what dx writes for the same lock.
    assert_eq!(Lockfile::parse(&v2).unwrap().to_text(), v3);
}

#[test]
fn bad_workspace_blocks_name_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "dx-lock 3\nworkspace a\n  name a\nworkspace a\n  name b\n",
            4,
            "dx.lock:4: workspace `a` is listed twice (first on line 2)",
        ),
        (
            "dx-lock 3\nworkspace /abs/a\n  name a\n",
            2,
            "dx.lock:2: workspace `/abs/a`: the path is absolute (member paths are relative to the root)",
        ),
        (
            "dx-lock 3\nworkspace C:/a\n  name a\n",
            2,
            "dx.lock:2: workspace `C:/a`: the path is absolute (member paths are relative to the root)",
        ),
        (
            "dx-lock 3\nworkspace packages/../a\n  name a\n",
            2,
            "dx.lock:2: workspace `packages/../a`: the path has a `..` component (members are inside the root)",
        ),
        (
            "dx-lock 3\nworkspace ./packages/a\n  name a\n",
            2,
            "dx.lock:2: workspace `./packages/a`: the path has a `.` component (write `a/b`, not `./a/b`)",
        ),
        (
            "dx-lock 3\nworkspace \"packages\\\\a\"\n  name a\n",
            2,
            "dx.lock:2: workspace `packages\\a`: the path contains a backslash (dx.lock paths are `/`-separated)",
        ),
        (
            "dx-lock 3\nworkspace \"\"\n  name a\n",
            2,
            "dx.lock:2: workspace ``: the path is empty",
        ),
        (
            "dx-lock 3\nworkspace a//b\n  name a\n",
            2,
            "dx.lock:2: workspace `a//b`: the path has an empty component (`//` or a trailing `/`)",
        ),
        (
            "dx-lock 3\nworkspace a\n  name a\n  override x 1\n",
            4,
            "dx.lock:4: workspace `a`: `override` belongs to the root block only (npm reads overrides from the root package.json)",
        ),
        (
            "dx-lock 3\nworkspace a\n  dependency x 1 x@1\n",
            2,
            "dx.lock:2: workspace `a`: a `name` line is required",
        ),
        (
            "dx-lock 3\nworkspace a\n  name a\n  name b\n",
            4,
            "dx.lock:4: workspace `a`: duplicate `name`",
        ),
        (
            "dx-lock 3\nworkspace a\n  name a\n  version\n",
            4,
            "dx.lock:4: workspace `a`: `version` takes one value, found 0",
        ),
        (
            "dx-lock 3\nworkspace a\n  name a\n  dependency x 1\n  dependency x 2\n",
            5,
            "dx.lock:5: duplicate dependency of workspace `a`: `x`",
        ),
        (
            "dx-lock 3\nworkspace a\n  name a\n  dependency x\n",
            4,
            "dx.lock:4: workspace `a`: `dependency` takes a name, a specifier and the resolved key, found 1 values",
        ),
        (
            "dx-lock 3\nworkspace a\n  name a\n  bin x\n",
            4,
            "dx.lock:4: workspace `a`: `bin` takes a command name and a path, found 1 values",
        ),
        (
            "dx-lock 3\nworkspace a\n  name a\n  resolved x\n",
            4,
            "dx.lock:4: workspace `a`: unknown field `resolved`",
        ),
        (
            "dx-lock 3\nworkspace a b\n",
            2,
            "dx.lock:2: expected `workspace <path>` (quote a path that has spaces)",
        ),
        (
            "dx-lock 2\nworkspace a\n  name a\n",
            2,
            "dx.lock:2: a `workspace` block needs `dx-lock 3` or later (this file is version 2)",
        ),
    ];
    for (text, line, message) in cases {
        let e = err(text);
        assert_eq!(
            (e.line(), e.to_string().as_str()),
            (*line, *message),
            "{text}"
        );
    }
}

#[test]
fn dangling_edges_of_members_are_named_by_path() {
    let mut lock = with_workspaces();
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
    assert_eq!(lock.dangling_edges().next(), None, "complete");

    // A member renamed (or lost): edges to its old key dangle, root first, then members.
    let mut renamed = lock.clone();
    renamed.workspaces.get_mut("packages/b").unwrap().name = "b".into();
    renamed.workspaces.remove("packages/a");
    let found: Vec<String> = renamed.dangling_edges().map(|d| d.to_string()).collect();
    assert_eq!(
        found,
        [
            "the root project depends on `a` (workspace:*), locked to `a@workspace:packages/a`, which is not a workspace member of that name"
        ]
    );
    let mut renamed = lock.clone();
    renamed.workspaces.get_mut("packages/b").unwrap().name = "b".into();
    let d = renamed.dangling_edges().next().unwrap();
    assert_eq!(d.dependent, Dependent::Workspace("packages/a"));
    assert_eq!(
        d.to_string(),
        "the workspace `packages/a` depends on `@scope/b` (workspace:^), locked to `@scope/b@workspace:packages/b`, which is not a workspace member of that name"
    );

    // A member's required edge without a target, and one into a lost package block.
    let mut broken = lock.clone();
    let a = &mut broken.workspaces.get_mut("packages/a").unwrap().importer;
    a.edges.get_mut("react").unwrap().target = None;
    let b = &mut broken.workspaces.get_mut("packages/b").unwrap().importer;
    b.edges.get_mut("typescript").unwrap().target = Some("typescript@9.9.9".into());
    let found: Vec<String> = broken.dangling_edges().map(|d| d.to_string()).collect();
    assert_eq!(
        found,
        [
            "the workspace `packages/a` depends on `react` (^18.0.0), which no `package` block provides",
            "the workspace `packages/b` depends on `typescript` (~5.3.0), locked to `typescript@9.9.9`, which has no `package` block",
        ]
    );

    // A package block does not stand in for a member.
    let mut faked = Lockfile::default();
    faked.root.edges.insert(
        "w".into(),
        edge("workspace:*", EdgeKind::Normal, Some("w@workspace:w")),
    );
    faked.packages.insert(
        "w@workspace:w".into(),
        LockedPackage {
            name: "w".into(),
            version: "workspace:w".into(),
            ..Default::default()
        },
    );
    assert_eq!(faked.dangling_edges().count(), 1);
}

#[test]
fn stale_workspaces_name_the_first_difference() {
    let lock = with_workspaces();
    let members: BTreeMap<String, Importer> = lock
        .workspaces
        .iter()
        .map(|(path, member)| {
            let mut importer = member.importer.clone();
            for edge in importer.edges.values_mut() {
                edge.target = None;
            }
            (path.clone(), importer)
        })
        .collect();
    assert_eq!(lock.stale_workspaces(&members), None);
    assert_eq!(lock.stale_members(&lock.workspaces), None);

    let mut added = members.clone();
    added.insert("packages/c".into(), Importer::default());
    assert_eq!(
        lock.stale_workspaces(&added).as_deref(),
        Some("workspace `packages/c` is in the project but not in dx.lock")
    );
    let mut removed = members.clone();
    removed.remove("packages/a");
    assert_eq!(
        lock.stale_workspaces(&removed).as_deref(),
        Some("workspace `packages/a` is in dx.lock but no longer in the project")
    );
    let mut changed = members.clone();
    changed
        .get_mut("packages/b")
        .unwrap()
        .edges
        .get_mut("typescript")
        .unwrap()
        .specifier = "^5".into();
    assert_eq!(
        lock.stale_workspaces(&changed).as_deref(),
        Some(
            "workspace `packages/b`: devDependencies: `typescript` is `^5` in package.json but `~5.3.0` in dx.lock"
        )
    );
    // The first difference in path order wins; overrides of members are not compared.
    let mut both = changed.clone();
    both.get_mut("packages/a").unwrap().edges.remove("react");
    both.get_mut("packages/a")
        .unwrap()
        .overrides
        .insert("x".into(), "1".into());
    assert_eq!(
        lock.stale_workspaces(&both).as_deref(),
        Some(
            "workspace `packages/a`: dependencies: `react@^18.0.0` is in dx.lock but no longer in package.json"
        )
    );
    assert_eq!(
        lock.is_stale_for(&lock.root),
        None,
        "the root is compared alone"
    );

    // Whole members: name, version and bins too.
    let mut renamed = lock.workspaces.clone();
    renamed.get_mut("packages/a").unwrap().name = "a2".into();
    assert_eq!(
        lock.stale_members(&renamed).as_deref(),
        Some("workspace `packages/a`: `name` is `a2` in package.json but `a` in dx.lock")
    );
    let mut bumped = lock.workspaces.clone();
    bumped.get_mut("packages/b").unwrap().version = "2.0.0".into();
    assert_eq!(
        lock.stale_members(&bumped).as_deref(),
        Some("workspace `packages/b`: `version` is `2.0.0` in package.json but `` in dx.lock")
    );
    let mut bins = lock.workspaces.clone();
    bins.get_mut("packages/a").unwrap().bin.clear();
    assert_eq!(
        lock.stale_members(&bins).as_deref(),
        Some(
            "workspace `packages/a`: bin: `a-cli@bin/cli.js` is in dx.lock but no longer in package.json"
        )
    );
}

#[test]
fn workspace_paths_are_checked() {
    for good in [
        "a",
        "packages/a",
        "apps/my app",
        "@scope/x",
        "a/.hidden",
        "a..b",
    ] {
        assert_eq!(check_workspace_path(good), Ok(()), "{good}");
    }
    for bad in [
        "", "/a", "a/", "./a", "a/./b", "..", "a/..", "a\\b", "c:/x", "a//b",
    ] {
        assert!(check_workspace_path(bad).is_err(), "{bad}");
    }
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
                dependencies: dependencies.into(),
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

/// A member path: one to three components, some with characters that need quoting, never
/// `.` or `..`.
fn any_workspace_path() -> impl Strategy<Value = String> {
    let component = prop_oneof![
        "[a-z0-9@_-][a-z0-9@._-]{0,7}",
        "[a-z .#\"@:-]{1,5}",
        "[^/\\\\]{1,4}",
    ]
    .prop_filter("not . or ..", |c| c != "." && c != "..");
    prop::collection::vec(component, 1..4)
        .prop_map(|parts| parts.join("/"))
        .prop_filter("a member path", |p| check_workspace_path(p).is_ok())
}

fn any_workspace() -> impl Strategy<Value = Workspace> {
    (
        any_string(),
        prop_oneof![Just(String::new()), any_string()],
        prop::collection::btree_map(any_string(), edge_of(any_root_kind()), 0..4),
        any_map(),
    )
        .prop_map(|(name, version, edges, bin)| Workspace {
            name,
            version,
            importer: Importer {
                edges: edges.into(),
                overrides: BTreeMap::new(),
            },
            bin,
        })
}

fn any_lockfile() -> impl Strategy<Value = Lockfile> {
    let root = (
        prop::collection::btree_map(any_string(), edge_of(any_root_kind()), 0..5),
        any_map(),
    )
        .prop_map(|(edges, overrides)| Importer {
            edges: edges.into(),
            overrides,
        });
    let workspaces = prop::collection::btree_map(any_workspace_path(), any_workspace(), 0..3);
    (root, workspaces, prop::collection::vec(any_package(), 0..6)).prop_map(
        |(root, workspaces, packages)| Lockfile {
            root,
            workspaces,
            packages: packages.into_iter().collect(),
        },
    )
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
        lock.workspaces.clear();
        let v1 = lock.to_text().replacen("\ndx-lock 3\n", "\ndx-lock 1\n", 1);
        prop_assert_eq!(Lockfile::parse_versioned(&v1), Ok((lock, 1)));
    }

    #[test]
    fn version_2_text_reads_as_the_same_lock(lock in any_lockfile()) {
        // Version 2 is version 3 without workspace blocks.
        let mut lock = lock;
        lock.workspaces.clear();
        let v2 = lock.to_text().replacen("\ndx-lock 3\n", "\ndx-lock 2\n", 1);
        prop_assert_eq!(Lockfile::parse_versioned(&v2), Ok((lock, 2)));
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
