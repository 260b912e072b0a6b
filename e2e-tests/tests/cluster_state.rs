//! The host calls of the replicas check, tested on the host itself (no policy):
//! `kubernetes/list_resources_by_namespace` served from a cluster-state file, and
//! `oci/v1/oci_manifest` against the real loopback registry, each answered as policy-server
//! (policy-evaluator) answers them. A tiny WAT guest (`common::forwarding_guest`) forwards
//! calls through waPC, so the recorded calls are counted as the policy's would be.

mod common;

use std::collections::BTreeSet;
use std::io::Write;

use e2e_tests::context_aware::refusal;
use e2e_tests::host::Host;
use e2e_tests::images::{Platform, push_image, push_multi_arch};
use e2e_tests::manifest::Manifest;
use e2e_tests::proxy::{Fault, FaultProxy};
use e2e_tests::{
    AnswerCache, ClusterState, ContextAwareResource, DigestResolver, Error, HostConfig, Registry,
};
use serde_json::{Value, json};

/// The masks the policy sends (`src/pods.rs`'s `LIST_FIELD_MASKS`, as of writing).
const POLICY_MASKS: &[&str] = &[
    "metadata.name",
    "metadata.creationTimestamp",
    "metadata.deletionTimestamp",
    "metadata.ownerReferences",
    "spec.containers.name",
    "spec.containers.image",
    "spec.initContainers.name",
    "spec.initContainers.image",
    "spec.ephemeralContainers.name",
    "spec.ephemeralContainers.image",
    "status.containerStatuses.name",
    "status.containerStatuses.imageID",
    "status.initContainerStatuses.name",
    "status.initContainerStatuses.imageID",
    "status.ephemeralContainerStatuses.name",
    "status.ephemeralContainerStatuses.imageID",
];

/// A Pod as `kubectl get pods -A -o json` prints it, owned by ReplicaSet `web-5d4f`.
fn replica(namespace: &str, name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"big\":true}",
                "team": "web",
            },
            "creationTimestamp": "2024-05-01T10:00:00.250Z",
            "generateName": "web-5d4f-",
            "labels": {"app": "web", "pod-template-hash": "5d4f"},
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}],
            "name": name,
            "namespace": namespace,
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "blockOwnerDeletion": true,
                "controller": true,
                "kind": "ReplicaSet",
                "name": "web-5d4f",
                "uid": "0b1c",
                "unknownField": "dropped",
            }],
            "resourceVersion": "4242",
            "uid": format!("uid-{name}"),
            "notObjectMeta": "dropped",
        },
        "spec": {
            "containers": [
                {"name": "app", "image": image, "imagePullPolicy": "Always",
                 "ports": [{"containerPort": 80}]},
                {"name": "sidecar", "image": "envoy:1.30", "args": ["-c"]},
            ],
            "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["true"]}],
            "nodeName": "node-1",
            "volumes": [{"name": "v", "emptyDir": {}}],
        },
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.7",
            "containerStatuses": [
                {"name": "app", "image": image, "imageID": "docker.io/library/web@sha256:aa",
                 "ready": true, "restartCount": 0},
                {"name": "sidecar", "image": "envoy:1.30",
                 "imageID": "docker.io/library/envoy@sha256:bb", "ready": true},
            ],
        },
    })
}

fn kubectl_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})
}

fn cluster() -> ClusterState {
    ClusterState::from_list(kubectl_list(vec![
        replica("default", "web-5d4f-a", "web:1.0"),
        replica("shop", "web-5d4f-b", "web:2.0"),
        replica("default", "web-5d4f-c", "web:1.1"),
    ]))
    .unwrap()
}

fn pods() -> BTreeSet<ContextAwareResource> {
    BTreeSet::from([ContextAwareResource::new("v1", "Pod")])
}

fn host_with(cluster: ClusterState, granted: BTreeSet<ContextAwareResource>) -> Host {
    Host::new(HostConfig {
        cluster,
        context_aware_resources: granted,
        ..HostConfig::default()
    })
}

fn list_request(namespace: &str, masks: Option<&[&str]>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "api_version": "v1",
        "kind": "Pod",
        "namespace": namespace,
        "label_selector": null,
        "field_selector": null,
        "field_masks": masks,
    }))
    .unwrap()
}

fn list(host: &Host, payload: &[u8]) -> Result<Value, String> {
    host.dispatch(
        "kubewarden",
        "kubernetes",
        "list_resources_by_namespace",
        payload,
    )
    .map(|answer| serde_json::from_slice(&answer).expect("the answer is JSON"))
}

fn names(answer: &Value) -> Vec<&str> {
    answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect()
}

// ---- list_resources_by_namespace: the grant ----

#[test]
fn every_list_is_refused_with_policy_evaluators_words_when_nothing_is_granted() {
    let host = host_with(cluster(), BTreeSet::new());
    let err = list(&host, &list_request("default", None)).unwrap_err();
    assert_eq!(
        err,
        "Policy has not been granted access to Kubernetes v1/Pod resources. The violation has \
         been reported."
    );
    assert_eq!(err, refusal("v1", "Pod"));
    // The default host grants nothing.
    let err = list(&Host::default(), &list_request("default", None)).unwrap_err();
    assert_eq!(err, refusal("v1", "Pod"));
}

#[test]
fn only_the_exact_api_version_and_kind_granted_is_served() {
    let granted = BTreeSet::from([
        ContextAwareResource::new("apps/v1", "ReplicaSet"),
        ContextAwareResource::new("v1", "pod"),
    ]);
    let host = host_with(cluster(), granted);
    let err = list(&host, &list_request("default", None)).unwrap_err();
    assert_eq!(err, refusal("v1", "Pod"));
    let rs = br#"{"api_version":"apps/v1","kind":"ReplicaSet","namespace":"default","label_selector":null,"field_selector":null,"field_masks":null}"#;
    let answer = list(&host, rs).unwrap();
    assert_eq!(
        answer,
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSetList", "metadata": {}, "items": []})
    );
}

#[test]
fn a_denied_capability_is_refused_before_the_grant_is_looked_at() {
    let host = Host::new(HostConfig {
        cluster: cluster(),
        context_aware_resources: pods(),
        denied_capabilities: vec!["kubernetes/list_resources_by_namespace".into()],
        ..HostConfig::default()
    });
    let err = list(&host, &list_request("default", None)).unwrap_err();
    assert_eq!(
        err,
        "Policy has not been granted access to the 'kubernetes/list_resources_by_namespace' \
         host capability. The violation has been reported."
    );
}

// ---- list_resources_by_namespace: what is answered ----

#[test]
fn the_namespace_filters_and_the_envelope_is_kubes_object_list() {
    let host = host_with(cluster(), pods());
    let answer = list(&host, &list_request("default", None)).unwrap();
    assert_eq!(answer["apiVersion"], "v1");
    assert_eq!(answer["kind"], "PodList");
    assert_eq!(answer["metadata"], json!({}));
    assert_eq!(names(&answer), ["web-5d4f-a", "web-5d4f-c"]);
    assert_eq!(
        names(&list(&host, &list_request("shop", None)).unwrap()),
        ["web-5d4f-b"]
    );
    let empty = list(&host, &list_request("nowhere", None)).unwrap();
    assert_eq!(empty["items"], json!([]));
}

#[test]
fn without_masks_the_whole_object_comes_back_with_metadata_as_the_reflector_keeps_it() {
    let host = host_with(cluster(), pods());
    let answer = list(&host, &list_request("default", None)).unwrap();
    let item = &answer["items"][0];
    let mut expected = replica("default", "web-5d4f-a", "web:1.0");
    expected["metadata"] = json!({
        "annotations": {"team": "web"},
        "creationTimestamp": "2024-05-01T10:00:00Z",
        "generateName": "web-5d4f-",
        "labels": {"app": "web", "pod-template-hash": "5d4f"},
        "managedFields": [],
        "name": "web-5d4f-a",
        "namespace": "default",
        "ownerReferences": [{
            "apiVersion": "apps/v1",
            "blockOwnerDeletion": true,
            "controller": true,
            "kind": "ReplicaSet",
            "name": "web-5d4f",
            "uid": "0b1c",
        }],
        "resourceVersion": "4242",
        "uid": "uid-web-5d4f-a",
    });
    assert_eq!(item, &expected);
    // An empty mask list keeps everything too.
    let all = list(&host, &list_request("default", Some(&[]))).unwrap();
    assert_eq!(all, answer);
}

#[test]
fn the_policys_masks_keep_their_paths_through_arrays_and_drop_the_rest() {
    let host = host_with(cluster(), pods());
    let answer = list(&host, &list_request("default", Some(POLICY_MASKS))).unwrap();
    let item = &answer["items"][0];
    assert_eq!(item["apiVersion"], "v1");
    assert_eq!(item["kind"], "Pod");
    assert_eq!(
        item["spec"],
        json!({
            "containers": [
                {"name": "app", "image": "web:1.0"},
                {"name": "sidecar", "image": "envoy:1.30"},
            ],
            "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        })
    );
    assert_eq!(
        item["status"],
        json!({"containerStatuses": [
            {"name": "app", "imageID": "docker.io/library/web@sha256:aa"},
            {"name": "sidecar", "imageID": "docker.io/library/envoy@sha256:bb"},
        ]})
    );
    // metadata is not masked: labels, uid and the rest stay (as the reflector keeps them).
    assert_eq!(item["metadata"]["labels"]["app"], "web");
    assert_eq!(item["metadata"]["uid"], "uid-web-5d4f-a");
    assert_eq!(item["metadata"]["managedFields"], json!([]));
    let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "metadata", "spec", "status"]);
}

#[test]
fn masks_naming_only_metadata_drop_spec_and_status() {
    let host = host_with(cluster(), pods());
    let answer = list(&host, &list_request("default", Some(&["metadata.name"]))).unwrap();
    let item = answer["items"][0].as_object().unwrap();
    let keys: Vec<&String> = item.keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "metadata"]);
    assert_eq!(item["metadata"]["generateName"], "web-5d4f-");
}

#[test]
fn the_answer_is_the_same_on_every_call_and_written_in_kubes_key_order() {
    let host = host_with(cluster(), pods());
    let payload = list_request("default", Some(POLICY_MASKS));
    let first = host
        .dispatch(
            "kubewarden",
            "kubernetes",
            "list_resources_by_namespace",
            &payload,
        )
        .unwrap();
    let again = host
        .dispatch(
            "kubewarden",
            "kubernetes",
            "list_resources_by_namespace",
            &payload,
        )
        .unwrap();
    assert_eq!(first, again);
    let text = String::from_utf8(first).unwrap();
    assert!(
        text.starts_with(
            r#"{"apiVersion":"v1","kind":"PodList","metadata":{},"items":[{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"team":"web"},"creationTimestamp":"2024-05-01T10:00:00Z","#
        ),
        "{text}"
    );
}

#[test]
fn selectors_are_refused_and_empty_ones_are_none() {
    let host = host_with(cluster(), pods());
    let with = |label: Value, field: Value| {
        serde_json::to_vec(&json!({
            "api_version": "v1", "kind": "Pod", "namespace": "default",
            "label_selector": label, "field_selector": field, "field_masks": null,
        }))
        .unwrap()
    };
    let err = list(&host, &with(json!("app=web"), Value::Null)).unwrap_err();
    assert!(err.contains("label_selector \"app=web\""), "{err}");
    let err = list(&host, &with(Value::Null, json!("status.phase=Running"))).unwrap_err();
    assert!(err.contains("field_selector"), "{err}");
    let answer = list(&host, &with(json!(""), json!(""))).unwrap();
    assert_eq!(names(&answer).len(), 2);
}

#[test]
fn malformed_payloads_are_clear_errors() {
    let host = host_with(cluster(), pods());
    let cases: [(&[u8], &str); 5] = [
        (b"not json", "expected ident"),
        (
            br#"{"api_version":"v1","kind":"Pod"}"#,
            "missing field `namespace`",
        ),
        (
            br#"{"api_version":"v1","kind":"Pod","namespace":7}"#,
            "invalid type: integer `7`",
        ),
        (
            br#"{"api_version":"v1","kind":"Pod","namespace":"d","field_masks":"spec"}"#,
            "invalid type: string \"spec\"",
        ),
        (br#""v1/Pod""#, "invalid type: string"),
    ];
    for (payload, says) in cases {
        let err = list(&host, payload).unwrap_err();
        assert!(
            err.contains("not a ListResourcesByNamespaceRequest") && err.contains(says),
            "{err}"
        );
    }
    // Missing selectors and masks are null; unknown fields are ignored (serde's defaults).
    let answer = list(
        &host,
        br#"{"api_version":"v1","kind":"Pod","namespace":"default","x":1}"#,
    );
    assert_eq!(names(&answer.unwrap()).len(), 2);
    assert_eq!(host.calls().len(), 6);
}

#[test]
fn other_kubernetes_operations_are_clear_errors() {
    let host = host_with(cluster(), pods());
    let err = host
        .dispatch("kubewarden", "kubernetes", "get_resource", b"{}")
        .unwrap_err();
    assert!(
        err.contains("does not serve kubernetes/get_resource"),
        "{err}"
    );
    let err = host
        .dispatch("kubewarden", "kubernetes", "v9/nope", b"{}")
        .unwrap_err();
    assert_eq!(err, "unknown operation: v9/nope");
}

#[test]
fn a_cluster_wide_type_is_refused_as_policy_evaluator_refuses_it() {
    let state = ClusterState::from_list(kubectl_list(vec![json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
    })]))
    .unwrap();
    let host = Host::new(HostConfig {
        cluster: state,
        context_aware_resources: BTreeSet::from([ContextAwareResource::new("v1", "Node")]),
        error_trail: Some("Stack backtrace: ...".into()),
        ..HostConfig::default()
    });
    let payload = br#"{"api_version":"v1","kind":"Node","namespace":"default"}"#;
    let err = list(&host, payload).unwrap_err();
    assert_eq!(
        err,
        "Callback evaluation failure: resource v1/Node is cluster wide. Cannot search for it \
         inside of a namespace\n\nStack backtrace: ..."
    );
}

// ---- the cluster-state file ----

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    path
}

#[test]
fn kubectl_json_and_yaml_files_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let json_file = write(
        &dir,
        "pods.json",
        &serde_json::to_string_pretty(&kubectl_list(vec![replica("default", "a", "web:1")]))
            .unwrap(),
    );
    let yaml_file = write(
        &dir,
        "more.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    \
         name: b\n    namespace: default\n    creationTimestamp: \"2024-05-02T00:00:00Z\"\n  \
         spec:\n    containers:\n    - name: app\n      image: web:2\n",
    );
    // A typed list as the API server answers it: items without apiVersion and kind.
    let typed_file = write(
        &dir,
        "raw.json",
        r#"{"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"9"},"items":[{"metadata":{"name":"c","namespace":"default"},"spec":{}}]}"#,
    );
    let state = ClusterState::read([&json_file, &yaml_file, &typed_file]).unwrap();
    assert_eq!(state.len(), 3);
    assert_eq!(state.types(), ["v1/Pod"]);
    let host = host_with(state, pods());
    let answer = list(&host, &list_request("default", None)).unwrap();
    assert_eq!(names(&answer), ["a", "b", "c"]);
    assert_eq!(
        answer["items"][1]["spec"]["containers"][0]["image"],
        "web:2"
    );
    assert_eq!(answer["items"][2].get("kind"), None);
}

#[test]
fn malformed_cluster_state_files_are_refused_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (
            "broken.json",
            "{\"kind\": \"List\", \"items\": [",
            "not valid JSON",
        ),
        (
            "broken.yaml",
            "kind: List\nitems: [a, b\n",
            "not valid YAML",
        ),
        ("empty.json", "  \n", "the file is empty"),
        (
            "pod.json",
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{}}"#,
            "found a Pod",
        ),
        ("array.json", "- 1\n- 2\n", "found a list"),
        (
            "items.json",
            r#"{"kind":"List","items":{}}"#,
            "`items` must be a list",
        ),
        (
            "untyped.json",
            r#"{"kind":"List","items":[{"metadata":{"name":"a"}}]}"#,
            "items[0]: no apiVersion and kind",
        ),
        (
            "half.json",
            r#"{"kind":"List","items":[{"kind":"Pod","metadata":{"name":"a"}}]}"#,
            "items[0]: give both apiVersion and kind",
        ),
        (
            "ns.json",
            r#"{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":3}}]}"#,
            "items[0]: metadata.namespace is a number",
        ),
        (
            "time.json",
            r#"{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"d","creationTimestamp":"2024-05-01 10:00"}}]}"#,
            "metadata.creationTimestamp \"2024-05-01 10:00\" is not a time",
        ),
        (
            "owners.json",
            r#"{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"d","ownerReferences":{}}}]}"#,
            "metadata.ownerReferences is an object, not a list",
        ),
        (
            "twice.json",
            r#"{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"d","name":"a"}},{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"d","name":"a"}}]}"#,
            "items[1]: v1/Pod d/a is already at",
        ),
        (
            "scope.json",
            r#"{"kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"namespace":"d","name":"a"}},{"apiVersion":"v1","kind":"Pod","metadata":{"name":"b"}}]}"#,
            "items[1]: v1/Pod objects are namespaced at",
        ),
    ];
    for (name, text, says) in cases {
        let path = write(&dir, name, text);
        let err = ClusterState::read([&path]).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
    }
    let err = ClusterState::read([dir.path().join("missing.json")]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

// ---- through waPC: the guest's calls are recorded and counted ----

#[test]
fn list_calls_are_recorded_and_counted() {
    let guest = common::forwarding_guest(
        "kubernetes",
        HostConfig {
            cluster: cluster(),
            context_aware_resources: pods(),
            ..HostConfig::default()
        },
    );
    let payload = list_request("default", Some(POLICY_MASKS));
    let answer = guest.call("list_resources_by_namespace", &payload).unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(names(&answer), ["web-5d4f-a", "web-5d4f-c"]);
    let err = guest
        .call("list_resources_by_namespace", b"{}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing field"), "{err}");
    let calls = guest.list_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].payload.as_bytes(), &payload[..]);
    assert!(calls[0].outcome.is_ok() && calls[1].outcome.is_err());
    assert!(guest.digest_lookups().is_empty() && guest.manifest_lookups().is_empty());
}

// ---- oci/v1/oci_manifest against the real registry ----

/// The host's answer to `oci/v1/oci_manifest` of `image`, as the bytes the guest gets.
fn oci_manifest_text(host: &Host, image: &str) -> Result<Vec<u8>, String> {
    let payload = serde_json::to_vec(image).unwrap();
    host.dispatch("kubewarden", "oci", "v1/oci_manifest", &payload)
}

fn oci_manifest(host: &Host, image: &str) -> Result<Value, String> {
    oci_manifest_text(host, image)
        .map(|answer| serde_json::from_slice(&answer).expect("the answer is JSON"))
}

#[test]
fn oci_manifest_of_a_multi_arch_tag_is_its_index() {
    let registry = Registry::start().unwrap();
    let platforms = [Platform::LINUX_AMD64, Platform::LINUX_ARM64];
    let pushed = push_multi_arch(&registry, "multi", "2.0", &platforms, "idx").unwrap();
    let host = Host::default();
    let answer = oci_manifest(&host, &pushed.reference).unwrap();
    assert_eq!(answer["schemaVersion"], 2);
    assert_eq!(
        answer["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entries = answer["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (platform, digest) in &pushed.manifests {
        let entry = entries
            .iter()
            .find(|e| e["digest"] == digest.as_str())
            .unwrap_or_else(|| panic!("{digest} in {answer}"));
        assert_eq!(entry["platform"]["os"], platform.os);
        assert_eq!(entry["platform"]["architecture"], platform.architecture);
        assert_eq!(
            entry["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert!(entry["size"].as_i64().unwrap() > 0);
    }
    // The registry's bytes, read and written again as oci-client does.
    let (body, _) = registry.manifest("multi", &pushed.digest).unwrap();
    let reread = Manifest::parse(&body).unwrap().to_answer();
    let answer_text = oci_manifest_text(&host, &pushed.reference).unwrap();
    assert_eq!(answer_text, reread);
    // The index by its digest, and one platform's manifest by its digest.
    let by_digest = format!("{}@{}", registry.image("multi"), pushed.digest);
    assert_eq!(oci_manifest(&host, &by_digest).unwrap(), answer);
    let (_, amd64) = &pushed.manifests[0];
    let platform = oci_manifest(&host, &format!("{}@{amd64}", registry.image("multi"))).unwrap();
    assert!(platform.get("config").is_some() && platform.get("manifests").is_none());
}

#[test]
fn oci_manifest_of_a_single_image_tag_is_its_image_manifest() {
    let registry = Registry::start().unwrap();
    let pushed = push_image(&registry, "app", "1.0", "single").unwrap();
    let host = Host::default();
    let answer = oci_manifest(&host, &pushed.reference).unwrap();
    assert_eq!(answer["schemaVersion"], 2);
    assert!(answer.get("manifests").is_none(), "{answer}");
    assert_eq!(
        answer["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert!(
        answer["config"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let layers = answer["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert!(layers[0]["mediaType"].as_str().unwrap().contains("layer"));
    // The manifest the tag's digest names, read and written again as oci-client does:
    // `config` before `layers`, whatever the registry's order.
    let (body, _) = registry.manifest("app", &pushed.digest).unwrap();
    let answer_text = oci_manifest_text(&host, &pushed.reference).unwrap();
    assert_eq!(answer_text, Manifest::parse(&body).unwrap().to_answer());
    let text = String::from_utf8(answer_text).unwrap();
    assert!(text.find("\"config\"") < text.find("\"layers\""), "{text}");
}

#[test]
fn oci_manifest_goes_through_mirrors_and_is_kept_60_s() {
    let registry = Registry::start().unwrap();
    let pushed = push_image(&registry, "app", "1.0", "cached").unwrap();
    let proxy = FaultProxy::start(&registry.host()).unwrap();
    let resolver = DigestResolver::new()
        .with_mirror(&registry.host(), &proxy.host())
        .unwrap();
    let host = Host::new(HostConfig {
        resolver: resolver.clone(),
        ..HostConfig::default()
    });
    let first = oci_manifest(&host, &pushed.reference).unwrap();
    assert_eq!(
        proxy.requests(),
        ["GET /v2/", "GET /v2/app/manifests/1.0"],
        "a challenge, then the manifest"
    );
    proxy.set_fault(Fault::Status(503));
    assert_eq!(oci_manifest(&host, &pushed.reference).unwrap(), first);
    assert_eq!(
        proxy.requests().len(),
        2,
        "the second answer is the cached one"
    );

    // Without the cache the failing registry shows, with policy-server's trail.
    let uncached = Host::new(HostConfig {
        resolver,
        manifest_cache: None,
        error_trail: Some("Stack backtrace: ...".into()),
        ..HostConfig::default()
    });
    let err = oci_manifest(&uncached, &pushed.reference).unwrap_err();
    assert!(
        err.starts_with("Callback evaluation failure: registry ")
            && err.contains("answered HTTP 503")
            && err.ends_with("\n\nStack backtrace: ..."),
        "{err}"
    );
    // A cache that has expired asks again.
    let expired = Host::new(HostConfig {
        resolver: DigestResolver::new(),
        manifest_cache: Some(AnswerCache::with_ttl(std::time::Duration::ZERO)),
        ..HostConfig::default()
    });
    oci_manifest(&expired, &pushed.reference).unwrap();
    let mut registry = registry;
    registry.stop();
    assert!(oci_manifest(&expired, &pushed.reference).is_err());
}

#[test]
fn oci_manifest_errors_name_the_image_and_refusals_come_first() {
    let registry = Registry::start().unwrap();
    let host = Host::default();
    let missing = registry.image("nothing:here");
    let err = oci_manifest(&host, &missing).unwrap_err();
    assert!(err.contains(&missing) && err.contains("404"), "{err}");
    let err = oci_manifest(&host, "ghcr.io/kubewarden/policy:1").unwrap_err();
    assert!(err.contains("ghcr.io") && err.contains("loopback"), "{err}");
    let err = host
        .dispatch("kubewarden", "oci", "v1/oci_manifest", b"nginx:1")
        .unwrap_err();
    assert!(err.contains("JSON string"), "{err}");
    let denied = Host::new(HostConfig {
        denied_capabilities: vec!["oci/v1/oci_manifest".into()],
        ..HostConfig::default()
    });
    let err = oci_manifest(&denied, &missing).unwrap_err();
    assert_eq!(
        err,
        "Policy has not been granted access to the 'oci/v1/oci_manifest' host capability. The \
         violation has been reported."
    );
    // A digest the registry's bytes do not have.
    let pushed = push_image(&registry, "app", "1.0", "x").unwrap();
    let wrong = format!("{}@sha256:{}", registry.image("app"), "0".repeat(64));
    let err = oci_manifest(&host, &wrong).unwrap_err();
    assert!(
        err.contains("HTTP 404") || err.contains("Invalid digest"),
        "{err}"
    );
    assert!(oci_manifest(&host, &pushed.pinned()).is_ok());
}

#[test]
fn oci_manifest_calls_are_recorded_and_counted() {
    let registry = Registry::start().unwrap();
    let pushed = push_image(&registry, "app", "1.0", "counted").unwrap();
    let guest = common::forwarding_guest("oci", HostConfig::default());
    let answer = guest
        .call(
            "v1/oci_manifest",
            &serde_json::to_vec(&pushed.reference).unwrap(),
        )
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert!(answer.get("layers").is_some(), "{answer}");
    let calls = guest.manifest_lookups();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].payload, format!("{:?}", pushed.reference));
    assert!(guest.list_calls().is_empty() && guest.digest_lookups().is_empty());
}

// ---- kwrun: --cluster-state, --allow-context-aware ----

fn kwrun(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kwrun"))
        .args(args)
        .output()
        .expect("run kwrun")
}

fn fixture(name: &str) -> String {
    e2e_tests::workspace_root()
        .join("e2e-tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn kwrun_grants_what_the_policy_metadata_lists_only_with_allow_context_aware() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = std::fs::read(e2e_tests::policy_wasm_path()).expect("build policy.wasm first");
    let metadata = json!({"rules": [], "mutating": true,
        "contextAwareResources": [{"apiVersion": "v1", "kind": "Pod"}]});
    // `make`'s policy.wasm is not annotated; one that is (POLICY_WASM) keeps its own list.
    let (annotated, granted) = match e2e_tests::annotate::read_metadata(&wasm).unwrap() {
        Some(embedded) => {
            let granted = e2e_tests::context_aware::resources_of_metadata(&embedded).unwrap();
            (wasm, granted)
        }
        None => (
            e2e_tests::annotate::annotate(&wasm, &metadata).unwrap(),
            pods(),
        ),
    };
    let granted: Vec<String> = granted
        .iter()
        .map(|r| format!("{}/{}", r.api_version, r.kind))
        .collect();
    let policy = dir.path().join("annotated.wasm");
    std::fs::write(&policy, annotated).unwrap();
    let policy = policy.display().to_string();
    let state = write(
        &dir,
        "pods.json",
        &kubectl_list(vec![replica("default", "a", "web:1")]).to_string(),
    );
    let state = state.display().to_string();
    let request = fixture("pod-versioned-always.json");
    let base = ["-v", "--cluster-state", &state, "-r", &request];

    let with = kwrun(&[&base[..], &["--allow-context-aware", &policy]].concat());
    let stderr = String::from_utf8_lossy(&with.stderr);
    assert!(with.status.success(), "{stderr}");
    let expected = format!(
        "cluster state: 1 objects (v1/Pod); granted: {}\n",
        granted.join(", ")
    );
    assert!(stderr.contains(&expected), "{stderr}");

    let without = kwrun(&[&base[..], &[policy.as_str()]].concat());
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(without.status.success(), "{stderr}");
    assert!(stderr.contains("granted: \n"), "{stderr}");
    if !granted.is_empty() {
        assert!(
            stderr.contains("Policy requires access to Kubernetes resources at evaluation time"),
            "{stderr}"
        );
    }
}

#[test]
fn kwrun_reads_the_grant_from_a_metadata_file_for_a_policy_not_annotated() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = write(
        &dir,
        "metadata.yml",
        "rules: []\nmutating: true\ncontextAwareResources:\n  - apiVersion: apps/v1\n    kind: ReplicaSet\n",
    );
    let metadata = metadata.display().to_string();
    let policy = e2e_tests::policy_wasm_path().display().to_string();
    let request = fixture("pod-versioned-always.json");
    let out = kwrun(&[
        "-v",
        "--allow-context-aware",
        "--context-aware-resources-from",
        &metadata,
        "-r",
        &request,
        &policy,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cluster state: 0 objects (); granted: apps/v1/ReplicaSet"),
        "{stderr}"
    );

    let out = kwrun(&[
        "--context-aware-resources-from",
        &metadata,
        "-r",
        &request,
        &policy,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --allow-context-aware"));

    let bad = write(&dir, "bad.json", "{\"kind\": \"Pod\"}");
    let out = kwrun(&[
        "--cluster-state",
        &bad.display().to_string(),
        "-r",
        &request,
        &policy,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.json") && stderr.contains("found a Pod"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
