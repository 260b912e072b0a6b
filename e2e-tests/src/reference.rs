//! Host-side parsing of image references, as a registry client needs it:
//! distribution/reference grammar with Docker's normalization rules.

use std::fmt;

use crate::error::{Error, Result};

/// Docker Hub's canonical name.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed, normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageReference {
    /// Registry host with optional port, e.g. `docker.io`, `127.0.0.1:5000`, `[::1]:5000`.
    pub registry: String,
    /// Repository path inside the registry, e.g. `library/nginx`.
    pub repository: String,
    /// The tag as written, if any.
    pub tag: Option<String>,
    /// The digest as written, if any (`sha256:<64 hex>`).
    pub digest: Option<String>,
}

impl ImageReference {
    /// Parses `image` (as written in a pod spec) and normalizes it the way Docker does:
    /// `nginx` is `docker.io/library/nginx`; the first path component is a registry only
    /// if it contains `.` or `:` or is `localhost`.
    pub fn parse(image: &str) -> Result<Self> {
        let fail = |reason: &str| Error::Reference {
            reference: image.to_string(),
            reason: reason.to_string(),
        };
        if image.is_empty() {
            return Err(fail("empty reference"));
        }
        let (name_and_tag, digest) = match image.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (image, None),
        };
        if let Some(d) = digest {
            validate_digest(d).map_err(|r| fail(&r))?;
        }
        // A tag separator is a ':' after the last '/'.
        let last_slash = name_and_tag.rfind('/');
        let (name, tag) = match name_and_tag.rfind(':') {
            Some(colon) if last_slash.is_none_or(|s| colon > s) => {
                (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
            }
            _ => (name_and_tag, None),
        };
        if let Some(t) = tag {
            validate_tag(t).map_err(|r| fail(&r))?;
        }
        let (registry, remote) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                validate_host(first).map_err(|r| fail(&r))?;
                (canonical_registry(first), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        validate_repository(&remote).map_err(|r| fail(&r))?;
        let repository = if registry == DOCKER_HUB && !remote.contains('/') {
            format!("library/{remote}")
        } else {
            remote
        };
        if registry.len() + 1 + repository.len() > 255 {
            return Err(fail("name longer than 255 characters"));
        }
        Ok(ImageReference {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// What to ask the registry's manifest endpoint for: the digest when there is one,
    /// else the tag, else `latest`.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// The registry host without its port (`[::1]` keeps its brackets).
    pub fn registry_host(&self) -> &str {
        host_without_port(&self.registry)
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Maps Docker Hub's aliases to `docker.io`; other registries are kept as written.
pub fn canonical_registry(registry: &str) -> String {
    match registry {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// `host[:port]` → `host`; `[::1]:5000` → `[::1]`.
pub fn host_without_port(registry: &str) -> &str {
    if registry.starts_with('[') {
        return match registry.find(']') {
            Some(end) => &registry[..=end],
            None => registry,
        };
    }
    match registry.rsplit_once(':') {
        Some((host, _)) => host,
        None => registry,
    }
}

fn validate_host(host_port: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry {host_port:?} has an unclosed '['"))?;
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "registry {host_port:?} is not a valid IPv6 address"
            ));
        }
        match after {
            "" => return Ok(()),
            p => (ip, p.strip_prefix(':').ok_or("junk after ']'")?),
        }
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, p),
            None => (host_port, "0"),
        }
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("registry {host_port:?} has an invalid port"));
    }
    if host.contains(':') {
        return Ok(()); // IPv6 literal, checked above
    }
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.split('.').all(valid_label) {
        Ok(())
    } else {
        Err(format!("registry host {host:?} is not a valid host name"))
    }
}

fn validate_repository(repo: &str) -> Result<(), String> {
    if repo.is_empty() {
        return Err("empty repository name".into());
    }
    for component in repo.split('/') {
        validate_path_component(component)?;
    }
    Ok(())
}

/// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`
fn validate_path_component(c: &str) -> Result<(), String> {
    let bad = || {
        if c.bytes().any(|b| b.is_ascii_uppercase()) {
            format!("repository component {c:?} must be lowercase")
        } else {
            format!("invalid repository component {c:?}")
        }
    };
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Err(bad());
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // a separator run: ".", "_", "__" or "-+"
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`
fn validate_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    if bytes.is_empty() {
        return Err("empty tag".into());
    }
    if bytes.len() > 128 {
        return Err("tag longer than 128 characters".into());
    }
    if !word(bytes[0]) || !bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-') {
        return Err(format!("invalid tag {tag:?}"));
    }
    Ok(())
}

/// `algorithm:hex`; sha256 must have 64 lowercase hex digits.
fn validate_digest(digest: &str) -> Result<(), String> {
    let (algo, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("digest {digest:?} has no algorithm"))?;
    let algo_ok = !algo.is_empty()
        && algo
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
    if !algo_ok {
        return Err(format!("invalid digest algorithm {algo:?}"));
    }
    let hex_ok = hex.len() >= 32
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex_ok {
        return Err(format!("invalid digest {digest:?}"));
    }
    if algo == "sha256" && hex.len() != 64 {
        return Err(format!("sha256 digest {digest:?} must have 64 hex digits"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn p(s: &str) -> ImageReference {
        ImageReference::parse(s).unwrap()
    }

    #[test]
    fn docker_hub_normalization() {
        let r = p("nginx");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag, r.digest),
            ("docker.io", "library/nginx", None, None)
        );
        assert_eq!(p("nginx").manifest_reference(), "latest");
        assert_eq!(p("bitnami/redis:7").repository, "bitnami/redis");
        assert_eq!(p("docker.io/nginx:1").repository, "library/nginx");
        assert_eq!(p("index.docker.io/nginx:1").registry, "docker.io");
    }

    #[test]
    fn registries_and_ports() {
        let r = p("localhost:5000/app");
        assert_eq!((r.registry.as_str(), r.tag), ("localhost:5000", None));
        let r = p("registry:5000/app");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("registry:5000", "app")
        );
        let r = p("localhost/app:1.0");
        assert_eq!(
            (r.registry.as_str(), r.tag.as_deref()),
            ("localhost", Some("1.0"))
        );
        let r = p("127.0.0.1:5000/team/app:1.0");
        assert_eq!(r.registry_host(), "127.0.0.1");
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app:1.0");
        let r = p("[::1]:5000/app:1");
        assert_eq!(
            (r.registry.as_str(), r.registry_host()),
            ("[::1]:5000", "[::1]")
        );
    }

    #[test]
    fn digests_win_over_tags() {
        let r = p(&format!("nginx:1.25@{D}"));
        assert_eq!(r.tag.as_deref(), Some("1.25"));
        assert_eq!(r.manifest_reference(), D);
    }

    #[test]
    fn invalid_references() {
        for bad in [
            "",
            "Nginx:1",
            "nginx@sha256:abc",
            "nginx:",
            "nginx:-1",
            "a//b",
            "nginx:1:2",
            "[::1/app",
            "host:port/app",
        ] {
            assert!(
                ImageReference::parse(bad).is_err(),
                "{bad:?} should be invalid"
            );
        }
    }
}
