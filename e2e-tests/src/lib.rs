//! End-to-end harness for the immutable-images policy.
//!
//! It plays Kubewarden's policy-server / `kwctl run` (which can't be installed here):
//! - [`policy`]: loads the policy `.wasm` over waPC (wasmtime, WASI) and calls
//!   `protocol_version`, `validate_settings` and `validate`;
//! - [`host`]: answers the policy's host calls: `kubewarden/oci/v1/manifest_digest` and
//!   `oci/v1/oci_manifest` through [`resolver`] and [`manifest`];
//!   `kubernetes/list_resources_by_namespace` from a [`cluster`] state file, with
//!   [`field_mask`]s and [`object_meta`], for the resources [`context_aware`] grants;
//!   `kubewarden/tracing/log`;
//! - [`response`]: turns the policy's answer into the AdmissionResponse `kwctl run` prints;
//! - [`registry`], [`images`]: a throw-away loopback registry and test images in it;
//! - [`proxy`]: a fault-injecting proxy in front of it (latency, errors, hangs, resets);
//! - [`artifact`]: the policy as an OCI artifact (push and pull, as kwctl does);
//! - [`summary`]: a request and its answer in a few lines for people (`kwrun --summary`);
//! - [`annotate`]: its metadata, as `kwctl annotate` embeds it and `kwctl push` publishes it;
//! - [`samples`]: the requests `bench` times;
//! - [`fuel`]: a second waPC engine that counts a policy's work in wasmtime fuel, for the
//!   fuel guard (`tests/fuel_budget.rs`).
//!
//! No HTTP request of this crate leaves loopback ([`http`]).

pub mod annotate;
pub mod apiserver;
pub mod artifact;
pub mod cluster;
pub mod context_aware;
pub mod digest;
pub mod error;
pub mod field_mask;
pub mod fuel;
pub mod host;
pub mod http;
pub mod images;
pub mod input;
/// The policy's table of the kinds it judges, shared as source (data only).
#[path = "../../src/kinds.rs"]
pub mod kinds;
pub mod manifest;
pub mod object_meta;
pub mod policy;
pub mod proxy;
pub mod reference;
pub mod registry;
pub mod resolver;
pub mod response;
pub mod samples;
pub mod summary;

pub use cluster::ClusterState;
pub use context_aware::ContextAwareResource;
pub use error::{Error, Result};
pub use fuel::Fuel;
pub use host::{AnswerCache, DigestCache, HostCall, HostConfig};
pub use policy::{Policy, PolicyModule};
pub use registry::Registry;
pub use resolver::DigestResolver;
pub use response::{AdmissionResponse, SettingsValidation, ValidationResponse};

use std::path::PathBuf;

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().map(PathBuf::from).unwrap_or(crate_dir)
}

/// The policy under test: env `POLICY_WASM`, else `<workspace>/policy.wasm`.
pub fn policy_wasm_path() -> PathBuf {
    std::env::var_os("POLICY_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("policy.wasm"))
}
