//! Whether a downloaded tarball holds the package the metadata promised: its package.json's
//! `name` and `version` against the name and version dx.lock locks.
//!
//! npm installs whatever the tarball holds; pnpm refuses a mismatch (`strictStorePkgContentCheck`)
//! and its users meet false alarms from registries that serve one tarball under several names
//! or differ in case (`FileList` for `filelist`). dx installs as npm does and says so in one
//! warning, so a registry or a lockfile that lies about a package is seen, not silent.

use dx_store::Store;

/// The warning for a package whose archive `hash` says it is another package, or `None` when
/// it agrees (or has no readable package.json: other checks speak for that).
pub(crate) fn mismatch_warning(
    store: &Store,
    hash: &dx_formats::hash::ContentHash,
    name: &str,
    version: &str,
) -> Option<String> {
    let stored = store.get(hash).ok()??;
    let archive = stored.archive().ok()?;
    let (found_name, found_version) = identity(archive.manifest()?)?;
    let same_name = found_name.eq_ignore_ascii_case(name);
    let same_version = without_build(&found_version) == without_build(version);
    if same_name && same_version {
        return None;
    }
    Some(format!(
        "{name}@{version}: its tarball's package.json says {found_name}@{found_version}; installed as {name}@{version} (the registry or dx.lock may be wrong)"
    ))
}

/// `name` and `version` of a package.json; `None` unless both are strings.
fn identity(manifest: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Identity {
        name: String,
        version: String,
    }
    let parsed: Identity = serde_json::from_slice(manifest).ok()?;
    Some((parsed.name, parsed.version))
}

/// A version without a leading `v`/`=` and without build metadata, which semver ignores.
fn without_build(version: &str) -> &str {
    let version = version.trim().trim_start_matches(['v', '=']);
    version.split_once('+').map_or(version, |(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_without_build_metadata() {
        assert_eq!(without_build("v1.2.3+build.7"), "1.2.3");
        assert_eq!(without_build("1.2.3-rc.1"), "1.2.3-rc.1");
    }

    #[test]
    fn identity_needs_both_strings() {
        assert_eq!(
            identity(br#"{"name":"a","version":"1.0.0","x":[1]}"#),
            Some(("a".into(), "1.0.0".into()))
        );
        assert_eq!(identity(br#"{"name":"a"}"#), None);
        assert_eq!(identity(b"not json"), None);
    }
}
