//! The requests `make bench` times and the fuel guard (`tests/fuel_budget.rs`) counts: a Pod
//! (2 containers), a Deployment (35 containers) and a CronJob (2 containers), with the fields
//! a real cluster sends (managed fields, probes, env, mounts, security contexts), wrapped in
//! the AdmissionRequest the API server would send; a ReplicaSet's new replica
//! ([`new_replica`], for `replicabench` and the replicas' e2e tests); and how the benches print
//! a time ([`duration`]).

use serde_json::{Value, json};

/// The Pod, Deployment (35 containers) and CronJob, with each container's `imagePullPolicy`
/// set to `pull`.
pub fn samples(pull: &str) -> (Value, Value, Value) {
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

/// The image of the Deployment's `i`-th container.
pub fn svc_image(i: usize) -> String {
    format!("registry.example.com/shop/svc-{i}:1.{i}.0")
}

/// The AdmissionRequest of `operation` on `object` (with `old` as its old object), as the API
/// server sends it for a kind of `group`/`version`.
pub fn request(
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
pub fn container(i: usize, image: &str, env: usize) -> Value {
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

pub fn workload(kind: &str, api_version: &str, containers: Vec<Value>) -> Value {
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

/// A controller owner reference: a ReplicaSet `name` with `uid`.
pub fn replicaset_owner(name: &str, uid: &str) -> Value {
    json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "uid": uid,
        "controller": true, "blockOwnerDeletion": true}])
}

/// The ReplicaSet controller's CREATE of a new replica of `owner` (name, uid) in `namespace`,
/// whose template says `image` (container `name`, pulled Always).
pub fn new_replica(namespace: &str, owner: (&str, &str), name: &str, image: &str) -> Value {
    let (owner_name, uid) = owner;
    json!({
        "uid": "new-replica", "namespace": namespace,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "operation": "CREATE", "dryRun": false,
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "object": {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": format!("{owner_name}-"), "namespace": namespace,
                "labels": {"app": name}, "ownerReferences": replicaset_owner(owner_name, uid)},
            "spec": {"containers": [{"name": name, "image": image, "imagePullPolicy": "Always"}]}
        }
    })
}

/// `91.7 µs`, `3.24 ms`: a time as the benches print it.
pub fn duration(d: std::time::Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// `n` running Pods of namespace `bench`: two replicas of `owner` (name, uid) whose container
/// `web` is `written` pinned to `digest` and runs it, the others replicas of other ReplicaSets (three each), each with two containers
/// of the bench's sample shape (environment, probes, resources) and their statuses.
pub fn namespace_pods(n: usize, owner: (&str, &str), written: &str, digest: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let (rs, uid, image) = if i < 2 {
                (owner.0.to_owned(), owner.1.to_owned(), format!("{written}@{digest}"))
            } else {
                let rs = format!("svc-{}", i / 3);
                let uid = format!("00000000-0000-4000-8000-{:012}", i / 3);
                (rs, uid, format!("ghcr.io/example/svc-{}:1.{}@{digest}", i / 3, i % 7))
            };
            let mut web = container(0, &image, 8);
            web["name"] = json!("web");
            let sidecar = container(1, "ghcr.io/example/proxy:2.1", 4);
            let status = |c: &Value| {
                json!({"name": c["name"], "image": c["image"], "ready": true, "restartCount": 0,
                    "started": true, "containerID": format!("containerd://{:064x}", i),
                    "imageID": format!("{}@{digest}", repository(c["image"].as_str().unwrap_or(""))),
                    "state": {"running": {"startedAt": "2026-12-06T10:00:00Z"}}})
            };
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {
                    "name": format!("{rs}-{i}"), "namespace": "bench",
                    "uid": format!("pod-{i:08}"), "resourceVersion": format!("{}", 1000 + i),
                    "creationTimestamp": format!("2026-12-06T10:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                    "labels": {"app": rs, "pod-template-hash": "7d9"},
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-06T09:00:00Z"},
                    "ownerReferences": replicaset_owner(&rs, &uid),
                    "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                        "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}]
                },
                "spec": {"containers": [web.clone(), sidecar.clone()], "nodeName": format!("node-{}", i % 20),
                    "serviceAccountName": "default", "restartPolicy": "Always"},
                "status": {"phase": "Running", "podIP": format!("10.0.{}.{}", i / 250, i % 250),
                    "containerStatuses": [status(&web), status(&sidecar)]}
            })
        })
        .collect()
}

/// `registry:5000/app` of `registry:5000/app:v1@sha256:…`: what containerd's `imageID` names.
fn repository(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or(image);
    match (name.rfind(':'), name.rfind('/')) {
        (Some(colon), slash) if slash.is_none_or(|s| colon > s) => &name[..colon],
        _ => name,
    }
}
