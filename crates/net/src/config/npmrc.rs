//! The `.npmrc` file format as npm reads it: `key = value` lines, `#`/`;` comments, quoted
//! values, and `${VAR}` (or `${VAR?}`, empty when unset) expansion in keys and values.

use std::path::Path;

use crate::NetError;

/// One `key = value` setting and where it came from (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Setting {
    pub(crate) key: String,
    pub(crate) value: String,
}

/// Parses `.npmrc` text. `origin` names the file in errors; `env` resolves `${VAR}`.
pub(crate) fn parse(
    text: &str,
    origin: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Setting>, NetError> {
    let mut settings = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with(';')
            || line.starts_with('[')
        {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = expand(key.trim(), origin, index + 1, env)?;
        let key = key.trim_end_matches("[]").to_owned();
        let value = unquote(value.trim());
        let value = expand(&value, origin, index + 1, env)?;
        settings.push(Setting { key, value });
    }
    Ok(settings)
}

fn unquote(value: &str) -> String {
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        // npm's ini reader JSON-parses double-quoted values.
        serde_json::from_str::<String>(value)
            .unwrap_or_else(|_| value[1..value.len() - 1].to_owned())
    } else if value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'') {
        value[1..value.len() - 1].to_owned()
    } else {
        value.to_owned()
    }
}

/// Replaces `${NAME}` and `${NAME?}`; an unset `${NAME}` is an error naming the file, line and
/// variable (never a value).
fn expand(
    text: &str,
    origin: &Path,
    line: usize,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, NetError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let escaped = start > 0 && rest.as_bytes()[start - 1] == b'\\';
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + 2 + len];
        if escaped {
            out.push_str(&rest[..start - 1]);
            out.push_str(&rest[start..start + 3 + len]);
        } else {
            out.push_str(&rest[..start]);
            let (name, optional) = match inner.strip_suffix('?') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            match env(name) {
                Some(value) => out.push_str(&value),
                None if optional => {}
                None => {
                    return Err(NetError::BadRegistryUrl {
                        url: format!("${{{name}}}"),
                        origin: format!("{}:{line}", origin.display()),
                        reason: format!("environment variable {name} is not set"),
                    });
                }
            }
        }
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_owned())
    }

    #[test]
    fn parses_comments_quotes_and_expansion() {
        let text = "# comment\n; other\nregistry = \"http://127.0.0.1:1/\"\n//127.0.0.1:1/:_authToken=${TOKEN}\nempty=${MISSING?}\n@s:registry='http://127.0.0.1:2'\n";
        let settings = parse(text, Path::new(".npmrc"), &env).unwrap();
        let pairs: Vec<(&str, &str)> = settings
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("registry", "http://127.0.0.1:1/"),
                ("//127.0.0.1:1/:_authToken", "s3cret"),
                ("empty", ""),
                ("@s:registry", "http://127.0.0.1:2"),
            ]
        );
    }

    #[test]
    fn unset_variable_is_an_error_naming_file_and_variable() {
        let err = parse("x=${NOPE}", Path::new("/p/.npmrc"), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("NOPE") && err.contains("/p/.npmrc:1"), "{err}");
    }

    #[test]
    fn escaped_expansion_is_kept_literally() {
        let settings = parse("x=\\${TOKEN}", Path::new(".npmrc"), &env).unwrap();
        assert_eq!(settings[0].value, "${TOKEN}");
    }
}
