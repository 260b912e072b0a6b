//! Pins that follow the replicas, and drift in Pod audits (docs/design.md, "Same bytes on
//! every replica"), against a mocked host: its registry, its manifests and its Pod list.

mod common;

use common::*;
use serde_json::{Value, json};

const APP: &str = "registry.example.com/app:v1";
const A: &str = D1;
const B: &str = D2;
const C: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
const RS_UID: &str = "5c1e2f3a-0000-4000-8000-000000000001";

fn pin_settings() -> Value {
    json!({"mutableTags": ["v1"], "mutableTagAction": "pin"})
}

/// A Pod of the controller `owner` (kind, name, uid) in `default`, created at second `age`,
/// with the container `web` written `image` and running `image_id` (`""`: waiting).
fn replica(name: &str, age: u32, owner: (&str, &str, &str), image: &str, image_id: &str) -> Value {
    let (kind, owner_name, uid) = owner;
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "default",
            "creationTimestamp": format!("2026-12-01T10:00:{age:02}Z"),
            "managedFields": [{"manager": "kube-controller-manager"}],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": owner_name,
                "uid": uid, "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {"containers": [{"name": "web", "image": image, "imagePullPolicy": "Always"}]},
        "status": {"containerStatuses": [{"name": "web", "image": image, "imageID": image_id,
            "ready": true, "state": {"running": {}}}]}
    })
}

const RS: (&str, &str, &str) = ("ReplicaSet", "web-7d9", RS_UID);

fn running(digest: &str) -> String {
    format!("registry.example.com/app@{digest}")
}

fn pinned(digest: &str) -> String {
    format!("{APP}@{digest}")
}

/// The API server's CREATE of a new replica of `owner` (no status yet, a generated name).
fn new_replica(owner: (&str, &str, &str), image: &str) -> Value {
    let mut pod = replica("", 59, owner, image, "");
    pod["metadata"]["generateName"] = json!("web-7d9-");
    pod["metadata"].as_object_mut().unwrap().remove("name");
    pod.as_object_mut().unwrap().remove("status");
    let mut r = request("Pod", "CREATE", pod, None);
    r["namespace"] = json!("default");
    r
}

/// The audit-scanner's request for `pod` (no user, no dryRun).
fn audit(pod: &Value) -> Value {
    let mut r = request("Pod", "CREATE", pod.clone(), None);
    r["namespace"] = json!("default");
    r.as_object_mut().unwrap().remove("userInfo");
    r
}

/// A registry whose tag `v1` now serves `C` (it was re-pushed), with these Pods in the cluster.
fn cluster(pods: Vec<Value>) -> Registry {
    let mut host = Registry::with(&[(APP, C)]);
    host.pods = Ok(pods);
    host
}

#[track_caller]
fn pinned_image(r: &kubewarden_policy_sdk::response::ValidationResponse) -> String {
    at(mutated(r), "spec.containers[0].image")
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_new_replica_is_pinned_to_what_its_replicas_hold_and_run_without_a_registry_lookup() {
    for (kind, group_version) in [
        ("ReplicaSet", "apps/v1"),
        ("StatefulSet", "apps/v1"),
        ("DaemonSet", "apps/v1"),
        ("Job", "batch/v1"),
        ("ReplicationController", "v1"),
    ] {
        let owner = (kind, "web-7d9", RS_UID);
        let mut old = replica("web-7d9-a", 1, owner, &pinned(A), &running(A));
        old["metadata"]["ownerReferences"][0]["apiVersion"] = json!(group_version);
        let host = cluster(vec![
            old,
            replica("web-7d9-b", 2, owner, &pinned(A), &running(A)),
        ]);
        let r = run_with(&new_replica(owner, APP), pin_settings(), &host);
        assert_eq!(pinned_image(&r), pinned(A), "{kind}");
        assert!(host.calls.borrow().is_empty(), "{kind}: no registry lookup");
        assert_eq!(host.list_calls.borrow().len(), 1, "{kind}: one list call");
        let note = &r.audit_annotations.as_ref().unwrap()["pin.containers.0"];
        assert_eq!(note, &format!("{APP} -> {A} (from replicas)"), "{kind}");
    }
}

#[test]
fn the_list_call_asks_for_the_pods_of_the_namespace_masked_with_no_selector() {
    let host = cluster(vec![]);
    run_with(&new_replica(RS, APP), pin_settings(), &host);
    let calls = host.list_calls.borrow();
    let [call] = &calls[..] else {
        panic!("{calls:?}")
    };
    assert_eq!(call["api_version"], "v1");
    assert_eq!(call["kind"], "Pod");
    assert_eq!(call["namespace"], "default");
    assert_eq!(call["label_selector"], Value::Null);
    assert_eq!(call["field_selector"], Value::Null);
    let masks: Vec<&str> = call["field_masks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for needed in [
        "metadata.ownerReferences",
        "metadata.deletionTimestamp",
        "spec.containers.image",
        "status.containerStatuses.imageID",
        "status.initContainerStatuses.imageID",
    ] {
        assert!(masks.contains(&needed), "{needed} in {masks:?}");
    }
    assert!(
        !masks.iter().any(|m| m.starts_with("spec.volumes")),
        "{masks:?}"
    );
}

#[test]
fn with_no_replica_to_follow_the_registry_is_asked() {
    // No replica yet (the first of a ReplicaSet).
    let host = cluster(vec![]);
    let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
    assert_eq!(pinned_image(&r), pinned(C));
    assert_eq!(*host.calls.borrow(), [APP]);
    let note = &r.audit_annotations.as_ref().unwrap()["pin.containers.0"];
    assert_eq!(note, &format!("{APP} -> {C}"));
}

#[test]
fn pin_from_replicas_false_asks_the_registry_and_lists_nothing() {
    let host = cluster(vec![replica("web-7d9-a", 1, RS, &pinned(A), &running(A))]);
    let mut settings = pin_settings();
    settings["pinFromReplicas"] = json!(false);
    let r = run_with(&new_replica(RS, APP), settings, &host);
    assert_eq!(pinned_image(&r), pinned(C));
    assert!(host.list_calls.borrow().is_empty());
}

#[test]
fn replicas_that_disagree_give_the_most_held_pin_and_a_tie_the_oldest() {
    let host = cluster(vec![
        replica("web-7d9-old", 1, RS, &pinned(B), &running(B)),
        replica("web-7d9-a", 2, RS, &pinned(A), &running(A)),
        replica("web-7d9-b", 3, RS, &pinned(A), &running(A)),
    ]);
    let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
    assert_eq!(pinned_image(&r), pinned(A), "two hold A, one B");
    let host = cluster(vec![
        replica("web-7d9-b", 3, RS, &pinned(A), &running(A)),
        replica("web-7d9-old", 1, RS, &pinned(B), &running(B)),
    ]);
    let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
    assert_eq!(
        pinned_image(&r),
        pinned(B),
        "a tie goes to the oldest Pod's"
    );
}

#[test]
fn what_does_not_count_as_a_replica_holding_a_pin() {
    let mut deleting = replica("web-7d9-a", 1, RS, &pinned(A), &running(A));
    deleting["metadata"]["deletionTimestamp"] = json!("2026-12-01T11:00:00Z");
    let mut not_controller = replica("web-7d9-b", 1, RS, &pinned(A), &running(A));
    not_controller["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    let mut other_namespace = replica("web-7d9-c", 1, RS, &pinned(A), &running(A));
    other_namespace["metadata"]["namespace"] = json!("other");
    let cases = [
        ("being deleted", deleting),
        ("not its controller", not_controller),
        ("another namespace", other_namespace),
        (
            "another controller",
            replica(
                "x-1",
                1,
                ("ReplicaSet", "x", "other-uid"),
                &pinned(A),
                &running(A),
            ),
        ),
        ("waiting", replica("web-7d9-d", 1, RS, &pinned(A), "")),
        (
            "running another digest than its pin",
            replica("web-7d9-e", 1, RS, &pinned(A), &running(B)),
        ),
        (
            "a config ID (docker://)",
            replica("web-7d9-f", 1, RS, &pinned(A), &format!("docker://{A}")),
        ),
        (
            "a bare config ID",
            replica("web-7d9-g", 1, RS, &pinned(A), A),
        ),
        (
            "the same container name with another image",
            replica(
                "web-7d9-h",
                1,
                RS,
                &format!("registry.example.com/other:v1@{A}"),
                &running(A),
            ),
        ),
        (
            "another tag",
            replica(
                "web-7d9-i",
                1,
                RS,
                &format!("registry.example.com/app:v2@{A}"),
                &running(A),
            ),
        ),
    ];
    for (what, pod) in cases {
        let host = cluster(vec![pod]);
        let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
        assert_eq!(pinned_image(&r), pinned(C), "{what}: the registry's digest");
        assert_eq!(*host.calls.borrow(), [APP], "{what}");
    }
}

#[test]
fn every_runtime_reports_the_digest_a_pin_runs() {
    for image_id in [
        format!("registry.example.com/app@{A}"),
        format!("docker-pullable://registry.example.com/app@{A}"),
    ] {
        let host = cluster(vec![replica("web-7d9-a", 1, RS, &pinned(A), &image_id)]);
        let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
        assert_eq!(pinned_image(&r), pinned(A), "{image_id}");
        assert!(host.calls.borrow().is_empty(), "{image_id}");
    }
}

#[test]
fn init_containers_are_matched_by_list_and_name() {
    let mut sibling = replica("web-7d9-a", 1, RS, "busybox:1", &running(B));
    sibling["spec"]["initContainers"] = json!([{"name": "web", "image": pinned(A)}]);
    sibling["status"]["initContainerStatuses"] =
        json!([{"name": "web", "imageID": running(A), "state": {"terminated": {"exitCode": 0}}}]);
    let host = cluster(vec![sibling]);
    let mut r = new_replica(RS, "busybox:1");
    r["object"]["spec"]["initContainers"] =
        json!([{"name": "web", "image": APP, "imagePullPolicy": "Always"}]);
    let answer = run_with(&r, pin_settings(), &host);
    let init = at(mutated(&answer), "spec.initContainers[0].image");
    assert_eq!(init, &json!(pinned(A)));
    assert!(host.calls.borrow().is_empty());
}

#[test]
fn no_list_call_when_nothing_asks_for_one() {
    let sibling = replica("web-7d9-a", 1, RS, &pinned(A), &running(A));
    // A Pod without a controller owner.
    let mut orphan = new_replica(RS, APP);
    orphan["object"]["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("ownerReferences");
    // A Pod whose image is not pinned (an immutable tag; a digest).
    let cases = [
        ("no owner", orphan, pin_settings()),
        (
            "a tag to reject",
            new_replica(RS, APP),
            json!({"mutableTags": ["v1"]}),
        ),
        (
            "an immutable tag",
            new_replica(RS, "registry.example.com/app:1.2.3"),
            pin_settings(),
        ),
        ("a digest", new_replica(RS, &pinned(A)), pin_settings()),
        (
            "a Deployment",
            create("Deployment", containers(&[("web", APP)])),
            pin_settings(),
        ),
    ];
    for (what, request, settings) in cases {
        let host = cluster(vec![sibling.clone()]);
        run_with(&request, settings, &host);
        assert!(host.list_calls.borrow().is_empty(), "{what}");
    }
}

#[test]
fn a_refused_failing_or_unreadable_list_leaves_the_answer_of_today() {
    let refused = "Policy has not been granted access to Kubernetes resource v1/Pod";
    let answers = [
        Err(refused.to_owned()),
        Err("Callback evaluation failure: connection refused".to_owned()),
    ];
    for pods in answers {
        let mut host = cluster(vec![]);
        host.pods = pods.clone();
        let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
        assert_eq!(pinned_image(&r), pinned(C), "{pods:?}");
        assert!(r.warnings.is_none(), "{pods:?}");
    }
}

#[test]
fn a_forged_replica_cannot_steer_a_pin_to_what_does_not_run_or_another_repository() {
    // Anyone who can create Pods can claim the controller's uid; what it claims counts only
    // where it runs it, and only as a digest of the reference as written.
    let evil = "evil.example.com/app:v1";
    let forged = [
        // A digest nothing runs: a new replica could not pull it.
        replica("forged-1", 1, RS, &pinned(B), ""),
        // Another registry's build, which it runs.
        replica(
            "forged-2",
            1,
            RS,
            &format!("{evil}@{B}"),
            &format!("evil.example.com/app@{B}"),
        ),
    ];
    for pod in forged {
        let host = cluster(vec![pod]);
        let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
        assert_eq!(pinned_image(&r), pinned(C));
    }
    // A build of the same repository that runs is followed, as a replica's would be; the pin
    // names the reference as written, so the runtime pulls it from that repository.
    let host = cluster(vec![replica("forged-3", 1, RS, &pinned(B), &running(B))]);
    let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
    assert_eq!(pinned_image(&r), pinned(B));
}

fn index() -> Value {
    json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": D1, "size": 1, "platform": {"architecture": "amd64", "os": "linux"}}]})
}

fn image_manifest() -> Value {
    json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D1, "size": 1},
        "layers": []})
}

#[test]
fn a_digest_unpinned_replicas_run_is_pinned_only_when_the_registry_shows_it_is_safe() {
    // The replicas run the tag unpinned (admitted before the policy); they run B.
    let pods = || {
        vec![
            replica("web-7d9-a", 1, RS, APP, &running(B)),
            replica("web-7d9-b", 2, RS, APP, &running(B)),
        ]
    };
    // B is an index: every platform can run it.
    let mut host = cluster(pods());
    host.manifests.insert(pinned(B), index());
    let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
    assert_eq!(pinned_image(&r), pinned(B));
    assert!(host.calls.borrow().is_empty());
    assert_eq!(*host.manifest_calls.borrow(), [pinned(B)]);
    // B is one image manifest and so is the tag's: a one-platform image.
    let mut host = cluster(pods());
    host.manifests.insert(pinned(B), image_manifest());
    host.manifests.insert(APP.to_owned(), image_manifest());
    let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
    assert_eq!(pinned_image(&r), pinned(B));
    assert!(host.calls.borrow().is_empty());
    // B is one platform's manifest of the tag's index (as CRI-O reports it): the tag's digest.
    let mut host = cluster(pods());
    host.manifests.insert(pinned(B), image_manifest());
    host.manifests.insert(APP.to_owned(), index());
    let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
    assert_eq!(pinned_image(&r), pinned(C));
    // B is unknown to the registry: the tag's digest.
    let host = cluster(pods());
    let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
    assert_eq!(pinned_image(&r), pinned(C));
    assert_eq!(*host.calls.borrow(), [APP]);
}

#[test]
fn the_manifest_checks_count_against_the_pin_budget() {
    let mut host = cluster(vec![replica("web-7d9-a", 1, RS, APP, &running(B))]).slow(600);
    host.manifests.insert(pinned(B), image_manifest());
    host.manifests.insert(APP.to_owned(), index());
    // 900 ms: the two manifest lookups take 1200 ms, so the digest is never asked for.
    let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
    assert!(message(&r).contains("pin budget"), "{r:?}");
    assert!(host.calls.borrow().is_empty());
}

#[test]
fn a_namespace_of_5000_pods_is_read() {
    let mut pods: Vec<Value> = (0..5000)
        .map(|i| {
            let owner = ("ReplicaSet", "other", "other-uid");
            replica(&format!("other-{i}"), 1, owner, APP, &running(B))
        })
        .collect();
    pods.push(replica("web-7d9-a", 1, RS, &pinned(A), &running(A)));
    let host = cluster(pods);
    let r = run_with(&new_replica(RS, APP), pin_settings(), &host);
    assert_eq!(pinned_image(&r), pinned(A));
}

#[test]
fn malformed_list_answers_leave_the_answer_of_today() {
    struct Malformed(&'static str);
    impl immutable_images::testing::Host for Malformed {
        fn manifest_digest(&self, _: &str) -> Result<String, String> {
            Ok(C.to_owned())
        }
        fn list_resources_by_namespace(
            &self,
            _: &immutable_images::testing::ListResourcesByNamespaceRequest,
        ) -> Result<Vec<u8>, String> {
            Ok(self.0.as_bytes().to_vec())
        }
    }
    for answer in [
        "",
        "null",
        "[]",
        r#"{"items":{}}"#,
        r#"{"items":[{"metadata":{"ownerReferences":"x"}}]}"#,
        r#"{"items":[{"metadata":{"name":"a","ownerReferences":[{"uid":"5c1e2f3a-0000-4000-8000-000000000001","controller":true}]},"spec":{"containers":7}}]}"#,
        r#"{"items":[{"metadata":{}}]"#,
        "\u{ff}",
    ] {
        let payload = json!({"request": new_replica(RS, APP), "settings": pin_settings()});
        let r =
            immutable_images::testing::validate(payload.to_string().as_bytes(), &Malformed(answer));
        assert_eq!(pinned_image(&r), pinned(C), "{answer:?}");
    }
}

#[test]
fn a_pod_whose_metadata_cannot_be_read_is_judged_without_replicas() {
    // The API server never sends it; the reader read no metadata before replicas were compared,
    // so such a Pod is judged as before, with no list call.
    let mut r = new_replica(RS, APP);
    r["object"]["metadata"]["ownerReferences"] = json!(7);
    let host = cluster(vec![replica("web-7d9-a", 1, RS, &pinned(A), &running(A))]);
    let answer = run_with(&r, pin_settings(), &host);
    assert_eq!(pinned_image(&answer), pinned(C));
    assert!(host.list_calls.borrow().is_empty());
}

mod audit {
    use super::*;

    #[test]
    fn replicas_that_run_more_than_one_digest_each_fail_their_report() {
        let pods = vec![
            replica("web-7d9-a", 1, RS, &pinned(A), &running(A)),
            replica("web-7d9-b", 2, RS, &pinned(A), &running(A)),
            replica("web-7d9-c", 3, RS, &pinned(B), &running(B)),
        ];
        let short = |d: &str| format!("{}…", &d[..19]);
        for pod in &pods {
            let host = cluster(pods.clone());
            // Pinned replicas with pull policy Always: only drift is wrong with them.
            let r = run_with(&audit(pod), pin_settings(), &host);
            let own = pod["status"]["containerStatuses"][0]["imageID"]
                .as_str()
                .unwrap();
            let own = &own[own.len() - 71..];
            let image = pod["spec"]["containers"][0]["image"].as_str().unwrap();
            assert_eq!(
                message(&r),
                format!(
                    "spec.containers[0] \"web\" image {image:?} (running {}): 3 replicas of \
                     ReplicaSet web-7d9 run 2 digests: {} (web-7d9-a, web-7d9-b), {} (web-7d9-c)",
                    short(own),
                    short(A),
                    short(B)
                )
            );
            assert!(host.calls.borrow().is_empty() && host.manifest_calls.borrow().is_empty());
            assert_eq!(host.list_calls.borrow().len(), 1);
        }
    }

    #[test]
    fn an_audit_line_says_what_runs() {
        let pod = replica("web-7d9-a", 1, RS, APP, &running(A));
        let host = cluster(vec![pod.clone()]);
        let r = run_with(&audit(&pod), pin_settings(), &host);
        assert_eq!(
            message(&r),
            format!(
                "spec.containers[0] \"web\" image {APP:?} (running {}…): tag \"v1\" is mutable \
                 (mutableTags \"v1\"), not pinned to a digest; admission pins it",
                &A[..19]
            )
        );
        // Waiting: nothing runs yet.
        let pod = replica("web-7d9-a", 1, RS, APP, "");
        let r = run_with(&audit(&pod), pin_settings(), &cluster(vec![]));
        assert!(!message(&r).contains("running"), "{r:?}");
    }

    #[test]
    fn one_digest_is_no_drift_and_an_unowned_pod_lists_nothing() {
        let pods = vec![
            replica("web-7d9-a", 1, RS, &pinned(A), &running(A)),
            replica("web-7d9-b", 2, RS, APP, &running(A)),
        ];
        let host = cluster(pods.clone());
        assert_plain_accept(&run_with(&audit(&pods[0]), pin_settings(), &host));
        let mut orphan = pods[0].clone();
        orphan["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("ownerReferences");
        let host = cluster(pods);
        assert_plain_accept(&run_with(&audit(&orphan), pin_settings(), &host));
        assert!(host.list_calls.borrow().is_empty());
    }

    #[test]
    fn drift_is_reported_whatever_the_settings_allow() {
        let pods = vec![
            replica(
                "web-7d9-a",
                1,
                RS,
                "registry.example.com/app:1.0",
                &running(A),
            ),
            replica(
                "web-7d9-b",
                2,
                RS,
                "registry.example.com/app:1.0",
                &running(B),
            ),
        ];
        let host = cluster(pods.clone());
        // 1.0 is an immutable tag by the default settings, and the pull policy is Always.
        let r = run_with(&audit(&pods[0]), json!({}), &host);
        assert!(
            message(&r).ends_with(&format!(
                ": 2 replicas of ReplicaSet web-7d9 run 2 digests: {}… (web-7d9-a), {}… (web-7d9-b)",
                &A[..19],
                &B[..19]
            )),
            "{r:?}"
        );
    }

    #[test]
    fn a_refused_list_leaves_the_audit_of_today() {
        let pod = replica("web-7d9-a", 1, RS, &pinned(A), &running(A));
        let mut host = cluster(vec![]);
        host.pods = Err("not granted".into());
        assert_plain_accept(&run_with(&audit(&pod), pin_settings(), &host));
        assert_eq!(host.list_calls.borrow().len(), 1);
    }
}
