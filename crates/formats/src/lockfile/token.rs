//! Tokens of a `dx.lock` line: bare words, or double-quoted strings with escapes.
//!
//! A string is written bare only when a reader cannot misread it: non-empty, no whitespace,
//! no control characters, no `"`, `#` or `\`. Everything else is quoted, and inside quotes
//! `\\`, `\"`, `\n`, `\r`, `\t` and `\u{HEX}` (any other control or non-space whitespace
//! character) are the only escapes, so a quoted string never spans lines.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` forces quoting of a string that contains it.
fn needs_quote(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '"' | '#' | '\\')
}

/// Appends `s` to `out` as one token, quoted if needed.
pub(crate) fn push_token(out: &mut String, s: &str) {
    // Fast path for the common all-ASCII case; the char test decides the rest.
    let plain_ascii = s
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'#' | b'\\'));
    if !s.is_empty() && (plain_ascii || !s.chars().any(needs_quote)) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Splits the content of one line (indentation already removed) into tokens, appended to
/// `tokens`.
///
/// Tokens are separated by spaces or tabs; the error is a message without the line number,
/// which the caller adds.
pub(crate) fn tokenize<'t>(line: &'t str, tokens: &mut Vec<Cow<'t, str>>) -> Result<(), String> {
    // Byte scanning: every delimiter is ASCII, so each index we slice at is a char boundary.
    let bytes = line.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        if i == bytes.len() {
            return Ok(());
        }
        if bytes[i] == b'"' {
            let (value, after) = unquote(&line[i + 1..])?;
            if !(after.is_empty() || after.starts_with([' ', '\t'])) {
                return Err(
                    "a closing quote must be followed by a space or the end of the line".into(),
                );
            }
            tokens.push(Cow::Owned(value));
            i = line.len() - after.len();
        } else {
            let start = i;
            let len = bytes[start..]
                .iter()
                .position(|&b| matches!(b, b' ' | b'\t' | b'"'))
                .unwrap_or(bytes.len() - start);
            i = start + len;
            if bytes.get(i) == Some(&b'"') {
                let word = line[start..].split([' ', '\t']).next().unwrap_or_default();
                return Err(format!("stray quote in `{word}`: quote the whole value"));
            }
            tokens.push(Cow::Borrowed(&line[start..i]));
        }
    }
}

/// Reads a quoted string whose opening quote is already consumed; returns the value and the
/// text after the closing quote.
fn unquote(s: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &s[i + 1..])),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    '"' => value.push('"'),
                    '\\' => value.push('\\'),
                    'n' => value.push('\n'),
                    'r' => value.push('\r'),
                    't' => value.push('\t'),
                    'u' => {
                        let rest = chars.as_str();
                        let hex = rest
                            .strip_prefix('{')
                            .and_then(|r| r.split_once('}'))
                            .map(|(hex, _)| hex)
                            .ok_or("expected `\\u{HEX}`")?;
                        let ch = (hex.len() <= 6)
                            .then(|| u32::from_str_radix(hex, 16).ok())
                            .flatten()
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("invalid escape `\\u{{{hex}}}`"))?;
                        value.push(ch);
                        // Skip `{`, the digits and `}`: all ASCII, one byte each.
                        for _ in 0..hex.len() + 2 {
                            chars.next();
                        }
                    }
                    other => return Err(format!("unknown escape `\\{other}` in a quoted string")),
                }
            }
            c => value.push(c),
        }
    }
    Err("unterminated quoted string".into())
}
