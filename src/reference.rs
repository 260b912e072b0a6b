//! Reading an image reference: the distribution/reference grammar with Docker's normalization.
//!
//! The grammar (github.com/distribution/reference, `reference.go`):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path-component ( "/" path-component )*
//! domain     := host [ ":" port ]        host: DNS name, IPv4, or "[" IPv6 "]"
//! path-comp. := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest     := algorithm ":" hex        sha256/64, sha384/96, sha512/128 lowercase hex
//! ```
//!
//! and Docker's normalization (`normalize.go`): the first component is a registry only if it
//! has a `.` or `:`, is `localhost`, or has an uppercase letter (see [`is_registry`]);
//! otherwise the registry is `docker.io`, and a one-component Docker Hub name gets `library/`. The parser is a single scan without regexes, which keeps the
//! policy small and fast; `tests/reference_oracle.rs` checks it against `oci-spec`'s `Reference`
//! (a regex port of the same Go code) on generated references, where the two must agree except
//! for the stricter checks documented on [`ImageRef::parse`].

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv6Addr;

/// Longest reference accepted, refused before it is read: distribution sets no such limit, but
/// every reference a registry can serve fits (a host name of at most 253 characters and a
/// port, a 255-character path, a 128-character tag and a sha512 digest make 780).
const MAX_REFERENCE_LEN: usize = 1024;
/// distribution's `RepositoryNameTotalLengthMax` (`NameTotalLengthMax` before v0.6.0), which
/// limits the repository path only, not the registry: since distribution/reference v0.6.0
/// (commit aaca75e, "Exclude domain from name length check") `Parse` in reference.go checks
/// `len(repo.path) > RepositoryNameTotalLengthMax`, where v0.5.0 checked the whole name. Through
/// `ParseNormalizedNamed` (normalize.go) that path is the normalized one: `library/nginx`.
const NAME_MAX_LEN: usize = 255;
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";

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
    /// The repository path's length (normalized, so with `library/` for `nginx`).
    NameTooLong(usize),
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
            RefError::BadRegistry => write!(
                f,
                "the registry must be a host name, IPv4 or [IPv6] address with an optional :port"
            ),
            RefError::NameTooLong(n) => write!(
                f,
                "the repository path is {n} characters long (the registry not counted), more than the {NAME_MAX_LEN} allowed"
            ),
            RefError::Format => write!(
                f,
                "it does not follow the form [registry[:port]/]repository[:tag][@algorithm:digest] \
                 (repository components are lowercase letters and digits separated by '.', '_', '__' or '-')"
            ),
        }
    }
}

impl ImageRef {
    /// Parses a reference as Kubernetes and container runtimes read it.
    ///
    /// Stricter than a plain grammar match, as registries and container runtimes are: tags are
    /// ASCII, digests use a supported algorithm with its exact length in lowercase hex, and
    /// the whole reference is at most [`MAX_REFERENCE_LEN`] characters.
    pub fn parse(written: &str) -> Result<ImageRef, RefError> {
        if written.is_empty() {
            return Err(RefError::Empty);
        }
        if written.len() > MAX_REFERENCE_LEN {
            return Err(RefError::TooLong(written.len()));
        }
        // Docker refuses a bare 64-hex name: it reads as an image ID, not a repository.
        if written.len() == 64
            && written
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(RefError::Format);
        }
        let (name_and_tag, digest) = match split_at_byte(written, b'@') {
            Some((n, d)) => (n, Some(d)),
            None => (written, None),
        };
        if let Some(d) = digest {
            check_digest(d)?;
        }
        if name_and_tag.starts_with('[') && !has_byte(name_and_tag, b'/') {
            return Err(RefError::BadRegistry);
        }
        let (name, tag) = split_tag(name_and_tag);
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(RefError::BadTag);
        }
        let (registry, path) = match split_at_byte(name, b'/') {
            Some((first, rest)) if is_registry(first) => {
                check_registry(first)?;
                (first, rest)
            }
            _ => (DOCKER_HUB, name),
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(RefError::Uppercase);
        }
        if !path
            .as_bytes()
            .split(|&b| b == b'/')
            .all(valid_path_component)
        {
            return Err(RefError::Format);
        }
        let registry = if registry == DOCKER_HUB_LEGACY {
            DOCKER_HUB
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !has_byte(path, b'/') {
            format!("{OFFICIAL_PREFIX}{path}")
        } else {
            path.to_owned()
        };
        // distribution limits the normalized path (`library/…`), not the registry (NAME_MAX_LEN).
        if repository.len() > NAME_MAX_LEN {
            return Err(RefError::NameTooLong(repository.len()));
        }
        Ok(ImageRef {
            registry: registry.to_owned(),
            repository,
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
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

/// Where `byte` (ASCII) first is in `text`. References are short: a plain loop over their
/// bytes costs less than the setup of `str::find`'s memchr, which took a third of the parse
/// (docs/performance.md). An ASCII byte always stands on a character boundary.
fn find_byte(text: &str, byte: u8) -> Option<usize> {
    text.bytes().position(|b| b == byte)
}

/// `text` split around the first `byte`, which neither side keeps.
fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let i = find_byte(text, byte)?;
    Some((&text[..i], &text[i + 1..]))
}

fn has_byte(text: &str, byte: u8) -> bool {
    find_byte(text, byte).is_some()
}

/// `name[:tag]` split at the tag, which is after the first ':' of the last path component (a
/// registry port sits before the first '/').
fn split_tag(name_and_tag: &str) -> (&str, Option<&str>) {
    let last_start = name_and_tag
        .bytes()
        .rposition(|b| b == b'/')
        .map_or(0, |i| i + 1);
    match find_byte(&name_and_tag[last_start..], b':') {
        Some(i) => (
            &name_and_tag[..last_start + i],
            Some(&name_and_tag[last_start + i + 1..]),
        ),
        None => (name_and_tag, None),
    }
}

/// An `exemptImages` glob with its name normalized as an image reference's name is, so that
/// it means what the same text means as an image: `nginx:*` is
/// `docker.io/library/nginx:*`, `team/app*` is `docker.io/team/app*`, `index.docker.io/x` is
/// `docker.io/library/x`, and `?ginx:*` or `[n]ginx:*` is `docker.io/library/?ginx:*` or
/// `docker.io/library/[n]ginx:*` (`?` and `[…]` stand for one character of a name). Only `*`
/// may stand for a registry and its `/`: where the first component has a `*` (`*/pause:*`,
/// `ghcr*/app`) or a one-component name starts with one (`*`, `*:1.0`), the pattern may match
/// any registry and is taken as written; a one-component Docker Hub path that starts with one
/// (`docker.io/*`) may match any repository there and gets no `library/`. The tag and digest
/// part (after the first `:` of the last component, or the first `@`) is kept as written.
pub fn normalize_image_glob(glob: &str) -> Cow<'_, str> {
    let name_and_tag = split_at_byte(glob, b'@').map_or(glob, |(n, _)| n);
    let (name, _) = split_tag(name_and_tag);
    let (name, rest) = glob.split_at(name.len());
    let spans = |s: &str| s.starts_with('*');
    let (written, path) = match name.split_once('/') {
        Some((first, _)) if first.contains('*') => return Cow::Borrowed(glob),
        Some((first, path)) if is_registry(first) => (Some(first), path),
        _ if spans(name) => return Cow::Borrowed(glob),
        _ => (None, name),
    };
    let registry = match written {
        Some(DOCKER_HUB_LEGACY) | None => DOCKER_HUB,
        Some(registry) => registry,
    };
    let library = registry == DOCKER_HUB && !path.contains('/') && !spans(path);
    if written == Some(registry) && !library {
        // Already normalized: no copy (settings are compiled on every request).
        return Cow::Borrowed(glob);
    }
    let library = if library { OFFICIAL_PREFIX } else { "" };
    Cow::Owned(format!("{registry}/{library}{path}{rest}"))
}

/// Docker's rule (`splitDockerDomain`): a first component is a registry if it has a `.` or
/// `:` (a bracketed IPv6 address has `:`), is `localhost`, or has an uppercase letter (a
/// repository cannot, so `Myregistry/app` is pulled from the host `Myregistry`).
fn is_registry(first: &str) -> bool {
    first.bytes().any(|b| b == b'.' || b == b':')
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// `host[:port]` where host is a DNS name or IPv4 address (dot-separated components of letters,
/// digits and inner '-') or a bracketed IPv6 address.
fn check_registry(registry: &str) -> Result<(), RefError> {
    let (host_ok, port) = if let Some(rest) = registry.strip_prefix('[') {
        let close = rest.find(']').ok_or(RefError::BadRegistry)?;
        let address = &rest[..close];
        // distribution's grammar: hex digits and colons only (no dotted IPv4 tail, no zone).
        let grammar = address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        (
            grammar && address.parse::<Ipv6Addr>().is_ok(),
            &rest[close + 1..],
        )
    } else {
        let host_end = find_byte(registry, b':').unwrap_or(registry.len());
        let host = &registry[..host_end];
        (
            host.as_bytes()
                .split(|&b| b == b'.')
                .all(valid_host_component),
            &registry[host_end..],
        )
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(RefError::BadRegistry)
    }
}

fn valid_host_component(b: &[u8]) -> bool {
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
fn valid_path_component(b: &[u8]) -> bool {
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
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

/// A digest is `algorithm:hex` with the hex length of its algorithm, in lowercase, as
/// registries and go-digest require.
pub fn check_digest(digest: &str) -> Result<(), RefError> {
    let Some((algorithm, hex)) = split_at_byte(digest, b':') else {
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

#[cfg(test)]
mod tests {
    use super::*;

    const D64: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parse(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[rstest::rstest]
    #[case::short_name("nginx:*", "docker.io/library/nginx:*")]
    #[case::short_name_prefix("nginx*", "docker.io/library/nginx*")]
    #[case::org("team/app*", "docker.io/team/app*")]
    #[case::legacy_host("index.docker.io/nginx", "docker.io/library/nginx")]
    #[case::docker_hub_official("docker.io/nginx:1", "docker.io/library/nginx:1")]
    #[case::docker_hub_everything("docker.io/*", "docker.io/*")]
    #[case::registry("registry.k8s.io/pause:*", "registry.k8s.io/pause:*")]
    #[case::registry_port("localhost:5000/app:*", "localhost:5000/app:*")]
    #[case::any_registry("*/pause:*", "*/pause:*")]
    #[case::everything("*", "*")]
    #[case::digest("nginx@sha256:*", "docker.io/library/nginx@sha256:*")]
    #[case::tag_with_a_slash_is_no_tag("nginx:80/evil/app", "nginx:80/evil/app")]
    // `?` and `[…]` stand for one character of a name, not for a registry.
    #[case::short_name_starting_with_a_question_mark("?ginx:*", "docker.io/library/?ginx:*")]
    #[case::short_name_starting_with_a_class("[n]ginx:*", "docker.io/library/[n]ginx:*")]
    #[case::class_then_star("[a-z]*", "docker.io/library/[a-z]*")]
    #[case::docker_hub_question_mark("docker.io/?ginx:*", "docker.io/library/?ginx:*")]
    #[case::org_starting_with_a_class("[t]eam/app:*", "docker.io/[t]eam/app:*")]
    #[case::registry_with_a_question_mark("registr?.example.com/app", "registr?.example.com/app")]
    // `*` may stand for a registry.
    #[case::any_registry_short_name("*nginx*", "*nginx*")]
    #[case::any_registry_prefix("ghcr*/app", "ghcr*/app")]
    fn exemption_globs_are_normalized_as_images(#[case] glob: &str, #[case] normalized: &str) {
        assert_eq!(normalize_image_glob(glob), normalized);
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
        assert_eq!(ImageRef::parse("http://nginx"), Err(RefError::BadRegistry));
        assert_eq!(ImageRef::parse("a..b/app"), Err(RefError::BadRegistry));
        assert_eq!(
            ImageRef::parse("reg.io/a__b/c---d/e.f_g:1")
                .unwrap()
                .repository,
            "a__b/c---d/e.f_g"
        );
        for bad in [
            "reg.io/a___b",
            "reg.io/a_.b",
            "reg.io/-a",
            "reg.io/a-",
            "reg.io//a",
            "reg.io/",
        ] {
            assert_eq!(ImageRef::parse(bad), Err(RefError::Format), "{bad}");
        }
        assert_eq!(
            ImageRef::parse(&"a".repeat(2000)),
            Err(RefError::TooLong(2000))
        );
    }

    /// distribution/reference v0.6.0: the repository path is limited, the registry is not.
    #[rstest::rstest]
    #[case::path_255("reg.io/", 255, None)]
    #[case::path_256("reg.io/", 256, Some(256))]
    #[case::docker_hub_path_255("docker.io/a/", 253, None)]
    #[case::docker_hub_path_256("docker.io/a/", 254, Some(256))]
    // A short name is counted with its `library/`: 247 + 8.
    #[case::short_name_255("", 247, None)]
    #[case::short_name_256("", 248, Some(256))]
    #[case::legacy_host_with_library("index.docker.io/", 248, Some(256))]
    fn the_repository_path_is_limited_to_255(
        #[case] prefix: &str,
        #[case] last: usize,
        #[case] too_long: Option<usize>,
    ) {
        let written = format!("{prefix}{}:1", "a".repeat(last));
        let got = ImageRef::parse(&written);
        match too_long {
            None => assert_eq!(got.map(|r| r.repository.len()), Ok(255)),
            Some(n) => assert_eq!(got, Err(RefError::NameTooLong(n))),
        }
    }

    #[test]
    fn a_long_registry_is_not_counted() {
        // A 253-character host (DNS's longest) and a port, with a short path: 268 characters
        // of name, valid for distribution since v0.6.0.
        let host = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(host.len(), 253);
        let r = parse(&format!("{host}:5000/team/app:1.0"));
        assert_eq!(r.registry, format!("{host}:5000"));
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.normalized(), format!("{host}:5000/team/app:1.0"));
        // With the longest path as well.
        let longest = format!("{host}:5000/{}@{D64}", "p".repeat(255));
        assert_eq!(parse(&longest).repository.len(), 255);
        let e = ImageRef::parse(&format!("{host}/{}", "p".repeat(256))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the repository path is 256 characters long (the registry not counted), more than \
             the 255 allowed"
        );
    }

    #[test]
    fn effective_tag_follows_kubernetes() {
        assert_eq!(parse("nginx").effective_tag(), Some("latest"));
        assert_eq!(parse("nginx:1").effective_tag(), Some("1"));
    }
}
