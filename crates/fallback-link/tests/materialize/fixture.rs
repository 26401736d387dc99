//! Synthetic packages, a store holding them, layouts over them, the expected tree computed
//! independently of the crate, a walker for what is on disk, and mount guards.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use dx_fallback_link::MARKER_FILE;
use dx_formats::dxl::{Dxl, DxlBuilder, DxlPackage, NodeKind, PackageId};
use dx_formats::dxp::{ArchiveBuilder, BuildLimits, EntryKind};
use dx_formats::hash::ContentHash;
use dx_store::Store;

/// One thing in a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir,
    File { bytes: Vec<u8>, executable: bool },
    Symlink(String),
}

/// A scratch directory on the work filesystem (ext4 here), not /tmp which may be tmpfs.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fallback-link-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("scratch dir")
}

/// A package's files: (path, executable, bytes); `dirs` are empty directories to keep.
pub struct SyntheticPackage {
    pub name: &'static str,
    pub version: &'static str,
    pub files: Vec<(&'static str, bool, Vec<u8>)>,
    pub dirs: Vec<&'static str>,
}

fn manifest(name: &str, version: &str) -> Vec<u8> {
    format!("{{\"name\":\"{name}\",\"version\":\"{version}\"}}\n").into_bytes()
}

/// Packages covering what a real tree has: a bin, nested deps, a scope, an empty directory, a
/// large compressible file, a bundled `node_modules` that merges with the layout's.
pub fn packages() -> Vec<SyntheticPackage> {
    let big: Vec<u8> = (0..300_000u32)
        .flat_map(|i| format!("line {}\n", i % 97).into_bytes())
        .collect();
    vec![
        SyntheticPackage {
            name: "left-pad",
            version: "1.3.0",
            files: vec![
                ("package.json", false, manifest("left-pad", "1.3.0")),
                (
                    "index.js",
                    false,
                    b"module.exports = (s, n) => s.padStart(n);\n".to_vec(),
                ),
                ("README.md", false, b"# left-pad\n".to_vec()),
            ],
            dirs: vec![],
        },
        SyntheticPackage {
            name: "cli-tool",
            version: "2.0.0",
            files: vec![
                ("package.json", false, manifest("cli-tool", "2.0.0")),
                (
                    "bin/cli.js",
                    true,
                    b"#!/usr/bin/env node\nrequire('../lib/util/deep.js');\n".to_vec(),
                ),
                (
                    "lib/util/deep.js",
                    false,
                    b"exports.deep = true;\n".to_vec(),
                ),
                ("lib/big.txt", false, big),
            ],
            dirs: vec!["empty"],
        },
        SyntheticPackage {
            name: "@scope/pkg",
            version: "1.2.3",
            files: vec![
                ("package.json", false, manifest("@scope/pkg", "1.2.3")),
                ("dist/index.mjs", false, b"export default 42;\n".to_vec()),
            ],
            dirs: vec![],
        },
        SyntheticPackage {
            name: "dep",
            version: "1.0.0",
            files: vec![
                ("package.json", false, manifest("dep", "1.0.0")),
                ("bin.js", true, b"#!/bin/sh\necho one\n".to_vec()),
            ],
            dirs: vec![],
        },
        SyntheticPackage {
            name: "dep",
            version: "2.0.0",
            files: vec![
                ("package.json", false, manifest("dep", "2.0.0")),
                ("bin.js", true, b"#!/bin/sh\necho two\n".to_vec()),
            ],
            dirs: vec![],
        },
        SyntheticPackage {
            name: "bundler",
            version: "0.1.0",
            files: vec![
                ("package.json", false, manifest("bundler", "0.1.0")),
                (
                    "node_modules/bundled/index.js",
                    false,
                    b"bundled\n".to_vec(),
                ),
                // Hidden by the layout's nested `dep`: the layout wins.
                ("node_modules/dep/stale.js", false, b"stale\n".to_vec()),
            ],
            dirs: vec![],
        },
    ]
}

/// A store in `root` holding `packages`, and each package's hash (same order).
pub fn store_with(root: &Path, packages: &[SyntheticPackage]) -> (Store, Vec<ContentHash>) {
    let store = Store::open(root).expect("open store");
    let hashes = packages
        .iter()
        .map(|package| {
            let mut builder = ArchiveBuilder::new(BuildLimits::default());
            for (path, executable, bytes) in &package.files {
                builder
                    .add_file(path, *executable, bytes)
                    .expect("add file");
            }
            for dir in &package.dirs {
                builder.add_dir(dir).expect("add dir");
            }
            let built = builder.finish().expect("finish archive");
            store.put_archive(&built.bytes, None).expect("put archive")
        })
        .collect();
    (store, hashes)
}

/// A layout builder (lock id `[lock; 16]`) holding `packages`, and each one's id (same order).
pub fn builder_with(
    packages: &[SyntheticPackage],
    hashes: &[ContentHash],
    lock: u8,
) -> (DxlBuilder, Vec<PackageId>) {
    let mut builder = DxlBuilder::new([lock; 16], "linux-x64-glibc");
    let ids = packages
        .iter()
        .zip(hashes)
        .map(|(package, hash)| {
            builder.add_package(DxlPackage {
                name: package.name.to_owned(),
                version: package.version.to_owned(),
                content_hash: *hash,
                integrity: None,
                has_install_script: false,
            })
        })
        .collect();
    (builder, ids)
}

/// The test layout over [`packages`]; `variant` 1 drops `left-pad` (a different lock).
pub fn layout(packages: &[SyntheticPackage], hashes: &[ContentHash], variant: u8) -> Vec<u8> {
    let (mut builder, ids) = builder_with(packages, hashes, variant);
    if variant == 0 {
        builder.place("left-pad", ids[0]).expect("place");
    }
    builder.place("cli-tool", ids[1]).expect("place");
    builder.place("@scope/pkg", ids[2]).expect("place");
    builder
        .place("cli-tool/node_modules/dep", ids[3])
        .expect("place");
    builder.place("dep", ids[4]).expect("place");
    builder.place("bundler", ids[5]).expect("place");
    builder
        .place("bundler/node_modules/dep", ids[3])
        .expect("place");
    builder
        .add_bin_link(".bin/cli", "../cli-tool/bin/cli.js")
        .expect("bin");
    builder
        .add_bin_link(".bin/dep", "../dep/bin.js")
        .expect("bin");
    builder
        .add_bin_link("cli-tool/node_modules/.bin/dep", "../dep/bin.js")
        .expect("bin");
    builder.finish()
}

/// The tree the layout describes (what the FUSE mount serves), computed from the DXL and the
/// archives directly: package files first, then layout nodes, which win (a nested package or
/// link replaces whatever the outer package had there; a directory merges).
pub fn expected_tree(store: &Store, dxl: &Dxl<'_>) -> BTreeMap<String, Node> {
    let mut tree = BTreeMap::new();
    for node in dxl.nodes().skip(1) {
        let path = node.path().to_owned();
        match node.kind() {
            NodeKind::Dir => {
                if !matches!(tree.get(&path), Some(Node::Dir)) {
                    tree.insert(path, Node::Dir);
                }
            }
            NodeKind::Symlink(target) => {
                remove_under(&mut tree, &path);
                tree.insert(path, Node::Symlink(target.to_owned()));
            }
            NodeKind::Package(package) => {
                remove_under(&mut tree, &path);
                tree.insert(path.clone(), Node::Dir);
                let stored = store
                    .get(&package.content_hash())
                    .expect("get")
                    .expect("stored");
                let archive = stored.archive().expect("archive");
                for entry in archive.entries().filter(|e| !e.path().is_empty()) {
                    let node = match entry.kind() {
                        EntryKind::Dir => Node::Dir,
                        EntryKind::File => Node::File {
                            bytes: archive.read(&entry).expect("read").into_owned(),
                            executable: entry.is_executable(),
                        },
                    };
                    tree.insert(format!("{path}/{}", entry.path()), node);
                }
            }
        }
    }
    tree
}

fn remove_under(tree: &mut BTreeMap<String, Node>, path: &str) {
    let prefix = format!("{path}/");
    tree.retain(|key, _| key != path && !key.starts_with(&prefix));
}

/// What is on disk under `node_modules`, without the layout marker. Also asserts that every
/// regular file is read-only.
pub fn disk_tree(node_modules: &Path) -> BTreeMap<String, Node> {
    let mut tree = BTreeMap::new();
    walk(node_modules, "", &mut tree);
    tree
}

fn walk(dir: &Path, prefix: &str, tree: &mut BTreeMap<String, Node>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let name = entry.file_name().into_string().expect("utf-8 name");
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if relative == MARKER_FILE {
            continue;
        }
        let meta = fs::symlink_metadata(entry.path()).expect("lstat");
        if meta.file_type().is_symlink() {
            let target = fs::read_link(entry.path()).expect("readlink");
            tree.insert(
                relative,
                Node::Symlink(target.to_str().expect("utf-8").to_owned()),
            );
        } else if meta.is_dir() {
            walk(&entry.path(), &relative, tree);
            tree.insert(relative, Node::Dir);
        } else {
            let mode = meta.permissions().mode();
            assert_eq!(mode & 0o222, 0, "{relative} is writable ({mode:o})");
            let bytes = fs::read(entry.path()).expect("read");
            tree.insert(
                relative,
                Node::File {
                    bytes,
                    executable: mode & 0o111 != 0,
                },
            );
        }
    }
}

/// Asserts that `node_modules` holds exactly the layout, with a readable diff on failure.
pub fn assert_tree_matches(store: &Store, dxl: &Dxl<'_>, node_modules: &Path) {
    let expected = expected_tree(store, dxl);
    let actual = disk_tree(node_modules);
    let summary = |tree: &BTreeMap<String, Node>| -> Vec<String> {
        tree.iter()
            .map(|(path, node)| match node {
                Node::Dir => format!("{path}/"),
                Node::File { bytes, executable } => format!(
                    "{path} ({} bytes{})",
                    bytes.len(),
                    if *executable { ", x" } else { "" }
                ),
                Node::Symlink(target) => format!("{path} -> {target}"),
            })
            .collect()
    };
    assert_eq!(
        summary(&actual),
        summary(&expected),
        "paths, sizes, exec bits and links differ"
    );
    assert!(actual == expected, "file contents differ");
    // The fixture really exercises the interesting cases.
    assert!(expected.contains_key("bundler/node_modules/bundled/index.js"));
    assert!(!expected.contains_key("bundler/node_modules/dep/stale.js"));
    assert!(expected.contains_key("cli-tool/empty"));
}

/// Whether tests must not skip (CI runs every filesystem test).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips (visibly) or, in CI, fails.
pub fn skip_or_fail(what: &str) {
    if in_ci() {
        panic!("{what} (CI=true: this test must run)");
    }
    eprintln!("SKIPPED: {what}");
}

fn run(command: &mut Command) -> Result<(), String> {
    match command.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("{command:?}: {e}")),
    }
}

/// A filesystem mounted for one test, unmounted (and its image removed) on drop, even when the
/// test panics.
pub struct MountGuard {
    pub dir: PathBuf,
    image: Option<PathBuf>,
}

impl MountGuard {
    /// A fresh XFS with reflinks, on a loop device over a sparse 512 MiB image in `parent`.
    pub fn xfs(parent: &Path) -> Result<MountGuard, String> {
        let image = parent.join("xfs.img");
        let dir = parent.join("xfs");
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let file = fs::File::create(&image).map_err(|e| e.to_string())?;
        file.set_len(512 << 20).map_err(|e| e.to_string())?;
        run(Command::new("mkfs.xfs")
            .args(["-q", "-f", "-m", "reflink=1"])
            .arg(&image))?;
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&dir))?;
        Ok(MountGuard {
            dir,
            image: Some(image),
        })
    }

    /// A tmpfs (another device than the store's).
    pub fn tmpfs(parent: &Path) -> Result<MountGuard, String> {
        let dir = parent.join("tmpfs");
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256m", "dx-test"])
            .arg(&dir))?;
        Ok(MountGuard { dir, image: None })
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        if run(Command::new("umount").arg(&self.dir)).is_err() {
            // Something still holds it: detach now, the kernel finishes when it is released.
            drop(run(Command::new("umount").arg("-l").arg(&self.dir)));
        }
        if let Some(image) = &self.image {
            drop(fs::remove_file(image));
        }
    }
}
