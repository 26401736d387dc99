//! npm's semver, written to behave exactly as node-semver (v7) does with `loose: true`, which is
//! how npm itself parses the versions in packuments and the ranges in manifests.
//!
//! Invariants:
//! - ordering ignores build metadata, as the spec says; equality of [`Version`] does too;
//! - a prerelease version satisfies a range only when some comparator of the same `||` set names
//!   the same `major.minor.patch` with a prerelease, unless `include_prerelease` is asked for;
//! - ranges are parsed loosely: comparators that do not parse are dropped (as node-semver does
//!   with `loose`), and a range none of whose `||` sets keeps a comparator is an error.

mod range;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::fmt;

pub use range::{Comparator, Operator, Range};

/// Longest version or range string node-semver accepts.
const MAX_LENGTH: usize = 256;
/// Largest number node-semver accepts in a version (JavaScript's `Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_991;

/// Why a version or range did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemverError {
    /// The text is not a version, even loosely.
    #[error("invalid version {0:?}")]
    InvalidVersion(String),
    /// The text is not a range: no `||` alternative kept a valid comparator.
    #[error("invalid range {0:?}")]
    InvalidRange(String),
}

/// One dot-separated prerelease identifier; numeric ones sort numerically and before text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// All digits (leading zeros tolerated in loose mode).
    Numeric(u64),
    /// Anything else.
    Text(String),
}

impl Identifier {
    fn parse(text: &str) -> Self {
        if !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = text.parse::<u64>()
            && n <= MAX_SAFE_INTEGER
        {
            return Identifier::Numeric(n);
        }
        Identifier::Text(text.to_string())
    }
}

impl Ord for Identifier {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Identifier::Numeric(a), Identifier::Numeric(b)) => a.cmp(b),
            (Identifier::Numeric(_), Identifier::Text(_)) => Ordering::Less,
            (Identifier::Text(_), Identifier::Numeric(_)) => Ordering::Greater,
            (Identifier::Text(a), Identifier::Text(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Identifier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identifier::Numeric(n) => write!(f, "{n}"),
            Identifier::Text(t) => f.write_str(t),
        }
    }
}

/// A semantic version as npm understands it (`1.2.3-beta.1+build`).
#[derive(Debug, Clone)]
pub struct Version {
    /// Incompatible changes.
    pub major: u64,
    /// Compatible features.
    pub minor: u64,
    /// Fixes.
    pub patch: u64,
    /// Prerelease identifiers; empty for a release.
    pub pre: Vec<Identifier>,
    /// Build metadata; never affects ordering or matching.
    pub build: Vec<String>,
}

impl Version {
    /// A release version with no prerelease or build.
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            major,
            minor,
            patch,
            pre: Vec::new(),
            build: Vec::new(),
        }
    }

    /// Parses like `semver.parse(text, { loose: true })`: leading `v`/`=`/spaces, leading zeros,
    /// and a prerelease without its `-` (`1.2.3beta`) are accepted, as old packuments need.
    pub fn parse(text: &str) -> Result<Self, SemverError> {
        Self::parse_inner(text, true)
    }

    /// Parses strictly (`semver.valid(text)` without `loose`): only an optional leading `v`.
    pub fn parse_strict(text: &str) -> Result<Self, SemverError> {
        Self::parse_inner(text, false)
    }

    fn parse_inner(text: &str, loose: bool) -> Result<Self, SemverError> {
        let err = || SemverError::InvalidVersion(text.to_string());
        if text.len() > MAX_LENGTH {
            return Err(err());
        }
        let trimmed = if loose {
            text.trim()
                .trim_start_matches(|c: char| c == 'v' || c == '=' || c.is_whitespace())
        } else {
            text.strip_prefix('v').unwrap_or(text)
        };
        let mut cursor = Cursor {
            text: trimmed,
            pos: 0,
        };
        let major = cursor.number(loose).ok_or_else(err)?;
        cursor.expect('.').ok_or_else(err)?;
        let minor = cursor.number(loose).ok_or_else(err)?;
        cursor.expect('.').ok_or_else(err)?;
        let patch = cursor.number(loose).ok_or_else(err)?;
        let (pre, build) = parse_qualifiers(cursor.rest(), loose).ok_or_else(err)?;
        Ok(Version {
            major,
            minor,
            patch,
            pre,
            build,
        })
    }

    /// True for versions with prerelease identifiers.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    fn same_tuple(&self, other: &Version) -> bool {
        self.major == other.major && self.minor == other.minor && self.patch == other.patch
    }
}

/// Parses `-pre.1+build` (loose: the `-` may be missing) and returns the identifiers.
fn parse_qualifiers(rest: &str, loose: bool) -> Option<(Vec<Identifier>, Vec<String>)> {
    let (pre_part, build_part) = match rest.split_once('+') {
        Some((p, b)) => (p, Some(b)),
        None => (rest, None),
    };
    let pre_text = if let Some(p) = pre_part.strip_prefix('-') {
        Some(p)
    } else if pre_part.is_empty() {
        None
    } else if loose {
        Some(pre_part)
    } else {
        return None;
    };
    let mut pre = Vec::new();
    if let Some(p) = pre_text {
        for ident in p.split('.') {
            if ident.is_empty()
                || !ident
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return None;
            }
            if !loose
                && ident.len() > 1
                && ident.starts_with('0')
                && ident.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            pre.push(Identifier::parse(ident));
        }
    }
    let mut build = Vec::new();
    if let Some(b) = build_part {
        for ident in b.split('.') {
            if ident.is_empty()
                || !ident
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
            {
                return None;
            }
            build.push(ident.to_string());
        }
    }
    Some((pre, build))
}

/// A tiny scanner over ASCII version text.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn number(&mut self, loose: bool) -> Option<u64> {
        let digits = self.text[self.pos..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            return None;
        }
        let s = &self.text[self.pos..self.pos + digits];
        if !loose && digits > 1 && s.starts_with('0') {
            return None;
        }
        self.pos += digits;
        let n: u64 = s.parse().ok()?;
        (n <= MAX_SAFE_INTEGER).then_some(n)
    }

    fn expect(&mut self, c: char) -> Option<()> {
        if self.text[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            Some(())
        } else {
            None
        }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.major, self.minor, self.patch, &self.pre).hash(state);
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    /// The normalized form npm prints (`1.2.3-beta.1`); build metadata is kept.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            f.write_str("-")?;
            for (i, id) in self.pre.iter().enumerate() {
                if i > 0 {
                    f.write_str(".")?;
                }
                write!(f, "{id}")?;
            }
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build.join("."))?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Version {
    type Err = SemverError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

/// `semver.satisfies(version, range, { loose: true })`; false when either does not parse.
pub fn satisfies(version: &str, range: &str) -> bool {
    match (Version::parse(version), Range::parse(range)) {
        (Ok(v), Ok(r)) => r.satisfies(&v),
        _ => false,
    }
}
