//! Git dependencies with the user's own `git` (so their credentials, ssh configuration and
//! proxies apply, as with npm and Bun): a ref resolved to a commit (`git ls-remote`; for
//! `#semver:<range>` the highest matching tag), the repository cached as a bare clone in the
//! store (`<store>/v1/git/<blake3 of the clone URL>`, locked while it is fetched into), the
//! commit checked out into a temporary directory, prepared when the project trusts it, packed
//! as npm packs (crate::packlist) into a deterministic tarball, and stored like any tarball.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use dx_formats::hash::{ContentHash, Integrity};
use dx_resolve::semver::{Range, Version};
use dx_resolve::spec::{Committish, GitSpec, is_full_commit};
use dx_store::{FileLock, LockMode, Store};

use crate::packlist;

/// Why a git dependency could not be had. Each names the repository.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `git` is not installed (or not on PATH).
    #[error("cannot run git (is it installed?): {0}")]
    NoGit(std::io::Error),
    /// A git command failed; `message` is git's last line on stderr.
    #[error("cannot {action} {url}: {message}")]
    Command {
        /// What dx was doing (`list the refs of`, `fetch`).
        action: &'static str,
        /// The clone URL.
        url: String,
        /// git's last stderr line.
        message: String,
    },
    /// The ref names no branch, tag or commit of the repository.
    #[error("{url} has no branch, tag or commit named {reference:?}")]
    NoRef {
        /// The clone URL.
        url: String,
        /// The ref asked for.
        reference: String,
    },
    /// `#semver:<range>` and no tag's version is in the range.
    #[error("{url} has no tag matching semver:{range}")]
    NoMatchingTag {
        /// The clone URL.
        url: String,
        /// The range.
        range: String,
    },
    /// The commit has no package.json, or one that does not parse.
    #[error("{url}#{commit} has no readable package.json: {message}")]
    Manifest {
        /// The clone URL.
        url: String,
        /// The commit.
        commit: String,
        /// What went wrong.
        message: String,
    },
    /// A file of the checkout, the cache or the store could not be used.
    #[error("{what}: {message}")]
    Io {
        /// What dx was doing, naming the path.
        what: String,
        /// The error.
        message: String,
    },
}

/// A commit checked out, packed and stored.
pub struct PackedCommit {
    /// The full commit id.
    pub commit: String,
    /// The package.json at that commit (as packed: after `prepare` when it ran).
    pub manifest: serde_json::Value,
    /// The integrity of the packed tarball (sha512).
    pub integrity: Integrity,
    /// The stored archive.
    pub hash: ContentHash,
    /// Things the user should know (a `prepare` that was not run).
    pub notes: Vec<String>,
}

/// Whether and how to run a git package's `prepare` script.
pub trait Preparer {
    /// Whether the project trusts the package named `name` to run scripts.
    fn trusts(&self, name: &str) -> bool;
    /// Installs the dependencies of the checkout in `dir` and runs its `prepare` script.
    fn prepare(&self, dir: &Path) -> Result<(), String>;
}

/// Resolves `spec` to one commit, then checks it out, packs and stores it.
pub fn resolve_and_pack(
    store: &Store,
    spec: &GitSpec,
    preparer: &dyn Preparer,
) -> Result<PackedCommit, GitError> {
    let cache = Cache::open(store, &spec.clone_url)?;
    let commit = match &spec.committish {
        Committish::Named(c) if is_full_commit(c) => c.to_ascii_lowercase(),
        committish => {
            let refs = ls_remote(&spec.clone_url)?;
            match pick_commit(&spec.clone_url, committish, &refs)? {
                Some(commit) => commit,
                // An abbreviated commit: only the repository can tell which one.
                None => {
                    let Committish::Named(short) = committish else {
                        unreachable!("only a named ref can be an abbreviated commit")
                    };
                    cache.fetch_all()?;
                    cache.rev_parse(short).ok_or_else(|| GitError::NoRef {
                        url: spec.clone_url.clone(),
                        reference: short.clone(),
                    })?
                }
            }
        }
    };
    pack_commit(store, &cache, &commit, preparer)
}

/// Checks out `commit` of the repository at `clone_url` (cloning or fetching into the cache
/// as needed), packs and stores it: the path of a locked git package missing from the store.
pub fn pack_locked(
    store: &Store,
    clone_url: &str,
    commit: &str,
    preparer: &dyn Preparer,
) -> Result<PackedCommit, GitError> {
    let cache = Cache::open(store, clone_url)?;
    pack_commit(store, &cache, commit, preparer)
}

fn pack_commit(
    store: &Store,
    cache: &Cache,
    commit: &str,
    preparer: &dyn Preparer,
) -> Result<PackedCommit, GitError> {
    let checkout = cache.checkout(commit)?;
    let dir = checkout.path();
    let url = &cache.url;
    let manifest_error = |message: String| GitError::Manifest {
        url: url.clone(),
        commit: commit.to_owned(),
        message,
    };
    let read_manifest = || -> Result<serde_json::Value, GitError> {
        let text = std::fs::read_to_string(dir.join("package.json"))
            .map_err(|e| manifest_error(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| manifest_error(e.to_string()))
    };
    let mut manifest = read_manifest()?;
    let mut notes = Vec::new();
    let name = manifest
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or_default()
        .to_owned();
    let prepare = manifest
        .pointer("/scripts/prepare")
        .and_then(|s| s.as_str())
        .is_some_and(|s| !s.trim().is_empty());
    if prepare {
        let shown = if name.is_empty() { url.as_str() } else { &name };
        if preparer.trusts(&name) {
            preparer.prepare(dir).map_err(|message| GitError::Io {
                what: format!("cannot prepare {shown} ({url}#{commit})"),
                message,
            })?;
            manifest = read_manifest()?;
        } else {
            notes.push(format!(
                "{shown} (git dependency) has a prepare script that was not run: it is not in trustedDependencies; installing its files as they are in the repository (to build it, add it to trustedDependencies and run `dx update {shown}`)"
            ));
        }
    }
    let files = packlist::files(dir, &manifest).map_err(|e| GitError::Io {
        what: format!("cannot list the files of {url}#{commit}"),
        message: e.to_string(),
    })?;
    let tarball = packlist::pack(dir, &files).map_err(|e| GitError::Io {
        what: format!("cannot pack {url}#{commit}"),
        message: e.to_string(),
    })?;
    let integrity = packlist::sha512(&tarball);
    let label = if name.is_empty() { url.as_str() } else { &name };
    let imported = store
        .import_tarball(
            label,
            &tarball[..],
            &integrity,
            &dx_formats::dxp::BuildLimits::default(),
        )
        .map_err(|e| GitError::Io {
            what: format!("cannot store {url}#{commit}"),
            message: e.to_string(),
        })?;
    Ok(PackedCommit {
        commit: commit.to_owned(),
        manifest,
        integrity,
        hash: imported.hash,
        notes,
    })
}

/// `git ls-remote <url>`: (commit, ref name) pairs, `HEAD` included.
fn ls_remote(url: &str) -> Result<Vec<(String, String)>, GitError> {
    let out = git(None, &["ls-remote", "--", url], "list the refs of", url)?;
    Ok(out
        .lines()
        .filter_map(|line| {
            let (commit, name) = line.split_once('\t')?;
            Some((commit.trim().to_owned(), name.trim().to_owned()))
        })
        .collect())
}

/// The commit `committish` names among `refs` (a peeled tag's commit, not the tag object);
/// `Ok(None)` when it could be an abbreviated commit that only the repository can expand.
fn pick_commit(
    url: &str,
    committish: &Committish,
    refs: &[(String, String)],
) -> Result<Option<String>, GitError> {
    let find = |name: &str| refs.iter().find(|(_, r)| r == name).map(|(c, _)| c.clone());
    match committish {
        Committish::Default => find("HEAD").map(Some).ok_or_else(|| GitError::NoRef {
            url: url.to_owned(),
            reference: "HEAD".into(),
        }),
        Committish::Named(name) => {
            let found = find(&format!("refs/tags/{name}^{{}}"))
                .or_else(|| find(&format!("refs/tags/{name}")))
                .or_else(|| find(&format!("refs/heads/{name}")))
                .or_else(|| find(name));
            match found {
                Some(commit) => Ok(Some(commit)),
                None if name.len() >= 4 && name.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(None),
                None => Err(GitError::NoRef {
                    url: url.to_owned(),
                    reference: name.clone(),
                }),
            }
        }
        Committish::Semver(range) => {
            highest_tag(refs, range)
                .map(Some)
                .ok_or_else(|| GitError::NoMatchingTag {
                    url: url.to_owned(),
                    range: range.to_string(),
                })
        }
    }
}

/// The commit of the highest tag (`v1.2.3` or `1.2.3`) whose version `range` allows.
fn highest_tag(refs: &[(String, String)], range: &Range) -> Option<String> {
    let mut best: Option<(Version, String)> = None;
    for (commit, name) in refs {
        let Some(tag) = name.strip_prefix("refs/tags/") else {
            continue;
        };
        let (tag, peeled) = match tag.strip_suffix("^{}") {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let Ok(version) = Version::parse(tag.trim_start_matches(['v', '='])) else {
            continue;
        };
        if !range.satisfies(&version) {
            continue;
        }
        let better = match &best {
            None => true,
            // The peeled entry (the commit an annotated tag points at) wins over the tag object.
            Some((v, _)) => version > *v || (version == *v && peeled),
        };
        if better {
            best = Some((version, commit.clone()));
        }
    }
    best.map(|(_, c)| c)
}

/// A bare clone in the store, locked for as long as this value lives.
struct Cache {
    url: String,
    dir: PathBuf,
    _lock: FileLock,
}

impl Cache {
    fn open(store: &Store, url: &str) -> Result<Cache, GitError> {
        let root = git_cache_root(store);
        let io = |what: String| {
            move |e: std::io::Error| GitError::Io {
                what,
                message: e.to_string(),
            }
        };
        std::fs::create_dir_all(&root).map_err(io(format!("cannot create {}", root.display())))?;
        let name = blake3::hash(url.as_bytes()).to_hex()[..32].to_string();
        let dir = root.join(&name);
        let lock_path = root.join(format!("{name}.lock"));
        let lock = FileLock::acquire(&lock_path, LockMode::Exclusive)
            .map_err(io(format!("cannot lock {}", lock_path.display())))?;
        if !dir.join("HEAD").is_file() {
            // A half-made clone from a killed run is started again.
            let _ = std::fs::remove_dir_all(&dir);
            let path = dir.to_string_lossy().into_owned();
            git(
                None,
                &["init", "--bare", "--quiet", &path],
                "create a cache for",
                url,
            )?;
        }
        Ok(Cache {
            url: url.to_owned(),
            dir,
            _lock: lock,
        })
    }

    fn git_dir_arg(&self) -> String {
        format!("--git-dir={}", self.dir.display())
    }

    fn has_commit(&self, commit: &str) -> bool {
        let object = format!("{commit}^{{commit}}");
        git(
            None,
            &[&self.git_dir_arg(), "cat-file", "-e", &object],
            "",
            "",
        )
        .is_ok()
    }

    fn rev_parse(&self, short: &str) -> Option<String> {
        let object = format!("{short}^{{commit}}");
        git(
            None,
            &[
                &self.git_dir_arg(),
                "rev-parse",
                "--verify",
                "--quiet",
                &object,
            ],
            "",
            "",
        )
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| is_full_commit(s))
    }

    /// Fetches every branch and tag into the cache.
    fn fetch_all(&self) -> Result<(), GitError> {
        git(
            None,
            &[
                &self.git_dir_arg(),
                "fetch",
                "--quiet",
                "--force",
                "--",
                &self.url,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
            "fetch",
            &self.url,
        )
        .map(drop)
    }

    /// Makes sure `commit` is in the cache: fetch the branches and tags, then the commit itself
    /// (which servers allow for reachable commits).
    fn ensure(&self, commit: &str) -> Result<(), GitError> {
        if self.has_commit(commit) {
            return Ok(());
        }
        self.fetch_all()?;
        if self.has_commit(commit) {
            return Ok(());
        }
        let fetched = git(
            None,
            &[
                &self.git_dir_arg(),
                "fetch",
                "--quiet",
                "--",
                &self.url,
                commit,
            ],
            "fetch",
            &self.url,
        );
        if self.has_commit(commit) {
            return Ok(());
        }
        match fetched {
            Err(e @ GitError::NoGit(_)) => Err(e),
            _ => Err(GitError::NoRef {
                url: self.url.clone(),
                reference: commit.to_owned(),
            }),
        }
    }

    /// `commit` checked out into a temporary directory (a `--shared` clone of the cache).
    fn checkout(&self, commit: &str) -> Result<Checkout, GitError> {
        self.ensure(commit)?;
        let temp = tempfile::Builder::new()
            .prefix("dx-git-")
            .tempdir()
            .map_err(|e| GitError::Io {
                what: "cannot create a temporary directory".into(),
                message: e.to_string(),
            })?;
        let dir = temp.path().join("package");
        let source = self.dir.to_string_lossy().into_owned();
        let target = dir.to_string_lossy().into_owned();
        let clone = [
            "clone",
            "--quiet",
            "--shared",
            "--no-checkout",
            "--",
            &source,
            &target,
        ];
        git(None, &clone, "check out", &self.url)?;
        let checkout = ["checkout", "--quiet", "--detach", commit];
        git(Some(&dir), &checkout, "check out", &self.url)?;
        Ok(Checkout { _temp: temp, dir })
    }
}

/// A checkout in a temporary directory, removed on drop.
struct Checkout {
    _temp: tempfile::TempDir,
    dir: PathBuf,
}

impl Checkout {
    fn path(&self) -> &Path {
        &self.dir
    }
}

/// Where the bare clones live: `<store>/v1/git/`.
pub fn git_cache_root(store: &Store) -> PathBuf {
    store.root().join("v1").join("git")
}

/// Runs `git args…` (in `dir`), never prompting for credentials; stdout on success, else
/// the last line git wrote on stderr.
fn git(
    dir: Option<&Path>,
    args: &[&str],
    action: &'static str,
    url: &str,
) -> Result<String, GitError> {
    let mut cmd = Command::new("git");
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().map_err(GitError::NoGit)?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(GitError::Command {
        action,
        url: url.to_owned(),
        message: error_line(&String::from_utf8_lossy(&out.stderr)),
    })
}

/// The line of git's stderr that says what went wrong: its first `fatal:` / `error:` line
/// (without the prefix), or for "Could not read from remote repository" the line before it
/// (ssh's own reason), else the last line; git's advice paragraphs after it add nothing.
fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let first_error = lines
        .iter()
        .position(|l| l.starts_with("fatal:") || l.starts_with("error:"));
    let line = match first_error {
        Some(i) if lines[i].contains("Could not read from remote repository") && i > 0 => {
            lines[i - 1]
        }
        Some(i) => lines[i],
        None => lines
            .last()
            .copied()
            .unwrap_or("git failed without a message"),
    };
    line.trim_start_matches("fatal:")
        .trim_start_matches("error:")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs() -> Vec<(String, String)> {
        [
            ("c0", "HEAD"),
            ("c0", "refs/heads/main"),
            ("t1", "refs/tags/v1.0.0"),
            ("c1", "refs/tags/v1.0.0^{}"),
            ("c2", "refs/tags/v1.2.0"),
            ("c3", "refs/tags/2.0.0"),
            ("cx", "refs/tags/not-a-version"),
        ]
        .iter()
        .map(|(c, r)| ((*c).to_owned(), (*r).to_owned()))
        .collect()
    }

    fn pick(committish: Committish) -> Result<Option<String>, GitError> {
        pick_commit("file:///r", &committish, &refs())
    }

    #[test]
    fn the_telling_line_of_gits_stderr_is_shown() {
        let missing = "fatal: '/r.git' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n";
        assert_eq!(
            error_line(missing),
            "'/r.git' does not appear to be a git repository"
        );
        let ssh = "git@host: Permission denied (publickey).\r\nfatal: Could not read from remote repository.\n\nPlease make sure\n";
        assert_eq!(error_line(ssh), "git@host: Permission denied (publickey).");
        assert_eq!(error_line("warning: x\nlast words\n"), "last words");
        assert_eq!(error_line(""), "git failed without a message");
    }

    #[test]
    fn refs_resolve_to_commits() {
        assert_eq!(pick(Committish::Default).unwrap().as_deref(), Some("c0"));
        assert_eq!(
            pick(Committish::Named("main".into())).unwrap().as_deref(),
            Some("c0")
        );
        // An annotated tag resolves to the commit it points at.
        assert_eq!(
            pick(Committish::Named("v1.0.0".into())).unwrap().as_deref(),
            Some("c1")
        );
        let range = |r: &str| Committish::Semver(Range::parse(r).unwrap());
        assert_eq!(pick(range("^1")).unwrap().as_deref(), Some("c2"));
        assert_eq!(pick(range("1.0.x")).unwrap().as_deref(), Some("c1"));
        assert_eq!(pick(range("*")).unwrap().as_deref(), Some("c3"));
        assert_eq!(
            pick(range("^3")).unwrap_err().to_string(),
            "file:///r has no tag matching semver:>=3.0.0 <4.0.0-0"
        );
        assert_eq!(
            pick(Committish::Named("nope".into()))
                .unwrap_err()
                .to_string(),
            "file:///r has no branch, tag or commit named \"nope\""
        );
        // Could be an abbreviated commit: the repository decides.
        assert_eq!(pick(Committish::Named("abc123".into())).unwrap(), None);
    }
}
