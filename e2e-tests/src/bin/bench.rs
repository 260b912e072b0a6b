//! `bench`: times `validate` of a policy through the e2e host against floor policies on the
//! same requests in the same run, and prints the medians and their ratio: validating answers
//! against a no-op policy, mutating answers against the cheapest possible mutating policy
//! (`e2e-tests/mutate-floor-policy`: it rewrites `"IfNotPresent"` to `"Always"` in the
//! object's text and hands it back).
//!
//! Each timed call does what policy-server does per request: parse the AdmissionRequest
//! bytes, build the `{"request", "settings"}` payload, call the guest over waPC, read its
//! answer and build the AdmissionResponse (parsing the mutated object and computing the
//! JSONPatch when it mutates).
//!
//! The last table times the same with a fresh instance per request, as policy-server runs a
//! policy (it rehydrates the precompiled module for every request: `wapc_init`, then
//! `validate`, whose settings the policy reads and compiles anew, since no memory survives),
//! against the no-op policy also instantiated per request. `kwctl bench` and the first two
//! tables keep one instance.
//!
//! Usage: bench [--iterations N] POLICY.wasm NOOP.wasm MUTATE_FLOOR.wasm
//!        bench --write-requests DIR
//!
//! `--write-requests` writes each validating case's request (bare AdmissionRequest) and
//! settings to DIR instead, for `kwctl bench` and instruction counts on the same requests
//! (docs/performance.md).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use e2e_tests::{DigestCache, HostConfig, Policy};
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    request: Vec<u8>,
    /// What the policy must answer, checked before timing: accepted, mutated.
    expect: (bool, bool),
    /// The settings in the payload (the floors ignore them).
    settings: Value,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut iterations = 400usize;
    let mut paths = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--write-requests" => {
                return match it.next() {
                    Some(dir) => write_requests(&dir),
                    None => usage("--write-requests needs a directory"),
                };
            }
            "--iterations" => match it.next().and_then(|n| n.parse().ok()) {
                Some(n) => iterations = n,
                None => return usage("--iterations needs a number"),
            },
            _ => paths.push(a),
        }
    }
    let [policy_path, noop_path, floor_path] = paths.as_slice() else {
        return usage("give the policy, the no-op policy and the mutate-floor policy");
    };
    // The pinning case finds its digests in the host's cache, as policy-server serves them
    // once looked up (kept for the whole run here).
    let cache = DigestCache::with_ttl(Duration::from_secs(24 * 3600));
    for (image, digest) in pinned_images() {
        cache.put(&image, &digest);
    }
    let config = |instance_per_request| HostConfig {
        digest_cache: Some(cache.clone()),
        instance_per_request,
        ..HostConfig::default()
    };
    let load = |p: &str, fresh| Policy::load(p, config(fresh)).map_err(|e| format!("{p}: {e}"));
    let loaded = [
        load(policy_path, false),
        load(noop_path, false),
        load(floor_path, false),
        load(policy_path, true),
        load(noop_path, true),
    ];
    let [policy, noop, floor, fresh_policy, fresh_noop] = match loaded {
        [Ok(a), Ok(b), Ok(c), Ok(d), Ok(e)] => [a, b, c, d, e],
        failed => {
            for e in failed.into_iter().filter_map(Result::err) {
                eprintln!("bench: {e}");
            }
            return ExitCode::FAILURE;
        }
    };

    println!(
        "policy.wasm {} bytes, no-op {} bytes, mutate-floor {} bytes; {iterations} timed calls \
         per cell, medians",
        size(policy_path),
        size(noop_path),
        size(floor_path)
    );
    let tables = [
        (
            "validating answers",
            &policy,
            "no-op",
            &noop,
            validating_cases(),
        ),
        (
            "mutating answers",
            &policy,
            "floor",
            &floor,
            mutating_cases(),
        ),
        (
            "validating answers, a fresh instance per request (as policy-server)",
            &fresh_policy,
            "no-op",
            &fresh_noop,
            per_request_cases(),
        ),
    ];
    for (title, policy, floor_name, floor_policy, cases) in tables {
        println!("\n{title}");
        println!(
            "{:<38} {:>8} {:>12} {:>12} {:>7}",
            "request", "bytes", "policy", floor_name, "ratio"
        );
        for case in cases {
            let answer = admit(policy, &case.request, &case.settings);
            let got = (answer.allowed, answer.patch.is_some());
            if got != case.expect {
                eprintln!(
                    "bench: {} answered (allowed, mutated) = {got:?}, expected {:?}: {answer:?}",
                    case.name, case.expect
                );
                return ExitCode::FAILURE;
            }
            let (p, n) = medians(
                policy,
                floor_policy,
                &case.request,
                &case.settings,
                iterations,
            );
            println!(
                "{:<38} {:>8} {:>12} {:>12} {:>6.2}x",
                case.name,
                case.request.len(),
                fmt(p),
                fmt(n),
                p.as_secs_f64() / n.as_secs_f64()
            );
        }
    }
    ExitCode::SUCCESS
}

fn usage(why: &str) -> ExitCode {
    eprintln!(
        "bench: {why}\nusage: bench [--iterations N] POLICY.wasm NOOP.wasm MUTATE_FLOOR.wasm\n       bench --write-requests DIR"
    );
    ExitCode::from(2)
}

/// Writes every validating case (the fresh-instance table's, which holds the first table's
/// Pod and Deployment with both settings) as `<name>.json` and `<name>.settings.json`.
fn write_requests(dir: &str) -> ExitCode {
    let cases = per_request_cases().into_iter().chain(validating_cases());
    let mut written = std::collections::BTreeSet::new();
    for case in cases {
        let name: String = case
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .split('-')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        if !written.insert(name.clone()) {
            continue;
        }
        let settings = serde_json::to_vec(&case.settings).expect("serializable");
        let files = [
            (format!("{dir}/{name}.json"), case.request),
            (format!("{dir}/{name}.settings.json"), settings),
        ];
        for (path, bytes) in files {
            if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, bytes))
            {
                eprintln!("bench: {path}: {e}");
                return ExitCode::FAILURE;
            }
            println!("{path}");
        }
    }
    ExitCode::SUCCESS
}

fn size(path: &str) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// One admission as the host handles it, from the request's bytes to the response.
fn admit(policy: &Policy, request: &[u8], settings: &Value) -> e2e_tests::AdmissionResponse {
    let request: Value = serde_json::from_slice(request).expect("bench requests are JSON");
    policy.validate(&request, settings)
}

/// Medians of the policy and a floor on one request, timed alternately so that a change in
/// the machine's load during the run weighs on both alike. Both get the same payload (the
/// floors ignore the settings in it).
fn medians(
    policy: &Policy,
    floor: &Policy,
    request: &[u8],
    settings: &Value,
    iterations: usize,
) -> (Duration, Duration) {
    let time = |p: &Policy, settings: &Value| {
        let start = Instant::now();
        black_box(admit(p, black_box(request), settings));
        start.elapsed()
    };
    for _ in 0..iterations.div_ceil(10) {
        time(policy, settings);
        time(floor, settings);
    }
    let (mut a, mut b): (Vec<Duration>, Vec<Duration>) = (0..iterations)
        .map(|_| (time(policy, settings), time(floor, settings)))
        .unzip();
    a.sort();
    b.sort();
    (a[a.len() / 2], b[b.len() / 2])
}

// ---- the requests ----

/// The Pod, Deployment (35 containers) and CronJob every table times, with each container's
/// `imagePullPolicy` set to `pull`.
fn samples(pull: &str) -> (Value, Value, Value) {
    let c = |i: usize, image: &str, env: usize| {
        let mut c = container(i, image, env);
        c["imagePullPolicy"] = json!(pull);
        c
    };
    let pod = pod(vec![
        c(0, "registry.example.com/shop/web:2.14.1", 4),
        c(1, "registry.example.com/shop/sidecar:1.3.0", 2),
    ]);
    let deployment = workload(
        "Deployment",
        "apps/v1",
        (0..35).map(|i| c(i, &svc_image(i), 20)).collect(),
    );
    let cronjob = cronjob(vec![
        c(0, "registry.example.com/ops/backup:3.2.1", 6),
        c(1, "registry.example.com/ops/uploader:0.9.4", 3),
    ]);
    (pod, deployment, cronjob)
}

fn validating_cases() -> Vec<Case> {
    let (small_pod, deployment, cronjob) = samples("Always");
    let rejected = workload(
        "Deployment",
        "apps/v1",
        (0..35)
            .map(|i| {
                let image = match i % 3 {
                    0 => format!("registry.example.com/shop/svc-{i}:latest"),
                    1 => format!("registry.example.com/shop/svc-{i}"),
                    _ => format!("localhost:5000/svc-{i}"),
                };
                container(i, &image, 20)
            })
            .collect(),
    );
    let old = deployment.clone();
    let mut new = deployment.clone();
    new["metadata"]["labels"]["rollout"] = json!("canary");
    new["metadata"]["resourceVersion"] = json!("48213");

    let bytes = |v: &Value| serde_json::to_vec(v).expect("serializable");
    vec![
        Case {
            name: "Pod, 2 containers",
            request: bytes(&request("Pod", "", "v1", "CREATE", &small_pod, None)),
            expect: (true, false),
            settings: json!({}),
        },
        Case {
            name: "Deployment, 35 containers",
            request: bytes(&request(
                "Deployment",
                "apps",
                "v1",
                "CREATE",
                &deployment,
                None,
            )),
            expect: (true, false),
            settings: json!({}),
        },
        Case {
            name: "CronJob, 2 containers",
            request: bytes(&request("CronJob", "batch", "v1", "CREATE", &cronjob, None)),
            expect: (true, false),
            settings: json!({}),
        },
        Case {
            name: "Deployment, 35 violations",
            request: bytes(&request(
                "Deployment",
                "apps",
                "v1",
                "CREATE",
                &rejected,
                None,
            )),
            expect: (false, false),
            settings: json!({}),
        },
        Case {
            name: "Deployment UPDATE, labels only",
            request: bytes(&request(
                "Deployment",
                "apps",
                "v1",
                "UPDATE",
                &new,
                Some(&old),
            )),
            expect: (true, false),
            settings: json!({}),
        },
    ]
}

/// The Pod and the Deployment with default settings, each followed by itself with the
/// settings of the README's example (tag globs, two tag patterns, a registry, exemptions),
/// which a fresh instance reads and compiles on every request.
fn per_request_cases() -> Vec<Case> {
    let example = json!({
        "mutableTags": ["latest", "stable", "edge", "*-snapshot"],
        "immutableTagPatterns": ["semver", "sha-[0-9a-f]{7,40}"],
        "immutableRegistries": ["123456789012.dkr.ecr.eu-west-1.amazonaws.com"],
        "exemptImages": ["registry.k8s.io/pause:*"],
        "exemptContainers": [{"name": "istio-proxy", "type": "any"}],
    });
    let names = [
        "Pod, README example settings",
        "Deployment, README example settings",
    ];
    validating_cases()
        .into_iter()
        .zip(names)
        .flat_map(|(case, name)| {
            let with_example = Case {
                name,
                request: case.request.clone(),
                expect: case.expect,
                settings: example.clone(),
            };
            [case, with_example]
        })
        .collect()
}

/// The image of the `i`-th container of the mutation cases.
fn svc_image(i: usize) -> String {
    format!("registry.example.com/shop/svc-{i}:1.{i}.0")
}

/// The 35 images of the pinning case and their digests.
fn pinned_images() -> Vec<(String, String)> {
    (0..35)
        .map(|i| (svc_image(i), format!("sha256:{:064x}", 0x5eed_0000 + i)))
        .collect()
}

/// Requests whose containers say `IfNotPresent`: with default settings the policy sets
/// Always, as the floor does; in the pinning case it pins every image instead (IfNotPresent
/// is allowed once pinned), as many edits as the floor makes.
fn mutating_cases() -> Vec<Case> {
    let (pod, deployment, cronjob) = samples("IfNotPresent");
    let bytes = |v: &Value| serde_json::to_vec(v).expect("serializable");
    let create = |kind: &str, group: &str, object: &Value| {
        bytes(&request(kind, group, "v1", "CREATE", object, None))
    };
    let mutated = |name, request, settings| Case {
        name,
        request,
        expect: (true, true),
        settings,
    };
    let pin = json!({"mutableTagAction": "pin", "pinImmutableTags": true,
                     "allowIfNotPresentWhenPinned": true});
    vec![
        mutated("Pod, 2 containers", create("Pod", "", &pod), json!({})),
        mutated(
            "CronJob, 2 containers",
            create("CronJob", "batch", &cronjob),
            json!({}),
        ),
        mutated(
            "Deployment, 35 containers",
            create("Deployment", "apps", &deployment),
            json!({}),
        ),
        mutated(
            "Deployment, 35 pins written",
            create("Deployment", "apps", &deployment),
            pin,
        ),
    ]
}

fn request(
    kind: &str,
    group: &str,
    version: &str,
    operation: &str,
    object: &Value,
    old: Option<&Value>,
) -> Value {
    let resource = format!("{}s", kind.to_lowercase());
    json!({
        "uid": "1299d386-525b-4032-98ae-1949f69f9cfc",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": "shop",
        "namespace": "shop",
        "operation": operation,
        "userInfo": {
            "username": "system:serviceaccount:argocd:argocd-application-controller",
            "uid": "0e3b1f5c-4c11-4a9e-9a43-3c2b8d1f7e21",
            "groups": ["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"]
        },
        "object": object,
        "oldObject": old,
        "dryRun": false,
        "options": {"kind": format!("{}Options", if operation == "CREATE" { "Create" } else { "Update" }),
                    "apiVersion": "meta.k8s.io/v1", "fieldManager": "argocd-controller"}
    })
}

fn metadata(kind: &str) -> Value {
    json!({
        "name": "shop",
        "namespace": "shop",
        "uid": "5b2c9e0a-8f61-4c3e-9d1e-7a4b2f6c8d90",
        "generation": 7,
        "creationTimestamp": "2026-10-02T09:14:27Z",
        "labels": {"app.kubernetes.io/name": "shop", "app.kubernetes.io/part-of": "storefront",
                   "app.kubernetes.io/managed-by": "argocd"},
        "annotations": {"argocd.argoproj.io/tracking-id": format!("shop:apps/{kind}:shop/shop"),
                        "deployment.kubernetes.io/revision": "7"},
        "managedFields": [{"manager": "argocd-controller", "operation": "Apply", "apiVersion": "apps/v1",
                           "time": "2026-11-20T16:02:11Z", "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}},
                                        "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}}}}]
    })
}

/// A container with realistic fields: env, probes, resources, mounts, security context.
fn container(i: usize, image: &str, env: usize) -> Value {
    json!({
        "name": format!("svc-{i}"),
        "image": image,
        "imagePullPolicy": "Always",
        "args": ["--port=8080", "--log-format=json", format!("--shard={i}")],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
        "env": (0..env).map(|e| json!({"name": format!("SHOP_SETTING_{e}"), "value": format!("value-{i}-{e}")}))
            .chain([json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}),
                    json!({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "shop-db", "key": "password"}}})])
            .collect::<Vec<_>>(),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                          "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 1,
                          "successThreshold": 1, "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http", "scheme": "HTTP"},
                           "periodSeconds": 5, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/shop", "readOnly": true},
                         {"name": "tmp", "mountPath": "/tmp"},
                         {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File"
    })
}

fn pod_spec(containers: Vec<Value>) -> Value {
    json!({
        "containers": containers,
        "volumes": [{"name": "config", "configMap": {"name": "shop-config", "defaultMode": 420}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "shop",
        "securityContext": {"fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100,
            "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "shop"}}}}]}},
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
        "schedulerName": "default-scheduler"
    })
}

fn pod(containers: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata("Pod"), "spec": pod_spec(containers)})
}

fn template(containers: Vec<Value>) -> Value {
    json!({"metadata": {"labels": {"app.kubernetes.io/name": "shop"}}, "spec": pod_spec(containers)})
}

fn workload(kind: &str, api_version: &str, containers: Vec<Value>) -> Value {
    json!({
        "apiVersion": api_version, "kind": kind, "metadata": metadata(kind),
        "spec": {"replicas": 3, "revisionHistoryLimit": 10,
                 "selector": {"matchLabels": {"app.kubernetes.io/name": "shop"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                 "template": template(containers)},
        "status": {"observedGeneration": 7, "replicas": 3, "readyReplicas": 3, "availableReplicas": 3}
    })
}

fn cronjob(containers: Vec<Value>) -> Value {
    let mut t = template(containers);
    t["spec"]["restartPolicy"] = json!("OnFailure");
    json!({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata("CronJob"),
        "spec": {"schedule": "17 3 * * *", "concurrencyPolicy": "Forbid", "successfulJobsHistoryLimit": 3,
                 "jobTemplate": {"spec": {"backoffLimit": 2, "template": t}}}
    })
}
