//! `src/reference.rs` against `oci-spec`'s `Reference` (a regex port of distribution's Go
//! code) on generated references: both must accept the same references and read them the same
//! way, except where this policy is deliberately stricter or knows more, each listed here.

use immutable_images::testing::{ImageRef, RefError};
use oci_spec::distribution::{ParseError, Reference};
use proptest::prelude::*;

fn registry() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9]{1,8}(\\.[a-z0-9-]{1,8}){1,2}(:[0-9]{1,5})?/",
        Just("localhost/".to_owned()),
        "localhost:[0-9]{1,5}/",
        "[a-zA-Z0-9]{1,8}:[0-9]{0,5}/",
        "[a-zA-Z0-9_.-]{1,12}/",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]{1,6}([._-]{1,3}[a-zA-Z0-9]{1,6}){0,2}", 1..4)
        .prop_map(|c| c.join("/"))
}

fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        ":[A-Za-z0-9_.-]{0,12}",
        ":[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}"
    ]
}

fn digest() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "@sha256:[0-9a-f]{64}",
        "@sha256:[0-9a-f]{30,70}",
        "@sha512:[0-9a-f]{128}",
        "@sha384:[0-9a-fA-F]{96}",
        "@[a-z]{2,6}[0-9]{0,3}:[0-9a-f]{32,64}",
    ]
}

/// Around the 255-character limit on the repository path, which both count without the
/// registry and with Docker Hub's `library/`: short names, long paths, long registries.
fn near_the_length_limit() -> impl Strategy<Value = String> {
    let long_host = "[a-z]{60,63}(\\.[a-z]{60,63}){2,3}(:[0-9]{1,5})?";
    prop_oneof![
        "[a-z]{243,252}(:[a-z0-9]{1,5})?",
        "(docker\\.io|index\\.docker\\.io)/[a-z]{243,252}",
        "[a-z]{1,8}\\.[a-z]{2,3}(:[0-9]{1,5})?/[a-z]{250,260}",
        "[a-z]{1,8}/[a-z]{240,250}",
        proptest::string::string_regex(&format!(
            "{long_host}/[a-z]{{1,10}}(/[a-z]{{1,10}})?(:[a-z0-9]{{1,5}})?"
        ))
        .unwrap(),
        proptest::string::string_regex(&format!("{long_host}/[a-z]{{250,260}}")).unwrap(),
        // An uppercase first component: a registry here, part of the path for oci-spec.
        "[A-Z][a-z]{1,5}/[a-z]{245,255}",
    ]
}

fn reference() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (registry(), path(), tag(), digest()).prop_map(|(r, p, t, d)| format!("{r}{p}{t}{d}")),
        1 => near_the_length_limit(),
        1 => "[a-zA-Z0-9:/@._-]{0,40}",
        1 => "\\PC{0,30}",
    ]
}

/// Where the two may disagree, and why.
fn allowed_difference(
    input: &str,
    ours: &Result<ImageRef, RefError>,
    theirs: &Result<Reference, ParseError>,
) -> bool {
    let uppercase_first = || {
        input
            .split_once('/')
            .is_some_and(|(first, _)| first.bytes().any(|b| b.is_ascii_uppercase()))
    };
    match (ours, theirs) {
        // oci-spec's tag `\w` is Unicode; distribution's (Go RE2) is ASCII.
        (Err(RefError::BadTag), Ok(t)) => t.tag().is_some_and(|t| !t.is_ascii()),
        // go-digest and registries need lowercase hex and the algorithm's exact length;
        // oci-spec checks the length only.
        (Err(RefError::BadDigest(_)), Ok(t)) => t
            .digest()
            .is_some_and(|d| d.bytes().any(|b| b.is_ascii_uppercase())),
        // oci-spec calls a first component with '.' or ':' a registry even where it is not a
        // valid host (`a_b.com/x`, `reg:/x`); such an image cannot be pulled, so it is refused.
        (Err(RefError::BadRegistry), Ok(_)) => input
            .split_once('/')
            .is_some_and(|(first, _)| first.contains(['.', ':'])),
        // `A/b`: Docker reads an uppercase first component as a registry (`splitDockerDomain`);
        // oci-spec's older split makes it part of a Docker Hub repository.
        (Ok(o), Ok(t)) => o.registry != t.registry() && uppercase_first(),
        // ... so oci-spec counts that component in the 255 characters of the path.
        (Ok(o), Err(ParseError::NameTooLong)) => {
            o.repository.len() <= 255 && o.registry != "docker.io" && uppercase_first()
        }
        (Err(_), Ok(t)) if t.repository().bytes().any(|b| b.is_ascii_uppercase()) => true,
        // Docker refuses a bare 64-hex name (it reads as an image ID).
        (Err(RefError::Format), Ok(_)) => input.len() == 64,
        // Both limit the normalized path (`library/…`) to 255 characters and leave the
        // registry out, as distribution/reference does since v0.6.0, so there is no allowance
        // for the path's length. The policy also refuses a reference past 1024 characters,
        // which oci-spec does not limit: no registry serves one (a host name is at most 253
        // characters, so the longest pullable reference is 780).
        (Err(RefError::TooLong(_)), Ok(_)) => true,
        _ => false,
    }
}

fn check(input: &str) -> Result<(), TestCaseError> {
    let ours = ImageRef::parse(input);
    let theirs = Reference::try_from(input);
    match (&ours, &theirs) {
        (Ok(o), Ok(t)) if !allowed_difference(input, &ours, &theirs) => {
            prop_assert_eq!(&o.registry, t.registry(), "{}", input);
            prop_assert_eq!(&o.repository, t.repository(), "{}", input);
            prop_assert_eq!(o.digest.as_deref(), t.digest(), "{}", input);
            match &o.tag {
                Some(tag) => prop_assert_eq!(Some(tag.as_str()), t.tag(), "{}", input),
                // oci-spec fills in `latest` where no tag was written.
                None => prop_assert!(
                    t.digest().is_some() || t.tag() == Some("latest"),
                    "{}",
                    input
                ),
            }
        }
        (Err(_), Err(_)) => {}
        (Ok(_), Ok(_)) => {}
        _ => prop_assert!(
            allowed_difference(input, &ours, &theirs),
            "{:?}: ours {:?}, oci-spec {:?}",
            input,
            ours,
            theirs
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn agrees_with_oci_spec(input in reference()) {
        check(&input)?;
    }
}

#[test]
fn agrees_on_the_design_traps() {
    let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    for input in [
        "nginx",
        "docker.io/library/nginx",
        "index.docker.io/nginx:1",
        "localhost:5000/app",
        "registry:5000/app",
        "localhost/app:1",
        "localhost:5000",
        "nginx:LATEST",
        &format!("nginx:1.25@{d}"),
        &format!("nginx@{d}"),
        "nginx@sha256:abc",
        "Nginx:1",
        "quay.io/Team/app",
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "foo_bar.com:8080",
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        ":justtag",
        "",
        "a/b/c/d/e:f",
    ] {
        check(input).unwrap();
    }
}

#[test]
fn ipv6_registries_are_read_where_oci_spec_cannot() {
    // distribution/reference accepts bracketed IPv6 hosts; oci-spec's regex predates that.
    assert!(Reference::try_from("[2001:db8::1]:5000/app:1.0").is_err());
    let r = ImageRef::parse("[2001:db8::1]:5000/app:1.0").unwrap();
    assert_eq!(
        (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
        ("[2001:db8::1]:5000", "app", Some("1.0"))
    );
}

#[test]
fn agrees_on_the_length_limit_of_the_path() {
    let host = format!("{}.example.com", "r".repeat(240));
    let cases = [
        (format!("reg.io/{}", "a".repeat(255)), true),
        (format!("reg.io/{}", "a".repeat(256)), false),
        // `library/` counts: 247 + 8 = 255.
        ("a".repeat(247), true),
        ("a".repeat(248), false),
        (format!("{host}/app:1"), true),
        (format!("{host}:5000/{}", "a".repeat(255)), true),
        (format!("{host}/{}", "a".repeat(256)), false),
    ];
    for (input, valid) in cases {
        check(&input).unwrap();
        assert_eq!(ImageRef::parse(&input).is_ok(), valid, "{input}");
        assert_eq!(
            Reference::try_from(input.as_str()).is_ok(),
            valid,
            "{input}"
        );
    }
}
