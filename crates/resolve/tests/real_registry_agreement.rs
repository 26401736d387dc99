//! Opt-in (`DX_TEST_REAL_REGISTRY=1`): installs the alotta fixture from the real registry with
//! dx, Bun (hoisted linker) and npm (`--force`, because npm stops with ERESOLVE on this
//! fixture's peer conflicts otherwise) in the same run, walks the three `node_modules` trees and
//! compares every installed package path and its version.
//!
//! dx follows npm: the test fails unless dx's tree is npm's, path for path and version for
//! version. Bun's hoisted layout is a different algorithm (it gives the top-level slot of a name
//! to another version, reuses already-resolved versions where npm takes the highest, and hoists
//! packages whose peers conflict instead of nesting them with their own peer copies), so the
//! agreement with Bun is printed, not asserted; the differences are listed in docs/resolver.md.
//!
//! Needs `bun`, `npm`, a built dx (`target/release/dx`, or `DX=/path/to/dx`) and the fixture
//! (`../shared/bench/fixtures/alotta` beside the workspace, or `DX_ALOTTA_FIXTURE=dir`). The
//! registry is `npm config get registry`. dx uses `$DX_HOME` when set, else a scratch store;
//! Bun and npm use their usual caches. `DX_AGREEMENT_KEEP=1` keeps the scratch projects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Installed package path (`node_modules/a/node_modules/@s/b`) → version.
type Tree = BTreeMap<String, String>;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture_dir() -> PathBuf {
    std::env::var_os("DX_ALOTTA_FIXTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared/bench/fixtures/alotta"))
}

fn dx_binary() -> PathBuf {
    std::env::var_os("DX")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/release/dx"))
}

/// Runs a command in `dir`, panicking with its output when it fails.
fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn version_of(package_dir: &Path) -> String {
    std::fs::read_to_string(package_dir.join("package.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v.get("version").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "<no version>".to_string())
}

/// Every package under `project/node_modules`, nested ones included; `.bin` and other dot
/// entries are not packages, and a symlinked package is not walked into.
fn walk(project: &Path) -> Tree {
    let mut tree = Tree::new();
    let mut stack = vec![("node_modules".to_string(), project.join("node_modules"))];
    while let Some((rel, dir)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut packages = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            if name.starts_with('@') {
                for sub in std::fs::read_dir(entry.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let sub_name = sub.file_name().to_string_lossy().into_owned();
                    if !sub_name.starts_with('.') && sub.path().is_dir() {
                        packages.push((format!("{name}/{sub_name}"), sub.path()));
                    }
                }
            } else {
                packages.push((name, entry.path()));
            }
        }
        for (name, path) in packages {
            let package_rel = format!("{rel}/{name}");
            tree.insert(package_rel.clone(), version_of(&path));
            if !path.is_symlink() {
                stack.push((
                    format!("{package_rel}/node_modules"),
                    path.join("node_modules"),
                ));
            }
        }
    }
    tree
}

/// How two trees compare.
struct Comparison {
    union: usize,
    equal: usize,
    only_first: Vec<String>,
    only_second: Vec<String>,
    version_differs: Vec<String>,
}

fn compare(first: &Tree, second: &Tree) -> Comparison {
    let paths: BTreeSet<&String> = first.keys().chain(second.keys()).collect();
    let mut c = Comparison {
        union: paths.len(),
        equal: 0,
        only_first: Vec::new(),
        only_second: Vec::new(),
        version_differs: Vec::new(),
    };
    for path in paths {
        match (first.get(path), second.get(path)) {
            (Some(a), Some(b)) if a == b => c.equal += 1,
            (Some(a), Some(b)) => c.version_differs.push(format!("{path} {a} / {b}")),
            (Some(a), None) => c.only_first.push(format!("{path} {a}")),
            (None, Some(b)) => c.only_second.push(format!("{path} {b}")),
            (None, None) => unreachable!("a path of the union is in one of the trees"),
        }
    }
    c
}

/// The distinct `name@version`s a tree installs, wherever they sit.
fn name_versions(tree: &Tree) -> BTreeSet<String> {
    tree.iter()
        .map(|(path, version)| {
            let name = path.rsplit("node_modules/").next().unwrap_or(path);
            format!("{name}@{version}")
        })
        .collect()
}

fn report(label: &str, first: &Tree, second: &Tree) -> Comparison {
    let c = compare(first, second);
    let (a, b) = (name_versions(first), name_versions(second));
    let shared = a.intersection(&b).count();
    eprintln!(
        "{label}: paths {} / {}, equal {} of {} ({:.2}%), only first {}, only second {}, \
         version differs {}; distinct name@version {} / {}, shared {} ({:.2}% of the union)",
        first.len(),
        second.len(),
        c.equal,
        c.union,
        100.0 * c.equal as f64 / c.union.max(1) as f64,
        c.only_first.len(),
        c.only_second.len(),
        c.version_differs.len(),
        a.len(),
        b.len(),
        shared,
        100.0 * shared as f64 / a.union(&b).count().max(1) as f64,
    );
    c
}

fn project(scratch: &Path, name: &str, package_json: &Path) -> PathBuf {
    let dir = scratch.join(name);
    std::fs::create_dir_all(&dir).expect("scratch project");
    std::fs::copy(package_json, dir.join("package.json")).expect("copy package.json");
    dir
}

#[test]
fn alotta_installs_like_npm_and_reports_bun_agreement() {
    if std::env::var("DX_TEST_REAL_REGISTRY").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set DX_TEST_REAL_REGISTRY=1 to install the alotta fixture from the real \
             registry with dx, Bun and npm and compare the trees"
        );
        return;
    }
    let package_json = fixture_dir().join("package.json");
    assert!(
        package_json.is_file(),
        "no fixture at {} (set DX_ALOTTA_FIXTURE)",
        package_json.display()
    );
    let dx = dx_binary();
    assert!(
        dx.is_file(),
        "no dx at {} (cargo build --release -p dx-cli, or set DX)",
        dx.display()
    );
    let scratch = tempfile::tempdir().expect("scratch dir");
    let registry = run(scratch.path(), "npm", &["config", "get", "registry"], &[])
        .trim()
        .to_string();
    assert!(
        !registry.is_empty(),
        "npm config get registry printed nothing"
    );

    let bun_dir = project(scratch.path(), "bun", &package_json);
    run(
        &bun_dir,
        "bun",
        &[
            "install",
            "--ignore-scripts",
            "--linker",
            "hoisted",
            "--registry",
            &registry,
        ],
        &[],
    );

    let dx_dir = project(scratch.path(), "dx", &package_json);
    let dx_home = std::env::var_os("DX_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| scratch.path().join("dx-home"));
    let dx_dir_arg = dx_dir.to_string_lossy().into_owned();
    run(
        &dx_dir,
        &dx.to_string_lossy(),
        &[
            "install",
            "--materialize",
            "--ignore-scripts",
            "--no-progress",
            "--cwd",
            &dx_dir_arg,
            "--registry",
            &registry,
        ],
        &[("DX_HOME", &dx_home)],
    );

    let npm_dir = project(scratch.path(), "npm", &package_json);
    run(
        &npm_dir,
        "npm",
        &[
            "install",
            "--force",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--registry",
            &registry,
        ],
        &[],
    );

    let (bun, dx_tree, npm) = (walk(&bun_dir), walk(&dx_dir), walk(&npm_dir));
    report("dx vs npm --force", &dx_tree, &npm);
    report("dx vs bun --linker hoisted", &dx_tree, &bun);
    report("npm --force vs bun --linker hoisted", &npm, &bun);

    let vs_npm = compare(&dx_tree, &npm);
    if std::env::var("DX_AGREEMENT_KEEP").as_deref() == Ok("1") {
        eprintln!("kept {}", scratch.keep().display());
    }
    assert!(
        vs_npm.only_first.is_empty()
            && vs_npm.only_second.is_empty()
            && vs_npm.version_differs.is_empty(),
        "dx's tree differs from npm's:\nonly in dx: {:#?}\nonly in npm: {:#?}\nversions (dx / npm): {:#?}",
        vs_npm.only_first,
        vs_npm.only_second,
        vs_npm.version_differs
    );
}
