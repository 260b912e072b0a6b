//! The cluster state the host answers `kubernetes/list_resources_by_namespace` from, in place
//! of policy-server's Kubernetes client.
//!
//! # The cluster-state file
//!
//! A Kubernetes `List`, JSON or YAML: what `kubectl get pods -A -o json` (or `-o yaml`)
//! prints, `{"apiVersion": "v1", "kind": "List", "items": [<objects>]}`. Each item carries its
//! `apiVersion` and `kind`; in a typed list (`kind: PodList`, as the API server answers) items
//! without them are of the list's type. Several files may be given; their items add up. An
//! object with `metadata.namespace` is namespaced, one without is cluster-wide; one type's
//! objects must all be one or the other, and an object (type, namespace, name) appears once.
//!
//! # What a list call answers, as policy-evaluator answers it
//!
//! (policy-evaluator `callback_handler/kubernetes/client.rs` and `reflector.rs`, served with
//! kube's `ObjectList<DynamicObject>`, k8s-openapi's `ObjectMeta`.)
//!
//! - The envelope: `{"apiVersion": <the asked apiVersion>, "kind": "<Kind>List",
//!   "metadata": {}, "items": [...]}` (kube's `ObjectList` with a default `ListMeta`: no
//!   `resourceVersion`).
//! - The items: the objects of that `apiVersion` and `kind` in the asked namespace (in file
//!   order here; in the reflector's store order there), each written as kube writes a
//!   `DynamicObject`: `apiVersion` and `kind` (when the object has them: the file's objects
//!   usually do; policy-server's have them when learnt from a watch event, not from its
//!   initial list), `metadata`, then the other fields in key order.
//! - `metadata` is never masked. It is what k8s-openapi's `ObjectMeta` keeps, after the
//!   reflector's `modify_object` ([`crate::object_meta`]: `managedFields` `[]`, no
//!   last-applied-configuration annotation, times at second precision...).
//! - The field masks prune every other field ([`FieldMask`]); no masks keep them all.
//! - A cluster-wide type is refused with policy-evaluator's words (`resource v1/Node is cluster
//!   wide. Cannot search for it inside of a namespace`); a type the file does not hold lists
//!   no items.
//! - Label and field selectors are refused (this host does not evaluate them; an empty one is
//!   no selector).
//!
//! Like the reflector, which masks objects once as they enter its store (one store per type,
//! namespace, selectors and masks), the objects of one such query are masked once and kept;
//! and like policy-server, which clones the store's objects and serializes the whole list on
//! every call, each call writes the list anew (a 5000-Pod answer is about 2 MB), so a
//! benchmark through this host counts the host's side of a list call too.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::field_mask::FieldMask;
use crate::input::json_kind;
use crate::object_meta::object_meta;

/// The payload of `kubernetes/list_resources_by_namespace`: the SDK's (0.17)
/// `ListResourcesByNamespaceRequest`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ListRequest {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub field_masks: Option<BTreeSet<String>>,
}

impl ListRequest {
    /// Reads the payload as policy-evaluator does (serde: unknown fields ignored, a missing
    /// selector or mask list is `null`).
    pub fn parse(payload: &[u8]) -> Result<ListRequest, String> {
        serde_json::from_slice(payload).map_err(|e| {
            format!(
                "list_resources_by_namespace: the payload is not a \
                 ListResourcesByNamespaceRequest (api_version, kind, namespace, \
                 label_selector, field_selector, field_masks): {e}"
            )
        })
    }
}

/// One object of the cluster, as the reflector keeps it: its type, its `metadata` as
/// `ObjectMeta` keeps it, and its other fields (kube's `DynamicObject::data`).
#[derive(Clone, Debug, PartialEq)]
struct Object {
    types: Option<(String, String)>,
    metadata: Map<String, Value>,
    fields: Map<String, Value>,
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some((api_version, kind)) = &self.types {
            map.serialize_entry("apiVersion", api_version)?;
            map.serialize_entry("kind", kind)?;
        }
        map.serialize_entry("metadata", &self.metadata)?;
        for (key, value) in &self.fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The objects of one type.
#[derive(Debug, Default)]
struct Objects {
    /// By namespace, in file order; cluster-wide objects under `None`.
    by_namespace: HashMap<Option<String>, Vec<Object>>,
}

impl Objects {
    fn cluster_wide(&self) -> bool {
        self.by_namespace.contains_key(&None)
    }
}

/// What identifies a reflector in policy-evaluator (type, namespace, masks; selectors are
/// refused here).
type QueryKey = (String, String, String, Option<BTreeSet<String>>);

#[derive(Default)]
struct State {
    /// By (apiVersion, kind).
    types: HashMap<(String, String), Objects>,
    count: usize,
    sources: Vec<String>,
    /// The masked objects of each query asked so far, as policy-evaluator's reflector keeps
    /// them (masked once, when stored).
    queries: Mutex<HashMap<QueryKey, Arc<Vec<Object>>>>,
}

/// The Kubernetes objects the host lists; cheap to clone (clones share the objects and the
/// masked answers). The default is an empty cluster.
#[derive(Clone, Default)]
pub struct ClusterState {
    state: Arc<State>,
}

impl std::fmt::Debug for ClusterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterState")
            .field("objects", &self.state.count)
            .field("sources", &self.state.sources)
            .finish()
    }
}

impl ClusterState {
    /// Reads cluster-state files (see the module's documentation); their items add up.
    pub fn read<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Result<ClusterState> {
        let mut builder = Builder::default();
        for (origin, list) in read_documents(paths)? {
            builder.add(&origin, list)?;
        }
        Ok(builder.finish())
    }

    /// The cluster state of one document's text (JSON or YAML).
    pub fn parse(text: &str, origin: &str) -> Result<ClusterState> {
        let mut builder = Builder::default();
        builder.add(origin, parse_document(text, origin)?)?;
        Ok(builder.finish())
    }

    /// The cluster state of a `List` value.
    pub fn from_list(list: Value) -> Result<ClusterState> {
        let mut builder = Builder::default();
        builder.add("cluster state", list)?;
        Ok(builder.finish())
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.state.count
    }

    pub fn is_empty(&self) -> bool {
        self.state.count == 0
    }

    /// Its types (`apiVersion/kind`), sorted.
    pub fn types(&self) -> Vec<String> {
        let mut types: Vec<String> = (self.state.types.keys())
            .map(|(v, k)| format!("{v}/{k}"))
            .collect();
        types.sort();
        types
    }

    /// Where its objects came from (file names).
    pub fn sources(&self) -> &[String] {
        &self.state.sources
    }

    /// The answer to a `list_resources_by_namespace` call (the caller has checked the grant):
    /// the list's JSON text, or the error the guest gets.
    pub fn list_by_namespace(&self, request: &ListRequest) -> Result<Vec<u8>, String> {
        for (name, selector) in [
            ("label_selector", &request.label_selector),
            ("field_selector", &request.field_selector),
        ] {
            if let Some(selector) = selector.as_deref().filter(|s| !s.is_empty()) {
                return Err(format!(
                    "this host does not apply selectors (its cluster state is a file): \
                     {name} {selector:?} is refused; list without it"
                ));
            }
        }
        let objects = self.items(request)?;
        // kube's `ObjectList` with a default `ListMeta`, written as serde writes it, on every
        // call: policy-server copies the reflector's objects and serializes the list per call,
        // and that is part of what a list call costs.
        let string = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let head = format!(
            r#"{{"apiVersion":{},"kind":{},"metadata":{{}},"items":["#,
            string(&request.api_version),
            string(&format!("{}List", request.kind)),
        );
        let mut answer = head.into_bytes();
        for (i, object) in objects.iter().enumerate() {
            if i > 0 {
                answer.push(b',');
            }
            serde_json::to_writer(&mut answer, object)
                .map_err(|e| format!("error serializing payload: {e}"))?;
        }
        answer.extend_from_slice(b"]}");
        Ok(answer)
    }

    /// The masked objects of a query, masked on its first call.
    fn items(&self, request: &ListRequest) -> Result<Arc<Vec<Object>>, String> {
        let key = (
            request.api_version.clone(),
            request.kind.clone(),
            request.namespace.clone(),
            request.field_masks.clone(),
        );
        if let Some(items) = self
            .state
            .queries
            .lock()
            .ok()
            .and_then(|q| q.get(&key).cloned())
        {
            return Ok(items);
        }
        let type_key = (request.api_version.clone(), request.kind.clone());
        let objects = self.state.types.get(&type_key);
        if objects.is_some_and(Objects::cluster_wide) {
            return Err(format!(
                "resource {}/{} is cluster wide. Cannot search for it inside of a namespace",
                request.api_version, request.kind
            ));
        }
        let mask = request.field_masks.as_ref().map(FieldMask::new);
        let in_namespace =
            objects.and_then(|o| o.by_namespace.get(&Some(request.namespace.clone())));
        let items: Vec<Object> = in_namespace
            .into_iter()
            .flatten()
            .map(|object| {
                let mut object = object.clone();
                if let Some(mask) = &mask {
                    mask.prune_fields(&mut object.fields);
                }
                object
            })
            .collect();
        let items = Arc::new(items);
        if let Ok(mut queries) = self.state.queries.lock() {
            queries.insert(key, items.clone());
        }
        Ok(items)
    }
}

/// The documents of cluster-state files, as they are written, each with the file it came from:
/// the one reader of the files ([`ClusterState::read`] and the API-server stand-in read them
/// through it).
pub fn read_documents<P: AsRef<Path>>(
    paths: impl IntoIterator<Item = P>,
) -> Result<Vec<(String, Value)>> {
    paths
        .into_iter()
        .map(|path| {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            let origin = path.display().to_string();
            let document = parse_document(&text, &origin)?;
            Ok((origin, document))
        })
        .collect()
}

/// Parses one document: JSON when it starts with `{` (fast, for big lists), else YAML.
fn parse_document(text: &str, origin: &str) -> Result<Value> {
    let invalid = |m: String| Error::invalid(format!("cluster state {origin}"), m);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(invalid("the file is empty; expected a List".into()));
    }
    if trimmed.starts_with('{') {
        serde_json::from_str(text).map_err(|e| invalid(format!("not valid JSON: {e}")))
    } else {
        serde_norway::from_str(text).map_err(|e| invalid(format!("not valid YAML: {e}")))
    }
}

/// Gathers the objects of one or more lists.
#[derive(Default)]
struct Builder {
    state: State,
    /// (apiVersion, kind, namespace, name) → where it was first seen.
    seen: HashMap<(String, String, Option<String>, String), String>,
    /// Types with both namespaced and cluster-wide objects are refused; where each scope was
    /// first seen, by type.
    scopes: HashMap<(String, String), (Option<String>, Option<String>)>,
}

impl Builder {
    fn add(&mut self, origin: &str, list: Value) -> Result<()> {
        let invalid = |m: String| Error::invalid(format!("cluster state {origin}"), m);
        let Value::Object(mut list) = list else {
            return Err(invalid(format!(
                "expected a Kubernetes List (as `kubectl get pods -A -o json` prints), found {}",
                json_kind(&list)
            )));
        };
        let list_kind = list.get("kind").and_then(Value::as_str).unwrap_or("");
        if !list_kind.ends_with("List") {
            let found = if list_kind.is_empty() {
                "an object without a kind".to_string()
            } else {
                format!("a {list_kind}")
            };
            return Err(invalid(format!(
                "expected a Kubernetes List (as `kubectl get pods -A -o json` prints), \
                 found {found}"
            )));
        }
        // A typed list (`PodList`) gives its type to items written without one.
        let list_type = match list_kind.strip_suffix("List") {
            Some("") | None => None,
            Some(kind) => list
                .get("apiVersion")
                .and_then(Value::as_str)
                .map(|v| (v.to_string(), kind.to_string())),
        };
        let items = match list.remove("items") {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(other) => {
                return Err(invalid(format!(
                    "`items` must be a list, not {}",
                    json_kind(&other)
                )));
            }
        };
        for (i, item) in items.into_iter().enumerate() {
            let at = format!("{origin}: items[{i}]");
            self.add_object(item, list_type.as_ref(), &at)
                .map_err(|m| Error::invalid("cluster state", format!("{at}: {m}")))?;
        }
        self.state.sources.push(origin.to_string());
        Ok(())
    }

    fn add_object(
        &mut self,
        item: Value,
        list_type: Option<&(String, String)>,
        at: &str,
    ) -> Result<(), String> {
        let Value::Object(mut fields) = item else {
            return Err(format!("not an object but {}", json_kind(&item)));
        };
        let api_version = take_string(&mut fields, "apiVersion")?;
        let kind = take_string(&mut fields, "kind")?;
        let (types, type_key) = match (api_version, kind) {
            (Some(v), Some(k)) => (Some((v.clone(), k.clone())), (v, k)),
            (None, None) => match list_type {
                Some(t) => (None, t.clone()),
                None => {
                    return Err(
                        "no apiVersion and kind (the items of a List carry their own)".into(),
                    );
                }
            },
            _ => return Err("give both apiVersion and kind, or neither".into()),
        };
        let metadata = match fields.remove("metadata") {
            Some(Value::Object(m)) => m,
            Some(Value::Null) | None => Map::new(),
            Some(other) => return Err(format!("metadata is {}, not an object", json_kind(&other))),
        };
        let metadata = object_meta(metadata)?;
        let namespace = metadata
            .get("namespace")
            .and_then(Value::as_str)
            .map(str::to_string);
        let name = metadata
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (namespaced_at, cluster_at) = self.scopes.entry(type_key.clone()).or_default();
        let (this, other, other_scope) = match namespace {
            Some(_) => (
                namespaced_at,
                cluster_at,
                "cluster-wide (no metadata.namespace)",
            ),
            None => (cluster_at, namespaced_at, "namespaced"),
        };
        if let Some(other) = other {
            return Err(format!(
                "{}/{} objects are {other_scope} at {other}: one type's objects are all \
                 namespaced or all cluster-wide",
                type_key.0, type_key.1
            ));
        }
        this.get_or_insert_with(|| at.to_string());
        if let Some(name) = name {
            let id = (
                type_key.0.clone(),
                type_key.1.clone(),
                namespace.clone(),
                name,
            );
            if let Some(first) = self.seen.get(&id) {
                return Err(format!(
                    "{}/{} {}{} is already at {first}",
                    id.0,
                    id.1,
                    id.2.as_deref().map(|n| format!("{n}/")).unwrap_or_default(),
                    id.3
                ));
            }
            self.seen.insert(id, at.to_string());
        }
        self.state
            .types
            .entry(type_key)
            .or_default()
            .by_namespace
            .entry(namespace)
            .or_default()
            .push(Object {
                types,
                metadata,
                fields,
            });
        self.state.count += 1;
        Ok(())
    }

    fn finish(self) -> ClusterState {
        ClusterState {
            state: Arc::new(self.state),
        }
    }
}

/// Removes `key` from `fields`: a string, or nothing (absent or `null`).
fn take_string(fields: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match fields.remove(key) {
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Null) | None => Ok(None),
        Some(other) => Err(format!("{key} is {}, not a string", json_kind(&other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ns: &str, name: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
        })
    }

    fn list(items: Vec<Value>) -> Value {
        json!({"apiVersion": "v1", "kind": "List", "items": items})
    }

    fn ask(ns: &str, masks: Option<&[&str]>) -> ListRequest {
        ListRequest {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: ns.into(),
            label_selector: None,
            field_selector: None,
            field_masks: masks.map(|m| m.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn answer(state: &ClusterState, request: &ListRequest) -> Value {
        serde_json::from_slice(&state.list_by_namespace(request).unwrap()).unwrap()
    }

    #[test]
    fn the_answer_is_written_in_kubes_order() {
        let state = ClusterState::from_list(list(vec![pod("default", "a")])).unwrap();
        let text = state.list_by_namespace(&ask("default", None)).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            r#"{"apiVersion":"v1","kind":"PodList","metadata":{},"items":[{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{},"managedFields":[],"name":"a","namespace":"default"},"spec":{"containers":[{"image":"nginx:1","name":"c"}]}}]}"#
        );
    }

    #[test]
    fn typed_lists_type_their_items_and_items_keep_what_they_had() {
        let state = ClusterState::from_list(json!({
            "apiVersion": "v1", "kind": "PodList",
            "items": [{"metadata": {"name": "a", "namespace": "ns"}, "spec": {}}],
        }))
        .unwrap();
        let got = answer(&state, &ask("ns", None));
        assert_eq!(got["items"][0].get("kind"), None);
        assert_eq!(got["items"][0]["metadata"]["name"], "a");
    }

    #[test]
    fn the_same_query_is_masked_once() {
        let state = ClusterState::from_list(list(vec![pod("default", "a")])).unwrap();
        let masks: &[&str] = &["spec.containers.image"];
        state
            .list_by_namespace(&ask("default", Some(masks)))
            .unwrap();
        state
            .list_by_namespace(&ask("default", Some(masks)))
            .unwrap();
        state.list_by_namespace(&ask("other", Some(masks))).unwrap();
        assert_eq!(state.state.queries.lock().unwrap().len(), 2);
    }

    #[test]
    fn scope_conflicts_and_duplicates_are_refused() {
        let mut cluster_pod = pod("x", "b");
        cluster_pod["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("namespace");
        let err = ClusterState::from_list(list(vec![pod("default", "a"), cluster_pod]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("items[1]") && err.contains("items[0]"),
            "{err}"
        );
        let err = ClusterState::from_list(list(vec![pod("default", "a"), pod("default", "a")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("v1/Pod default/a is already at"), "{err}");
    }
}
