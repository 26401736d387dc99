//! The engine's one error type. Every error names what failed (the file, the package, the
//! step); [`Error::help`] gives the hint a user needs, rendered once by the CLI.

use std::path::PathBuf;

/// A result of the install engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an install (or another engine operation) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory has no package.json.
    #[error("no package.json in {}", dir.display())]
    NoManifest {
        /// The project directory.
        dir: PathBuf,
    },
    /// A command that reads dx.lock found none.
    #[error("no dx.lock in {}", dir.display())]
    NoLockfile {
        /// The project directory.
        dir: PathBuf,
    },
    /// `--frozen-lockfile` without a dx.lock.
    #[error("--frozen-lockfile: {} does not exist", path.display())]
    FrozenLockfileMissing {
        /// Where dx.lock should be.
        path: PathBuf,
    },
    /// `--frozen-lockfile` with a dx.lock that does not match package.json (or is incomplete).
    #[error("--frozen-lockfile: dx.lock does not match package.json: {difference}")]
    FrozenLockfileStale {
        /// The first difference, one line.
        difference: String,
    },
    /// `--frozen-lockfile` with a dx.lock that names a package it has no block for (a bad
    /// merge, a truncated file).
    #[error("--frozen-lockfile: dx.lock is incomplete: {missing}")]
    FrozenLockfileIncomplete {
        /// The first dangling edge: dependent, edge and the missing target.
        missing: String,
    },
    /// dx.lock holds git's merge-conflict markers where it cannot be repaired: with
    /// `--frozen-lockfile`, or for a command that only reads it.
    #[error("{path}:{line}: dx.lock has unresolved merge conflicts")]
    LockfileConflicted {
        /// dx.lock.
        path: PathBuf,
        /// The first `<<<<<<<` line.
        line: usize,
    },
    /// `--offline` and a package the store does not hold.
    #[error("--offline: {package} is not in the store")]
    Offline {
        /// The first missing package (`name@version`).
        package: String,
    },
    /// A lifecycle script exited non-zero.
    #[error("{script} script of {package} failed (exit code {code})")]
    Script {
        /// `name@version`, or the project's name.
        package: String,
        /// `postinstall`, `prepare`…
        script: String,
        /// Its exit code.
        code: u8,
    },
    /// A step failed because of an underlying error.
    #[error("{context}")]
    Context {
        /// What was being done, naming the file or package.
        context: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A registry or download failure (it names the package and the registry).
    #[error(transparent)]
    Net(#[from] dx_net::NetError),
    /// A failure of the store (it names the file).
    #[error(transparent)]
    Store(#[from] dx_store::StoreError),
    /// A failure of the mount (it names the mount point or file).
    #[error(transparent)]
    Vfs(#[from] dx_vfs::VfsError),
    /// A workspace config (root package.json `workspaces`, pnpm-workspace.yaml) that cannot
    /// be read.
    #[error("{}: {reason}", file.display())]
    WorkspaceConfig {
        /// The file.
        file: PathBuf,
        /// Why, one line.
        reason: String,
    },
    /// A workspace pattern that is not a valid glob.
    #[error("{}: invalid workspace pattern `{pattern}`: {reason}", config.display())]
    WorkspacePatternInvalid {
        /// The file the pattern comes from.
        config: PathBuf,
        /// The pattern as written.
        pattern: String,
        /// Why, one line.
        reason: String,
    },
    /// A workspace pattern that matches no directory with a package.json.
    #[error("{}: workspace pattern `{pattern}` matches no directory with a package.json", config.display())]
    WorkspacePatternEmpty {
        /// The file the pattern comes from.
        config: PathBuf,
        /// The pattern as written.
        pattern: String,
    },
    /// A workspace pattern that reaches outside the workspace root (`../x`, `/x`).
    #[error("{}: workspace pattern `{pattern}` points outside the workspace root", config.display())]
    WorkspaceOutsideRoot {
        /// The file the pattern comes from.
        config: PathBuf,
        /// The pattern as written.
        pattern: String,
    },
    /// A member directory (a symlink) that resolves outside the workspace root.
    #[error("workspace member {} resolves outside the workspace root {}", dir.display(), root.display())]
    WorkspaceMemberOutsideRoot {
        /// The member directory.
        dir: PathBuf,
        /// The workspace root.
        root: PathBuf,
    },
    /// Two workspace members with one name.
    #[error("two workspace members are named `{name}`: {first} and {second}")]
    WorkspaceDuplicateName {
        /// The name.
        name: String,
        /// The first member's path (root-relative).
        first: String,
        /// The second member's path.
        second: String,
    },
    /// A member package.json that cannot be parsed or has no `name`.
    #[error("{}: {reason}", manifest.display())]
    WorkspaceMemberManifest {
        /// The member's package.json.
        manifest: PathBuf,
        /// Why, one line.
        reason: String,
    },
    /// A `catalog:` specifier naming a catalog the workspace does not define.
    #[error("{}`{dependency}@{spec}`: the workspace has no catalog `{catalog}`", manifest.as_ref().map(|m| format!("{}: ", m.display())).unwrap_or_default())]
    CatalogMissing {
        /// The package.json with the specifier, when known.
        manifest: Option<PathBuf>,
        /// The dependency.
        dependency: String,
        /// Its specifier (`catalog:react18`).
        spec: String,
        /// The catalog's name (`default` for `catalog:`).
        catalog: String,
    },
    /// A `catalog:` specifier whose catalog has no entry for the dependency.
    #[error("{}`{dependency}@{spec}`: catalog `{catalog}` has no entry for `{dependency}`", manifest.as_ref().map(|m| format!("{}: ", m.display())).unwrap_or_default())]
    CatalogEntryMissing {
        /// The package.json with the specifier, when known.
        manifest: Option<PathBuf>,
        /// The dependency.
        dependency: String,
        /// Its specifier.
        spec: String,
        /// The catalog's name (`default` for `catalog:`).
        catalog: String,
    },
    /// A workspace selector (`--filter`, `-w`) that selects nothing, or is malformed.
    #[error("{0}")]
    WorkspaceSelector(String),
    /// A failure described in one line.
    #[error("{0}")]
    Message(String),
}

impl Error {
    /// A failure described by `message`.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        Self::Message(message.to_string())
    }

    /// The hint to print under the error, if there is one.
    pub fn help(&self) -> Option<String> {
        match self {
            Error::NoManifest { .. } => Some("run `dx init` to create one".into()),
            Error::NoLockfile { .. } => Some("run `dx install` first".into()),
            Error::LockfileConflicted { .. } => Some(
                "run `dx install` (without --frozen-lockfile or CI=true): it merges both sides and resolves again".into(),
            ),
            Error::FrozenLockfileIncomplete { .. } => Some(
                "run `dx install` without --frozen-lockfile (or CI=true) to repair dx.lock".into(),
            ),
            Error::FrozenLockfileMissing { .. } | Error::FrozenLockfileStale { .. } => Some(
                "run `dx install` without --frozen-lockfile (or CI=true) to update dx.lock".into(),
            ),
            Error::Offline { .. } => {
                Some("run the install once without --offline to download it".into())
            }
            Error::WorkspacePatternEmpty { .. } => Some(
                "create the member directory (with a package.json) or remove the pattern".into(),
            ),
            Error::WorkspaceOutsideRoot { .. } | Error::WorkspaceMemberOutsideRoot { .. } => {
                Some("workspace members must be inside the workspace root".into())
            }
            Error::WorkspaceDuplicateName { .. } => {
                Some("rename one of them: member names must be unique".into())
            }
            Error::WorkspaceMemberManifest { .. } => {
                Some("every workspace member needs a package.json with a `name`".into())
            }
            Error::CatalogMissing { .. } | Error::CatalogEntryMissing { .. } => Some(
                "define it under `catalog`/`catalogs` in pnpm-workspace.yaml or the root package.json's `workspaces`".into(),
            ),
            Error::Context { source, .. } => source.downcast_ref::<Error>().and_then(Error::help),
            _ => None,
        }
    }

    /// The innermost engine error (skipping contexts), for matching on its kind.
    pub fn kind(&self) -> &Error {
        match self {
            Error::Context { source, .. } => {
                source.downcast_ref::<Error>().map_or(self, Error::kind)
            }
            _ => self,
        }
    }
}

/// `anyhow`-style context for any result whose error can be boxed.
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl std::fmt::Display) -> Result<T>;
    /// Wraps the error with the context `f` computes (only on failure).
    fn with_context<C: std::fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: context.to_string(),
            source: Box::new(e),
        })
    }

    fn with_context<C: std::fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: f().to_string(),
            source: Box::new(e),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl std::fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::msg(context))
    }

    fn with_context<C: std::fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| Error::msg(f()))
    }
}

/// Returns early with an [`Error::Message`].
#[macro_export]
#[doc(hidden)]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::msg(format!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_reaches_through_contexts() {
        let inner: Result<()> = Err(Error::NoLockfile { dir: "/p".into() });
        let outer = inner.context("cannot list").unwrap_err();
        assert_eq!(outer.help().as_deref(), Some("run `dx install` first"));
        assert!(matches!(outer.kind(), Error::NoLockfile { .. }));
        assert_eq!(outer.to_string(), "cannot list");
    }
}
