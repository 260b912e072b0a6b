//! The policy as an OCI artifact: push it as `kwctl push` does, pull it back by tag and by
//! digest, and check that what comes back is the same module and still runs.

mod common;

use std::collections::BTreeMap;

use e2e_tests::artifact::{
    OCI_MANIFEST_MEDIA_TYPE, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, pull_policy,
    push_policy,
};
use e2e_tests::digest::sha256_digest;
use e2e_tests::{PolicyModule, Registry, policy_wasm_path};

fn annotations() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "io.kubewarden.policy.title".into(),
            "immutable-images".into(),
        ),
        ("io.kubewarden.policy.version".into(), "0.1.0".into()),
    ])
}

#[test]
fn artifact_round_trip_by_tag_and_by_digest() {
    let registry = Registry::start().unwrap();
    // Any bytes make a valid artifact; a real module is tested below.
    let wasm: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let image = registry.image("policies/immutable-images:v0.1.0");
    let pushed = push_policy(&image, &wasm, &annotations()).unwrap();
    assert_eq!(pushed.reference, image);
    assert_eq!(
        pushed.immutable_reference,
        format!(
            "{}@{}",
            registry.image("policies/immutable-images"),
            pushed.digest
        )
    );
    assert_eq!(
        registry
            .manifest_digest("policies/immutable-images", "v0.1.0")
            .unwrap(),
        pushed.digest
    );

    let by_tag = pull_policy(&image).unwrap();
    assert_eq!(by_tag.wasm, wasm);
    assert_eq!(by_tag.digest, pushed.digest);
    assert_eq!(by_tag.manifest["mediaType"], OCI_MANIFEST_MEDIA_TYPE);
    assert_eq!(
        by_tag.manifest["config"]["mediaType"],
        WASM_CONFIG_MEDIA_TYPE
    );
    assert_eq!(
        by_tag.manifest["layers"][0]["mediaType"],
        WASM_LAYER_MEDIA_TYPE
    );
    assert_eq!(by_tag.manifest["layers"][0]["digest"], sha256_digest(&wasm));
    assert_eq!(
        by_tag.manifest["annotations"]["io.kubewarden.policy.title"],
        "immutable-images"
    );

    let by_digest = pull_policy(&pushed.immutable_reference).unwrap();
    assert_eq!(by_digest.wasm, wasm);
    assert_eq!(by_digest.digest, pushed.digest);
}

#[test]
fn artifact_pull_errors_are_clear() {
    let mut registry = Registry::start().unwrap();
    let missing = registry.image("policies/none:v1");
    let msg = pull_policy(&missing).unwrap_err().to_string();
    assert!(
        msg.contains("404") && msg.contains(&registry.host()),
        "{msg}"
    );

    // A wrong digest is refused by the registry or by the digest check.
    push_policy(&registry.image("policies/p:v1"), b"\0asm", &BTreeMap::new()).unwrap();
    let wrong = format!("{}@sha256:{}", registry.image("policies/p"), "0".repeat(64));
    assert!(pull_policy(&wrong).is_err());

    assert!(push_policy("ghcr.io/kubewarden/p:v1", b"x", &BTreeMap::new()).is_err());

    registry.stop();
    let msg = pull_policy(&registry.image("policies/p:v1"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&registry.host()), "{msg}");
}

#[test]
fn artifact_round_trip_of_the_policy_still_runs() {
    let wasm = std::fs::read(policy_wasm_path()).unwrap();
    let registry = Registry::start().unwrap();
    let image = registry.image("policies/immutable-images:latest");
    let pushed = push_policy(&image, &wasm, &annotations()).unwrap();
    let pulled = pull_policy(&pushed.immutable_reference).unwrap();
    assert_eq!(sha256_digest(&pulled.wasm), sha256_digest(&wasm));

    let policy = PolicyModule::from_bytes(&pulled.wasm)
        .unwrap()
        .instantiate(common::default_host())
        .unwrap();
    assert_eq!(policy.protocol_version().unwrap(), "v1");
    // The pulled policy judges like the built one.
    let request = common::create(common::pod_with(vec![common::container(
        "web",
        "nginx:latest",
        Some("Always"),
    )]));
    let resp = common::evaluate(&policy, &serde_json::json!({}), &request);
    assert!(!resp.allowed, "{resp:?}");
    assert!(
        resp.message().contains("tag \"latest\" is mutable"),
        "{}",
        resp.message()
    );
}
