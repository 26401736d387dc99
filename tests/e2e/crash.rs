//! The crash campaign: the real `dx` SIGKILLed at random points of its writes, over and over,
//! in one project and one store. After every kill: `dx cache verify` finds nothing corrupt,
//! package.json and dx.lock are the old or the new version (never torn), a materialized
//! node_modules is the old or the new tree (or, for a kill among the renames of an in-place
//! update, a tree with an empty layout marker, which the next install rebuilds whole), and the
//! next `dx install` succeeds with the right files.
//!
//! Scenarios, in turn: a cold install into an empty store (store inserts, the unpacked tier,
//! the materialized tree built and swapped in, or the mount's state files), `dx add` of ten
//! packages (dx.lock and package.json rewritten, the tree changed), `dx cache clean`, and
//! writes into the mount's overlay while its daemon is killed.
//!
//! CI runs a short campaign; `DX_CRASH_KILLS=1000` runs the long one (about ten minutes),
//! `DX_CRASH_SEED` repeats one. Every anomaly is collected and reported at the end with the
//! round, the scenario and the seed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::fixtures::Package;
use crate::support::{TestContext, fuse_available, is_mountpoint};

/// Kills in the short campaign CI runs.
const CI_KILLS: usize = 30;
/// Packages the project depends on, and the ones `dx add` adds.
const BASE: usize = 14;
const ADDED: usize = 8;

/// A package of the campaign: files of incompressible text, so a kill can land while an
/// archive is being written, and a dependency on the next package, so resolving has work.
fn crash_package(index: usize, version: &str) -> Package {
    let mut package = Package::new(&format!("crash-{index}"), version)
        .manifest(json!({ "main": "index.js" }))
        .exporting(&format!("crash-{index} {version}"));
    if index + 1 < BASE + ADDED && index % 3 != 2 {
        package = package.manifest(json!({
            "dependencies": { format!("crash-{}", index + 1): "^1.0.0" }
        }));
    }
    let mut state = (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for file in 0..12 {
        let text: String = (0..6000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect();
        package = package.file(&format!("lib/part-{file}.txt"), text);
    }
    package
}

fn manifest(count: usize) -> String {
    let deps: BTreeMap<String, String> = (0..count)
        .map(|i| (format!("crash-{i}"), "^1.0.0".to_owned()))
        .collect();
    let doc = json!({ "name": "crash-app", "version": "1.0.0", "dependencies": deps });
    format!("{}\n", serde_json::to_string_pretty(&doc).unwrap())
}

/// The arguments of `dx add` in the add scenario.
fn add_args() -> Vec<String> {
    let mut args = vec!["add".to_owned()];
    args.extend((BASE..BASE + ADDED).map(|i| format!("crash-{i}@^1.0.0")));
    args
}

/// Every entry of a materialized tree: files by content, links by target; without dx's own
/// marker (`.dx-layout`, which records inodes and mtimes, so no two builds write the same).
fn listing(dir: &Path) -> Option<BTreeMap<String, Vec<u8>>> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if name == ".dx-layout" {
                continue;
            }
            let meta = std::fs::symlink_metadata(entry.path())?;
            if meta.is_symlink() {
                let target = std::fs::read_link(entry.path())?;
                out.insert(name, target.to_string_lossy().as_bytes().to_vec());
            } else if meta.is_dir() {
                walk(&entry.path(), &format!("{name}/"), out)?;
            } else {
                out.insert(name, std::fs::read(entry.path())?);
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out).ok()?;
    Some(out)
}

/// Writes a whole file and closes it, reporting a failed close too (`fs::write` ignores it:
/// on FUSE the close is where cached writes reach the daemon).
fn write_and_close(path: &Path, bytes: &[u8]) -> bool {
    use std::io::Write as _;
    use std::os::fd::IntoRawFd as _;
    let Ok(mut file) = std::fs::File::create(path) else {
        return false;
    };
    if file.write_all(bytes).is_err() {
        return false;
    }
    // SAFETY: closing the descriptor this function owns, once.
    unsafe { libc::close(file.into_raw_fd()) == 0 }
}

/// xorshift64, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A delay in `[0, typical)`: kills land anywhere in the command (or after it, when this
    /// run is faster than the measured one).
    fn delay(&mut self, typical: Duration) -> Duration {
        let span = (typical.as_micros() as u64).max(1);
        Duration::from_micros(self.next() % span)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    ColdMaterialize,
    ColdMount,
    AddMaterialize,
    AddMount,
    CacheClean,
    OverlayWrites,
}

/// What a completed command leaves: package.json, dx.lock, a materialized tree.
#[derive(Clone, Debug)]
struct Learned {
    manifest: String,
    lock: Option<Vec<u8>>,
    tree: Option<BTreeMap<String, Vec<u8>>>,
}

struct Campaign {
    ctx: TestContext,
    fuse: bool,
    rng: Rng,
    seed: u64,
    anomalies: Vec<String>,
    /// Kills that came after the command had finished (the rest landed mid-run).
    finished_first: usize,
    /// Overlay files written whole before a daemon kill and checked after the remount.
    overlay_files_checked: usize,
    /// Kills that landed among the renames of an in-place update: a tree part old, part new,
    /// with an empty layout marker, which the next install rebuilds whole (docs/materialize.md).
    caught_mid_update: usize,
    /// How long each scenario's command takes unkilled, and the state a completed run leaves
    /// (measured on first use).
    typical: BTreeMap<&'static str, (Duration, Learned)>,
    old_manifest: String,
    new_manifest: Option<String>,
    old_lock: Option<Vec<u8>>,
    new_lock: Option<Vec<u8>>,
    old_tree: Option<BTreeMap<String, Vec<u8>>>,
    new_tree: Option<BTreeMap<String, Vec<u8>>>,
}

impl Campaign {
    fn dx(&self, args: &[&str]) -> Command {
        let mut cmd = self.ctx.dx_command(args);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        cmd
    }

    /// Runs `dx args` to the end; a failure is an anomaly.
    fn run(&mut self, round: usize, what: &str, args: &[&str]) -> bool {
        let out = self.dx(args).output().expect("run dx");
        if !out.status.success() {
            self.anomaly(
                round,
                what,
                &format!(
                    "`dx {}` failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            );
        }
        out.status.success()
    }

    fn anomaly(&mut self, round: usize, what: &str, message: &str) {
        eprintln!("round {round} ({what}): {message}");
        self.anomalies
            .push(format!("round {round} ({what}): {message}"));
    }

    /// Starts `dx args` and SIGKILLs it after a random part of its usual duration.
    fn run_and_kill(&mut self, key: &'static str, args: &[&str]) {
        let typical = self
            .typical
            .get(key)
            .map_or(Duration::from_millis(300), |(d, _)| *d);
        let delay = self.rng.delay(typical);
        let mut child: Child = self.dx(args).spawn().expect("spawn dx");
        std::thread::sleep(delay);
        if matches!(child.try_wait(), Ok(Some(_))) {
            self.finished_first += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Runs `dx args` unkilled (once per key) to learn how long it takes and what it leaves;
    /// `prepare` puts the project where the killed run will start, before and after.
    fn learn(&mut self, key: &'static str, args: &[&str], prepare: &dyn Fn(&mut Self)) -> Learned {
        if let Some((_, learned)) = self.typical.get(key) {
            return learned.clone();
        }
        prepare(self);
        let started = Instant::now();
        let ok = self.dx(args).status().expect("run dx").success();
        let took = started.elapsed();
        assert!(ok, "measuring `dx {}` failed", args.join(" "));
        let node_modules = self.ctx.path("node_modules");
        let learned = Learned {
            manifest: std::fs::read_to_string(self.ctx.path("package.json")).unwrap(),
            lock: std::fs::read(self.ctx.path("dx.lock")).ok(),
            tree: (!is_mountpoint(&node_modules))
                .then(|| listing(&node_modules))
                .flatten(),
        };
        self.typical.insert(key, (took, learned.clone()));
        learned
    }

    /// The state a completed run leaves is the "new" one the checks accept.
    fn expect_new(&mut self, learned: Learned) {
        self.new_manifest = Some(learned.manifest);
        self.new_lock = learned.lock;
        self.new_tree = learned.tree;
    }

    /// The checks after every kill.
    fn check_after_kill(&mut self, round: usize, what: &str) {
        let out = self
            .dx(&["cache", "verify", "--json"])
            .stdout(Stdio::piped())
            .output()
            .expect("run dx cache verify");
        match serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            Ok(report) => {
                for field in ["corrupt", "unpackedRemoved", "unpackedRepaired"] {
                    if report[field].as_array().is_some_and(|a| !a.is_empty()) {
                        self.anomaly(
                            round,
                            what,
                            &format!("cache verify: {field}: {}", report[field]),
                        );
                    }
                }
                if report["indexEntriesRemoved"].as_u64() != Some(0) {
                    self.anomaly(round, what, &format!("cache verify: {report}"));
                }
            }
            Err(_) => self.anomaly(
                round,
                what,
                &format!(
                    "cache verify printed no report: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ),
        }
        let manifest = std::fs::read_to_string(self.ctx.path("package.json")).unwrap_or_default();
        if manifest != self.old_manifest && Some(&manifest) != self.new_manifest.as_ref() {
            self.anomaly(round, what, &format!("package.json is torn: {manifest:?}"));
        }
        let lock = std::fs::read(self.ctx.path("dx.lock")).ok();
        if lock != self.old_lock && (lock.is_none() || lock != self.new_lock) {
            self.anomaly(round, what, "dx.lock is neither the old nor the new one");
        }
        let node_modules = self.ctx.path("node_modules");
        if !is_mountpoint(&node_modules) && node_modules.exists() {
            // An empty directory is no tree (a mount daemon creates its mount point before
            // mounting on it): node resolves nothing from it, as from no node_modules at all.
            let tree = listing(&node_modules).filter(|t| !t.is_empty());
            let mixed = tree != self.old_tree && (tree.is_none() || tree != self.new_tree);
            let marker = std::fs::read(node_modules.join(".dx-layout")).ok();
            if mixed && tree.is_some() && marker.as_deref() == Some(&[][..]) {
                // The one documented mixed state; `recover` checks the next install repairs it.
                self.caught_mid_update += 1;
            } else if mixed {
                let differs = |other: &Option<BTreeMap<String, Vec<u8>>>| -> Vec<String> {
                    let (Some(a), Some(b)) = (&tree, other) else {
                        return vec![format!(
                            "present: {} vs {}",
                            tree.is_some(),
                            other.is_some()
                        )];
                    };
                    a.keys()
                        .chain(b.keys())
                        .filter(|k| a.get(*k) != b.get(*k))
                        .take(4)
                        .cloned()
                        .collect()
                };
                let message = format!(
                    "node_modules is neither the old nor the new tree (vs old: {:?}; vs new: {:?})",
                    differs(&self.old_tree),
                    differs(&self.new_tree)
                );
                self.anomaly(round, what, &message);
            }
        }
    }

    /// After the checks: the next install succeeds and serves the right files.
    fn recover(&mut self, round: usize, what: &str, mode: &str, packages: usize) {
        if !self.run(round, what, &["install", mode]) {
            return;
        }
        for i in 0..packages {
            let path = self.ctx.path(&format!("node_modules/crash-{i}/index.js"));
            let expected = format!("module.exports = 'crash-{i} 1.1.0';\n");
            match std::fs::read_to_string(&path) {
                Ok(text) if text == expected => {}
                other => {
                    self.anomaly(round, what, &format!("{}: {other:?}", path.display()));
                    break;
                }
            }
        }
        let leftovers =
            crate::support::entries_starting_with(&self.ctx.project, "node_modules.dx-new-");
        if !leftovers.is_empty() {
            self.anomaly(round, what, &format!("staging left behind: {leftovers:?}"));
        }
    }

    /// package.json and dx.lock as they are now become "old"; no "new" is expected.
    fn settle(&mut self) {
        self.old_manifest = std::fs::read_to_string(self.ctx.path("package.json")).unwrap();
        self.old_lock = std::fs::read(self.ctx.path("dx.lock")).ok();
        self.new_manifest = None;
        self.new_lock = None;
        let node_modules = self.ctx.path("node_modules");
        self.old_tree = (!is_mountpoint(&node_modules))
            .then(|| listing(&node_modules))
            .flatten();
        self.new_tree = None;
    }

    /// Puts the project back at the base manifest, installed with `mode`.
    fn reset(&mut self, mode: &str) {
        std::fs::write(self.ctx.path("package.json"), manifest(BASE)).unwrap();
        let ok = self.dx(&["install", mode]).status().unwrap().success();
        assert!(ok, "resetting the project failed");
        self.settle();
    }

    fn cold(&mut self, round: usize, scenario: Scenario) {
        let (key, mode) = match scenario {
            Scenario::ColdMount => ("cold-mount", "--no-materialize"),
            _ => ("cold-materialize", "--materialize"),
        };
        let learned = self.learn(key, &["install", mode], &|c| c.empty(round));
        self.empty(round);
        self.expect_new(learned);
        let what = format!("{scenario:?}");
        self.run_and_kill(key, &["install", mode]);
        self.check_after_kill(round, &what);
        self.recover(round, &what, mode, BASE);
        self.settle();
    }

    /// No node_modules, an empty store; dx.lock and package.json stay.
    fn empty(&mut self, round: usize) {
        let node_modules = self.ctx.path("node_modules");
        if is_mountpoint(&node_modules) {
            self.run(round, "empty", &["unmount"]);
        }
        if node_modules.exists() {
            crate::support::make_writable_and_remove(&node_modules);
        }
        self.run(round, "empty", &["cache", "clean"]);
        self.settle();
    }

    fn add(&mut self, round: usize, scenario: Scenario) {
        let (key, mode) = match scenario {
            Scenario::AddMount => ("add-mount", "--no-materialize"),
            _ => ("add-materialize", "--materialize"),
        };
        let args = add_args();
        let mut with_mode: Vec<&str> = args.iter().map(String::as_str).collect();
        with_mode.push(mode);
        let learned = self.learn(key, &with_mode, &|c| c.reset(mode));
        self.reset(mode);
        self.expect_new(learned);
        let what = format!("{scenario:?}");
        self.run_and_kill(key, &with_mode);
        self.check_after_kill(round, &what);
        // Whichever manifest survived, the next install makes it whole.
        let survived = std::fs::read_to_string(self.ctx.path("package.json")).unwrap_or_default();
        let packages = if Some(&survived) == self.new_manifest.as_ref() {
            BASE + ADDED
        } else {
            BASE
        };
        self.recover(round, &what, mode, packages);
        self.reset(mode);
    }

    /// A full store and a materialized tree, then `dx cache clean` killed: the tree is
    /// untouched (the old one), the store verifies, the next install succeeds.
    fn cache_clean(&mut self, round: usize) {
        let refill = |c: &mut Self| {
            let node_modules = c.ctx.path("node_modules");
            if is_mountpoint(&node_modules) {
                c.run(round, "CacheClean", &["unmount"]);
            }
            if node_modules.exists() {
                crate::support::make_writable_and_remove(&node_modules);
            }
            c.reset("--materialize");
        };
        self.learn("cache-clean", &["cache", "clean"], &refill);
        refill(self);
        self.run_and_kill("cache-clean", &["cache", "clean"]);
        self.check_after_kill(round, "CacheClean");
        self.recover(round, "CacheClean", "--materialize", BASE);
        self.settle();
    }

    /// Files written into the mount while its daemon is SIGKILLed: every write that completed
    /// (closed without error) before the kill is there, whole, after the next install remounts.
    fn overlay(&mut self, round: usize) {
        self.reset("--no-materialize");
        let node_modules = self.ctx.path("node_modules");
        let Some(pid) = self.daemon_pid() else {
            self.anomaly(round, "OverlayWrites", "no mount daemon pid");
            return;
        };
        let dir = node_modules.join("crash-0/written");
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut done = Vec::new();
                let _ = std::fs::create_dir_all(&dir);
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let contents = format!("{n}\n").repeat(200 + n % 300);
                    if !write_and_close(&dir.join(format!("f{n}")), contents.as_bytes()) {
                        break;
                    }
                    done.push((n, contents));
                }
                done
            })
        };
        let delay = self.rng.delay(Duration::from_millis(200));
        std::thread::sleep(delay);
        // SAFETY: killing the daemon this campaign started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        stop.store(true, Ordering::Relaxed);
        let written = writer.join().unwrap();
        self.check_after_kill(round, "OverlayWrites");
        self.recover(round, "OverlayWrites", "--no-materialize", BASE);
        self.overlay_files_checked += written.len();
        for (n, contents) in &written {
            match std::fs::read_to_string(dir.join(format!("f{n}"))) {
                Ok(text) if &text == contents => {}
                other => {
                    let shown = other.map(|t| t.len());
                    self.anomaly(
                        round,
                        "OverlayWrites",
                        &format!("f{n}, written whole before the kill, reads {shown:?}"),
                    );
                    break;
                }
            }
        }
        // The edits are the user's: drop them so the next rounds start from the store.
        self.run(round, "OverlayWrites", &["unmount"]);
        self.run(round, "OverlayWrites", &["mount", "--reset"]);
        self.settle();
    }

    fn daemon_pid(&self) -> Option<i32> {
        for entry in std::fs::read_dir(self.ctx.store.join("v1/projects")).ok()? {
            let lock = entry.ok()?.path().join("mount.lock");
            if let Ok(text) = std::fs::read_to_string(lock)
                && let Ok(pid) = text.trim().parse()
            {
                return Some(pid);
            }
        }
        None
    }
}

#[test]
fn sigkilled_dx_never_leaves_a_torn_project_or_a_corrupt_store() {
    let kills: usize = std::env::var("DX_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_KILLS);
    let seed = std::env::var("DX_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    eprintln!("crash campaign: {kills} kills, DX_CRASH_SEED={seed}");
    let fuse = fuse_available("sigkilled_dx_never_leaves_a_torn_project_or_a_corrupt_store");
    let mut builder = TestContext::builder();
    for i in 0..BASE + ADDED {
        builder = builder
            .package(crash_package(i, "1.0.0"))
            .package(crash_package(i, "1.1.0"));
    }
    let ctx = builder.build();
    ctx.write("package.json", &manifest(BASE));
    let mut campaign = Campaign {
        ctx,
        fuse,
        rng: Rng(seed),
        seed,
        anomalies: Vec::new(),
        finished_first: 0,
        caught_mid_update: 0,
        overlay_files_checked: 0,
        typical: BTreeMap::new(),
        old_manifest: manifest(BASE),
        new_manifest: None,
        old_lock: None,
        new_lock: None,
        old_tree: None,
        new_tree: None,
    };
    campaign.reset("--materialize");

    let scenarios: Vec<Scenario> = [
        Scenario::ColdMaterialize,
        Scenario::AddMaterialize,
        Scenario::CacheClean,
        Scenario::ColdMount,
        Scenario::AddMount,
        Scenario::OverlayWrites,
    ]
    .into_iter()
    .filter(|s| {
        campaign.fuse
            || !matches!(
                s,
                Scenario::ColdMount | Scenario::AddMount | Scenario::OverlayWrites
            )
    })
    .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let started = Instant::now();
    for round in 0..kills {
        let scenario = scenarios[round % scenarios.len()];
        *counts.entry(format!("{scenario:?}")).or_default() += 1;
        match scenario {
            Scenario::ColdMaterialize | Scenario::ColdMount => campaign.cold(round, scenario),
            Scenario::AddMaterialize | Scenario::AddMount => campaign.add(round, scenario),
            Scenario::CacheClean => campaign.cache_clean(round),
            Scenario::OverlayWrites => campaign.overlay(round),
        }
    }
    eprintln!(
        "crash campaign: {kills} kills in {:.0} s ({counts:?}), {} after the command had finished, {} among an in-place update's renames, {} overlay files checked, {} anomalies, seed {}; typical durations {:?}",
        started.elapsed().as_secs_f64(),
        campaign.finished_first,
        campaign.caught_mid_update,
        campaign.overlay_files_checked,
        campaign.anomalies.len(),
        campaign.seed,
        campaign
            .typical
            .iter()
            .map(|(key, (took, _))| (*key, *took))
            .collect::<Vec<_>>()
    );
    assert!(
        campaign.anomalies.is_empty(),
        "{} anomalies (DX_CRASH_SEED={}):\n{}",
        campaign.anomalies.len(),
        campaign.seed,
        campaign.anomalies.join("\n")
    );
}
