//! The answer to `kubewarden/oci/v1/oci_manifest`: the manifest the registry serves, read and
//! written again as policy-server does.
//!
//! policy-server pulls the manifest with oci-client (`pull_manifest`), which checks it
//! (`schemaVersion` 2; a `mediaType`, if any, one of the OCI and Docker manifest and index
//! types) and reads it into oci-client's `OciManifest`, an untagged enum tried as an image
//! manifest first (it needs `config` and `layers`), then as an index (`manifests`); the
//! callback handler answers with that value serialized again (`policy-evaluator
//! callback_handler/oci.rs`, `handle_callback!`). So the answer is not the registry's bytes:
//!
//! - an image manifest is `schemaVersion`, `mediaType` (if the registry's had one), `config`,
//!   `layers`, then `subject`, `artifactType` and `annotations` if present;
//! - an index is `schemaVersion`, `mediaType` (if present), `manifests`, then `artifactType`
//!   and `annotations` if present;
//! - a descriptor is `mediaType`, `digest`, `size`, then `urls`, `annotations`,
//!   `artifactType` if present; an index entry `mediaType`, `digest`, `size`, then
//!   `platform`, `annotations`, `artifactType` if present; a platform `architecture`, `os`,
//!   then `os.version`, `os.features`, `variant`, `features` if present;
//! - any other field is dropped, and the keys come in that order, not the registry's.
//!
//! One more of oci-spec's readings shows through: the architecture `armbe` is read as
//! `arm64be` (oci-spec 0.9's `Arch::from`), and so written back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The media types oci-client accepts in a manifest's `mediaType`.
const ACCEPTED_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
];

/// An image manifest or an image index, as oci-client's `OciManifest` reads and writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<IndexEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(deserialize_with = "architecture")]
    pub architecture: String,
    pub os: String,
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", skip_serializing_if = "Option::is_none")]
    pub os_features: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
}

/// An architecture as oci-spec reads it (see the module's documentation).
fn architecture<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let arch = String::deserialize(d)?;
    Ok(if arch == "armbe" {
        "arm64be".to_string()
    } else {
        arch
    })
}

/// The first fields of any manifest, checked before it is read (oci-client's `Versioned`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Versioned {
    schema_version: i32,
    media_type: Option<String>,
}

impl Manifest {
    /// Reads a manifest's bytes as oci-client's `pull_manifest` does; the error says why not,
    /// in oci-client's words.
    pub fn parse(body: &[u8]) -> Result<Manifest, String> {
        let versioned: Versioned =
            serde_json::from_slice(body).map_err(|e| format!("Failed to parse manifest: {e}"))?;
        if versioned.schema_version != 2 {
            return Err(format!(
                "Unsupported schema version: {}",
                versioned.schema_version
            ));
        }
        if let Some(media_type) = versioned.media_type
            && !ACCEPTED_MEDIA_TYPES.contains(&media_type.as_str())
        {
            return Err(format!("Unsupported media type: {media_type}"));
        }
        serde_json::from_slice(body)
            .map_err(|e| format!("Failed to parse manifest as Versioned object: {e}"))
    }

    /// The answer's JSON text.
    pub fn to_answer(&self) -> Vec<u8> {
        // Strings, numbers, lists and maps of strings only: writing them cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":10,"platform":{"os":"linux","architecture":"armbe","extra":1}}],"extra":true}"#;
    const IMAGE: &str = r#"{"schemaVersion":2,"layers":[{"size":3,"digest":"sha256:bb","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip"}],"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:cc","size":5},"annotations":{"a":"b"}}"#;

    #[test]
    fn an_index_is_written_again_in_oci_clients_shape() {
        let m = Manifest::parse(INDEX.as_bytes()).unwrap();
        assert!(matches!(m, Manifest::Index(_)));
        assert_eq!(
            String::from_utf8(m.to_answer()).unwrap(),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":10,"platform":{"architecture":"arm64be","os":"linux"}}]}"#
        );
    }

    #[test]
    fn an_image_manifest_keeps_config_and_layers_in_order() {
        let m = Manifest::parse(IMAGE.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(m.to_answer()).unwrap(),
            r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:cc","size":5},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:bb","size":3}],"annotations":{"a":"b"}}"#
        );
    }

    #[test]
    fn what_oci_client_refuses_is_refused() {
        let err = |text: &str| Manifest::parse(text.as_bytes()).unwrap_err();
        assert!(err("nope").starts_with("Failed to parse manifest: "));
        assert_eq!(
            err(r#"{"schemaVersion":1}"#),
            "Unsupported schema version: 1"
        );
        assert_eq!(
            err(r#"{"schemaVersion":2,"mediaType":"text/plain"}"#),
            "Unsupported media type: text/plain"
        );
        assert!(
            err(r#"{"schemaVersion":2}"#)
                .starts_with("Failed to parse manifest as Versioned object: ")
        );
    }
}
