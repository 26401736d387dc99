//! npm-pick-manifest's choice of a version for a range or a tag.

use crate::packument::Packument;
use crate::semver::{Range, Version};
use crate::spec::DependencySpec;

/// The version npm would pick for `request` (a range or a tag), optionally also requiring
/// `also` (used when a peer must fit its requester's range too). Returns the packument's own
/// version key.
pub(crate) fn pick_version(
    packument: &Packument,
    request: &DependencySpec,
    also: Option<&Range>,
) -> Option<String> {
    let range = match request {
        DependencySpec::Tag(tag) => {
            let v = packument.dist_tags.get(tag)?;
            return packument.versions.contains_key(v).then(|| v.clone());
        }
        DependencySpec::Range(r) => r,
        _ => return None,
    };
    let star = range.is_any();
    let also_ok = |v: &Version| also.is_none_or(|a| a.satisfies(v));
    if let Some(latest) = packument.dist_tags.get("latest") {
        if let (Ok(v), Some(m)) = (Version::parse(latest), packument.versions.get(latest)) {
            if (star || range.satisfies(&v)) && also_ok(&v) && m.deprecated.is_none() {
                return Some(latest.clone());
            }
        }
    }
    let mut best: Option<(bool, Version, &String)> = None;
    for (raw, manifest) in &packument.versions {
        let Ok(v) = Version::parse(raw) else { continue };
        if !range.satisfies(&v) || !also_ok(&v) {
            continue;
        }
        let not_deprecated = manifest.deprecated.is_none();
        let better = match &best {
            None => true,
            Some((nd, bv, _)) => (not_deprecated, &v) > (*nd, bv),
        };
        if better {
            best = Some((not_deprecated, v, raw));
        }
    }
    best.map(|(_, _, raw)| raw.clone())
}
