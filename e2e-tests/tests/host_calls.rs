//! The waPC host, tested with a tiny hand-written guest (WAT) instead of the policy, so a
//! host bug can't hide behind a policy bug: the guest forwards each call `op(payload)` to
//! the host call `kubewarden/oci/<op>` and returns the host's answer, or fails with the
//! host's error message, the way the SDK's `host_call` surfaces it.

mod common;

use e2e_tests::images::push_image;
use e2e_tests::{DigestResolver, HostConfig, Registry};

fn guest(resolver: DigestResolver) -> e2e_tests::Policy {
    common::forwarding_guest(
        "oci",
        HostConfig {
            resolver,
            verbose: false,
            ..HostConfig::default()
        },
    )
}

#[test]
fn manifest_digest_host_call_returns_the_registry_digest() {
    let registry = Registry::start().unwrap();
    let pushed = push_image(&registry, "app", "1.0", "one").unwrap();
    let g = guest(DigestResolver::new());

    let answer = g
        .call(
            "v1/manifest_digest",
            format!("{:?}", pushed.reference).as_bytes(),
        )
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer, serde_json::json!({"digest": pushed.digest}));

    let calls = g.digest_lookups();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].payload, format!("{:?}", pushed.reference));
}

#[test]
fn host_call_errors_reach_the_guest_as_errors() {
    let mut registry = Registry::start().unwrap();
    let image = registry.image("app:1.0");
    let g = guest(DigestResolver::new());

    // Unknown tag: the registry answers 404.
    let err = g
        .call("v1/manifest_digest", format!("{image:?}").as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains(&image) && err.contains("404"), "{err}");

    // Registry down: connection refused.
    registry.stop();
    let err = g
        .call("v1/manifest_digest", format!("{image:?}").as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&image) && err.contains(&registry.host()),
        "{err}"
    );

    // Unknown operation.
    let err = g.call("v9/nope", b"\"x\"").unwrap_err().to_string();
    assert!(err.contains("unknown operation"), "{err}");

    // A registry that is not on loopback is refused without any traffic.
    let err = g
        .call("v1/manifest_digest", b"\"ghcr.io/kubewarden/policy:1\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ghcr.io") && err.contains("loopback"), "{err}");
}
