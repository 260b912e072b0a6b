//! The validating half: every kind, container type, image volume, judgement rule, setting,
//! UPDATE rule and operation, through the same `validate` entry the wasm uses.

mod common;
use common::*;
use serde_json::{Value, json};

const PIN: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const REJECT_ONLY: fn() -> Value = || json!({"pullPolicyAction": "ignore"});

#[test]
fn every_kind_is_judged_at_its_pod_spec() {
    for row in KINDS {
        let (kind, path) = (row.kind, row.pod_spec.keys());
        let r = run(
            &create(kind, containers(&[("web", "nginx:latest")])),
            REJECT_ONLY(),
        );
        let place = format!("{}.containers[0]", path.join("."));
        assert_eq!(
            message(&r),
            format!(
                "{place} \"web\" image \"nginx:latest\": tag \"latest\" is mutable (mutableTags \"latest\"); use a version tag or pin a digest"
            ),
            "{kind}"
        );
        let r = run(
            &create(kind, containers(&[("web", "nginx:1.25")])),
            REJECT_ONLY(),
        );
        assert_plain_accept(&r);
    }
}

#[test]
fn ephemeral_containers_subresource_is_judged() {
    let old = object(
        "Pod",
        json!({"containers": [{"name": "app", "image": "nginx:1.25", "imagePullPolicy": "Always"}]}),
    );
    let mut new = old.clone();
    new["spec"]["ephemeralContainers"] =
        json!([{"name": "debugger", "image": "busybox", "imagePullPolicy": "Always"}]);
    let mut req = request("Pod", "UPDATE", new, Some(old));
    req["subResource"] = json!("ephemeralcontainers");
    let r = run(&req, json!({}));
    assert_eq!(
        message(&r),
        "spec.ephemeralContainers[0] \"debugger\" image \"busybox\": no tag, so it floats like :latest; use a version tag or pin a digest"
    );
}

#[test]
fn every_container_type_and_image_volumes_are_judged() {
    let spec = json!({
        "containers": [{"name": "app", "image": "app:latest"}],
        "initContainers": [{"name": "init", "image": "busybox"}],
        "ephemeralContainers": [{"name": "dbg", "image": "alpine:latest"}],
        "volumes": [
            {"name": "cfg", "configMap": {"name": "c"}},
            {"name": "models", "image": {"reference": "reg.example.com/models", "pullPolicy": "Always"}}
        ]
    });
    let r = run(&create("Deployment", spec), REJECT_ONLY());
    let lines: Vec<&str> = message(&r).lines().collect();
    assert_eq!(
        lines,
        vec![
            "spec.template.spec.containers[0] \"app\" image \"app:latest\": tag \"latest\" is mutable (mutableTags \"latest\"); use a version tag or pin a digest",
            "spec.template.spec.initContainers[0] \"init\" image \"busybox\": no tag, so it floats like :latest; use a version tag or pin a digest",
            "spec.template.spec.ephemeralContainers[0] \"dbg\" image \"alpine:latest\": tag \"latest\" is mutable (mutableTags \"latest\"); use a version tag or pin a digest",
            "spec.template.spec.volumes[1] \"models\" image volume \"reg.example.com/models\": no tag, so it floats like :latest; use a version tag or pin a digest",
        ]
    );
}

#[test]
fn rule1_exemptions_skip_tag_and_pull_policy() {
    let spec = json!({"containers": [
        {"name": "proxy", "image": "istio/proxyv2", "imagePullPolicy": "IfNotPresent"},
        {"name": "pause", "image": "registry.k8s.io/pause:latest", "imagePullPolicy": "Never"},
        {"name": "web", "image": "nginx", "imagePullPolicy": "Always"}
    ], "initContainers": [{"name": "proxy", "image": "istio/proxyv2"}]});
    let settings = json!({"pullPolicyAction": "reject",
        "exemptImages": ["registry.k8s.io/pause:*", "docker.io/library/nginx"],
        "exemptContainers": [{"name": "proxy", "type": "regular"}]});
    let r = run(&create("Pod", spec), settings);
    // Only the init container named proxy is judged: the exemption is for regular ones.
    assert_eq!(
        message(&r),
        "spec.initContainers[0] \"proxy\" image \"istio/proxyv2\": no tag, so it floats like :latest; use a version tag or pin a digest"
    );
}

#[test]
fn rule1_invalid_references_can_be_exempted_by_written_glob() {
    let r = run(
        &create("Pod", containers(&[("a", "Bad:Image")])),
        json!({"exemptImages": ["Bad:*"]}),
    );
    assert_plain_accept(&r);
}

#[test]
fn rule2_digest_pins_whatever_the_tag() {
    let spec = json!({"containers": [{"name": "a", "image": format!("nginx:latest@{PIN}"), "imagePullPolicy": "Always"}]});
    assert_plain_accept(&run(&create("Pod", spec), json!({})));
}

#[test]
fn rule3_no_tag_even_behind_a_registry_port() {
    for image in ["localhost:5000/app", "registry:5000/app", "nginx"] {
        let r = run(&create("Pod", containers(&[("a", image)])), REJECT_ONLY());
        assert!(
            message(&r).contains("no tag, so it floats like :latest"),
            "{image}"
        );
    }
}

#[test]
fn rule4_mutable_tags_setting() {
    let settings =
        json!({"mutableTags": ["latest", "stable", "*-snapshot"], "pullPolicyAction": "ignore"});
    for (image, glob) in [
        ("nginx:LATEST", "latest"),
        ("nginx:Stable", "stable"),
        ("app:1.0-SNAPSHOT", "*-snapshot"),
    ] {
        let r = run(
            &create("Pod", containers(&[("a", image)])),
            settings.clone(),
        );
        let tag = image.split(':').nth(1).unwrap();
        assert!(
            message(&r).contains(&format!(
                "tag \"{tag}\" is mutable (mutableTags \"{glob}\")"
            )),
            "{image}"
        );
    }
    assert_plain_accept(&run(
        &create("Pod", containers(&[("a", "nginx:1.25")])),
        settings,
    ));
    // The key absent (or null) is the default list; an empty list is no glob at all: :latest
    // passes rule 4, an image without a tag still fails rule 3.
    for (settings, latest_is_mutable) in [
        (json!({"pullPolicyAction": "ignore"}), true),
        (
            json!({"mutableTags": null, "pullPolicyAction": "ignore"}),
            true,
        ),
        (
            json!({"mutableTags": [], "pullPolicyAction": "ignore"}),
            false,
        ),
    ] {
        let r = run(
            &create("Pod", containers(&[("a", "nginx:latest")])),
            settings.clone(),
        );
        if latest_is_mutable {
            assert!(
                message(&r).contains("tag \"latest\" is mutable"),
                "{settings}"
            );
        } else {
            assert_plain_accept(&r);
        }
        let r = run(&create("Pod", containers(&[("a", "nginx")])), settings);
        assert!(message(&r).contains("no tag, so it floats like :latest"));
    }
}

#[test]
fn rule5_immutable_tag_patterns_and_registries() {
    let settings = json!({"immutableTagPatterns": ["semver", "sha-[0-9a-f]{7}"],
        "immutableRegistries": ["123456789012.dkr.ecr.eu-west-1.amazonaws.com"], "pullPolicyAction": "ignore"});
    let r = run(
        &create("Pod", containers(&[("a", "nginx:1.25")])),
        settings.clone(),
    );
    assert_eq!(
        message(&r),
        "spec.containers[0] \"a\" image \"nginx:1.25\": tag \"1.25\" matches none of immutableTagPatterns; use a tag that does or pin a digest"
    );
    for ok in [
        "nginx:1.25.3",
        "app:sha-abc1234",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:main",
    ] {
        assert_plain_accept(&run(
            &create("Pod", containers(&[("a", ok)])),
            settings.clone(),
        ));
    }
}

#[test]
fn rule6_version_tags_pass() {
    let spec =
        json!({"containers": [{"name": "a", "image": "nginx:1.25", "imagePullPolicy": "Always"}]});
    assert_plain_accept(&run(&create("Pod", spec), json!({})));
}

#[test]
fn invalid_references_are_rejected_with_the_reason_in_any_mode() {
    for (image, why) in [
        ("Nginx:1", "the repository name must be lowercase"),
        (
            "nginx@sha256:abc",
            "the digest is invalid: sha256 needs 64 hex digits, found 3",
        ),
        ("", "the image is empty"),
        ("nginx:", "the tag must be"),
    ] {
        let r = run(
            &create("Pod", containers(&[("a", image)])),
            json!({"mutableTagAction": "warn"}),
        );
        let m = message(&r);
        assert!(
            m.starts_with(&format!(
                "spec.containers[0] \"a\" image {image:?}: invalid image reference: {why}"
            )),
            "{m}"
        );
    }
    let r = run(
        &create("Pod", json!({"containers": [{"name": "a"}]})),
        json!({}),
    );
    assert!(message(&r).contains("invalid image reference: the image is empty"));
}

#[test]
fn warn_accepts_with_one_short_warning_per_violation() {
    let spec = json!({"containers": [
        {"name": "a", "image": "nginx"},
        {"name": "b", "image": "redis:latest", "imagePullPolicy": "IfNotPresent"}
    ]});
    let r = run(
        &create("Pod", spec),
        json!({"mutableTagAction": "warn", "pullPolicyAction": "warn"}),
    );
    assert!(r.accepted && r.mutated_object.is_none() && r.message.is_none());
    assert_eq!(
        r.warnings.unwrap(),
        vec![
            "spec.containers[0] \"nginx\": no tag, so it floats like :latest",
            "spec.containers[1] \"redis:latest\": tag \"latest\" is mutable (mutableTags \"latest\")",
            "spec.containers[1] \"redis:latest\": imagePullPolicy IfNotPresent, not Always",
        ]
    );
}

#[test]
fn pull_policy_reject_uses_kubernetes_default_when_absent() {
    let settings = json!({"pullPolicyAction": "reject"});
    let r = run(
        &create("Pod", containers(&[("a", "nginx:1.25")])),
        settings.clone(),
    );
    assert_eq!(
        message(&r),
        "spec.containers[0] \"a\" image \"nginx:1.25\": imagePullPolicy IfNotPresent by default, not Always; set imagePullPolicy: Always; any other lets a node run a stale or another tenant's cached image"
    );
    // No tag: Kubernetes defaults to Always, so only the tag is a violation.
    let r = run(
        &create("Pod", containers(&[("a", "nginx")])),
        settings.clone(),
    );
    assert_eq!(message(&r).lines().count(), 1);
    let spec =
        json!({"containers": [{"name": "a", "image": "nginx:1.25", "imagePullPolicy": "Never"}]});
    assert!(
        message(&run(&create("Pod", spec), settings)).contains("imagePullPolicy Never, not Always")
    );
}

#[test]
fn pull_policy_ignore_and_allow_if_not_present_when_pinned() {
    let pinned = json!({"containers": [{"name": "a", "image": format!("nginx@{PIN}"), "imagePullPolicy": "IfNotPresent"}]});
    let never = json!({"containers": [{"name": "a", "image": format!("nginx@{PIN}"), "imagePullPolicy": "Never"}]});
    let tagged = json!({"containers": [{"name": "a", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent"}]});
    let allow = json!({"pullPolicyAction": "reject", "allowIfNotPresentWhenPinned": true});
    assert_plain_accept(&run(&create("Pod", pinned.clone()), allow.clone()));
    assert!(message(&run(&create("Pod", never), allow.clone())).contains("imagePullPolicy Never"));
    let m = run(&create("Pod", tagged.clone()), allow);
    assert!(message(&m).contains("; set imagePullPolicy: Always or pin a digest;"));
    assert!(
        !run(
            &create("Pod", pinned),
            json!({"pullPolicyAction": "reject"})
        )
        .accepted
    );
    assert_plain_accept(&run(
        &create("Pod", tagged),
        json!({"pullPolicyAction": "ignore"}),
    ));
}

#[test]
fn update_with_unchanged_containers_is_not_rejudged() {
    let spec = json!({"containers": [{"name": "a", "image": "nginx:latest", "imagePullPolicy": "IfNotPresent"}],
        "volumes": [{"name": "v", "image": {"reference": "m", "pullPolicy": "IfNotPresent"}}]});
    let old = object("Deployment", spec.clone());
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"team": "a"});
    let r = run(
        &request("Deployment", "UPDATE", new.clone(), Some(old.clone())),
        json!({"pullPolicyAction": "reject"}),
    );
    assert_plain_accept(&r);
    // Changing the image is judged again.
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:stable-latest");
    new["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    let r = run(
        &request("Deployment", "UPDATE", new.clone(), Some(old.clone())),
        json!({"pullPolicyAction": "reject", "mutableTags": ["*latest"]}),
    );
    let m = message(&r);
    assert_eq!(m.lines().count(), 2, "{m}");
    assert!(m.contains("tag \"stable-latest\" is mutable"));
    // Changing only the pull policy is judged again too.
    let mut new2 = old.clone();
    new2["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Never");
    let r = run(
        &request("Deployment", "UPDATE", new2, Some(old.clone())),
        json!({"pullPolicyAction": "reject"}),
    );
    assert_eq!(message(&r).lines().count(), 2);
    // A CREATE of the same object is judged.
    assert!(!run(&request("Deployment", "CREATE", old, None), json!({})).accepted);
}

#[test]
fn delete_and_connect_are_accepted() {
    for op in ["DELETE", "CONNECT"] {
        let mut r = request(
            "Pod",
            op,
            Value::Null,
            Some(object("Pod", containers(&[("a", "nginx")]))),
        );
        assert_plain_accept(&run(&r, json!({})));
        r.as_object_mut().unwrap().remove("object");
        assert_plain_accept(&run(&r, json!({})));
    }
}

#[test]
fn unknown_kinds_and_other_subresources_are_accepted_unchanged() {
    let mut r = create("Pod", containers(&[("a", "nginx")]));
    r["kind"] = json!({"group": "", "version": "v1", "kind": "ConfigMap"});
    r["object"]["kind"] = json!("ConfigMap");
    assert_plain_accept(&run(&r, json!({})));
    let mut r = create("Job", containers(&[("a", "nginx")]));
    r["kind"]["group"] = json!("batch.volcano.sh");
    assert_plain_accept(&run(&r, json!({})));
    let mut r = create("Pod", containers(&[("a", "nginx")]));
    r["subResource"] = json!("status");
    assert_plain_accept(&run(&r, json!({})));
}

#[test]
fn malformed_requests_get_a_clear_rejection() {
    use immutable_images::testing::validate;
    let reg = Registry::default();
    let refuse = |payload: &[u8]| {
        let r = validate(payload, &reg);
        assert!(!r.accepted, "{}", String::from_utf8_lossy(payload));
        r.message.unwrap()
    };
    assert!(refuse(b"not json").starts_with("the payload is not a Kubewarden validation request"));
    assert_eq!(refuse(br#"{"settings":{}}"#), "the payload has no request");
    assert!(refuse(br#"{"request":[1]}"#).starts_with("the request is not an AdmissionRequest"));
    let mut no_object = create("Pod", containers(&[("a", "nginx:1")]));
    no_object.as_object_mut().unwrap().remove("object");
    assert_eq!(
        message(&run(&no_object, json!({}))),
        "the CREATE request for a Pod has no object"
    );
    let mut no_kind = create("Pod", containers(&[("a", "nginx:1")]));
    no_kind.as_object_mut().unwrap().remove("kind");
    assert_eq!(
        message(&run(&no_kind, json!({}))),
        "the request has no kind"
    );
    let mut wrong = create("Deployment", containers(&[("a", "nginx:1")]));
    wrong["object"] = object("Pod", containers(&[("a", "nginx")]));
    assert_eq!(
        message(&run(&wrong, json!({}))),
        "the object is a Pod but the request is for a Deployment"
    );
    let mut no_spec = create("Deployment", containers(&[("a", "nginx:1")]));
    no_spec["object"]["spec"] = json!({"replicas": 1});
    assert_eq!(
        message(&run(&no_spec, json!({}))),
        "the Deployment has no pod spec at spec.template.spec"
    );
    let not_array = create(
        "Pod",
        json!({"containers": {"name": "a", "image": "nginx"}}),
    );
    assert!(
        message(&run(&not_array, json!({})))
            .starts_with("cannot read the Pod: spec.containers: invalid type: map")
    );
    let not_string = create(
        "CronJob",
        json!({"containers": [{"name": "a", "image": ["nginx"]}]}),
    );
    assert!(message(&run(&not_string, json!({}))).starts_with(
        "cannot read the CronJob: spec.jobTemplate.spec.template.spec.containers[0].image: invalid type: sequence"
    ));
}

#[test]
fn invalid_settings_are_never_trusted_by_validate() {
    let req = create("Pod", containers(&[("a", "nginx")]));
    for (settings, start) in [
        (
            json!({"mutableTagAction": "ignore"}),
            "invalid settings: mutableTagAction: unknown variant `ignore`",
        ),
        (
            json!({"mutableTag": []}),
            "invalid settings: mutableTag: unknown field `mutableTag`",
        ),
        (
            json!({"exemptImages": ["[x"]}),
            "invalid settings: exemptImages[0]: invalid glob",
        ),
        (
            json!({"immutableTagPatterns": ["("]}),
            "invalid settings: immutableTagPatterns[0]: invalid regex",
        ),
    ] {
        let m = run(&req, settings).message.unwrap();
        assert!(m.starts_with(start), "{m}");
    }
}

#[test]
fn validate_settings_answers_valid_or_names_the_key() {
    use immutable_images::testing::validate_settings;
    assert!(validate_settings(br#"{"mutableTagAction":"pin","pinFailureAction":"warn"}"#).valid);
    assert!(validate_settings(b"{}").valid);
    let v = validate_settings(br#"{"pullPolicyAction":"always"}"#);
    assert!(!v.valid);
    assert!(
        v.message
            .unwrap()
            .starts_with("pullPolicyAction: unknown variant `always`")
    );
    let v = validate_settings(b"not json");
    assert!(!v.valid && v.message.is_some());
}
