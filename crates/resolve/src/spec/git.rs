//! Git specifiers as npm-package-arg and hosted-git-info read them: where to clone from, which
//! commit-ish to check out, and the canonical form dx.lock records.
//!
//! Forms: `git+https://…`, `git+http://…`, `git+ssh://…` (also scp-like
//! `git+ssh://git@host:user/repo`), `git+file://…`, `git://…`, `https://…/repo.git`, the hosted
//! shorthands `github:user/repo`, `gitlab:user/repo`, `bitbucket:user/repo` and bare
//! `user/repo` (GitHub). Each may end in `#<commit>`, `#<branch or tag>` or
//! `#semver:<range>`.
//!
//! A resolved git package is recorded as `git+<clone url>#<full commit>` (`git://…#<commit>`
//! for the `git://` scheme): its version, its `resolved` and the source part of its key.

use crate::semver::Range;

/// Hosts with a shorthand (`github:user/repo`), cloned over HTTPS as npm does first.
const HOSTS: [(&str, &str); 3] = [
    ("github", "github.com"),
    ("gitlab", "gitlab.com"),
    ("bitbucket", "bitbucket.org"),
];

/// A parsed git specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSpec {
    /// The URL handed to `git ls-remote` and `git fetch`.
    pub clone_url: String,
    /// For a hosted repository, `host/user/repo` (lowercase host, no `.git`): two specifiers
    /// name the same repository when these are equal, whatever protocol each uses.
    pub hosted: Option<String>,
    /// What to check out.
    pub committish: Committish,
}

/// What a git specifier asks to check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committish {
    /// Nothing given: the remote's `HEAD`.
    Default,
    /// A branch, a tag, or a commit (full or abbreviated hex).
    Named(String),
    /// `#semver:<range>`: the highest tag whose version the range allows.
    Semver(Range),
}

impl GitSpec {
    /// Parses a specifier that [`super::DependencySpec::parse`] classified as git (or a
    /// recorded `git+…#<commit>` version). `None` for what dx cannot clone (`gist:`, an
    /// invalid `#semver:` range, an empty repository path).
    pub fn parse(spec: &str) -> Option<GitSpec> {
        let spec = spec.trim();
        let (base, fragment) = match spec.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (spec, None),
        };
        let committish = match fragment {
            None | Some("") => Committish::Default,
            Some(f) => match f.strip_prefix("semver:") {
                Some(range) => Committish::Semver(Range::parse(range).ok()?),
                None => Committish::Named(f.to_owned()),
            },
        };
        let (clone_url, hosted) = clone_url(base)?;
        Some(GitSpec {
            clone_url,
            hosted,
            committish,
        })
    }

    /// The canonical recorded form for `commit`: `git+<clone url>#<commit>`.
    pub fn resolved(&self, commit: &str) -> String {
        if self.clone_url.starts_with("git://") {
            format!("{}#{commit}", self.clone_url)
        } else {
            format!("git+{}#{commit}", self.clone_url)
        }
    }

    /// The commit this specifier pins, when it names a full 40-digit commit.
    pub fn full_commit(&self) -> Option<&str> {
        match &self.committish {
            Committish::Named(c) if is_full_commit(c) => Some(c),
            _ => None,
        }
    }

    /// Whether `other` names the same repository (hosted repositories compare by host, user
    /// and repository whatever the protocol; others by clone URL, ignoring a final `.git`).
    pub fn same_repository(&self, other: &GitSpec) -> bool {
        match (&self.hosted, &other.hosted) {
            (Some(a), Some(b)) => a == b,
            _ => {
                self.clone_url.trim_end_matches(".git") == other.clone_url.trim_end_matches(".git")
            }
        }
    }

    /// Whether a package resolved to `resolved` (a `git+…#<commit>` form) satisfies this
    /// specifier, as arborist's dep-valid decides: same repository, and the same commit when
    /// this specifier pins a full commit. A branch, tag or range keeps whatever commit was
    /// resolved until an update asks again.
    pub fn accepts_resolved(&self, resolved: &str) -> bool {
        let Some(other) = GitSpec::parse(resolved) else {
            return false;
        };
        if !self.same_repository(&other) {
            return false;
        }
        match (self.full_commit(), other.full_commit()) {
            (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
            (Some(_), None) => false,
            (None, _) => true,
        }
    }
}

/// Whether `text` is a full 40-digit (SHA-1) or 64-digit (SHA-256) commit id.
pub fn is_full_commit(text: &str) -> bool {
    (text.len() == 40 || text.len() == 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The clone URL and hosted identity of a specifier without its `#fragment`.
fn clone_url(base: &str) -> Option<(String, Option<String>)> {
    let lower = base.to_ascii_lowercase();
    for (shorthand, host) in HOSTS {
        if let Some(path) = strip_prefix_ci(base, &format!("{shorthand}:")) {
            return hosted(host, path);
        }
    }
    if lower.starts_with("gist:") {
        return None;
    }
    if let Some(rest) = strip_prefix_ci(base, "git+") {
        let url = scp_like(rest);
        let hosted = hosted_identity(&url);
        return (!url.is_empty()).then_some((url, hosted));
    }
    if lower.starts_with("git://") || lower.starts_with("http://") || lower.starts_with("https://")
    {
        let hosted = hosted_identity(base);
        return Some((base.to_owned(), hosted));
    }
    if lower.starts_with("git@") {
        return Some((base.to_owned(), hosted_identity(base)));
    }
    // Bare `user/repo`: GitHub.
    let (user, repo) = base.split_once('/')?;
    (!user.is_empty() && !repo.is_empty() && !repo.contains('/'))
        .then(|| hosted("github.com", base))
        .flatten()
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    (text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &text[prefix.len()..])
}

/// `https://host/user/repo.git` for a hosted `user/repo`.
fn hosted(host: &str, path: &str) -> Option<(String, Option<String>)> {
    let path = path.trim_start_matches('/').trim_end_matches(".git");
    let (user, repo) = path.split_once('/')?;
    if user.is_empty() || repo.is_empty() || repo.contains('/') {
        return None;
    }
    Some((
        format!("https://{host}/{user}/{repo}.git"),
        Some(format!("{host}/{user}/{repo}")),
    ))
}

/// `ssh://git@host:user/repo` (a scp-like path after an ssh scheme, which npm accepts) as git
/// understands it: `git@host:user/repo`. A port (`host:22/…`) stays a URL.
fn scp_like(url: &str) -> String {
    let Some(rest) = strip_prefix_ci(url, "ssh://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    if let Some(colon) = authority[host_start..].find(':') {
        let after = &rest[host_start + colon + 1..];
        if !after.starts_with(|c: char| c.is_ascii_digit()) {
            return rest.to_owned();
        }
    }
    url.to_owned()
}

/// `host/user/repo` when `url` is a GitHub, GitLab or Bitbucket repository URL (https, ssh,
/// git or scp-like).
fn hosted_identity(url: &str) -> Option<String> {
    let after_scheme = url.split_once("://").map_or(url, |(_, r)| r);
    let after_user = after_scheme
        .split_once('@')
        .filter(|(user, _)| !user.contains('/'))
        .map_or(after_scheme, |(_, r)| r);
    let (host, path) = match after_user.find(['/', ':']) {
        Some(i) => (&after_user[..i], &after_user[i + 1..]),
        None => return None,
    };
    let host = host.to_ascii_lowercase();
    HOSTS
        .iter()
        .find(|(_, h)| *h == host)
        .and_then(|(_, h)| hosted(h, path))
        .and_then(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(spec: &str) -> GitSpec {
        GitSpec::parse(spec).unwrap_or_else(|| panic!("{spec} did not parse"))
    }

    #[test]
    fn hosted_shorthands_clone_over_https() {
        for spec in [
            "github:user/repo",
            "user/repo",
            "git+https://github.com/user/repo.git",
            "git+ssh://git@github.com/user/repo.git",
            "git+ssh://git@github.com:user/repo.git",
            "git://github.com/user/repo",
        ] {
            let parsed = g(spec);
            assert_eq!(
                parsed.hosted.as_deref(),
                Some("github.com/user/repo"),
                "{spec}"
            );
            assert!(parsed.same_repository(&g("github:user/repo")), "{spec}");
        }
        assert_eq!(
            g("github:user/repo").clone_url,
            "https://github.com/user/repo.git"
        );
        assert_eq!(g("gitlab:a/b").clone_url, "https://gitlab.com/a/b.git");
        assert_eq!(
            g("bitbucket:a/b").clone_url,
            "https://bitbucket.org/a/b.git"
        );
        assert!(!g("github:user/repo").same_repository(&g("gitlab:user/repo")));
    }

    #[test]
    fn urls_keep_their_protocol() {
        assert_eq!(g("git+file:///tmp/r.git#v1").clone_url, "file:///tmp/r.git");
        assert_eq!(
            g("git+ssh://git@example.invalid:team/r.git").clone_url,
            "git@example.invalid:team/r.git"
        );
        assert_eq!(
            g("git+ssh://git@example.invalid:2222/r.git").clone_url,
            "ssh://git@example.invalid:2222/r.git"
        );
        assert_eq!(
            g("git://example.invalid/r.git").clone_url,
            "git://example.invalid/r.git"
        );
        assert!(GitSpec::parse("gist:abc").is_none());
        assert!(GitSpec::parse("github:user").is_none());
        assert!(GitSpec::parse("git+file:///r#semver:not a range!").is_none());
    }

    #[test]
    fn committish_forms() {
        assert_eq!(g("user/repo").committish, Committish::Default);
        assert_eq!(
            g("user/repo#main").committish,
            Committish::Named("main".into())
        );
        assert!(matches!(
            g("user/repo#semver:^1").committish,
            Committish::Semver(_)
        ));
        let commit = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            g(&format!("user/repo#{commit}")).full_commit(),
            Some(commit)
        );
        assert_eq!(g("user/repo#0123abc").full_commit(), None);
    }

    #[test]
    fn canonical_form_round_trips() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let spec = g("git+file:///tmp/r.git#main");
        let resolved = spec.resolved(commit);
        assert_eq!(resolved, format!("git+file:///tmp/r.git#{commit}"));
        let again = g(&resolved);
        assert_eq!(again.clone_url, spec.clone_url);
        assert_eq!(again.full_commit(), Some(commit));
        assert_eq!(
            g("git://example.invalid/r.git").resolved(commit),
            format!("git://example.invalid/r.git#{commit}")
        );
        assert_eq!(
            g("github:u/r#v1").resolved(commit),
            format!("git+https://github.com/u/r.git#{commit}")
        );
    }

    #[test]
    fn a_branch_accepts_any_commit_of_its_repository_a_commit_only_itself() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let other = "1123456789abcdef0123456789abcdef01234567";
        let resolved = format!("git+file:///tmp/r.git#{commit}");
        assert!(g("git+file:///tmp/r.git#main").accepts_resolved(&resolved));
        assert!(g("git+file:///tmp/r.git#semver:^1").accepts_resolved(&resolved));
        assert!(g(&format!("git+file:///tmp/r.git#{commit}")).accepts_resolved(&resolved));
        assert!(!g(&format!("git+file:///tmp/r.git#{other}")).accepts_resolved(&resolved));
        assert!(!g("git+file:///tmp/other.git#main").accepts_resolved(&resolved));
        assert!(!g("git+file:///tmp/r.git").accepts_resolved("file:../x.tgz"));
    }
}
