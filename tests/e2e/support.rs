//! The test context: a temporary project, store and home directory, the test registry serving
//! the standard fixtures (crate::fixtures), and a `dx` runner whose environment cannot see the
//! developer's own configuration.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dx_net::TestRegistry;

use crate::fixtures::{self, Package, Published};
use crate::snapshot::DxOutput;

/// One test's world: everything lives under a temporary directory removed on drop.
pub struct TestContext {
    _temp: tempfile::TempDir,
    /// The project directory (`dx` runs here).
    pub project: PathBuf,
    /// `DX_HOME`: the store.
    pub store: PathBuf,
    /// `HOME`, so no user `.npmrc` or cache leaks in.
    pub home: PathBuf,
    registry: Option<String>,
    /// The registry this context started ([`TestContext::with_fixtures`]); dropped after the
    /// unmount in `Drop`.
    served: Option<TestRegistry>,
}

/// Builds a [`TestContext`] whose registry serves the standard fixtures plus extra packages.
#[must_use]
pub struct ContextBuilder {
    extra: Vec<Package>,
}

impl ContextBuilder {
    /// Publishes `package` too (a new version of a fixture, or a package of the test's own).
    pub fn package(mut self, package: Package) -> Self {
        self.extra.push(package);
        self
    }

    /// Writes the registry directory, starts the server and points `dx` at it.
    pub fn build(self) -> TestContext {
        let mut ctx = TestContext::new();
        let dir = ctx.registry_dir();
        fixtures::write_standard(&dir);
        for package in &self.extra {
            package.write(&dir);
        }
        let registry = TestRegistry::start(&dir);
        ctx.registry = Some(registry.url().to_owned());
        ctx.served = Some(registry);
        ctx
    }
}

impl TestContext {
    /// A fresh context with an empty project directory and no registry.
    pub fn new() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let project = temp.path().join("project");
        let store = temp.path().join("store");
        let home = temp.path().join("home");
        for dir in [&project, &home] {
            std::fs::create_dir_all(dir).expect("create test dir");
        }
        Self {
            _temp: temp,
            project,
            store,
            home,
            registry: None,
            served: None,
        }
    }

    /// A fresh context whose own registry serves the standard fixtures.
    pub fn with_fixtures() -> Self {
        Self::builder().build()
    }

    /// A context whose registry serves the standard fixtures and what the builder adds.
    pub fn builder() -> ContextBuilder {
        ContextBuilder { extra: Vec::new() }
    }

    /// The registry this context started (for fault rules, the request log, rescans).
    #[track_caller]
    pub fn registry(&self) -> &TestRegistry {
        self.served
            .as_ref()
            .expect("this context serves no registry: use TestContext::with_fixtures")
    }

    /// The registry URL `dx` uses.
    #[track_caller]
    pub fn registry_url(&self) -> &str {
        self.registry
            .as_deref()
            .expect("this context has no registry")
    }

    /// The directory the context's registry serves.
    pub fn registry_dir(&self) -> PathBuf {
        self.home.join("registry")
    }

    /// Publishes `package` into the running registry (which rescans its directory at once).
    pub fn publish(&self, package: Package) {
        package.write(&self.registry_dir());
        self.registry().rescan().expect("rescan the test registry");
    }

    /// The integrity and URL of a published tarball, as a lockfile records them.
    pub fn published(&self, name: &str, version: &str) -> Published {
        fixtures::published(&self.registry_dir(), self.registry_url(), name, version)
    }

    /// Writes `manifest` as the project's package.json.
    pub fn package_json(&self, manifest: serde_json::Value) {
        let text = serde_json::to_string_pretty(&manifest).expect("serialize package.json");
        self.write("package.json", &text);
    }

    /// Reads a file under the project directory.
    #[track_caller]
    pub fn read(&self, rel: &str) -> String {
        let path = self.project.join(rel);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Use this registry URL for every `dx` run (passed as `DX_REGISTRY`).
    #[allow(dead_code)]
    pub fn with_registry(mut self, url: impl Into<String>) -> Self {
        self.registry = Some(url.into());
        self
    }

    /// Use another context's store (`DX_HOME`), as a second project of the same user would.
    #[allow(dead_code)]
    pub fn sharing_store(mut self, store: &Path) -> Self {
        self.store = store.to_path_buf();
        self
    }

    /// Writes a file under the project directory.
    #[allow(dead_code)]
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.project.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }

    /// A `dx` command with a hermetic environment, run in the project directory.
    pub fn dx_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dx"));
        cmd.args(args).current_dir(&self.project);
        for (key, _) in std::env::vars_os() {
            let key_str = key.to_string_lossy().to_ascii_uppercase();
            if key_str.starts_with("NPM_CONFIG_")
                || key_str.starts_with("DX_")
                || key_str == "XDG_CACHE_HOME"
            {
                cmd.env_remove(&key);
            }
        }
        // CI=true makes installs frozen; tests that want that set it themselves.
        cmd.env_remove("CI");
        cmd.env("DX_HOME", &self.store)
            .env("HOME", &self.home)
            .env("NO_COLOR", "1");
        if let Some(url) = &self.registry {
            cmd.env("DX_REGISTRY", url);
        }
        cmd
    }

    /// Runs `dx` in the project directory and returns what it printed.
    pub fn dx(&self, args: &[&str]) -> DxOutput {
        self.dx_with(args, |_| {})
    }

    /// Runs `dx` after `configure` adjusted the command (an environment variable, another
    /// working directory) and returns what it printed.
    pub fn dx_with(&self, args: &[&str], configure: impl FnOnce(&mut Command)) -> DxOutput {
        let mut cmd = self.dx_command(args);
        let envs_before = env_changes(&cmd);
        let dir_before = cmd.get_current_dir().map(Path::to_path_buf);
        configure(&mut cmd);
        // What `configure` changed is part of the command line a snapshot shows.
        let mut prefix: Vec<String> = env_changes(&cmd)
            .into_iter()
            .filter(|change| !envs_before.contains(change))
            .map(|(key, value)| match value {
                Some(value) => format!("{key}={value}"),
                None => format!("-u {key}"),
            })
            .collect();
        if let Some(dir) = cmd
            .get_current_dir()
            .filter(|d| Some(*d) != dir_before.as_deref())
        {
            prefix.insert(0, format!("(cd {})", dir.display()));
        }
        let output = cmd.output().expect("run dx");
        let root = self.project.parent().unwrap_or(&self.project).to_path_buf();
        let mut masked = Vec::new();
        if let Ok(canonical) = std::fs::canonicalize(&root)
            && canonical != root
        {
            masked.push(canonical);
        }
        masked.push(root);
        DxOutput::new(&prefix, args, output, masked)
    }

    /// Runs `dx`, asserting success, and returns stdout.
    #[track_caller]
    pub fn dx_ok(&self, args: &[&str]) -> String {
        let out = self.dx(args);
        assert!(out.success(), "dx {args:?} failed:\n{}", out.render());
        out.stdout_text()
    }

    /// The project path joined with `rel`.
    #[allow(dead_code)]
    pub fn path(&self, rel: &str) -> PathBuf {
        self.project.join(rel)
    }
}

impl Drop for TestContext {
    /// A test that mounted node_modules must not leave the mount behind, even when it failed:
    /// ask dx to unmount (which also stops the daemon), then detach whatever is left.
    fn drop(&mut self) {
        let node_modules = self.project.join("node_modules");
        if is_mountpoint(&node_modules) {
            let _ = self.dx_command(&["unmount"]).output();
        }
        if is_mountpoint(&node_modules) {
            let _ = Command::new("umount").arg("-l").arg(&node_modules).output();
        }
    }
}

/// The environment changes a command carries (set, or removed as `None`), as text.
fn env_changes(cmd: &Command) -> Vec<(String, Option<String>)> {
    cmd.get_envs()
        .map(|(key, value)| {
            (
                key.to_string_lossy().into_owned(),
                value.map(|v| v.to_string_lossy().into_owned()),
            )
        })
        .collect()
}

/// Whether `path` is a mount point, from /proc/self/mountinfo.
pub fn is_mountpoint(path: &Path) -> bool {
    let Ok(canonical) = std::fs::canonicalize(path.parent().unwrap_or(path)) else {
        return false;
    };
    let target = canonical.join(path.file_name().unwrap_or_default());
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|info| {
        info.lines()
            .any(|line| line.split(' ').nth(4) == Some(&*target.to_string_lossy()))
    })
}

/// Whether FUSE can be used here. Tests that need it skip with a visible message when it
/// cannot, except in CI (`CI=true`), where they must run: there a missing FUSE fails.
pub fn fuse_available(test: &str) -> bool {
    let ok = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_ok();
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "{test}: /dev/fuse is not usable, and CI=true forbids skipping FUSE tests"
        );
        eprintln!("SKIPPED {test}: /dev/fuse is not usable on this machine");
    }
    ok
}

/// A readable dump of a finished command for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Removes a materialized directory, whose directories may be read-only. Only directories are
/// made writable: the files may be hard links into the store's unpacked tier, whose modes
/// `dx cache verify` checks (a `chmod -R` here would change the store's files too).
#[allow(dead_code)]
pub fn make_writable_and_remove(path: &Path) {
    fn open_dirs(dir: &Path) {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                open_dirs(&entry.path());
            }
        }
    }
    open_dirs(path);
    std::fs::remove_dir_all(path).expect("remove directory");
}

/// The entries of `dir` whose names start with `prefix` (a staging tree, a reader's flag file).
#[allow(dead_code)]
pub fn entries_starting_with(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}

/// Whether `path` exists without following a final symlink.
#[allow(dead_code)]
pub fn exists_no_follow(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Asserts that two node_modules are the same tree (`diff -r`, links compared as links, dx's
/// layout marker left out: the one file a mount does not have), naming `what` on failure.
#[track_caller]
pub fn assert_same_tree(mounted: &Path, disk: &Path, what: &str) {
    let diff = Command::new("diff")
        .args(["-r", "--no-dereference", "--exclude=.dx-layout"])
        .arg(mounted)
        .arg(disk)
        .output()
        .expect("run diff");
    assert!(
        diff.status.success(),
        "{what}: mounted and materialized trees differ:\n{}",
        describe(&diff)
    );
}
