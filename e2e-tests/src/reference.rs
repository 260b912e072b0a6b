//! Image references as a registry client reads them: `oci-spec`'s [`Reference`]
//! (distribution/reference's grammar with Docker's normalization), the parser
//! policy-server's registry client uses too, so the harness accepts and names images as it
//! does (no bracketed IPv6 registry, `latest` filled in where no tag or digest is written).
//!
//! This is host-side code, where size does not matter. The policy has its own parser
//! (`src/reference.rs`) because `oci-spec`'s pulls the full `regex` crate into the wasm.

use std::fmt;
use std::ops::Deref;

use oci_spec::distribution::Reference;

use crate::error::{Error, Result};

/// Docker Hub's canonical name.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed, normalized image reference: `oci-spec`'s [`Reference`] (its `registry()`,
/// `repository()`, `tag()` and `digest()` through `Deref`) and what the harness asks of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageReference(Reference);

impl ImageReference {
    /// Parses `image` (as written in a pod spec) and normalizes it the way Docker does:
    /// `nginx` is `docker.io/library/nginx:latest`; the first path component is a registry
    /// only if it contains `.` or `:` or is `localhost`; `index.docker.io` is `docker.io`.
    pub fn parse(image: &str) -> Result<Self> {
        image
            .parse()
            .map(ImageReference)
            .map_err(|e| Error::Reference {
                reference: image.to_string(),
                reason: e.to_string(),
            })
    }

    /// What to ask the registry's manifest endpoint for: the digest when there is one,
    /// else the tag (`latest` when none was written).
    pub fn manifest_reference(&self) -> &str {
        self.digest().or(self.tag()).unwrap_or("latest")
    }

    /// The registry host without its port.
    pub fn registry_host(&self) -> &str {
        host_without_port(self.registry())
    }
}

impl Deref for ImageReference {
    type Target = Reference;

    fn deref(&self) -> &Reference {
        &self.0
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Maps `index.docker.io` to `docker.io`, as [`ImageReference::parse`] does; other
/// registries are kept as written (so a mirror's `FROM` compares equal to a parsed registry).
pub fn canonical_registry(registry: &str) -> String {
    match registry {
        "index.docker.io" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

/// `host[:port]` → `host`; `[::1]:5000` → `[::1]` (a mirror's registry may be IPv6).
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
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("docker.io", "library/nginx", Some("latest"), None)
        );
        assert_eq!(r.manifest_reference(), "latest");
        assert_eq!(r.to_string(), "docker.io/library/nginx:latest");
        assert_eq!(p("bitnami/redis:7").repository(), "bitnami/redis");
        assert_eq!(p("docker.io/nginx:1").repository(), "library/nginx");
        let r = p("index.docker.io/nginx:1");
        assert_eq!(
            (r.registry(), r.repository()),
            ("docker.io", "library/nginx")
        );
        // Only the legacy index name is Docker Hub, as in distribution/reference.
        assert_eq!(p("registry-1.docker.io/nginx").repository(), "nginx");
        assert_eq!(canonical_registry("index.docker.io"), DOCKER_HUB);
        assert_eq!(canonical_registry("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn registries_and_ports() {
        let r = p("localhost:5000/app");
        assert_eq!((r.registry(), r.tag()), ("localhost:5000", Some("latest")));
        let r = p("registry:5000/app");
        assert_eq!((r.registry(), r.repository()), ("registry:5000", "app"));
        let r = p("localhost/app:1.0");
        assert_eq!((r.registry(), r.tag()), ("localhost", Some("1.0")));
        let r = p("127.0.0.1:5000/team/app:1.0");
        assert_eq!(r.registry_host(), "127.0.0.1");
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app:1.0");
        assert_eq!(host_without_port("[::1]:5000"), "[::1]");
        assert_eq!(host_without_port("localhost"), "localhost");
    }

    #[test]
    fn digests_win_over_tags() {
        let r = p(&format!("nginx:1.25@{D}"));
        assert_eq!((r.tag(), r.digest()), (Some("1.25"), Some(D)));
        assert_eq!(r.manifest_reference(), D);
        let r = p(&format!("127.0.0.1:5000/app@{D}"));
        assert_eq!((r.tag(), r.manifest_reference()), (None, D));
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
            // policy-server cannot read a bracketed IPv6 registry either
            "[::1]:5000/app:1",
        ] {
            let err = ImageReference::parse(bad).expect_err(bad);
            assert!(matches!(err, Error::Reference { ref reference, .. } if reference == bad));
        }
    }
}
