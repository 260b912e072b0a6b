//! A policy as an OCI artifact, as `kwctl push` / `kwctl pull` handle it, spoken directly
//! over the OCI distribution HTTP API (loopback registries only).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::digest::sha256_digest;
use crate::error::{Error, Result};
use crate::http::LoopbackClient;
use crate::reference::ImageReference;

/// Config media type of a Kubewarden policy artifact (oci-client's `WASM_CONFIG_MEDIA_TYPE`).
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v1+json";
/// Layer media type of the policy's wasm module (oci-client's `WASM_LAYER_MEDIA_TYPE`).
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// The manifest kind `kwctl push` writes.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

const TIMEOUT: Duration = Duration::from_secs(30);

/// What a push returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedPolicy {
    /// `host/repo:tag` as pushed.
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// `host/repo@digest`, the immutable form `kwctl push` prints.
    pub immutable_reference: String,
}

/// A pulled policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PulledPolicy {
    pub wasm: Vec<u8>,
    /// The manifest digest.
    pub digest: String,
    /// The manifest as served.
    pub manifest: Value,
}

fn client_for(image: &str) -> Result<(ImageReference, LoopbackClient)> {
    let r = ImageReference::parse(image)?;
    let client = LoopbackClient::new(r.registry(), image, TIMEOUT)?;
    Ok((r, client))
}

fn upload_blob(client: &LoopbackClient, repo: &str, data: &[u8]) -> Result<String> {
    let digest = sha256_digest(data);
    let reg = client.registry().to_string();
    let start = client
        .post_empty(&format!("/v2/{repo}/blobs/uploads/"))?
        .expect(202, &reg, "starting a blob upload")?;
    let location = start
        .header("Location")
        .ok_or_else(|| Error::registry(&reg, "blob upload answered no Location"))?;
    let sep = if location.contains('?') { '&' } else { '?' };
    client
        .put(
            &format!("{location}{sep}digest={digest}"),
            "application/octet-stream",
            data,
        )?
        .expect(201, &reg, "finishing the blob upload")?;
    Ok(digest)
}

/// Pushes `wasm` as `image` (`127.0.0.1:PORT/repo:tag`): config blob `{}`, one wasm layer,
/// an OCI image manifest with `annotations` (e.g. the `io.kubewarden.policy.*` ones).
pub fn push_policy(
    image: &str,
    wasm: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<PushedPolicy> {
    let (r, client) = client_for(image)?;
    if r.digest().is_some() {
        return Err(Error::invalid(
            "push target",
            format!("{image:?} must be a tag, not a digest"),
        ));
    }
    let config = b"{}";
    let config_digest = upload_blob(&client, r.repository(), config)?;
    let layer_digest = upload_blob(&client, r.repository(), wasm)?;
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": WASM_CONFIG_MEDIA_TYPE,
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": WASM_LAYER_MEDIA_TYPE,
            "digest": layer_digest,
            "size": wasm.len(),
        }],
    });
    if !annotations.is_empty() {
        manifest["annotations"] = json!(annotations);
    }
    let body = serde_json::to_vec(&manifest).map_err(|e| Error::invalid("manifest", e))?;
    let digest = sha256_digest(&body);
    let path = format!(
        "/v2/{}/manifests/{}",
        r.repository(),
        r.manifest_reference()
    );
    let res = client.put(&path, OCI_MANIFEST_MEDIA_TYPE, &body)?.expect(
        201,
        client.registry(),
        &format!("PUT {path}"),
    )?;
    if let Some(served) = res.header("Docker-Content-Digest")
        && served != digest
    {
        return Err(Error::registry(
            client.registry(),
            format!("stored the manifest as {served}, expected {digest}"),
        ));
    }
    Ok(PushedPolicy {
        reference: format!(
            "{}/{}:{}",
            r.registry(),
            r.repository(),
            r.manifest_reference()
        ),
        immutable_reference: format!("{}/{}@{digest}", r.registry(), r.repository()),
        digest,
    })
}

/// Pulls a policy by tag or digest: fetches the manifest, checks its media types, fetches
/// the wasm layer and checks every digest and size on the way.
pub fn pull_policy(image: &str) -> Result<PulledPolicy> {
    let (r, client) = client_for(image)?;
    let reg = client.registry().to_string();
    let path = format!(
        "/v2/{}/manifests/{}",
        r.repository(),
        r.manifest_reference()
    );
    let res = client
        .get(&path, &[("Accept", OCI_MANIFEST_MEDIA_TYPE)])?
        .expect(200, &reg, &format!("GET {path}"))?;
    let digest = sha256_digest(&res.body);
    let expected = r.digest().or(res.header("Docker-Content-Digest"));
    if let Some(expected) = expected
        && expected != digest
    {
        return Err(Error::registry(
            &reg,
            format!("manifest of {image:?} has digest {digest}, expected {expected}"),
        ));
    }
    let manifest: Value =
        serde_json::from_slice(&res.body).map_err(|e| Error::invalid("policy manifest", e))?;
    let bad = |m: String| Error::invalid(format!("policy manifest of {image:?}"), m);
    if manifest["config"]["mediaType"] != WASM_CONFIG_MEDIA_TYPE {
        return Err(bad(format!(
            "config media type is {}, not {WASM_CONFIG_MEDIA_TYPE}",
            manifest["config"]["mediaType"]
        )));
    }
    let layer = manifest["layers"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["mediaType"] == WASM_LAYER_MEDIA_TYPE))
        .ok_or_else(|| bad(format!("no layer of type {WASM_LAYER_MEDIA_TYPE}")))?;
    let layer_digest = layer["digest"]
        .as_str()
        .ok_or_else(|| bad("the wasm layer has no digest".into()))?;
    let blob_path = format!("/v2/{}/blobs/{layer_digest}", r.repository());
    let blob = client
        .get(&blob_path, &[])?
        .expect(200, &reg, &format!("GET {blob_path}"))?;
    if sha256_digest(&blob.body) != layer_digest {
        return Err(bad(format!(
            "the wasm layer does not match its digest {layer_digest}"
        )));
    }
    if layer["size"].as_u64() != Some(blob.body.len() as u64) {
        return Err(bad(format!("the wasm layer size is not {}", layer["size"])));
    }
    Ok(PulledPolicy {
        wasm: blob.body,
        digest,
        manifest,
    })
}
