//! Mutation: writes new `image`/`imagePullPolicy` (or `reference`/`pullPolicy`) values into
//! the request's own JSON, so every other field, known to k8s-openapi or not, is kept.

use serde_json::Value;

/// New values for fields of the JSON object at `pointer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub pointer: String,
    pub fields: Vec<(&'static str, String)>,
}

/// The object with the edits applied. Only the named fields change.
pub fn apply(object: &str, edits: &[Edit]) -> Result<Value, String> {
    let mut value: Value =
        serde_json::from_str(object).map_err(|e| format!("cannot re-read the object: {e}"))?;
    for edit in edits {
        let holder = value
            .pointer_mut(&edit.pointer)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| format!("no object at {} to mutate", edit.pointer))?;
        for (key, new) in &edit.fields {
            holder.insert((*key).to_owned(), Value::String(new.clone()));
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_named_fields_change() {
        let object = json!({
            "kind": "Pod", "x-top": {"a": [1, 2]},
            "spec": {"containers": [{"name": "a", "image": "nginx", "x-vendor": true}],
                     "volumes": [{"name": "m", "image": {"reference": "m:1", "x-new": 1}}]}
        });
        let edits = vec![
            Edit {
                pointer: "/spec/containers/0".into(),
                fields: vec![
                    ("image", "nginx@sha256:x".into()),
                    ("imagePullPolicy", "Always".into()),
                ],
            },
            Edit {
                pointer: "/spec/volumes/0/image".into(),
                fields: vec![("pullPolicy", "Always".into())],
            },
        ];
        let out = apply(&object.to_string(), &edits).unwrap();
        let mut expected = object.clone();
        expected["spec"]["containers"][0]["image"] = json!("nginx@sha256:x");
        expected["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        expected["spec"]["volumes"][0]["image"]["pullPolicy"] = json!("Always");
        assert_eq!(out, expected);
    }

    #[test]
    fn a_missing_place_is_an_error() {
        let e = apply(
            r#"{"spec":{}}"#,
            &[Edit {
                pointer: "/spec/containers/0".into(),
                fields: vec![],
            }],
        );
        assert_eq!(e.unwrap_err(), "no object at /spec/containers/0 to mutate");
    }
}
