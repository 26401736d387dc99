//! Real mounts of synthetic layouts (built with DxlBuilder + ArchiveBuilder into a temp store).
//!
//! Every test that mounts holds a guard ([`Mount`] itself, or [`ChildMount`]) that unmounts on
//! drop, also when the test panics. With `CI=true` a missing /dev/fuse fails the test;
//! locally it skips with a message.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use dx_formats::dxl::{DxlBuilder, DxlPackage};
use dx_formats::dxp::{ArchiveBuilder, BuildLimits};
use dx_formats::hash::ContentHash;
use dx_store::Store;
use dx_vfs::{Mount, MountConfig, MountPointState, rows_from_dxl};

/// One synthetic package: name, version, files (path, executable, contents).
struct Pkg {
    name: &'static str,
    version: &'static str,
    files: Vec<(&'static str, bool, Vec<u8>)>,
}

fn big_text() -> Vec<u8> {
    (0..20_000)
        .flat_map(|i| format!("line {i} of a compressible file\n").into_bytes())
        .collect()
}

fn packages() -> Vec<Pkg> {
    vec![
        Pkg {
            name: "alpha",
            version: "1.0.0",
            files: vec![
                ("package.json", false, br#"{"name":"alpha","version":"1.0.0","main":"index.js","bin":{"alpha":"bin/cli.js"}}"#.to_vec()),
                ("index.js", false, b"module.exports = require('beta').value + require('@scope/gamma').value;\n".to_vec()),
                ("bin/cli.js", true, b"#!/usr/bin/env node\nconsole.log('alpha-cli ' + require('../index.js'));\n".to_vec()),
                ("lib/big.txt", false, big_text()),
                ("lib/deep/er/file.md", false, b"# deep\n".to_vec()),
            ],
        },
        Pkg {
            name: "beta",
            version: "1.0.0",
            files: vec![
                ("package.json", false, br#"{"name":"beta","version":"1.0.0"}"#.to_vec()),
                ("index.js", false, b"module.exports = { value: 40 };\n".to_vec()),
            ],
        },
        Pkg {
            name: "beta",
            version: "2.0.0",
            files: vec![
                ("package.json", false, br#"{"name":"beta","version":"2.0.0"}"#.to_vec()),
                ("index.js", false, b"module.exports = { value: 1 };\n".to_vec()),
            ],
        },
        Pkg {
            name: "@scope/gamma",
            version: "0.1.0",
            files: vec![
                ("package.json", false, br#"{"name":"@scope/gamma","version":"0.1.0"}"#.to_vec()),
                ("index.js", false, b"module.exports = { value: 1 };\n".to_vec()),
            ],
        },
        Pkg {
            name: "delta",
            version: "3.0.0",
            files: vec![
                ("package.json", false, br#"{"name":"delta","version":"3.0.0"}"#.to_vec()),
                ("index.js", false, b"module.exports = 'delta';\n".to_vec()),
            ],
        },
    ]
}

/// A temp project with a store holding every package of [`packages`].
struct Fixture {
    dir: tempfile::TempDir,
    hashes: Vec<ContentHash>,
    pkgs: Vec<Pkg>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("store")).expect("store");
        let pkgs = packages();
        let hashes = pkgs
            .iter()
            .map(|p| {
                let mut builder = ArchiveBuilder::new(BuildLimits::default());
                for (path, exec, bytes) in &p.files {
                    builder.add_file(path, *exec, bytes).expect("add file");
                }
                let built = builder.finish().expect("archive");
                store.put_archive(&built.bytes, None).expect("put")
            })
            .collect();
        fs::create_dir_all(dir.path().join("project")).expect("project dir");
        Fixture { dir, hashes, pkgs }
    }

    fn store(&self) -> Store {
        Store::open(self.dir.path().join("store")).expect("store")
    }

    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    fn node_modules(&self) -> PathBuf {
        self.project().join("node_modules")
    }

    /// Layout A: alpha, beta@1 hoisted, beta@2 nested under alpha, @scope/gamma, .bin/alpha.
    /// Layout B (reload): beta@1 replaced by delta's slot change: beta removed from the root,
    /// delta added, gamma kept.
    fn dxl(&self, variant: char) -> Vec<u8> {
        let mut b = DxlBuilder::new([7; 16], "linux-x64");
        let mut ids = Vec::new();
        for (p, h) in self.pkgs.iter().zip(&self.hashes) {
            ids.push(b.add_package(DxlPackage {
                name: p.name.into(),
                version: p.version.into(),
                content_hash: *h,
                integrity: None,
                has_install_script: false,
            }));
        }
        b.place("alpha", ids[0]).expect("place");
        b.place("alpha/node_modules/beta", ids[2]).expect("place");
        b.place("@scope/gamma", ids[3]).expect("place");
        b.add_bin_link(".bin/alpha", "../alpha/bin/cli.js")
            .expect("bin");
        match variant {
            'A' => b.place("beta", ids[1]).expect("place"),
            _ => {
                b.place("beta", ids[2]).expect("place");
                b.place("delta", ids[4]).expect("place");
            }
        }
        b.finish()
    }

    fn config(&self, variant: char, overlay: &str) -> MountConfig {
        MountConfig {
            mountpoint: self.node_modules(),
            store: self.store(),
            layout: rows_from_dxl(&self.dxl(variant)).expect("rows"),
            overlay_dir: self.dir.path().join(overlay),
            dxl_path: None,
            threads: 4,
            read_only: false,
            stats_path: None,
        }
    }

    fn mount(&self, variant: char) -> Mount {
        Mount::start(self.config(variant, "overlay")).expect("mount")
    }

    /// Expected files of layout A: path → (contents, executable).
    fn expected_files(&self) -> BTreeMap<String, (Vec<u8>, bool)> {
        let mut out = BTreeMap::new();
        for (at, pkg) in [
            ("alpha", 0),
            ("beta", 1),
            ("alpha/node_modules/beta", 2),
            ("@scope/gamma", 3),
        ] {
            for (path, exec, bytes) in &self.pkgs[pkg].files {
                out.insert(format!("{at}/{path}"), (bytes.clone(), *exec));
            }
        }
        out
    }
}

/// Whether FUSE tests can run: in CI they must.
fn fuse_ready() -> bool {
    if Path::new("/dev/fuse").exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("/dev/fuse is missing but CI=true: FUSE tests must run in CI");
    }
    eprintln!("SKIPPED: /dev/fuse is missing, FUSE mount tests not run");
    false
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, fs::Metadata>) {
    for entry in fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .expect("prefix")
            .to_string_lossy()
            .into_owned();
        let meta = fs::symlink_metadata(&path).expect("lstat");
        if meta.is_dir() {
            walk(root, &path, out);
        }
        out.insert(rel, meta);
    }
}

#[test]
fn tree_matches_layout_contents_modes_sizes_and_links() {
    if !fuse_ready() {
        return;
    }
    let fx = Fixture::new();
    let mount = fx.mount('A');
    assert_eq!(
        mount.tree().mapped_archives(),
        0,
        "mounting maps no archive"
    );
    let nm = fx.node_modules();
    let mut seen = BTreeMap::new();
    walk(&nm, &nm, &mut seen);
    let expected = fx.expected_files();
    for (path, (bytes, exec)) in &expected {
        let meta = seen
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the mount"));
        assert!(meta.is_file(), "{path} is a file");
        assert_eq!(meta.len(), bytes.len() as u64, "{path} size");
        let want_mode = if *exec { 0o755 } else { 0o644 };
        assert_eq!(meta.permissions().mode() & 0o777, want_mode, "{path} mode");
        assert_eq!(
            &fs::read(nm.join(path)).expect("read"),
            bytes,
            "{path} contents"
        );
    }
    let files: Vec<&String> = seen
        .iter()
        .filter(|(_, m)| m.is_file())
        .map(|(p, _)| p)
        .collect();
    assert_eq!(files.len(), expected.len(), "no extra files: {files:?}");
    for dir in [".bin", "@scope", "alpha/node_modules", "alpha/lib/deep/er"] {
        assert!(seen[dir].is_dir(), "{dir} is a directory");
    }
    let mut root: Vec<String> = fs::read_dir(&nm)
        .expect("ls")
        .map(|e| e.expect("e").file_name().into_string().expect("utf8"))
        .collect();
    root.sort();
    assert_eq!(root, [".bin", "@scope", "alpha", "beta"]);
    assert_eq!(
        fs::read_link(nm.join(".bin/alpha")).expect("readlink"),
        Path::new("../alpha/bin/cli.js")
    );
    assert_eq!(
        fs::canonicalize(nm.join(".bin/alpha")).expect("realpath"),
        fs::canonicalize(&nm)
            .expect("realpath nm")
            .join("alpha/bin/cli.js")
    );
    let err = fs::metadata(nm.join("alpha/nope.js")).expect_err("missing file");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    // Stable inodes: the same file stats to the same inode twice, distinct files differ.
    let a = fs::metadata(nm.join("alpha/index.js")).expect("stat").ino();
    assert_eq!(
        a,
        fs::metadata(nm.join("alpha/index.js")).expect("stat").ino()
    );
    assert_ne!(
        a,
        fs::metadata(nm.join("beta/index.js")).expect("stat").ino()
    );
    assert!(mount.tree().mapped_archives() >= 4);
}

#[test]
fn reads_at_odd_offsets_and_mmap_match() {
    if !fuse_ready() {
        return;
    }
    let fx = Fixture::new();
    let _mount = fx.mount('A');
    let big = big_text();
    let path = fx.node_modules().join("alpha/lib/big.txt");
    let mut file = fs::File::open(&path).expect("open");
    for (offset, len) in [
        (0usize, 1usize),
        (1, 4095),
        (12_345, 777),
        (big.len() - 3, 3),
        (131_071, 70_000),
    ] {
        let mut buf = vec![0u8; len];
        file.seek(SeekFrom::Start(offset as u64)).expect("seek");
        file.read_exact(&mut buf).expect("read");
        assert_eq!(buf, big[offset..offset + len], "offset {offset} len {len}");
    }
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(big.len() as u64 + 10))
        .expect("seek past end");
    file.read_to_end(&mut tail).expect("read past end");
    assert!(tail.is_empty());
    // SAFETY: the mapped file is read-only through this mount and nobody writes it meanwhile.
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("mmap");
    assert_eq!(&map[..], &big[..]);
}

#[test]
fn writes_and_whiteouts_survive_remount_and_never_touch_the_store() {
    if !fuse_ready() {
        return;
    }
    let fx = Fixture::new();
    let nm = fx.node_modules();
    {
        let _mount = fx.mount('A');
        fs::create_dir_all(nm.join(".vite/deps")).expect("mkdir -p");
        fs::write(nm.join(".vite/deps/chunk.js"), b"cached").expect("write new");
        fs::rename(nm.join(".vite/deps"), nm.join(".vite/deps_final")).expect("rename upper dir");
        fs::write(nm.join("alpha/index.js"), b"module.exports = 'edited';\n").expect("edit");
        fs::remove_file(nm.join("beta/index.js")).expect("rm");
        fs::rename(
            nm.join("alpha/lib/deep/er/file.md"),
            nm.join("alpha/moved.md"),
        )
        .expect("rename lower file");
        fs::set_permissions(
            nm.join("@scope/gamma/index.js"),
            fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
        let f = fs::OpenOptions::new()
            .write(true)
            .open(nm.join("alpha/lib/big.txt"))
            .expect("open rw");
        f.set_len(10).expect("truncate");
        let err =
            fs::rename(nm.join("alpha/lib"), nm.join("alpha/lib2")).expect_err("lower dir rename");
        assert_eq!(err.raw_os_error(), Some(libc::EXDEV));
        fs::remove_dir(nm.join("alpha/lib/deep/er")).expect("rmdir emptied lower dir");
    }
    assert_eq!(dx_vfs::mount_point_state(&nm), MountPointState::NotMounted);
    let check = || {
        assert_eq!(
            fs::read(nm.join(".vite/deps_final/chunk.js")).expect("new file"),
            b"cached"
        );
        assert!(!nm.join(".vite/deps").exists());
        assert_eq!(
            fs::read(nm.join("alpha/index.js")).expect("edited"),
            b"module.exports = 'edited';\n"
        );
        assert!(!nm.join("beta/index.js").exists(), "whiteout kept");
        assert!(nm.join("beta/package.json").exists());
        assert_eq!(
            fs::read(nm.join("alpha/moved.md")).expect("moved"),
            b"# deep\n"
        );
        assert!(!nm.join("alpha/lib/deep/er").exists());
        assert_eq!(
            fs::metadata(nm.join("@scope/gamma/index.js"))
                .expect("stat")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(nm.join("alpha/lib/big.txt"))
                .expect("stat")
                .len(),
            10
        );
        let names: Vec<String> = fs::read_dir(nm.join("beta"))
            .expect("ls")
            .map(|e| e.expect("e").file_name().into_string().expect("utf8"))
            .collect();
        assert_eq!(names, ["package.json"]);
    };
    {
        let _mount = fx.mount('A');
        check();
    }
    // A second project on the same store sees the pristine packages.
    let other = Mount::start(MountConfig {
        mountpoint: fx.dir.path().join("other/node_modules"),
        ..fx.config('A', "other-overlay")
    })
    .expect("second mount");
    let onm = fx.dir.path().join("other/node_modules");
    assert_eq!(
        fs::read(onm.join("alpha/index.js")).expect("pristine"),
        fx.pkgs[0].files[1].2
    );
    assert!(onm.join("beta/index.js").exists());
    assert_eq!(
        fs::metadata(onm.join("alpha/lib/big.txt"))
            .expect("stat")
            .len(),
        big_text().len() as u64
    );
    drop(other);
    let store = fx.store();
    for hash in &fx.hashes {
        assert!(
            store
                .get(hash)
                .expect("get")
                .expect("present")
                .hash_matches(),
            "store archive unchanged"
        );
    }
    // Reset brings the pristine tree back.
    dx_vfs::reset_overlay(&fx.dir.path().join("overlay")).expect("reset");
    let _mount = fx.mount('A');
    assert_eq!(
        fs::read(nm.join("alpha/index.js")).expect("pristine"),
        fx.pkgs[0].files[1].2
    );
    assert!(!nm.join(".vite").exists());
}

#[test]
fn live_reload_swaps_layout_and_keeps_open_files() {
    if !fuse_ready() {
        return;
    }
    let fx = Fixture::new();
    let nm = fx.node_modules();
    let mount = fx.mount('A');
    assert!(
        !nm.join("delta").exists(),
        "negative entry cached before reload"
    );
    let mut open_old = fs::File::open(nm.join("beta/index.js")).expect("open");
    let alpha_ino = fs::metadata(nm.join("alpha/index.js")).expect("stat").ino();
    assert_eq!(
        fs::read(nm.join("beta/index.js")).expect("read"),
        b"module.exports = { value: 40 };\n"
    );
    let changes = mount.reload_dxl(&fx.dxl('B')).expect("reload");
    assert!(!changes.entries.is_empty());
    assert_eq!(
        fs::read(nm.join("beta/index.js")).expect("read new"),
        b"module.exports = { value: 1 };\n"
    );
    assert_eq!(
        fs::read(nm.join("delta/index.js")).expect("new package"),
        b"module.exports = 'delta';\n"
    );
    let mut names: Vec<String> = fs::read_dir(&nm)
        .expect("ls")
        .map(|e| e.expect("e").file_name().into_string().expect("utf8"))
        .collect();
    names.sort();
    assert_eq!(names, [".bin", "@scope", "alpha", "beta", "delta"]);
    assert_eq!(
        fs::metadata(nm.join("alpha/index.js")).expect("stat").ino(),
        alpha_ino,
        "unchanged paths keep inodes"
    );
    let mut old = String::new();
    open_old.read_to_string(&mut old).expect("read old handle");
    assert_eq!(
        old, "module.exports = { value: 40 };\n",
        "open file keeps its content"
    );
}

#[test]
fn concurrent_readers_see_the_same_bytes() {
    if !fuse_ready() {
        return;
    }
    let fx = Fixture::new();
    let _mount = fx.mount('A');
    let expected = Arc::new(fx.expected_files());
    let nm = Arc::new(fx.node_modules());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let expected = expected.clone();
            let nm = nm.clone();
            std::thread::spawn(move || {
                for round in 0..5 {
                    for (i, (path, (bytes, _))) in expected.iter().enumerate() {
                        if (i + t + round) % 2 == 0 {
                            assert_eq!(&fs::read(nm.join(path)).expect("read"), bytes, "{path}");
                        } else {
                            assert_eq!(
                                fs::metadata(nm.join(path)).expect("stat").len(),
                                bytes.len() as u64
                            );
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("reader thread");
    }
}

#[test]
fn warm_pass_reaches_the_daemon_almost_never() {
    if !fuse_ready() {
        return;
    }
    let fx = Fixture::new();
    let mount = fx.mount('A');
    let nm = fx.node_modules();
    let pass = || {
        let mut seen = BTreeMap::new();
        walk(&nm, &nm, &mut seen);
        for (path, meta) in &seen {
            if meta.is_file() {
                fs::read(nm.join(path)).expect("read");
            }
        }
        let _ = fs::metadata(nm.join("alpha/missing.js"));
    };
    pass();
    let before = mount.request_counts();
    pass();
    let warm = mount.request_counts().since(&before);
    assert_eq!(
        warm.read, 0,
        "file contents come from the page cache: {warm:?}"
    );
    assert_eq!(
        warm.lookup, 0,
        "entries (negative ones too) come from the dentry cache: {warm:?}"
    );
    assert_eq!(warm.open, 0, "no-open mode: {warm:?}");
}

#[test]
fn node_requires_packages_and_runs_bin_entries_through_the_mount() {
    if !fuse_ready() {
        return;
    }
    if Command::new("node").arg("--version").output().is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "node is required in CI"
        );
        eprintln!("SKIPPED: node is not installed");
        return;
    }
    let fx = Fixture::new();
    let _mount = fx.mount('A');
    let out = Command::new("node")
        .args([
            "-e",
            "console.log(require('alpha'), require('beta').value, require.resolve('@scope/gamma'))",
        ])
        .current_dir(fx.project())
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("2 40 "),
        "alpha sees nested beta@2: {text}"
    );
    assert!(
        text.trim_end()
            .ends_with("node_modules/@scope/gamma/index.js"),
        "{text}"
    );
    let out = Command::new(fx.node_modules().join(".bin/alpha"))
        .output()
        .expect("run .bin/alpha");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha-cli 2\n");
}

/// A mount served by a child process (this test binary re-run as [`child_mount_process`]);
/// dropping it kills the child and detaches whatever is left at the mountpoint.
struct ChildMount {
    child: std::process::Child,
    mountpoint: PathBuf,
}

impl Drop for ChildMount {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = dx_vfs::cleanup_stale_mount(&self.mountpoint);
    }
}

#[test]
fn stale_mount_of_a_killed_daemon_is_detected_and_recovered() {
    if !fuse_ready() {
        return;
    }
    let fx = Fixture::new();
    let nm = fx.node_modules();
    fs::write(fx.dir.path().join("layout.dxl"), fx.dxl('A')).expect("write dxl");
    let mut command = Command::new(std::env::current_exe().expect("exe"));
    command
        .args([
            "child_mount_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DX_VFS_TEST_CHILD", fx.dir.path());
    let child = dx_vfs::lifecycle::spawn_with_readiness(command, Duration::from_secs(60))
        .expect("daemon child ready");
    let mut guard = ChildMount {
        child,
        mountpoint: nm.clone(),
    };
    assert_eq!(dx_vfs::mount_point_state(&nm), MountPointState::Mounted);
    assert!(nm.join("alpha/index.js").exists());
    // Second mount of the same project is refused while the daemon holds the lock.
    let lock = dx_vfs::MountLock::acquire(&fx.dir.path().join("overlay/mount.lock"), &nm);
    assert!(
        matches!(lock, Err(dx_vfs::VfsError::AlreadyMounted { pid, .. }) if pid == guard.child.id())
    );
    guard.child.kill().expect("kill -9");
    guard.child.wait().expect("reap");
    assert_eq!(dx_vfs::mount_point_state(&nm), MountPointState::Stale);
    let err =
        fs::read(nm.join("@scope/gamma/index.js")).expect_err("uncached read on a dead mount");
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOTCONN),
        "Transport endpoint is not connected"
    );
    let mount = fx.mount('A');
    assert_eq!(
        fs::read(nm.join("beta/index.js")).expect("read after recovery"),
        b"module.exports = { value: 40 };\n"
    );
    drop(mount);
    drop(guard);
}

/// Not a test on its own: the daemon child of the stale-mount test.
#[test]
#[ignore]
fn child_mount_process() {
    let Some(dir) = std::env::var_os("DX_VFS_TEST_CHILD") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let ready = dx_vfs::ReadyWriter::from_env();
    let _lock = dx_vfs::MountLock::acquire(
        &dir.join("overlay/mount.lock"),
        &dir.join("project/node_modules"),
    )
    .expect("lock");
    let config = MountConfig::from_dxl_file(
        dir.join("project/node_modules"),
        Store::open(dir.join("store")).expect("store"),
        dir.join("layout.dxl"),
        dir.join("overlay"),
    )
    .expect("config");
    dx_vfs::serve_until_signalled(config, ready).expect("serve");
}
