//! Mutation as text against its oracle: on generated requests of every kind (fields in any
//! order, whitespace, escapes in keys and values, unknown fields, big numbers, nesting, the
//! object anywhere in the request), the object the policy splices is JSON and equals, as JSON
//! values, what the tree-based mutation makes of the same edits; and the one-pass reader
//! reads each request as serde_json does. The generator and the oracles are
//! `fuzz/src/oracle.rs`, which the `mutation` fuzz target runs too.

#[path = "../fuzz/src/oracle.rs"]
mod oracle;

use immutable_images::testing::Host;
use proptest::prelude::*;

/// A registry that knows every tag: a digest made from the reference.
struct EveryTag;

impl Host for EveryTag {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        let h = image.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        Ok(format!("sha256:{h:016x}{h:016x}{h:016x}{h:016x}"))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_splice_equals_the_tree(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        oracle::check_splice(&oracle::payload(&bytes), &EveryTag);
    }
}

/// The generator is worth its name: most of what it makes is mutated, in every kind, and in
/// each place the object can sit: after its kind with a key after it, before its kind
/// (skipped by the reader, read in place once the kind is known), and last in the request;
/// and most of it is read (the rest names what it refuses), so `check_splice` checks the
/// reader against serde_json.
#[test]
fn generated_requests_are_mostly_mutations_of_every_kind() {
    let mut mutated = 0;
    let mut scanned = 0;
    let mut kinds = std::collections::BTreeSet::new();
    let mut places = std::collections::BTreeMap::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..200)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let payload = oracle::payload(&bytes);
        if immutable_images::testing::read_payload(&payload).is_ok() {
            scanned += 1;
        }
        if oracle::check_splice(&payload, &EveryTag) {
            mutated += 1;
            let text = String::from_utf8(payload).unwrap();
            let kind = text.split("\"kind\":\"").nth(1).unwrap();
            kinds.insert(kind[..kind.find('"').unwrap()].to_owned());
            let place = if text.starts_with(r#"{"request":{"object":"#) {
                "captured"
            } else if text.contains(r#","oldObject":null,"dryRun":false},"settings":"#) {
                "between keys"
            } else {
                "last"
            };
            *places.entry(place).or_insert(0) += 1;
        }
    }
    assert!(mutated > 1000, "only {mutated} of 2000 were mutations");
    assert!(
        scanned > 1500,
        "only {scanned} of 2000 were read in one pass"
    );
    assert_eq!(
        kinds.len(),
        immutable_images::testing::KINDS.len(),
        "{kinds:?}"
    );
    assert_eq!(places.len(), 3, "{places:?}");
    assert!(places.values().all(|&n| n > 100), "{places:?}");
}
