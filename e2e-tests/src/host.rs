//! The host side of waPC host calls: what policy-server answers when a policy calls
//! `host_call(binding, namespace, operation, payload)`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cluster::{ClusterState, ListRequest};
use crate::context_aware::{self, ContextAwareResource};
use crate::resolver::DigestResolver;

/// How long policy-server keeps a successful `manifest_digest` or `oci_manifest` answer.
pub const DIGEST_CACHE_TTL: Duration = Duration::from_secs(60);

/// One of policy-server's caches of successful OCI answers (`manifest_digest`'s digests,
/// `oci_manifest`'s manifests), by image reference: shared by every policy instance of one
/// host (clones share it), entries live [`DIGEST_CACHE_TTL`]. Failures are not cached.
#[derive(Clone, Debug)]
pub struct AnswerCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<String, (Instant, String)>>>,
}

/// The cache of `manifest_digest` answers (digests).
pub type DigestCache = AnswerCache;

impl Default for AnswerCache {
    fn default() -> Self {
        AnswerCache::with_ttl(DIGEST_CACHE_TTL)
    }
}

impl AnswerCache {
    pub fn with_ttl(ttl: Duration) -> Self {
        AnswerCache {
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
        let (at, answer) = entries.get(image)?;
        (at.elapsed() < self.ttl).then(|| answer.clone())
    }

    pub fn put(&self, image: &str, answer: &str) {
        if let Ok(mut e) = self.entries.lock() {
            e.insert(image.to_string(), (Instant::now(), answer.to_string()));
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
    /// Resolves `kubewarden/oci/v1/manifest_digest` and fetches `oci/v1/oci_manifest`.
    pub resolver: DigestResolver,
    /// Print the policy's log events and every host call to stderr.
    pub verbose: bool,
    /// Capabilities refused as policy-server refuses them to a namespaced policy whose
    /// PolicyServer's `namespacedPoliciesCapabilities` leave them out (`oci/v1/manifest_digest`,
    /// `oci/v1/oci_manifest`, `kubernetes/list_resources_by_namespace`).
    pub denied_capabilities: Vec<String>,
    /// Fault injection for hostile-host tests: answer `manifest_digest` with these bytes
    /// instead of asking the registry (a host that misbehaves; never used to fake a registry).
    pub faulty_digest_answer: Option<Vec<u8>>,
    /// Answer a failed `manifest_digest`, `oci_manifest` or list call as policy-server does,
    /// with these lines (anyhow's `Caused by:` chain, a backtrace) after the error:
    /// policy-evaluator answers a failed callback with `Callback evaluation failure: {e:?}`.
    /// `None`: the error alone.
    pub error_trail: Option<String>,
    /// Successful digest answers, kept 60 s as policy-server keeps them; `None`: no cache.
    pub digest_cache: Option<DigestCache>,
    /// Successful `oci_manifest` answers, kept 60 s as policy-server keeps them; `None`: no
    /// cache.
    pub manifest_cache: Option<AnswerCache>,
    /// The Kubernetes objects `kubernetes/list_resources_by_namespace` lists (`kwrun
    /// --cluster-state`; [`crate::cluster`]). Empty by default.
    pub cluster: ClusterState,
    /// The Kubernetes resources the policy may read (policy-evaluator's context-aware allow
    /// list: exact `apiVersion` and `kind`; [`crate::context_aware`]). A call for any other
    /// is refused with [`context_aware::refusal`]. None by default, so every call is.
    pub context_aware_resources: BTreeSet<ContextAwareResource>,
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
            manifest_cache: Some(AnswerCache::default()),
            cluster: ClusterState::default(),
            context_aware_resources: BTreeSet::new(),
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
            ("kubewarden", "oci", "v1/oci_manifest") => self.oci_manifest(payload),
            ("kubewarden", "kubernetes", "list_resources_by_namespace") => {
                self.list_resources_by_namespace(payload)
            }
            ("kubewarden", "kubernetes", "list_resources_all" | "get_resource" | "can_i") => {
                Err(format!(
                    "this host does not serve kubernetes/{operation} (policy-server does); \
                     it serves list_resources_by_namespace"
                ))
            }
            ("kubewarden", "tracing", "log") => {
                self.log(payload);
                Ok(Vec::new())
            }
            ("kubewarden", "oci" | "tracing" | "kubernetes", _) => {
                Err(format!("unknown operation: {operation}"))
            }
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
                "[host call] {binding}/{namespace}/{operation} {} -> {}",
                record.payload,
                abbreviated(&format!("{:?}", record.outcome))
            );
        }
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(record);
        }
        outcome
    }

    /// An error of the callback handler (the registry's, the cluster's) as the guest gets it.
    fn callback_failure(&self, error: impl std::fmt::Display) -> String {
        match &self.config.error_trail {
            Some(trail) => format!("Callback evaluation failure: {error}\n\n{trail}"),
            None => error.to_string(),
        }
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
                let digest = (self.config.resolver.manifest_digest(&image))
                    .map_err(|e| self.callback_failure(e))?;
                if let Some(c) = cache {
                    c.put(&image, &digest);
                }
                digest
            }
        };
        serde_json::to_vec(&serde_json::json!({ "digest": digest })).map_err(|e| e.to_string())
    }

    /// `oci/v1/oci_manifest`: the manifest `image` names, as policy-server answers it
    /// ([`crate::manifest`]), kept like digests.
    fn oci_manifest(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let image: String = serde_json::from_slice(payload).map_err(|e| {
            format!("oci_manifest: the payload must be a JSON string (the image reference): {e}")
        })?;
        let cache = self.config.manifest_cache.as_ref();
        if let Some(answer) = cache.and_then(|c| c.get(&image)) {
            return Ok(answer.into_bytes());
        }
        let manifest =
            (self.config.resolver.manifest(&image)).map_err(|e| self.callback_failure(e))?;
        let answer = manifest.to_answer();
        if let (Some(c), Ok(text)) = (cache, std::str::from_utf8(&answer)) {
            c.put(&image, text);
        }
        Ok(answer)
    }

    /// `kubernetes/list_resources_by_namespace`: the request is read, then checked against
    /// the granted resources (policy-evaluator's order), then listed from the cluster state.
    fn list_resources_by_namespace(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let request = ListRequest::parse(payload)?;
        let wanted = ContextAwareResource::new(&request.api_version, &request.kind);
        if !self.config.context_aware_resources.contains(&wanted) {
            return Err(context_aware::refusal(&request.api_version, &request.kind));
        }
        (self.config.cluster)
            .list_by_namespace(&request)
            .map_err(|e| self.callback_failure(e))
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

/// Longest answer `verbose` prints whole (a list of many Pods is megabytes).
const VERBOSE_ANSWER: usize = 2000;

/// `text`, cut after [`VERBOSE_ANSWER`] bytes with how long it was.
fn abbreviated(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= VERBOSE_ANSWER {
        return text.into();
    }
    let mut end = VERBOSE_ANSWER;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len()).into()
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
    fn long_answers_are_abbreviated_for_people() {
        assert_eq!(abbreviated("short"), "short");
        let long = "é".repeat(VERBOSE_ANSWER);
        let cut = abbreviated(&long);
        assert!(
            cut.ends_with(&format!("... ({} bytes)", long.len())),
            "{cut}"
        );
        assert!(cut.len() < VERBOSE_ANSWER + 30);
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
