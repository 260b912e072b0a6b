//! Test images: built as OCI layouts with `umoci`, pushed to a loopback registry with
//! `skopeo`. Each image carries a small file whose content the caller chooses, so two
//! pushes with different content give two different digests.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::digest::{sha256_digest, sha256_hex};
use crate::error::{Error, Result};
use crate::http::is_loopback_registry;
use crate::reference::ImageReference;
use crate::registry::Registry;

/// OCI media types used in layouts.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OS/architecture pair of a multi-arch image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: &'static str,
    pub architecture: &'static str,
}

impl Platform {
    pub const LINUX_AMD64: Platform = Platform {
        os: "linux",
        architecture: "amd64",
    };
    pub const LINUX_ARM64: Platform = Platform {
        os: "linux",
        architecture: "arm64",
    };
}

/// A pushed single-platform image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedImage {
    /// `127.0.0.1:PORT/repo:tag` as pushed.
    pub reference: String,
    /// The manifest digest the registry serves for the tag.
    pub digest: String,
}

impl PushedImage {
    /// `<reference>@<digest>`, the form a pinning policy writes.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.reference, self.digest)
    }
}

/// A pushed multi-platform image (an OCI image index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedIndex {
    /// `127.0.0.1:PORT/repo:tag` as pushed.
    pub reference: String,
    /// The digest of the index, which is what the tag resolves to.
    pub digest: String,
    /// Each platform's manifest digest, as listed in the served index.
    pub manifests: Vec<(Platform, String)>,
}

fn run(tool: &str, args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| Error::tool(tool, format!("cannot run it ({e}); run e2e-tests/setup.sh")))?;
    if !out.status.success() {
        return Err(Error::tool(
            tool,
            format!(
                "`{tool} {}` exited with {}: {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(out.stdout)
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| Error::invalid("path", format!("{} is not UTF-8", p.display())))
}

/// An OCI image layout in a temp dir, built with umoci.
pub struct Layout {
    dir: TempDir,
}

impl Layout {
    /// `umoci init` in a fresh temp dir.
    pub fn new() -> Result<Layout> {
        let dir = tempfile::Builder::new()
            .prefix("e2e-layout-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let layout = Layout { dir };
        run("umoci", &["init", "--layout", path_str(&layout.path())?])?;
        Ok(layout)
    }

    /// The layout directory (`<tmp>/oci`; umoci wants to create it itself).
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("oci")
    }

    /// Adds image `tag` for `platform` with one layer holding `/e2e/content.txt`.
    pub fn add_image(&self, tag: &str, platform: Platform, content: &str) -> Result<()> {
        let layout = self.path();
        let image = format!("{}:{tag}", path_str(&layout)?);
        run("umoci", &["new", "--image", &image])?;
        let file = self.dir.path().join(format!("content-{tag}.txt"));
        std::fs::write(&file, content).map_err(|e| Error::io(&file, e))?;
        run(
            "umoci",
            &[
                "insert",
                "--rootless",
                "--image",
                &image,
                path_str(&file)?,
                "/e2e/content.txt",
            ],
        )?;
        run(
            "umoci",
            &[
                "config",
                "--image",
                &image,
                "--os",
                platform.os,
                "--architecture",
                platform.architecture,
            ],
        )?;
        Ok(())
    }

    fn index(&self) -> Result<Value> {
        let path = self.path().join("index.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::invalid("index.json", e))
    }

    fn descriptor(&self, tag: &str) -> Result<Value> {
        let index = self.index()?;
        index["manifests"]
            .as_array()
            .and_then(|m| m.iter().find(|d| d["annotations"][REF_NAME] == tag))
            .cloned()
            .ok_or_else(|| Error::invalid("index.json", format!("no tag {tag:?}")))
    }

    /// Adds tag `tag` pointing to a new image index over the images `platforms`
    /// (pairs of existing tag and platform).
    pub fn add_index(&self, tag: &str, platforms: &[(&str, Platform)]) -> Result<()> {
        let mut manifests = Vec::new();
        for (image_tag, platform) in platforms {
            let d = self.descriptor(image_tag)?;
            manifests.push(json!({
                "mediaType": d["mediaType"],
                "digest": d["digest"],
                "size": d["size"],
                "platform": {"architecture": platform.architecture, "os": platform.os},
            }));
        }
        let blob = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        }))
        .map_err(|e| Error::invalid("image index", e))?;
        let digest = sha256_digest(&blob);
        let hex = sha256_hex(&digest).unwrap_or_default();
        let blob_path = self.path().join("blobs/sha256").join(hex);
        std::fs::write(&blob_path, &blob).map_err(|e| Error::io(&blob_path, e))?;

        let mut index = self.index()?;
        let entries = index["manifests"]
            .as_array_mut()
            .ok_or_else(|| Error::invalid("index.json", "no manifests list"))?;
        entries.retain(|d| d["annotations"][REF_NAME] != tag);
        entries.push(json!({
            "mediaType": OCI_INDEX,
            "digest": digest,
            "size": blob.len(),
            "annotations": {REF_NAME: tag},
        }));
        let path = self.path().join("index.json");
        let text = serde_json::to_vec(&index).map_err(|e| Error::invalid("index.json", e))?;
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
    }

    /// `skopeo copy [--all] oci:<layout>:<tag> docker://<dest>` to a loopback registry.
    pub fn push(&self, tag: &str, dest: &str, all: bool) -> Result<()> {
        ensure_loopback(dest)?;
        let src = format!("oci:{}:{tag}", path_str(&self.path())?);
        let dst = format!("docker://{dest}");
        let mut args = vec![
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
        ];
        if all {
            args.push("--all");
        }
        args.extend([src.as_str(), dst.as_str()]);
        run("skopeo", &args).map(|_| ())
    }
}

fn ensure_loopback(image: &str) -> Result<ImageReference> {
    let r = ImageReference::parse(image)?;
    if !is_loopback_registry(r.registry()) {
        return Err(Error::NotLoopback {
            registry: r.registry().to_string(),
            image: image.to_string(),
        });
    }
    Ok(r)
}

/// Builds an image holding `content` and pushes it as `repo:tag`; pushing again with other
/// content moves the tag to a new digest.
pub fn push_image(
    registry: &Registry,
    repo: &str,
    tag: &str,
    content: &str,
) -> Result<PushedImage> {
    let layout = Layout::new()?;
    layout.add_image(tag, Platform::LINUX_AMD64, content)?;
    let reference = registry.image(&format!("{repo}:{tag}"));
    layout.push(tag, &reference, false)?;
    let digest = registry.manifest_digest(repo, tag)?;
    Ok(PushedImage { reference, digest })
}

/// Builds one image per platform (content suffixed with the platform) under one OCI image
/// index and pushes it all as `repo:tag`; the tag resolves to the index digest.
pub fn push_multi_arch(
    registry: &Registry,
    repo: &str,
    tag: &str,
    platforms: &[Platform],
    content: &str,
) -> Result<PushedIndex> {
    let layout = Layout::new()?;
    let mut parts = Vec::new();
    for p in platforms {
        let image_tag = format!("{tag}-{}-{}", p.os, p.architecture);
        layout.add_image(
            &image_tag,
            *p,
            &format!("{content} {}/{}", p.os, p.architecture),
        )?;
        parts.push((image_tag, *p));
    }
    let refs: Vec<(&str, Platform)> = parts.iter().map(|(t, p)| (t.as_str(), *p)).collect();
    layout.add_index(tag, &refs)?;
    let reference = registry.image(&format!("{repo}:{tag}"));
    layout.push(tag, &reference, true)?;
    let digest = registry.manifest_digest(repo, tag)?;

    let (body, _) = registry.manifest(repo, &digest)?;
    let index: Value =
        serde_json::from_slice(&body).map_err(|e| Error::invalid("image index", e))?;
    let mut manifests = Vec::new();
    for m in index["manifests"].as_array().into_iter().flatten() {
        let platform = platforms.iter().find(|p| {
            m["platform"]["os"] == p.os && m["platform"]["architecture"] == p.architecture
        });
        if let (Some(p), Some(d)) = (platform, m["digest"].as_str()) {
            manifests.push((*p, d.to_string()));
        }
    }
    Ok(PushedIndex {
        reference,
        digest,
        manifests,
    })
}

/// The digest skopeo sees: sha256 of `skopeo inspect --raw docker://<image>` (loopback only).
pub fn skopeo_manifest_digest(image: &str) -> Result<String> {
    ensure_loopback(image)?;
    let raw = run(
        "skopeo",
        &[
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ],
    )?;
    Ok(sha256_digest(&raw))
}
