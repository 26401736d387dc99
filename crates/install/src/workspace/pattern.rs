//! Workspace member patterns (`packages/*`, `apps/**`, `!packages/private`, `tools/cli`) and
//! the directory walk that expands them, as npm, Yarn, Bun and pnpm read them: `*` stays
//! within one path component, `**` crosses any number, `!` excludes, and `node_modules` and
//! `.git` are never entered.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use crate::error::{Error, Result};

/// One compiled positive pattern: the whole-path matcher and its components (to prune the walk).
#[derive(Debug)]
struct Positive {
    source: String,
    whole: GlobMatcher,
    components: Vec<Component>,
}

#[derive(Debug)]
enum Component {
    Literal(String),
    Glob(GlobMatcher),
    AnyDepth,
}

/// A workspace's member patterns, compiled.
#[derive(Debug)]
pub(crate) struct Patterns {
    positives: Vec<Positive>,
    negatives: Vec<GlobMatcher>,
}

/// Directories never entered by the walk.
const SKIPPED: [&str; 2] = ["node_modules", ".git"];

fn matcher(pattern: &str, config: &Path) -> Result<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::WorkspacePatternInvalid {
            config: config.to_path_buf(),
            pattern: pattern.to_owned(),
            reason: e.kind().to_string(),
        })
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// `./packages/*/` → `packages/*`; `None` for a pattern naming the root itself.
fn normalize(pattern: &str) -> Option<String> {
    let mut p = pattern.trim().replace('\\', "/");
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_owned();
    }
    while p.ends_with('/') {
        p.pop();
    }
    // `packages/**/` and `packages/**` mean the same; `a//b` is `a/b`.
    let joined: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    (!joined.is_empty()).then(|| joined.join("/"))
}

impl Patterns {
    /// Compiles `patterns` read from `config` (the file they come from, for errors). A pattern
    /// that reaches outside the root (`../x`) is an error.
    pub(crate) fn compile(patterns: &[String], config: &Path) -> Result<Self> {
        let mut positives = Vec::new();
        let mut negatives = Vec::new();
        for raw in patterns {
            let (negated, body) = match raw.trim().strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, raw.as_str()),
            };
            let Some(pattern) = normalize(body) else {
                // `.` or `./`: the root is never a member of its own workspace.
                continue;
            };
            if pattern.starts_with('/') || pattern.split('/').any(|c| c == "..") {
                return Err(Error::WorkspaceOutsideRoot {
                    config: config.to_path_buf(),
                    pattern: raw.clone(),
                });
            }
            if negated {
                negatives.push(matcher(&pattern, config)?);
                // `!packages/a` also excludes what is below it (`packages/a/**`).
                negatives.push(matcher(&format!("{pattern}/**"), config)?);
                continue;
            }
            let components = pattern
                .split('/')
                .map(|c| {
                    Ok(if c == "**" {
                        Component::AnyDepth
                    } else if has_glob_chars(c) {
                        Component::Glob(matcher(c, config)?)
                    } else {
                        Component::Literal(c.to_owned())
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            positives.push(Positive {
                whole: matcher(&pattern, config)?,
                source: raw.clone(),
                components,
            });
        }
        Ok(Patterns {
            positives,
            negatives,
        })
    }

    /// Whether the root-relative `path` ('/'-separated) is included: some positive pattern
    /// matches it, no negative one does, and it is not inside `node_modules` or `.git`.
    pub(crate) fn includes(&self, path: &str) -> bool {
        !path.split('/').any(|c| SKIPPED.contains(&c))
            && self.positives.iter().any(|p| p.whole.is_match(path))
            && !self.negatives.iter().any(|n| n.is_match(path))
    }

    /// Whether some positive pattern can match `path` or something below it.
    fn may_contain(&self, path: &[&str]) -> bool {
        self.positives
            .iter()
            .any(|p| prefix_may_match(&p.components, path))
    }

    /// Expands the patterns under `root`: every included directory that holds a package.json,
    /// sorted by path. A positive pattern that matches no such directory is an error naming it.
    pub(crate) fn expand(&self, root: &Path, config: &Path) -> Result<Vec<String>> {
        let mut found = Vec::new();
        let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(root.to_path_buf(), Vec::new())];
        while let Some((dir, rel)) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(_) if !rel.is_empty() => continue,
                Err(e) => {
                    return Err(Error::Context {
                        context: format!("cannot read {}", dir.display()),
                        source: Box::new(e),
                    });
                }
            };
            for entry in entries.flatten() {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if SKIPPED.contains(&name.as_str()) {
                    continue;
                }
                let Ok(file_type) = entry.file_type() else {
                    continue;
                };
                let path = entry.path();
                let is_dir = file_type.is_dir()
                    || (file_type.is_symlink() && path.metadata().is_ok_and(|m| m.is_dir()));
                if !is_dir {
                    continue;
                }
                let mut child = rel.clone();
                child.push(name);
                let refs: Vec<&str> = child.iter().map(String::as_str).collect();
                if !self.may_contain(&refs) {
                    continue;
                }
                let joined = refs.join("/");
                if path.join("package.json").is_file() && self.includes_for_walk(&joined) {
                    found.push(joined);
                }
                // Symlinked directories are members when they match but are not walked into
                // (no loops, and npm does not follow them either).
                if file_type.is_dir() {
                    stack.push((path, child));
                }
            }
        }
        found.sort();
        for positive in &self.positives {
            if !found.iter().any(|f| positive.whole.is_match(f)) {
                return Err(Error::WorkspacePatternEmpty {
                    config: config.to_path_buf(),
                    pattern: positive.source.clone(),
                });
            }
        }
        found.retain(|f| !self.negatives.iter().any(|n| n.is_match(f)));
        Ok(found)
    }

    /// [`Self::includes`] without the negations (they are applied after the empty-match check,
    /// so `packages/*` + `!packages/a` is not "empty" when only `packages/a` exists).
    fn includes_for_walk(&self, path: &str) -> bool {
        self.positives.iter().any(|p| p.whole.is_match(path))
    }
}

/// Whether a path whose components are `path` can be, or be an ancestor of, a match of
/// `pattern`'s components.
fn prefix_may_match(pattern: &[Component], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(Component::AnyDepth), Some(_)) => true,
        (Some(Component::Literal(l)), Some(p)) => {
            l == p && prefix_may_match(&pattern[1..], &path[1..])
        }
        (Some(Component::Glob(g)), Some(p)) => {
            g.is_match(p) && prefix_may_match(&pattern[1..], &path[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(list: &[&str]) -> Patterns {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        Patterns::compile(&list, Path::new("package.json")).unwrap()
    }

    #[test]
    fn star_stays_in_one_component_and_double_star_crosses() {
        let p = patterns(&["packages/*"]);
        assert!(p.includes("packages/a"));
        assert!(!p.includes("packages/a/b"));
        let p = patterns(&["./apps/**/"]);
        assert!(p.includes("apps/a/b"));
        assert!(!p.includes("apps/node_modules/x"));
    }

    #[test]
    fn negation_excludes_and_root_patterns_are_ignored() {
        let p = patterns(&[".", "packages/*", "!packages/private"]);
        assert!(p.includes("packages/a"));
        assert!(!p.includes("packages/private"));
    }

    #[test]
    fn pruning_follows_literal_prefixes() {
        let p = patterns(&["packages/*/sub"]);
        assert!(p.may_contain(&["packages"]));
        assert!(p.may_contain(&["packages", "x"]));
        assert!(!p.may_contain(&["apps"]));
        assert!(!p.may_contain(&["packages", "x", "other"]));
    }

    #[test]
    fn a_pattern_outside_the_root_is_an_error() {
        let err =
            Patterns::compile(&["../other/*".into()], Path::new("/w/package.json")).unwrap_err();
        assert!(matches!(err, Error::WorkspaceOutsideRoot { .. }), "{err}");
        assert!(err.to_string().contains("../other/*"), "{err}");
    }
}
