//! The release path of `.github/workflows/release.yml`, run locally against a real registry:
//! annotate the built policy with `metadata.yml` and the README (as `kwctl annotate -m
//! metadata.yml -u README.md` does), push it with the media types and manifest annotations
//! `kwctl push` uses, as `policies/immutable-images:v<version>`, pull it back by tag and by
//! digest, check the `io.kubewarden.policy.*` annotations against `metadata.yml`, and
//! evaluate the pulled module.

mod common;

use e2e_tests::annotate::{
    OCI_SOURCE_ANNOTATION, SOURCE_ANNOTATION, USAGE_ANNOTATION, annotate, oci_annotations,
    prepare_metadata, read_metadata,
};
use e2e_tests::artifact::{
    OCI_MANIFEST_MEDIA_TYPE, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE, pull_policy,
    push_policy,
};
use e2e_tests::{PolicyModule, Registry, policy_wasm_path};
use serde_json::{Value, json};

#[test]
fn release_path_annotate_push_pull_evaluate() {
    let wasm = std::fs::read(policy_wasm_path()).unwrap();
    let metadata_yaml = common::workspace_file("metadata.yml");
    let readme = common::workspace_file("README.md");
    let declared: Value = serde_norway::from_str(&metadata_yaml).unwrap();
    let version = declared["annotations"]["io.kubewarden.policy.version"]
        .as_str()
        .unwrap()
        .to_string();

    // kwctl annotate asks the module for its protocol version.
    let protocol = PolicyModule::from_bytes(&wasm)
        .unwrap()
        .instantiate(common::default_host())
        .unwrap()
        .protocol_version()
        .unwrap();
    let metadata = prepare_metadata(&metadata_yaml, Some(&readme), &protocol).unwrap();
    let annotated = annotate(&wasm, &metadata).unwrap();

    let registry = Registry::start().unwrap();
    let image = registry.image(&format!("policies/immutable-images:v{version}"));
    let pushed = push_policy(&image, &annotated, &oci_annotations(&metadata)).unwrap();

    for reference in [&image, &pushed.immutable_reference] {
        let pulled = pull_policy(reference).unwrap();
        assert_eq!(pulled.digest, pushed.digest, "{reference}");
        assert_eq!(pulled.wasm, annotated, "{reference}");
        let manifest = &pulled.manifest;
        assert_eq!(manifest["mediaType"], OCI_MANIFEST_MEDIA_TYPE);
        assert_eq!(manifest["config"]["mediaType"], WASM_CONFIG_MEDIA_TYPE);
        assert_eq!(manifest["layers"][0]["mediaType"], WASM_LAYER_MEDIA_TYPE);

        // Every io.kubewarden.policy.* annotation of metadata.yml is in the manifest as
        // written, the version is the one being released, the README is not (multi-line).
        let published = manifest["annotations"].as_object().unwrap();
        let ours = declared["annotations"].as_object().unwrap();
        let policy_keys: Vec<&String> = ours
            .keys()
            .filter(|k| k.starts_with("io.kubewarden.policy."))
            .collect();
        assert!(policy_keys.len() >= 8, "{policy_keys:?}");
        for key in policy_keys {
            assert_eq!(published[key], ours[key], "{key}");
        }
        assert_eq!(published["io.kubewarden.policy.version"], version.as_str());
        assert!(!published.contains_key(USAGE_ANNOTATION));
        assert_eq!(
            published[OCI_SOURCE_ANNOTATION],
            declared["annotations"][SOURCE_ANNOTATION]
        );

        // The module carries the metadata policy-server reads: rules, mutating, the README.
        let embedded = read_metadata(&pulled.wasm).unwrap().unwrap();
        assert_eq!(embedded["protocolVersion"], "v1");
        assert_eq!(embedded["rules"], declared["rules"]);
        assert_eq!(embedded["mutating"], declared["mutating"]);
        assert_eq!(embedded["annotations"][USAGE_ANNOTATION], readme.as_str());

        // And the pulled, annotated module judges like the built one.
        let policy = PolicyModule::from_bytes(&pulled.wasm)
            .unwrap()
            .instantiate(common::default_host())
            .unwrap();
        let latest = common::create(common::pod_with(vec![common::container(
            "web",
            "nginx:latest",
            Some("Always"),
        )]));
        let resp = common::evaluate(&policy, &json!({}), &latest);
        assert!(!resp.allowed, "{resp:?}");
        assert!(
            resp.message().contains("tag \"latest\" is mutable"),
            "{resp:?}"
        );
        let pull_policy_missing = common::create(common::pod_with(vec![common::container(
            "web",
            "nginx:1.27.3",
            None,
        )]));
        let resp = common::evaluate(&policy, &json!({}), &pull_policy_missing);
        assert!(resp.allowed, "{resp:?}");
        assert_eq!(
            resp.patch_operations().unwrap(),
            Some(vec![json!(
                {"op": "add", "path": "/spec/containers/0/imagePullPolicy", "value": "Always"}
            )])
        );
    }
}

/// The README's `module:` reference and `io.kubewarden.policy.ociUrl` name the repository
/// the release workflow pushes to (`ghcr.io/<owner>/policies/immutable-images`).
#[test]
fn the_published_location_is_the_one_users_are_told() {
    let declared: Value = serde_norway::from_str(&common::workspace_file("metadata.yml")).unwrap();
    let oci_url = declared["annotations"]["io.kubewarden.policy.ociUrl"]
        .as_str()
        .unwrap();
    let version = declared["annotations"]["io.kubewarden.policy.version"]
        .as_str()
        .unwrap();
    assert!(
        oci_url.starts_with("ghcr.io/") && oci_url.ends_with("/policies/immutable-images"),
        "{oci_url}"
    );
    let readme = common::workspace_file("README.md");
    let module = format!("module: registry://{oci_url}:v{version}");
    assert!(readme.contains(&module), "the README has no {module:?}");
    let workflow = common::workspace_file(".github/workflows/release.yml");
    assert!(
        workflow.contains("ghcr.io/${OWNER,,}/policies/immutable-images:${TAG}"),
        "release.yml pushes somewhere else"
    );
}
