//! Reading an image reference: distribution/reference grammar with Docker's normalization.
//!
//! Parsing is `oci-spec`'s `Reference`; this module adds what it leaves out:
//! whether a tag was *written* (oci-spec fills in `latest`), IPv6 registry literals,
//! ASCII-only tags, lowercase-hex digests, and messages that say why a reference is invalid.

use oci_spec::distribution::{ParseError, Reference};
use std::fmt;
use std::net::Ipv6Addr;

/// Longest reference accepted: a 255-character name, a 128-character tag and a sha512 digest
/// fit with room to spare; anything longer is refused before any parsing.
const MAX_REFERENCE_LEN: usize = 1024;

/// Stands in for a bracketed IPv6 registry while oci-spec (which does not know them) parses.
const IPV6_PLACEHOLDER: &str = "ipv6-registry.invalid";

/// An image reference as written in a pod spec, with its normalized parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host[:port], normalized (`docker.io` for Docker Hub).
    pub registry: String,
    /// Repository path, normalized (`library/nginx` for `nginx`).
    pub repository: String,
    /// The tag as written; `None` when the reference has no tag (Kubernetes then pulls `latest`).
    pub tag: Option<String>,
    /// `algorithm:hex`, when the reference carries a digest.
    pub digest: Option<String>,
}

/// Why a reference is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefError {
    Empty,
    TooLong(usize),
    Uppercase,
    BadDigest(String),
    BadTag,
    BadRegistry,
    NameTooLong,
    Format,
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefError::Empty => write!(f, "the image is empty"),
            RefError::TooLong(n) => write!(
                f,
                "the reference is {n} characters long, more than the {MAX_REFERENCE_LEN} allowed"
            ),
            RefError::Uppercase => write!(f, "the repository name must be lowercase"),
            RefError::BadDigest(why) => write!(f, "the digest is invalid: {why}"),
            RefError::BadTag => write!(
                f,
                "the tag must be 1 to 128 ASCII letters, digits, '_', '.' or '-', not starting with '.' or '-'"
            ),
            RefError::BadRegistry => write!(f, "the registry address is invalid"),
            RefError::NameTooLong => write!(f, "the repository name is longer than 255 characters"),
            RefError::Format => write!(
                f,
                "it does not follow the form [registry[:port]/]repository[:tag][@algorithm:digest]"
            ),
        }
    }
}

impl ImageRef {
    /// Parses a reference as Kubernetes and container runtimes read it.
    pub fn parse(written: &str) -> Result<ImageRef, RefError> {
        if written.is_empty() {
            return Err(RefError::Empty);
        }
        if written.len() > MAX_REFERENCE_LEN {
            return Err(RefError::TooLong(written.len()));
        }
        let (ipv6_registry, parseable) = split_ipv6_registry(written)?;
        let parsed = Reference::try_from(parseable.as_ref()).map_err(|e| explain(written, e))?;

        let (name_and_tag, _) = written.split_once('@').unwrap_or((written, ""));
        let last_component = name_and_tag.rsplit('/').next().unwrap_or(name_and_tag);
        let tag_written = last_component.contains(':');
        let tag = if tag_written {
            parsed.tag().map(str::to_owned)
        } else {
            None
        };
        if let Some(t) = &tag {
            // oci-spec's `\w` is Unicode-aware; the distribution grammar's is ASCII.
            if !t.is_ascii() {
                return Err(RefError::BadTag);
            }
        }
        let digest = parsed.digest().map(str::to_owned);
        if let Some(d) = &digest {
            check_digest(d)?;
        }
        let registry = match ipv6_registry {
            Some(r) => r,
            None => parsed.registry().to_owned(),
        };
        Ok(ImageRef {
            registry,
            repository: parsed.repository().to_owned(),
            tag,
            digest,
        })
    }

    /// Pinned by a digest, whatever the tag.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some()
    }

    /// The tag Kubernetes pulls: the written one, or `latest` when there is neither tag nor digest.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// `registry/repository[:tag][@digest]`, with the tag only where it was written.
    pub fn normalized(&self) -> String {
        let mut s = format!("{}/{}", self.registry, self.repository);
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

/// A digest is `algorithm:hex` with the hex length of its algorithm, in lowercase
/// (oci-spec accepts uppercase hex; registries and go-digest do not).
pub fn check_digest(digest: &str) -> Result<(), RefError> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(RefError::BadDigest("it must be algorithm:hex".into()));
    };
    let want = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        other => {
            return Err(RefError::BadDigest(format!(
                "unsupported algorithm {other:?} (sha256, sha384 or sha512)"
            )));
        }
    };
    if hex.len() != want {
        return Err(RefError::BadDigest(format!(
            "{algorithm} needs {want} hex digits, found {}",
            hex.len()
        )));
    }
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(RefError::BadDigest(
            "the hex digits must be 0-9 and lowercase a-f".into(),
        ));
    }
    Ok(())
}

/// `[2001:db8::1]:5000/app:1.0` → registry `[2001:db8::1]:5000`, and a reference oci-spec can
/// parse with a placeholder registry in its place.
fn split_ipv6_registry(
    written: &str,
) -> Result<(Option<String>, std::borrow::Cow<'_, str>), RefError> {
    if !written.starts_with('[') {
        return Ok((None, written.into()));
    }
    let (host_port, rest) = written.split_once('/').ok_or(RefError::BadRegistry)?;
    let close = host_port.find(']').ok_or(RefError::BadRegistry)?;
    host_port[1..close]
        .parse::<Ipv6Addr>()
        .map_err(|_| RefError::BadRegistry)?;
    let port = &host_port[close + 1..];
    if !port.is_empty() {
        let digits = port.strip_prefix(':').ok_or(RefError::BadRegistry)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RefError::BadRegistry);
        }
    }
    Ok((
        Some(host_port.to_owned()),
        format!("{IPV6_PLACEHOLDER}{port}/{rest}").into(),
    ))
}

/// Turns oci-spec's error into a reason a person can act on.
fn explain(written: &str, e: ParseError) -> RefError {
    match e {
        ParseError::NameEmpty => RefError::Empty,
        ParseError::NameContainsUppercase => RefError::Uppercase,
        ParseError::NameTooLong => RefError::NameTooLong,
        ParseError::TagInvalidFormat => RefError::BadTag,
        ParseError::DigestInvalidFormat
        | ParseError::DigestInvalidLength
        | ParseError::DigestUnsupported => match written.split_once('@') {
            Some((_, d)) => check_digest(d)
                .err()
                .unwrap_or(RefError::BadDigest("it must be algorithm:hex".into())),
            None => RefError::BadDigest("it must be algorithm:hex".into()),
        },
        ParseError::ReferenceInvalidFormat => diagnose(written),
    }
}

/// oci-spec reports most failures as one "invalid format"; find the part that is wrong.
fn diagnose(written: &str) -> RefError {
    let (name_and_tag, digest) = match written.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (written, None),
    };
    if let Some(d) = digest
        && let Err(e) = check_digest(d)
    {
        return e;
    }
    let (path, tag) = match name_and_tag.rsplit_once('/') {
        Some((head, last)) => match last.split_once(':') {
            Some((repo, tag)) => (format!("{head}/{repo}"), Some(tag)),
            None => (name_and_tag.to_owned(), None),
        },
        None => match name_and_tag.split_once(':') {
            Some((repo, tag)) => (repo.to_owned(), Some(tag)),
            None => (name_and_tag.to_owned(), None),
        },
    };
    // The first component is a registry only if it has '.' or ':' or is localhost.
    let repository = match path.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => rest,
        _ => path.as_str(),
    };
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return RefError::Uppercase;
    }
    if let Some(t) = tag
        && !valid_tag(t)
    {
        return RefError::BadTag;
    }
    RefError::Format
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D64: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_hub_short_name_is_normalized_like_its_long_form() {
        let short = parse("nginx");
        let long = parse("docker.io/library/nginx");
        assert_eq!(short, long);
        assert_eq!(short.normalized(), "docker.io/library/nginx");
        assert_eq!(short.tag, None);
        assert_eq!(
            parse("index.docker.io/library/nginx:1").registry,
            "docker.io"
        );
        assert_eq!(parse("bitnami/nginx:1").repository, "bitnami/nginx");
    }

    #[test]
    fn registry_with_port_and_no_tag_has_no_tag() {
        let r = parse("localhost:5000/app");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost:5000", "app")
        );
        assert_eq!(r.tag, None);
        let r = parse("registry:5000/app");
        assert_eq!(
            (r.registry.as_str(), r.tag.as_deref()),
            ("registry:5000", None)
        );
        let r = parse("registry:5000/team/app:2.1");
        assert_eq!(r.tag.as_deref(), Some("2.1"));
        assert_eq!(r.repository, "team/app");
    }

    #[test]
    fn localhost_alone_is_a_registry_only_before_a_slash() {
        assert_eq!(parse("localhost/app").registry, "localhost");
        // No slash: "localhost:5000" is Docker Hub's library/localhost with tag 5000.
        let r = parse("localhost:5000");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.tag.as_deref(), Some("5000"));
    }

    #[test]
    fn ipv6_registry_with_port() {
        let r = parse("[2001:db8::1]:5000/app:1.0");
        assert_eq!(r.registry, "[2001:db8::1]:5000");
        assert_eq!(r.repository, "app");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        let r = parse("[::1]/team/app");
        assert_eq!((r.registry.as_str(), r.tag.as_deref()), ("[::1]", None));
        assert_eq!(
            ImageRef::parse("[2001:db8::zz]:5000/app"),
            Err(RefError::BadRegistry)
        );
        assert_eq!(
            ImageRef::parse("[::1]:50a0/app"),
            Err(RefError::BadRegistry)
        );
        assert_eq!(ImageRef::parse("[::1]"), Err(RefError::BadRegistry));
    }

    #[test]
    fn uppercase_tag_is_a_tag() {
        let r = parse("nginx:LATEST");
        assert_eq!(r.tag.as_deref(), Some("LATEST"));
        assert!(!r.is_pinned());
    }

    #[test]
    fn tag_and_digest_is_pinned_and_keeps_its_tag() {
        let r = parse(&format!("nginx:1.25@{D64}"));
        assert!(r.is_pinned());
        assert_eq!(r.tag.as_deref(), Some("1.25"));
        assert_eq!(r.digest.as_deref(), Some(D64));
        assert_eq!(
            r.normalized(),
            format!("docker.io/library/nginx:1.25@{D64}")
        );
        let r = parse(&format!("nginx@{D64}"));
        assert_eq!((r.tag.as_deref(), r.effective_tag()), (None, None));
    }

    #[test]
    fn short_digest_is_invalid_and_says_why() {
        let e = ImageRef::parse("nginx@sha256:abc").unwrap_err();
        assert_eq!(
            e,
            RefError::BadDigest("sha256 needs 64 hex digits, found 3".into())
        );
        assert!(e.to_string().contains("64 hex digits"));
        let upper = format!("nginx@{}", D64.to_uppercase().replace("SHA256", "sha256"));
        assert!(matches!(
            ImageRef::parse(&upper),
            Err(RefError::BadDigest(_))
        ));
        assert!(matches!(
            ImageRef::parse(&format!("nginx@md5:{}", &D64[7..])),
            Err(RefError::BadDigest(_))
        ));
    }

    #[test]
    fn uppercase_repository_is_invalid() {
        assert_eq!(ImageRef::parse("Nginx:1"), Err(RefError::Uppercase));
        assert_eq!(
            ImageRef::parse("quay.io/Team/app:1"),
            Err(RefError::Uppercase)
        );
        // An uppercase registry host is fine.
        assert_eq!(parse("Quay.io/team/app:1").registry, "Quay.io");
    }

    #[test]
    fn malformed_references_are_refused_with_a_reason() {
        assert_eq!(ImageRef::parse(""), Err(RefError::Empty));
        assert_eq!(ImageRef::parse("nginx:"), Err(RefError::BadTag));
        assert_eq!(ImageRef::parse("nginx:-x"), Err(RefError::BadTag));
        assert_eq!(ImageRef::parse("nginx:é"), Err(RefError::BadTag));
        assert_eq!(
            ImageRef::parse(&format!("nginx:{}", "a".repeat(129))),
            Err(RefError::BadTag)
        );
        assert_eq!(ImageRef::parse(" nginx"), Err(RefError::Format));
        assert_eq!(ImageRef::parse("http://nginx"), Err(RefError::Format));
        assert_eq!(
            ImageRef::parse(&"a".repeat(2000)),
            Err(RefError::TooLong(2000))
        );
    }

    #[test]
    fn effective_tag_follows_kubernetes() {
        assert_eq!(parse("nginx").effective_tag(), Some("latest"));
        assert_eq!(parse("nginx:1").effective_tag(), Some("1"));
    }
}
