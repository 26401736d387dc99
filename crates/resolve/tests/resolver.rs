//! Resolver behaviour beyond the layout cases: re-resolution, updates, unsupported specifiers,
//! local directories, production plans, and a 5,000-package graph.

#[path = "support/memory_source.rs"]
mod memory_source;

use std::collections::BTreeMap;
use std::time::Instant;

use dx_resolve::layout::SkipReason;
use dx_resolve::packument::RawPackument;
use dx_resolve::{
    LayoutOptions, PackageJson, Packument, Platform, ResolveError, ResolveOptions, ResolveWarning,
    UpdateSelection, plan_layout, resolve,
};
use memory_source::{MemorySource, manifest};
use serde_json::json;

fn linux() -> LayoutOptions {
    LayoutOptions {
        platform: Platform {
            os: "linux".into(),
            cpu: "x64".into(),
            libc: Some("glibc".into()),
        },
        omit_dev: false,
        omit_optional: false,
    }
}

fn source() -> MemorySource {
    MemorySource::from_case(&json!({
        "a": {"versions": {"1.0.0": {"dependencies": {"c": "^1.0.0"}}, "1.1.0": {"dependencies": {"c": "^1.0.0"}}}},
        "b": {"versions": {"1.0.0": {"dependencies": {"c": "^1.0.0"}}}},
        "c": {"versions": {"1.0.0": {}, "1.1.0": {}}},
        "t": {"versions": {"1.0.0": {"bin": "t.js"}}}
    }))
}

fn pj(v: serde_json::Value) -> PackageJson {
    PackageJson::parse(&v.to_string()).expect("package.json")
}

#[test]
fn adding_a_dependency_fetches_only_what_is_new() {
    let src = source();
    let first = resolve(
        &src,
        &pj(json!({"dependencies": {"a": "^1.0.0"}})),
        None,
        &ResolveOptions::default(),
    )
    .expect("resolves");
    assert_eq!(src.request_count(), 2, "a and c");
    let before = src.request_count();
    let prefetched_before = src.prefetched.lock().expect("lock").len();
    let root = pj(json!({"dependencies": {"a": "^1.0.0", "b": "^1.0.0"}}));
    let second = resolve(
        &src,
        &root,
        Some(&first.resolution),
        &ResolveOptions::default(),
    )
    .expect("resolves");
    let fetched: Vec<String> = src.requests.lock().expect("lock")[before..].to_vec();
    assert_eq!(
        fetched,
        vec!["b".to_string()],
        "only the new package is fetched"
    );
    assert!(second.resolution.packages.contains_key("b@1.0.0"));
    // Nothing is prefetched for an edge the lock answers (the kept root edge `a`); the new
    // edge `b` and what it brings may be.
    let prefetched = src.prefetched.lock().expect("lock")[prefetched_before..].to_vec();
    assert!(prefetched.contains(&"b".to_string()), "{prefetched:?}");
    assert!(!prefetched.contains(&"a".to_string()), "{prefetched:?}");
    assert!(second.resolution.packages.contains_key("c@1.1.0"));
}

#[test]
fn a_changed_specifier_is_re_resolved_and_unchanged_ones_kept() {
    let mut src = source();
    let first = resolve(
        &src,
        &pj(json!({"dependencies": {"a": "^1.0.0", "c": "~1.0.0"}})),
        None,
        &ResolveOptions::default(),
    )
    .expect("resolves");
    assert!(first.resolution.packages.contains_key("c@1.0.0"));
    // A newer a appears; an unchanged specifier keeps the locked a@1.1.0 anyway.
    src.add("a", &json!({"versions": {"1.0.0": {}, "1.1.0": {"dependencies": {"c": "^1.0.0"}}, "1.2.0": {}}}));
    let root = pj(json!({"dependencies": {"a": "^1.0.0", "c": "^1.1.0"}}));
    let second = resolve(
        &src,
        &root,
        Some(&first.resolution),
        &ResolveOptions::default(),
    )
    .expect("resolves");
    assert!(second.resolution.packages.contains_key("a@1.1.0"));
    assert!(second.resolution.packages.contains_key("c@1.1.0"));
    assert!(!second.resolution.packages.contains_key("c@1.0.0"));
    // `dx update a` moves it.
    let options = ResolveOptions {
        update: UpdateSelection::Names(vec!["a".into()]),
        ..ResolveOptions::default()
    };
    let third = resolve(&src, &root, Some(&second.resolution), &options).expect("resolves");
    assert!(third.resolution.packages.contains_key("a@1.2.0"));
}

#[test]
fn git_and_workspace_specifiers_are_reported_not_guessed() {
    let src = source();
    let err = resolve(
        &src,
        &pj(json!({"dependencies": {"g": "github:user/repo"}})),
        None,
        &ResolveOptions::default(),
    )
    .expect_err("git needs a source that clones");
    assert!(
        matches!(
            err,
            ResolveError::Source {
                source: dx_resolve::SourceError::Unsupported { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("git dependency github:user/repo"),
        "{err}"
    );
    let ok = resolve(
        &src,
        &pj(json!({"optionalDependencies": {"g": "github:user/repo"}})),
        None,
        &ResolveOptions::default(),
    )
    .expect("optional git is skipped");
    assert!(
        matches!(&ok.warnings[..], [ResolveWarning::OptionalSkipped { name, .. }] if name == "g")
    );
    let err = resolve(
        &src,
        &pj(json!({"dependencies": {"u": "http://127.0.0.1:9/u.tgz"}})),
        None,
        &ResolveOptions::default(),
    )
    .expect_err("tarballs need a source that reads them");
    assert!(err.to_string().contains("not supported"), "{err}");
}

#[test]
fn missing_versions_and_packages_name_the_dependent() {
    let src = source();
    let err = resolve(
        &src,
        &pj(json!({"dependencies": {"a": "^9.0.0"}})),
        None,
        &ResolveOptions::default(),
    )
    .expect_err("no such version");
    assert_eq!(
        err.to_string(),
        "no version of a matches \"^9.0.0\" (required by the root project)"
    );
    let src = MemorySource::from_case(
        &json!({"x": {"versions": {"1.0.0": {"dependencies": {"gone": "1"}}}}}),
    );
    let err = resolve(
        &src,
        &pj(json!({"dependencies": {"x": "1"}})),
        None,
        &ResolveOptions::default(),
    )
    .expect_err("missing");
    assert!(err.to_string().contains("required by x@1.0.0"), "{err}");
}

#[test]
fn an_unreadable_integrity_is_an_error_naming_the_package() {
    let src = MemorySource::from_case(&json!({
        "a": {"versions": {"1.0.0": {"dependencies": {"bad": "^1"}}}},
        "bad": {"versions": {"1.0.0": {"dist": {"tarball": "http://127.0.0.1:9/bad.tgz", "integrity": "md5-nope"}}}},
        "sha": {"versions": {"1.0.0": {"dist": {"tarball": "http://127.0.0.1:9/sha.tgz", "shasum": "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"}}}}
    }));
    let err = resolve(
        &src,
        &pj(json!({"dependencies": {"a": "^1"}})),
        None,
        &ResolveOptions::default(),
    )
    .expect_err("an integrity that does not parse is not dropped");
    assert!(
        matches!(&err, ResolveError::Integrity { package, value, .. } if package == "bad@1.0.0" && value == "md5-nope"),
        "{err}"
    );
    assert!(err.to_string().contains("bad@1.0.0"), "{err}");
    // A legacy sha1 `shasum` becomes an integrity, typed.
    let ok = resolve(
        &src,
        &pj(json!({"dependencies": {"sha": "^1"}})),
        None,
        &ResolveOptions::default(),
    )
    .expect("resolves");
    let integrity = ok.resolution.packages["sha@1.0.0"].integrity.as_ref();
    assert_eq!(
        integrity.map(|i| i.algorithm()),
        Some(dx_formats::hash::IntegrityAlgorithm::Sha1)
    );
}

#[test]
fn link_and_file_directories_become_links() {
    let dir = tempfile::tempdir().expect("tempdir");
    let local = dir.path().join("local");
    std::fs::create_dir_all(&local).expect("mkdir");
    std::fs::write(
        local.join("package.json"),
        r#"{"name": "local-pkg", "version": "0.3.0", "bin": "run.js"}"#,
    )
    .expect("write");
    let src = source();
    let options = ResolveOptions {
        project_dir: Some(dir.path().to_path_buf()),
        ..ResolveOptions::default()
    };
    let root = pj(json!({"dependencies": {"l": "link:./local", "f": "file:./local"}}));
    let out = resolve(&src, &root, None, &options).expect("resolves");
    let linked = &out.resolution.packages["local-pkg@link:./local"];
    assert!(linked.is_link());
    assert_eq!(linked.version, "link:./local");
    let plan = plan_layout(&out.resolution, &linux()).expect("plans");
    assert!(plan.nodes.is_empty(), "directories are links, not packages");
    let links: Vec<(&str, &str, &str)> = plan
        .links
        .iter()
        .map(|l| {
            (
                l.install_path.as_str(),
                l.target.as_str(),
                l.package_key.as_str(),
            )
        })
        .collect();
    assert_eq!(
        links,
        vec![
            ("f", "../local", "local-pkg@file:./local"),
            ("l", "../local", "local-pkg@link:./local")
        ]
    );
    assert!(
        plan.bin_links
            .iter()
            .any(|b| b.link_path == ".bin/local-pkg" && b.target == "../f/run.js")
    );
    // And back through dx.lock.
    let lock = dx_resolve::lockfile::parse(&out.resolution.to_text()).expect("lock");
    let again = plan_layout(&lock, &linux()).expect("plans");
    assert_eq!(again.nodes, plan.nodes);
}

#[test]
fn production_plans_leave_dev_only_packages_out() {
    let src = source();
    let root = pj(
        json!({"dependencies": {"b": "^1.0.0"}, "devDependencies": {"a": "^1.0.0", "t": "^1.0.0"}}),
    );
    let out = resolve(&src, &root, None, &ResolveOptions::default()).expect("resolves");
    assert!(out.resolution.packages["a@1.1.0"].dev);
    assert!(
        !out.resolution.packages["c@1.1.0"].dev,
        "c is reached through b too"
    );
    let plan = plan_layout(
        &out.resolution,
        &LayoutOptions {
            omit_dev: true,
            ..linux()
        },
    )
    .expect("plans");
    let kept: Vec<&str> = plan.nodes.iter().map(|n| n.install_path.as_str()).collect();
    assert_eq!(kept, vec!["b", "c"]);
    assert!(plan.skipped.iter().all(|s| s.reason == SkipReason::Dev));
    assert!(plan.bin_links.is_empty(), "dev bins are not linked");
    let full = plan_layout(&out.resolution, &linux()).expect("plans");
    assert_eq!(full.nodes.len(), 4);
}

#[test]
fn prefetch_announces_names_before_they_are_fetched() {
    let src = source();
    resolve(
        &src,
        &pj(json!({"dependencies": {"a": "^1.0.0", "b": "^1.0.0"}})),
        None,
        &ResolveOptions::default(),
    )
    .expect("resolves");
    let prefetched = src.prefetched.lock().expect("lock").clone();
    assert!(
        prefetched.starts_with(&["a".to_string(), "b".to_string()]),
        "{prefetched:?}"
    );
    assert!(prefetched.contains(&"c".to_string()));
}

/// A deterministic pseudo-random graph: package i depends on a few packages with larger
/// indices, with ranges that sometimes exclude the newest major, so nesting happens.
fn synthetic_source(count: usize) -> MemorySource {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let mut src = MemorySource::default();
    for i in 0..count {
        let name = format!("pkg-{i}");
        let mut packument = RawPackument {
            name: name.clone(),
            ..RawPackument::default()
        };
        for major in 1..=3 {
            for minor in 0..3 {
                let version = format!("{major}.{minor}.0");
                let mut deps: Vec<(String, String)> = Vec::new();
                if i + 1 < count {
                    for _ in 0..next(4) {
                        let target = i + 1 + next((count - i - 1).min(300));
                        // Mostly the current major, sometimes an older one (forcing nesting).
                        let range = if next(10) < 8 {
                            "^3.0.0".to_string()
                        } else {
                            format!("^{}.0.0", 1 + next(2))
                        };
                        deps.push((format!("pkg-{target}"), range));
                    }
                }
                let deps_ref: Vec<(&str, &str)> =
                    deps.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
                packument
                    .versions
                    .insert(version.clone(), manifest(&name, &version, &deps_ref));
            }
        }
        packument.dist_tags.insert("latest".into(), "3.2.0".into());
        src.insert(Packument::from_raw(&packument, &Default::default()));
    }
    src
}

#[test]
fn five_thousand_packages_resolve_and_plan() {
    const COUNT: usize = 5_000;
    let src = synthetic_source(COUNT);
    let deps: BTreeMap<String, String> = (0..40)
        .map(|i| (format!("pkg-{}", i * 7), "^3.0.0".to_string()))
        .collect();
    let root = PackageJson {
        dependencies: deps,
        ..PackageJson::default()
    };
    let started = Instant::now();
    let out = resolve(&src, &root, None, &ResolveOptions::default()).expect("resolves");
    let resolved_in = started.elapsed();
    let started = Instant::now();
    let plan = plan_layout(&out.resolution, &linux()).expect("plans");
    let planned_in = started.elapsed();
    eprintln!(
        "5k graph: {} packuments, {} packages, {} install paths ({} nested); resolve {:?}, plan {:?}",
        out.packuments_fetched,
        out.resolution.packages.len(),
        plan.nodes.len(),
        plan.nodes
            .iter()
            .filter(|n| n.install_path.contains("/node_modules/"))
            .count(),
        resolved_in,
        planned_in
    );
    assert!(
        out.resolution.packages.len() > 1_000,
        "{}",
        out.resolution.packages.len()
    );
    assert!(plan.nodes.len() >= out.resolution.packages.len());
    // Every edge of every planned copy resolves, node-style, to a copy that satisfies it.
    let by_path: BTreeMap<&str, &str> = plan
        .nodes
        .iter()
        .map(|n| (n.install_path.as_str(), n.package_key.as_str()))
        .collect();
    for node in &plan.nodes {
        let package = &out.resolution.packages[&node.package_key];
        for (dep, edge) in &package.dependencies {
            let mut dir = node.install_path.clone();
            let found = loop {
                let candidate = format!("{dir}/node_modules/{dep}");
                if let Some(key) = by_path.get(candidate.as_str()) {
                    break Some(*key);
                }
                match dir.rfind("/node_modules/") {
                    Some(i) => dir.truncate(i),
                    None => break by_path.get(dep.as_str()).copied(),
                }
            };
            let found = found.unwrap_or_else(|| panic!("{} cannot find {dep}", node.install_path));
            let version = &out.resolution.packages[found].version;
            assert!(
                dx_resolve::semver::satisfies(version, &edge.specifier),
                "{} gets {found} for {dep}@{}",
                node.install_path,
                edge.specifier
            );
        }
    }
}

fn members(list: &[(&str, serde_json::Value)]) -> Vec<dx_resolve::WorkspaceMember> {
    list.iter()
        .map(|(path, v)| dx_resolve::WorkspaceMember {
            path: (*path).to_owned(),
            manifest: pj(v.clone()),
        })
        .collect()
}

#[test]
fn the_workspace_protocol_always_links_the_member() {
    let src = source();
    let options = ResolveOptions {
        workspaces: members(&[
            (
                "packages/app",
                json!({"name": "app", "version": "1.0.0", "dependencies": {"lib": "workspace:^", "a": "^1.0.0"}, "devDependencies": {"tools": "workspace:~"}}),
            ),
            // A registry package named like a member: `workspace:` never fetches it.
            ("packages/lib", json!({"name": "lib", "version": "2.1.0"})),
            (
                "tools",
                json!({"name": "tools", "version": "0.1.0", "dependencies": {"lib": "workspace:2.1.0"}}),
            ),
        ]),
        ..ResolveOptions::default()
    };
    let root = pj(json!({"devDependencies": {"app": "workspace:*"}}));
    let out = resolve(&src, &root, None, &options).expect("resolves");
    let lock = &out.resolution;
    assert_eq!(
        lock.root.edges["app"].target.as_deref(),
        Some("app@workspace:packages/app")
    );
    let app = &lock.workspaces["packages/app"];
    assert_eq!(
        app.importer.edges["lib"].target.as_deref(),
        Some("lib@workspace:packages/lib")
    );
    assert_eq!(
        app.importer.edges["tools"].target.as_deref(),
        Some("tools@workspace:tools")
    );
    assert_eq!(app.importer.edges["a"].target.as_deref(), Some("a@1.1.0"));
    assert_eq!(
        lock.workspaces["tools"].importer.edges["lib"]
            .target
            .as_deref(),
        Some("lib@workspace:packages/lib")
    );
    assert!(
        !lock.packages.keys().any(|k| k.starts_with("lib@")),
        "nothing fetched for lib"
    );
    assert_eq!(lock.dangling_edges().count(), 0);
    let plan = plan_layout(lock, &linux()).expect("plans");
    let links: Vec<(&str, &str)> = plan
        .links
        .iter()
        .map(|l| (l.install_path.as_str(), l.target.as_str()))
        .collect();
    assert_eq!(
        links,
        [
            ("app", "../packages/app"),
            ("lib", "../packages/lib"),
            ("tools", "../tools")
        ]
    );
}

#[test]
fn a_workspace_range_no_member_satisfies_is_an_error() {
    let src = source();
    let options = ResolveOptions {
        workspaces: members(&[
            ("packages/lib", json!({"name": "lib", "version": "1.0.0"})),
            (
                "packages/app",
                json!({"name": "app", "version": "1.0.0", "dependencies": {"lib": "workspace:^2.0.0", "nope": "workspace:*"}}),
            ),
        ]),
        ..ResolveOptions::default()
    };
    let err = resolve(&src, &pj(json!({})), None, &options).expect_err("no member satisfies");
    assert_eq!(
        err.to_string(),
        "workspace app (packages/app) depends on lib@workspace:^2.0.0, but no workspace member named lib satisfies it (the member is at 1.0.0)"
    );
    let options = ResolveOptions {
        workspaces: members(&[(
            "packages/app",
            json!({"name": "app", "version": "1.0.0", "dependencies": {"nope": "workspace:*"}}),
        )]),
        ..ResolveOptions::default()
    };
    let err = resolve(&src, &pj(json!({})), None, &options).expect_err("no such member");
    assert!(
        matches!(&err, ResolveError::NoWorkspaceMember { name, found, .. } if name == "nope" && found.is_empty()),
        "{err}"
    );
}

#[test]
fn members_dev_dependencies_are_dev_and_production_leaves_them_out() {
    let src = source();
    let options = ResolveOptions {
        workspaces: members(&[(
            "packages/app",
            json!({"name": "app", "version": "1.0.0", "dependencies": {"a": "^1.0.0"}, "devDependencies": {"t": "^1.0.0"}}),
        )]),
        ..ResolveOptions::default()
    };
    let out = resolve(&src, &pj(json!({})), None, &options).expect("resolves");
    assert!(out.resolution.packages["t@1.0.0"].dev);
    assert!(!out.resolution.packages["a@1.1.0"].dev);
    let production = LayoutOptions {
        omit_dev: true,
        ..linux()
    };
    let plan = plan_layout(&out.resolution, &production).expect("plans");
    let installed: Vec<&str> = plan.nodes.iter().map(|n| n.install_path.as_str()).collect();
    assert_eq!(installed, ["a", "c"]);
    assert!(plan.bin_links.is_empty(), "t is not installed, nor its bin");
}

#[test]
fn a_members_file_dependency_is_relative_to_the_member() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("packages/shared")).expect("mkdir");
    std::fs::write(
        dir.path().join("packages/shared/package.json"),
        r#"{"name": "shared", "version": "0.1.0"}"#,
    )
    .expect("write");
    let options = ResolveOptions {
        project_dir: Some(dir.path().to_path_buf()),
        workspaces: members(&[(
            "packages/app",
            json!({"name": "app", "version": "1.0.0", "dependencies": {"shared": "file:../shared"}}),
        )]),
        ..ResolveOptions::default()
    };
    let out = resolve(&source(), &pj(json!({})), None, &options).expect("resolves");
    let edge = &out.resolution.workspaces["packages/app"].importer.edges["shared"];
    assert_eq!(edge.specifier, "file:../shared", "the specifier as written");
    assert_eq!(edge.target.as_deref(), Some("shared@file:packages/shared"));
    let plan = plan_layout(&out.resolution, &linux()).expect("plans");
    let shared = plan
        .links
        .iter()
        .find(|l| l.install_path == "shared")
        .expect("linked");
    assert_eq!(shared.target, "../packages/shared");
    let again = resolve(&source(), &pj(json!({})), Some(&out.resolution), &options).expect("again");
    assert_eq!(again.resolution, out.resolution);
}

/// An imported lock (npm's) nested a newer copy where a hoisted older one also satisfies the
/// range (npm kept its own earlier placement: luxon's randombytes → safe-buffer 5.2.1 beside a
/// hoisted 5.1.2). Re-resolving with that lock as `previous` keeps both versions, nested as
/// npm had them, and planning from the result does too.
#[test]
fn a_locked_nested_copy_is_kept_where_a_hoisted_one_also_satisfies() {
    let src = MemorySource::from_case(&json!({
        "sb": {"versions": {"5.1.2": {}, "5.2.1": {}}},
        "rb": {"versions": {"2.1.0": {"dependencies": {"sb": "^5.1.0"}}}}
    }));
    let root = pj(json!({"dependencies": {"sb": "~5.1.0", "rb": "^2.1.0"}}));
    let fresh = resolve(&src, &root, None, &ResolveOptions::default()).expect("resolves");
    assert!(
        !fresh.resolution.packages.contains_key("sb@5.2.1"),
        "a fresh resolution dedupes"
    );
    let mut previous = fresh.resolution.clone();
    let mut nested = previous.packages["sb@5.1.2"].clone();
    nested.version = "5.2.1".into();
    previous.packages.insert("sb@5.2.1".into(), nested);
    previous
        .packages
        .get_mut("rb@2.1.0")
        .unwrap()
        .dependencies
        .get_mut("sb")
        .unwrap()
        .target = Some("sb@5.2.1".into());
    let again = resolve(&src, &root, Some(&previous), &ResolveOptions::default()).expect("again");
    let keys: Vec<&str> = again
        .resolution
        .packages
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["rb@2.1.0", "sb@5.1.2", "sb@5.2.1"]);
    let plan = plan_layout(&again.resolution, &linux()).expect("plans");
    let placed: Vec<(&str, &str)> = plan
        .nodes
        .iter()
        .map(|n| (n.install_path.as_str(), n.package_key.as_str()))
        .collect();
    assert_eq!(
        placed,
        [
            ("rb", "rb@2.1.0"),
            ("sb", "sb@5.1.2"),
            ("rb/node_modules/sb", "sb@5.2.1")
        ]
    );
}
