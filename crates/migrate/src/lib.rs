//! dx-migrate: reads another package manager's lockfile into a [`Lockfile`] (dx's one model of
//! a resolved graph), which dx's resolver then takes as the previous lock, so `dx migrate` keeps every version the old
//! lockfile chose wherever package.json still allows it.
//!
//! Supported: npm's `package-lock.json` / `npm-shrinkwrap.json` (lockfileVersion 1, 2 and 3),
//! Bun's text `bun.lock`, Yarn's `yarn.lock` (classic v1 and 2+) and pnpm's `pnpm-lock.yaml` (v6, v9). Each is untrusted input: every
//! parser returns an error naming the file instead of panicking, whatever the bytes.
#![deny(missing_docs)]

mod bun_lock;
mod jsonc;
mod package_lock;
mod placed;
mod pnpm_lock;
mod yarn_berry;
mod yarn_lock;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dx_formats::lockfile::Lockfile;

/// The lockfile formats dx can import, in the order `dx migrate` looks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// npm's `npm-shrinkwrap.json` (same format as package-lock.json).
    NpmShrinkwrap,
    /// npm's `package-lock.json`.
    PackageLock,
    /// Bun's text lockfile `bun.lock`.
    BunLock,
    /// Yarn classic's `yarn.lock`.
    YarnLock,
    /// pnpm's `pnpm-lock.yaml` (lockfile versions 6 and 9).
    PnpmLock,
}

impl Format {
    /// Every format, in detection order.
    pub const ALL: [Format; 5] = [
        Format::NpmShrinkwrap,
        Format::PackageLock,
        Format::BunLock,
        Format::YarnLock,
        Format::PnpmLock,
    ];

    /// The file name this format uses.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::NpmShrinkwrap => "npm-shrinkwrap.json",
            Format::PackageLock => "package-lock.json",
            Format::BunLock => "bun.lock",
            Format::YarnLock => "yarn.lock",
            Format::PnpmLock => "pnpm-lock.yaml",
        }
    }

    /// The format a file name stands for.
    pub fn from_file_name(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?;
        Format::ALL.into_iter().find(|f| f.file_name() == name)
    }
}

/// Lockfiles of other tools that dx knows and cannot import, with what to do instead.
pub const UNSUPPORTED: [(&str, &str); 1] = [(
    "bun.lockb",
    "bun.lockb is binary; run `bun install --save-text-lockfile` to write bun.lock, then `dx migrate`",
)];

/// Why a lockfile could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Not valid JSON (package-lock.json, bun.lock).
    #[error("{file} is not valid JSON: {message}")]
    Json {
        /// The file.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// Valid syntax, but not what the format requires.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, and where.
        message: String,
    },
    /// A version of the format dx does not read.
    #[error("{file}: {message}")]
    Unsupported {
        /// The file.
        file: String,
        /// Which version or feature.
        message: String,
    },
}

/// How to import.
pub struct ImportOptions<'a> {
    /// The project's package.json: the root's dependencies are taken from it (yarn.lock does
    /// not record them; the others must agree with it anyway).
    pub root_manifest: &'a serde_json::Value,
    /// The tarball URL of `name@version` on the configured registry, for lockfiles that leave
    /// it out (bun.lock records only a registry when it is not the default).
    pub tarball_url: &'a dyn Fn(&str, &str) -> String,
    /// The workspace members' package.json files, by directory: Yarn classic's yarn.lock does
    /// not record members, so their edges are found from their own specifiers.
    pub members: &'a [(String, serde_json::Value)],
}

/// A lockfile read into dx's model.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The format read.
    pub format: Format,
    /// The graph it records (no overrides: the resolver applies package.json's).
    pub resolution: Lockfile,
    /// Every `name@version` the lockfile installs, to check that dx kept them.
    pub versions: BTreeSet<String>,
    /// Whether packages carry their `bin`, `os`, `cpu` and install-script facts; when `false`
    /// (yarn.lock, bun.lock for install scripts), the caller fills them from the packuments.
    pub complete_metadata: bool,
}

/// The lockfile `dx migrate` would import in `project_dir`, if any.
pub fn detect(project_dir: &Path) -> Option<(PathBuf, Format)> {
    Format::ALL
        .into_iter()
        .map(|f| (project_dir.join(f.file_name()), f))
        .find(|(p, _)| p.is_file())
}

/// Parses `text`, the contents of `file` in `format`.
pub fn import(
    file: &str,
    format: Format,
    text: &str,
    options: &ImportOptions<'_>,
) -> Result<Imported, MigrateError> {
    match format {
        Format::NpmShrinkwrap | Format::PackageLock => {
            package_lock::import(file, text, format, options)
        }
        Format::BunLock => bun_lock::import(file, text, options),
        // Yarn 2+ writes YAML with a `__metadata` entry under the same file name.
        Format::YarnLock if text.lines().any(|l| l.starts_with("__metadata:")) => {
            yarn_berry::import(file, text, options)
        }
        Format::YarnLock => yarn_lock::import(file, text, options),
        Format::PnpmLock => pnpm_lock::import(file, text, options),
    }
}
