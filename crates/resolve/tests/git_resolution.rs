//! Git dependencies through a source that "clones" from a map: the canonical key, reuse of a
//! locked commit while the specifier is unchanged, and `dx update` moving it.

#[path = "support/memory_source.rs"]
mod memory_source;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dx_resolve::source::GitResolution;
use dx_resolve::{
    PackageJson, PackageSource, Packument, ResolveOptions, SourceError, UpdateSelection,
    VersionManifest, resolve,
};
use memory_source::{MemorySource, manifest};
use serde_json::json;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Registry packages from a [`MemorySource`]; `git+file:///r.git#<ref>` resolves to the
/// commit the test put in `branches`.
struct GitSource {
    registry: MemorySource,
    branches: Mutex<HashMap<String, String>>,
    clones: Mutex<usize>,
}

impl PackageSource for GitSource {
    fn packument(&self, name: &str) -> Result<Arc<Packument>, SourceError> {
        self.registry.packument(name)
    }

    fn git_package(&self, spec: &str) -> Result<GitResolution, SourceError> {
        *self.clones.lock().expect("lock") += 1;
        let git = dx_resolve::spec::GitSpec::parse(spec).expect("a git spec");
        let dx_resolve::spec::Committish::Named(branch) = &git.committish else {
            panic!("tests name a branch");
        };
        let commit = self
            .branches
            .lock()
            .expect("lock")
            .get(branch)
            .cloned()
            .ok_or_else(|| SourceError::Failed {
                name: spec.to_owned(),
                message: format!("no ref {branch}"),
            })?;
        let mut manifest: VersionManifest = manifest("lib", "1.0.0", &[("c", "^1.0.0")]);
        manifest.dist.integrity = Some(format!("sha512-{}", "A".repeat(86) + "=="));
        Ok(GitResolution {
            manifest,
            resolved: git.resolved(&commit),
        })
    }
}

fn source() -> GitSource {
    GitSource {
        registry: MemorySource::from_case(&json!({"c": {"versions": {"1.0.0": {}}}})),
        branches: Mutex::new(HashMap::from([("main".to_owned(), A.to_owned())])),
        clones: Mutex::new(0),
    }
}

fn root() -> PackageJson {
    PackageJson::parse(&json!({"dependencies": {"lib": "git+file:///r.git#main"}}).to_string())
        .expect("package.json")
}

#[test]
fn a_git_dependency_is_keyed_by_its_commit_and_kept_until_updated() {
    let src = source();
    let first = resolve(&src, &root(), None, &ResolveOptions::default()).expect("resolves");
    let key = format!("lib@git+file:///r.git#{A}");
    let locked = &first.resolution.packages[&key];
    assert_eq!(locked.version, format!("git+file:///r.git#{A}"));
    assert_eq!(locked.resolved.as_deref(), Some(locked.version.as_str()));
    assert!(locked.integrity.is_some());
    assert!(first.resolution.packages.contains_key("c@1.0.0"));
    assert_eq!(
        first.resolution.root.edges["lib"].target.as_deref(),
        Some(key.as_str())
    );

    // The branch moves; an unchanged specifier keeps the locked commit without cloning.
    src.branches
        .lock()
        .expect("lock")
        .insert("main".into(), B.into());
    let clones = *src.clones.lock().expect("lock");
    let second = resolve(
        &src,
        &root(),
        Some(&first.resolution),
        &ResolveOptions::default(),
    )
    .expect("resolves");
    assert_eq!(second.resolution, first.resolution);
    assert_eq!(*src.clones.lock().expect("lock"), clones, "no clone");

    // `dx update lib` resolves the branch again.
    let options = ResolveOptions {
        update: UpdateSelection::Names(vec!["lib".into()]),
        ..ResolveOptions::default()
    };
    let third = resolve(&src, &root(), Some(&second.resolution), &options).expect("resolves");
    assert!(
        third
            .resolution
            .packages
            .contains_key(&format!("lib@git+file:///r.git#{B}"))
    );
    assert_eq!(third.resolution.packages.len(), 2);
}

#[test]
fn a_missing_ref_names_the_dependency() {
    let src = source();
    let pj =
        PackageJson::parse(&json!({"dependencies": {"lib": "git+file:///r.git#gone"}}).to_string())
            .expect("package.json");
    let err = resolve(&src, &pj, None, &ResolveOptions::default()).expect_err("no such ref");
    assert_eq!(
        err.to_string(),
        "cannot resolve lib (required by the root project): fetching lib@git+file:///r.git#gone: no ref gone"
    );
}
