//! MLflow's rules for metric names, as plain Rust.
//!
//! The rules follow `mlflow.utils.validation._validate_metric_name` and the entity key length
//! limit: a name matches `^[/\w.\- :]*$`, is at most 250 characters long (Python `len`, i.e.
//! code points) and is unchanged by `posixpath.normpath` without resolving to `.` or starting
//! with `..` or `/`.

/// MLflow's `MAX_ENTITY_KEY_LENGTH`.
pub const MAX_KEY_LENGTH: usize = 250;

/// Why a metric name was rejected; `Display` gives MLflow's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// A character outside `[/\w.\- :]`.
    BadCharacter(String),
    /// The name changes (or becomes special) under `posixpath.normpath`: `(key, normpath)`.
    BadPath(String, String),
    /// Longer than [`MAX_KEY_LENGTH`] characters: `(key, length)`.
    TooLong(String, usize),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::BadCharacter(key) => write!(
                f,
                "Invalid metric name: '{key}'. Names may only contain alphanumerics, underscores (_), \
                 dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
            ),
            KeyError::BadPath(key, norm) => write!(
                f,
                "Invalid metric name: '{key}'. Names may be treated as files in certain cases, and \
                 must not resolve to other names when treated as such. This name would resolve to \
                 '{norm}'"
            ),
            KeyError::TooLong(key, n) => write!(
                f,
                "Metric name '{key}' had length {n}, which exceeded length limit of {MAX_KEY_LENGTH}"
            ),
        }
    }
}

/// Python's `\w` in a unicode pattern (approximated by Rust's alphanumeric) plus `/.- :`.
#[inline]
fn is_allowed(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':')
}

/// Checks a metric name against MLflow's rules.
pub fn validate_metric_key(key: &str) -> Result<(), KeyError> {
    if !key.chars().all(is_allowed) {
        return Err(KeyError::BadCharacter(key.to_owned()));
    }
    let norm = posix_normpath(key);
    if norm != key || norm == "." || norm.starts_with("..") || norm.starts_with('/') {
        return Err(KeyError::BadPath(key.to_owned(), norm));
    }
    let n = key.chars().count();
    if n > MAX_KEY_LENGTH {
        return Err(KeyError::TooLong(key.to_owned(), n));
    }
    Ok(())
}

/// A port of CPython's `posixpath.normpath` for `str` arguments.
pub fn posix_normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let initial_slashes = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut comps: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial_slashes == 0 && comps.is_empty()) || comps.last() == Some(&"..")
        {
            comps.push(comp);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let mut out = "/".repeat(initial_slashes);
    out.push_str(&comps.join("/"));
    if out.is_empty() { ".".to_owned() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_keys() {
        for key in [
            "loss",
            "a/b",
            "val loss",
            "a:b",
            "ünïcode",
            "x.y-z",
            "a_b",
            "a..b",
            "日本",
        ] {
            assert_eq!(validate_metric_key(key), Ok(()), "{key:?}");
        }
        assert_eq!(validate_metric_key(&"k".repeat(250)), Ok(()));
    }

    #[test]
    fn invalid_keys() {
        let bad_path = [
            "", ".", "/a", "../a", "a//b", "a/", "a/./b", "a/../b", "..", "..a", "./a",
        ];
        for key in bad_path {
            assert!(
                matches!(validate_metric_key(key), Err(KeyError::BadPath(..))),
                "{key:?}: {:?}",
                validate_metric_key(key)
            );
        }
        for key in ["a\\b", "a*b", "a\nb", "a\tb", "a$", "é!"] {
            assert!(
                matches!(validate_metric_key(key), Err(KeyError::BadCharacter(_))),
                "{key:?}"
            );
        }
        let long = "k".repeat(251);
        assert_eq!(
            validate_metric_key(&long),
            Err(KeyError::TooLong(long.clone(), 251))
        );
    }

    #[test]
    fn messages() {
        assert_eq!(
            validate_metric_key("a//b").unwrap_err().to_string(),
            "Invalid metric name: 'a//b'. Names may be treated as files in certain cases, and must \
             not resolve to other names when treated as such. This name would resolve to 'a/b'"
        );
        assert_eq!(
            validate_metric_key("a*b").unwrap_err().to_string(),
            "Invalid metric name: 'a*b'. Names may only contain alphanumerics, underscores (_), \
             dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        );
        assert_eq!(
            validate_metric_key(&"x".repeat(300))
                .unwrap_err()
                .to_string(),
            format!(
                "Metric name '{}' had length 300, which exceeded length limit of 250",
                "x".repeat(300)
            )
        );
    }

    #[test]
    fn normpath_matches_python() {
        let cases = [
            ("", "."),
            ("/", "/"),
            ("//", "//"),
            ("///", "/"),
            ("a/b/", "a/b"),
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("../../a/..", "../.."),
            ("/..", "/"),
            ("//a/../b", "//b"),
            ("a/..", "."),
        ];
        for (input, want) in cases {
            assert_eq!(posix_normpath(input), want, "{input:?}");
        }
    }
}
