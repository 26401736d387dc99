//! npm's URL scheme for tarballs on a registry: `<registry>/<name>/-/<basename>-<version>.tgz`,
//! where `basename` is the name without its scope (`@s/a@1.0.0` is `<registry>/@s/a/-/a-1.0.0.tgz`).
//!
//! The one place the scheme is spelled out: the registry server, its caching proxy, the
//! importers of other tools' lockfiles and the resolver's test registry all build URLs here.

/// The separator between a package's name and its tarball's file name in a registry path.
const TARBALL_SEPARATOR: &str = "/-/";

/// The file name npm gives `name@version`'s tarball: `<basename>-<version>.tgz`.
pub fn tarball_file_name(name: &str, version: &str) -> String {
    let basename = name.rsplit('/').next().unwrap_or(name);
    format!("{basename}-{version}.tgz")
}

/// `name@version`'s tarball URL on `registry` (a trailing `/` on the registry is ignored).
pub fn tarball_url(registry: &str, name: &str, version: &str) -> String {
    tarball_url_for_file(registry, name, &tarball_file_name(name, version))
}

/// The URL of the tarball file `file` of package `name` on `registry`: what a proxy serves for
/// an upstream tarball whose file name it keeps.
pub fn tarball_url_for_file(registry: &str, name: &str, file: &str) -> String {
    let registry = registry.trim_end_matches('/');
    format!("{registry}/{name}{TARBALL_SEPARATOR}{file}")
}

/// Splits a registry path without its leading `/` (`@s/a/-/a-1.0.0.tgz`) into the package
/// name and the tarball's file name; `None` for a path that is not a tarball's.
pub fn split_tarball_path(path: &str) -> Option<(&str, &str)> {
    path.split_once(TARBALL_SEPARATOR)
}

/// The registry part of a tarball URL: what comes before `/<name>/-/` (the name's scope
/// included); the whole URL when it does not follow the scheme.
pub fn registry_of_tarball_url(url: &str) -> &str {
    let Some((package_url, _)) = url.split_once(TARBALL_SEPARATOR) else {
        return url;
    };
    let Some((before_basename, _)) = package_url.rsplit_once('/') else {
        return url;
    };
    match before_basename.rsplit_once('/') {
        Some((registry, scope)) if scope.starts_with('@') => registry,
        _ => before_basename,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_splits_npms_tarball_urls() {
        assert_eq!(
            tarball_url("http://127.0.0.1:4873/", "@s/a", "1.0.0-beta.1"),
            "http://127.0.0.1:4873/@s/a/-/a-1.0.0-beta.1.tgz"
        );
        let url = tarball_url("http://r", "left-pad", "1.3.0");
        assert_eq!(url, "http://r/left-pad/-/left-pad-1.3.0.tgz");
        assert_eq!(registry_of_tarball_url(&url), "http://r");
        assert_eq!(
            split_tarball_path("@s/a/-/a-1.0.0.tgz"),
            Some(("@s/a", "a-1.0.0.tgz"))
        );
        assert_eq!(split_tarball_path("@s/a"), None);
        assert_eq!(
            registry_of_tarball_url("http://r/npm/@s/a/-/a-1.0.0.tgz"),
            "http://r/npm"
        );
        assert_eq!(registry_of_tarball_url("http://r/x.tgz"), "http://r/x.tgz");
    }
}
