//! bun.lock is JSON with trailing commas (JSONC). [`to_json`] removes the trailing commas and
//! `//` / `/* */` comments outside strings, so serde_json can read it.

/// `text` with comments and trailing commas removed.
pub fn to_json(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    // A comma seen outside a string, held back until the next significant character decides.
    let mut pending_comma = false;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            let ch = text[i..].chars().next().unwrap_or('\0');
            out.push(ch);
            if c == b'\\' {
                if let Some(next) = text[i + 1..].chars().next() {
                    out.push(next);
                    i += 1 + next.len_utf8();
                    continue;
                }
            } else if c == b'"' {
                in_string = false;
            }
            i += ch.len_utf8();
            continue;
        }
        match c {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b',' => {
                if pending_comma {
                    out.push(',');
                }
                pending_comma = true;
                i += 1;
            }
            b' ' | b'\t' | b'\r' | b'\n' => {
                out.push(c as char);
                i += 1;
            }
            _ => {
                if pending_comma && c != b'}' && c != b']' {
                    out.push(',');
                }
                pending_comma = false;
                if c == b'"' {
                    in_string = true;
                }
                let ch = text[i..].chars().next().unwrap_or('\0');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    if pending_comma {
        out.push(',');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_trailing_commas_and_comments_not_strings() {
        let text = "{ // c\n \"a\": [1, 2,], /* x */ \"b\": \"x,}//\",\n}";
        let v: serde_json::Value = serde_json::from_str(&to_json(text)).expect("valid");
        assert_eq!(v["a"], serde_json::json!([1, 2]));
        assert_eq!(v["b"], "x,}//");
        assert!(serde_json::from_str::<serde_json::Value>(&to_json("[1,,2]")).is_err());
    }
}
