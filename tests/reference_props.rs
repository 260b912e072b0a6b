//! Property tests of reference reading: references built from the distribution grammar
//! (registry host with optional port — `localhost`, DNS names, IPv4, `[v6]` — 1 to 3 path
//! components, optional tag, optional digest) and arbitrary strings.
//!
//! Properties:
//! - whatever is judged pinned really carries a valid digest (`check_digest`);
//! - a reference with a registry port and no tag is never read as tagged;
//! - normalizing is idempotent: `parse(r.normalized()) == r`;
//! - `parse` never panics, whatever the string;
//! - grammar-built references are read into the registry, repository, tag and digest they
//!   were built from;
//! - no wrong accept: anything `parse` accepts is also a valid reference for the reference
//!   parser kubelet uses (distribution/reference's `ParseNormalizedNamed`, re-implemented
//!   below from its grammar as an independent oracle), and both agree on what it names.

use immutable_images::testing::Settings;
use immutable_images::testing::{ImageRef, check_digest};
use immutable_images::testing::{TagVerdict, judge_tag};
use proptest::prelude::*;
use regex::Regex;
use std::net::Ipv6Addr;
use std::sync::OnceLock;

/// What distribution/reference reads from a reference (after Docker's normalization).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// distribution/reference `ParseNormalizedNamed` followed by `Parse`, from the grammar in its
/// regexp.go and normalize.go, with go-digest's validation of the digest. `None`: invalid.
fn distribution(s: &str) -> Option<Named> {
    const PATH_COMPONENT: &str = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";
    const DOMAIN: &str = r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[(?:[a-fA-F0-9:]+)\])(?::[0-9]+)?";
    static REFERENCE: OnceLock<Regex> = OnceLock::new();
    static NAME: OnceLock<Regex> = OnceLock::new();
    static IDENTIFIER: OnceLock<Regex> = OnceLock::new();
    let reference = REFERENCE.get_or_init(|| {
        Regex::new(&format!(
            r"^((?:{DOMAIN}/)?{PATH_COMPONENT}(?:/{PATH_COMPONENT})*)(?::([0-9A-Za-z_][0-9A-Za-z_.-]{{0,127}}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{{32,}}))?$"
        ))
        .unwrap()
    });
    let name = NAME.get_or_init(|| {
        Regex::new(&format!(
            r"^(?:({DOMAIN})/)?({PATH_COMPONENT}(?:/{PATH_COMPONENT})*)$"
        ))
        .unwrap()
    });
    let identifier = IDENTIFIER.get_or_init(|| Regex::new(r"^[a-f0-9]{64}$").unwrap());

    // ParseNormalizedNamed
    if identifier.is_match(s) {
        return None;
    }
    let (domain, remainder) = match s.split_once('/') {
        None => ("docker.io".to_owned(), format!("library/{s}")),
        Some((d, r)) => {
            let (domain, remainder) = if d == "localhost" {
                (d.to_owned(), r.to_owned())
            } else if d == "index.docker.io" {
                ("docker.io".to_owned(), r.to_owned())
            } else if d.contains(['.', ':']) || d.to_lowercase() != d {
                (d.to_owned(), r.to_owned())
            } else {
                ("docker.io".to_owned(), s.to_owned())
            };
            if domain == "docker.io" && !remainder.contains('/') {
                (domain, format!("library/{remainder}"))
            } else {
                (domain, remainder)
            }
        }
    };
    let remote = remainder.split(':').next().unwrap();
    if remote.to_lowercase() != remote {
        return None;
    }
    // Parse
    let full = format!("{domain}/{remainder}");
    let caps = reference.captures(&full)?;
    let name_part = caps.get(1).unwrap().as_str();
    // v0.6.0 limits the path, not the domain: `len(repo.path) > RepositoryNameTotalLengthMax`,
    // the path as anchoredNameRegexp splits it (the whole name when there is no domain).
    let name_caps = name.captures(name_part)?;
    let split_path = name_caps.get(2).unwrap().as_str();
    if split_path.len() > 255 {
        return None;
    }
    let digest = caps.get(3).map(|m| m.as_str().to_owned());
    if let Some(d) = &digest {
        // go-digest: a registered algorithm and its exact lowercase hex length.
        let (alg, hex) = d.split_once(':')?;
        let want = match alg {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return None,
        };
        if hex.len() != want || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
    }
    // `Parse` may read a first component that is not a valid host (`a_b.c/app`) as a path
    // component and report no domain; the name is the same text, and the runtime takes that
    // first component as the host, so the domain is the one splitDockerDomain chose.
    let path = name_part.strip_prefix(&format!("{domain}/"))?;
    Some(Named {
        domain,
        path: path.to_owned(),
        tag: caps.get(2).map(|m| m.as_str().to_owned()),
        digest,
    })
}

/// A reference built from the grammar, with what it should be read as.
#[derive(Debug, Clone)]
struct Built {
    text: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
    has_port: bool,
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("localhost".to_owned()),
        Just("docker.io".to_owned()),
        Just("index.docker.io".to_owned()),
        // DNS names with at least one dot; hosts may be written in uppercase.
        "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?){1,3}",
        // IPv4-ish: four dotted numbers (not checked to be below 256, as the grammar does not).
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        // Hex groups only: Rust writes IPv4-mapped addresses with dots, which the grammar's
        // `[a-fA-F0-9:]+` does not allow (see `ipv6_with_dotted_ipv4_tail_is_refused`).
        any::<[u16; 8]>().prop_map(|g| {
            let a = Ipv6Addr::from(g);
            if a.to_string().contains('.') {
                format!("[{}]", g.map(|x| format!("{x:x}")).join(":"))
            } else {
                format!("[{a}]")
            }
        }),
        Just("[::1]".to_owned()),
    ]
}

fn path_component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,5}(([._]|__|-{1,2})[a-z0-9]{1,5}){0,2}"
}

fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("latest".to_owned()),
        Just("LATEST".to_owned()),
        Just("5000".to_owned()),
        "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
    ]
}

fn digest() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}")),
        "[0-9a-f]{96}".prop_map(|h| format!("sha384:{h}")),
        "[0-9a-f]{128}".prop_map(|h| format!("sha512:{h}")),
    ]
}

/// Registry (`None`: Docker Hub's short form), port, path, tag, digest.
fn built() -> impl Strategy<Value = Built> {
    (
        proptest::option::of(host()),
        proptest::option::of(1u32..=65535),
        // A bare single-word host (no dot) is a registry only with a port.
        proptest::option::of("[a-z][a-z0-9-]{0,6}[a-z0-9]"),
        proptest::collection::vec(path_component(), 1..=3),
        proptest::option::of(tag()),
        proptest::option::of(digest()),
    )
        .prop_map(|(host, port, bare, path, tag, digest)| {
            let path_text = path.join("/");
            let (prefix, registry, repository, has_port) = match (host, port, bare) {
                (Some(h), port, _) => {
                    let hp = match port {
                        Some(p) => format!("{h}:{p}"),
                        None => h.clone(),
                    };
                    let registry = if hp == "index.docker.io" {
                        "docker.io".to_owned()
                    } else {
                        hp.clone()
                    };
                    let repository = if registry == "docker.io" && path.len() == 1 {
                        format!("library/{path_text}")
                    } else {
                        path_text.clone()
                    };
                    (format!("{hp}/"), registry, repository, port.is_some())
                }
                (None, Some(p), Some(b)) => (
                    format!("{b}:{p}/"),
                    format!("{b}:{p}"),
                    path_text.clone(),
                    true,
                ),
                // A first path component with a '.' is read as a registry (Docker's rule).
                (None, _, _) if path.len() > 1 && path[0].contains('.') => {
                    (String::new(), path[0].clone(), path[1..].join("/"), false)
                }
                (None, _, _) => {
                    let repository = if path.len() == 1 {
                        format!("library/{path_text}")
                    } else {
                        path_text.clone()
                    };
                    (String::new(), "docker.io".to_owned(), repository, false)
                }
            };
            let mut text = format!("{prefix}{path_text}");
            if let Some(t) = &tag {
                text.push(':');
                text.push_str(t);
            }
            if let Some(d) = &digest {
                text.push('@');
                text.push_str(d);
            }
            Built {
                text,
                registry,
                repository,
                tag,
                digest,
                has_port,
            }
        })
}

/// Strings close to references: their alphabet, with some glitches.
fn reference_like() -> impl Strategy<Value = String> {
    prop_oneof![
        // Near the 255-character path limit, with and without a registry, and a long registry
        // (not counted) with a short path or a long one.
        "[a-z]{230,260}(:[a-z0-9]{1,5})?",
        "[a-z]{1,5}\\.[a-z]{2,3}/[a-z]{245,260}",
        "[a-z]{60,63}(\\.[a-z]{60,63}){2,3}(:[0-9]{1,5})?/[a-z]{1,10}(/[a-z]{240,250})?",
        "[a-zA-Z0-9:/@._\\-\\[\\]]{0,40}",
        built().prop_map(|b| b.text),
        // A grammar reference with one character replaced, inserted or removed.
        (
            built(),
            any::<prop::sample::Index>(),
            prop_oneof![
                Just(':'),
                Just('/'),
                Just('@'),
                Just('.'),
                Just('-'),
                Just('_'),
                Just('A'),
                Just('['),
                Just(']'),
                Just(' '),
                Just('é'),
                Just('\0')
            ],
            0u8..3
        )
            .prop_map(|(b, at, c, op)| {
                let mut chars: Vec<char> = b.text.chars().collect();
                let i = at.index(chars.len());
                match op {
                    0 => chars[i] = c,
                    1 => chars.insert(i, c),
                    _ => {
                        chars.remove(i);
                    }
                }
                chars.into_iter().collect()
            }),
    ]
}

/// The invariants every accepted reference keeps, whatever it was built from.
fn check_invariants(written: &str, r: &ImageRef) -> Result<(), TestCaseError> {
    let settings = Settings::default();
    if r.is_pinned() || judge_tag(&settings, r) == TagVerdict::Pinned {
        let d = r.digest.as_deref();
        prop_assert!(
            d.is_some_and(|d| check_digest(d).is_ok()),
            "{written:?} judged pinned with digest {d:?}"
        );
    }
    if let Some(d) = &r.digest {
        prop_assert!(check_digest(d).is_ok(), "{written:?}: digest {d:?}");
    }
    prop_assert!(!r.registry.is_empty() && !r.repository.is_empty());
    prop_assert!(
        !r.repository.bytes().any(|b| b.is_ascii_uppercase()),
        "{written:?}: uppercase repository {:?}",
        r.repository
    );
    if let Some(t) = &r.tag {
        prop_assert!(
            t.is_ascii() && !t.is_empty() && t.len() <= 128,
            "{written:?}: tag {t:?}"
        );
    }
    let again = ImageRef::parse(&r.normalized());
    prop_assert_eq!(
        again.as_ref(),
        Ok(r),
        "{:?} normalizes to {:?} which reads differently",
        written,
        r.normalized()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES raises it for a longer search.
        cases: ProptestConfig::default().cases.max(512),
        max_global_rejects: 1_000_000,
        max_local_rejects: 1_000_000,
        // Failures are reported with their minimal input; no regressions file is written.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn grammar_references_are_read_as_built(
        b in built().prop_filter("a valid host", |b| !first_component_is_a_bad_host(b))
    ) {
        let r = ImageRef::parse(&b.text)
            .map_err(|e| TestCaseError::fail(format!("{:?} refused: {e}", b.text)))?;
        prop_assert_eq!(&r.registry, &b.registry, "{}", b.text);
        prop_assert_eq!(&r.repository, &b.repository, "{}", b.text);
        prop_assert_eq!(&r.tag, &b.tag, "{}", b.text);
        prop_assert_eq!(&r.digest, &b.digest, "{}", b.text);
        check_invariants(&b.text, &r)?;
    }

    #[test]
    fn registry_port_without_tag_is_never_tagged(
        b in built().prop_filter("a port and no tag", |b| b.has_port && b.tag.is_none())
    ) {
        let r = ImageRef::parse(&b.text).unwrap();
        prop_assert_eq!(&r.tag, &None, "{}", b.text);
        if b.digest.is_none() {
            prop_assert_eq!(judge_tag(&Settings::default(), &r), TagVerdict::NoTag);
        }
    }

    #[test]
    fn pinned_means_a_valid_digest_and_normalizing_is_idempotent(s in reference_like()) {
        prop_assume!(!known_divergence(&s));
        if let Ok(r) = ImageRef::parse(&s) {
            check_invariants(&s, &r)?;
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_strings(s in any::<String>()) {
        if let Ok(r) = ImageRef::parse(&s)
            && !known_divergence(&s)
        {
            check_invariants(&s, &r)?;
        }
    }

    #[test]
    fn parse_never_panics_on_long_strings(s in "[a-z0-9:/@.\\[\\]]{900,1100}") {
        let _ = ImageRef::parse(&s);
    }

    /// No wrong accept: what the policy reads, kubelet reads too, as the same image.
    #[test]
    fn accepted_references_are_valid_for_distribution(s in reference_like()) {
        prop_assume!(!known_divergence(&s));
        if let Ok(r) = ImageRef::parse(&s) {
            let d = distribution(&s);
            prop_assert!(d.is_some(), "{:?} accepted as {:?}, invalid for distribution", s, r);
            let d = d.unwrap();
            prop_assert_eq!(&r.registry, &d.domain, "{}", s);
            prop_assert_eq!(&r.repository, &d.path, "{}", s);
            prop_assert_eq!(&r.tag, &d.tag, "{}", s);
            prop_assert_eq!(&r.digest, &d.digest, "{}", s);
        }
    }

    /// The other way round: a valid reference is refused only where docs/design.md says the
    /// policy is stricter (no such case is known for grammar-built references with a lowercase
    /// path).
    #[test]
    fn distribution_valid_references_are_accepted(
        b in built().prop_filter("a valid host", |b| !first_component_is_a_bad_host(b))
    ) {
        prop_assert!(distribution(&b.text).is_some(), "oracle refuses {:?}", b.text);
        prop_assert!(ImageRef::parse(&b.text).is_ok(), "{:?}", b.text);
    }
}

/// Divergences from distribution that are reported as bugs (ignored tests below); the
/// differential property skips them so that it finds new ones.
fn known_divergence(s: &str) -> bool {
    let first = s.split_once('/').map(|(f, _)| f);
    // uppercase_first_component_is_a_registry
    let uppercase_domain =
        first.is_some_and(|f| !f.contains(['.', ':']) && f != "localhost" && f.to_lowercase() != f);
    // ipv6_with_dotted_ipv4_tail_is_refused
    let dotted_ipv6 = first.is_some_and(|f| f.starts_with('[') && f.contains('.'));
    uppercase_domain || dotted_ipv6
}

/// A first component read as a registry (it has a '.') that is not a valid host name: the
/// policy refuses it (the registry must be a host), distribution's Parse takes it as a path.
/// Refusing is the safe side; such references are left out of "valid ones are accepted".
fn first_component_is_a_bad_host(b: &Built) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    b.registry.contains('.')
        && !b.registry.starts_with('[')
        && !b.registry.split(':').next().unwrap().split('.').all(label)
}

/// Bug: distribution (and so kubelet) reads an uppercase first component as a registry host
/// ("Uppercase namespaces are not allowed, so if the first element is not lowercase, we assume
/// it to be a domain-name", normalize.go). The policy accepts such a reference as a Docker Hub
/// repository with an uppercase name, so `exemptImages` and `immutableRegistries` are matched
/// against the wrong registry (`docker.io/*` exempts an image pulled from the host `Myregistry`).
#[test]
fn uppercase_first_component_is_a_registry() {
    for s in [
        "Myregistry/app:1",
        "Aocalhost/0",
        "LOCALHOST/team/app:latest",
    ] {
        let want = distribution(s).unwrap();
        // Either read it as distribution does, or refuse it; an uppercase Docker Hub
        // repository is neither.
        if let Ok(r) = ImageRef::parse(s) {
            assert_eq!(
                (r.registry.as_str(), r.repository.as_str()),
                (want.domain.as_str(), want.path.as_str()),
                "{s}"
            );
        }
    }
}

/// Bug (minor): the policy checks a bracketed IPv6 registry with Rust's `Ipv6Addr`, which
/// accepts a dotted IPv4 tail; distribution's grammar (`\[[a-fA-F0-9:]+\]`) does not, so kubelet
/// refuses the reference the policy accepted (the pod then fails with InvalidImageName).
#[test]
fn ipv6_with_dotted_ipv4_tail_is_refused() {
    for s in ["[::ffff:1.2.3.4]:5000/app:1", "[::ffff:0.0.0.0]/0"] {
        assert_eq!(distribution(s), None);
        assert!(ImageRef::parse(s).is_err(), "{s} accepted");
    }
}

/// The 255-character limit counts the normalized path, `library/` included: a 248-character
/// Docker Hub short name is refused, as kubelet refuses it (once the policy checked the name
/// as written and accepted it; found by the `reference` fuzz target). Since
/// distribution/reference v0.6.0 the registry is not counted: a long registry with a short
/// path is valid (the policy refused it until 2026-12).
#[test]
fn name_length_counts_the_normalized_path_and_not_the_registry() {
    let s = "a".repeat(248);
    assert_eq!(distribution(&s), None);
    assert!(ImageRef::parse(&s).is_err());
    let s = "a".repeat(247);
    assert_eq!(distribution(&s).unwrap().path.len(), 255);
    assert!(ImageRef::parse(&s).is_ok());
    let host = format!("{}.example.com", "r".repeat(240));
    for path_len in [1, 255, 256] {
        let s = format!("{host}/{}:1", "p".repeat(path_len));
        let valid = path_len <= 255;
        assert_eq!(distribution(&s).is_some(), valid, "{s}");
        assert_eq!(ImageRef::parse(&s).is_ok(), valid, "{s}");
    }
}

/// The oracle itself agrees with distribution's documented examples.
#[test]
fn oracle_matches_distribution_examples() {
    let n = |s: &str| distribution(s).map(|n| (n.domain, n.path, n.tag));
    let own = |d: &str, p: &str, t: Option<&str>| {
        Some((d.to_owned(), p.to_owned(), t.map(str::to_owned)))
    };
    assert_eq!(n("nginx"), own("docker.io", "library/nginx", None));
    assert_eq!(n("localhost:5000/app"), own("localhost:5000", "app", None));
    assert_eq!(
        n("localhost:5000"),
        own("docker.io", "library/localhost", Some("5000"))
    );
    assert_eq!(n("Foo/bar:1"), own("Foo", "bar", Some("1")));
    assert_eq!(n("Nginx:1"), None);
    assert_eq!(n("nginx@sha256:abc"), None);
    assert_eq!(n(&"a".repeat(64)), None);
    assert_eq!(
        n("[2001:db8::1]:5000/app:1.0"),
        own("[2001:db8::1]:5000", "app", Some("1.0"))
    );
}
