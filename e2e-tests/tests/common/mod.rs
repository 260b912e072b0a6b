//! Helpers shared by the integration tests: the policy under test, request builders, and a
//! hand-written guest that forwards its calls to the host (for tests of the host alone).
#![allow(dead_code)] // each test crate uses a different subset

use std::sync::OnceLock;

use e2e_tests::{HostConfig, Policy, PolicyModule, policy_wasm_path, workspace_root};
use serde_json::{Value, json};

/// A file of the repository, by its path from the workspace root.
pub fn workspace_file(name: &str) -> String {
    let path = workspace_root().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON file of `test_data/`, by its path there.
pub fn test_data(name: &str) -> Value {
    let text = workspace_file(&format!("test_data/{name}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("test_data/{name}: {e}"))
}

/// The policy under test, compiled once per test binary. A missing `policy.wasm` fails the
/// test (build it with `make policy.wasm`, or point env `POLICY_WASM` at a build).
pub fn policy_module() -> PolicyModule {
    static MODULE: OnceLock<PolicyModule> = OnceLock::new();
    let module = MODULE.get_or_init(|| {
        let path = policy_wasm_path();
        assert!(
            path.exists(),
            "policy wasm {} not found; build it with `make policy.wasm`",
            path.display()
        );
        PolicyModule::from_file(&path).unwrap_or_else(|e| panic!("{e}"))
    });
    module.clone()
}

/// A policy instance answering host calls per `config`.
pub fn policy(config: HostConfig) -> Policy {
    policy_module()
        .instantiate(config)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Evaluates `request` with `settings`, asserting first that the settings are valid.
pub fn evaluate(
    policy: &Policy,
    settings: &Value,
    request: &Value,
) -> e2e_tests::AdmissionResponse {
    let verdict = policy
        .validate_settings(settings)
        .expect("validate_settings");
    assert!(
        verdict.valid,
        "settings {settings} should be valid: {verdict:?}"
    );
    policy.validate(request, settings)
}

pub fn default_host() -> HostConfig {
    HostConfig::default()
}

/// A container; `pull` is its `imagePullPolicy`, omitted when `None`.
pub fn container(name: &str, image: &str, pull: Option<&str>) -> Value {
    let mut c = json!({"name": name, "image": image});
    if let Some(p) = pull {
        c["imagePullPolicy"] = json!(p);
    }
    c
}

/// A Pod whose spec is `spec`.
pub fn pod(spec: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "e2e", "namespace": "default", "labels": {"app": "e2e"}},
        "spec": spec,
    })
}

/// A Pod with these containers.
pub fn pod_with(containers: Vec<Value>) -> Value {
    pod(json!({"containers": containers}))
}

fn pod_template(containers: Vec<Value>) -> Value {
    json!({"metadata": {"labels": {"app": "e2e"}}, "spec": {"containers": containers}})
}

/// A Deployment with these containers.
pub fn deployment_with(containers: Vec<Value>) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "e2e", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "e2e"}},
            "template": pod_template(containers),
        },
    })
}

/// A CronJob with these containers.
pub fn cronjob_with(containers: Vec<Value>) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "e2e", "namespace": "default"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": pod_template(containers)}},
        },
    })
}

/// (group, version, kind, resource) of the kinds the tests use.
fn gvkr(kind: &str) -> (&'static str, &'static str, &'static str) {
    match kind {
        "Pod" => ("", "v1", "pods"),
        "Deployment" => ("apps", "v1", "deployments"),
        "CronJob" => ("batch", "v1", "cronjobs"),
        "ConfigMap" => ("", "v1", "configmaps"),
        other => panic!("add {other} to gvkr"),
    }
}

/// A bare AdmissionRequest (as `kwctl run` takes it) for `operation` on `object`.
pub fn admission_request(operation: &str, object: Value, old_object: Option<Value>) -> Value {
    let source = if object.is_null() {
        old_object.as_ref().unwrap_or(&Value::Null)
    } else {
        &object
    };
    let kind = source["kind"].as_str().unwrap_or("Pod").to_string();
    let (group, version, resource) = gvkr(&kind);
    let gvk = json!({"group": group, "version": version, "kind": kind});
    let gvr = json!({"group": group, "version": version, "resource": resource});
    json!({
        "uid": format!("e2e-{}-{}", operation.to_lowercase(), kind.to_lowercase()),
        "kind": gvk,
        "resource": gvr,
        "requestKind": gvk,
        "requestResource": gvr,
        "name": source["metadata"]["name"],
        "namespace": source["metadata"]["namespace"],
        "operation": operation,
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
        "object": object,
        "oldObject": old_object.unwrap_or(Value::Null),
        "dryRun": false,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
    })
}

/// CREATE of `object`.
pub fn create(object: Value) -> Value {
    admission_request("CREATE", object, None)
}

/// A guest whose call `op(payload)` is forwarded to the host call `kubewarden/<namespace>/op`
/// (the host's answer is returned, its error becomes the guest's error).
pub fn forwarding_guest(namespace: &str, config: HostConfig) -> e2e_tests::Policy {
    let wat = format!(
        r#"
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "kubewarden")
  (data (i32.const 16) "{namespace}")
  (func (export "__guest_call") (param $op_len i32) (param $req_len i32) (result i32)
    (local $payload i32)
    (local.set $payload (i32.add (i32.const 1024) (local.get $op_len)))
    (call $guest_request (i32.const 1024) (local.get $payload))
    (if (i32.eqz
          (call $host_call
            (i32.const 0) (i32.const 10)
            (i32.const 16) (i32.const {len})
            (i32.const 1024) (local.get $op_len)
            (local.get $payload) (local.get $req_len)))
      (then
        (call $host_error (i32.const 65536))
        (call $guest_error (i32.const 65536) (call $host_error_len))
        (return (i32.const 0))))
    (call $host_response (i32.const 65536))
    (call $guest_response (i32.const 65536) (call $host_response_len))
    (i32.const 1)))
"#,
        len = namespace.len()
    );
    PolicyModule::from_bytes(wat.as_bytes())
        .expect("compile the WAT guest")
        .instantiate(config)
        .expect("instantiate the WAT guest")
}
