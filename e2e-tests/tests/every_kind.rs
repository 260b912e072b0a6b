//! Every sample request of `test_data/` (every kind, the ephemeral-containers subresource,
//! UPDATE, DELETE, an unknown kind) through the built wasm, as policy-server runs it.

mod common;

use e2e_tests::AdmissionResponse;
use serde_json::Value;

fn answer(file: &str, settings: &str) -> (AdmissionResponse, Value) {
    let policy = common::policy(common::default_host());
    let request = common::test_data(file);
    (
        common::evaluate(&policy, &common::test_data(settings), &request),
        request,
    )
}

#[test]
fn every_kind_is_rejected_where_its_pod_spec_has_a_mutable_tag() {
    for (file, place) in [
        (
            "pod-latest.json",
            "spec.containers[0] \"web\" image \"nginx:latest\"",
        ),
        (
            "deployment.json",
            "spec.template.spec.initContainers[0] \"migrate\" image \"ghcr.io/example/api\": no tag",
        ),
        (
            "statefulset.json",
            "spec.template.spec.volumes[0] \"models\" image volume",
        ),
        (
            "daemonset.json",
            "spec.template.spec.containers[0] \"agent\" image \"localhost:5000/node-agent\": no tag",
        ),
        (
            "job.json",
            "\"Busybox:1.36\": invalid image reference: the repository name must be lowercase",
        ),
        (
            "podtemplate.json",
            "template.spec.containers[0] \"tpl\" image \"nginx:LATEST\": tag \"LATEST\" is mutable",
        ),
        (
            "pod-ephemeralcontainers.json",
            "spec.ephemeralContainers[0] \"debugger-x7k2p\" image \"busybox\": no tag",
        ),
    ] {
        let (resp, _) = answer(file, "settings-default.json");
        assert!(!resp.allowed, "{file}: {resp:?}");
        assert!(resp.patch.is_none(), "{file}");
        assert!(resp.message().contains(place), "{file}: {}", resp.message());
    }
}

#[test]
fn every_kind_gets_its_pull_policy_set_to_always() {
    for (file, paths) in [
        ("pod.json", vec!["/spec/containers/0/imagePullPolicy"]),
        (
            "replicaset.json",
            vec!["/spec/template/spec/containers/0/imagePullPolicy"],
        ),
        (
            "replicationcontroller.json",
            vec!["/spec/template/spec/containers/0/imagePullPolicy"],
        ),
        (
            "deployment-pinned.json",
            vec!["/spec/template/spec/containers/0/imagePullPolicy"],
        ),
        (
            "cronjob.json",
            vec![
                "/spec/jobTemplate/spec/template/spec/containers/0/imagePullPolicy",
                "/spec/jobTemplate/spec/template/spec/initContainers/0/imagePullPolicy",
            ],
        ),
    ] {
        let (resp, request) = answer(file, "settings-default.json");
        let ops = resp.patch_operations().unwrap().unwrap_or_default();
        let got: Vec<&str> = ops.iter().map(|o| o["path"].as_str().unwrap()).collect();
        assert_eq!(got, paths, "{file}");
        assert!(
            ops.iter().all(|o| o["value"] == "Always"),
            "{file}: {ops:?}"
        );
        let patched = resp.patched(&request["object"]).unwrap();
        for p in paths {
            assert_eq!(patched.pointer(p).unwrap(), "Always");
        }
    }
}

#[test]
fn update_delete_and_unknown_kinds_are_plain_accepts() {
    for file in [
        "deployment-update-labels.json",
        "pod-delete.json",
        "configmap.json",
    ] {
        let (resp, _) = answer(file, "settings-default.json");
        assert!(
            resp.allowed && resp.patch.is_none() && resp.warnings().is_empty(),
            "{file}: {resp:?}"
        );
    }
}

#[test]
fn warn_settings_accept_with_warnings() {
    let (resp, _) = answer("deployment.json", "settings-warn.json");
    assert!(resp.allowed && resp.patch.is_none());
    assert_eq!(resp.warnings().len(), 3, "{resp:?}");
    assert!(resp.warnings().iter().all(|w| w.chars().count() <= 120));
}
