//! The engine's paths, driven through the library (no `dx` binary): the full install, the
//! no-op, the repair of a materialized tree, `--lockfile-only`, `--offline`, and an edit that
//! fails putting package.json and dx.lock back. Mounting needs the `dx` binary (the daemon is
//! `dx mount --daemon-child`), so the mount paths are covered by the end-to-end tests.

use std::path::Path;
use std::sync::Arc;

use dx_fallback_link::LinkMode;
use dx_install::{
    Edit, Error, Install, InstallPath, InstallSettings, LinkerChoice, NetworkMode, NodeModules,
    Project, Recorder,
};
use dx_net::{TestRegistry, write_test_package};
use dx_store::Store;
use serde_json::json;

struct World {
    _temp: tempfile::TempDir,
    project: std::path::PathBuf,
    store: Arc<Store>,
    registry: TestRegistry,
}

fn world(manifest: &str) -> World {
    let temp = tempfile::tempdir().unwrap();
    let packages = temp.path().join("registry");
    for v in ["1.0.0", "1.1.0"] {
        write_test_package(
            &packages,
            "pad",
            v,
            json!({ "main": "index.js" }),
            &[("index.js", b"module.exports = 'pad';\n")],
        );
    }
    let registry = TestRegistry::start(&packages);
    let project = temp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("package.json"), manifest).unwrap();
    let store = Arc::new(Store::open(temp.path().join("store")).unwrap());
    World {
        _temp: temp,
        project,
        store,
        registry,
    }
}

impl World {
    fn settings(&self) -> InstallSettings {
        InstallSettings {
            linker: LinkerChoice::Materialize(LinkMode::Copy),
            registry: Some(self.registry.url().to_owned()),
            ..InstallSettings::default()
        }
    }

    fn install(&self, settings: InstallSettings) -> dx_install::Result<dx_install::InstallOutcome> {
        let project = Project::open(&self.project)?;
        Install::new(project, Arc::clone(&self.store), settings).run(&Recorder::default())
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn full_then_up_to_date_then_repaired() {
    let w = world(r#"{ "name": "app", "dependencies": { "pad": "^1.0.0" } }"#);
    let outcome = w.install(w.settings()).unwrap();
    assert_eq!(outcome.path, InstallPath::Full);
    assert_eq!(outcome.packages, 1);
    assert!(outcome.resolved);
    assert_eq!(outcome.downloaded, 1);
    assert!(matches!(
        outcome.node_modules,
        Some(NodeModules::Materialized {
            mode: LinkMode::Copy,
            ..
        })
    ));
    assert!(w.project.join("node_modules/pad/index.js").is_file());

    let outcome = w.install(w.settings()).unwrap();
    assert_eq!(outcome.path, InstallPath::UpToDate);
    assert!(!outcome.resolved);

    std::fs::remove_dir_all(w.project.join("node_modules/pad")).unwrap();
    let outcome = w.install(w.settings()).unwrap();
    assert_eq!(outcome.path, InstallPath::Repaired);
    assert!(w.project.join("node_modules/pad/index.js").is_file());

    // Remembered: no linker given, the project stays materialized.
    let outcome = w
        .install(InstallSettings {
            linker: LinkerChoice::Remembered,
            ..w.settings()
        })
        .unwrap();
    assert_eq!(outcome.path, InstallPath::UpToDate);
    assert!(matches!(
        outcome.node_modules,
        Some(NodeModules::Materialized { .. })
    ));
}

#[test]
fn lockfile_only_writes_dx_lock_and_nothing_else() {
    let w = world(r#"{ "name": "app", "dependencies": { "pad": "1.0.0" } }"#);
    let outcome = w
        .install(InstallSettings {
            lockfile_only: true,
            ..w.settings()
        })
        .unwrap();
    assert_eq!(outcome.path, InstallPath::LockfileOnly);
    assert_eq!(outcome.node_modules, None);
    assert_eq!(outcome.downloaded, 0);
    assert!(w.project.join("dx.lock").is_file());
    assert!(!w.project.join("node_modules").exists());
}

#[test]
fn offline_names_the_first_package_the_store_lacks() {
    let w = world(r#"{ "name": "app", "dependencies": { "pad": "1.0.0" } }"#);
    w.install(InstallSettings {
        lockfile_only: true,
        ..w.settings()
    })
    .unwrap();
    let err = w
        .install(InstallSettings {
            network: NetworkMode::Offline,
            ..w.settings()
        })
        .unwrap_err();
    assert!(
        matches!(err.kind(), Error::Offline { package } if package == "pad@1.0.0"),
        "{err}"
    );
    assert!(err.help().is_some());
}

#[test]
fn frozen_lockfile_without_dx_lock_is_a_typed_error() {
    let w = world(r#"{ "name": "app", "dependencies": { "pad": "1.0.0" } }"#);
    let err = w
        .install(InstallSettings {
            frozen_lockfile: true,
            ..w.settings()
        })
        .unwrap_err();
    assert!(
        matches!(err.kind(), Error::FrozenLockfileMissing { .. }),
        "{err}"
    );
    assert!(!w.project.join("dx.lock").exists());
}

#[test]
fn a_failed_edit_puts_package_json_and_dx_lock_back() {
    let w = world(r#"{ "name": "app", "dependencies": { "pad": "1.0.0" } }"#);
    w.install(w.settings()).unwrap();
    let (pj, lock) = (
        read(&w.project.join("package.json")),
        read(&w.project.join("dx.lock")),
    );
    let project = Project::open(&w.project).unwrap();
    let edit = Edit {
        manifest_text: Some(
            r#"{ "name": "app", "dependencies": { "pad": "1.0.0", "absent": "^1" } }"#.into(),
        ),
        ..Edit::default()
    };
    let err = Install::new(project, Arc::clone(&w.store), w.settings())
        .with_edit(edit)
        .unwrap()
        .run(&Recorder::default())
        .unwrap_err();
    assert!(err.to_string().contains("cannot resolve"), "{err}");
    assert_eq!(read(&w.project.join("package.json")), pj);
    assert_eq!(read(&w.project.join("dx.lock")), lock);

    // An edit that succeeds writes package.json and reports the change.
    let project = Project::open(&w.project).unwrap();
    let edit = Edit {
        manifest_text: Some(r#"{ "name": "app", "dependencies": { "pad": "1.1.0" } }"#.into()),
        ..Edit::default()
    };
    let outcome = Install::new(project, Arc::clone(&w.store), w.settings())
        .with_edit(edit)
        .unwrap()
        .run(&Recorder::default())
        .unwrap();
    assert_eq!(
        outcome.changes,
        vec![dx_install::DirectChange::Changed {
            name: "pad".into(),
            from: "1.0.0".into(),
            to: "1.1.0".into()
        }]
    );
    assert!(
        String::from_utf8(read(&w.project.join("package.json")))
            .unwrap()
            .contains("1.1.0")
    );
}
