//! `GET /-/v1/search?text=…&size=N`: the npm search API's shape
//! (`{objects: [{package: {name, version}}], total}`), over the names the directory serves.
//! Names containing the text rank first, then names by edit distance, so a typo finds the
//! package that was meant.

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::json;

use super::catalog::Catalog;
use super::{ResponseBody, json_response};

/// Answers a search request whose query string is `query`.
pub(super) fn search(catalog: &Catalog, query: Option<&str>) -> hyper::Response<ResponseBody> {
    let mut text = String::new();
    let mut size = 20usize;
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "text" => text = value.to_lowercase(),
            "size" => size = value.parse().unwrap_or(20).clamp(1, 250),
            _ => {}
        }
    }
    let mut ranked: Vec<(usize, &str)> = catalog
        .names()
        .map(|name| {
            let score = if text.is_empty() || name.contains(text.as_str()) { 0 } else { 1 + edit_distance(&text, name) };
            (score, name)
        })
        .collect();
    ranked.sort();
    let objects: Vec<_> = ranked
        .iter()
        .take(size)
        .map(|(_, name)| json!({ "package": { "name": name, "version": catalog.dist_tags(name).get("latest") } }))
        .collect();
    let body = json!({ "objects": objects, "total": ranked.len() });
    json_response(StatusCode::OK, Bytes::from(body.to_string()), "application/json")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb { previous } else { 1 + previous.min(row[j]).min(row[j + 1]) };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_measures() {
        assert_eq!(percent_decode("%40s%2Fa+b"), "@s/a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(edit_distance("utill", "util"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
