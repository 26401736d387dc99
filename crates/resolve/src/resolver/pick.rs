//! npm-pick-manifest's choice of a version for a range or a tag.

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

/// The version npm would pick for `request` (a range or a tag), optionally also requiring
/// `also` (used when a peer must fit its requester's range too), for a project run by `node`.
/// Returns the packument's own version key.
///
/// npm's order: the `latest` tag when it satisfies, is not deprecated and suits the engine;
/// else the satisfying versions ranked by (not deprecated and engine-ok), engine-ok, not
/// deprecated, then highest version. Reads only the version table (no manifest is decoded).
pub(crate) fn pick_version(
    packument: &Packument,
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
    if let Some(latest) = packument.dist_tags.get("latest")
        && let (Ok(v), Some(entry)) = (Version::parse(latest), packument.entry(latest))
        && (star || range.satisfies(&v))
        && also_ok(&v)
        && !entry.deprecated
        && engine_ok(entry.engines_node, node)
    {
        return Some(latest.clone());
    }
    let mut best: Option<((bool, bool, bool), Version, &str)> = None;
    for entry in packument.versions() {
        let Ok(v) = Version::parse(entry.version) else {
            continue;
        };
        if !range.satisfies(&v) || !also_ok(&v) {
            continue;
        }
        let not_deprecated = !entry.deprecated;
        let engine = engine_ok(entry.engines_node, node);
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
