//! immutable-images: a Kubewarden policy that makes sure the image a cluster runs is the image
//! that was meant. This file only wires the waPC entry points; each module has one job.

pub mod answer;
pub mod evaluate;
pub mod json;
pub mod judge;
pub mod mutate;
pub mod pin;
pub mod podspec;
pub mod reference;
pub mod request;
pub mod scan;
pub mod settings;

use kubewarden_policy_sdk::settings::SettingsValidationResponse;
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
    Ok(evaluate::validate_bytes(payload, &pin::HostCapability))
}

/// Unlike the SDK's helper, a settings document that cannot be read is an invalid-settings
/// answer naming the key, not a host error.
fn validate_settings(payload: &[u8]) -> CallResult {
    Ok(serde_json::to_vec(&settings_verdict(payload))?)
}

/// The answer to `validate_settings` for a settings document.
pub fn settings_verdict(payload: &[u8]) -> SettingsValidationResponse {
    match settings::Settings::from_json(payload) {
        Ok(_) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(message) => SettingsValidationResponse {
            valid: false,
            message: Some(message),
        },
    }
}
