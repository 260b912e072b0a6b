//! Background audit with a mocked host: the audit-scanner's request (no `userInfo.username`,
//! no `dryRun`) is judged as at admission, but answered with one rejection that says what
//! admission does about each image; the registry is never asked, and `pinFailureAction`
//! and `pinBudgetMilliseconds` play no part.

mod common;
use common::*;
use serde_json::{Value, json};

/// The audit-scanner's request for `object`: CREATE, `userInfo: {}`, no `dryRun`.
fn audit(kind: &str, pod_spec: Value) -> Value {
    let mut r = create(kind, pod_spec);
    r["userInfo"] = json!({});
    r["resource"]["resource"] = json!(kind);
    r
}

fn audit_lines(request: &Value, settings: Value, registry: &Registry) -> Vec<String> {
    let r = run_with(request, settings, registry);
    assert!(
        r.mutated_object.is_none() && r.warnings.is_none() && r.audit_annotations.is_none(),
        "{r:?}"
    );
    assert_eq!(r.code, None);
    message(&r).lines().map(str::to_owned).collect()
}

#[test]
fn every_action_of_admission_is_named() {
    let spec = json!({"containers": [
        {"name": "a", "image": "nginx"},
        {"name": "b", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent"},
        {"name": "c", "image": "Nginx:1"},
    ]});
    let got = audit_lines(&audit("Pod", spec.clone()), json!({}), &Registry::default());
    assert_eq!(
        got,
        [
            "spec.containers[0] \"a\" image \"nginx\": no tag, so it floats like :latest; admission rejects it",
            "spec.containers[1] \"b\" image \"nginx:1.25\": imagePullPolicy IfNotPresent, not Always; admission sets Always",
            "spec.containers[2] \"c\" image \"Nginx:1\": invalid image reference: the repository name must be lowercase; admission rejects it",
        ]
    );
    let warn = json!({"mutableTagAction": "warn", "pullPolicyAction": "warn"});
    let got = audit_lines(&audit("Pod", spec), warn, &Registry::default());
    assert!(
        got[0].ends_with("no tag, so it floats like :latest; admission warns"),
        "{got:?}"
    );
    assert!(
        got[1].ends_with("imagePullPolicy IfNotPresent, not Always; admission warns"),
        "{got:?}"
    );
    assert!(got[2].ends_with("; admission rejects it"), "{got:?}");
}

#[test]
fn pinning_is_reported_and_never_looked_up() {
    let spec = json!({"containers": [
        {"name": "a", "image": "app:latest", "imagePullPolicy": "Always"},
        {"name": "b", "image": "app:1.0", "imagePullPolicy": "IfNotPresent"},
        {"name": "c", "image": format!("app:1.0@{D1}"), "imagePullPolicy": "Always"},
    ]});
    // pinFailureAction and the budget play no part: every lookup would fail or be too late.
    let registry = Registry::failing("app:latest", "down").slow(5_000);
    let settings = json!({
        "mutableTagAction": "pin", "pinImmutableTags": true, "pinFailureAction": "warn",
        "pinBudgetMilliseconds": 1, "allowIfNotPresentWhenPinned": true,
    });
    let got = audit_lines(&audit("Deployment", spec.clone()), settings, &registry);
    assert_eq!(
        got,
        [
            "spec.template.spec.containers[0] \"a\" image \"app:latest\": tag \"latest\" is mutable (mutableTags \"latest\"), not pinned to a digest; admission pins it",
            "spec.template.spec.containers[1] \"b\" image \"app:1.0\": tag not pinned to a digest; admission pins it",
        ]
    );
    // Without allowIfNotPresentWhenPinned, the pinned image still needs Always.
    let settings = json!({"pinImmutableTags": true});
    let got = audit_lines(&audit("Deployment", spec), settings, &registry);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got[0]
            .ends_with("tag \"latest\" is mutable (mutableTags \"latest\"); admission rejects it"),
        "{got:?}"
    );
    assert!(
        got[1].ends_with("tag not pinned to a digest; admission pins it"),
        "{got:?}"
    );
    assert!(
        got[2].ends_with("imagePullPolicy IfNotPresent, not Always; admission sets Always"),
        "{got:?}"
    );
    assert!(registry.calls.borrow().is_empty(), "{:?}", registry.calls);
}

#[test]
fn a_pinned_image_without_a_tag_is_judged_as_admission_leaves_it() {
    // No tag and no pull policy: Kubernetes' default is Always; once pinned it is
    // IfNotPresent (a digest has no tag), so admission pins it and sets Always.
    let spec = json!({"containers": [{"name": "a", "image": "app"}]});
    let got = audit_lines(
        &audit("Pod", spec),
        json!({"mutableTagAction": "pin"}),
        &Registry::default(),
    );
    assert_eq!(
        got,
        [
            "spec.containers[0] \"a\" image \"app\": no tag, so it floats like :latest, not pinned to a digest; admission pins it",
            "spec.containers[0] \"a\" image \"app\": imagePullPolicy IfNotPresent by default, not Always; admission sets Always",
        ]
    );
}

#[test]
fn compliant_and_exempt_objects_pass() {
    let spec = json!({"containers": [
        {"name": "a", "image": format!("app@{D1}"), "imagePullPolicy": "Always"},
        {"name": "b", "image": "nginx:1.25", "imagePullPolicy": "Always"},
        {"name": "dbg", "image": "busybox"},
    ]});
    let settings = json!({"exemptContainers": [{"name": "dbg"}]});
    assert_plain_accept(&run(&audit("Pod", spec), settings));
    let spec =
        json!({"containers": [{"name": "b", "image": "nginx:1.25", "imagePullPolicy": "Never"}]});
    assert_plain_accept(&run(
        &audit("Pod", spec),
        json!({"pullPolicyAction": "ignore"}),
    ));
}

#[test]
fn long_values_are_shortened() {
    let tag = "t".repeat(128);
    let spec = json!({"containers": [{"name": "a", "image": format!("app:{tag}"), "imagePullPolicy": "Always"}]});
    let got = audit_lines(
        &audit("Pod", spec),
        json!({"mutableTags": ["t*"]}),
        &Registry::default(),
    );
    let quoted = got[0]
        .split(": tag ")
        .nth(1)
        .unwrap()
        .trim_end_matches(" is mutable (mutableTags \"t*\"); admission rejects it");
    assert!(
        quoted.contains('…') && quoted.chars().count() == 66,
        "{quoted}"
    );
}
