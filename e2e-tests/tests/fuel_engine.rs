//! The fuel-counting engine (`e2e-tests/src/fuel.rs`), tested with a tiny hand-written guest
//! (WAT) instead of the policy, so that the fuel guard's counts rest on an engine known to
//! count: the guest makes a host call, then turns once per byte of its payload and answers
//! the payload; `forever` never ends.

use e2e_tests::fuel::FUEL_PER_CALL;
use e2e_tests::{HostConfig, Policy, PolicyModule};

const COUNTING_GUEST: &str = r#"
(module
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "kubewarden")
  (data (i32.const 16) "tracing")
  (data (i32.const 32) "log")
  (data (i32.const 48) "{\"level\":\"info\",\"message\":\"counting\"}")
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (local $i i32)
    (call $guest_request (i32.const 1024) (i32.const 2048))
    (drop (call $host_call
      (i32.const 0) (i32.const 10) (i32.const 16) (i32.const 7) (i32.const 32) (i32.const 3)
      (i32.const 48) (i32.const 37)))
    ;; "forever": sixteen operators a turn, without end
    (if (i32.eq (i32.load8_u (i32.const 1024)) (i32.const 102))
      (then
        (loop $forever
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $forever))))
    (block $done
      (loop $turn
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $turn)))
    (call $guest_response (i32.const 2048) (local.get $len))
    (i32.const 1)))
"#;

fn guest() -> Policy {
    PolicyModule::from_bytes_counting_fuel(COUNTING_GUEST.as_bytes())
        .expect("compile the WAT guest")
        .instantiate(HostConfig::default())
        .expect("instantiate the WAT guest")
}

/// The fuel of one call with a payload of `len` bytes, checking the answer on the way.
fn spent(guest: &Policy, len: usize) -> u64 {
    let payload = vec![b'x'; len];
    assert_eq!(guest.call("turn", &payload).unwrap(), payload);
    guest.fuel().expect("the module counts fuel").call
}

#[test]
fn fuel_counts_the_operators_the_guest_runs() {
    let g = guest();
    let (none, ten, hundred) = (spent(&g, 0), spent(&g, 10), spent(&g, 100));
    assert!(ten > none, "{none} {ten}");
    // Each turn of the loop costs the same; the rest of the call costs the same every time.
    assert_eq!(hundred - none, 10 * (ten - none), "{none} {ten} {hundred}");
    assert_eq!(spent(&g, 10), ten, "the same call twice");
    assert_eq!(
        spent(&guest(), 10),
        ten,
        "the same call on another instance"
    );
    // No _start nor wapc_init to run; the host call was answered and recorded.
    assert_eq!(g.fuel().unwrap().init, 0);
    assert_eq!(g.host_calls().len(), 4);
}

#[test]
fn a_guest_that_never_ends_runs_out_of_fuel() {
    let g = guest();
    let err = g.call("forever", b"").unwrap_err().to_string();
    assert!(err.contains("out of fuel"), "{err}");
    assert_eq!(g.fuel().unwrap().call, FUEL_PER_CALL);
    // The instance still answers.
    assert_eq!(g.call("turn", b"ok").unwrap(), b"ok");
}

#[test]
fn modules_do_not_count_fuel_unless_asked() {
    let module = PolicyModule::from_bytes(COUNTING_GUEST.as_bytes()).unwrap();
    let g = module.instantiate(HostConfig::default()).unwrap();
    assert_eq!(g.call("turn", b"ok").unwrap(), b"ok");
    assert_eq!(g.fuel(), None);
}
