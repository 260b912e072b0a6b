//! The registry harness and the test-image builders on their own.
//! Each test starts its own registry, so they can run in parallel.

use std::net::TcpStream;

use e2e_tests::Registry;
use e2e_tests::images::{OCI_INDEX, Platform, push_image, push_multi_arch, skopeo_manifest_digest};

#[test]
fn registry_starts_answers_v2_and_stops_on_drop() {
    let registry = Registry::start().unwrap();
    let res = registry.client().get("/v2/", &[]).unwrap();
    assert_eq!(res.status, 200, "{}", registry.log());
    let port = registry.port();
    let storage = registry.dir();
    drop(registry);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the registry still listens after drop"
    );
    assert!(!storage.exists(), "the registry's temp dir was not removed");
}

#[test]
fn pushed_image_digest_is_what_skopeo_sees() {
    let registry = Registry::start().unwrap();
    let pushed = push_image(&registry, "team/app", "1.0", "hello").unwrap();
    assert!(pushed.digest.starts_with("sha256:"), "{pushed:?}");
    assert_eq!(pushed.reference, registry.image("team/app:1.0"));
    assert_eq!(
        skopeo_manifest_digest(&pushed.reference).unwrap(),
        pushed.digest
    );
    // The digest is also addressable directly.
    assert_eq!(
        registry
            .manifest_digest("team/app", &pushed.digest)
            .unwrap(),
        pushed.digest
    );
}

#[test]
fn repushing_a_tag_moves_it_to_a_new_digest() {
    let registry = Registry::start().unwrap();
    let first = push_image(&registry, "app", "latest", "build 1").unwrap();
    let second = push_image(&registry, "app", "latest", "build 2").unwrap();
    assert_ne!(first.digest, second.digest);
    assert_eq!(
        registry.manifest_digest("app", "latest").unwrap(),
        second.digest
    );
    // The old build is still there by digest, as on a real registry.
    assert_eq!(
        registry.manifest_digest("app", &first.digest).unwrap(),
        first.digest
    );
}

#[test]
fn multi_arch_tag_resolves_to_the_index_digest() {
    let registry = Registry::start().unwrap();
    let platforms = [Platform::LINUX_AMD64, Platform::LINUX_ARM64];
    let pushed = push_multi_arch(&registry, "multi", "1.0", &platforms, "multi").unwrap();

    assert_eq!(pushed.manifests.len(), 2, "{pushed:?}");
    for (_, digest) in &pushed.manifests {
        assert_ne!(*digest, pushed.digest);
        // each platform manifest was pushed too
        registry.manifest_digest("multi", digest).unwrap();
    }
    let (_, media_type) = registry.manifest("multi", "1.0").unwrap();
    assert_eq!(media_type, OCI_INDEX);
    assert_eq!(
        skopeo_manifest_digest(&pushed.reference).unwrap(),
        pushed.digest
    );
}

#[test]
fn tools_refuse_non_loopback_targets() {
    let err = skopeo_manifest_digest("docker.io/library/nginx:1").unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}
