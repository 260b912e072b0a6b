//! Same bytes on every replica, against the real registry (docs/design.md, "Same bytes on every
//! replica"): the e2e host lists the namespace's Pods from a cluster state as policy-server
//! does (granted `v1/Pod`, field masks, `PodList`), and the registry sits behind a proxy that
//! counts the requests that reach it.
//!
//! The scenario of the issue that asked for it: two replicas of ReplicaSet `hello-7d9` pinned to
//! build A and running it; `v1` re-pushed to build B; the third replica pinned to A with no
//! request reaching the registry, to B with `pinFromReplicas: false`; and the audit of the
//! three Pods reports the drift on each of them.

mod common;

use std::collections::BTreeSet;

use e2e_tests::images::{Platform, push_image, push_multi_arch};
use e2e_tests::proxy::FaultProxy;
use e2e_tests::samples;
use e2e_tests::{AdmissionResponse, ClusterState, ContextAwareResource, HostConfig, Registry};
use serde_json::{Value, json};

const OWNER_UID: &str = "3b9e1c4a-7d2f-4e8a-9c61-5a0d2f7e8b13";

/// A host that has granted `v1/Pod` and lists `pods`, with fresh digest and manifest caches
/// (so that nothing comes from an earlier step's cache).
fn host(pods: &[Value]) -> HostConfig {
    let cluster =
        ClusterState::from_list(json!({"apiVersion": "v1", "kind": "List", "items": pods}))
            .unwrap();
    HostConfig {
        cluster,
        context_aware_resources: BTreeSet::from([ContextAwareResource::new("v1", "Pod")]),
        ..HostConfig::default()
    }
}

/// The ReplicaSet controller's CREATE of a new replica whose template says `image`.
fn new_replica(image: &str) -> Value {
    samples::new_replica("drift", ("hello-7d9", OWNER_UID), "hello", image)
}

/// The replica as the API server keeps it once the kubelet runs it: named, pinned to what
/// admission wrote, and running `digest` (containerd's `imageID`: `<repository>@<digest>`).
fn running(name: &str, second: u32, admitted: &Value, repository: &str, digest: &str) -> Value {
    let mut pod = admitted.clone();
    pod["metadata"]["name"] = json!(name);
    pod["metadata"]["creationTimestamp"] = json!(format!("2026-12-06T10:00:{second:02}Z"));
    pod["metadata"]["uid"] = json!(format!("pod-{name}"));
    let image = pod["spec"]["containers"][0]["image"].clone();
    pod["status"] = json!({"phase": "Running", "containerStatuses": [{"name": "hello",
        "image": image, "imageID": format!("{repository}@{digest}"), "ready": true,
        "state": {"running": {"startedAt": "2026-12-06T10:00:00Z"}}}]});
    pod
}

/// The audit-scanner's request for `pod`: no user, no dryRun.
fn audit_of(pod: &Value) -> Value {
    json!({
        "uid": "e2e-audit", "namespace": "drift", "name": pod["metadata"]["name"],
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "Pod"},
        "operation": "CREATE", "userInfo": {}, "object": pod, "oldObject": null
    })
}

fn pinned_object(resp: &AdmissionResponse, request: &Value) -> Value {
    assert!(resp.allowed, "expected acceptance, got {resp:?}");
    resp.patched(&request["object"]).expect("apply the patch")
}

#[test]
fn replicas_of_one_replicaset_run_the_same_bytes_after_the_tag_moves() {
    let registry = Registry::start().unwrap();
    let proxy = FaultProxy::start(&registry.host()).unwrap();
    let settings = json!({"mutableTags": ["v1"], "mutableTagAction": "pin"});
    let a = push_image(&registry, "drift/app", "v1", "monday's build").unwrap();
    let repository = format!("{}/drift/app", proxy.host());
    let written = format!("{repository}:v1");
    let request = new_replica(&written);

    // The first replica has no replica to follow: the registry is asked.
    let p = common::policy(host(&[]));
    let resp = p.validate(&request, &settings);
    let first = pinned_object(&resp, &request);
    assert_eq!(
        first["spec"]["containers"][0]["image"],
        format!("{written}@{}", a.digest)
    );
    assert!(!proxy.requests().is_empty(), "the registry was asked");
    let mut pods = vec![running("hello-7d9-a", 1, &first, &repository, &a.digest)];

    // The second follows the first, with no request reaching the registry.
    proxy.clear_requests();
    let p = common::policy(host(&pods));
    let resp = p.validate(&request, &settings);
    let second = pinned_object(&resp, &request);
    assert_eq!(
        second["spec"]["containers"][0]["image"],
        format!("{written}@{}", a.digest)
    );
    assert_eq!(proxy.requests(), Vec::<String>::new());
    pods.push(running("hello-7d9-b", 2, &second, &repository, &a.digest));

    // Wednesday: the tag is re-pushed.
    let b = push_image(&registry, "drift/app", "v1", "wednesday's build").unwrap();
    assert_ne!(a.digest, b.digest);

    // The third replica runs what the other two run; the registry never hears of it.
    proxy.clear_requests();
    let p = common::policy(host(&pods));
    let resp = p.validate(&request, &settings);
    let third = pinned_object(&resp, &request);
    assert_eq!(
        third["spec"]["containers"][0]["image"],
        format!("{written}@{}", a.digest)
    );
    assert_eq!(
        proxy.requests(),
        Vec::<String>::new(),
        "no request reached the registry"
    );
    assert_eq!(p.list_calls().len(), 1);
    assert!(p.digest_lookups().is_empty() && p.manifest_lookups().is_empty());
    assert_eq!(
        resp.audit_annotations.as_ref().unwrap()["pin.containers.0"],
        format!("{written} -> {} (from replicas)", a.digest)
    );

    // With pinFromReplicas false it is pinned alone: to B, the registry asked, nothing listed.
    let mut alone = settings.clone();
    alone["pinFromReplicas"] = json!(false);
    let p = common::policy(host(&pods));
    let resp = p.validate(&request, &alone);
    let third_alone = pinned_object(&resp, &request);
    assert_eq!(
        third_alone["spec"]["containers"][0]["image"],
        format!("{written}@{}", b.digest)
    );
    assert!(!proxy.requests().is_empty(), "the registry was asked");
    assert!(p.list_calls().is_empty());
    pods.push(running(
        "hello-7d9-c",
        3,
        &third_alone,
        &repository,
        &b.digest,
    ));

    // The audit of each of the three Pods reports the drift, and asks no registry.
    proxy.clear_requests();
    let short = |d: &str| format!("{}…", &d[..19]);
    for pod in &pods {
        let p = common::policy(host(&pods));
        let resp = p.validate(&audit_of(pod), &settings);
        assert!(!resp.allowed, "{resp:?}");
        let own = pod["status"]["containerStatuses"][0]["imageID"]
            .as_str()
            .unwrap();
        let own = &own[own.len() - 71..];
        assert_eq!(
            resp.message(),
            format!(
                "spec.containers[0] \"hello\" image {:?} (running {}): 3 replicas of ReplicaSet \
                 hello-7d9 run 2 digests: {} (hello-7d9-a, hello-7d9-b), {} (hello-7d9-c)",
                pod["spec"]["containers"][0]["image"].as_str().unwrap(),
                short(own),
                short(&a.digest),
                short(&b.digest),
            )
        );
        assert_eq!(p.list_calls().len(), 1);
    }
    assert_eq!(
        proxy.requests(),
        Vec::<String>::new(),
        "audits ask no registry"
    );
}

#[test]
fn without_the_grant_a_replica_is_pinned_alone_and_the_answer_says_nothing_of_it() {
    let registry = Registry::start().unwrap();
    let settings = json!({"mutableTags": ["v1"], "mutableTagAction": "pin"});
    let a = push_image(&registry, "drift/app", "v1", "monday's build").unwrap();
    // A replica that holds and runs another build: with the grant it would be followed.
    let other = format!("sha256:{}", "b".repeat(64));
    let mut admitted = new_replica(&format!("{}@{other}", a.reference))["object"].clone();
    admitted["metadata"]["namespace"] = json!("drift");
    let repository = a.reference.trim_end_matches(":v1").to_owned();
    let b_pod = running("hello-7d9-a", 1, &admitted, &repository, &other);
    let mut config = host(&[b_pod]);
    config.context_aware_resources.clear();
    let p = common::policy(config);
    let request = new_replica(&a.reference);
    let resp = p.validate(&request, &settings);
    let pinned = pinned_object(&resp, &request);
    assert_eq!(pinned["spec"]["containers"][0]["image"], a.pinned());
    assert!(resp.warnings().is_empty(), "{resp:?}");
    let calls = p.list_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].outcome,
        Err("Policy has not been granted access to Kubernetes v1/Pod resources. The violation has been reported.".to_owned())
    );
}

/// Replicas admitted before the policy run the multi-arch tag unpinned. What they run is pinned
/// only when the registry shows it runs on every platform the tag served: the index's digest
/// (as containerd reports it) is; one platform's manifest (as CRI-O may report it) is not, and
/// the tag's digest is looked up instead.
#[test]
fn a_digest_unpinned_replicas_run_is_checked_with_the_registry_before_it_is_pinned() {
    let registry = Registry::start().unwrap();
    let platforms = [Platform::LINUX_AMD64, Platform::LINUX_ARM64];
    let monday = push_multi_arch(&registry, "drift/multi", "v1", &platforms, "monday").unwrap();
    let repository = monday.reference.trim_end_matches(":v1").to_owned();
    let amd64 = monday.manifests[0].1.clone();
    // Wednesday's build under the same tag.
    let wednesday =
        push_multi_arch(&registry, "drift/multi", "v1", &platforms, "wednesday").unwrap();
    assert_ne!(monday.digest, wednesday.digest);
    let settings = json!({"mutableTags": ["v1"], "mutableTagAction": "pin"});
    let request = new_replica(&monday.reference);
    let unpinned = {
        let mut object = request["object"].clone();
        object["metadata"]["namespace"] = json!("drift");
        object
    };
    for (runs, pinned_to, manifests) in [
        // containerd: the index's digest, an index in the registry: followed.
        (&monday.digest, &monday.digest, 1),
        // CRI-O: the amd64 manifest of Monday's index; the tag names an index: looked up.
        (&amd64, &wednesday.digest, 2),
    ] {
        let pods = [
            running("hello-7d9-a", 1, &unpinned, &repository, runs),
            running("hello-7d9-b", 2, &unpinned, &repository, runs),
        ];
        let p = common::policy(host(&pods));
        let resp = p.validate(&request, &settings);
        let pinned = pinned_object(&resp, &request);
        assert_eq!(
            pinned["spec"]["containers"][0]["image"],
            format!("{}@{pinned_to}", monday.reference),
            "replicas running {runs}"
        );
        assert_eq!(
            p.manifest_lookups().len(),
            manifests,
            "{:?}",
            p.host_calls()
        );
        let lookups = p.digest_lookups().len();
        assert_eq!(lookups, manifests - 1, "{:?}", p.host_calls());
    }
}
