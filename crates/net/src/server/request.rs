//! What a request asks the registry server for, parsed from its method and path before any file
//! or upstream is touched: the one place where untrusted request text becomes names and file
//! names, so the fuzz target (`fuzz/fuzz_targets/registry_request.rs`) can hold it to its
//! promise that nothing it returns leaves the served directory.

use std::io::Read as _;

use serde_json::{Map, Value};

/// Audit requests larger than this (decompressed) are refused: a bulk audit of a huge tree is a
/// few MB at most.
pub const MAX_AUDIT_REQUEST_BYTES: usize = 64 << 20;

/// One request's meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /-/npm/v1/security/advisories/bulk`.
    AdvisoriesBulk,
    /// `GET /-/v1/search?…`.
    Search,
    /// `GET /-/ping`.
    Ping,
    /// `GET /<name>/-/<file>`: a tarball.
    Tarball {
        /// The package name (`@scope/name` or `name`).
        name: String,
        /// The tarball's file name (one path component).
        file: String,
    },
    /// `GET /<name>`: a packument.
    Packument {
        /// The package name.
        name: String,
    },
    /// `GET /<name>/<version-or-tag>`: one version's manifest.
    Version {
        /// The package name.
        name: String,
        /// The version or dist-tag asked for.
        version: String,
    },
    /// A method the path does not take.
    MethodNotAllowed,
    /// Nothing the server serves (including every name that is not a package name).
    NotFound,
}

impl Route {
    /// Parses a request's method (`GET`, `POST`, …) and raw (still percent-encoded) path.
    pub fn parse(method: &str, raw_path: &str) -> Self {
        let path = percent_decode(raw_path);
        match path.as_str() {
            "/-/npm/v1/security/advisories/bulk" => {
                return if method == "POST" {
                    Self::AdvisoriesBulk
                } else {
                    Self::MethodNotAllowed
                };
            }
            "/-/v1/search" => return Self::Search,
            "/-/ping" => return Self::Ping,
            _ => {}
        }
        if method != "GET" && method != "HEAD" {
            return Self::MethodNotAllowed;
        }
        let trimmed = path.trim_start_matches('/');
        if let Some((name, file)) = dx_formats::registry_url::split_tarball_path(trimmed) {
            return if is_served_name(name) && is_file_name(file) {
                Self::Tarball {
                    name: name.to_owned(),
                    file: file.to_owned(),
                }
            } else {
                Self::NotFound
            };
        }
        let (name, rest) = split_name(trimmed);
        if !is_served_name(name) {
            return Self::NotFound;
        }
        match rest {
            Some(version) if is_file_name(version) => Self::Version {
                name: name.to_owned(),
                version: version.to_owned(),
            },
            Some(_) => Self::NotFound,
            None => Self::Packument {
                name: name.to_owned(),
            },
        }
    }
}

/// The body of `POST /-/npm/v1/security/advisories/bulk` (gzipped when `gzipped`, as npm sends
/// it): a JSON object of package names to versions. The error is the 400 answer's message.
pub fn parse_audit_body(gzipped: bool, raw: &[u8]) -> Result<Map<String, Value>, &'static str> {
    let mut inflated = Vec::new();
    let body = if gzipped {
        let mut decoder =
            flate2::read::GzDecoder::new(raw).take(MAX_AUDIT_REQUEST_BYTES as u64 + 1);
        if decoder.read_to_end(&mut inflated).is_err() {
            return Err("invalid gzip body");
        }
        if inflated.len() > MAX_AUDIT_REQUEST_BYTES {
            return Err("request body too large");
        }
        &inflated[..]
    } else {
        raw
    };
    serde_json::from_slice(body).map_err(|_| "expected a JSON object of package names to versions")
}

/// The `text` (lowercased) and `size` (1–250, default 20) of a search query string.
pub fn parse_search_query(query: Option<&str>) -> (String, usize) {
    let mut text = String::new();
    let mut size = 20usize;
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // A query string may encode spaces as `+`.
        let value = percent_decode(&value.replace('+', " "));
        match key {
            "text" => text = value.to_lowercase(),
            "size" => size = value.parse().unwrap_or(20).clamp(1, 250),
            _ => {}
        }
    }
    (text, size)
}

/// Whether `name` can name a package this server serves: `name` or `@scope/name`, each part a
/// single path component that is not `.` or `..`, without control characters or backslashes.
/// Looser than npm's publishing rules (a served directory may hold `JSONStream`), strict enough
/// that joining it to the served directory stays inside it.
pub fn is_served_name(name: &str) -> bool {
    match name.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, base)) => is_file_name(scope) && is_file_name(base),
            None => false,
        },
        None => is_file_name(name),
    }
}

/// One path component: not empty, not `.` or `..`, no `/`, `\` or control characters.
fn is_file_name(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && !part
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Splits `@scope/name/rest` or `name/rest` into the package name and what follows.
fn split_name(path: &str) -> (&str, Option<&str>) {
    let name_end = if path.starts_with('@') {
        match path.match_indices('/').nth(1) {
            Some((i, _)) => i,
            None => path.len(),
        }
    } else {
        path.find('/').unwrap_or(path.len())
    };
    let (name, rest) = path.split_at(name_end);
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    (name, (!rest.is_empty()).then_some(rest))
}

/// Decodes `%XX` escapes (npm sends `@scope%2fname`); malformed escapes stay as they are.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex_pair = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(byte) = hex_pair {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Route {
        Route::parse("GET", path)
    }

    #[test]
    fn names_split_from_versions_and_scopes() {
        assert_eq!(split_name("left-pad"), ("left-pad", None));
        assert_eq!(split_name("left-pad/1.0.0"), ("left-pad", Some("1.0.0")));
        assert_eq!(split_name("@s/pkg"), ("@s/pkg", None));
        assert_eq!(split_name("@s/pkg/latest"), ("@s/pkg", Some("latest")));
    }

    #[test]
    fn percent_decoding_handles_scopes_and_garbage() {
        assert_eq!(percent_decode("/@s%2fpkg"), "/@s/pkg");
        assert_eq!(percent_decode("/@s%2Fpkg"), "/@s/pkg");
        assert_eq!(percent_decode("/a%zz%"), "/a%zz%");
        assert_eq!(percent_decode("/a%2"), "/a%2");
    }

    #[test]
    fn routes_what_npm_asks_for() {
        assert_eq!(
            get("/@s%2fpkg"),
            Route::Packument {
                name: "@s/pkg".into()
            }
        );
        assert_eq!(
            get("/pkg/-/pkg-1.0.0.tgz"),
            Route::Tarball {
                name: "pkg".into(),
                file: "pkg-1.0.0.tgz".into()
            }
        );
        assert_eq!(
            get("/pkg/latest"),
            Route::Version {
                name: "pkg".into(),
                version: "latest".into()
            }
        );
        assert_eq!(get("/-/ping"), Route::Ping);
        assert_eq!(
            Route::parse("GET", "/-/npm/v1/security/advisories/bulk"),
            Route::MethodNotAllowed
        );
        assert_eq!(Route::parse("PUT", "/pkg"), Route::MethodNotAllowed);
    }

    #[test]
    fn search_queries_and_audit_bodies_parse() {
        assert_eq!(
            parse_search_query(Some("text=Left+Pad&size=999")),
            ("left pad".into(), 250)
        );
        assert_eq!(parse_search_query(None), (String::new(), 20));
        assert!(parse_audit_body(false, br#"{"a":["1.0.0"]}"#).is_ok());
        assert_eq!(
            parse_audit_body(true, b"not gzip"),
            Err("invalid gzip body")
        );
        assert!(parse_audit_body(false, b"[1]").is_err());
    }

    #[test]
    fn names_that_would_leave_the_directory_are_not_found() {
        for path in [
            "/",
            "/..",
            "/%2e%2e/-/x.tgz",
            "/a/-/..",
            "/a/-/b/c.tgz",
            "/@s/../-/x.tgz",
            "/@s%2f..%2f..%2fetc/-/passwd",
            "/..%5c..%5cetc/-/passwd",
            "/@s",
            "/@/x",
            "/a/../b",
            "/a%00/-/a.tgz",
        ] {
            assert_eq!(get(path), Route::NotFound, "{path}");
        }
    }

    proptest::proptest! {
        /// The fuzz target's promise in CI: any method and path parse, and every name or file
        /// a route yields stays inside the served directory.
        #[test]
        fn any_request_stays_inside(method in "GET|HEAD|POST|PUT", path in "\\PC{0,80}") {
            let inside = |rel: &str| std::path::Path::new(rel)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            match Route::parse(&method, &path) {
                Route::Tarball { name, file } => {
                    proptest::prop_assert!(inside(&name) && inside(&file) && !file.contains('/'));
                }
                Route::Packument { name } | Route::Version { name, .. } => {
                    proptest::prop_assert!(inside(&name));
                }
                _ => {}
            }
            let (_, size) = parse_search_query(Some(&path));
            proptest::prop_assert!((1..=250).contains(&size));
        }

        #[test]
        fn escaped_traversals_stay_inside(parts in proptest::collection::vec("\\.\\.|%2[eEfF]|%5[cC]|/|-|@|[a-z]{1,3}", 0..12)) {
            let path = format!("/{}", parts.concat());
            if let Route::Tarball { name, file } = Route::parse("GET", &path) {
                proptest::prop_assert!(!name.split('/').any(|p| p == ".." || p == "."), "{path}");
                proptest::prop_assert!(file != ".." && !file.contains('/'), "{path}");
            }
        }
    }
}
