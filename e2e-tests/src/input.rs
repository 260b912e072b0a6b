//! Reading requests and settings the way `kwctl run` takes them.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Reads an AdmissionRequest JSON file: a bare AdmissionRequest, or an AdmissionReview
/// whose `request` is used (kwctl run accepts both).
pub fn read_request(path: impl AsRef<Path>) -> Result<Value> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let what = format!("request file {}", path.display());
    let value: Value = serde_json::from_str(&text).map_err(|e| Error::invalid(&what, e))?;
    request_from_value(value).map_err(|e| Error::invalid(&what, e))
}

/// Unwraps an AdmissionReview; checks the request is a JSON object.
pub fn request_from_value(value: Value) -> Result<Value, String> {
    let Value::Object(mut obj) = value else {
        return Err("an AdmissionRequest must be a JSON object".into());
    };
    if obj.get("kind").and_then(Value::as_str) == Some("AdmissionReview") {
        return match obj.remove("request") {
            Some(req @ Value::Object(_)) => Ok(req),
            _ => Err("the AdmissionReview has no request object".into()),
        };
    }
    Ok(Value::Object(obj))
}

/// Reads a settings file, JSON or YAML. An empty file or `null` means no settings (`{}`).
pub fn read_settings(path: impl AsRef<Path>) -> Result<Value> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_settings(&text)
        .map_err(|e| Error::invalid(format!("settings file {}", path.display()), e))
}

/// Parses settings text (JSON is YAML too) into a JSON object.
pub fn parse_settings(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    match value {
        Value::Null => Ok(Value::Object(Map::new())),
        obj @ Value::Object(_) => Ok(obj),
        other => Err(format!(
            "settings must be a mapping (an object), not {}",
            json_kind(&other)
        )),
    }
}

/// What a JSON value is, for messages (`a list`, `an object`...).
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_yaml_and_json() {
        assert_eq!(parse_settings("").unwrap(), json!({}));
        assert_eq!(parse_settings("null").unwrap(), json!({}));
        assert_eq!(
            parse_settings("mutableTags: [latest, stable]\npinImmutableTags: true\n").unwrap(),
            json!({"mutableTags": ["latest", "stable"], "pinImmutableTags": true})
        );
        assert_eq!(
            parse_settings(r#"{"mutableTagAction": "warn"}"#).unwrap(),
            json!({"mutableTagAction": "warn"})
        );
        assert!(parse_settings("- a\n- b").is_err());
        assert!(parse_settings("a: [").is_err());
    }

    #[test]
    fn requests_bare_or_wrapped() {
        let bare = json!({"uid": "1", "operation": "CREATE"});
        assert_eq!(request_from_value(bare.clone()).unwrap(), bare);
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": bare});
        assert_eq!(request_from_value(review).unwrap(), bare);
        assert!(request_from_value(json!([1])).is_err());
        assert!(request_from_value(json!({"kind": "AdmissionReview"})).is_err());
    }
}
