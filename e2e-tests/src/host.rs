//! The host side of waPC host calls: what policy-server answers when a policy calls
//! `host_call(binding, namespace, operation, payload)`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::resolver::DigestResolver;

/// How long policy-server keeps a successful `manifest_digest` answer.
pub const DIGEST_CACHE_TTL: Duration = Duration::from_secs(60);

/// policy-server's cache of successful digest answers, by image reference: shared by every
/// policy instance of one host (clones share it), entries live [`DIGEST_CACHE_TTL`].
/// Failures are not cached.
#[derive(Clone, Debug)]
pub struct DigestCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<String, (Instant, String)>>>,
}

impl Default for DigestCache {
    fn default() -> Self {
        DigestCache::with_ttl(DIGEST_CACHE_TTL)
    }
}

impl DigestCache {
    pub fn with_ttl(ttl: Duration) -> Self {
        DigestCache {
            ttl,
            entries: Arc::default(),
        }
    }

    /// How long an answer is kept.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A fresh answer for `image`, if there is one.
    pub fn get(&self, image: &str) -> Option<String> {
        let entries = self.entries.lock().ok()?;
        let (at, digest) = entries.get(image)?;
        (at.elapsed() < self.ttl).then(|| digest.clone())
    }

    pub fn put(&self, image: &str, digest: &str) {
        if let Ok(mut e) = self.entries.lock() {
            e.insert(image.to_string(), (Instant::now(), digest.to_string()));
        }
    }

    /// Forgets every answer (a host restarted, or 60 s gone by).
    pub fn clear(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How the host answers host calls and how long it lets a policy run.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Resolves `kubewarden/oci/v1/manifest_digest`.
    pub resolver: DigestResolver,
    /// Print the policy's log events and every host call to stderr.
    pub verbose: bool,
    /// Capabilities refused as policy-server refuses them to a namespaced policy whose
    /// PolicyServer's `namespacedPoliciesCapabilities` leave them out (`oci/v1/manifest_digest`).
    pub denied_capabilities: Vec<String>,
    /// Fault injection for hostile-host tests: answer `manifest_digest` with these bytes
    /// instead of asking the registry (a host that misbehaves; never used to fake a registry).
    pub faulty_digest_answer: Option<Vec<u8>>,
    /// Answer a failed `manifest_digest` as policy-server does, with these lines (anyhow's
    /// `Caused by:` chain, a backtrace) after the registry's error: policy-evaluator answers a
    /// failed callback with `Callback evaluation failure: {e:?}`. `None`: the error alone.
    pub error_trail: Option<String>,
    /// Successful digest answers, kept 60 s as policy-server keeps them; `None`: no cache.
    pub digest_cache: Option<DigestCache>,
    /// policy-server's evaluation limit (`--policy-timeout`, default 2 s) in 1 s epoch ticks:
    /// a call still running after this many ticks is interrupted, so as early as one tick
    /// less. `None` disables it (`--disable-timeout-protection`).
    pub timeout_seconds: Option<u64>,
    /// A fresh instance for every `validate`, as policy-server makes one per request (it
    /// rehydrates the precompiled module, so `wapc_init` runs and nothing the guest kept in
    /// memory survives); `false` keeps one instance, as `kwctl run` and `kwctl bench` do.
    pub instance_per_request: bool,
}

/// policy-server's default evaluation limit, in seconds (1 s epoch ticks).
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 2;

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            resolver: DigestResolver::default(),
            verbose: false,
            denied_capabilities: Vec::new(),
            faulty_digest_answer: None,
            error_trail: None,
            digest_cache: Some(DigestCache::default()),
            timeout_seconds: Some(DEFAULT_TIMEOUT_SECONDS),
            instance_per_request: false,
        }
    }
}

/// One host call the guest made, with the answer it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCall {
    pub binding: String,
    pub namespace: String,
    pub operation: String,
    /// The payload as (lossy) UTF-8 text.
    pub payload: String,
    /// `Ok(answer)` or `Err(message)` as given to the guest.
    pub outcome: Result<String, String>,
}

/// Dispatches host calls and records them.
#[derive(Clone, Debug, Default)]
pub struct Host {
    config: HostConfig,
    calls: Arc<Mutex<Vec<HostCall>>>,
}

impl Host {
    pub fn new(config: HostConfig) -> Self {
        Host {
            config,
            calls: Arc::default(),
        }
    }

    /// How this host answers and how long it lets a policy run.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Every host call made so far, oldest first.
    pub fn calls(&self) -> Vec<HostCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        if let Ok(mut c) = self.calls.lock() {
            c.clear();
        }
    }

    /// Answers one host call: `Ok(bytes)` is the host response, `Err(message)` becomes the
    /// guest's host-call error.
    pub fn dispatch(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        let capability = format!("{namespace}/{operation}");
        let outcome = match (binding, namespace, operation) {
            ("kubewarden", _, _) if self.config.denied_capabilities.contains(&capability) => {
                Err(format!(
                    "Policy has not been granted access to the '{capability}' host capability. \
                     The violation has been reported."
                ))
            }
            ("kubewarden", "oci", "v1/manifest_digest") => self.manifest_digest(payload),
            ("kubewarden", "tracing", "log") => {
                self.log(payload);
                Ok(Vec::new())
            }
            ("kubewarden", "oci" | "tracing", _) => Err(format!("unknown operation: {operation}")),
            ("kubewarden", _, _) => Err(format!("unknown namespace: {namespace}")),
            _ => Err(format!("unknown binding: {binding}")),
        };
        let record = HostCall {
            binding: binding.to_string(),
            namespace: namespace.to_string(),
            operation: operation.to_string(),
            payload: String::from_utf8_lossy(payload).into_owned(),
            outcome: outcome
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .map_err(Clone::clone),
        };
        if self.config.verbose && !(namespace == "tracing" && operation == "log") {
            eprintln!(
                "[host call] {binding}/{namespace}/{operation} {} -> {:?}",
                record.payload, record.outcome
            );
        }
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(record);
        }
        outcome
    }

    fn manifest_digest(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let image: String = serde_json::from_slice(payload).map_err(|e| {
            format!("manifest_digest: the payload must be a JSON string (the image reference): {e}")
        })?;
        if let Some(answer) = &self.config.faulty_digest_answer {
            return Ok(answer.clone());
        }
        let cache = self.config.digest_cache.as_ref();
        let digest = match cache.and_then(|c| c.get(&image)) {
            Some(digest) => digest,
            None => {
                let digest =
                    self.config.resolver.manifest_digest(&image).map_err(|e| {
                        match &self.config.error_trail {
                            Some(trail) => format!("Callback evaluation failure: {e}\n\n{trail}"),
                            None => e.to_string(),
                        }
                    })?;
                if let Some(c) = cache {
                    c.put(&image, &digest);
                }
                digest
            }
        };
        serde_json::to_vec(&serde_json::json!({ "digest": digest })).map_err(|e| e.to_string())
    }

    fn log(&self, payload: &[u8]) {
        if !self.config.verbose {
            return;
        }
        match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(event) => {
                let level = event
                    .get("level")
                    .and_then(|l| l.as_str())
                    .unwrap_or("info");
                let message = event.get("message").and_then(|m| m.as_str()).unwrap_or("");
                let data = event.get("data").map(|d| d.to_string()).unwrap_or_default();
                eprintln!("[policy {level}] {message} {data}");
            }
            Err(_) => eprintln!("[policy log] {}", String::from_utf8_lossy(payload)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_calls_are_errors() {
        let host = Host::default();
        let err = host
            .dispatch("kubewarden", "oci", "v9/nope", b"\"x\"")
            .unwrap_err();
        assert!(err.contains("unknown operation"), "{err}");
        let err = host
            .dispatch("kubewarden", "net", "v1/dns_lookup_host", b"\"x\"")
            .unwrap_err();
        assert!(err.contains("unknown namespace"), "{err}");
        let err = host
            .dispatch("other", "oci", "v1/manifest_digest", b"\"x\"")
            .unwrap_err();
        assert!(err.contains("unknown binding"), "{err}");
        assert_eq!(host.calls().len(), 3);
    }

    #[test]
    fn log_calls_answer_empty() {
        let host = Host::default();
        let event = br#"{"level":"info","message":"hello","data":{}}"#;
        assert_eq!(
            host.dispatch("kubewarden", "tracing", "log", event),
            Ok(vec![])
        );
    }

    #[test]
    fn manifest_digest_needs_a_json_string() {
        let host = Host::default();
        let err = host
            .dispatch("kubewarden", "oci", "v1/manifest_digest", b"nginx:1")
            .unwrap_err();
        assert!(err.contains("JSON string"), "{err}");
        let err = host
            .dispatch(
                "kubewarden",
                "oci",
                "v1/manifest_digest",
                b"\"ghcr.io/a/b:1\"",
            )
            .unwrap_err();
        assert!(
            err.contains("ghcr.io/a/b:1") && err.contains("loopback"),
            "{err}"
        );
    }
}
