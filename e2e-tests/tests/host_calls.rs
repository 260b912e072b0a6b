//! The waPC host, tested with a tiny hand-written guest (WAT) instead of the policy, so a
//! host bug can't hide behind a policy bug: the guest forwards each call `op(payload)` to
//! the host call `kubewarden/oci/<op>` and returns the host's answer, or fails with the
//! host's error message, the way the SDK's `host_call` surfaces it.

use e2e_tests::images::push_image;
use e2e_tests::{DigestResolver, HostConfig, PolicyModule, Registry};

const FORWARDING_GUEST: &str = r#"
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "kubewarden")
  (data (i32.const 16) "oci")
  (func (export "__guest_call") (param $op_len i32) (param $req_len i32) (result i32)
    (local $payload i32)
    (local.set $payload (i32.add (i32.const 1024) (local.get $op_len)))
    (call $guest_request (i32.const 1024) (local.get $payload))
    (if (i32.eqz
          (call $host_call
            (i32.const 0) (i32.const 10)
            (i32.const 16) (i32.const 3)
            (i32.const 1024) (local.get $op_len)
            (local.get $payload) (local.get $req_len)))
      (then
        (call $host_error (i32.const 65536))
        (call $guest_error (i32.const 65536) (call $host_error_len))
        (return (i32.const 0))))
    (call $host_response (i32.const 65536))
    (call $guest_response (i32.const 65536) (call $host_response_len))
    (i32.const 1)))
"#;

fn guest(resolver: DigestResolver) -> e2e_tests::Policy {
    PolicyModule::from_bytes(FORWARDING_GUEST.as_bytes())
        .expect("compile the WAT guest")
        .instantiate(HostConfig {
            resolver,
            verbose: false,
            ..HostConfig::default()
        })
        .expect("instantiate the WAT guest")
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
