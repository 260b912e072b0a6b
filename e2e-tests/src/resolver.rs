//! Answers `oci/v1/manifest_digest` and `oci/v1/oci_manifest`: asks a (loopback) registry
//! for the digest of the manifest a reference names, or for the manifest itself, as
//! policy-server does.

use std::time::Duration;

use crate::digest::{digest_with, sha256_digest};
use crate::error::{Error, Result};
use crate::http::{LoopbackClient, MANIFEST_ACCEPT};
use crate::manifest::Manifest;
use crate::reference::{ImageReference, canonical_registry};

/// Resolves image references to manifest digests (and fetches manifests, see
/// [`DigestResolver::manifest`]) as policy-server's registry client does:
/// `GET /v2/` (where authentication is discovered), then `HEAD /v2/<repo>/manifests/<ref>`:
/// two round trips a successful lookup, four when the `HEAD` answer has no digest (see
/// [`DigestResolver::manifest_digest`]).
///
/// Only loopback registries are contacted (plain HTTP, like policy-server's
/// `insecure_sources`); other registries can be mapped to a loopback one with
/// [`DigestResolver::with_mirror`], keeping the repository path.
#[derive(Clone, Debug)]
pub struct DigestResolver {
    mirrors: Vec<(String, String)>,
    timeout: Duration,
}

impl Default for DigestResolver {
    fn default() -> Self {
        DigestResolver {
            mirrors: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl DigestResolver {
    /// A resolver with no mirrors and a 10 s timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serve registry `from` (e.g. `docker.io`) from the loopback registry `to`
    /// (e.g. `127.0.0.1:5000`).
    pub fn with_mirror(mut self, from: &str, to: &str) -> Result<Self> {
        if from.is_empty() || to.is_empty() {
            return Err(Error::invalid(
                "registry mirror",
                "both sides must be non-empty",
            ));
        }
        if !crate::http::is_loopback_registry(to) {
            return Err(Error::invalid(
                "registry mirror",
                format!("{to:?} is not a loopback registry"),
            ));
        }
        self.mirrors
            .push((canonical_registry(from), to.to_string()));
        Ok(self)
    }

    /// Adds a mirror given as `FROM=TO` (the `--registry-mirror` syntax).
    pub fn with_mirror_spec(self, spec: &str) -> Result<Self> {
        let (from, to) = spec
            .split_once('=')
            .ok_or_else(|| Error::invalid("registry mirror", format!("{spec:?} is not FROM=TO")))?;
        self.with_mirror(from.trim(), to.trim())
    }

    /// Sets the time limit of one registry request.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The registry actually contacted for `reference` (its mirror, if any).
    pub fn registry_for(&self, reference: &ImageReference) -> String {
        self.mirrors
            .iter()
            .find(|(from, _)| from == reference.registry())
            .map(|(_, to)| to.clone())
            .unwrap_or_else(|| reference.registry().to_string())
    }

    /// The digest (`sha256:...`) of the manifest or index that `image` names, fetched as
    /// policy-server's registry client (oci-client's `fetch_manifest_digest`) fetches it:
    ///
    /// 1. `GET /v2/`, only to look for an authentication challenge: its status, even a failed
    ///    connection, does not stop the lookup (these registries have no authentication; one
    ///    that has adds a token request here);
    /// 2. `HEAD` the manifest: an answer with `Docker-Content-Digest` is the digest, if its
    ///    status is 200;
    /// 3. an answer without one (any error status, or a registry that leaves the header out)
    ///    is followed by another `GET /v2/` and a `GET` of the manifest, whose status must be
    ///    200; the digest is its header's, checked against the body, or the body's sha256.
    ///
    /// A reference with a digest must get that digest back (when the algorithms match).
    pub fn manifest_digest(&self, image: &str) -> Result<String> {
        let target = self.target(image)?;
        let (reference, client, path) = (&target.reference, &target.client, &target.path);
        let fail = |msg: String| target.fail(msg);
        let unwrap = |e: Error| target.named(e);
        let status_error = |method: &str, status: u16| {
            fail(format!("{method} {} answered HTTP {status}", target.url()))
        };
        let accept = [("Accept", MANIFEST_ACCEPT)];
        let _challenge = client.get("/v2/", &[]);
        let res = client.head(path, &accept).map_err(unwrap)?;
        let digest = match res.header("Docker-Content-Digest") {
            Some(digest) => {
                if res.status != 200 {
                    return Err(status_error("HEAD", res.status));
                }
                digest.to_string()
            }
            None => {
                let _challenge = client.get("/v2/", &[]);
                let res = client.get(path, &accept).map_err(unwrap)?;
                if res.status != 200 {
                    return Err(status_error("GET", res.status));
                }
                let computed = sha256_digest(&res.body);
                match res.header("Docker-Content-Digest") {
                    Some(header) if header.starts_with("sha256:") && header != computed => {
                        return Err(fail(format!(
                            "the manifest's sha256 is {computed}, its header says {header}"
                        )));
                    }
                    Some(header) => header.to_string(),
                    None => computed,
                }
            }
        };
        if let Some(asked) = reference.digest()
            && asked.split(':').next() == digest.split(':').next()
            && asked != digest
        {
            return Err(fail(format!(
                "asked for {asked}, the registry answered {digest}"
            )));
        }
        Ok(digest)
    }
}

/// The manifest a reference names, on its registry (or that registry's mirror): what a
/// digest lookup and a manifest fetch both ask.
struct ManifestTarget<'i> {
    image: &'i str,
    reference: ImageReference,
    registry: String,
    client: LoopbackClient,
    /// `/v2/<repository>/manifests/<tag or digest>`
    path: String,
}

impl DigestResolver {
    fn target<'i>(&self, image: &'i str) -> Result<ManifestTarget<'i>> {
        let reference = ImageReference::parse(image)?;
        let registry = self.registry_for(&reference);
        let client = LoopbackClient::new(&registry, image, self.timeout)?;
        let path = format!(
            "/v2/{}/manifests/{}",
            reference.repository(),
            reference.manifest_reference()
        );
        Ok(ManifestTarget {
            image,
            reference,
            registry,
            client,
            path,
        })
    }
}

impl ManifestTarget<'_> {
    /// A registry error about this image.
    fn fail(&self, message: String) -> Error {
        Error::registry(&self.registry, format!("image {:?}: {message}", self.image))
    }

    /// The client's error, about this image when it is the registry's.
    fn named(&self, e: Error) -> Error {
        match e {
            Error::Registry { message, .. } => self.fail(message),
            other => other,
        }
    }

    /// The manifest's URL, for messages.
    fn url(&self) -> String {
        self.client.url(&self.path).unwrap_or(self.path.clone())
    }
}

impl DigestResolver {
    /// The manifest or index that `image` names, fetched and read as policy-server's registry
    /// client (oci-client's `pull_manifest`) does, through the same mirrors:
    ///
    /// 1. `GET /v2/`, only to look for an authentication challenge (as for a digest);
    /// 2. `GET` the manifest with the OCI/Docker manifest and index media types; its status
    ///    must be 200;
    /// 3. the body must match its `Docker-Content-Digest` header, if any, and the reference's
    ///    digest, if any (sha256, sha384, sha512; another algorithm is an error);
    /// 4. the body is read as [`Manifest::parse`] reads it.
    ///
    /// The answer policy-server gives is [`Manifest::to_answer`] of the result.
    pub fn manifest(&self, image: &str) -> Result<Manifest> {
        let target = self.target(image)?;
        let fail = |msg: String| target.fail(msg);
        let _challenge = target.client.get("/v2/", &[]);
        let res = target
            .client
            .get(&target.path, &[("Accept", MANIFEST_ACCEPT)])
            .map_err(|e| target.named(e))?;
        if res.status != 200 {
            let body = res.text();
            let sep = if body.is_empty() { "" } else { ": " };
            return Err(fail(format!(
                "GET {} answered HTTP {}{sep}{body}",
                target.url(),
                res.status
            )));
        }
        let header = res
            .header("Docker-Content-Digest")
            .filter(|h| !h.is_empty());
        for expected in header.into_iter().chain(target.reference.digest()) {
            let algorithm = expected.split(':').next().unwrap_or_default();
            let actual = digest_with(algorithm, &res.body)
                .ok_or_else(|| fail(format!("unsupported digest algorithm {algorithm:?}")))?;
            if actual != expected {
                return Err(fail(format!(
                    "Invalid digest. Expected {expected}, got {actual}"
                )));
            }
        }
        Manifest::parse(&res.body).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_map_registries() {
        let r = DigestResolver::new()
            .with_mirror_spec("docker.io=127.0.0.1:5000")
            .unwrap();
        let nginx = ImageReference::parse("nginx:1").unwrap();
        assert_eq!(r.registry_for(&nginx), "127.0.0.1:5000");
        let other = ImageReference::parse("ghcr.io/a/b:1").unwrap();
        assert_eq!(r.registry_for(&other), "ghcr.io");
        assert!(DigestResolver::new().with_mirror_spec("docker.io").is_err());
        assert!(
            DigestResolver::new()
                .with_mirror_spec("docker.io=10.0.0.1:5000")
                .is_err()
        );
    }

    #[test]
    fn non_loopback_is_refused_without_traffic() {
        let err = DigestResolver::new()
            .manifest_digest("nginx:1.25")
            .unwrap_err();
        assert!(matches!(err, Error::NotLoopback { .. }), "{err}");
        assert!(err.to_string().contains("docker.io"), "{err}");
    }

    #[test]
    fn manifests_of_other_registries_are_refused_without_traffic() {
        let err = DigestResolver::new().manifest("nginx:1.25").unwrap_err();
        assert!(matches!(err, Error::NotLoopback { .. }), "{err}");
    }

    #[test]
    fn invalid_references_are_errors() {
        let err = DigestResolver::new()
            .manifest_digest("Nginx:1")
            .unwrap_err();
        assert!(err.to_string().contains("Nginx:1"), "{err}");
    }
}
