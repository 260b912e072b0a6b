//! The policy end to end, as policy-server runs it: behaviour from docs/design.md.
//! Every test is named `policy_<what it shows>`; tests that pin start their own registry.

mod common;

use common::{
    admission_request, container, create, cronjob_with, deployment_with, evaluate, pod, pod_with,
};
use e2e_tests::images::{Platform, push_image, push_multi_arch};
use e2e_tests::{AdmissionResponse, DigestCache, DigestResolver, HostConfig, Registry};
use serde_json::{Value, json};
use std::time::Duration;

const DIGEST: &str = "sha256:3f4e2b1a0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f";

fn host_with_mirror(registry: &Registry) -> HostConfig {
    HostConfig {
        resolver: DigestResolver::new()
            .with_mirror("docker.io", &registry.host())
            .unwrap(),
        verbose: false,
        ..HostConfig::default()
    }
}

fn assert_rejected(resp: &AdmissionResponse, needles: &[&str]) {
    assert!(!resp.allowed, "expected a rejection, got {resp:?}");
    assert!(
        resp.patch.is_none(),
        "a rejection carries no patch: {resp:?}"
    );
    for n in needles {
        assert!(
            resp.message().contains(n),
            "message lacks {n:?}: {}",
            resp.message()
        );
    }
}

fn assert_plain_accept(resp: &AdmissionResponse) {
    assert!(resp.allowed, "expected acceptance, got {resp:?}");
    assert!(resp.patch.is_none(), "expected no patch, got {resp:?}");
    assert!(
        resp.warnings().is_empty(),
        "expected no warnings, got {resp:?}"
    );
}

/// The object after applying the response's patch.
fn patched(resp: &AdmissionResponse, request: &Value) -> Value {
    assert!(resp.allowed, "expected acceptance, got {resp:?}");
    resp.patched(&request["object"]).expect("apply the patch")
}

/// Every patch operation touches only an image or a pull policy field.
fn assert_patch_touches_only_images(resp: &AdmissionResponse) {
    for op in resp.patch_operations().unwrap().unwrap_or_default() {
        let path = op["path"].as_str().unwrap_or_default();
        assert!(
            ["/image", "/imagePullPolicy", "/reference", "/pullPolicy"]
                .iter()
                .any(|end| path.ends_with(end)),
            "patch touches {path}: {op}"
        );
    }
}

// ---- protocol and settings ----

#[test]
fn policy_speaks_protocol_v1() {
    let p = common::policy(HostConfig::default());
    assert_eq!(p.protocol_version().unwrap(), "v1");
}

#[test]
fn policy_settings_defaults_and_full_settings_are_valid() {
    let p = common::policy(HostConfig::default());
    for s in [
        json!({}),
        json!({
            "mutableTags": ["latest", "stable", "v?"],
            "immutableTagPatterns": ["semver"],
            "immutableRegistries": ["registry.example.com:5000"],
            "mutableTagAction": "pin",
            "pinImmutableTags": true,
            "pinFailureAction": "warn",
            "pullPolicyAction": "reject",
            "allowIfNotPresentWhenPinned": true,
            "exemptImages": ["registry.k8s.io/pause:*"],
            "exemptContainers": [{"name": "istio-proxy"}, {"name": "debugger", "type": "ephemeral"}],
        }),
    ] {
        let v = p.validate_settings(&s).unwrap();
        assert!(v.valid, "{s}: {v:?}");
    }
}

#[test]
fn policy_settings_typos_and_bad_values_are_invalid() {
    let p = common::policy(HostConfig::default());
    for (s, needle) in [
        (json!({"mutableTag": ["latest"]}), "mutableTag"),
        (json!({"mutableTagAction": "block"}), "mutableTagAction"),
        (json!({"pinFailureAction": "ignore"}), "pinFailureAction"),
        (json!({"pullPolicyAction": "always"}), "pullPolicyAction"),
        (
            json!({"immutableTagPatterns": ["(unclosed"]}),
            "immutableTagPatterns",
        ),
        (
            json!({"exemptContainers": [{"name": "x", "type": "sidecar"}]}),
            "exemptContainers",
        ),
    ] {
        let v = p.validate_settings(&s).unwrap();
        assert!(!v.valid, "{s} should be invalid");
        let msg = v.message.unwrap_or_default();
        assert!(
            msg.contains(needle),
            "{s}: message {msg:?} lacks {needle:?}"
        );
    }
}

// ---- judging tags ----

#[test]
fn policy_rejects_latest_tag() {
    let p = common::policy(HostConfig::default());
    let req = create(pod_with(vec![container(
        "web",
        "nginx:latest",
        Some("Always"),
    )]));
    assert_rejected(
        &evaluate(&p, &json!({}), &req),
        &["spec.containers[0]", "nginx:latest"],
    );
}

#[test]
fn policy_rejects_missing_tag_in_init_containers() {
    let p = common::policy(HostConfig::default());
    let req = create(pod(json!({
        "containers": [container("web", "nginx:1.25.3", Some("Always"))],
        "initContainers": [container("init", "busybox", Some("Always"))],
    })));
    let resp = evaluate(&p, &json!({}), &req);
    assert_rejected(&resp, &["spec.initContainers[0]", "busybox"]);
    assert!(
        !resp.message().contains("spec.containers[0]"),
        "{}",
        resp.message()
    );
}

/// The one line of a rejection of the Pod's container `name` with `image`: it must start
/// with the place, the container, the image and then `why`.
#[track_caller]
fn assert_rejected_for(resp: &AdmissionResponse, name: &str, image: &str, why: &str) {
    assert_rejected(resp, &[]);
    let start = format!("spec.containers[0] {name:?} image {image:?}: {why}");
    assert!(
        resp.message().starts_with(&start) && resp.message().lines().count() == 1,
        "expected one line starting {start:?}, got {:?}",
        resp.message()
    );
}

/// The registry's port is no tag: such an image has no tag (rule 3), and is valid (a reader
/// that took `5000/app` for a tag would refuse it as an invalid reference, naming it too).
#[test]
fn policy_registry_port_is_not_a_tag() {
    let p = common::policy(HostConfig::default());
    for image in ["localhost:5000/app", "registry:5000/app"] {
        let req = create(pod_with(vec![container("c", image, Some("Always"))]));
        assert_rejected_for(
            &evaluate(&p, &json!({}), &req),
            "c",
            image,
            "no tag, so it floats like :latest",
        );
        // With a tag after the port, the same image passes.
        let tagged = format!("{image}:1.0");
        let req = create(pod_with(vec![container("c", &tagged, Some("Always"))]));
        assert_plain_accept(&evaluate(&p, &json!({}), &req));
    }
}

#[test]
fn policy_uppercase_latest_is_floating_too() {
    let p = common::policy(HostConfig::default());
    let req = create(pod_with(vec![container(
        "c",
        "nginx:LATEST",
        Some("Always"),
    )]));
    assert_rejected(&evaluate(&p, &json!({}), &req), &["nginx:LATEST"]);
}

/// An invalid reference is refused with why, whatever the actions: under `warn` it is refused
/// all the same, where a tag problem (`nginx@sha256:abc` read as an untagged `nginx`, say)
/// would only be warned about.
#[test]
fn policy_rejects_invalid_references_saying_why() {
    let p = common::policy(HostConfig::default());
    for (image, why) in [
        ("Nginx:1", "the repository name must be lowercase"),
        (
            "nginx@sha256:abc",
            "the digest is invalid: sha256 needs 64 hex digits, found 3",
        ),
    ] {
        let req = create(pod_with(vec![container("c", image, Some("Always"))]));
        for settings in [
            json!({}),
            json!({"mutableTagAction": "warn", "pullPolicyAction": "warn"}),
        ] {
            assert_rejected_for(
                &evaluate(&p, &settings, &req),
                "c",
                image,
                &format!("invalid image reference: {why}"),
            );
        }
    }
}

/// distribution/reference v0.6.0 limits the repository path to 255 characters and leaves the
/// registry out: a short path on a long registry host is valid.
#[test]
fn policy_counts_the_path_not_the_registry_against_the_255_characters() {
    let p = common::policy(HostConfig::default());
    let host = format!("{}.example.com", "r".repeat(240));
    let long_registry = format!("{host}/team/app:1.0");
    let req = create(pod_with(vec![container(
        "c",
        &long_registry,
        Some("Always"),
    )]));
    assert_plain_accept(&evaluate(&p, &json!({}), &req));
    let longest = format!("registry.example.com/{}:1.0", "a".repeat(255));
    let req = create(pod_with(vec![container("c", &longest, Some("Always"))]));
    assert_plain_accept(&evaluate(&p, &json!({}), &req));
    let past = format!("registry.example.com/{}:1.0", "a".repeat(256));
    let req = create(pod_with(vec![container("c", &past, Some("Always"))]));
    assert_rejected(
        &evaluate(&p, &json!({}), &req),
        &["the repository path is 256 characters long (the registry not counted)"],
    );
}

#[test]
fn policy_accepts_version_tag_with_always() {
    let p = common::policy(HostConfig::default());
    let req = create(pod_with(vec![container(
        "web",
        "nginx:1.25.3",
        Some("Always"),
    )]));
    assert_plain_accept(&evaluate(&p, &json!({}), &req));
}

#[test]
fn policy_digest_pins_whatever_the_tag() {
    let p = common::policy(HostConfig::default());
    let image = format!("nginx:latest@{DIGEST}");
    let req = create(pod_with(vec![container("web", &image, Some("Always"))]));
    assert_plain_accept(&evaluate(&p, &json!({}), &req));
}

#[test]
fn policy_immutable_tag_patterns_semver() {
    let p = common::policy(HostConfig::default());
    let settings = json!({"immutableTagPatterns": ["semver"]});
    let ok = create(pod_with(vec![container(
        "c",
        "nginx:1.25.3",
        Some("Always"),
    )]));
    assert_plain_accept(&evaluate(&p, &settings, &ok));
    let floating = create(pod_with(vec![container("c", "nginx:1.25", Some("Always"))]));
    assert_rejected(&evaluate(&p, &settings, &floating), &["nginx:1.25"]);
    // ... unless the registry enforces immutability itself.
    let trusted = json!({"immutableTagPatterns": ["semver"], "immutableRegistries": ["registry.example.com"]});
    let req = create(pod_with(vec![container(
        "c",
        "registry.example.com/app:1.25",
        Some("Always"),
    )]));
    assert_plain_accept(&evaluate(&p, &trusted, &req));
}

#[test]
fn policy_exempt_images_and_containers_are_skipped() {
    let p = common::policy(HostConfig::default());
    let req = create(pod_with(vec![
        container("web", "nginx:latest", Some("Always")),
        container("istio-proxy", "istio/proxyv2:latest", Some("IfNotPresent")),
    ]));
    let settings =
        json!({"exemptImages": ["nginx:*"], "exemptContainers": [{"name": "istio-proxy"}]});
    assert_plain_accept(&evaluate(&p, &settings, &req));
}

/// `?` and `[…]` stand for one character of a name: `?ginx:*` is Docker Hub's
/// `docker.io/library/?ginx:*`, as `nginx:*` is, and not the host `nginx` on a port.
#[test]
fn policy_exemption_globs_starting_with_a_one_character_wildcard_are_docker_hub_names() {
    let p = common::policy(HostConfig::default());
    for glob in ["?ginx:*", "[n]ginx:*"] {
        let settings = json!({ "exemptImages": [glob] });
        let req = create(pod_with(vec![container(
            "web",
            "nginx:latest",
            Some("Always"),
        )]));
        assert_plain_accept(&evaluate(&p, &settings, &req));
        let req = create(pod_with(vec![container(
            "web",
            "nginx:80/evil/app",
            Some("Always"),
        )]));
        assert_rejected(
            &evaluate(&p, &settings, &req),
            &["nginx:80/evil/app", "no tag"],
        );
    }
}

// ---- where images are found ----

#[test]
fn policy_finds_deployment_containers() {
    let p = common::policy(HostConfig::default());
    let req = create(deployment_with(vec![container(
        "api",
        "ghcr.io/example/api:latest",
        Some("Always"),
    )]));
    assert_rejected(
        &evaluate(&p, &json!({}), &req),
        &[
            "spec.template.spec.containers[0]",
            "ghcr.io/example/api:latest",
        ],
    );
}

#[test]
fn policy_finds_cronjob_containers() {
    let p = common::policy(HostConfig::default());
    let req = create(cronjob_with(vec![container(
        "job",
        "busybox",
        Some("Always"),
    )]));
    assert_rejected(
        &evaluate(&p, &json!({}), &req),
        &[
            "spec.jobTemplate.spec.template.spec.containers[0]",
            "busybox",
        ],
    );
}

#[test]
fn policy_finds_ephemeral_containers_of_kubectl_debug() {
    let p = common::policy(HostConfig::default());
    let mut object = pod_with(vec![container("web", "nginx:1.25.3", Some("Always"))]);
    object["spec"]["ephemeralContainers"] =
        json!([container("debugger", "busybox:latest", Some("Always"))]);
    let mut req = admission_request(
        "UPDATE",
        object.clone(),
        Some(pod_with(vec![container(
            "web",
            "nginx:1.25.3",
            Some("Always"),
        )])),
    );
    req["subResource"] = json!("ephemeralcontainers");
    assert_rejected(
        &evaluate(&p, &json!({}), &req),
        &["ephemeralContainers[0]", "busybox:latest"],
    );
}

#[test]
fn policy_finds_image_volumes() {
    let p = common::policy(HostConfig::default());
    let req = create(pod(json!({
        "containers": [container("web", "nginx:1.25.3", Some("Always"))],
        "volumes": [{"name": "data", "image": {"reference": "ghcr.io/example/data:latest", "pullPolicy": "Always"}}],
    })));
    assert_rejected(
        &evaluate(&p, &json!({}), &req),
        &["ghcr.io/example/data:latest"],
    );
}

#[test]
fn policy_accepts_delete_and_other_kinds() {
    let p = common::policy(HostConfig::default());
    let bad = pod_with(vec![container("web", "nginx:latest", Some("IfNotPresent"))]);
    let delete = admission_request("DELETE", Value::Null, Some(bad));
    assert_plain_accept(&evaluate(&p, &json!({}), &delete));
    let cm = create(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default"},
        "data": {"image": "nginx:latest"},
    }));
    assert_plain_accept(&evaluate(&p, &json!({}), &cm));
}

#[test]
fn policy_update_leaves_unchanged_containers_alone() {
    let p = common::policy(HostConfig::default());
    let old = pod_with(vec![container("web", "nginx:latest", Some("IfNotPresent"))]);
    let mut new = old.clone();
    new["metadata"]["labels"]["extra"] = json!("label");
    let req = admission_request("UPDATE", new.clone(), Some(old.clone()));
    assert_plain_accept(&evaluate(&p, &json!({}), &req));
    // A changed image is judged.
    new["spec"]["containers"][0]["image"] = json!("busybox");
    let req = admission_request("UPDATE", new, Some(old));
    assert_rejected(&evaluate(&p, &json!({}), &req), &["busybox"]);
}

// ---- pull policy ----

#[test]
fn policy_sets_missing_pull_policy_to_always_and_keeps_unknown_fields() {
    let p = common::policy(HostConfig::default());
    let mut c = container("web", "nginx:1.25.3", None);
    c["x-unknown-field"] = json!({"kept": true});
    let mut object = pod_with(vec![c]);
    object["spec"]["x-unknown-spec-field"] = json!(42);
    let req = create(object);
    let resp = evaluate(&p, &json!({}), &req);
    assert_eq!(resp.patch_type.as_deref(), Some("JSONPatch"), "{resp:?}");
    assert_patch_touches_only_images(&resp);
    let out = patched(&resp, &req);
    assert_eq!(out["spec"]["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(
        out["spec"]["containers"][0]["x-unknown-field"],
        json!({"kept": true})
    );
    assert_eq!(out["spec"]["x-unknown-spec-field"], 42);
}

#[test]
fn policy_pull_policy_reject_never_mutates() {
    let p = common::policy(HostConfig::default());
    let settings = json!({"pullPolicyAction": "reject"});
    let req = create(pod_with(vec![container(
        "web",
        "nginx:1.25.3",
        Some("IfNotPresent"),
    )]));
    let resp = evaluate(&p, &settings, &req);
    assert_rejected(&resp, &["nginx:1.25.3"]);
    // Deployed with `mutating: false` it behaves the same.
    let resp = resp.enforce_not_mutating("immutable-images");
    assert!(
        !resp.allowed && resp.message().contains("nginx:1.25.3"),
        "{resp:?}"
    );
}

#[test]
fn policy_allows_if_not_present_when_pinned_if_configured() {
    let p = common::policy(HostConfig::default());
    let image = format!("nginx:1.25.3@{DIGEST}");
    let req = create(pod_with(vec![container(
        "web",
        &image,
        Some("IfNotPresent"),
    )]));
    assert_plain_accept(&evaluate(
        &p,
        &json!({"allowIfNotPresentWhenPinned": true}),
        &req,
    ));
    let resp = evaluate(&p, &json!({}), &req);
    assert_eq!(
        patched(&resp, &req)["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
}

// ---- warn ----

#[test]
fn policy_warn_mode_accepts_with_short_warnings() {
    let p = common::policy(HostConfig::default());
    let settings = json!({"mutableTagAction": "warn", "pullPolicyAction": "warn"});
    let req = create(pod(json!({
        "containers": [container("web", "nginx:latest", Some("Always")), container("side", "envoy:1.30.1", Some("IfNotPresent"))],
        "initContainers": [container("init", "busybox", Some("Always"))],
    })));
    let resp = evaluate(&p, &settings, &req);
    assert!(resp.allowed && resp.patch.is_none(), "{resp:?}");
    assert_eq!(resp.warnings().len(), 3, "{resp:?}");
    for w in resp.warnings() {
        assert!(w.len() < 120, "warning too long ({}): {w}", w.len());
    }
}

// ---- pinning against a real registry ----

#[test]
fn policy_pins_mutable_tag_to_the_registry_digest() {
    let registry = Registry::start().unwrap();
    let p = common::policy(HostConfig::default());
    let pushed = push_image(&registry, "app", "latest", "pin me").unwrap();
    let req = create(pod_with(vec![container(
        "app",
        &pushed.reference,
        Some("Always"),
    )]));
    let resp = evaluate(&p, &json!({"mutableTagAction": "pin"}), &req);
    assert_patch_touches_only_images(&resp);
    assert_eq!(
        patched(&resp, &req)["spec"]["containers"][0]["image"],
        pushed.pinned()
    );
    let lookups = p.digest_lookups();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    assert_eq!(lookups[0].payload, format!("{:?}", pushed.reference));
}

#[test]
fn policy_pins_multi_arch_tag_to_the_index_digest() {
    let registry = Registry::start().unwrap();
    let p = common::policy(HostConfig::default());
    let platforms = [Platform::LINUX_AMD64, Platform::LINUX_ARM64];
    let pushed = push_multi_arch(&registry, "multi", "latest", &platforms, "multi").unwrap();
    let req = create(pod_with(vec![container(
        "app",
        &pushed.reference,
        Some("Always"),
    )]));
    let resp = evaluate(&p, &json!({"mutableTagAction": "pin"}), &req);
    assert_eq!(
        patched(&resp, &req)["spec"]["containers"][0]["image"],
        format!("{}@{}", pushed.reference, pushed.digest)
    );
}

/// A host whose digest cache forgets after 3 s instead of policy-server's 60 s, so a test
/// can see a re-pushed tag without waiting a minute. The re-push (umoci and skopeo) must end
/// within it: 300 ms was too short on a loaded machine, where the cached answer had already
/// expired.
fn host_with_short_cache() -> (HostConfig, Duration) {
    let ttl = Duration::from_secs(3);
    let config = HostConfig {
        digest_cache: Some(DigestCache::with_ttl(ttl)),
        ..HostConfig::default()
    };
    (config, ttl)
}

#[test]
fn policy_pin_follows_a_repushed_tag() {
    let registry = Registry::start().unwrap();
    let (host, ttl) = host_with_short_cache();
    let p = common::policy(host);
    let settings = json!({"mutableTagAction": "pin"});
    let first = push_image(&registry, "app", "latest", "build 1").unwrap();
    let req = create(pod_with(vec![container(
        "app",
        &first.reference,
        Some("Always"),
    )]));
    let one = patched(&evaluate(&p, &settings, &req), &req);
    let second = push_image(&registry, "app", "latest", "build 2").unwrap();
    // While the host's cache holds the first answer, the first digest is pinned.
    let cached = patched(&evaluate(&p, &settings, &req), &req);
    std::thread::sleep(ttl);
    let two = patched(&evaluate(&p, &settings, &req), &req);
    assert_eq!(one["spec"]["containers"][0]["image"], first.pinned());
    assert_eq!(cached["spec"]["containers"][0]["image"], first.pinned());
    assert_eq!(two["spec"]["containers"][0]["image"], second.pinned());
}

#[test]
fn policy_pins_immutable_tags_of_docker_hub_names_via_a_mirror() {
    let registry = Registry::start().unwrap();
    let p = common::policy(host_with_mirror(&registry));
    let pushed = push_image(&registry, "library/nginx", "1.25.3", "nginx").unwrap();
    let req = create(deployment_with(vec![container(
        "web",
        "nginx:1.25.3",
        Some("Always"),
    )]));
    let resp = evaluate(&p, &json!({"pinImmutableTags": true}), &req);
    assert_eq!(
        patched(&resp, &req)["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("nginx:1.25.3@{}", pushed.digest)
    );
}

/// A tag that cannot be pinned (its registry is down) is a pin failure, told apart from the
/// tag's own problem: the policy asked the host, and says it cannot pin, with the host's
/// error; without pinning the same image gets the mutable-tag answer and no lookup.
#[test]
fn policy_pin_failure_rejects_or_warns() {
    let mut registry = Registry::start().unwrap();
    let p = common::policy(HostConfig::default());
    let image = registry.image("app:latest");
    registry.stop();
    let req = create(pod_with(vec![container("app", &image, Some("Always"))]));

    let resp = evaluate(&p, &json!({"mutableTagAction": "pin"}), &req);
    let lookups = p.digest_lookups();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    assert!(lookups[0].payload.contains(&image), "{lookups:?}");
    let error = lookups[0].outcome.clone().unwrap_err();
    assert_rejected_for(&resp, "app", &image, "cannot pin it to a digest: ");
    assert!(
        resp.message().contains(&error) && resp.message().ends_with("change pinFailureAction"),
        "the host's error {error:?} and the fix: {}",
        resp.message()
    );

    let resp = evaluate(
        &p,
        &json!({"mutableTagAction": "pin", "pinFailureAction": "warn"}),
        &req,
    );
    assert!(resp.allowed && resp.patch.is_none(), "{resp:?}");
    let [warning] = resp.warnings() else {
        panic!("one warning: {resp:?}")
    };
    assert!(
        warning.starts_with("spec.containers[0] \"")
            && warning.contains("pin")
            && !warning.contains("mutable"),
        "a pin failure's warning, not the tag's: {warning}"
    );
    assert_eq!(p.digest_lookups().len(), 2);

    // Without pinning: no lookup, and the tag's own answer.
    p.clear_host_calls();
    let resp = evaluate(&p, &json!({}), &req);
    assert_rejected_for(&resp, "app", &image, "tag \"latest\" is mutable");
    let resp = evaluate(&p, &json!({"mutableTagAction": "warn"}), &req);
    let [tag_warning] = resp.warnings() else {
        panic!("one warning: {resp:?}")
    };
    assert!(
        tag_warning.starts_with("spec.containers[0] \"")
            && tag_warning.contains(" mutable")
            && tag_warning.contains("\"latest\"")
            && !tag_warning.contains("pin"),
        "the tag's warning: {tag_warning}"
    );
    assert!(p.digest_lookups().is_empty(), "{:?}", p.digest_lookups());
}

#[test]
fn policy_does_not_call_the_registry_without_pinning() {
    let p = common::policy(HostConfig::default());
    let req = create(pod_with(vec![container(
        "web",
        "nginx:latest",
        Some("Always"),
    )]));
    evaluate(&p, &json!({}), &req);
    assert!(p.digest_lookups().is_empty(), "{:?}", p.digest_lookups());
}

#[test]
fn policy_pins_a_deployment_version_tag_and_follows_its_repush() {
    let registry = Registry::start().unwrap();
    let (host, ttl) = host_with_short_cache();
    let p = common::policy(host);
    let settings = json!({"pinImmutableTags": true});
    let first = push_image(&registry, "team/api", "1.0", "release 1.0").unwrap();
    let req = create(deployment_with(vec![container(
        "api",
        &first.reference,
        Some("Always"),
    )]));
    let resp = evaluate(&p, &settings, &req);
    assert_patch_touches_only_images(&resp);
    let image = &patched(&resp, &req)["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(
        image,
        &json!(format!("{}@{}", first.reference, first.digest))
    );
    assert_eq!(
        first.digest,
        registry.manifest_digest("team/api", "1.0").unwrap(),
        "the pin is the digest the registry serves"
    );

    // Someone re-pushes 1.0: once the host's cache forgot, the next admission pins the new
    // bytes.
    let second = push_image(&registry, "team/api", "1.0", "release 1.0, rebuilt").unwrap();
    assert_ne!(first.digest, second.digest);
    std::thread::sleep(ttl);
    let resp = evaluate(&p, &settings, &req);
    let image = &patched(&resp, &req)["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(
        image,
        &json!(format!("{}@{}", second.reference, second.digest))
    );
}

#[test]
fn policy_treats_a_refused_capability_as_a_pin_failure_that_says_so() {
    let registry = Registry::start().unwrap();
    let pushed = push_image(&registry, "app", "latest", "x").unwrap();
    let p = common::policy(HostConfig {
        denied_capabilities: vec!["oci/v1/manifest_digest".into()],
        ..HostConfig::default()
    });
    let req = create(pod_with(vec![container(
        "app",
        &pushed.reference,
        Some("Always"),
    )]));
    let resp = evaluate(&p, &json!({"mutableTagAction": "pin"}), &req);
    assert_rejected(
        &resp,
        &[
            "cannot pin it to a digest",
            "Policy has not been granted access to the 'oci/v1/manifest_digest' host capability",
        ],
    );
    let resp = evaluate(
        &p,
        &json!({"mutableTagAction": "pin", "pinFailureAction": "warn"}),
        &req,
    );
    assert!(resp.allowed && resp.patch.is_none(), "{resp:?}");
}

#[test]
fn policy_never_rewrites_to_what_a_misbehaving_host_answers() {
    for (answer, why) in [
        (&b"not json"[..], "oci/v1/manifest_digest"),
        (br#"{"nodigest":"sha256:00"}"#, "missing field `digest`"),
        (br#"{"digest":"sha256:abc"}"#, "malformed digest"),
        (br#"{"digest":"latest"}"#, "malformed digest"),
        (br#""sha256:0000""#, "oci/v1/manifest_digest"),
    ] {
        let p = common::policy(HostConfig {
            faulty_digest_answer: Some(answer.to_vec()),
            ..HostConfig::default()
        });
        let req = create(pod_with(vec![container(
            "app",
            "127.0.0.1:1/app:latest",
            Some("Always"),
        )]));
        let resp = evaluate(&p, &json!({"mutableTagAction": "pin"}), &req);
        assert_rejected(&resp, &["cannot pin it to a digest", why]);
    }
}

#[test]
fn policy_mutable_tags_ignore_and_pin_failure_accept_take_effect() {
    let p = common::policy(HostConfig::default());
    // mutableTags replaces the default list, case-insensitively.
    let settings = json!({"mutableTags": ["stable", "*-rc"], "pullPolicyAction": "ignore"});
    let stable = create(pod_with(vec![container(
        "a",
        "nginx:STABLE",
        Some("IfNotPresent"),
    )]));
    assert_rejected(
        &evaluate(&p, &settings, &stable),
        &["tag \"STABLE\" is mutable (mutableTags \"stable\")"],
    );
    let latest = create(pod_with(vec![container(
        "a",
        "nginx:latest",
        Some("IfNotPresent"),
    )]));
    assert_plain_accept(&evaluate(&p, &settings, &latest));
    // pinFailureAction accept: a registry that is down leaves the image as it is, silently.
    let mut registry = Registry::start().unwrap();
    let image = registry.image("app:latest");
    registry.stop();
    let req = create(pod_with(vec![container("a", &image, Some("Always"))]));
    let resp = evaluate(
        &p,
        &json!({"mutableTagAction": "pin", "pinFailureAction": "accept"}),
        &req,
    );
    assert_plain_accept(&resp);
    // exemptContainers with a type applies to that list only.
    let settings = json!({"exemptContainers": [{"name": "dbg", "type": "init"}]});
    let spec = json!({"initContainers": [container("dbg", "busybox", Some("Always"))],
                      "containers": [container("dbg2", "busybox", Some("Always"))]});
    let resp = evaluate(&p, &settings, &create(pod(spec)));
    assert_rejected(
        &resp,
        &["spec.containers[0] \"dbg2\" image \"busybox\": no tag"],
    );
    assert!(
        !resp.message().contains("initContainers"),
        "{}",
        resp.message()
    );
}

/// The policy's log events, as the host got them (`kubewarden/tracing/log`, the SDK's format).
fn logged(p: &e2e_tests::Policy) -> Vec<Value> {
    p.host_calls()
        .iter()
        .filter(|c| (c.namespace.as_str(), c.operation.as_str()) == ("tracing", "log"))
        .map(|c| serde_json::from_str(&c.payload).expect("a log event is JSON"))
        .collect()
}

/// An operator sees in policy-server's log what the answer alone does not tell: a pin that
/// failed and a pin budget spent (warnings), and the reader's slow path (debug). The events
/// reach the host through the SDK's drain, at their level.
#[test]
fn policy_logs_pin_failures_and_its_slow_path_to_the_host() {
    let p = common::policy(HostConfig::default());
    let req = create(pod_with(vec![container(
        "app",
        "127.0.0.1:1/app:latest",
        Some("Always"),
    )]));
    let settings = json!({"mutableTagAction": "pin", "pinFailureAction": "warn"});
    let resp = evaluate(&p, &settings, &req);
    assert!(resp.allowed && resp.patch.is_none(), "{resp:?}");
    let events = logged(&p);
    let failed = events
        .iter()
        .find(|e| e["level"] == "warning")
        .unwrap_or_else(|| panic!("no warning logged: {events:?}"));
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.starts_with("spec.containers[0] image \"127.0.0.1:1/app:latest\": not pinned: "),
        "{message}"
    );

    // A request whose object comes before its kind (not policy-evaluator's order) is read in
    // a second pass, logged at debug.
    p.clear_host_calls();
    let payload = format!(
        r#"{{"request":{{"object":{},"kind":{{"group":"","version":"v1","kind":"Pod"}},"operation":"CREATE","userInfo":{{"username":"alice"}}}},"settings":{{}}}}"#,
        req["object"]
    );
    p.call("validate", payload.as_bytes()).expect("an answer");
    let events = logged(&p);
    assert!(
        events.iter().any(
            |e| e["level"] == "debug" && e["message"].as_str().unwrap().contains("second pass")
        ),
        "{events:?}"
    );
    // The usual request logs nothing.
    p.clear_host_calls();
    evaluate(&p, &json!({}), &req);
    assert_eq!(logged(&p), Vec::<Value>::new());
}

// ---- the wasm build's string scan ----

/// The wasm build finds a string's end sixteen bytes at a time with wasm's SIMD, where the
/// tests and fuzzing on the host run the eight-byte scan (src/scan.rs): so the built policy
/// itself is checked here. Each special text is put at every offset around one and two chunks,
/// in a skipped string (an annotation) and in a read one (a container's name), and the
/// container after it must still be read: the answer names its floating image exactly when
/// serde_json reads the payload, and gives serde_json's own error when it does not.
#[test]
fn policy_wasm_string_scan_stops_where_serde_json_does() {
    let p = common::policy(HostConfig::default());
    let mut object = pod_with(vec![
        container("MARK_NAME", "nginx:1.25", Some("Always")),
        container("second", "nginx:latest", Some("Always")),
    ]);
    object["metadata"]["annotations"] = json!({"note": "MARK_NOTE"});
    let payload = json!({"request": create(object), "settings": {}}).to_string();
    // JSON text as it stands between the quotes of a string.
    let specials: [&[u8]; 11] = [
        b"",
        br#"\""#,
        br"\\",
        br"\n",
        br"\u00e9",
        "\u{e9}\u{1F600}".as_bytes(),
        b"\x7f",
        b"\x01",
        b"\x1f",
        b"\x00",
        br"\x",
    ];
    for marker in ["MARK_NOTE", "MARK_NAME"] {
        let at = payload.find(marker).unwrap();
        for special in specials {
            for offset in 0..=40 {
                let mut text = vec![b'a'; offset];
                text.extend_from_slice(special);
                text.extend_from_slice(b"bc");
                let mut bytes = payload.clone().into_bytes();
                bytes.splice(at..at + marker.len(), text.iter().copied());
                // The policy words a malformed payload as serde_json skipping it does.
                let malformed = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).err();
                let answer: Value =
                    serde_json::from_slice(&p.call("validate", &bytes).expect("an answer"))
                        .expect("a JSON answer");
                let message = answer["message"].as_str().unwrap_or_default();
                let case = format!("{marker} {special:?} at {offset}: {message}");
                assert_eq!(answer["accepted"], false, "{case}");
                match malformed {
                    None => assert!(message.contains("nginx:latest"), "{case}"),
                    Some(e) => {
                        assert_eq!(answer["code"], 400, "{case}");
                        assert!(message.ends_with(&e.to_string()), "{case} / {e}");
                    }
                }
            }
        }
    }
}
