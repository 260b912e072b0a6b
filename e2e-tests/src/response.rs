//! The policy's answer (`ValidationResponse`) and the AdmissionResponse built from it,
//! shaped like what `kwctl run` prints.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// What a policy's `validate` returns (Kubewarden's `ValidationResponse`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidationResponse {
    pub accepted: bool,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub mutated_object: Option<Value>,
    #[serde(default)]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// What a policy's `validate_settings` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsValidation {
    pub valid: bool,
    #[serde(default)]
    pub message: Option<String>,
}

/// `status` of a rejected AdmissionResponse.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// Kubernetes' `admission/v1` AdmissionResponse, serialized as `kwctl run` prints it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Base64 of a JSON patch (RFC 6902) from the request's `object` to the mutated object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AdmissionStatus>,
    pub audit_annotations: Option<BTreeMap<String, String>>,
    pub warnings: Option<Vec<String>>,
}

/// Message policy-server gives when a policy deployed with `mutating: false` mutates.
pub fn not_allowed_to_mutate_message(policy_id: &str) -> String {
    format!(
        "Request rejected by policy {policy_id}. The policy attempted to mutate the request, \
         but it is currently configured to not allow mutations."
    )
}

impl AdmissionResponse {
    /// A rejection with `message` and `code`.
    pub fn reject(uid: &str, message: impl Into<String>, code: Option<u16>) -> Self {
        AdmissionResponse {
            uid: uid.to_string(),
            allowed: false,
            status: Some(AdmissionStatus {
                message: Some(message.into()),
                code,
            }),
            ..Default::default()
        }
    }

    /// Builds the answer from the policy's response, as policy-evaluator does: the patch is
    /// the JSON diff from `object` (the request's object; `None` for DELETE) to the mutated
    /// object, omitted when empty.
    pub fn from_validation(uid: &str, object: Option<&Value>, resp: &ValidationResponse) -> Self {
        let patch = match (&resp.mutated_object, object) {
            (Some(_), None) => {
                return AdmissionResponse::reject(
                    uid,
                    "Incoming object is null, which happens only with DELETE operations, \
                     but the policy is attempting a mutation. This is not allowed",
                    None,
                );
            }
            (Some(mutated), Some(original)) => {
                let diff = json_patch::diff(original, mutated);
                if diff.0.is_empty() {
                    None
                } else {
                    // A Patch always serializes; fall back to "[]" rather than panic.
                    let text = serde_json::to_string(&diff).unwrap_or_else(|_| "[]".into());
                    Some(BASE64.encode(text))
                }
            }
            (None, _) => None,
        };
        let status = (resp.message.is_some() || resp.code.is_some()).then(|| AdmissionStatus {
            message: resp.message.clone(),
            code: resp.code,
        });
        AdmissionResponse {
            uid: uid.to_string(),
            allowed: resp.accepted,
            patch_type: patch.as_ref().map(|_| "JSONPatch".to_string()),
            patch,
            status,
            audit_annotations: resp.audit_annotations.clone(),
            warnings: resp.warnings.clone(),
        }
    }

    /// What policy-server does for a policy deployed with `mutating: false`: a response that
    /// carries a patch becomes a rejection.
    pub fn enforce_not_mutating(self, policy_id: &str) -> Self {
        if self.patch.is_none() {
            return self;
        }
        AdmissionResponse {
            allowed: false,
            status: Some(AdmissionStatus {
                message: Some(not_allowed_to_mutate_message(policy_id)),
                code: None,
            }),
            patch: None,
            patch_type: None,
            ..self
        }
    }

    /// The status message, or "" when there is none.
    pub fn message(&self) -> &str {
        self.status
            .as_ref()
            .and_then(|s| s.message.as_deref())
            .unwrap_or("")
    }

    /// The warnings, or an empty slice.
    pub fn warnings(&self) -> &[String] {
        self.warnings.as_deref().unwrap_or(&[])
    }

    /// The decoded JSON patch operations, if any.
    pub fn patch_operations(&self) -> Result<Option<Vec<Value>>> {
        let Some(patch) = &self.patch else {
            return Ok(None);
        };
        let bytes = BASE64
            .decode(patch)
            .map_err(|e| Error::invalid("patch", format!("not base64: {e}")))?;
        let ops: Vec<Value> = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid("patch", format!("not a JSON array: {e}")))?;
        Ok(Some(ops))
    }

    /// Applies the patch to `object` (a copy), as the API server would.
    pub fn patched(&self, object: &Value) -> Result<Value> {
        let mut out = object.clone();
        if let Some(ops) = self.patch_operations()? {
            let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops))
                .map_err(|e| Error::invalid("patch", e))?;
            json_patch::patch(&mut out, &patch).map_err(|e| Error::invalid("patch", e))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepted_without_mutation_has_no_patch() {
        let resp = ValidationResponse {
            accepted: true,
            ..Default::default()
        };
        let out = AdmissionResponse::from_validation("u1", Some(&json!({"a": 1})), &resp);
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({"uid": "u1", "allowed": true, "auditAnnotations": null, "warnings": null})
        );
    }

    #[test]
    fn rejection_carries_status() {
        let resp = ValidationResponse {
            accepted: false,
            message: Some("no".into()),
            code: Some(400),
            ..Default::default()
        };
        let out = AdmissionResponse::from_validation("u", Some(&json!({})), &resp);
        assert_eq!(out.message(), "no");
        assert_eq!(out.status.unwrap().code, Some(400));
    }

    #[test]
    fn mutation_becomes_a_json_patch() {
        let object =
            json!({"spec": {"containers": [{"name": "c", "image": "nginx:1", "x-unknown": 1}]}});
        let mut mutated = object.clone();
        mutated["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        let resp = ValidationResponse {
            accepted: true,
            mutated_object: Some(mutated.clone()),
            ..Default::default()
        };
        let out = AdmissionResponse::from_validation("u", Some(&object), &resp);
        assert_eq!(out.patch_type.as_deref(), Some("JSONPatch"));
        let ops = out.patch_operations().unwrap().unwrap();
        assert_eq!(
            ops,
            vec![
                json!({"op": "add", "path": "/spec/containers/0/imagePullPolicy", "value": "Always"})
            ]
        );
        assert_eq!(out.patched(&object).unwrap(), mutated);

        let same = ValidationResponse {
            accepted: true,
            mutated_object: Some(object.clone()),
            ..Default::default()
        };
        let out = AdmissionResponse::from_validation("u", Some(&object), &same);
        assert!(out.patch.is_none() && out.patch_type.is_none());
    }

    #[test]
    fn mutation_of_a_deleted_object_is_rejected() {
        let resp = ValidationResponse {
            accepted: true,
            mutated_object: Some(json!({})),
            ..Default::default()
        };
        let out = AdmissionResponse::from_validation("u", None, &resp);
        assert!(!out.allowed);
    }

    #[test]
    fn not_mutating_policies_reject_patches() {
        let object = json!({"a": 1});
        let resp = ValidationResponse {
            accepted: true,
            mutated_object: Some(json!({"a": 2})),
            ..Default::default()
        };
        let out =
            AdmissionResponse::from_validation("u", Some(&object), &resp).enforce_not_mutating("p");
        assert!(!out.allowed && out.patch.is_none());
        assert!(out.message().contains("not allow mutations"));
    }
}
