//! The one home of npm's string order. npm sorts names, paths and (in `npm ls`) `name@version`
//! ids with `localeCompare(…, 'en')` (ICU root collation), not by bytes:
//! punctuation sorts before digits and letters, `_` before `-` before `.` before `@` before `/`,
//! and letters compare case-insensitively first. Ordering decides which of two conflicting
//! versions gets the hoisted spot, so it must match.

use std::cmp::Ordering;

const PUNCT: &[u8] = b"_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";

/// Primary weights of ASCII in ICU's root collation: whitespace, then punctuation in ICU's
/// order, then digits, then letters (case folded). Built once at compile time.
const ASCII_WEIGHTS: [u16; 128] = {
    let mut table = [0u16; 128];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        table[c] = if b == b' ' || b == b'\t' || b == b'\n' || b == b'\r' {
            1 + c as u16
        } else if b.is_ascii_digit() {
            300 + c as u16
        } else if b.is_ascii_alphabetic() {
            400 + b.to_ascii_lowercase() as u16
        } else {
            let mut i = 0;
            let mut w = 600 + c as u16; // control characters and anything unlisted
            while i < PUNCT.len() {
                if PUNCT[i] == b {
                    w = 100 + i as u16;
                }
                i += 1;
            }
            w
        };
        c += 1;
    }
    table
};

/// A character's primary weight: ASCII by table, anything else after all of ASCII, by code
/// point (the order [`collation_key`] encodes).
fn primary_weight(c: char) -> u32 {
    if c.is_ascii() {
        u32::from(ASCII_WEIGHTS[c as usize])
    } else {
        1000 + c as u32
    }
}

/// `a.localeCompare(b, 'en')` for package names and install paths: the order of their
/// [`collation_key`]s, computed without building them (primary weights first, then the text
/// with letter case swapped).
pub fn locale_compare(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let primary = a
        .chars()
        .map(primary_weight)
        .cmp(b.chars().map(primary_weight));
    let swap = |b: u8| if b.is_ascii_alphabetic() { b ^ 0x20 } else { b };
    primary.then_with(|| a.bytes().map(swap).cmp(b.bytes().map(swap)))
}

/// A byte string whose plain byte order is [`locale_compare`]'s order, for sorting many strings
/// (computed once per string, compared with `memcmp`): primary weights, then the text with
/// letter case swapped so that lowercase sorts first at equal primary weight.
///
/// Weights are written as a prefix-free code whose byte order is the weights' order: an ASCII
/// weight (1..=727) as two bytes (first byte 0..=2), any other character as `0x04` and its code
/// point in three bytes (all of them weigh more than ASCII), then the terminator `0, 0`, which
/// sorts before every weight.
pub fn collation_key(s: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(s.len() * 3 + 2);
    for c in s.chars() {
        if c.is_ascii() {
            key.extend_from_slice(&ASCII_WEIGHTS[c as usize].to_be_bytes());
        } else {
            let [_, a, b, c] = (c as u32).to_be_bytes();
            key.extend_from_slice(&[0x04, a, b, c]);
        }
    }
    key.extend_from_slice(&[0, 0]);
    for b in s.bytes() {
        key.push(if b.is_ascii_alphabetic() { b ^ 0x20 } else { b });
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The order the key encodes, spelled out: the sequence of primary weights (ASCII by
    /// table, anything else after ASCII by code point), then the case-swapped bytes.
    fn reference_order(a: &str, b: &str) -> Ordering {
        let weights = |s: &str| -> Vec<u32> {
            s.chars()
                .map(|c| {
                    if c.is_ascii() {
                        u32::from(ASCII_WEIGHTS[c as usize])
                    } else {
                        1000 + c as u32
                    }
                })
                .collect()
        };
        let swapped = |s: &str| -> Vec<u8> {
            s.bytes()
                .map(|b| if b.is_ascii_alphabetic() { b ^ 0x20 } else { b })
                .collect()
        };
        weights(a)
            .cmp(&weights(b))
            .then_with(|| swapped(a).cmp(&swapped(b)))
    }

    proptest! {
        #[test]
        fn key_order_is_weight_order_then_case(a in "[ -~é中@/._-]{0,12}", b in "[ -~é中@/._-]{0,12}") {
            prop_assert_eq!(collation_key(&a).cmp(&collation_key(&b)), reference_order(&a, &b));
        }

        #[test]
        fn compare_is_key_order(a in "[ -~é中@/._-]{0,12}", b in "[ -~é中@/._-]{0,12}") {
            prop_assert_eq!(locale_compare(&a, &b), collation_key(&a).cmp(&collation_key(&b)));
        }

        #[test]
        fn a_prefix_sorts_first(a in "[ -~é中]{0,8}", rest in "[ -~é中]{1,4}") {
            let longer = format!("{a}{rest}");
            prop_assert_eq!(collation_key(&a).cmp(&collation_key(&longer)), Ordering::Less);
        }
    }

    #[test]
    fn punctuation_before_digits_before_letters() {
        let mut names = vec!["ab", "a1", "a_b", "a-b", "a.b", "@s/a", "A", "a"];
        names.sort_by(|a, b| locale_compare(a, b));
        assert_eq!(
            names,
            vec!["@s/a", "a", "A", "a_b", "a-b", "a.b", "a1", "ab"]
        );
    }

    #[test]
    fn package_ids_sort_as_npm_ls_sorts_them() {
        // The orders `Intl.Collator('en')` gives, which `npm ls` uses for `name@version`.
        let mut ids = [
            "postcss@8.5.33",
            "postcss-value-parser@4.2.0",
            "ab@1",
            "a@1",
            "a.b@1",
            "a-b@1",
            "a_b@1",
            "@types/node@1",
            "Abc@1",
            "a@10.0.0",
            "a@9.0.0",
        ];
        ids.sort_by(|a, b| locale_compare(a, b));
        assert_eq!(
            ids,
            [
                "@types/node@1",
                "a_b@1",
                "a-b@1",
                "a.b@1",
                "a@1",
                "a@10.0.0",
                "a@9.0.0",
                "ab@1",
                "Abc@1",
                "postcss-value-parser@4.2.0",
                "postcss@8.5.33"
            ]
        );
    }
}
