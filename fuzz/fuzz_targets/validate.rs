//! Arbitrary bytes as the `validate` payload: never a panic, and every answer keeps the
//! invariants of `fuzz_support::check_payload` (the mocked host's answer is derived from the
//! image: a digest, an error or a malformed digest).
#![no_main]

use fuzz_support::{FuzzResolver, check_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_payload(data, &FuzzResolver { salt: 0 });
});
