//! immutable-images: a Kubewarden policy that makes sure the image a cluster runs is the image
//! that was meant. This file only wires the waPC entry points; each module has one job.

mod evaluate;
mod host;
mod kinds;
mod log;
mod mutate;
mod pin;
mod pods;
mod podspec;
mod reference;
mod replicas;
mod request;
mod response;
mod rules;
mod scan;
mod settings;

/// What the tests (`tests/`), the fuzz targets and their oracles (`fuzz/`) reach inside the
/// policy. It is no API: the policy's surface is its waPC functions; the modules stay private.
#[doc(hidden)]
pub mod testing {
    pub use crate::evaluate::{answer, mutation, validate, validate_bytes};
    pub use crate::host::{Host, ListResourcesByNamespaceRequest};
    pub use crate::kinds::{KINDS, Kind, PodSpecPath};
    pub use crate::mutate::{Edit, FieldEdit};
    pub use crate::podspec::{ImageEntry, ImageList, StringField};
    pub use crate::reference::{ImageRef, RefError, check_digest};
    pub use crate::request::{Object, Payload, Request, read as read_payload};
    pub use crate::response::Answer;
    pub use crate::rules::{TagVerdict, judge_tag};
    pub use crate::scan::Span;
    pub use crate::settings::Settings;
    pub use crate::settings::validation as validate_settings;
}

use wapc_guest::{CallResult, register_function};

#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    register_function("validate", validate);
    register_function("validate_settings", validate_settings);
    register_function(
        "protocol_version",
        kubewarden_policy_sdk::protocol_version_guest,
    );
}

fn validate(payload: &[u8]) -> CallResult {
    Ok(evaluate::validate_bytes(payload, &host::HostCapability))
}

/// Unlike the SDK's helper, a settings document that cannot be read is an invalid-settings
/// answer naming the key, not a host error.
fn validate_settings(payload: &[u8]) -> CallResult {
    Ok(serde_json::to_vec(&settings::validation(payload))?)
}
