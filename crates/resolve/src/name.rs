//! Which dependency names can be installed: npm's rules for names of existing packages
//! (validate-npm-package-name's `validForOldPackages`, which npm-package-arg enforces on every
//! install with `EINVALIDPACKAGENAME`). Looser than the rules for publishing a new package
//! (uppercase, long names and core module names were once allowed and are still installed),
//! strict where a name would change what node_modules means: `.bin`, `node_modules`, dx's own
//! `.dx-layout`, names with spaces or path separators.

/// Names npm refuses whatever their case.
const EXCLUDED: [&str; 2] = ["node_modules", "favicon.ico"];

/// Why `name` cannot be installed, in npm's words, or `Ok`.
pub fn validate_dependency_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("name length must be greater than zero");
    }
    if name.starts_with('.') {
        return Err("name cannot start with a period");
    }
    if name.starts_with('_') {
        return Err("name cannot start with an underscore");
    }
    if name.trim() != name {
        return Err("name cannot contain leading or trailing spaces");
    }
    if EXCLUDED.iter().any(|x| name.eq_ignore_ascii_case(x)) {
        return Err("name is not a valid package name (reserved)");
    }
    if url_safe(name) {
        return Ok(());
    }
    // `@scope/name`: each part URL-safe, the name not hidden.
    if let Some((scope, bare)) = name.strip_prefix('@').and_then(|rest| rest.split_once('/'))
        && !scope.is_empty()
        && !bare.is_empty()
        && !bare.contains('/')
    {
        if bare.starts_with('.') {
            return Err("name cannot start with a period");
        }
        if url_safe(scope) && url_safe(bare) {
            return Ok(());
        }
    }
    Err("name can only contain URL-friendly characters")
}

/// Why `name` cannot be the name of a new package (what `dx init` writes), or `Ok`: the
/// installable rules plus npm's for publishing (`validForNewPackages`): lowercase, at most 214
/// characters, none of `~'!()*`, a scope that is not empty.
pub fn validate_new_package_name(name: &str) -> Result<(), &'static str> {
    validate_dependency_name(name)?;
    if name.len() > 214 {
        return Err("name can no longer contain more than 214 characters");
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("name can no longer contain capital letters");
    }
    let bare = name.rsplit('/').next().unwrap_or(name);
    if bare
        .bytes()
        .any(|b| matches!(b, b'~' | b'\'' | b'!' | b'(' | b')' | b'*'))
    {
        return Err("name can no longer contain special characters (\"~'!()*\")");
    }
    Ok(())
}

/// What JavaScript's `encodeURIComponent` leaves as it is.
fn url_safe(s: &str) -> bool {
    s.bytes().all(|b| {
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

    #[test]
    fn names_npm_installs_are_accepted() {
        for ok in [
            "react",
            "@types/node",
            "JSONStream",
            "lodash.merge",
            "a-b_c~d",
            "@scope/x.y",
            "http",
            "a".repeat(300).as_str(),
        ] {
            assert_eq!(validate_dependency_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn new_package_names_follow_npm_s_publishing_rules() {
        for ok in ["react", "@types/node", "lodash.merge", "a-b_c"] {
            assert_eq!(validate_new_package_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "JSONStream",
            "a(b)",
            "a~b",
            "",
            ".x",
            "a b",
            &"a".repeat(215),
        ] {
            assert!(validate_new_package_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn names_that_would_change_node_modules_are_refused() {
        for (bad, reason) in [
            ("", "name length must be greater than zero"),
            (".bin", "name cannot start with a period"),
            (".dx-layout", "name cannot start with a period"),
            ("_x", "name cannot start with an underscore"),
            (" x", "name cannot contain leading or trailing spaces"),
            (
                "node_modules",
                "name is not a valid package name (reserved)",
            ),
            (
                "Node_Modules",
                "name is not a valid package name (reserved)",
            ),
            ("a b", "name can only contain URL-friendly characters"),
            ("../x", "name cannot start with a period"),
            ("a/b", "name can only contain URL-friendly characters"),
            ("@s/a/b", "name can only contain URL-friendly characters"),
            ("@s/.bin", "name cannot start with a period"),
            ("@/x", "name can only contain URL-friendly characters"),
            ("/abs", "name can only contain URL-friendly characters"),
            ("é", "name can only contain URL-friendly characters"),
        ] {
            assert_eq!(validate_dependency_name(bad), Err(reason), "{bad:?}");
        }
    }
}
