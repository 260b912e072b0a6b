//! `oci/v1/manifest_digest` resolution against a real (loopback) registry.

use e2e_tests::images::{Platform, push_image, push_multi_arch, skopeo_manifest_digest};
use e2e_tests::{DigestResolver, Error, Registry};

#[test]
fn tag_resolves_to_the_digest_skopeo_reports() {
    let registry = Registry::start().unwrap();
    let pushed = push_image(&registry, "app", "1.0", "resolver").unwrap();
    let digest = DigestResolver::new()
        .manifest_digest(&pushed.reference)
        .unwrap();
    assert_eq!(digest, skopeo_manifest_digest(&pushed.reference).unwrap());
    assert_eq!(digest, pushed.digest);
}

#[test]
fn digest_references_resolve_to_themselves_and_tag_plus_digest_uses_the_digest() {
    let registry = Registry::start().unwrap();
    let old = push_image(&registry, "app", "1.0", "old").unwrap();
    let new = push_image(&registry, "app", "1.0", "new").unwrap();
    let r = DigestResolver::new();
    let by_digest = format!("{}@{}", registry.image("app"), old.digest);
    assert_eq!(r.manifest_digest(&by_digest).unwrap(), old.digest);
    // `app:1.0@<old>`: the digest wins although the tag moved on.
    assert_eq!(r.manifest_digest(&old.pinned()).unwrap(), old.digest);
    assert_eq!(r.manifest_digest(&new.reference).unwrap(), new.digest);
}

#[test]
fn multi_arch_tag_resolves_to_the_index_digest() {
    let registry = Registry::start().unwrap();
    let platforms = [Platform::LINUX_AMD64, Platform::LINUX_ARM64];
    let pushed = push_multi_arch(&registry, "multi", "2.0", &platforms, "idx").unwrap();
    assert_eq!(
        DigestResolver::new()
            .manifest_digest(&pushed.reference)
            .unwrap(),
        pushed.digest
    );
}

#[test]
fn localhost_names_the_loopback_registry() {
    let registry = Registry::start().unwrap();
    let pushed = push_image(&registry, "app", "1.0", "localhost").unwrap();
    let via_localhost = format!("localhost:{}/app:1.0", registry.port());
    assert_eq!(
        DigestResolver::new()
            .manifest_digest(&via_localhost)
            .unwrap(),
        pushed.digest
    );
}

#[test]
fn missing_tag_is_an_error_naming_registry_and_image() {
    let registry = Registry::start().unwrap();
    let image = registry.image("nothing:here");
    let err = DigestResolver::new().manifest_digest(&image).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Registry { .. }), "{msg}");
    assert!(
        msg.contains(&registry.host()) && msg.contains(&image) && msg.contains("404"),
        "{msg}"
    );
}

#[test]
fn registry_down_is_an_error_naming_registry_and_image() {
    let mut registry = Registry::start().unwrap();
    let image = registry.image("app:1.0");
    registry.stop();
    let msg = DigestResolver::new()
        .manifest_digest(&image)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&registry.host()) && msg.contains(&image),
        "{msg}"
    );
}

#[test]
fn mirror_serves_docker_hub_names_from_the_local_registry() {
    let registry = Registry::start().unwrap();
    let pushed = push_image(&registry, "library/nginx", "1.25.3", "nginx").unwrap();
    let r = DigestResolver::new()
        .with_mirror("docker.io", &registry.host())
        .unwrap();
    for name in [
        "nginx:1.25.3",
        "docker.io/library/nginx:1.25.3",
        "index.docker.io/nginx:1.25.3",
    ] {
        assert_eq!(r.manifest_digest(name).unwrap(), pushed.digest, "{name}");
    }
    // Without the mirror the same name is refused, without traffic.
    let err = DigestResolver::new()
        .manifest_digest("nginx:1.25.3")
        .unwrap_err();
    assert!(matches!(err, Error::NotLoopback { .. }), "{err}");
}
