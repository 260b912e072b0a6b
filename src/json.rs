//! Reading JSON into the policy's types: a plain serde pass, and only when it fails a second
//! pass that records where (tracking the path on every read would cost an allocation per key).

use serde::Deserialize;

/// Where a document is not what the type expects, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// `spec.containers[0].image`; empty when the error is not inside a field (bad syntax at
    /// the top, end of input, trailing characters).
    pub path: String,
    pub error: String,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.error)
        } else {
            write!(f, "{}: {}", self.path, self.error)
        }
    }
}

/// Reads a whole document (trailing characters are an error), borrowing strings from it.
pub fn read<'a, T: Deserialize<'a>>(text: &'a [u8]) -> Result<T, JsonError> {
    serde_json::from_slice(text).map_err(|plain| {
        let mut de = serde_json::Deserializer::from_slice(text);
        let traced: Result<T, _> = serde_path_to_error::deserialize(&mut de);
        match traced {
            Err(e) => {
                let path = e.path().to_string();
                let path = if matches!(path.as_str(), "." | "?") {
                    String::new()
                } else {
                    path
                };
                JsonError {
                    path,
                    error: e.into_inner().to_string(),
                }
            }
            // Only trailing characters fail the plain pass and not this one.
            Ok(_) => JsonError {
                path: String::new(),
                error: plain.to_string(),
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }

    #[test]
    fn errors_name_their_path() {
        let e = read::<Outer>(br#"{"items":[{"name":"a"},{"name":1}]}"#).unwrap_err();
        assert_eq!(e.path, "items[1].name");
        assert!(e.error.starts_with("invalid type: integer `1`"), "{e}");
        assert_eq!(e.to_string(), format!("items[1].name: {}", e.error));
    }

    #[test]
    fn syntax_and_trailing_errors_have_no_path() {
        let e = read::<Outer>(b"{").unwrap_err();
        assert_eq!(e.path, "");
        assert!(e.error.starts_with("EOF"), "{e}");
        let e = read::<Outer>(br#"{"items":[]} x"#).unwrap_err();
        assert_eq!(e.path, "");
        assert!(e.error.starts_with("trailing characters"), "{e}");
    }

    #[test]
    fn good_documents_are_read() {
        assert_eq!(
            read::<Outer>(br#"{"items":[{"name":"a"}]}"#)
                .unwrap()
                .items
                .len(),
            1
        );
    }
}
