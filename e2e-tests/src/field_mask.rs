//! Field masks of the `kubernetes/list_resources_*` host calls, with policy-evaluator's
//! semantics (`crates/policy-evaluator/src/callback_handler/kubernetes/field_mask.rs`, applied
//! by `reflector.rs`'s `modify_object`):
//!
//! - a mask is a dot-separated path (`spec.containers.image`); the masks of one call form a
//!   tree, and only the keys on it are kept, everything else is dropped;
//! - arrays are transparent: the node that reached an array applies to each of its items
//!   (`spec.containers.image` keeps the `image` of every container; arrays of arrays too);
//! - a path that ends keeps everything below it (`status` keeps the whole status), and a path
//!   that goes deeper than the value (`spec.containers.image.x` on a string) keeps the value;
//! - no masks (`None`) or an empty list keep everything.
//!
//! policy-evaluator prunes a `DynamicObject`'s `data`, that is everything but `apiVersion`,
//! `kind` and `metadata`: those three are never masked, so a `metadata.name` mask has no
//! effect and masks that name only `metadata` paths drop the whole `spec` and `status`
//! ([`crate::cluster`] applies the masks that way).

use std::collections::BTreeMap;

use serde_json::Value;

/// The tree of a call's field masks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldMask {
    children: BTreeMap<String, FieldMask>,
}

impl FieldMask {
    /// The tree of `paths` (each split at `.`; an empty list keeps everything).
    pub fn new<S: AsRef<str>>(paths: impl IntoIterator<Item = S>) -> Self {
        let mut root = FieldMask::default();
        for path in paths {
            let mut node = &mut root;
            for step in path.as_ref().split('.') {
                node = node.children.entry(step.to_string()).or_default();
            }
        }
        root
    }

    /// True when this node keeps everything below it.
    pub fn keeps_all(&self) -> bool {
        self.children.is_empty()
    }

    /// Drops from `value` what the mask does not name, in place.
    pub fn prune(&self, value: &mut Value) {
        if self.keeps_all() {
            return;
        }
        match value {
            Value::Object(map) => map.retain(|key, child| match self.children.get(key) {
                Some(node) => {
                    node.prune(child);
                    true
                }
                None => false,
            }),
            Value::Array(items) => items.iter_mut().for_each(|item| self.prune(item)),
            _ => {}
        }
    }

    /// Drops the keys of an object's fields (`data` in policy-evaluator's `DynamicObject`: all
    /// but `apiVersion`, `kind` and `metadata`) that the mask does not name, in place.
    pub fn prune_fields(&self, fields: &mut serde_json::Map<String, Value>) {
        if self.keeps_all() {
            return;
        }
        fields.retain(|key, child| match self.children.get(key) {
            Some(node) => {
                node.prune(child);
                true
            }
            None => false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pruned(mut value: Value, masks: &[&str]) -> Value {
        FieldMask::new(masks).prune(&mut value);
        value
    }

    #[test]
    fn keeps_masked_paths_and_drops_the_rest() {
        let v = json!({"a": {"b": 1, "c": 2}, "d": 3, "e": 4});
        assert_eq!(pruned(v, &["a.b", "d"]), json!({"a": {"b": 1}, "d": 3}));
    }

    #[test]
    fn arrays_are_traversed_at_every_depth() {
        let v = json!({
            "spec": {"containers": [
                {"name": "a", "image": "x:1", "ports": [1]},
                {"name": "b", "image": "y:2"},
            ]},
            "nested": [[{"k": 1, "drop": 2}], [{"k": 3}]],
        });
        assert_eq!(
            pruned(v, &["spec.containers.image", "nested.k"]),
            json!({
                "spec": {"containers": [{"image": "x:1"}, {"image": "y:2"}]},
                "nested": [[{"k": 1}], [{"k": 3}]],
            })
        );
    }

    #[test]
    fn a_path_that_ends_keeps_everything_below_and_deeper_paths_keep_scalars() {
        let v = json!({"status": {"phase": "Running", "x": [1]}, "spec": {"image": "a"}});
        assert_eq!(
            pruned(v.clone(), &["status", "spec.image.deeper"]),
            json!({"status": {"phase": "Running", "x": [1]}, "spec": {"image": "a"}})
        );
        // A longer path under a kept one does not narrow it: `status` stays a leaf only
        // when nothing goes deeper.
        assert_eq!(
            pruned(v, &["status", "status.phase"]),
            json!({"status": {"phase": "Running"}})
        );
    }

    #[test]
    fn no_masks_keep_everything() {
        let v = json!({"a": 1, "b": {"c": 2}});
        assert_eq!(pruned(v.clone(), &[]), v);
        assert!(FieldMask::new(Vec::<String>::new()).keeps_all());
    }

    #[test]
    fn missing_keys_are_not_created() {
        assert_eq!(pruned(json!({"a": 1}), &["b.c"]), json!({}));
    }
}
