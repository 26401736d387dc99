//! npm-pick-manifest's choice of a version for a range or a tag.

use std::collections::HashMap;

use crate::packument::Packument;
use crate::semver::{Range, Version};
use crate::spec::DependencySpec;

/// Whether a version whose `engines.node` is `engines_node` suits `node` (npm-pick-manifest's
/// `engineOk`, which includes prereleases and treats a range it cannot parse as unmet). With no
/// known node, every version is acceptable. `engines.npm` is not checked: dx is not npm.
fn engine_ok(engines_node: Option<&str>, node: Option<&Version>) -> bool {
    let (Some(node), Some(range)) = (node, engines_node) else {
        return true;
    };
    Range::parse(range).is_ok_and(|r| r.satisfies_including_prerelease(node))
}

/// The version a table entry names: a plain release carries its numbers in the index, so
/// nothing is parsed; anything else is parsed (loosely, as npm does); `None` if it is not one.
fn version_of(entry: &crate::packument::VersionEntry<'_>) -> Option<Version> {
    match entry.release {
        Some((major, minor, patch)) => Some(Version::new(major, minor, patch)),
        None => Version::parse(entry.version).ok(),
    }
}

/// The version npm would pick for `request` (a range or a tag), optionally also requiring
/// `also` (used when a peer must fit its requester's range too), for a project run by `node`.
/// Returns the packument's own version key.
///
/// npm's order: the `latest` tag when it satisfies, is not deprecated and suits the engine;
/// else the satisfying versions ranked by (not deprecated and engine-ok), engine-ok, not
/// deprecated, then highest version. Reads only the version table (no manifest is decoded).
pub(crate) fn pick_version<'p>(
    packument: &'p Packument,
    request: &DependencySpec,
    also: Option<&Range>,
    node: Option<&Version>,
) -> Option<String> {
    let range = match request {
        DependencySpec::Tag(tag) => {
            let v = packument.dist_tags.get(tag)?;
            return packument.contains(v).then(|| v.clone());
        }
        DependencySpec::Range(r) => r,
        _ => return None,
    };
    let star = range.is_any();
    let also_ok = |v: &Version| also.is_none_or(|a| a.satisfies(v));
    // `engines.node` ranges repeat across versions: each distinct one is parsed once.
    let mut engines: HashMap<&str, bool> = HashMap::new();
    let mut engine_ok = |engines_node: Option<&'p str>| -> bool {
        match engines_node {
            None => true,
            Some(r) => *engines.entry(r).or_insert_with(|| engine_ok(Some(r), node)),
        }
    };
    if let Some(latest) = packument.dist_tags.get("latest")
        && let Some(entry) = packument.entry(latest)
        && let Some(v) = version_of(&entry)
        && (star || range.satisfies(&v))
        && also_ok(&v)
        && !entry.deprecated
        && engine_ok(entry.engines_node)
    {
        return Some(latest.clone());
    }
    let mut best: Option<((bool, bool, bool), Version, &str)> = None;
    // A prerelease satisfies only a range with a prerelease comparator on its numbers: skip
    // the others unparsed (react's packument has thousands of canaries).
    let prerelease_numbers = range.prerelease_numbers();
    for entry in packument.versions() {
        if let Some(numbers) = entry.prerelease
            && !prerelease_numbers.contains(&numbers)
        {
            continue;
        }
        let Some(v) = version_of(&entry) else {
            continue;
        };
        if !range.satisfies(&v) || !also_ok(&v) {
            continue;
        }
        let not_deprecated = !entry.deprecated;
        let engine = engine_ok(entry.engines_node);
        let rank = (not_deprecated && engine, engine, not_deprecated);
        let better = match &best {
            None => true,
            Some((best_rank, bv, _)) => (rank, &v) > (*best_rank, bv),
        };
        if better {
            best = Some((rank, v, entry.version));
        }
    }
    best.map(|(_, _, raw)| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packument(json: serde_json::Value) -> Packument {
        serde_json::from_value(json).expect("test packument parses")
    }

    #[test]
    fn an_engine_the_node_does_not_meet_is_avoided_unless_nothing_else_fits() {
        let p = packument(serde_json::json!({
            "name": "a",
            "dist-tags": {"latest": "1.2.0"},
            "versions": {
                "1.0.0": {"name": "a", "version": "1.0.0"},
                "1.1.0": {"name": "a", "version": "1.1.0", "engines": {"node": ">=18"}},
                "1.2.0": {"name": "a", "version": "1.2.0", "engines": {"node": ">=22"}},
                "2.0.0": {"name": "a", "version": "2.0.0", "engines": {"node": ">=99"}}
            }
        }));
        let node = Version::parse("20.1.0").expect("version");
        let caret1 = DependencySpec::Range(Range::parse("^1.0.0").expect("range"));
        let caret2 = DependencySpec::Range(Range::parse("^2.0.0").expect("range"));
        assert_eq!(
            pick_version(&p, &caret1, None, Some(&node)).as_deref(),
            Some("1.1.0")
        );
        assert_eq!(
            pick_version(&p, &caret1, None, None).as_deref(),
            Some("1.2.0")
        );
        assert_eq!(
            pick_version(&p, &caret2, None, Some(&node)).as_deref(),
            Some("2.0.0")
        );
    }
}

/// The choice made from the whole document, every version key parsed (how dx chose before the
/// metadata index): the reference the index-based [`pick_version`] must agree with.
#[cfg(test)]
mod agreement {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::packument::{RawPackument, VersionManifest};

    fn reference(
        raw: &RawPackument,
        range: &Range,
        also: Option<&Range>,
        node: Option<&Version>,
    ) -> Option<String> {
        let engine_ok =
            |m: &VersionManifest| super::engine_ok(m.engines.get("node").map(String::as_str), node);
        let star = range.is_any();
        let also_ok = |v: &Version| also.is_none_or(|a| a.satisfies(v));
        if let Some(latest) = raw.dist_tags.get("latest")
            && let (Ok(v), Some(m)) = (Version::parse(latest), raw.versions.get(latest))
            && (star || range.satisfies(&v))
            && also_ok(&v)
            && m.deprecated.is_none()
            && engine_ok(m)
        {
            return Some(latest.clone());
        }
        let mut best: Option<((bool, bool, bool), Version, &String)> = None;
        for (key, m) in &raw.versions {
            let Ok(v) = Version::parse(key) else { continue };
            if !range.satisfies(&v) || !also_ok(&v) {
                continue;
            }
            let rank = (
                m.deprecated.is_none() && engine_ok(m),
                engine_ok(m),
                m.deprecated.is_none(),
            );
            if best.as_ref().is_none_or(|(r, bv, _)| (rank, &v) > (*r, bv)) {
                best = Some((rank, v, key));
            }
        }
        best.map(|(_, _, k)| k.clone())
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u64..4, 0u64..4, 0u64..4).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
            (0u64..4, 0u64..3).prop_map(|(a, b)| format!("{a}.{b}.0-rc.{b}")),
            (0u64..4, 0u64..3).prop_map(|(a, b)| format!("v{a}.{b}.1")),
            (0u64..4, 0u64..3).prop_map(|(a, b)| format!("0{a}.{b}.2")),
            (0u64..4, 0u64..3).prop_map(|(a, b)| format!("{a}.{b}.3+build")),
            Just("not-a-version".to_string()),
        ]
    }

    fn raw() -> impl Strategy<Value = RawPackument> {
        let version = (key(), any::<bool>(), prop::option::of(0u8..3));
        (
            prop::collection::vec(version, 0..12),
            prop::option::of(key()),
        )
            .prop_map(|(versions, latest)| {
                let mut raw = RawPackument {
                    name: "p".into(),
                    ..RawPackument::default()
                };
                for (key, deprecated, engine) in versions {
                    let mut engines = BTreeMap::new();
                    if let Some(e) = engine {
                        engines.insert(
                            "node".to_string(),
                            [">=18", "<10", "not a range"][e as usize].to_string(),
                        );
                    }
                    let m = VersionManifest {
                        name: "p".into(),
                        version: key.clone(),
                        deprecated: deprecated.then(|| "old".to_string()),
                        engines,
                        ..VersionManifest::default()
                    };
                    raw.versions.insert(key, m);
                }
                if let Some(l) = latest {
                    raw.dist_tags.insert("latest".into(), l);
                }
                raw
            })
    }

    proptest! {
        #[test]
        fn the_index_chooses_what_the_whole_document_chooses(
            raw in raw(),
            range in prop::sample::select(vec!["*", "^1.0.0", "~2.1", ">=1.2.0 <3", "0.x", "^0.1.0-rc.0", "1.1.1 || 3.x"]),
            also in prop::option::of(prop::sample::select(vec!["^1", ">=2", "*"])),
            node in prop::option::of(prop::sample::select(vec!["20.0.0", "8.0.0"])),
        ) {
            let packument = Packument::from_raw(&raw, &Default::default());
            let range = Range::parse(range).unwrap();
            let also = also.map(|a| Range::parse(a).unwrap());
            let node = node.map(|n| Version::parse(n).unwrap());
            let spec = DependencySpec::Range(range.clone());
            prop_assert_eq!(
                pick_version(&packument, &spec, also.as_ref(), node.as_ref()),
                reference(&raw, &range, also.as_ref(), node.as_ref())
            );
        }
    }
}
