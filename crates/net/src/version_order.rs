//! Semver precedence, just enough to pick `dist-tags.latest` (the highest version without a
//! prerelease tag) in the registry server. The resolver has the full npm semver semantics;
//! this module must not grow into a second copy of it.

use std::cmp::Ordering;

/// A parsed `major.minor.patch[-prerelease][+build]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ParsedVersion<'a> {
    core: [u64; 3],
    prerelease: Vec<&'a str>,
}

impl<'a> ParsedVersion<'a> {
    /// Parses a version, or `None` when it is not semver.
    pub(crate) fn parse(text: &'a str) -> Option<Self> {
        let text = text.trim().trim_start_matches(['v', '=']);
        let text = text.split('+').next().unwrap_or(text);
        let (core_text, pre) = match text.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (text, None),
        };
        let mut core = [0u64; 3];
        let mut parts = core_text.split('.');
        for slot in &mut core {
            *slot = parts.next()?.parse().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        let prerelease = pre.map(|p| p.split('.').collect()).unwrap_or_default();
        Some(Self { core, prerelease })
    }

    /// Whether the version carries a prerelease tag (`1.0.0-beta.1`).
    pub(crate) fn is_prerelease(&self) -> bool {
        !self.prerelease.is_empty()
    }
}

impl Ord for ParsedVersion<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core.cmp(&other.core).then_with(|| {
            match (self.prerelease.is_empty(), other.prerelease.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.prerelease, &other.prerelease),
            }
        })
    }
}

impl PartialOrd for ParsedVersion<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn compare_prerelease(a: &[&str], b: &[&str]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// The version npm would tag `latest` for a package published in this set: the highest
/// non-prerelease one, else the highest prerelease, else none.
pub(crate) fn default_latest<'a>(versions: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let parsed: Vec<(&str, ParsedVersion<'_>)> = versions
        .into_iter()
        .filter_map(|v| Some((v, ParsedVersion::parse(v)?)))
        .collect();
    let stable = parsed
        .iter()
        .filter(|(_, p)| !p.is_prerelease())
        .max_by(|a, b| a.1.cmp(&b.1));
    stable
        .or_else(|| parsed.iter().max_by(|a, b| a.1.cmp(&b.1)))
        .map(|(v, _)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_skips_prereleases_and_compares_numerically() {
        assert_eq!(
            default_latest(["1.2.0", "1.10.0", "2.0.0-beta.1", "1.9.9"]),
            Some("1.10.0")
        );
        assert_eq!(
            default_latest(["2.0.0-beta.2", "2.0.0-beta.10"]),
            Some("2.0.0-beta.10")
        );
        assert_eq!(default_latest(["not-a-version"]), None);
    }

    #[test]
    fn prerelease_precedence_follows_semver() {
        let order = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for pair in order.windows(2) {
            let a = ParsedVersion::parse(pair[0]).unwrap();
            let b = ParsedVersion::parse(pair[1]).unwrap();
            assert!(a < b, "{} < {}", pair[0], pair[1]);
        }
    }
}
