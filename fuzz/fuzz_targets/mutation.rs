//! Mutation as text against the tree-based oracle: the fuzzer's bytes choose a request (any
//! kind, fields in any order, whitespace, escapes in keys and values, unknown fields, big
//! numbers, nesting, the object anywhere in the request); the object the policy splices must
//! be JSON and equal, as JSON values, what the tree-based mutation makes of the same edits.
//! The answer must also keep every invariant of `check_payload`.
#![no_main]

use fuzz_support::oracle::{check_spliced, payload};
use fuzz_support::{FuzzResolver, check_answer};
use immutable_images::testing::answer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let salt = bytes.first().copied().unwrap_or(0) as u64;
    let resolver = FuzzResolver { salt };
    let payload = payload(bytes.get(1..).unwrap_or_default());
    // One evaluation, checked both ways.
    let answer = answer(&payload, &resolver);
    check_spliced(&payload, &answer, &resolver);
    check_answer(&payload, &answer, &resolver);
});
