//! The project dx works on: its directory, package.json and dx.lock.

use std::path::{Path, PathBuf};

use crate::error::{Context as _, Error, Result};
use dx_formats::lockfile::Lockfile;
use dx_resolve::PackageJson;

/// The name of dx's committed lockfile.
pub const LOCKFILE_NAME: &str = "dx.lock";

/// A project directory with a package.json.
pub struct Project {
    /// The directory holding package.json.
    pub dir: PathBuf,
    /// The parsed package.json.
    pub manifest: PackageJson,
    /// package.json as read, for fingerprints.
    pub manifest_text: String,
}

impl Project {
    /// Opens the project in the current directory (after `--cwd`).
    pub fn open_current() -> Result<Self> {
        Self::open(&std::env::current_dir().context("cannot read the current directory")?)
    }

    /// Opens the project in `dir` (the current directory, after `--cwd`).
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("package.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoManifest {
                    dir: dir.to_path_buf(),
                });
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let manifest = PackageJson::parse(&text)
            .with_context(|| format!("{} is not valid", path.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            manifest_text: text,
        })
    }

    /// The same project with package.json replaced (in memory only) by `text`.
    pub fn with_manifest_text(&self, text: String) -> Result<Self> {
        let manifest = PackageJson::parse(&text).context("the edited package.json is not valid")?;
        Ok(Self {
            dir: self.dir.clone(),
            manifest,
            manifest_text: text,
        })
    }

    /// Where dx.lock lives.
    pub fn lockfile_path(&self) -> PathBuf {
        self.dir.join(LOCKFILE_NAME)
    }

    /// A digest of everything a finished install depends on: package.json, dx.lock and the
    /// install options. Equal fingerprints on a live mount mean there is nothing to do.
    pub fn fingerprint(&self, options: &str) -> String {
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.manifest_text.as_bytes());
        hasher.update(b"\0");
        // Streamed through a small buffer: no allocation the size of dx.lock on the no-op path.
        if let Ok(file) = std::fs::File::open(self.lockfile_path()) {
            let _ = hasher.update_reader(file);
        }
        hasher.update(b"\0");
        hasher.update(options.as_bytes());
        hasher.finalize().to_hex().to_string()
    }

    /// dx.lock's text and parsed form, if the project has one (a version 1 lock with its root
    /// targets inferred, see [`dx_resolve::lockfile::parse`]).
    pub fn read_lockfile(&self) -> Result<Option<(String, Lockfile)>> {
        let path = self.lockfile_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let lock = dx_resolve::lockfile::parse(&text)
            .with_context(|| format!("{} is broken (delete it to re-resolve)", path.display()))?;
        Ok(Some((text, lock)))
    }

    /// dx.lock's text and parsed form; a project without one is [`Error::NoLockfile`] (the
    /// one place that says "run `dx install` first").
    pub fn require_lockfile(&self) -> Result<(String, Lockfile)> {
        self.read_lockfile()?.ok_or_else(|| Error::NoLockfile {
            dir: self.dir.clone(),
        })
    }
}
