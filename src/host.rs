//! The Kubewarden host capabilities the policy calls ([`Host`]): `oci/v1/manifest_digest` and
//! `oci/v1/oci_manifest` to pin (`pin.rs`), and `kubernetes/list_resources_by_namespace` for
//! the replicas of a Pod's controller (`replicas.rs`). [`HostCapability`] makes them over waPC;
//! the tests give hosts of their own. A failed call's text is the host's first cause, on one
//! line.

use std::time::Instant;

use kubewarden_policy_sdk::Error as SdkError;

/// The host calls the policy makes. A host that refuses or fails one answers with an error,
/// and the policy goes on without its answer: a failed lookup, or no replicas.
pub trait Host {
    /// `oci/v1/manifest_digest`: the digest the registry serves for `image`.
    fn manifest_digest(&self, image: &str) -> Result<String, String>;

    /// `oci/v1/oci_manifest`: the manifest the registry serves for `image` (an image manifest
    /// or an index), as the host's JSON text.
    fn oci_manifest(&self, image: &str) -> Result<Vec<u8>, String> {
        Err(format!("this host does not serve {OCI_MANIFEST} ({image})"))
    }

    /// `kubernetes/list_resources_by_namespace`: the host's JSON text of the list.
    fn list_resources_by_namespace(
        &self,
        request: &ListResourcesByNamespaceRequest,
    ) -> Result<Vec<u8>, String> {
        let _ = request;
        Err(format!("this host does not serve {LIST_RESOURCES}"))
    }

    /// The monotonic clock the pin budget is measured with: in the policy, WASI's
    /// `clock_time_get(MONOTONIC)`; tests give a clock of their own.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The Kubewarden host over waPC: policy-server (or kwctl) asks the registry and the API
/// server. A namespaced policy can be denied these capabilities (policy-server's
/// `namespacedPoliciesCapabilities`; context-aware calls, always); the host then answers with
/// an error.
pub struct HostCapability;

impl Host for HostCapability {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        let answer = kubewarden_policy_sdk::host_capabilities::oci::get_manifest_digest(image);
        answer.map(|r| r.digest).map_err(|e| {
            let text = match e {
                SdkError::HostCall { source, .. } => source.to_string(),
                other => other.to_string(),
            };
            host_failure(MANIFEST_DIGEST, image, &text)
        })
    }

    fn oci_manifest(&self, image: &str) -> Result<Vec<u8>, String> {
        let request = serde_json::to_vec(image).map_err(|e| e.to_string())?;
        wapc_guest::host_call("kubewarden", "oci", "v1/oci_manifest", &request)
            .map_err(|e| host_failure(OCI_MANIFEST, image, &e.to_string()))
    }

    fn list_resources_by_namespace(
        &self,
        request: &ListResourcesByNamespaceRequest,
    ) -> Result<Vec<u8>, String> {
        let payload = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        wapc_guest::host_call(
            "kubewarden",
            "kubernetes",
            "list_resources_by_namespace",
            &payload,
        )
        .map_err(|e| host_failure(LIST_RESOURCES, &request.namespace, &e.to_string()))
    }
}

/// The request of `kubernetes/list_resources_by_namespace`, as SDK 0.17 writes it
/// (`host_capabilities::kubernetes::ListResourcesByNamespaceRequest`).
#[derive(Debug, serde::Serialize)]
pub struct ListResourcesByNamespaceRequest {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub field_masks: Option<Vec<String>>,
}

pub const MANIFEST_DIGEST: &str = "oci/v1/manifest_digest";
pub const OCI_MANIFEST: &str = "oci/v1/oci_manifest";
pub const LIST_RESOURCES: &str = "kubernetes/list_resources_by_namespace";

/// The longest part of a host's error a violation carries, in characters.
const HOST_CAUSE_MAX_CHARS: usize = 200;

/// A failed host call about `subject` (an image, a namespace), from the host's error (waPC's
/// prefix taken off): its first cause on one line, and the whole error, when that is more, in
/// the log. policy-evaluator answers a failed callback with `Callback evaluation failure:
/// {e:?}`, anyhow's whole chain (`Caused by:`, `0: …`, and a backtrace when it runs with
/// RUST_BACKTRACE set), which made one violation many lines.
fn host_failure(call: &str, subject: &str, host_error: &str) -> String {
    let host_error = host_error
        .strip_prefix("Host error: ")
        .unwrap_or(host_error);
    let cause = first_cause(host_error);
    if cause != host_error {
        crate::log::warn(&format!("{call} failed for {subject:?}: {host_error}"));
    }
    if call == LIST_RESOURCES {
        format!("the host could not list them through {call} ({cause})")
    } else {
        format!("the host could not resolve it through {call} ({cause})")
    }
}

/// The first line of a host's error (before `Caused by:` or a backtrace, even on the same
/// line), with control characters and runs of whitespace made one space, and cut to
/// [`HOST_CAUSE_MAX_CHARS`] characters, the cut marked with `…`.
fn first_cause(host_error: &str) -> String {
    let line = host_error
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let line = ["Caused by:", "Stack backtrace:"]
        .iter()
        .fold(line, |l, marker| l.split(marker).next().unwrap_or(l));
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let cause = words.join(" ");
    if cause.is_empty() {
        return "the host gave no reason".to_owned();
    }
    if cause.chars().count() <= HOST_CAUSE_MAX_CHARS {
        return cause;
    }
    let kept: String = cause.chars().take(HOST_CAUSE_MAX_CHARS - 1).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What policy-evaluator answers when the registry fails: its callback error's `{:?}`,
    /// anyhow's chain and, under RUST_BACKTRACE, a backtrace.
    const POLICY_SERVER_ERROR: &str = "Callback evaluation failure: Fail to interact with OCI \
        registry: Registry error: url https://registry.example.com/v2/app/manifests/1.0, \
        envelope: OCI API errors: [OCI API error: manifest unknown]

Caused by:
    0: Registry error: url https://registry.example.com/v2/app/manifests/1.0, envelope: OCI API errors: [OCI API error: manifest unknown]
    1: OCI API errors: [OCI API error: manifest unknown]
    2: manifest unknown
    3: HTTP status client error (404 Not Found)

Stack backtrace:
   0: anyhow::error::<impl core::convert::From<E> for anyhow::Error>::from
             at /cargo/registry/src/anyhow-1.0.98/src/backtrace.rs:27:14
   1: policy_evaluator::callback_handler::oci::get_oci_digest_cached::{{closure}}
   2: tokio::runtime::task::core::Core<T,S>::poll
   3: std::sys::pal::unix::thread::Thread::new::thread_start
";

    /// The failed host call's text as waPC hands it over.
    fn failed_host_call(host_error: &str) -> String {
        wapc_guest::errors::new(wapc_guest::errors::ErrorKind::HostError(host_error.into()))
            .to_string()
    }

    /// policy-server behind `HostCapability`: every lookup fails with `POLICY_SERVER_ERROR`.
    struct FailingPolicyServer;
    impl Host for FailingPolicyServer {
        fn manifest_digest(&self, image: &str) -> Result<String, String> {
            Err(host_failure(
                MANIFEST_DIGEST,
                image,
                &failed_host_call(POLICY_SERVER_ERROR),
            ))
        }
    }

    #[test]
    fn a_failed_pin_is_one_line_per_violation() {
        let payload = r#"{"request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},
            "operation":"CREATE","userInfo":{"username":"alice"},
            "object":{"spec":{"containers":[
                {"name":"a","image":"registry.example.com/app:1.0","imagePullPolicy":"Always"},
                {"name":"b","image":"registry.example.com/db:2.0","imagePullPolicy":"Always"}]}}},
            "settings":{"pinImmutableTags":true}}"#;
        let r = crate::evaluate::validate(payload.as_bytes(), &FailingPolicyServer);
        assert!(!r.accepted);
        let m = r.message.unwrap();
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines.len(), 2, "{m}");
        for (line, image) in lines.iter().zip(["app:1.0", "db:2.0"]) {
            assert!(line.contains(image), "{line}");
            assert!(
                line.contains("manifest_digest (Callback evaluation failure: Fail to interact"),
                "{line}"
            );
        }
        assert!(!m.contains("Caused by") && !m.contains("backtrace"), "{m}");
    }

    #[test]
    fn a_host_error_becomes_its_first_cause_on_one_line() {
        let m = host_failure(
            MANIFEST_DIGEST,
            "registry.example.com/app:1.0",
            &failed_host_call(POLICY_SERVER_ERROR),
        );
        assert_eq!(
            m,
            "the host could not resolve it through oci/v1/manifest_digest (Callback evaluation \
             failure: Fail to interact with OCI registry: Registry error: url \
             https://registry.example.com/v2/app/manifests/1.0, envelope: OCI API errors: [OCI \
             API error: manifest unknown])"
        );
        assert!(!m.contains('\n'));
    }

    #[rstest::rstest]
    #[case::chain_on_one_line("registry down Caused by: 0: refused", "registry down")]
    #[case::backtrace_on_one_line("registry down Stack backtrace: 0: x", "registry down")]
    #[case::leading_blank_lines("\n \n  registry down\n\nCaused by:\n  x", "registry down")]
    #[case::whitespace_and_controls("a\t\tb \u{1b}[31m c\r", "a b [31m c")]
    #[case::nothing(" \n\nCaused by:\n    0: x", "the host gave no reason")]
    fn a_first_cause_is_one_clean_line(#[case] host_error: &str, #[case] cause: &str) {
        assert_eq!(first_cause(host_error), cause);
    }

    #[test]
    fn a_long_first_cause_is_cut_at_200_characters() {
        let exactly = "é".repeat(HOST_CAUSE_MAX_CHARS);
        assert_eq!(first_cause(&exactly), exactly);
        let cut = first_cause(&format!("{exactly}x\nCaused by: y"));
        assert_eq!(cut.chars().count(), HOST_CAUSE_MAX_CHARS);
        assert_eq!(cut, format!("{}…", "é".repeat(HOST_CAUSE_MAX_CHARS - 1)));
    }
}
