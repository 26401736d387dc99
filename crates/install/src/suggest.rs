//! "Did you mean …?": the nearest known name to a mistyped one, by edit distance.
//!
//! The distance is Levenshtein's (insert, delete, substitute) plus the swap of two adjacent
//! characters counted as one edit (the "optimal string alignment" variant), because swapped
//! letters (`biuld`) are the most common typo and plain Levenshtein charges them two.

/// The edit distance between `a` and `b`, counted in characters (not bytes).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic-programming table: two back (for swaps), previous, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let substitution = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + substitution);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The candidate nearest to `typed`, if one is close enough to be what was meant: at most a
/// third of the longer name's characters edited (at least one). Ties go to the candidate that
/// comes first in `candidates`, so callers pass them in a stable order.
pub fn closest<'a, I>(typed: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let typed_len = typed.chars().count();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == typed {
            continue;
        }
        let distance = edit_distance(typed, candidate);
        let allowed = (typed_len.max(candidate.chars().count()) / 3).max(1);
        if distance <= allowed && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| name)
}

/// ` (did you mean `name`?)` when a candidate is close to `typed`, else the empty string: ready
/// to append to a one-line error.
pub fn did_you_mean<'a, I>(typed: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match closest(typed, candidates) {
        Some(name) => format!(" (did you mean `{name}`?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits_and_swaps() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("build", "build"), 0);
        assert_eq!(
            edit_distance("biuld", "build"),
            1,
            "adjacent swap is one edit"
        );
        assert_eq!(edit_distance("instal", "install"), 1);
        assert_eq!(edit_distance("tset", "test"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("héllo", "hello"), 1, "characters, not bytes");
    }

    #[test]
    fn distance_is_symmetric() {
        for (a, b) in [
            ("lint", "list"),
            ("react-dom", "react"),
            ("x", "xyz"),
            ("dev", "deploy"),
        ] {
            assert_eq!(edit_distance(a, b), edit_distance(b, a), "{a} / {b}");
        }
    }

    #[test]
    fn closest_picks_the_nearest_close_enough_name() {
        let scripts = ["build", "dev", "lint", "test"];
        assert_eq!(closest("biuld", scripts), Some("build"));
        assert_eq!(closest("tets", scripts), Some("test"));
        assert_eq!(closest("lnt", scripts), Some("lint"));
        assert_eq!(closest("deploy", scripts), None, "too far from everything");
        assert_eq!(
            closest("x", ["y", "ab"]),
            Some("y"),
            "one edit is always allowed"
        );
        assert_eq!(
            closest("build", ["build"]),
            None,
            "an exact match is not a suggestion"
        );
        assert_eq!(closest("anything", std::iter::empty()), None);
    }

    #[test]
    fn ties_go_to_the_first_candidate() {
        assert_eq!(closest("lisp", ["list", "lisa"]), Some("list"));
        assert_eq!(closest("lisp", ["lisa", "list"]), Some("lisa"));
    }

    #[test]
    fn did_you_mean_is_a_ready_suffix() {
        assert_eq!(did_you_mean("tset", ["test"]), " (did you mean `test`?)");
        assert_eq!(did_you_mean("zzzzzz", ["test"]), "");
    }
}
