//! Ranges: `||`-separated sets of comparators, desugared from `^ ~ x * -` exactly as
//! node-semver's `Range` does it (its `replaceCaret`, `replaceTilde`, `replaceXRange` and
//! `hyphenReplace` rules), so `^0.0.1` is `>=0.0.1 <0.0.2-0` and `<1.2` is `<1.2.0-0`.

use std::fmt;

use super::{Identifier, MAX_LENGTH, SemverError, Version, parse_qualifiers};

/// How a comparator compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `=` or nothing.
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Operator {
    fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
        }
    }
}

/// One primitive comparison; `version: None` is node-semver's ANY (`*`, matches everything).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Comparator {
    /// The comparison.
    pub operator: Operator,
    /// The bound, or `None` for ANY.
    pub version: Option<Version>,
}

impl Comparator {
    fn any() -> Self {
        Comparator {
            operator: Operator::Eq,
            version: None,
        }
    }

    fn new(operator: Operator, version: Version) -> Self {
        Comparator {
            operator,
            version: Some(version),
        }
    }

    /// Whether `v` passes this comparison (prerelease rules are the range's business).
    pub fn test(&self, v: &Version) -> bool {
        let Some(bound) = &self.version else {
            return true;
        };
        let ord = v.cmp(bound);
        match self.operator {
            Operator::Eq => ord.is_eq(),
            Operator::Lt => ord.is_lt(),
            Operator::Le => ord.is_le(),
            Operator::Gt => ord.is_gt(),
            Operator::Ge => ord.is_ge(),
        }
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            None => Ok(()),
            Some(v) => write!(f, "{}{}", self.operator.as_str(), v),
        }
    }
}

/// A parsed range: a version satisfies it when it satisfies every comparator of one set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Range {
    sets: Vec<Vec<Comparator>>,
}

impl Range {
    /// Parses like `new semver.Range(text, { loose: true })`.
    pub fn parse(text: &str) -> Result<Self, SemverError> {
        if text.len() > MAX_LENGTH {
            return Err(SemverError::InvalidRange(text.to_string()));
        }
        let mut sets: Vec<Vec<Comparator>> = Vec::new();
        for alternative in text.split("||") {
            if let Some(set) = parse_set(alternative.trim()) {
                sets.push(set);
            }
        }
        if sets.is_empty() {
            return Err(SemverError::InvalidRange(text.to_string()));
        }
        if sets.len() > 1 {
            let first = sets[0].clone();
            sets.retain(|set| !is_null_set(set));
            if sets.is_empty() {
                sets.push(first);
            } else if let Some(any) = sets
                .iter()
                .find(|set| set.len() == 1 && set[0].version.is_none())
                .cloned()
            {
                sets = vec![any];
            }
        }
        Ok(Range { sets })
    }

    /// The range that matches every release (`*`).
    pub fn any() -> Self {
        Range {
            sets: vec![vec![Comparator::any()]],
        }
    }

    /// `semver.satisfies(v, range)`: prereleases only through a comparator naming their tuple.
    pub fn satisfies(&self, v: &Version) -> bool {
        self.sets.iter().any(|set| test_set(set, v, false))
    }

    /// `satisfies` with `includePrerelease: true` semantics for the prerelease gate only.
    pub fn satisfies_including_prerelease(&self, v: &Version) -> bool {
        self.sets.iter().any(|set| test_set(set, v, true))
    }

    /// True for `*` (and `x`, `""`): node-semver's ANY, which arborist treats as matching any
    /// version, prereleases included.
    pub fn is_any(&self) -> bool {
        self.sets.len() == 1 && self.sets[0].len() == 1 && self.sets[0][0].version.is_none()
    }

    /// The (major, minor, patch) of every comparator that names a prerelease (`>=1.0.0-rc.1`,
    /// and the `<2.0.0-0` a caret range becomes): a prerelease version can satisfy the range
    /// (without `includePrerelease`) only when its numbers are among these.
    pub fn prerelease_numbers(&self) -> Vec<(u64, u64, u64)> {
        self.sets
            .iter()
            .flatten()
            .filter_map(|c| c.version.as_ref())
            .filter(|v| !v.pre.is_empty())
            .map(|v| (v.major, v.minor, v.patch))
            .collect()
    }

    /// The comparator sets, for callers that print or analyse the range.
    pub fn sets(&self) -> &[Vec<Comparator>] {
        &self.sets
    }

    /// `semver.minVersion(range)`: the lowest version that can satisfy the range, if any.
    pub fn min_version(&self) -> Option<Version> {
        let zero = Version::new(0, 0, 0);
        if self.satisfies(&zero) {
            return Some(zero);
        }
        let zero_pre = Version {
            pre: vec![Identifier::Numeric(0)],
            ..Version::new(0, 0, 0)
        };
        if self.satisfies(&zero_pre) {
            return Some(zero_pre);
        }
        let mut best: Option<Version> = None;
        for set in &self.sets {
            let mut set_min: Option<Version> = None;
            for c in set {
                let Some(bound) = &c.version else { continue };
                let candidate = match c.operator {
                    Operator::Gt => {
                        let mut next = bound.clone();
                        if next.pre.is_empty() {
                            next.patch += 1;
                        } else {
                            next.pre.push(Identifier::Numeric(0));
                        }
                        next.build.clear();
                        Some(next)
                    }
                    Operator::Eq | Operator::Ge => Some(bound.clone()),
                    Operator::Lt | Operator::Le => None,
                };
                if let Some(candidate) = candidate
                    && set_min.as_ref().is_none_or(|m| candidate > *m)
                {
                    set_min = Some(candidate);
                }
            }
            if let Some(m) = set_min
                && test_set(set, &m, false)
                && best.as_ref().is_none_or(|b| m < *b)
            {
                best = Some(m);
            }
        }
        best
    }
}

impl fmt::Display for Range {
    /// node-semver's normalized `range.range` form (`>=1.2.3 <2.0.0-0||*`), useful in messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, set) in self.sets.iter().enumerate() {
            if i > 0 {
                f.write_str("||")?;
            }
            if set.len() == 1 && set[0].version.is_none() {
                f.write_str("*")?;
                continue;
            }
            for (j, c) in set.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Range {
    type Err = SemverError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Range::parse(s)
    }
}

fn test_set(set: &[Comparator], v: &Version, include_prerelease: bool) -> bool {
    if !set.iter().all(|c| c.test(v)) {
        return false;
    }
    if v.pre.is_empty() || include_prerelease {
        return true;
    }
    set.iter().any(|c| {
        c.version
            .as_ref()
            .is_some_and(|bound| !bound.pre.is_empty() && bound.same_tuple(v))
    })
}

/// node-semver's `isNullSet`: the `<0.0.0-0` comparator that `>x`/`<x` desugar to.
fn is_null_set(set: &[Comparator]) -> bool {
    set.iter().any(|c| {
        c.operator == Operator::Lt
            && c.version.as_ref().is_some_and(|v| {
                v.major == 0 && v.minor == 0 && v.patch == 0 && v.pre == [Identifier::Numeric(0)]
            })
    })
}

/// A partial version from a range: `None` components are `x`/`*`/missing.
#[derive(Debug, Default)]
struct Partial {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Vec<Identifier>,
    build: Vec<String>,
}

impl Partial {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim_start_matches(|c: char| c == 'v' || c == '=' || c.is_whitespace());
        if text.is_empty() {
            return None;
        }
        let mut p = Partial::default();
        let mut rest = text;
        let mut slots: [Option<u64>; 3] = [None; 3];
        for (i, slot) in slots.iter_mut().enumerate() {
            let len = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
            if len > 0 {
                let n: u64 = rest[..len].parse().ok()?;
                if n > super::MAX_SAFE_INTEGER {
                    return None;
                }
                *slot = Some(n);
                rest = &rest[len..];
            } else if rest.starts_with(['x', 'X', '*']) {
                rest = &rest[1..];
            } else {
                return None;
            }
            if i < 2 {
                match rest.strip_prefix('.') {
                    Some(r) => rest = r,
                    None => break,
                }
            }
        }
        // An x in a position makes every later position x too (`1.x.3` is `1.x.x`).
        if slots[0].is_none() {
            slots[1] = None;
        }
        if slots[1].is_none() {
            slots[2] = None;
        }
        let [major, minor, patch] = slots;
        p.major = major;
        p.minor = minor;
        p.patch = patch;
        if !rest.is_empty() {
            // Qualifiers are only allowed after a full three-part version.
            let full = text.matches('.').count() >= 2;
            if !full {
                return None;
            }
            let (pre, build) = parse_qualifiers(rest, true)?;
            p.pre = pre;
            p.build = build;
        }
        Some(p)
    }

    fn version(&self, major: u64, minor: u64, patch: u64, pre: Vec<Identifier>) -> Version {
        Version {
            major,
            minor,
            patch,
            pre,
            build: Vec::new(),
        }
    }
}

/// `-0`, the lowest prerelease, used for exclusive upper bounds.
fn zero_pre() -> Vec<Identifier> {
    vec![Identifier::Numeric(0)]
}

/// Parses one `||` alternative into its comparators; `None` when nothing in it parses.
fn parse_set(text: &str) -> Option<Vec<Comparator>> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if tokens.len() == 3
        && tokens[1] == "-"
        && let (Some(from), Some(to)) = (Partial::parse(tokens[0]), Partial::parse(tokens[2]))
    {
        return Some(hyphen(&from, &to));
    }
    // Join an operator written apart from its version (`>= 1.2.3`, `~ 1.2`, `^ 1`).
    let mut joined: Vec<String> = Vec::new();
    let mut pending = String::new();
    for token in tokens {
        if token
            .chars()
            .all(|c| matches!(c, '<' | '>' | '=' | '~' | '^'))
        {
            pending.push_str(token);
            continue;
        }
        joined.push(format!("{pending}{token}"));
        pending.clear();
    }
    if !pending.is_empty() {
        joined.push(pending);
    }
    if joined.is_empty() {
        return Some(vec![Comparator::any()]);
    }
    let mut set = Vec::new();
    let mut any_valid = false;
    for token in &joined {
        if let Some(mut comparators) = parse_comparator(token) {
            any_valid = true;
            set.append(&mut comparators);
        }
    }
    if !any_valid {
        return None;
    }
    // ANY next to real comparators adds nothing (node-semver drops it too).
    if set.len() > 1 {
        set.retain(|c| c.version.is_some());
        if set.is_empty() {
            set.push(Comparator::any());
        }
    }
    Some(set)
}

fn parse_comparator(token: &str) -> Option<Vec<Comparator>> {
    if token == "*" || token.is_empty() {
        return Some(vec![Comparator::any()]);
    }
    let (op, rest) = split_operator(token);
    let partial = Partial::parse(rest)?;
    Some(match op {
        "^" => caret(&partial),
        "~" | "~>" => tilde(&partial),
        "" | "=" | "<" | ">" | "<=" | ">=" => xrange(op, &partial),
        _ => return None,
    })
}

fn split_operator(token: &str) -> (&str, &str) {
    for op in ["~>", ">=", "<=", "^", "~", ">", "<", "="] {
        if let Some(rest) = token.strip_prefix(op) {
            return (op, rest);
        }
    }
    ("", token)
}

fn caret(p: &Partial) -> Vec<Comparator> {
    let Some(major) = p.major else {
        return vec![Comparator::any()];
    };
    let Some(minor) = p.minor else {
        return vec![
            Comparator::new(Operator::Ge, p.version(major, 0, 0, vec![])),
            Comparator::new(Operator::Lt, p.version(major + 1, 0, 0, zero_pre())),
        ];
    };
    let Some(patch) = p.patch else {
        let upper = if major == 0 {
            p.version(0, minor + 1, 0, zero_pre())
        } else {
            p.version(major + 1, 0, 0, zero_pre())
        };
        return vec![
            Comparator::new(Operator::Ge, p.version(major, minor, 0, vec![])),
            Comparator::new(Operator::Lt, upper),
        ];
    };
    let upper = if major == 0 {
        if minor == 0 {
            p.version(0, 0, patch + 1, zero_pre())
        } else {
            p.version(0, minor + 1, 0, zero_pre())
        }
    } else {
        p.version(major + 1, 0, 0, zero_pre())
    };
    vec![
        Comparator::new(Operator::Ge, p.version(major, minor, patch, p.pre.clone())),
        Comparator::new(Operator::Lt, upper),
    ]
}

fn tilde(p: &Partial) -> Vec<Comparator> {
    let Some(major) = p.major else {
        return vec![Comparator::any()];
    };
    let Some(minor) = p.minor else {
        return vec![
            Comparator::new(Operator::Ge, p.version(major, 0, 0, vec![])),
            Comparator::new(Operator::Lt, p.version(major + 1, 0, 0, zero_pre())),
        ];
    };
    let lower = match p.patch {
        None => p.version(major, minor, 0, vec![]),
        Some(patch) => p.version(major, minor, patch, p.pre.clone()),
    };
    vec![
        Comparator::new(Operator::Ge, lower),
        Comparator::new(Operator::Lt, p.version(major, minor + 1, 0, zero_pre())),
    ]
}

fn xrange(op: &str, p: &Partial) -> Vec<Comparator> {
    let any_x = p.patch.is_none();
    let op = if op == "=" && any_x { "" } else { op };
    let Some(major) = p.major else {
        if op == ">" || op == "<" {
            return vec![Comparator::new(
                Operator::Lt,
                p.version(0, 0, 0, zero_pre()),
            )];
        }
        return vec![Comparator::any()];
    };
    if !any_x {
        let v = Version {
            build: p.build.clone(),
            ..p.version(
                major,
                p.minor.unwrap_or(0),
                p.patch.unwrap_or(0),
                p.pre.clone(),
            )
        };
        let operator = match op {
            "<" => Operator::Lt,
            "<=" => Operator::Le,
            ">" => Operator::Gt,
            ">=" => Operator::Ge,
            _ => Operator::Eq,
        };
        return vec![Comparator::new(operator, v)];
    }
    if !op.is_empty() {
        let x_minor = p.minor.is_none();
        let (mut m, mut mi, mut pa) = (major, p.minor.unwrap_or(0), 0);
        let operator = match op {
            ">" => {
                if x_minor {
                    m += 1;
                    mi = 0;
                } else {
                    mi += 1;
                }
                pa = 0;
                Operator::Ge
            }
            "<=" => {
                if x_minor {
                    m += 1;
                } else {
                    mi += 1;
                }
                Operator::Lt
            }
            "<" => Operator::Lt,
            _ => Operator::Ge,
        };
        let pre = if operator == Operator::Lt {
            zero_pre()
        } else {
            vec![]
        };
        return vec![Comparator::new(operator, p.version(m, mi, pa, pre))];
    }
    match p.minor {
        None => vec![
            Comparator::new(Operator::Ge, p.version(major, 0, 0, vec![])),
            Comparator::new(Operator::Lt, p.version(major + 1, 0, 0, zero_pre())),
        ],
        Some(minor) => vec![
            Comparator::new(Operator::Ge, p.version(major, minor, 0, vec![])),
            Comparator::new(Operator::Lt, p.version(major, minor + 1, 0, zero_pre())),
        ],
    }
}

fn hyphen(from: &Partial, to: &Partial) -> Vec<Comparator> {
    let mut set = Vec::new();
    if let Some(major) = from.major {
        let lower = match (from.minor, from.patch) {
            (None, _) => from.version(major, 0, 0, vec![]),
            (Some(minor), None) => from.version(major, minor, 0, vec![]),
            (Some(minor), Some(patch)) => from.version(major, minor, patch, from.pre.clone()),
        };
        set.push(Comparator::new(Operator::Ge, lower));
    }
    if let Some(major) = to.major {
        let upper = match (to.minor, to.patch) {
            (None, _) => Comparator::new(Operator::Lt, to.version(major + 1, 0, 0, zero_pre())),
            (Some(minor), None) => {
                Comparator::new(Operator::Lt, to.version(major, minor + 1, 0, zero_pre()))
            }
            (Some(minor), Some(patch)) => Comparator::new(
                Operator::Le,
                to.version(major, minor, patch, to.pre.clone()),
            ),
        };
        set.push(upper);
    }
    if set.is_empty() {
        set.push(Comparator::any());
    }
    set
}
