//! The one place that sends HTTP: plain HTTP to loopback addresses only, no proxy,
//! no redirects, bounded timeouts. Every request of the crate goes through [`LoopbackClient`].

use std::net::IpAddr;
use std::time::Duration;

use ureq::Agent;
use ureq::http::Response;

use crate::error::{Error, Result};
use crate::reference::host_without_port;

/// Media types a registry client accepts for a manifest (OCI and Docker, single and multi-arch).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// Largest body the harness reads (a policy wasm is a few MiB).
const MAX_BODY: u64 = 256 * 1024 * 1024;

/// True for `localhost`, `127.0.0.0/8` and `::1`, with or without a port or brackets.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = host_without_port(registry);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An HTTP response reduced to what the harness needs.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text, for error messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }

    /// The response if it has `status`; otherwise an error of `registry` saying that
    /// `request` (e.g. `GET /v2/app/manifests/1`) answered another status, and its body.
    pub fn expect(self, status: u16, registry: &str, request: &str) -> Result<HttpResponse> {
        if self.status == status {
            return Ok(self);
        }
        let body = self.text();
        let sep = if body.is_empty() { "" } else { ": " };
        Err(Error::registry(
            registry,
            format!("{request} answered HTTP {}{sep}{body}", self.status),
        ))
    }
}

/// A blocking HTTP client bound to one loopback registry (`host[:port]`).
#[derive(Clone)]
pub struct LoopbackClient {
    registry: String,
    base: String,
    agent: Agent,
}

impl std::fmt::Debug for LoopbackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackClient")
            .field("base", &self.base)
            .finish()
    }
}

impl LoopbackClient {
    /// A client for `registry` (`host[:port]`); refuses anything that is not loopback.
    /// `localhost` is contacted as `127.0.0.1` so name resolution can't send traffic elsewhere.
    pub fn new(registry: &str, image: &str, timeout: Duration) -> Result<Self> {
        if !is_loopback_registry(registry) {
            return Err(Error::NotLoopback {
                registry: registry.to_string(),
                image: image.to_string(),
            });
        }
        let authority = match registry.split_once(':') {
            Some((h, port)) if h.eq_ignore_ascii_case("localhost") => format!("127.0.0.1:{port}"),
            _ if registry.eq_ignore_ascii_case("localhost") => "127.0.0.1".to_string(),
            _ => registry.to_string(),
        };
        let agent: Agent = Agent::config_builder()
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Ok(LoopbackClient {
            registry: registry.to_string(),
            base: format!("http://{authority}"),
            agent,
        })
    }

    /// The registry this client talks to, as given.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `http://host:port`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Turns a path (`/v2/...`) or an absolute URL returned by the registry (a `Location`
    /// header) into a URL on this same loopback registry; anything else is refused.
    pub fn url(&self, path_or_url: &str) -> Result<String> {
        if path_or_url.starts_with('/') {
            return Ok(format!("{}{}", self.base, path_or_url));
        }
        let rest = path_or_url.strip_prefix("http://").ok_or_else(|| {
            Error::registry(&self.registry, format!("unexpected URL {path_or_url:?}"))
        })?;
        let authority = rest.split('/').next().unwrap_or_default();
        if !is_loopback_registry(authority) {
            return Err(Error::registry(
                &self.registry,
                format!("refusing to follow {path_or_url:?}: not a loopback address"),
            ));
        }
        Ok(path_or_url.to_string())
    }

    fn finish(
        &self,
        what: &str,
        res: Result<Response<ureq::Body>, ureq::Error>,
    ) -> Result<HttpResponse> {
        let mut res = res.map_err(|e| {
            Error::registry(
                &self.registry,
                format!("{what}: cannot connect to {}: {e}", self.base),
            )
        })?;
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let status = res.status().as_u16();
        let body = res
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| {
                Error::registry(&self.registry, format!("{what}: reading the body: {e}"))
            })?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// `HEAD` with extra headers.
    pub fn head(&self, path: &str, headers: &[(&str, &str)]) -> Result<HttpResponse> {
        let url = self.url(path)?;
        let mut req = self.agent.head(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(&format!("HEAD {url}"), req.call())
    }

    /// `GET` with extra headers.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<HttpResponse> {
        let url = self.url(path)?;
        let mut req = self.agent.get(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(&format!("GET {url}"), req.call())
    }

    /// `POST` with an empty body.
    pub fn post_empty(&self, path: &str) -> Result<HttpResponse> {
        let url = self.url(path)?;
        self.finish(&format!("POST {url}"), self.agent.post(&url).send_empty())
    }

    /// `PUT` of `body` with the given content type.
    pub fn put(&self, path: &str, content_type: &str, body: &[u8]) -> Result<HttpResponse> {
        let url = self.url(path)?;
        let req = self.agent.put(&url).header("Content-Type", content_type);
        self.finish(&format!("PUT {url}"), req.send(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for ok in [
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.1.2.3:1",
            "localhost",
            "localhost:5000",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(is_loopback_registry(ok), "{ok}");
        }
        for no in [
            "docker.io",
            "10.0.0.1:5000",
            "192.168.1.1",
            "[::2]:5000",
            "localhost.example.com",
            "registry:5000",
        ] {
            assert!(!is_loopback_registry(no), "{no}");
        }
    }

    #[test]
    fn refuses_non_loopback() {
        let t = Duration::from_secs(1);
        assert!(matches!(
            LoopbackClient::new("ghcr.io", "ghcr.io/a/b:1", t),
            Err(Error::NotLoopback { .. })
        ));
        let c = LoopbackClient::new("localhost:5000", "x", t).unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:5000");
        assert!(c.url("http://example.com/v2/").is_err());
        assert!(c.url("https://127.0.0.1:5000/v2/").is_err());
        assert_eq!(c.url("/v2/").unwrap(), "http://127.0.0.1:5000/v2/");
    }
}
