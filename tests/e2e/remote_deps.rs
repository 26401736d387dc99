//! Git, tarball URL and `file:` tarball dependencies end to end: git repositories made in the
//! test with the machine's `git` and reached through `git+file://` URLs, tarballs served by the
//! test registry on 127.0.0.1 or lying beside the project.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::fixtures::Package;
use crate::snapshot::assert_dx_snapshot;
use crate::support::{TestContext, describe, fuse_available, is_mountpoint};

/// A work tree and the bare repository it pushes to (what dx clones).
struct Repo {
    work: PathBuf,
    bare: PathBuf,
    home: PathBuf,
}

impl Repo {
    fn new(ctx: &TestContext, name: &str) -> Repo {
        let root = ctx.home.join("repos");
        let repo = Repo {
            work: root.join(name),
            bare: root.join(format!("{name}.git")),
            home: ctx.home.clone(),
        };
        std::fs::create_dir_all(&repo.work).expect("mkdir");
        repo.git(&["init", "--quiet", "--initial-branch=main"]);
        let bare = repo.bare.to_string_lossy().into_owned();
        repo.git(&["init", "--quiet", "--bare", "--initial-branch=main", &bare]);
        repo.git(&["remote", "add", "origin", &bare]);
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
            .args(args)
            .current_dir(&self.work)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Commits package.json at `version` (exporting it from index.js) plus `files`, pushes
    /// main, tags it `v<version>` when `tag`; returns the commit.
    fn commit(
        &self,
        version: &str,
        deps: serde_json::Value,
        files: &[(&str, &str)],
        tag: bool,
    ) -> String {
        let manifest = json!({"name": "lib", "version": version, "dependencies": deps});
        std::fs::write(
            self.work.join("package.json"),
            serde_json::to_string_pretty(&manifest).expect("json"),
        )
        .expect("write");
        std::fs::write(
            self.work.join("index.js"),
            format!("module.exports = 'lib {version}';\n"),
        )
        .expect("write");
        for (path, text) in files {
            let full = self.work.join(path);
            std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
            std::fs::write(full, text).expect("write");
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "-m", version]);
        if tag {
            let name = format!("v{version}");
            self.git(&["tag", "-a", &name, "-m", &name]);
        }
        self.git(&["push", "--quiet", "--follow-tags", "origin", "main"]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// Commits `manifest` as package.json plus `files` on main and pushes; returns the commit.
    fn commit_manifest(&self, manifest: serde_json::Value, files: &[(&str, &str)]) -> String {
        std::fs::write(
            self.work.join("package.json"),
            serde_json::to_string_pretty(&manifest).expect("json"),
        )
        .expect("write");
        for (path, text) in files {
            std::fs::write(self.work.join(path), text).expect("write");
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "--quiet", "-m", "manifest"]);
        self.git(&["push", "--quiet", "origin", "main"]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn url(&self) -> String {
        format!("git+file://{}", self.bare.display())
    }
}

/// Three releases of `lib`: 1.0.0 (tag v1.0.0), 1.1.0 (tag v1.1.0), 2.0.0 (untagged, main).
fn releases(ctx: &TestContext) -> (Repo, [String; 3]) {
    let repo = Repo::new(ctx, "lib");
    let ignore = [(".npmignore", "test/\n"), ("test/t.js", "test\n")];
    let one = repo.commit("1.0.0", json!({"solo": "^1.0.0"}), &ignore, true);
    let two = repo.commit("1.1.0", json!({}), &[], true);
    let three = repo.commit("2.0.0", json!({}), &[], false);
    (repo, [one, two, three])
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn git_dependencies_by_tag_branch_commit_and_semver_range_install_materialized() {
    let ctx = TestContext::with_fixtures();
    let (repo, [_, v110, _]) = releases(&ctx);
    let url = repo.url();
    ctx.package_json(json!({
        "name": "app",
        "dependencies": {
            "lib-tag": format!("{url}#v1.0.0"),
            "lib-branch": format!("{url}#main"),
            "lib-commit": format!("{url}#{v110}"),
            "lib-range": format!("{url}#semver:^1"),
        }
    }));
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    assert_dx_snapshot!("git_install", out);
    let nm = ctx.path("node_modules");
    assert_eq!(
        read(&nm.join("lib-tag/index.js")),
        "module.exports = 'lib 1.0.0';\n"
    );
    assert_eq!(
        read(&nm.join("lib-range/index.js")),
        "module.exports = 'lib 1.1.0';\n"
    );
    assert_eq!(
        read(&nm.join("lib-commit/index.js")),
        "module.exports = 'lib 1.1.0';\n"
    );
    assert_eq!(
        read(&nm.join("lib-branch/index.js")),
        "module.exports = 'lib 2.0.0';\n"
    );
    // npm-packlist rules: .npmignore'd files and the ignore file itself are not packed.
    assert!(!nm.join("lib-tag/test").exists());
    assert!(!nm.join("lib-tag/.npmignore").exists());
    // The git package's own registry dependency is installed.
    assert!(nm.join("solo/package.json").is_file());
    let lock = ctx.read("dx.lock");
    let key = format!("lib@{url}#{v110}");
    // `#` makes dx.lock quote the token.
    assert!(lock.contains(&format!("package \"{key}\"")), "{lock}");
    assert!(
        lock.contains(&format!("resolved \"{url}#{v110}\"")),
        "{lock}"
    );
    // A fresh store re-clones each locked commit, and the packs have the recorded integrity.
    std::fs::remove_dir_all(&ctx.store).expect("remove store");
    crate::support::make_writable_and_remove(&nm);
    let out = ctx.dx(&["install", "--materialize", "--frozen-lockfile"]);
    assert!(out.success(), "{}", out.render());
    assert_eq!(
        read(&nm.join("lib-tag/index.js")),
        "module.exports = 'lib 1.0.0';\n"
    );
    assert_eq!(ctx.read("dx.lock"), lock, "dx.lock unchanged");
}

#[test]
fn a_moved_branch_keeps_the_installed_commit_until_dx_update() {
    let ctx = TestContext::with_fixtures();
    let repo = Repo::new(&ctx, "lib");
    let first = repo.commit("1.0.0", json!({}), &[], false);
    let spec = format!("{}#main", repo.url());
    ctx.package_json(json!({"name": "app", "dependencies": {"lib": spec}}));
    ctx.dx_ok(&["install", "--materialize"]);
    let index = ctx.path("node_modules/lib/index.js");
    assert_eq!(read(&index), "module.exports = 'lib 1.0.0';\n");
    assert!(ctx.read("dx.lock").contains(&first));

    let second = repo.commit("1.0.1", json!({}), &[], false);
    // package.json changes elsewhere: dx resolves again but keeps lib's locked commit.
    ctx.package_json(json!({"name": "app", "dependencies": {"lib": spec, "solo": "^1.0.0"}}));
    ctx.dx_ok(&["install", "--materialize"]);
    assert_eq!(read(&index), "module.exports = 'lib 1.0.0';\n");
    let lock = ctx.read("dx.lock");
    assert!(lock.contains(&first) && !lock.contains(&second), "{lock}");

    let out = ctx.dx(&["update", "lib", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    assert_eq!(read(&index), "module.exports = 'lib 1.0.1';\n");
    let lock = ctx.read("dx.lock");
    assert!(lock.contains(&second) && !lock.contains(&first), "{lock}");

    // Offline, a locked git package missing from the store cannot be cloned.
    std::fs::remove_dir_all(&ctx.store).expect("remove store");
    crate::support::make_writable_and_remove(&ctx.path("node_modules"));
    let out = ctx.dx(&["install", "--offline", "--materialize"]);
    out.assert_code(1);
    assert_dx_snapshot!("git_offline_missing", out);
}

#[test]
fn git_errors_name_the_package_and_change_nothing() {
    let ctx = TestContext::with_fixtures();
    let repo = Repo::new(&ctx, "lib");
    repo.commit("1.0.0", json!({}), &[], true);
    ctx.package_json(
        json!({"name": "app", "dependencies": {"lib": format!("{}#nope", repo.url())}}),
    );
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    assert_dx_snapshot!("git_missing_ref", out);
    ctx.package_json(
        json!({"name": "app", "dependencies": {"lib": format!("{}#semver:^7", repo.url())}}),
    );
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    assert_dx_snapshot!("git_no_matching_tag", out);
    let gone = ctx.home.join("repos/gone.git");
    ctx.package_json(
        json!({"name": "app", "dependencies": {"lib": format!("git+file://{}", gone.display())}}),
    );
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    assert_dx_snapshot!("git_cannot_clone", out);
    assert!(!ctx.path("dx.lock").exists());
    assert!(!ctx.path("node_modules").exists());
}

/// Requests for one tarball path the registry answered.
fn tarball_requests(ctx: &TestContext, path_end: &str) -> usize {
    ctx.registry()
        .requests()
        .snapshot()
        .iter()
        .filter(|r| r.path.ends_with(path_end))
        .count()
}

#[test]
fn a_tarball_url_records_its_integrity_on_first_fetch_and_refuses_a_changed_tarball() {
    let ctx = TestContext::with_fixtures();
    let published = ctx.published("solo", "1.0.0");
    ctx.package_json(json!({"name": "app", "dependencies": {"solo": published.url}}));
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    assert_dx_snapshot!("tarball_url_install", out);
    assert_eq!(
        tarball_requests(&ctx, "/solo-1.0.0.tgz"),
        1,
        "downloaded once"
    );
    let lock = ctx.read("dx.lock");
    assert!(
        lock.contains(&format!("resolved {}", published.url)),
        "{lock}"
    );
    assert!(
        lock.contains(&format!("integrity {}", published.integrity)),
        "{lock}"
    );
    assert!(ctx.path("node_modules/solo/package.json").is_file());

    // The server's tarball changes; a store without the locked one fetches and refuses it.
    ctx.publish(Package::new("solo", "1.0.0").exporting("tampered"));
    std::fs::remove_dir_all(&ctx.store).expect("remove store");
    crate::support::make_writable_and_remove(&ctx.path("node_modules"));
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    assert_dx_snapshot!("tarball_url_integrity_changed", out);
    assert!(!ctx.path("node_modules").exists());
    assert_eq!(ctx.read("dx.lock"), lock, "dx.lock unchanged");
}

fn write_tarball(path: &Path, manifest: Option<serde_json::Value>, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let files: Vec<(&str, &[u8])> = vec![("index.js", text.as_bytes())];
    let bytes = match manifest {
        Some(m) => dx_net::tarball_bytes(m.to_string().as_bytes(), &files),
        None => {
            // A tarball without package.json (tarball_bytes always writes one): the system tar.
            let staging = path.with_extension("staging");
            std::fs::create_dir_all(staging.join("package")).expect("mkdir");
            std::fs::write(staging.join("package/index.js"), text).expect("write");
            let out = Command::new("tar")
                .arg("czf")
                .arg(path)
                .arg("-C")
                .arg(&staging)
                .arg("package")
                .output()
                .expect("tar");
            assert!(out.status.success(), "tar: {}", describe(&out));
            return;
        }
    }
    .expect("tarball");
    std::fs::write(path, bytes).expect("write tarball");
}

#[test]
fn a_file_tarball_is_recorded_relative_to_the_project_and_checked() {
    let ctx = TestContext::with_fixtures();
    let tgz = ctx.home.join("pkgs/local-1.0.0.tgz");
    write_tarball(
        &tgz,
        Some(json!({"name": "local", "version": "1.0.0"})),
        "module.exports = 'local';\n",
    );
    ctx.package_json(
        json!({"name": "app", "dependencies": {"local": "file:../home/pkgs/local-1.0.0.tgz"}}),
    );
    let out = ctx.dx(&["install", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    assert_dx_snapshot!("file_tarball_install", out);
    assert_eq!(
        read(&ctx.path("node_modules/local/index.js")),
        "module.exports = 'local';\n"
    );
    let lock = ctx.read("dx.lock");
    assert!(
        lock.contains("resolved file:../home/pkgs/local-1.0.0.tgz"),
        "{lock}"
    );
    assert!(lock.contains("integrity sha512-"), "{lock}");

    // Changed on disk: refused once the store no longer has the locked one.
    write_tarball(
        &tgz,
        Some(json!({"name": "local", "version": "1.0.0"})),
        "module.exports = 'changed';\n",
    );
    std::fs::remove_dir_all(&ctx.store).expect("remove store");
    crate::support::make_writable_and_remove(&ctx.path("node_modules"));
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    assert_dx_snapshot!("file_tarball_integrity_changed", out);
    assert!(!ctx.path("node_modules").exists());

    // Missing, and without a package.json: one-line errors, nothing written.
    std::fs::remove_file(ctx.path("dx.lock")).expect("rm dx.lock");
    ctx.package_json(
        json!({"name": "app", "dependencies": {"local": "file:../home/pkgs/nope.tgz"}}),
    );
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    assert_dx_snapshot!("file_tarball_missing", out);
    let bare = ctx.home.join("pkgs/bare.tgz");
    write_tarball(&bare, None, "x");
    ctx.package_json(
        json!({"name": "app", "dependencies": {"local": "file:../home/pkgs/bare.tgz"}}),
    );
    let out = ctx.dx(&["install", "--materialize"]);
    out.assert_code(1);
    assert_dx_snapshot!("tarball_without_package_json", out);
    assert!(!ctx.path("dx.lock").exists());
}

#[test]
fn dx_add_saves_git_url_and_tarball_specifiers_as_npm_does() {
    let ctx = TestContext::with_fixtures();
    let (repo, _) = releases(&ctx);
    ctx.package_json(json!({"name": "app"}));
    let git_spec = format!("{}#v1.0.0", repo.url());
    let out = ctx.dx(&["add", &git_spec, "--materialize"]);
    assert!(out.success(), "{}", out.render());
    assert_dx_snapshot!("add_git", out);
    write_tarball(
        &ctx.path("local-1.0.0.tgz"),
        Some(json!({"name": "local", "version": "1.0.0"})),
        "module.exports = 'local';\n",
    );
    ctx.dx_ok(&["add", "./local-1.0.0.tgz", "--materialize"]);
    let url = ctx.published("solo", "1.0.0").url;
    ctx.registry().requests().clear();
    ctx.dx_ok(&["add", &url, "--materialize"]);
    assert_eq!(
        tarball_requests(&ctx, "/solo-1.0.0.tgz"),
        1,
        "downloaded once"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&ctx.read("package.json")).expect("json");
    assert_eq!(
        manifest["dependencies"],
        json!({"lib": git_spec, "local": "file:local-1.0.0.tgz", "solo": url})
    );
    for (name, text) in [("lib", "lib 1.0.0"), ("local", "local")] {
        assert_eq!(
            read(&ctx.path(&format!("node_modules/{name}/index.js"))),
            format!("module.exports = '{text}';\n")
        );
    }
}

#[test]
fn remote_dependencies_mount_the_same_tree_as_materialized() {
    if !fuse_available("remote_dependencies_mount_the_same_tree_as_materialized") {
        return;
    }
    let mounted = TestContext::with_fixtures();
    let (repo, _) = releases(&mounted);
    let tgz = mounted.home.join("pkgs/local-1.0.0.tgz");
    write_tarball(
        &tgz,
        Some(json!({"name": "local", "version": "1.0.0"})),
        "module.exports = 'local';\n",
    );
    let manifest = json!({"name": "app", "dependencies": {
        "lib": format!("{}#semver:^1", repo.url()),
        "local": format!("file:{}", tgz.display()),
        "solo": mounted.published("solo", "1.0.0").url,
    }});
    mounted.package_json(manifest.clone());
    let out = mounted.dx(&["install"]);
    assert!(out.stdout_text().contains("mounted"), "{}", out.render());
    assert_dx_snapshot!("remote_mount", out);
    assert!(is_mountpoint(&mounted.path("node_modules")));
    assert_eq!(
        read(&mounted.path("node_modules/lib/index.js")),
        "module.exports = 'lib 1.1.0';\n"
    );

    let disk = TestContext::new()
        .with_registry(mounted.registry_url())
        .sharing_store(&mounted.store);
    disk.package_json(manifest);
    disk.dx_ok(&["install", "--materialize"]);
    std::fs::remove_file(disk.path("node_modules/.dx-layout")).expect("marker");
    let diff = Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(mounted.path("node_modules"))
        .arg(disk.path("node_modules"))
        .output()
        .expect("diff");
    assert!(diff.status.success(), "trees differ:\n{}", describe(&diff));
}

/// A git package whose `prepare` builds `built.txt` with a devDependency's command.
fn prepared_repo(ctx: &TestContext) -> Repo {
    let repo = Repo::new(ctx, "gen");
    repo.commit_manifest(
        json!({
            "name": "gen",
            "version": "1.0.0",
            "scripts": {"prepare": "hello-tool built > built.txt"},
            "devDependencies": {"hello": "^1.0.0"}
        }),
        &[("index.js", "module.exports = 'gen';\n")],
    );
    repo
}

#[test]
fn a_git_package_with_prepare_is_built_only_when_trusted() {
    let untrusted = TestContext::with_fixtures();
    let repo = prepared_repo(&untrusted);
    untrusted.package_json(json!({"name": "app", "dependencies": {"gen": repo.url()}}));
    let out = untrusted.dx(&["install", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    assert_dx_snapshot!("git_prepare_untrusted", out);
    assert!(untrusted.path("node_modules/gen/index.js").is_file());
    assert!(!untrusted.path("node_modules/gen/built.txt").exists());

    let trusted = TestContext::new().with_registry(untrusted.registry_url());
    trusted.package_json(json!({
        "name": "app",
        "dependencies": {"gen": repo.url()},
        "trustedDependencies": ["gen"]
    }));
    let out = trusted.dx(&["install", "--materialize"]);
    assert!(out.success(), "{}", out.render());
    assert_eq!(
        read(&trusted.path("node_modules/gen/built.txt")),
        "hello-tool says: built\n"
    );
    // The scratch install's node_modules and dx.lock are not packed; the devDependency is
    // not installed for the project.
    assert!(!trusted.path("node_modules/gen/node_modules").exists());
    assert!(!trusted.path("node_modules/gen/dx.lock").exists());
    assert!(!trusted.path("node_modules/hello").exists());
}
