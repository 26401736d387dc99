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
