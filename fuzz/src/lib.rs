//! What the fuzz targets share: a mocked digest host and the invariants every answer keeps,
//! and the oracle for mutation as text ([`oracle`]).

pub mod oracle;

use immutable_images::testing::Host;
use immutable_images::testing::{Answer, answer, validate};
use immutable_images::testing::{ImageRef, check_digest};
use serde_json::Value;

/// Most a reference may be (reference.rs `MAX_REFERENCE_LEN`).
pub const MAX_REFERENCE_LEN: usize = 1024;

/// Kubernetes truncates warnings past 256 characters and asks for under 120; the policy's
/// warnings stay under that (`response::WARNING_MAX`, 119).
pub const WARNING_LIMIT: usize = 119;

/// FNV-1a, so that answers depend on the image only.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn hex(seed: u64, len: usize) -> String {
    let mut s = String::with_capacity(len);
    let mut x = seed | 1;
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!("{x:016x}"));
    }
    s.truncate(len);
    s
}

/// A host whose answer is derived from the image: a valid sha256 or sha512 digest, an error,
/// or a malformed digest. `salt` lets a structured input choose differently for one image.
pub struct FuzzResolver {
    pub salt: u64,
}

impl FuzzResolver {
    pub fn answer(&self, image: &str) -> Result<String, String> {
        let h = hash(image.as_bytes()) ^ self.salt;
        let good = hex(h, 64);
        match h % 8 {
            0..=2 => Ok(format!("sha256:{good}")),
            3 => Ok(format!("sha512:{}", hex(h, 128))),
            4 => Err(format!("manifest unknown: {image}")),
            5 => Err(String::new()),
            _ => Ok(match (h >> 8) % 10 {
                0 => String::new(),
                1 => format!("sha256:{}", &good[..63]),
                2 => format!("sha256:{}", good.to_uppercase()),
                3 => format!("SHA256:{good}"),
                4 => format!("sha256:{good}\n"),
                5 => format!("md5:{}", &good[..32]),
                6 => format!("sha256:{good}@sha256:{good}"),
                7 => format!("{{\"digest\":\"sha256:{good}\"}}"),
                8 => format!("sha512:{good}"),
                _ => format!("sha256:{}/", &good[..63]),
            }),
        }
    }
}

impl Host for FuzzResolver {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        self.answer(image)
    }
}

/// The request of a payload, in either JSON form serde reads (object, or positional array).
fn request_mut(payload: &mut Value) -> Option<&mut Value> {
    match payload {
        Value::Object(o) => o.get_mut("request"),
        Value::Array(a) => a.get_mut(0),
        _ => None,
    }
}

/// The object of a request, in either JSON form.
fn object_mut(request: &mut Value) -> Option<&mut Value> {
    match request {
        Value::Object(o) => o.get_mut("object"),
        Value::Array(a) => a.get_mut(3),
        _ => None,
    }
}

/// Keys a mutation may write, with what it may write there.
const IMAGE_KEYS: [&str; 2] = ["image", "reference"];
const POLICY_KEYS: [&str; 2] = ["imagePullPolicy", "pullPolicy"];

/// Every difference between the object sent and the object returned is a pinned image
/// (`<written>@<valid digest>`) or a pull policy set to Always; nothing else changes.
fn check_only_images_and_policies_change(
    before: &Value,
    after: &Value,
    path: &str,
    pinned_too_long: &mut bool,
) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, av) in a {
                let here = format!("{path}/{k}");
                match b.get(k) {
                    Some(bv) if bv == av => {}
                    Some(Value::String(old)) if IMAGE_KEYS.contains(&k.as_str()) => {
                        let new = av
                            .as_str()
                            .unwrap_or_else(|| panic!("{here}: not a string"));
                        check_pinned(old, new, &here, pinned_too_long);
                    }
                    None if IMAGE_KEYS.contains(&k.as_str()) => {
                        panic!("{here}: an image was added where there was none: {av}")
                    }
                    _ if POLICY_KEYS.contains(&k.as_str()) => {
                        assert_eq!(av, "Always", "{here}: pull policy set to {av}");
                    }
                    Some(bv) => {
                        check_only_images_and_policies_change(bv, av, &here, pinned_too_long)
                    }
                    None => panic!("{here}: a field was added: {av}"),
                }
            }
            for k in b.keys() {
                assert!(a.contains_key(k), "{path}/{k}: a field was removed");
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            assert_eq!(b.len(), a.len(), "{path}: list length changed");
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                check_only_images_and_policies_change(
                    bv,
                    av,
                    &format!("{path}/{i}"),
                    pinned_too_long,
                );
            }
        }
        (b, a) => assert_eq!(b, a, "{path}: changed"),
    }
}

fn check_pinned(old: &str, new: &str, here: &str, pinned_too_long: &mut bool) {
    let digest = new
        .strip_prefix(old)
        .and_then(|rest| rest.strip_prefix('@'))
        .unwrap_or_else(|| panic!("{here}: {old:?} became {new:?}, not <written>@<digest>"));
    assert!(
        check_digest(digest).is_ok(),
        "{here}: pinned to a malformed digest {digest:?}"
    );
    let old_ref = ImageRef::parse(old)
        .unwrap_or_else(|e| panic!("{here}: pinned an invalid reference {old:?}: {e}"));
    assert!(
        !old_ref.is_pinned(),
        "{here}: re-pinned a pinned reference {old:?}"
    );
    match ImageRef::parse(new) {
        Ok(r) => {
            assert_eq!(r.digest.as_deref(), Some(digest), "{here}: {new:?}");
            assert_eq!(
                (&r.registry, &r.repository, &r.tag),
                (&old_ref.registry, &old_ref.repository, &old_ref.tag),
                "{here}: pinning changed what {old:?} names"
            );
        }
        // Known (reported): a reference close to the 1024-character limit is pinned past it.
        Err(_) if new.len() > MAX_REFERENCE_LEN => *pinned_too_long = true,
        Err(e) => panic!("{here}: pinned to a reference the policy refuses: {new:?}: {e}"),
    }
}

/// Validates `payload` and checks what every answer must keep (see [`check_answer`]):
/// - a rejection has a message and no mutation; a warning is at most 120 characters;
/// - a mutation changes only images (to `<written>@<valid digest>`) and pull policies (to
///   Always), and judging the mutated object again gives an acceptance with no mutation.
pub fn check_payload(payload: &[u8], resolver: &FuzzResolver) -> bool {
    check_answer(payload, &answer(payload, resolver), resolver)
}

/// The checks of [`check_payload`] on the answer already given to `payload`, and that the
/// one-pass reader agrees with serde_json on `payload` ([`oracle::check_readers_agree`]).
pub fn check_answer(payload: &[u8], answer: &Answer, resolver: &FuzzResolver) -> bool {
    oracle::check_readers_agree(payload);
    let r = answer.read_back();
    if !r.accepted {
        let m = r.message.as_deref().unwrap_or("");
        assert!(!m.is_empty(), "a rejection without a message");
        assert!(r.mutated_object.is_none(), "a rejection with a mutation");
    }
    for w in r.warnings.iter().flatten() {
        assert!(
            w.chars().count() <= WARNING_LIMIT,
            "warning longer than {WARNING_LIMIT} characters: {w:?}"
        );
    }
    let Some(mutated) = r.mutated_object else {
        return r.accepted;
    };
    // The policy does not check UTF-8 in strings it skips (userInfo, labels...), nor the range
    // of numbers outside the object: read such a payload lossily, or give up the round trip.
    let Ok(mut value) = serde_json::from_slice::<Value>(payload)
        .or_else(|_| serde_json::from_str::<Value>(&String::from_utf8_lossy(payload)))
    else {
        return true;
    };
    let object = request_mut(&mut value)
        .and_then(object_mut)
        .expect("a mutation without an object");
    let mut pinned_too_long = false;
    check_only_images_and_policies_change(object, &mutated, "", &mut pinned_too_long);
    if pinned_too_long {
        return true;
    }
    // Judging the mutated object again: nothing more to change, nothing to refuse.
    *object = mutated;
    let again = serde_json::to_vec(&value).unwrap();
    let r2 = validate(&again, resolver);
    assert!(
        r2.accepted && r2.mutated_object.is_none(),
        "the mutated object is not accepted as it is: {:?} / {:?}",
        r2.message,
        r2.mutated_object
    );
    true
}
