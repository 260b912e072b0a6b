//! Background audit through the built wasm. The requests of `test_data/audit/` (one per kind,
//! a Pod owned by a ReplicaSet with an ephemeral container, a compliant Deployment) are shaped
//! as Kubewarden's audit-scanner builds them: operation CREATE, the live object,
//! `resource.resource` set to the Kind, `userInfo: {}`, no `dryRun`, `oldObject: null`.
//! They fail with one line per image that admission would reject, warn about, mutate or pin;
//! no registry is asked; compliant objects pass; and the same objects sent by the API server
//! get the admission answers, which the audit's lines list exactly.

mod common;

use common::{container, deployment_with, evaluate};
use e2e_tests::images::{Layout, Platform};
use e2e_tests::proxy::FaultProxy;
use e2e_tests::{AdmissionResponse, Policy, Registry};
use serde_json::{Value, json};

const AUDIT_FIXTURES: &[&str] = &[
    "pod.json",
    "pod-owned-debugged.json",
    "podtemplate.json",
    "replicationcontroller.json",
    "deployment.json",
    "deployment-compliant.json",
    "replicaset.json",
    "statefulset.json",
    "daemonset.json",
    "job.json",
    "cronjob.json",
];

fn audit_fixture(name: &str) -> Value {
    common::test_data(&format!("audit/{name}"))
}

/// The audit-scanner's request for a live `object` (its `newAdmissionRequest`, as Go
/// marshals it).
fn audit_request(object: &Value) -> Value {
    let (group, version) = match object["apiVersion"].as_str().unwrap().split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", object["apiVersion"].as_str().unwrap()),
    };
    let kind = object["kind"].as_str().unwrap();
    let gvk = json!({"group": group, "version": version, "kind": kind});
    json!({
        "uid": object["metadata"]["uid"].as_str().unwrap_or("9b2c7e51-0d6a-4a43-9a52-5d0cbb1e7f10"),
        "kind": gvk,
        "resource": {"group": group, "version": version, "resource": kind},
        "requestKind": gvk,
        "name": object["metadata"]["name"],
        "namespace": object["metadata"]["namespace"],
        "operation": "CREATE",
        "userInfo": {},
        "object": object,
        "oldObject": null,
        "options": null,
    })
}

/// The same object created through the API server: it names the user and sets `dryRun`.
fn from_api_server(audit: &Value) -> Value {
    let mut request = audit.clone();
    request["userInfo"] = json!({"username": "kubernetes-admin", "groups": ["system:masters"]});
    request["dryRun"] = json!(false);
    request
}

fn policy() -> Policy {
    common::policy(common::default_host())
}

/// Each line of an audit's message as (place, what admission does).
fn audit_lines(resp: &AdmissionResponse) -> Vec<(String, String)> {
    resp.message()
        .lines()
        .map(|line| {
            let place = line.split(' ').next().unwrap().to_owned();
            let (_, action) = line
                .rsplit_once("; admission ")
                .unwrap_or_else(|| panic!("no action in {line:?}"));
            (place, action.to_owned())
        })
        .collect()
}

/// `/spec/template/spec/containers/1/imagePullPolicy` -> `spec.template.spec.containers[1]`
/// (an image volume's `/spec/volumes/0/image/pullPolicy` -> `spec.volumes[0]`).
fn place_of(path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let at = segments
        .iter()
        .position(|s| s.parse::<usize>().is_ok())
        .unwrap();
    format!(
        "{}[{}]",
        segments[..at].join("."),
        segments[at].parse::<usize>().unwrap()
    )
}

/// What admission did, as (place, action) in the audit's words.
fn admission_actions(resp: &AdmissionResponse) -> Vec<(String, String)> {
    let first = |line: &str| line.split(' ').next().unwrap().to_owned();
    let mut done: Vec<(String, String)> = Vec::new();
    if !resp.allowed {
        done.extend(
            resp.message()
                .lines()
                .map(|l| (first(l), "rejects it".into())),
        );
    }
    done.extend(resp.warnings().iter().map(|w| (first(w), "warns".into())));
    for op in resp.patch_operations().unwrap().unwrap_or_default() {
        let path = op["path"].as_str().unwrap();
        let action = if path.ends_with("ullPolicy") {
            "sets Always"
        } else {
            "pins it"
        };
        done.push((place_of(path), action.into()));
    }
    done.sort();
    done
}

fn only(resp: &[(String, String)], actions: &[&str]) -> Vec<(String, String)> {
    let mut v: Vec<_> = resp
        .iter()
        .filter(|(_, a)| actions.contains(&a.as_str()))
        .cloned()
        .collect();
    v.sort();
    v
}

#[test]
fn the_fixtures_are_shaped_as_the_audit_scanner_builds_its_requests() {
    for file in AUDIT_FIXTURES {
        let request = audit_fixture(file);
        let kind = request["object"]["kind"].as_str().unwrap();
        assert_eq!(request["operation"], "CREATE", "{file}");
        assert_eq!(request["resource"]["resource"], kind, "{file}");
        assert_eq!(request["kind"]["kind"], kind, "{file}");
        assert_eq!(request["userInfo"], json!({}), "{file}");
        assert!(request.get("dryRun").is_none(), "{file}");
        assert!(request["oldObject"].is_null(), "{file}");
        assert_eq!(request, audit_request(&request["object"]), "{file}");
    }
}

#[test]
fn an_audit_names_each_image_and_what_admission_does_about_it() {
    let policy = policy();
    let resp = evaluate(&policy, &json!({}), &audit_fixture("deployment.json"));
    assert!(!resp.allowed, "{resp:?}");
    assert_eq!(
        resp.message(),
        "spec.template.spec.containers[0] \"api\" image \"ghcr.io/example/api:latest\": \
         tag \"latest\" is mutable (mutableTags \"latest\"); admission rejects it\n\
         spec.template.spec.containers[1] \"proxy\" image \"envoyproxy/envoy:v1.30.1\": \
         imagePullPolicy IfNotPresent, not Always; admission sets Always\n\
         spec.template.spec.initContainers[0] \"migrate\" image \"ghcr.io/example/api\": \
         no tag, so it floats like :latest; admission rejects it"
    );
    assert!(resp.patch.is_none() && resp.warnings().is_empty());
    assert!(resp.audit_annotations.is_none());
    assert_eq!(resp.status.as_ref().unwrap().code, None);

    // A Pod owned by a workload is judged like any Pod, ephemeral containers included.
    let resp = evaluate(
        &policy,
        &json!({}),
        &audit_fixture("pod-owned-debugged.json"),
    );
    assert_eq!(
        resp.message(),
        "spec.containers[0] \"web\" image \"nginx:1.25.3\": imagePullPolicy IfNotPresent, not \
         Always; admission sets Always\n\
         spec.ephemeralContainers[0] \"debugger-x7k2p\" image \"busybox\": no tag, so it floats \
         like :latest; admission rejects it\n\
         spec.ephemeralContainers[0] \"debugger-x7k2p\" image \"busybox\": imagePullPolicy \
         IfNotPresent, not Always; admission sets Always"
    );

    // Warn mode: what admission warns about is a violation too; image volumes and CronJobs.
    let resp = evaluate(
        &policy,
        &common::test_data("settings-warn.json"),
        &audit_fixture("statefulset.json"),
    );
    assert!(
        resp.message()
            .contains("spec.template.spec.volumes[0] \"models\" image volume \"registry.example.com/models/llm\": no tag, so it floats like :latest; admission warns"),
        "{}",
        resp.message()
    );
    let resp = evaluate(&policy, &json!({}), &audit_fixture("cronjob.json"));
    assert_eq!(
        resp.message(),
        "spec.jobTemplate.spec.template.spec.containers[0] \"backup\" image \
         \"ghcr.io/example/backup:2.3.1\": imagePullPolicy IfNotPresent by default, not Always; admission \
         sets Always\n\
         spec.jobTemplate.spec.template.spec.initContainers[0] \"prep\" image \"alpine:3.19\": \
         imagePullPolicy IfNotPresent by default, not Always; admission sets Always"
    );
    // No registry is asked. The Pod owned by a ReplicaSet lists its namespace's Pods once, for
    // drift (this host grants nothing, so it is refused, and the audit is as without it).
    let registry: Vec<_> = policy
        .host_calls()
        .into_iter()
        .filter(|c| c.namespace == "oci")
        .collect();
    assert!(registry.is_empty(), "{registry:?}");
    assert_eq!(policy.list_calls().len(), 1, "{:?}", policy.host_calls());
}

#[test]
fn every_kind_audit_lists_exactly_what_admission_does() {
    let policy = policy();
    let settings = [
        json!({}),
        common::test_data("settings-warn.json"),
        common::test_data("settings-strict.json"),
        json!({"pullPolicyAction": "ignore"}),
        json!({"pullPolicyAction": "reject", "mutableTagAction": "warn"}),
    ];
    let mut compared = 0;
    for file in AUDIT_FIXTURES {
        for s in &settings {
            let audit = audit_fixture(file);
            let audited = evaluate(&policy, s, &audit);
            let admitted = evaluate(&policy, s, &from_api_server(&audit));
            let lines = audit_lines(&audited);
            let done = admission_actions(&admitted);
            let case = format!("{file} {s}: audit {lines:?}, admission {done:?}");
            // Compliant at admission (accepted as it is) exactly when the audit passes.
            assert_eq!(audited.allowed, done.is_empty(), "{case}");
            assert!(
                audited.patch.is_none() && audited.warnings().is_empty(),
                "{case}"
            );
            assert_eq!(
                only(&lines, &["rejects it", "warns"]),
                only(&done, &["rejects it", "warns"]),
                "{case}"
            );
            // A rejection drops admission's edits; they are compared where it accepts.
            if admitted.allowed {
                assert_eq!(
                    only(&lines, &["sets Always", "pins it"]),
                    only(&done, &["sets Always", "pins it"]),
                    "{case}"
                );
                compared += 1;
            }
        }
    }
    assert!(
        compared >= 20,
        "only {compared} accepted admissions compared"
    );
    assert!(policy.digest_lookups().is_empty());
}

#[test]
fn compliant_objects_pass_the_audit() {
    let policy = policy();
    for (file, settings) in [
        ("deployment-compliant.json", json!({})),
        ("pod.json", json!({"pullPolicyAction": "ignore"})),
        (
            "deployment.json",
            json!({"exemptImages": ["ghcr.io/example/api*", "docker.io/envoyproxy/envoy:*"]}),
        ),
    ] {
        let resp = evaluate(&policy, &settings, &audit_fixture(file));
        assert!(resp.allowed, "{file} {settings}: {resp:?}");
        assert!(resp.status.is_none() && resp.patch.is_none() && resp.warnings().is_empty());
    }
    // A pinned image pulled IfNotPresent, where the settings allow it.
    let mut object = audit_fixture("deployment-compliant.json")["object"].clone();
    object["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    let settings = json!({"allowIfNotPresentWhenPinned": true});
    assert!(evaluate(&policy, &settings, &audit_request(&object)).allowed);
    assert!(!evaluate(&policy, &json!({}), &audit_request(&object)).allowed);
}

/// The real registry with `app:1.0` and `app:1.1`, behind a proxy that records requests.
fn registry_with_two_tags() -> (Registry, FaultProxy) {
    let registry = Registry::start().unwrap();
    let layout = Layout::new().unwrap();
    for tag in ["1.0", "1.1"] {
        layout
            .add_image(tag, Platform::LINUX_AMD64, &format!("build {tag}"))
            .unwrap();
        layout
            .push(tag, &registry.image(&format!("app:{tag}")), false)
            .unwrap();
    }
    let proxy = FaultProxy::start(&registry.host()).unwrap();
    (registry, proxy)
}

#[test]
fn an_audit_in_pin_mode_asks_no_registry_and_says_admission_pins() {
    let (registry, proxy) = registry_with_two_tags();
    let digest = registry.manifest_digest("app", "1.0").unwrap();
    let host = proxy.host();
    let object = deployment_with(vec![
        container("a", &format!("{host}/app:1.0"), Some("Always")),
        // Pinned at admission, IfNotPresent is then allowed by these settings.
        container("b", &format!("{host}/app:1.1"), Some("IfNotPresent")),
        container("c", &format!("{host}/app:1.0@{digest}"), Some("Always")),
    ]);
    let settings = common::test_data("settings-pin.json");
    let policy = policy();

    let audited = evaluate(&policy, &settings, &audit_request(&object));
    assert!(!audited.allowed);
    assert_eq!(
        audited.message(),
        format!(
            "spec.template.spec.containers[0] \"a\" image \"{host}/app:1.0\": tag not pinned to \
             a digest; admission pins it\n\
             spec.template.spec.containers[1] \"b\" image \"{host}/app:1.1\": tag not pinned to \
             a digest; admission pins it"
        )
    );
    assert!(policy.host_calls().is_empty(), "{:?}", policy.host_calls());
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());

    // The same object from the API server is pinned where the audit said, and nothing else.
    let admitted = evaluate(
        &policy,
        &settings,
        &from_api_server(&audit_request(&object)),
    );
    assert!(admitted.allowed, "{admitted:?}");
    assert_eq!(
        admission_actions(&admitted),
        only(&audit_lines(&audited), &["pins it"])
    );
    assert_eq!(policy.digest_lookups().len(), 2);
    assert!(!proxy.requests().is_empty());
}

/// A change to a request.
type Change = fn(&mut Value);

#[test]
fn a_request_from_the_api_server_is_never_taken_for_an_audit() {
    let policy = policy();
    let audit = audit_fixture("pod.json");
    let is_audit = |request: &Value| {
        let resp = evaluate(&policy, &json!({}), request);
        match (resp.allowed, resp.patch.is_some()) {
            (true, true) => false,
            (false, false) => {
                assert!(
                    resp.message().contains("; admission sets Always"),
                    "{resp:?}"
                );
                true
            }
            other => panic!("{other:?}: {resp:?}"),
        }
    };
    assert!(is_audit(&audit));
    let variants: [(&str, Change); 6] = [
        ("username, no dryRun", |r| {
            r["userInfo"] = json!({"username": "system:serviceaccount:ci:deployer"})
        }),
        (
            "anonymous user",
            |r| {
                r["userInfo"] =
                    json!({"username": "system:anonymous", "groups": ["system:unauthenticated"]})
            },
        ),
        ("dryRun false, no username", |r| r["dryRun"] = json!(false)),
        ("dryRun true, no username", |r| r["dryRun"] = json!(true)),
        ("both", |r| *r = from_api_server(r)),
        ("no userInfo at all, dryRun false", |r| {
            r.as_object_mut().unwrap().remove("userInfo");
            r["dryRun"] = json!(false);
        }),
    ];
    for (what, change) in variants {
        let mut request = audit.clone();
        change(&mut request);
        assert!(!is_audit(&request), "{what}: taken for an audit");
    }
    // What the audit-scanner's request may look like after policy-server re-serializes it,
    // or written by hand: still an audit.
    let mut request = audit.clone();
    request.as_object_mut().unwrap().remove("oldObject");
    request["userInfo"] = json!({"username": ""});
    request["dryRun"] = Value::Null;
    assert!(is_audit(&request));
}
