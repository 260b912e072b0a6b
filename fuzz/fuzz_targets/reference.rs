//! Arbitrary bytes as an image reference: never a panic, and whatever is read keeps the
//! invariants: pinned means a valid digest; the tag is ASCII, at most 128 characters; the
//! repository is lowercase; normalizing is idempotent.
#![no_main]

use immutable_images::testing::Settings;
use immutable_images::testing::{ImageRef, check_digest};
use immutable_images::testing::{TagVerdict, judge_tag};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn settings() -> &'static Settings {
    static S: OnceLock<Settings> = OnceLock::new();
    S.get_or_init(|| {
        Settings::from_json(
            br#"{"immutableTagPatterns":["semver"],"mutableTags":["latest","*-dev"]}"#,
        )
        .unwrap()
    })
}

/// Known and reported (tests/reference_props.rs): an uppercase first component is read as a
/// Docker Hub path, not as a registry.
fn uppercase_first_component(s: &str) -> bool {
    s.split_once('/')
        .is_some_and(|(f, _)| !f.contains(['.', ':']) && f != "localhost" && f.to_lowercase() != f)
}

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let Ok(r) = ImageRef::parse(&s) else {
        return;
    };
    let verdict = judge_tag(settings(), &r);
    if r.is_pinned() || verdict == TagVerdict::Pinned {
        let d = r.digest.as_deref().expect("pinned without a digest");
        assert!(
            check_digest(d).is_ok(),
            "{s:?}: pinned by a malformed digest {d:?}"
        );
    }
    if r.tag.is_none() && r.digest.is_none() {
        assert_eq!(verdict, TagVerdict::NoTag, "{s:?}");
    }
    if let Some(t) = &r.tag {
        assert!(
            t.is_ascii() && !t.is_empty() && t.len() <= 128,
            "{s:?}: tag {t:?}"
        );
    }
    assert!(
        !r.registry.is_empty() && !r.repository.is_empty(),
        "{s:?}: {r:?}"
    );
    if uppercase_first_component(&s) {
        return;
    }
    assert!(
        !r.repository.bytes().any(|b| b.is_ascii_uppercase()),
        "{s:?}: uppercase repository {:?}",
        r.repository
    );
    // The length limit counts the normalized path, so normalizing keeps a reference valid.
    let n = r.normalized();
    assert_eq!(
        ImageRef::parse(&n).as_ref(),
        Ok(&r),
        "{s:?} normalizes to {n:?}"
    );
});
