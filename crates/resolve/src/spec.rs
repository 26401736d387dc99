//! Dependency specifiers (the right-hand side of `"name": "…"`), classified as
//! npm-package-arg does: a range, a dist-tag, an `npm:` alias, a tarball URL, a `file:` or
//! `link:` path, a git reference, or a `workspace:` reference.

mod git;

use std::fmt;

pub use git::{Committish, GitSpec, is_full_commit};

use crate::semver::{Range, Version};

/// Why a specifier is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Neither a range, nor a valid tag, nor any known protocol.
    #[error("invalid specifier {spec:?} for {name}")]
    Invalid {
        /// Dependency name.
        name: String,
        /// The specifier.
        spec: String,
    },
}

/// What a dependency asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DependencySpec {
    /// A semver range (an exact version is a range too); `""` and `*` are ranges.
    Range(Range),
    /// A dist-tag such as `latest` or `next`.
    Tag(String),
    /// `npm:real-name@spec`: installed under the dependency's name, fetched as `name`.
    Alias {
        /// The real package name.
        name: String,
        /// What is asked of the real package (a range or a tag).
        spec: Box<DependencySpec>,
    },
    /// An `http(s)://` tarball URL.
    Tarball(String),
    /// `file:path` (a directory or a tarball on disk), path relative to the project.
    File(String),
    /// `link:path`: a symlink to a directory, never copied.
    Link(String),
    /// A git reference (`git+https://…`, `github:user/repo`, `user/repo`, with an optional
    /// `#commit-ish`); [`GitSpec::parse`] reads it.
    Git(String),
    /// `workspace:…` (pnpm/yarn/bun workspaces protocol).
    Workspace(String),
}

impl DependencySpec {
    /// [`DependencySpec::parse`] shared: the same specifier text parses once per thread and
    /// every edge that writes it holds the same value (a large tree has tens of thousands of
    /// edges and a few thousand distinct specifiers). `None` when it does not parse. The
    /// dependency's name only names the error, so the text alone is the key.
    pub(crate) fn parse_shared(name: &str, spec: &str) -> Option<std::sync::Arc<Self>> {
        type Memo = rustc_hash::FxHashMap<Box<str>, Option<std::sync::Arc<DependencySpec>>>;
        thread_local! {
            static PARSED: std::cell::RefCell<Memo> = std::cell::RefCell::default();
        }
        PARSED.with_borrow_mut(|memo| {
            if let Some(parsed) = memo.get(spec) {
                return parsed.clone();
            }
            let parsed = DependencySpec::parse(name, spec)
                .ok()
                .map(std::sync::Arc::new);
            memo.insert(spec.into(), parsed.clone());
            parsed
        })
    }

    /// Classifies `spec` written for dependency `name`.
    pub fn parse(name: &str, spec: &str) -> Result<Self, SpecError> {
        let spec = spec.trim();
        let invalid = || SpecError::Invalid {
            name: name.to_string(),
            spec: spec.to_string(),
        };
        if let Some(rest) = spec.strip_prefix("npm:") {
            let (real, inner) = split_name_spec(rest);
            if real.is_empty() {
                return Err(invalid());
            }
            let inner = if inner.is_empty() { "*" } else { inner };
            let inner = match DependencySpec::parse(real, inner)? {
                s @ (DependencySpec::Range(_) | DependencySpec::Tag(_)) => s,
                _ => return Err(invalid()),
            };
            return Ok(DependencySpec::Alias {
                name: real.to_string(),
                spec: Box::new(inner),
            });
        }
        if let Some(path) = spec.strip_prefix("link:") {
            return Ok(DependencySpec::Link(path.to_string()));
        }
        if let Some(path) = spec.strip_prefix("file:") {
            return Ok(DependencySpec::File(path.to_string()));
        }
        if let Some(rest) = spec.strip_prefix("workspace:") {
            return Ok(DependencySpec::Workspace(rest.to_string()));
        }
        if spec.starts_with("./")
            || spec.starts_with("../")
            || spec.starts_with('/')
            || spec.starts_with("~/")
        {
            return Ok(DependencySpec::File(spec.to_string()));
        }
        let lower = spec.to_ascii_lowercase();
        if [
            "git+",
            "git:",
            "git@",
            "github:",
            "gitlab:",
            "bitbucket:",
            "gist:",
        ]
        .iter()
        .any(|p| lower.starts_with(p))
        {
            return Ok(DependencySpec::Git(spec.to_string()));
        }
        if lower.starts_with("http://") || lower.starts_with("https://") {
            if lower.ends_with(".git") {
                return Ok(DependencySpec::Git(spec.to_string()));
            }
            return Ok(DependencySpec::Tarball(spec.to_string()));
        }
        if let Ok(range) = Range::parse(spec) {
            return Ok(DependencySpec::Range(range));
        }
        if is_github_shorthand(spec) {
            return Ok(DependencySpec::Git(spec.to_string()));
        }
        if is_valid_tag(spec) {
            return Ok(DependencySpec::Tag(spec.to_string()));
        }
        Err(invalid())
    }

    /// The name to fetch from the registry: the alias target, or `install_name` itself.
    pub fn registry_name<'a>(&'a self, install_name: &'a str) -> &'a str {
        match self {
            DependencySpec::Alias { name, .. } => name,
            _ => install_name,
        }
    }

    /// The range or tag asked of the registry package, after unwrapping an alias.
    pub fn registry_request(&self) -> Option<&DependencySpec> {
        match self {
            DependencySpec::Range(_) | DependencySpec::Tag(_) => Some(self),
            DependencySpec::Alias { spec, .. } => Some(spec),
            _ => None,
        }
    }

    /// Whether a registry package `name@version`, placed under `install_name`, satisfies this
    /// spec. A tag is satisfied only by the version it was resolved to (`tag_target`).
    pub fn accepts(
        &self,
        install_name: &str,
        name: &str,
        version: &Version,
        tag_target: Option<&str>,
    ) -> bool {
        match self {
            DependencySpec::Range(range) => name == install_name && range.satisfies(version),
            DependencySpec::Tag(_) => {
                name == install_name
                    && tag_target.is_none_or(|t| Version::parse(t).is_ok_and(|t| t == *version))
            }
            DependencySpec::Alias { name: real, spec } => {
                real == name && spec.accepts(real, name, version, tag_target)
            }
            _ => false,
        }
    }
}

impl DependencySpec {
    /// Whether a non-registry package whose source is `origin` (its locked version: a tarball
    /// URL, `file:…`, `link:…`, or `git+…#<commit>`) satisfies this non-registry spec. A git
    /// spec accepts any commit of its repository unless it pins a full commit
    /// ([`GitSpec::accepts_resolved`]); every other spec wants its own text.
    pub fn accepts_source(&self, origin: &str) -> bool {
        match self {
            DependencySpec::Git(spec) if origin != spec => {
                GitSpec::parse(spec).is_some_and(|g| g.accepts_resolved(origin))
            }
            other => origin == other.to_string(),
        }
    }

    /// The specifier `dx add` saves for a request that named this spec, as npm saves it: a
    /// bare `user/repo` becomes `github:user/repo`, a path becomes `file:<path>`; everything
    /// else is kept as written.
    pub fn saved_form(&self, raw: &str) -> String {
        let raw = raw.trim();
        match self {
            DependencySpec::Git(_) if is_github_shorthand(raw) => format!("github:{raw}"),
            DependencySpec::File(path) => {
                let path = path.strip_prefix("./").unwrap_or(path);
                format!("file:{path}")
            }
            _ => raw.to_owned(),
        }
    }
}

impl fmt::Display for DependencySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DependencySpec::Range(r) => write!(f, "{r}"),
            DependencySpec::Tag(t) => f.write_str(t),
            DependencySpec::Alias { name, spec } => write!(f, "npm:{name}@{spec}"),
            DependencySpec::Tarball(u) => f.write_str(u),
            DependencySpec::File(p) => write!(f, "file:{p}"),
            DependencySpec::Link(p) => write!(f, "link:{p}"),
            DependencySpec::Git(g) => f.write_str(g),
            DependencySpec::Workspace(w) => write!(f, "workspace:{w}"),
        }
    }
}

/// Splits `name@spec` (`@scope/name@spec` keeps its leading `@`).
pub fn split_name_spec(text: &str) -> (&str, &str) {
    let search_from = usize::from(text.starts_with('@'));
    match text[search_from..].find('@') {
        Some(i) => (&text[..search_from + i], &text[search_from + i + 1..]),
        None => (text, ""),
    }
}

/// `user/repo` (optionally `#ref`), as npm-package-arg recognizes a GitHub shorthand:
/// `^[^@%/\s.-][^:@%/\s]*/[^:@\s/%]+(?:#.*)?$`.
fn is_github_shorthand(spec: &str) -> bool {
    let path = spec.split_once('#').map_or(spec, |(p, _)| p);
    let Some((user, repo)) = path.split_once('/') else {
        return false;
    };
    let plain = |c: char| !matches!(c, ':' | '@' | '%' | '/') && !c.is_whitespace();
    user.chars()
        .next()
        .is_some_and(|c| plain(c) && c != '.' && c != '-')
        && user.chars().all(plain)
        && !repo.is_empty()
        && repo.chars().all(plain)
}

/// npm accepts a tag when `encodeURIComponent(tag) === tag`.
fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(spec: &str) -> DependencySpec {
        DependencySpec::parse("x", spec).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn classifies_like_npm_package_arg() {
        assert!(matches!(p("^1.2.3"), DependencySpec::Range(_)));
        assert!(matches!(p(""), DependencySpec::Range(_)));
        assert!(matches!(p("1.2.3"), DependencySpec::Range(_)));
        assert_eq!(p("next"), DependencySpec::Tag("next".into()));
        assert_eq!(p("latest"), DependencySpec::Tag("latest".into()));
        match p("npm:@s/real@^2") {
            DependencySpec::Alias { name, spec } => {
                assert_eq!(name, "@s/real");
                assert!(matches!(*spec, DependencySpec::Range(_)));
            }
            other => panic!("{other:?}"),
        }
        match p("npm:real") {
            DependencySpec::Alias { name, .. } => assert_eq!(name, "real"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            p("http://127.0.0.1/x.tgz"),
            DependencySpec::Tarball("http://127.0.0.1/x.tgz".into())
        );
        assert_eq!(p("file:../x"), DependencySpec::File("../x".into()));
        assert_eq!(p("./x"), DependencySpec::File("./x".into()));
        assert_eq!(p("link:../x"), DependencySpec::Link("../x".into()));
        assert!(matches!(p("github:user/repo"), DependencySpec::Git(_)));
        assert!(matches!(p("user/repo#v1"), DependencySpec::Git(_)));
        assert!(matches!(
            p("git+ssh://git@127.0.0.1/x.git"),
            DependencySpec::Git(_)
        ));
        assert!(matches!(p("workspace:*"), DependencySpec::Workspace(_)));
        assert!(DependencySpec::parse("x", "not valid!?").is_err());
        assert!(matches!(
            p("git@example.invalid:u/r.git"),
            DependencySpec::Git(_)
        ));
        // Not shorthands: a name with a spec, a scoped name, a path-like name.
        assert!(DependencySpec::parse("x", "x@github:u/r").is_err());
        assert!(DependencySpec::parse("x", "@s/x").is_err());
        assert!(DependencySpec::parse("x", ".a/b").is_err());
    }

    #[test]
    fn saved_forms_follow_npm() {
        assert_eq!(p("user/repo").saved_form("user/repo"), "github:user/repo");
        assert_eq!(
            p("user/repo#v1").saved_form("user/repo#v1"),
            "github:user/repo#v1"
        );
        assert_eq!(
            p("github:user/repo").saved_form("github:user/repo"),
            "github:user/repo"
        );
        assert_eq!(p("./x.tgz").saved_form("./x.tgz"), "file:x.tgz");
        assert_eq!(p("../x.tgz").saved_form("../x.tgz"), "file:../x.tgz");
        assert_eq!(p("file:x.tgz").saved_form("file:x.tgz"), "file:x.tgz");
        let url = "http://127.0.0.1:1/x.tgz";
        assert_eq!(p(url).saved_form(url), url);
    }

    #[test]
    fn git_specs_accept_commits_of_their_repository() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let origin = format!("git+file:///r.git#{commit}");
        assert!(p("git+file:///r.git#main").accepts_source(&origin));
        assert!(!p("git+file:///s.git#main").accepts_source(&origin));
        assert!(p("file:../x.tgz").accepts_source("file:../x.tgz"));
        assert!(!p("file:../x.tgz").accepts_source("file:../y.tgz"));
    }

    #[test]
    fn alias_accepts_only_the_real_package() {
        let spec = p("npm:real@^2");
        let v = Version::parse("2.1.0").expect("v");
        assert!(spec.accepts("x", "real", &v, None));
        assert!(!spec.accepts("x", "x", &v, None));
        assert!(!p("^2").accepts("x", "real", &v, None));
    }

    #[test]
    fn splits_scoped_names() {
        assert_eq!(split_name_spec("@s/a@^1"), ("@s/a", "^1"));
        assert_eq!(split_name_spec("a@1"), ("a", "1"));
        assert_eq!(split_name_spec("@s/a"), ("@s/a", ""));
    }

    #[test]
    fn a_shared_parse_is_the_parse_and_is_shared() {
        for text in ["^1.0.0", "npm:b@^2", "file:../x", "latest", "not a spec ^^"] {
            let shared = DependencySpec::parse_shared("a", text);
            assert_eq!(
                shared.as_deref(),
                DependencySpec::parse("a", text).ok().as_ref()
            );
            let again = DependencySpec::parse_shared("other", text);
            assert!(match (&shared, &again) {
                (Some(x), Some(y)) => std::sync::Arc::ptr_eq(x, y),
                (None, None) => true,
                _ => false,
            });
        }
    }
}
