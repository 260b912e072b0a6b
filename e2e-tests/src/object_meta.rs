//! An object's `metadata` as policy-server answers it in a list: what k8s-openapi's
//! `ObjectMeta` keeps of it (kube reads each object as a `DynamicObject`), after the
//! reflector's `modify_object` (policy-evaluator
//! `callback_handler/kubernetes/reflector.rs`):
//!
//! - only `ObjectMeta`'s fields, in its (alphabetical) order; other keys and `null`s dropped;
//! - `managedFields` always `[]` (cleared, and so present even when it was absent);
//! - `annotations` always present (`{}` when none), without
//!   `kubectl.kubernetes.io/last-applied-configuration`;
//! - `ownerReferences` with `OwnerReference`'s fields only;
//! - `creationTimestamp` and `deletionTimestamp` at second precision, as k8s-openapi writes a
//!   `Time` (`2024-05-01T10:00:00Z`).
//!
//! Field masks never touch `metadata`.

use serde_json::{Map, Value};

use crate::input::json_kind;

/// The annotation the reflector removes from every object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// k8s-openapi's `ObjectMeta` fields: the `metadata` keys an answer keeps.
const OBJECT_META_FIELDS: &[&str] = &[
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
];

/// k8s-openapi's `OwnerReference` fields.
const OWNER_REFERENCE_FIELDS: &[&str] = &[
    "apiVersion",
    "blockOwnerDeletion",
    "controller",
    "kind",
    "name",
    "uid",
];

/// The `metadata` times (k8s-openapi's `Time`, written at second precision).
const TIME_FIELDS: &[&str] = &["creationTimestamp", "deletionTimestamp"];

/// `metadata` as k8s-openapi's `ObjectMeta` keeps it after the reflector's `modify_object`
/// (see the module's documentation); the error says which field is wrong.
pub fn object_meta(metadata: Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut meta: Map<String, Value> = metadata
        .into_iter()
        .filter(|(k, v)| !v.is_null() && OBJECT_META_FIELDS.contains(&k.as_str()))
        .collect();
    for key in ["namespace", "name"] {
        if let Some(v) = meta.get(key).filter(|v| !v.is_string()) {
            return Err(format!("metadata.{key} is {}, not a string", json_kind(v)));
        }
    }
    for key in TIME_FIELDS {
        if let Some(v) = meta.get_mut(*key) {
            let time = v.as_str().and_then(kube_time).ok_or_else(|| {
                format!(
                    "metadata.{key} {v} is not a time as Kubernetes writes it \
                     (2024-05-01T10:00:00Z, fractions of a second allowed)"
                )
            })?;
            *v = Value::String(time);
        }
    }
    meta.insert("managedFields".into(), Value::Array(Vec::new()));
    match meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(annotations) => {
            annotations.remove(LAST_APPLIED);
        }
        other => {
            return Err(format!(
                "metadata.annotations is {}, not an object",
                json_kind(other)
            ));
        }
    }
    if let Some(owners) = meta.get_mut("ownerReferences") {
        let Value::Array(owners) = owners else {
            return Err(format!(
                "metadata.ownerReferences is {}, not a list",
                json_kind(owners)
            ));
        };
        for (i, owner) in owners.iter_mut().enumerate() {
            let Value::Object(fields) = owner else {
                return Err(format!(
                    "metadata.ownerReferences[{i}] is {}, not an object",
                    json_kind(owner)
                ));
            };
            fields.retain(|k, v| !v.is_null() && OWNER_REFERENCE_FIELDS.contains(&k.as_str()));
        }
    }
    Ok(meta)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` at second precision, as k8s-openapi writes a `Time`;
/// `None` for anything else (offsets other than `Z` included: Kubernetes writes UTC).
fn kube_time(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return None;
    }
    let rest = &text[19..];
    let fraction_ok = match rest.strip_suffix('Z')? {
        "" => true,
        f => f.len() > 1 && f.starts_with('.') && f[1..].bytes().all(|c| c.is_ascii_digit()),
    };
    fraction_ok.then(|| format!("{}Z", &text[..19]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_written_at_second_precision() {
        assert_eq!(
            kube_time("2024-05-01T10:00:00Z").as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            kube_time("2024-05-01T10:00:00.123456Z").as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        for bad in [
            "2024-05-01T10:00:00",
            "2024-05-01T10:00:00+02:00",
            "2024-05-01 10:00:00Z",
            "2024-05-01T10:00:00.Z",
            "yesterday",
        ] {
            assert_eq!(kube_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn metadata_is_what_object_meta_keeps() {
        let meta = json!({
            "name": "a", "namespace": "d", "bogus": 1, "uid": null,
            "annotations": {LAST_APPLIED: "{}", "k": "v"},
            "managedFields": [{"manager": "m"}],
            "ownerReferences": [{"kind": "ReplicaSet", "name": "r", "controller": true,
                                 "blockOwnerDeletion": null, "extra": 2}],
            "creationTimestamp": "2024-05-01T10:00:00.5Z",
        });
        let Value::Object(meta) = meta else {
            unreachable!()
        };
        assert_eq!(
            Value::Object(object_meta(meta).unwrap()),
            json!({
                "annotations": {"k": "v"},
                "creationTimestamp": "2024-05-01T10:00:00Z",
                "managedFields": [],
                "name": "a",
                "namespace": "d",
                "ownerReferences": [{"controller": true, "kind": "ReplicaSet", "name": "r"}],
            })
        );
        assert_eq!(
            Value::Object(object_meta(Map::new()).unwrap()),
            json!({"annotations": {}, "managedFields": []})
        );
    }
}
