//! The mutating half: pull policy set to Always, tags pinned to digests through a mocked
//! `oci/v1/manifest_digest`, and the object otherwise returned as it came.

mod common;
use common::*;
use serde_json::{Value, json};

#[test]
fn pull_policy_is_set_to_always_in_every_kind_and_list() {
    let spec = json!({
        "containers": [{"name": "a", "image": "nginx:1.25"}],
        "initContainers": [{"name": "i", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent"}],
        "ephemeralContainers": [{"name": "e", "image": "alpine:3", "imagePullPolicy": "Never"}],
        "volumes": [{"name": "m", "image": {"reference": "reg.example.com/m:v1"}}]
    });
    for row in KINDS {
        let (kind, path) = (row.kind, row.pod_spec.keys());
        let req = create(kind, spec.clone());
        let r = run(&req, json!({}));
        let out = mutated(&r);
        let p = path.join(".");
        for c in [
            "containers[0]",
            "initContainers[0]",
            "ephemeralContainers[0]",
        ] {
            assert_eq!(
                at(out, &format!("{p}.{c}.imagePullPolicy")),
                "Always",
                "{kind} {c}"
            );
        }
        assert_eq!(
            at(out, &format!("{p}.volumes[0].image.pullPolicy")),
            "Always",
            "{kind}"
        );
        let mut expected = req["object"].clone();
        for c in [
            "containers[0]",
            "initContainers[0]",
            "ephemeralContainers[0]",
        ] {
            let ptr = format!(
                "/{}/{}",
                path.join("/"),
                c.replace('[', "/").replace(']', "")
            );
            expected.pointer_mut(&ptr).unwrap()["imagePullPolicy"] = json!("Always");
        }
        expected
            .pointer_mut(&format!("/{}/volumes/0/image", path.join("/")))
            .unwrap()["pullPolicy"] = json!("Always");
        assert_eq!(out, &expected, "{kind}: only pull policies change");
        assert!(r.warnings.is_none());
    }
}

#[test]
fn unchanged_containers_of_an_update_are_not_mutated() {
    let old = object(
        "StatefulSet",
        json!({"containers": [
        {"name": "db", "image": "postgres:16", "imagePullPolicy": "IfNotPresent"},
        {"name": "side", "image": "envoy:1.30", "imagePullPolicy": "IfNotPresent"}]}),
    );
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"][1]["image"] = json!("envoy:1.31");
    let r = run(&request("StatefulSet", "UPDATE", new, Some(old)), json!({}));
    let out = mutated(&r);
    assert_eq!(
        at(out, "spec.template.spec.containers[0].imagePullPolicy"),
        "IfNotPresent"
    );
    assert_eq!(
        at(out, "spec.template.spec.containers[1].imagePullPolicy"),
        "Always"
    );
}

#[test]
fn pin_rewrites_mutable_tags_to_written_reference_at_digest() {
    let reg = Registry::with(&[("nginx", D1), ("localhost:5000/app:latest", D2)]);
    let spec = json!({"containers": [
        {"name": "a", "image": "nginx", "imagePullPolicy": "Always"},
        {"name": "b", "image": "localhost:5000/app:latest", "imagePullPolicy": "Always"},
        {"name": "c", "image": "redis:7.2", "imagePullPolicy": "Always"}]});
    let r = run_with(
        &create("CronJob", spec),
        json!({"mutableTagAction": "pin"}),
        &reg,
    );
    let out = mutated(&r);
    let p = "spec.jobTemplate.spec.template.spec.containers";
    assert_eq!(
        at(out, &format!("{p}[0].image")),
        &json!(format!("nginx@{D1}"))
    );
    assert_eq!(
        at(out, &format!("{p}[1].image")),
        &json!(format!("localhost:5000/app:latest@{D2}"))
    );
    assert_eq!(
        at(out, &format!("{p}[2].image")),
        "redis:7.2",
        "immutable tags are left alone"
    );
    assert_eq!(
        *reg.calls.borrow(),
        vec!["nginx", "localhost:5000/app:latest"]
    );
}

#[test]
fn pin_immutable_tags_pins_every_tag_and_image_volume() {
    let reg = Registry::with(&[("redis:7.2", D1), ("reg.example.com/m:v1", D2)]);
    let spec = json!({
        "initContainers": [{"name": "i", "image": "redis:7.2", "imagePullPolicy": "Always"}],
        "volumes": [{"name": "m", "image": {"reference": "reg.example.com/m:v1", "pullPolicy": "Always"}}]});
    let r = run_with(
        &create("Job", spec),
        json!({"pinImmutableTags": true}),
        &reg,
    );
    let out = mutated(&r);
    assert_eq!(
        at(out, "spec.template.spec.initContainers[0].image"),
        &json!(format!("redis:7.2@{D1}"))
    );
    assert_eq!(
        at(out, "spec.template.spec.volumes[0].image.reference"),
        &json!(format!("reg.example.com/m:v1@{D2}"))
    );
    // Mutable tags still follow mutableTagAction (reject by default).
    let spec = json!({"containers": [{"name": "a", "image": "redis:latest", "imagePullPolicy": "Always"}]});
    let r = run_with(
        &create("Pod", spec),
        json!({"pinImmutableTags": true}),
        &reg,
    );
    assert!(message(&r).contains("tag \"latest\" is mutable"));
}

#[test]
fn each_distinct_image_is_resolved_once_per_request() {
    let reg = Registry::with(&[("app:latest", D1), ("app", D2)]);
    let spec = json!({
        "containers": [{"name": "a", "image": "app:latest"}, {"name": "b", "image": "app:latest"}, {"name": "c", "image": "app"}],
        "initContainers": [{"name": "i", "image": "app:latest"}]});
    let r = run_with(
        &create("Deployment", spec),
        json!({"mutableTagAction": "pin"}),
        &reg,
    );
    mutated(&r);
    assert_eq!(*reg.calls.borrow(), vec!["app:latest", "app"]);
}

#[test]
fn pinned_images_follow_allow_if_not_present_when_pinned() {
    let reg = Registry::with(&[("nginx:latest", D1)]);
    let spec = json!({"containers": [{"name": "a", "image": "nginx:latest", "imagePullPolicy": "IfNotPresent"}]});
    let settings = json!({"mutableTagAction": "pin", "pullPolicyAction": "reject", "allowIfNotPresentWhenPinned": true});
    let r = run_with(&create("Pod", spec.clone()), settings, &reg);
    let out = mutated(&r);
    assert_eq!(
        at(out, "spec.containers[0].imagePullPolicy"),
        "IfNotPresent"
    );
    let r = run_with(
        &create("Pod", spec),
        json!({"mutableTagAction": "pin"}),
        &reg,
    );
    let out = mutated(&r);
    assert_eq!(
        at(out, "spec.containers[0].image"),
        &json!(format!("nginx:latest@{D1}"))
    );
    assert_eq!(at(out, "spec.containers[0].imagePullPolicy"), "Always");
}

#[test]
fn pin_failure_reject_warn_accept() {
    let reg = Registry::failing(
        "app:latest",
        "GET http://127.0.0.1:5000/v2/app/manifests/latest: connection refused",
    );
    let spec =
        json!({"containers": [{"name": "a", "image": "app:latest", "imagePullPolicy": "Always"}]});
    let req = create("Pod", spec);
    let r = run_with(&req, json!({"mutableTagAction": "pin"}), &reg);
    assert_eq!(
        message(&r),
        "spec.containers[0] \"a\" image \"app:latest\": cannot pin it to a digest: GET http://127.0.0.1:5000/v2/app/manifests/latest: connection refused; make the registry serve this tag, exempt the image, or change pinFailureAction"
    );
    let r = run_with(
        &req,
        json!({"mutableTagAction": "pin", "pinFailureAction": "warn"}),
        &reg,
    );
    assert!(r.accepted && r.mutated_object.is_none());
    assert_eq!(
        r.warnings.unwrap(),
        vec![
            "spec.containers[0] \"app:latest\": cannot pin it to a digest: GET http://127.…v2/app/manifests/latest: connection refused"
        ]
    );
    let r = run_with(
        &req,
        json!({"mutableTagAction": "pin", "pinFailureAction": "accept"}),
        &reg,
    );
    assert_plain_accept(&r);
}

#[test]
fn malformed_digest_from_the_host_is_a_failure_not_a_rewrite() {
    let reg = Registry::with(&[("app:latest", "sha256:short")]);
    let spec =
        json!({"containers": [{"name": "a", "image": "app:latest", "imagePullPolicy": "Always"}]});
    let r = run_with(
        &create("Pod", spec),
        json!({"mutableTagAction": "pin"}),
        &reg,
    );
    assert!(message(&r).contains("the host answered a malformed digest \"sha256:short\""));
}

#[test]
fn invented_fields_at_every_level_survive_a_mutation() {
    let reg = Registry::with(&[("app:latest", D1), ("models:latest", D2)]);
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "x-top": {"nested": [1, {"a": null}]},
        "metadata": {"name": "web", "x-meta": "kept", "labels": {"a": "b"}, "managedFields": [{"manager": "kubectl"}]},
        "spec": {"replicas": 3, "x-spec": 1.5, "template": {"metadata": {"x-tmeta": true}, "spec": {
            "x-podspec": {"future": "field"}, "hostUsers": false,
            "containers": [{"name": "app", "image": "app:latest", "x-container": [1, 2, 3],
                "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                "env": [{"name": "UNICODE", "value": "héllo \u{1F600} \"quoted\""}]}],
            "volumes": [{"name": "m", "image": {"reference": "models:latest", "x-imagevol": "kept"}, "x-volume": 7}]}}},
        "status": {"x-status": {}}
    });
    let req = request("Deployment", "CREATE", object.clone(), None);
    let r = run_with(&req, json!({"mutableTagAction": "pin"}), &reg);
    let out = mutated(&r);
    let mut expected = object;
    let spec = &mut expected["spec"]["template"]["spec"];
    spec["containers"][0]["image"] = json!(format!("app:latest@{D1}"));
    spec["volumes"][0]["image"]["reference"] = json!(format!("models:latest@{D2}"));
    // The absent pull policies default to Always for `latest`, so they are not written.
    assert_eq!(out, &expected);
}

#[test]
fn no_change_is_a_plain_accept() {
    let spec =
        json!({"containers": [{"name": "a", "image": "nginx:1.25", "imagePullPolicy": "Always"}]});
    assert_plain_accept(&run(
        &create("Deployment", spec),
        json!({"pinImmutableTags": false}),
    ));
}

/// A single-container Pod of `image` with `pull` as its pull policy (`None`: absent).
fn one_container_pod(image: &str, pull: Option<&str>) -> Value {
    let mut c = json!({"name": "a", "image": image});
    if let Some(p) = pull {
        c["imagePullPolicy"] = json!(p);
    }
    create("Pod", json!({ "containers": [c] }))
}

/// What a `mutating: false` deployment may use (docs/design.md, "Validating-only
/// deployments"): `pullPolicyAction` other than `mutate`, `mutableTagAction` `reject` or
/// `warn`, `pinImmutableTags: false`. Under each such document no answer is a mutation, and
/// the answers are not all rejections (which never carry a mutation anyway): every image the
/// settings admit is admitted as it is, though `pullPolicyAction: mutate` would have set its
/// pull policy (the control below shows it does).
#[test]
fn non_mutating_settings_never_mutate() {
    let pinned = format!("nginx:1.25@{D1}");
    // (image, valid, its tag is mutable, Kubernetes' default pull policy for it, pinned)
    let images = [
        ("nginx:1.25", true, false, "IfNotPresent", false),
        ("nginx:latest", true, true, "Always", false),
        ("nginx", true, true, "Always", false),
        (pinned.as_str(), true, false, "IfNotPresent", true),
        ("Bad:Ref", false, false, "IfNotPresent", false),
    ];
    let pulls = [None, Some("Always"), Some("IfNotPresent"), Some("Never")];
    let mut admitted = 0;
    for pull_action in ["reject", "warn", "ignore"] {
        for tag_action in ["reject", "warn"] {
            for allow_if_not_present in [false, true] {
                let settings = json!({"pullPolicyAction": pull_action,
                    "mutableTagAction": tag_action, "pinImmutableTags": false,
                    "allowIfNotPresentWhenPinned": allow_if_not_present});
                for (image, valid, mutable, default_pull, is_pinned) in &images {
                    for pull in pulls {
                        let policy = pull.unwrap_or(default_pull);
                        let pull_violation = policy != "Always"
                            && !(*is_pinned && allow_if_not_present && policy == "IfNotPresent");
                        let rejected = !valid
                            || (*mutable && tag_action == "reject")
                            || (pull_violation && pull_action == "reject");
                        let req = one_container_pod(image, pull);
                        let r = run(&req, settings.clone());
                        let case = format!("{settings} {image} {pull:?}");
                        assert!(r.mutated_object.is_none(), "{case}: mutated {r:?}");
                        assert_eq!(r.accepted, !rejected, "{case}: {r:?}");
                        if rejected {
                            continue;
                        }
                        admitted += 1;
                        // The control: `mutate` with otherwise the same settings sets the pull
                        // policy of exactly the images that violate it.
                        let mut mutating = settings.clone();
                        mutating["pullPolicyAction"] = json!("mutate");
                        let r = run(&req, mutating);
                        assert!(r.accepted, "{case}: {r:?}");
                        if pull_violation {
                            assert_eq!(
                                at(mutated(&r), "spec.containers[0].imagePullPolicy"),
                                "Always",
                                "{case}"
                            );
                        } else {
                            assert!(r.mutated_object.is_none(), "{case}: {r:?}");
                        }
                    }
                }
            }
        }
    }
    assert!(admitted > 0);

    // Every kind and every list, each with a pull policy `mutate` would set: admitted as it
    // is, with a warning for each under `warn` and none under `ignore`.
    let spec = json!({
        "containers": [{"name": "a", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent"}],
        "initContainers": [{"name": "i", "image": "busybox:1.36"}],
        "ephemeralContainers": [{"name": "e", "image": "alpine:3", "imagePullPolicy": "Never"}],
        "volumes": [{"name": "m", "image": {"reference": "reg.example.com/m:v1", "pullPolicy": "IfNotPresent"}}]
    });
    for kind in KINDS.iter().map(|k| k.kind) {
        let req = create(kind, spec.clone());
        for (pull_action, warnings) in [("warn", 4), ("ignore", 0)] {
            let r = run(&req, json!({ "pullPolicyAction": pull_action }));
            assert!(r.accepted && r.mutated_object.is_none(), "{kind}: {r:?}");
            assert_eq!(
                r.warnings.map_or(0, |w| w.len()),
                warnings,
                "{kind} {pull_action}"
            );
        }
        mutated(&run(&req, json!({"pullPolicyAction": "mutate"})));
    }

    // An UPDATE that drops the digest of a pinned image keeps the pin only where pinning is
    // on: without it, the image is judged as written and nothing is put back.
    for (image, settings) in [
        ("api:1.4", json!({"pullPolicyAction": "ignore"})),
        (
            "api:latest",
            json!({"pullPolicyAction": "warn", "mutableTagAction": "warn"}),
        ),
    ] {
        let old = object(
            "Pod",
            json!({"containers": [{"name": "a", "image": format!("{image}@{D1}"), "imagePullPolicy": "Always"}]}),
        );
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!(image);
        let req = request("Pod", "UPDATE", new, Some(old));
        let r = run(&req, settings.clone());
        assert!(r.accepted && r.mutated_object.is_none(), "{image}: {r:?}");
        // The control: pinning keeps the old pin.
        let mut pinning = settings;
        pinning["mutableTagAction"] = json!("pin");
        pinning["pinImmutableTags"] = json!(true);
        assert_eq!(
            at(mutated(&run(&req, pinning)), "spec.containers[0].image"),
            &json!(format!("{image}@{D1}"))
        );
    }
}

#[test]
fn mutation_and_rejection_combine_into_one_rejection_listing_all() {
    let reg = Registry::with(&[("app:latest", D1)]);
    let spec = json!({"containers": [
        {"name": "a", "image": "app:latest"},
        {"name": "b", "image": "redis"},
        {"name": "c", "image": "Bad:1"}]});
    // Pull policy could be mutated, but the tags are rejected: the answer is a rejection.
    let r = run_with(&create("Pod", spec), json!({}), &reg);
    assert!(r.mutated_object.is_none());
    let m = message(&r);
    let lines: Vec<&str> = m.lines().collect();
    assert_eq!(lines.len(), 3, "{m}");
    assert!(
        lines[0].starts_with(
            "spec.containers[0] \"a\" image \"app:latest\": tag \"latest\" is mutable"
        )
    );
    assert!(lines[1].starts_with("spec.containers[1] \"b\" image \"redis\": no tag"));
    assert!(
        lines[2].starts_with("spec.containers[2] \"c\" image \"Bad:1\": invalid image reference")
    );
}

#[test]
fn warnings_ride_along_with_a_mutation() {
    let spec = json!({"containers": [{"name": "a", "image": "app:latest", "imagePullPolicy": "IfNotPresent"}]});
    let r = run(&create("Pod", spec), json!({"mutableTagAction": "warn"}));
    let out = mutated(&r);
    assert_eq!(at(out, "spec.containers[0].imagePullPolicy"), "Always");
    assert_eq!(
        r.warnings.as_deref(),
        Some(&["spec.containers[0] \"app:latest\": tag \"latest\" is mutable (mutableTags \"latest\")".to_owned()][..])
    );
    let _: &Value = out;
}
