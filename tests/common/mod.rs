//! Builders for admission requests of every kind, and a mocked digest host.
#![allow(dead_code)]

use immutable_images::testing as evaluate;
use immutable_images::testing::Host;
use immutable_images::testing::ListResourcesByNamespaceRequest;
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
pub const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

/// The policy's table of the kinds it judges.
pub use immutable_images::testing::KINDS;

fn row(kind: &str) -> &'static immutable_images::testing::Kind {
    KINDS.iter().find(|k| k.kind == kind).unwrap()
}

pub fn path_of(kind: &str) -> &'static [&'static str] {
    row(kind).pod_spec.keys()
}

/// An object of `kind` holding `pod_spec` where that kind keeps it.
pub fn object(kind: &str, pod_spec: Value) -> Value {
    let (group, version, path) = (row(kind).group, row(kind).version, path_of(kind));
    let mut inner = pod_spec;
    for key in path.iter().rev() {
        inner = json!({ *key: inner });
    }
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut o = inner.as_object().unwrap().clone();
    o.insert("apiVersion".into(), json!(api_version));
    o.insert("kind".into(), json!(kind));
    o.insert(
        "metadata".into(),
        json!({"name": "sample", "namespace": "default"}),
    );
    Value::Object(o)
}

pub fn request(kind: &str, operation: &str, object: Value, old: Option<Value>) -> Value {
    let k = row(kind);
    let (group, version) = (k.group, k.version);
    let mut r = json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": k.resource},
        "operation": operation,
        "userInfo": {"username": "alice"},
        "object": object,
    });
    if let Some(old) = old {
        r["oldObject"] = old;
    }
    r
}

pub fn create(kind: &str, pod_spec: Value) -> Value {
    request(kind, "CREATE", object(kind, pod_spec), None)
}

pub fn containers(list: &[(&str, &str)]) -> Value {
    json!({ "containers": list.iter().map(|(n, i)| json!({"name": n, "image": i})).collect::<Vec<_>>() })
}

/// A host whose registry knows some tags (and some manifests); counts lookups. Its clock is
/// simulated: it starts at `start` and each lookup advances it by `latency`. It answers
/// `list_resources_by_namespace` from `pods` (Pod objects, by `metadata.namespace`), or with
/// the error in `pods`; every list request is recorded as JSON.
pub struct Registry {
    pub digests: HashMap<String, Result<String, String>>,
    /// `oci/v1/oci_manifest` answers, by reference; lookups are recorded in `manifest_calls`.
    pub manifests: HashMap<String, Value>,
    pub calls: RefCell<Vec<String>>,
    pub manifest_calls: RefCell<Vec<String>>,
    pub pods: Result<Vec<Value>, String>,
    pub list_calls: RefCell<Vec<Value>>,
    pub latency: Duration,
    pub start: Instant,
    pub clock: Cell<Duration>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            digests: HashMap::new(),
            manifests: HashMap::new(),
            calls: RefCell::default(),
            manifest_calls: RefCell::default(),
            pods: Ok(Vec::new()),
            list_calls: RefCell::default(),
            latency: Duration::ZERO,
            start: Instant::now(),
            clock: Cell::new(Duration::ZERO),
        }
    }
}

impl Registry {
    pub fn with(entries: &[(&str, &str)]) -> Registry {
        Registry {
            digests: entries
                .iter()
                .map(|(i, d)| (i.to_string(), Ok(d.to_string())))
                .collect(),
            ..Registry::default()
        }
    }

    /// Each lookup takes `ms` milliseconds of simulated time.
    pub fn slow(mut self, ms: u64) -> Registry {
        self.latency = Duration::from_millis(ms);
        self
    }
    pub fn failing(image: &str, error: &str) -> Registry {
        let mut r = Registry::default();
        r.digests.insert(image.to_owned(), Err(error.to_owned()));
        r
    }
}

impl Host for Registry {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        self.calls.borrow_mut().push(image.to_owned());
        self.clock.set(self.clock.get() + self.latency);
        self.digests
            .get(image)
            .cloned()
            .unwrap_or_else(|| Err(format!("manifest unknown: {image}")))
    }

    fn oci_manifest(&self, image: &str) -> Result<Vec<u8>, String> {
        self.manifest_calls.borrow_mut().push(image.to_owned());
        self.clock.set(self.clock.get() + self.latency);
        match self.manifests.get(image) {
            Some(m) => Ok(m.to_string().into_bytes()),
            None => Err(format!("manifest unknown: {image}")),
        }
    }

    fn list_resources_by_namespace(
        &self,
        request: &ListResourcesByNamespaceRequest,
    ) -> Result<Vec<u8>, String> {
        self.list_calls
            .borrow_mut()
            .push(serde_json::to_value(request).unwrap());
        let pods = self.pods.as_ref().map_err(Clone::clone)?;
        let items: Vec<&Value> = pods
            .iter()
            .filter(|p| p["metadata"]["namespace"] == request.namespace.as_str())
            .collect();
        let list = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items});
        Ok(list.to_string().into_bytes())
    }

    fn now(&self) -> Instant {
        self.start + self.clock.get()
    }
}

pub fn run_with(request: &Value, settings: Value, registry: &Registry) -> ValidationResponse {
    let payload = json!({"request": request, "settings": settings});
    evaluate::validate(payload.to_string().as_bytes(), registry)
}

pub fn run(request: &Value, settings: Value) -> ValidationResponse {
    run_with(request, settings, &Registry::default())
}

#[track_caller]
pub fn message(r: &ValidationResponse) -> &str {
    assert!(!r.accepted, "expected a rejection, got {r:?}");
    r.message.as_deref().unwrap()
}

#[track_caller]
pub fn assert_plain_accept(r: &ValidationResponse) {
    assert!(r.accepted, "expected an acceptance, got {r:?}");
    assert!(r.mutated_object.is_none(), "unexpected mutation {r:?}");
    assert!(r.warnings.is_none(), "unexpected warnings {r:?}");
    assert!(r.message.is_none());
}

#[track_caller]
pub fn mutated(r: &ValidationResponse) -> &Value {
    assert!(r.accepted, "expected a mutation, got {r:?}");
    r.mutated_object
        .as_ref()
        .expect("expected a mutated object")
}

/// The value at a dotted path with [i] indexes, e.g. `spec.containers[0].image`.
pub fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    let pointer: String = path
        .split('.')
        .flat_map(|seg| {
            let mut parts = vec![];
            let mut rest = seg;
            if let Some(i) = rest.find('[') {
                parts.push(rest[..i].to_owned());
                rest = &rest[i..];
                for idx in rest.split(['[', ']']).filter(|s| !s.is_empty()) {
                    parts.push(idx.to_owned());
                }
            } else {
                parts.push(rest.to_owned());
            }
            parts
        })
        .map(|p| format!("/{p}"))
        .collect();
    v.pointer(&pointer).unwrap_or(&Value::Null)
}
