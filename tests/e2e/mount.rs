//! The virtual node_modules end to end: `dx install` mounting by default, equality with the
//! materialized tree, writes that survive remounts, live reload, and dead-daemon recovery.

use std::path::Path;
use std::process::Command;

use crate::snapshot::assert_dx_snapshot;
use crate::support::{TestContext, assert_same_tree, describe, fuse_available, is_mountpoint};

/// A package.json with `deps`, from the standard fixtures: `a` needs `b@^2` while the root
/// wants `b@^1` (so `a/node_modules/b` nests), `a` has a bin and a deep file, `@scope/c` is
/// scoped.
fn project(ctx: &TestContext, deps: &str) {
    ctx.write(
        "package.json",
        &format!(r#"{{ "name": "app", "version": "1.0.0", "dependencies": {deps} }}"#),
    );
}

const DEPS: &str = r#"{ "a": "^1.0.0", "b": "^1.0.0", "@scope/c": "^3.0.0" }"#;

/// The state directory of the context's only project in its store.
fn project_state(ctx: &TestContext) -> std::path::PathBuf {
    std::fs::read_dir(ctx.store.join("v1/projects"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

#[test]
fn install_mounts_a_tree_identical_to_the_materialized_one() {
    if !fuse_available("install_mounts_a_tree_identical_to_the_materialized_one") {
        return;
    }
    let mounted = TestContext::with_fixtures();
    project(&mounted, DEPS);
    let out = mounted.dx(&["install"]);
    assert!(out.stdout_text().contains("mounted"), "{}", out.render());
    assert_dx_snapshot!("install_mounts", out);
    assert!(
        is_mountpoint(&mounted.path("node_modules")),
        "node_modules must be a mount"
    );

    let disk = TestContext::new().with_registry(mounted.registry_url());
    project(&disk, DEPS);
    disk.dx_ok(&["install", "--materialize"]);
    // The materializer's own marker is the one file the mount does not have.
    std::fs::remove_file(disk.path("node_modules/.dx-layout")).unwrap();
    assert_same_tree(
        &mounted.path("node_modules"),
        &disk.path("node_modules"),
        "after install",
    );
    let modes = |root: &Path| {
        let out = Command::new("find")
            .arg(root)
            .args(["-printf", "%P %y %m\n"])
            .output()
            .unwrap();
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let mut mounted_modes = modes(&mounted.path("node_modules"));
    let mut disk_modes = modes(&disk.path("node_modules"));
    // Directories differ only in their write bits (the materialized tree is read-only files).
    let strip = |v: &mut Vec<String>| {
        v.iter_mut().for_each(|l| {
            *l = l
                .rsplit_once(' ')
                .map(|(a, m)| format!("{a} {}", exec_bits(m)))
                .unwrap()
        })
    };
    strip(&mut mounted_modes);
    strip(&mut disk_modes);
    assert_eq!(mounted_modes, disk_modes);

    let out = Command::new("node")
        .args([
            "-e",
            "console.log(require('a'), require('b'), require('@scope/c'))",
        ])
        .current_dir(&mounted.project)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "a+b2 b1 c",
        "{}",
        describe(&out)
    );
    let out = Command::new(mounted.path("node_modules/.bin/a-cli"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "a-cli ran",
        "{}",
        describe(&out)
    );
}

fn exec_bits(mode: &str) -> String {
    let m = u32::from_str_radix(mode, 8).unwrap_or(0);
    format!("{:o}", m & 0o111)
}

#[test]
fn writes_survive_remount_never_reach_the_store_and_reset_discards_them() {
    if !fuse_available("writes_survive_remount_never_reach_the_store_and_reset_discards_them") {
        return;
    }
    let ctx = TestContext::with_fixtures();
    project(&ctx, DEPS);
    ctx.dx_ok(&["install"]);
    let nm = ctx.path("node_modules");
    std::fs::create_dir_all(nm.join(".vite/deps")).unwrap();
    std::fs::write(nm.join(".vite/deps/x.js"), "cached").unwrap();
    std::fs::write(nm.join("b/index.js"), "module.exports = 'edited';\n").unwrap();
    std::fs::remove_file(nm.join("a/lib/deep/file.txt")).unwrap();

    ctx.dx_ok(&["unmount"]);
    assert!(!is_mountpoint(&nm));
    ctx.dx_ok(&["mount"]);
    assert_eq!(
        std::fs::read_to_string(nm.join(".vite/deps/x.js")).unwrap(),
        "cached"
    );
    assert_eq!(
        std::fs::read_to_string(nm.join("b/index.js")).unwrap(),
        "module.exports = 'edited';\n"
    );
    assert!(
        !nm.join("a/lib/deep/file.txt").exists(),
        "a deletion must survive a remount"
    );

    // Another project mounting the same package from the same store sees the original.
    let other = TestContext::new()
        .with_registry(ctx.registry_url())
        .sharing_store(&ctx.store);
    project(&other, DEPS);
    other.dx_ok(&["install"]);
    assert_eq!(
        std::fs::read_to_string(other.path("node_modules/b/index.js")).unwrap(),
        "module.exports = 'b1';\n"
    );
    drop(other);

    ctx.dx_ok(&["unmount"]);
    ctx.dx_ok(&["mount", "--reset"]);
    assert_eq!(
        std::fs::read_to_string(nm.join("b/index.js")).unwrap(),
        "module.exports = 'b1';\n"
    );
    assert!(nm.join("a/lib/deep/file.txt").exists());
    assert!(!nm.join(".vite").exists());
}

#[test]
fn install_reloads_a_live_mount_when_dependencies_change() {
    if !fuse_available("install_reloads_a_live_mount_when_dependencies_change") {
        return;
    }
    let ctx = TestContext::with_fixtures();
    project(&ctx, r#"{ "b": "^1.0.0" }"#);
    ctx.dx_ok(&["install"]);
    let nm = ctx.path("node_modules");
    assert!(!nm.join("a").exists());
    let out = ctx.dx(&["install"]);
    assert!(
        out.success() && out.stdout_text().contains("up to date"),
        "a repeat install on a live mount is a no-op: {}",
        out.render()
    );
    assert_dx_snapshot!("repeat_install_on_a_live_mount", out);
    // Hold a file open across the reload: it must stay readable.
    let held = std::fs::File::open(nm.join("b/index.js")).unwrap();

    project(&ctx, DEPS);
    let out = ctx.dx(&["install"]);
    assert!(out.stdout_text().contains("reloaded"), "{}", out.render());
    assert_dx_snapshot!("install_reloads_the_mount", out);
    assert!(is_mountpoint(&nm));
    assert_eq!(
        std::fs::read_to_string(nm.join("a/node_modules/b/index.js")).unwrap(),
        "module.exports = 'b2';\n"
    );
    assert_eq!(
        std::fs::read_to_string(nm.join("@scope/c/c.js")).unwrap(),
        "module.exports = 'c';\n"
    );
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &held, &mut text).unwrap();
    assert_eq!(text, "module.exports = 'b1';\n");

    project(&ctx, r#"{ "@scope/c": "^3.0.0" }"#);
    ctx.dx_ok(&["install"]);
    assert!(
        !nm.join("b").exists(),
        "a removed package must disappear from the live mount"
    );
    assert!(nm.join("@scope/c/c.js").exists());
}

#[test]
fn a_killed_daemon_is_detected_and_the_next_install_remounts() {
    if !fuse_available("a_killed_daemon_is_detected_and_the_next_install_remounts") {
        return;
    }
    let ctx = TestContext::with_fixtures();
    project(&ctx, DEPS);
    ctx.dx_ok(&["install"]);
    let lock_dir = project_state(&ctx);
    let pid: i32 = std::fs::read_to_string(lock_dir.join("mount.lock"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: killing the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let nm = ctx.path("node_modules");
    // The dead mount answers ENOTCONN.
    for _ in 0..200 {
        if std::fs::read_dir(&nm).is_err() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let err = std::fs::read_dir(&nm).expect_err("a dead mount must fail");
    // ENOTCONN, or ECONNABORTED when the request raced the connection going down.
    assert!(
        matches!(
            err.raw_os_error(),
            Some(libc::ENOTCONN) | Some(libc::ECONNABORTED)
        ),
        "{err}"
    );

    let out = ctx.dx(&["install"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        out.stderr_text().contains("dead mount"),
        "{}",
        describe(&out)
    );
    assert_dx_snapshot!("install_over_a_dead_mount", out);
    assert_eq!(
        std::fs::read_to_string(nm.join("b/index.js")).unwrap(),
        "module.exports = 'b1';\n"
    );
}

#[test]
fn fs_watch_renames_and_chmod_behave_as_on_a_local_filesystem() {
    if !fuse_available("fs_watch_renames_and_chmod_behave_as_on_a_local_filesystem") {
        return;
    }
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ctx = TestContext::with_fixtures();
    project(&ctx, DEPS);
    ctx.dx_ok(&["install"]);
    let nm = ctx.path("node_modules");

    // Rename inside a package and across packages, chmod: all through the overlay.
    std::fs::rename(nm.join("a/lib/deep/file.txt"), nm.join("a/lib/moved.txt")).unwrap();
    assert_eq!(
        std::fs::read_to_string(nm.join("a/lib/moved.txt")).unwrap(),
        "deep\n"
    );
    assert!(!nm.join("a/lib/deep/file.txt").exists());
    std::fs::rename(nm.join("a/lib/moved.txt"), nm.join("b/moved.txt")).unwrap();
    assert_eq!(
        std::fs::read_to_string(nm.join("b/moved.txt")).unwrap(),
        "deep\n"
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(
        nm.join("b/index.js"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert_eq!(
        std::fs::metadata(nm.join("b/index.js"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );

    if !node_ok {
        eprintln!("node not found: fs.watch not checked");
        return;
    }
    // fs.watch on a package directory sees a file written through the mount.
    let watch = "const fs = require('fs'); const w = fs.watch(process.argv[1], (e, f) => { console.log(e + ' ' + f); w.close(); process.exit(0); }); console.log('ready'); setTimeout(() => process.exit(3), 10000);";
    let mut child = Command::new("node")
        .args(["-e", watch, nm.join("b").to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    std::fs::write(nm.join("b/watched.txt"), "x").unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "no fs.watch event within 10 s");
    assert!(line.contains("watched.txt"), "{line}");
}

#[test]
fn a_warm_install_after_unmount_mounts_the_recorded_layout_and_falls_back_without_its_root() {
    if !fuse_available(
        "a_warm_install_after_unmount_mounts_the_recorded_layout_and_falls_back_without_its_root",
    ) {
        return;
    }
    let ctx = TestContext::with_fixtures();
    project(&ctx, DEPS);
    ctx.dx_ok(&["install"]);
    let nm = ctx.path("node_modules");
    let roots = ctx.store.join("v1/roots");
    let root_files = || std::fs::read_dir(&roots).map(|d| d.count()).unwrap_or(0);
    assert_eq!(root_files(), 1, "the install registers the project's root");

    // Unmounted, same package.json and dx.lock: the recorded layout is mounted again.
    ctx.dx_ok(&["unmount"]);
    assert!(!is_mountpoint(&nm));
    let out = ctx.dx(&["install"]);
    assert!(out.stdout_text().contains("mounted"), "{}", out.render());
    assert_dx_snapshot!("warm_install_mounts_the_recorded_layout", out);
    assert!(is_mountpoint(&nm));
    assert_eq!(
        std::fs::read_to_string(nm.join("a/node_modules/b/index.js")).unwrap(),
        "module.exports = 'b2';\n"
    );

    // Without the root that keeps the layout's archives from gc, the record is not trusted: the
    // full install runs and registers the root again.
    ctx.dx_ok(&["unmount"]);
    for entry in std::fs::read_dir(&roots).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let out = ctx.dx_ok(&["install"]);
    assert!(out.contains("mounted"), "{out}");
    assert_eq!(
        root_files(),
        1,
        "the full install must register the root again"
    );
    assert_eq!(
        std::fs::read_to_string(nm.join("@scope/c/c.js")).unwrap(),
        "module.exports = 'c';\n"
    );

    // A changed dx.lock is a different install: not the recorded one.
    ctx.dx_ok(&["unmount"]);
    project(&ctx, r#"{ "@scope/c": "^3.0.0" }"#);
    ctx.dx_ok(&["install"]);
    assert!(!nm.join("a").exists() && nm.join("@scope/c/c.js").exists());
    ctx.dx_ok(&["unmount"]);
}

/// `program` run as the unprivileged user 65534 (nobody), without supplementary groups.
fn as_nobody(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(program);
    cmd
}

/// Runs `dx` as the unprivileged user 65534 (nobody), with the context's environment.
fn dx_as_nobody(ctx: &TestContext, args: &[&str]) -> std::process::Output {
    let base = ctx.dx_command(args);
    let mut cmd = as_nobody(base.get_program());
    cmd.args(base.get_args());
    cmd.current_dir(&ctx.project);
    for (key, value) in base.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.output().expect("run setpriv")
}

#[test]
fn an_unprivileged_user_mounts_through_fusermount3_or_is_told_why_and_gets_files() {
    let test = "an_unprivileged_user_mounts_through_fusermount3_or_is_told_why_and_gets_files";
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIPPED {test}: needs root (to run dx as another user) and setpriv");
        return;
    }
    let ctx = TestContext::with_fixtures();
    project(&ctx, DEPS);
    // Everything the user touches is theirs (the registry server keeps running as root).
    let world = ctx.project.parent().unwrap();
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(world)
        .output()
        .unwrap();
    assert!(chown.status.success(), "{}", describe(&chown));
    // The directories above the test's own must be traversable by the user too.
    let mut dir = world.parent();
    while let Some(d) = dir {
        let mode = std::fs::metadata(d)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
            .unwrap_or(0);
        if mode & 0o001 == 0 {
            eprintln!(
                "SKIPPED {test}: {} is not traversable by other users",
                d.display()
            );
            return;
        }
        dir = d.parent();
    }

    // What the user can do with FUSE here: open /dev/fuse, and mount through setuid fusermount3.
    let fuse_mode = std::fs::metadata("/dev/fuse")
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    let user_can_mount = fuse_mode.is_ok_and(|mode| mode & 0o006 == 0o006)
        && Command::new("fusermount3")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());

    let out = dx_as_nobody(&ctx, &["install"]);
    assert!(
        out.status.success(),
        "dx install as nobody failed:\n{}",
        describe(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let nm = ctx.path("node_modules");
    if user_can_mount {
        assert!(stdout.contains("mounted"), "{}", describe(&out));
        assert!(
            is_mountpoint(&nm),
            "the user's install must mount node_modules"
        );
        // Without allow_other, FUSE lets only the mounting user in (not even root).
        let cat = as_nobody("cat")
            .arg(nm.join("a/node_modules/b/index.js"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&cat.stdout),
            "module.exports = 'b2';\n",
            "{}",
            describe(&cat)
        );
        let out = dx_as_nobody(&ctx, &["unmount"]);
        assert!(
            out.status.success(),
            "dx unmount as nobody failed:\n{}",
            describe(&out)
        );
        assert!(!is_mountpoint(&nm));
    } else {
        // One line saying why, then the files on disk.
        let notes: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("materializing node_modules on disk instead"))
            .collect();
        assert_eq!(notes.len(), 1, "{}", describe(&out));
        assert!(
            notes[0].contains("/dev/fuse") || notes[0].contains("fusermount3"),
            "the note must say what is missing: {}",
            notes[0]
        );
        assert!(!is_mountpoint(&nm));
        assert_eq!(
            std::fs::read_to_string(nm.join("b/index.js")).unwrap(),
            "module.exports = 'b1';\n"
        );
        assert_eq!(
            std::fs::read_to_string(nm.join("a/node_modules/b/index.js")).unwrap(),
            "module.exports = 'b2';\n"
        );
    }
}

#[test]
fn two_mounts_started_at_once_both_succeed_with_one_daemon() {
    if !fuse_available("two_mounts_started_at_once_both_succeed_with_one_daemon") {
        return;
    }
    let ctx = TestContext::with_fixtures();
    project(&ctx, DEPS);
    ctx.dx_ok(&["install", "--lockfile-only"]);
    for round in 0..3 {
        let children: Vec<_> = (0..2)
            .map(|_| {
                ctx.dx_command(&["mount"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: a concurrent dx mount failed:\n{}",
                describe(&out)
            );
        }
        let nm = ctx.path("node_modules");
        let target = std::fs::canonicalize(&ctx.project)
            .unwrap()
            .join("node_modules");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|line| line.split(' ').nth(4) == Some(&*target.to_string_lossy()))
            .count();
        assert_eq!(
            mounts, 1,
            "round {round}: exactly one mount must serve node_modules"
        );
        assert_eq!(
            std::fs::read_to_string(nm.join("@scope/c/c.js")).unwrap(),
            "module.exports = 'c';\n"
        );
        ctx.dx_ok(&["unmount"]);
    }
}

/// Found by the crash campaign: an install killed right after it started its daemon leaves that
/// daemon starting (holding the project's mount lock, not mounted yet). The next install waits
/// for it instead of starting a second daemon that fails on the taken lock.
#[test]
fn an_install_waits_for_a_daemon_still_starting() {
    if !fuse_available("an_install_waits_for_a_daemon_still_starting") {
        return;
    }
    use std::os::fd::AsRawFd as _;
    let ctx = TestContext::with_fixtures();
    project(&ctx, DEPS);
    ctx.dx_ok(&["install"]);
    ctx.dx_ok(&["unmount"]);
    let state = project_state(&ctx);
    // A "daemon" that holds the lock for 400 ms, then exits without mounting.
    let lock = std::fs::File::open(state.join("mount.lock")).unwrap();
    // SAFETY: flock on a file this test owns.
    assert_eq!(
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(400));
        drop(lock);
    });
    let out = ctx.dx(&["install"]);
    release.join().unwrap();
    assert!(out.success(), "{}", out.render());
    assert!(is_mountpoint(&ctx.path("node_modules")));
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/b/index.js")).unwrap(),
        "module.exports = 'b1';\n"
    );
}

/// Found by the crash campaign: an install killed after it wrote the daemon's layout file but
/// before it signalled left that file holding a layout the daemon did not serve; the next
/// install found the file unchanged and did not signal, so node_modules kept the old tree.
#[test]
fn a_layout_file_written_but_never_signalled_is_loaded_by_the_next_install() {
    if !fuse_available("a_layout_file_written_but_never_signalled_is_loaded_by_the_next_install") {
        return;
    }
    let ctx = TestContext::with_fixtures();
    project(&ctx, r#"{ "b": "^1.0.0" }"#);
    ctx.dx_ok(&["install"]);
    let current = project_state(&ctx).join("current.dxl");
    let first = std::fs::read(&current).unwrap();
    project(&ctx, r#"{ "solo": "^1.0.0" }"#);
    ctx.dx_ok(&["install"]);
    assert!(!ctx.path("node_modules/b").exists());
    // What the killed install left: the first layout in the file, the daemon not told.
    std::fs::write(&current, &first).unwrap();
    project(&ctx, r#"{ "b": "^1.0.0" }"#);
    ctx.dx_ok(&["install"]);
    assert_eq!(
        std::fs::read_to_string(ctx.path("node_modules/b/index.js")).unwrap(),
        "module.exports = 'b1';\n"
    );
}
