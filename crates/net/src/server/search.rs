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
    let (text, size) = super::request::parse_search_query(query);
    let mut ranked: Vec<(usize, &str)> = catalog
        .names()
        .map(|name| {
            let score = if text.is_empty() || name.contains(text.as_str()) {
                0
            } else {
                1 + edit_distance(&text, name)
            };
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
    json_response(
        StatusCode::OK,
        Bytes::from(body.to_string()),
        "application/json",
    )
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
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_edit_distance() {
        assert_eq!(edit_distance("utill", "util"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
