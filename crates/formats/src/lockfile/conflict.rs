//! dx.lock with git's merge-conflict markers, resolved as Yarn and Bun resolve theirs: both
//! sides are read as locks and merged (every package and every dependency either side
//! records), and the install then resolves again against package.json, keeping the locked
//! versions that still fit, and writes a clean dx.lock.

use std::collections::btree_map::Entry;

use super::{Importer, Lockfile, LockfileError};

/// Whether `text` holds a merge-conflict marker line (`<<<<<<< `): its 1-based line number.
pub fn conflict_marker_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|line| line.starts_with("<<<<<<<"))
        .map(|i| i + 1)
}

/// The two sides of a conflicted text: "ours" (between `<<<<<<<` and `=======`) and "theirs"
/// (between `=======` and `>>>>>>>`), with diff3's base section (`|||||||` to `=======`)
/// dropped and the lines outside the conflicts in both. An unterminated or out-of-order marker
/// is an error naming its line.
pub fn split_conflict(text: &str) -> Result<(String, String), LockfileError> {
    #[derive(PartialEq)]
    enum Part {
        Both,
        Ours,
        Base,
        Theirs,
    }
    let mut ours = String::with_capacity(text.len());
    let mut theirs = String::with_capacity(text.len());
    let mut part = Part::Both;
    let mut opened = 0;
    let marker = |line: usize, message: &str| LockfileError::Syntax {
        line,
        message: format!("merge conflict: {message}"),
    };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.starts_with("<<<<<<<") {
            if part != Part::Both {
                return Err(marker(number, "`<<<<<<<` inside a conflict"));
            }
            part = Part::Ours;
            opened = number;
        } else if line.starts_with("|||||||") && part == Part::Ours {
            part = Part::Base;
        } else if line.starts_with("=======") && matches!(part, Part::Ours | Part::Base) {
            part = Part::Theirs;
        } else if line.starts_with(">>>>>>>") {
            if part != Part::Theirs {
                return Err(marker(number, "`>>>>>>>` without `=======` before it"));
            }
            part = Part::Both;
        } else {
            let sides: (bool, bool) = match part {
                Part::Both => (true, true),
                Part::Ours => (true, false),
                Part::Base => (false, false),
                Part::Theirs => (false, true),
            };
            if sides.0 {
                ours.push_str(line);
                ours.push('\n');
            }
            if sides.1 {
                theirs.push_str(line);
                theirs.push('\n');
            }
        }
    }
    if part != Part::Both {
        return Err(marker(opened, "the conflict opened here is not closed"));
    }
    Ok((ours, theirs))
}

impl Lockfile {
    /// Reads a dx.lock with merge-conflict markers as the union of its two sides (ours first:
    /// where both record the same package or dependency, ours is kept). Each side must be a
    /// valid lock on its own.
    pub fn parse_conflicted(text: &str) -> Result<Lockfile, LockfileError> {
        let (ours, theirs) = split_conflict(text)?;
        let mut merged = Lockfile::parse(&ours)?;
        let theirs = Lockfile::parse(&theirs)?;
        merge_importer(&mut merged.root, theirs.root);
        for (path, workspace) in theirs.workspaces {
            match merged.workspaces.entry(path) {
                Entry::Vacant(slot) => {
                    slot.insert(workspace);
                }
                Entry::Occupied(mut slot) => {
                    merge_importer(&mut slot.get_mut().importer, workspace.importer)
                }
            }
        }
        for (key, package) in theirs.packages {
            merged.packages.entry(key).or_insert(package);
        }
        Ok(merged)
    }
}

fn merge_importer(into: &mut Importer, from: Importer) {
    for (name, edge) in from.edges {
        into.edges.insert_if_absent(name, edge);
    }
    for (name, spec) in from.overrides {
        into.overrides.entry(name).or_insert(spec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_split_with_and_without_a_base() {
        let text = "a\n<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> branch\nb\n";
        assert_eq!(
            split_conflict(text).unwrap(),
            ("a\nours\nb\n".into(), "a\ntheirs\nb\n".into())
        );
        let diff3 = "<<<<<<< HEAD\nours\n||||||| base\nold\n=======\ntheirs\n>>>>>>> b\n";
        assert_eq!(
            split_conflict(diff3).unwrap(),
            ("ours\n".into(), "theirs\n".into())
        );
        assert_eq!(conflict_marker_line("x\n<<<<<<< HEAD\n"), Some(2));
        assert_eq!(conflict_marker_line("x\n"), None);
    }

    #[test]
    fn broken_markers_name_their_line() {
        let unclosed = "a\n<<<<<<< HEAD\nours\n=======\n";
        assert_eq!(split_conflict(unclosed).unwrap_err().line(), 2);
        let stray = "a\n>>>>>>> b\n";
        assert_eq!(split_conflict(stray).unwrap_err().line(), 2);
    }

    proptest::proptest! {
        /// Lines of markers and text in any order split or fail naming a line; never panic.
        #[test]
        fn any_marker_soup_splits_or_fails(lines in proptest::collection::vec("<<<<<<< x|=======|>>>>>>> y|\\|\\|\\|\\|\\|\\|\\||root|  dependency a \\^1 a@1.0.0|", 0..16)) {
            let text = lines.join("\n");
            match split_conflict(&text) {
                Ok((ours, theirs)) => proptest::prop_assert!(!ours.contains("<<<<<<<") && !theirs.contains(">>>>>>>")),
                Err(e) => proptest::prop_assert!(e.line() >= 1),
            }
            let _ = Lockfile::parse_conflicted(&text);
        }
    }
}
