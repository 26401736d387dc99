//! Cases from node-semver's README ("Ranges", "Prerelease Tags", "X-Ranges", "Tilde", "Caret",
//! "Hyphen Ranges") and from its behaviour with `loose: true`.

use super::*;

fn v(s: &str) -> Version {
    Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn r(s: &str) -> Range {
    Range::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn check(range: &str, yes: &[&str], no: &[&str]) {
    let parsed = r(range);
    for y in yes {
        assert!(
            parsed.satisfies(&v(y)),
            "{y} should satisfy {range} ({parsed})"
        );
    }
    for n in no {
        assert!(
            !parsed.satisfies(&v(n)),
            "{n} should not satisfy {range} ({parsed})"
        );
    }
}

fn desugars(range: &str, expected: &str) {
    assert_eq!(r(range).to_string(), expected, "desugaring of {range:?}");
}

#[test]
fn readme_ranges() {
    check(
        ">=1.2.7",
        &["1.2.7", "1.2.8", "2.5.3", "1.3.9"],
        &["1.2.6", "1.1.0"],
    );
    check(
        ">=1.2.7 <1.3.0",
        &["1.2.7", "1.2.8", "1.2.99"],
        &["1.2.6", "1.3.0", "1.1.0"],
    );
    check(
        "1.2.7 || >=1.2.9 <2.0.0",
        &["1.2.7", "1.2.9", "1.4.6"],
        &["1.2.8", "2.0.0"],
    );
}

#[test]
fn readme_prerelease_tags() {
    check(
        ">1.2.3-alpha.3",
        &["1.2.3-alpha.7", "3.4.5"],
        &["3.4.5-alpha.9", "1.2.3-alpha.2"],
    );
    // includePrerelease lifts the tuple gate only.
    let range = r(">1.2.3-alpha.3");
    assert!(range.satisfies_including_prerelease(&v("3.4.5-alpha.9")));
    assert!(!r("^1.0.0").satisfies(&v("1.5.0-beta")));
    assert!(r("^1.0.0").satisfies_including_prerelease(&v("1.5.0-beta")));
}

#[test]
fn readme_hyphen_ranges() {
    desugars("1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4");
    desugars("1.2 - 2.3.4", ">=1.2.0 <=2.3.4");
    desugars("1.2.3 - 2.3", ">=1.2.3 <2.4.0-0");
    desugars("1.2.3 - 2", ">=1.2.3 <3.0.0-0");
    check("1.2.3 - 2.3", &["2.3.9"], &["2.4.0", "1.2.2"]);
    check("1.2.3 - 2", &["2.99.99"], &["3.0.0"]);
}

#[test]
fn readme_x_ranges() {
    desugars("*", "*");
    desugars("1.x", ">=1.0.0 <2.0.0-0");
    desugars("1.2.x", ">=1.2.0 <1.3.0-0");
    desugars("", "*");
    desugars("1", ">=1.0.0 <2.0.0-0");
    desugars("1.2", ">=1.2.0 <1.3.0-0");
    desugars("1.X", ">=1.0.0 <2.0.0-0");
    desugars("1.2.*", ">=1.2.0 <1.3.0-0");
    check("*", &["0.0.0", "99.0.0"], &["1.0.0-beta"]);
    check("", &["1.0.0"], &["1.0.0-rc.1"]);
}

#[test]
fn primitive_x_ranges_with_operators() {
    desugars("<1.2", "<1.2.0-0");
    desugars(">1.2", ">=1.3.0");
    desugars("<=1.2", "<1.3.0-0");
    desugars(">1", ">=2.0.0");
    desugars(">=1.x", ">=1.0.0");
    desugars(">*", "<0.0.0-0");
    desugars("=1.2", ">=1.2.0 <1.3.0-0");
    check("<1.2", &["1.1.99"], &["1.2.0", "1.2.0-beta"]);
}

#[test]
fn readme_tilde_ranges() {
    desugars("~1.2.3", ">=1.2.3 <1.3.0-0");
    desugars("~1.2", ">=1.2.0 <1.3.0-0");
    desugars("~1", ">=1.0.0 <2.0.0-0");
    desugars("~0.2.3", ">=0.2.3 <0.3.0-0");
    desugars("~0.2", ">=0.2.0 <0.3.0-0");
    desugars("~0", ">=0.0.0 <1.0.0-0");
    desugars("~1.2.3-beta.2", ">=1.2.3-beta.2 <1.3.0-0");
    desugars("~>1.2.3", ">=1.2.3 <1.3.0-0");
    desugars("~ 1.2.3", ">=1.2.3 <1.3.0-0");
    check(
        "~1.2.3-beta.2",
        &["1.2.3-beta.4", "1.2.3", "1.2.9"],
        &["1.2.4-beta.2", "1.3.0"],
    );
}

#[test]
fn readme_caret_ranges() {
    desugars("^1.2.3", ">=1.2.3 <2.0.0-0");
    desugars("^0.2.3", ">=0.2.3 <0.3.0-0");
    desugars("^0.0.3", ">=0.0.3 <0.0.4-0");
    desugars("^1.2.3-beta.2", ">=1.2.3-beta.2 <2.0.0-0");
    desugars("^0.0.3-beta", ">=0.0.3-beta <0.0.4-0");
    desugars("^1.2.x", ">=1.2.0 <2.0.0-0");
    desugars("^0.0.x", ">=0.0.0 <0.1.0-0");
    desugars("^0.0", ">=0.0.0 <0.1.0-0");
    desugars("^1.x", ">=1.0.0 <2.0.0-0");
    desugars("^0.x", ">=0.0.0 <1.0.0-0");
    desugars("^ 1.2", ">=1.2.0 <2.0.0-0");
    check(
        "^1.2.3-beta.2",
        &["1.2.3-beta.4", "1.9.9"],
        &["1.2.4-beta.2", "2.0.0", "1.2.3-beta.1"],
    );
    check(
        "^0.0.3-beta",
        &["0.0.3-pr.2", "0.0.3"],
        &["0.0.4", "0.0.4-beta"],
    );
    check("^0.2.3", &["0.2.9"], &["0.3.0"]);
}

#[test]
fn comparator_spacing_and_junk() {
    check(">= 1.2.3 < 2", &["1.5.0"], &["2.0.0", "1.2.2"]);
    // loose parsing drops comparators it cannot read, as node-semver does
    check(">=1.0.0 junk", &["1.0.0"], &["0.9.0"]);
    assert!(Range::parse("next").is_err());
    assert!(Range::parse("latest").is_err());
    assert!(Range::parse("1.x || junk").is_ok());
}

#[test]
fn prerelease_ordering_follows_the_spec() {
    let order = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
    ];
    for pair in order.windows(2) {
        assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
    }
}

#[test]
fn build_metadata_is_ignored() {
    assert_eq!(v("1.2.3+build.5"), v("1.2.3"));
    assert!(satisfies("1.2.3+build", "1.2.3"));
    assert!(satisfies("1.2.3+build", "^1.2.3"));
    assert_eq!(v("1.2.3-rc.1+b.2").to_string(), "1.2.3-rc.1+b.2");
}

#[test]
fn loose_versions_from_old_packuments() {
    assert_eq!(v("v1.2.3").to_string(), "1.2.3");
    assert_eq!(v("=1.2.3").to_string(), "1.2.3");
    assert_eq!(v("  1.2.3 ").to_string(), "1.2.3");
    assert_eq!(v("1.2.3beta").to_string(), "1.2.3-beta");
    assert_eq!(v("01.02.03").to_string(), "1.2.3");
    assert!(Version::parse_strict("01.2.3").is_err());
    assert!(Version::parse_strict("1.2.3beta").is_err());
    assert!(Version::parse_strict("v1.2.3").is_ok());
    assert!(Version::parse("1.2").is_err());
    assert!(Version::parse("1.2.3.4").is_err());
    assert!(Version::parse("9007199254740992.0.0").is_err());
}

#[test]
fn exact_versions_and_equals() {
    check("1.2.3", &["1.2.3"], &["1.2.4", "1.2.3-beta"]);
    check("=1.2.3", &["1.2.3"], &["1.2.4"]);
    check("v1.2.3", &["1.2.3"], &["1.2.2"]);
    check("1.2.3-beta.1", &["1.2.3-beta.1"], &["1.2.3-beta.2"]);
}

#[test]
fn or_sets_with_any_collapse_to_any() {
    desugars("1.x || *", "*");
    desugars(">*|| 1.x", ">=1.0.0 <2.0.0-0");
    check(
        "^15.0.0 || ^16.0.0",
        &["15.7.0", "16.14.0"],
        &["17.0.0", "18.2.0"],
    );
}

#[test]
fn min_version_matches_node_semver() {
    let mv = |s: &str| r(s).min_version().map(|v| v.to_string());
    assert_eq!(mv("^1.2.3").as_deref(), Some("1.2.3"));
    assert_eq!(mv(">1.2.3").as_deref(), Some("1.2.4"));
    assert_eq!(mv("*").as_deref(), Some("0.0.0"));
    assert_eq!(mv("<1.0.0").as_deref(), Some("0.0.0"));
    assert_eq!(mv("2.x || 1.x").as_deref(), Some("1.0.0"));
    assert_eq!(mv(">*").as_deref(), None);
}
