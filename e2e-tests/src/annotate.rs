//! The policy's metadata as `kwctl annotate` writes it into the module and as `kwctl push`
//! turns it into the manifest's annotations, so that the release path (annotate, push, pull,
//! evaluate) can run in `make check` without kwctl. The release workflow itself uses kwctl.
//!
//! What kwctl does (kwctl `annotate.rs`, `push.rs`; policy-evaluator `policy_metadata.rs`):
//! - annotate: `metadata.yml` with `protocolVersion` set from the module's `protocol_version`
//!   answer and the usage file (the README) as `io.kubewarden.policy.usage`, serialized as
//!   JSON into the custom section `io.kubewarden.metadata` (kwctl also adds
//!   `io.kubewarden.kwctl` with its own version, which a stand-in has no business claiming);
//! - push: the manifest's annotations are the metadata's annotations that fit on one line
//!   (trimmed; the OCI spec has no multi-line values, so the usage text is left out), plus
//!   `org.opencontainers.image.source` from `io.kubewarden.policy.source` unless already set.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use wasm_encoder::{CustomSection, Section};
use wasmparser::{Parser, Payload};

use crate::error::{Error, Result};

/// The custom section kwctl annotate writes and policy-server reads.
pub const METADATA_SECTION: &str = "io.kubewarden.metadata";
/// The usage text (`kwctl annotate -u README.md`).
pub const USAGE_ANNOTATION: &str = "io.kubewarden.policy.usage";
/// The policy's source repository.
pub const SOURCE_ANNOTATION: &str = "io.kubewarden.policy.source";
/// The OCI annotation `kwctl push` derives from [`SOURCE_ANNOTATION`].
pub const OCI_SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";

fn invalid(message: impl std::fmt::Display) -> Error {
    Error::invalid("policy metadata", message)
}

/// `metadata.yml` (YAML text) checked as kwctl annotate checks it and completed as it
/// completes it: `protocolVersion`, and `usage` as [`USAGE_ANNOTATION`].
pub fn prepare_metadata(
    metadata_yaml: &str,
    usage: Option<&str>,
    protocol_version: &str,
) -> Result<Value> {
    let mut metadata: Value = serde_norway::from_str(metadata_yaml).map_err(invalid)?;
    let fields = metadata
        .as_object_mut()
        .ok_or_else(|| invalid("metadata.yml is not a mapping"))?;
    let rules_ok = fields
        .get("rules")
        .and_then(Value::as_array)
        .is_some_and(|rules| !rules.is_empty());
    if !rules_ok {
        return Err(invalid("`rules` must be a non-empty list"));
    }
    if !fields.get("mutating").is_some_and(Value::is_boolean) {
        return Err(invalid("`mutating` must be true or false"));
    }
    let annotations = fields
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| invalid("`annotations` is not a mapping"))?;
    if let Some((key, _)) = annotations.iter().find(|(_, v)| !v.is_string()) {
        return Err(invalid(format!("annotation {key:?} is not a string")));
    }
    if let Some(usage) = usage {
        annotations.insert(USAGE_ANNOTATION.into(), Value::String(usage.into()));
    }
    fields.insert(
        "protocolVersion".into(),
        Value::String(protocol_version.into()),
    );
    Ok(metadata)
}

/// `wasm` with `metadata` in its [`METADATA_SECTION`] custom section (appended; a module
/// that already has one is refused, as a second would be ignored by readers).
pub fn annotate(wasm: &[u8], metadata: &Value) -> Result<Vec<u8>> {
    if read_metadata(wasm)?.is_some() {
        return Err(invalid(format!(
            "the module already has a {METADATA_SECTION} section"
        )));
    }
    let data = serde_json::to_vec(metadata).map_err(invalid)?;
    let mut out = wasm.to_vec();
    CustomSection {
        name: METADATA_SECTION.into(),
        data: data.into(),
    }
    .append_to(&mut out);
    Ok(out)
}

/// The metadata in `wasm`'s [`METADATA_SECTION`], if it has one (as policy-evaluator reads
/// it: the first such section).
pub fn read_metadata(wasm: &[u8]) -> Result<Option<Value>> {
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| Error::invalid("wasm module", e))?;
        if let Payload::CustomSection(section) = payload
            && section.name() == METADATA_SECTION
        {
            return serde_json::from_slice(section.data())
                .map(Some)
                .map_err(invalid);
        }
    }
    Ok(None)
}

/// The manifest annotations `kwctl push` writes for a policy with `metadata`.
pub fn oci_annotations(metadata: &Value) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = metadata["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k, v.as_str()?)))
        .filter(|(_, v)| v.lines().count() <= 1)
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .collect();
    if let Some(source) = out.get(SOURCE_ANNOTATION).cloned() {
        out.entry(OCI_SOURCE_ANNOTATION.into()).or_insert(source);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = "rules:\n  - apiGroups: [\"\"]\n    apiVersions: [v1]\n    \
        resources: [pods]\n    operations: [CREATE]\nmutating: true\nannotations:\n  \
        io.kubewarden.policy.title: t\n  io.kubewarden.policy.source: https://example.com/s\n";

    /// The smallest valid module: magic and version.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn metadata_is_completed_like_kwctl_annotate_does() {
        let m = prepare_metadata(METADATA, Some("# Usage\n\ntext\n"), "v1").unwrap();
        assert_eq!(m["protocolVersion"], "v1");
        assert_eq!(m["mutating"], true);
        assert_eq!(m["annotations"][USAGE_ANNOTATION], "# Usage\n\ntext\n");
        assert_eq!(m["annotations"]["io.kubewarden.policy.title"], "t");
    }

    #[test]
    fn bad_metadata_is_refused_with_the_reason() {
        for (yaml, reason) in [
            ("mutating: true\n", "`rules` must be a non-empty list"),
            (
                "rules: []\nmutating: true\n",
                "`rules` must be a non-empty list",
            ),
            ("rules: [{}]\n", "`mutating` must be true or false"),
            (
                "rules: [{}]\nmutating: yes please\n",
                "`mutating` must be true or false",
            ),
            (
                "rules: [{}]\nmutating: false\nannotations: [a]\n",
                "is not a mapping",
            ),
            (
                "rules: [{}]\nmutating: false\nannotations: {a: {b: c}}\n",
                "\"a\" is not a string",
            ),
            ("- a\n", "not a mapping"),
            ("rules: [\n", "policy metadata"),
        ] {
            let msg = prepare_metadata(yaml, None, "v1").unwrap_err().to_string();
            assert!(msg.contains(reason), "{yaml:?}: {msg}");
        }
    }

    #[test]
    fn annotate_then_read_gives_the_metadata_back() {
        let m = prepare_metadata(METADATA, None, "v1").unwrap();
        assert_eq!(read_metadata(EMPTY_MODULE).unwrap(), None);
        let annotated = annotate(EMPTY_MODULE, &m).unwrap();
        assert!(annotated.starts_with(EMPTY_MODULE));
        assert_eq!(read_metadata(&annotated).unwrap(), Some(m.clone()));
        let again = annotate(&annotated, &m).unwrap_err().to_string();
        assert!(again.contains("already has"), "{again}");
        let msg = read_metadata(b"not wasm").unwrap_err().to_string();
        assert!(msg.contains("wasm module"), "{msg}");
    }

    #[test]
    fn push_annotations_are_the_single_line_ones_plus_the_oci_source() {
        let m = prepare_metadata(METADATA, Some("line one\nline two\n"), "v1").unwrap();
        let a = oci_annotations(&m);
        assert_eq!(
            a,
            BTreeMap::from([
                ("io.kubewarden.policy.title".into(), "t".into()),
                (SOURCE_ANNOTATION.into(), "https://example.com/s".into()),
                (OCI_SOURCE_ANNOTATION.into(), "https://example.com/s".into()),
            ])
        );
        // A usage text of one line stays, trimmed; an explicit OCI source is kept.
        let mut m = prepare_metadata(METADATA, Some("  one line \n"), "v1").unwrap();
        m["annotations"][OCI_SOURCE_ANNOTATION] = "https://example.com/other".into();
        let a = oci_annotations(&m);
        assert_eq!(a[USAGE_ANNOTATION], "one line");
        assert_eq!(a[OCI_SOURCE_ANNOTATION], "https://example.com/other");
    }
}
