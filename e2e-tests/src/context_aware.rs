//! Which Kubernetes resources a policy may read through the `kubernetes/*` host calls:
//! policy-evaluator's context-aware allow list (`EvaluationContext::
//! can_access_kubernetes_resource`: an exact match of `apiVersion` and `kind`), and how kwctl
//! fills it: `kwctl run --allow-context-aware` grants the `contextAwareResources` of the
//! policy's metadata (the `io.kubewarden.metadata` section `kwctl annotate` embeds), and
//! nothing without the flag or for a policy that is not annotated.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// One Kubernetes resource type a policy is granted, as policy metadata names it
/// (`contextAwareResources: [{apiVersion: v1, kind: Pod}]`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextAwareResource {
    pub api_version: String,
    pub kind: String,
}

impl ContextAwareResource {
    pub fn new(api_version: &str, kind: &str) -> Self {
        ContextAwareResource {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }
    }
}

/// policy-evaluator's answer to a `kubernetes/*` call for a resource the policy was not
/// granted (`runtimes/callback.rs`), word for word.
pub fn refusal(api_version: &str, kind: &str) -> String {
    format!(
        "Policy has not been granted access to Kubernetes {api_version}/{kind} resources. \
         The violation has been reported."
    )
}

/// The `contextAwareResources` of policy metadata (`metadata.yml`, or the metadata embedded
/// in an annotated policy), checked as policy-evaluator checks them: each has a non-empty
/// `apiVersion` and `kind`. No such field: none.
pub fn resources_of_metadata(metadata: &Value) -> Result<BTreeSet<ContextAwareResource>> {
    let invalid = |m: String| Error::invalid("contextAwareResources", m);
    let Some(list) = metadata.get("contextAwareResources") else {
        return Ok(BTreeSet::new());
    };
    if list.is_null() {
        return Ok(BTreeSet::new());
    }
    let resources: Vec<ContextAwareResource> =
        serde_json::from_value(list.clone()).map_err(|e| invalid(e.to_string()))?;
    if let Some((i, _)) = resources
        .iter()
        .enumerate()
        .find(|(_, r)| r.api_version.is_empty() || r.kind.is_empty())
    {
        return Err(invalid(format!(
            "entry {i} needs a non-empty apiVersion and kind"
        )));
    }
    Ok(resources.into_iter().collect())
}

/// The `contextAwareResources` of a `metadata.yml` file (YAML or JSON text).
pub fn resources_of_metadata_file(
    path: impl AsRef<std::path::Path>,
) -> Result<BTreeSet<ContextAwareResource>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let metadata: Value = serde_norway::from_str(&text)
        .map_err(|e| Error::invalid(format!("policy metadata {}", path.display()), e))?;
    resources_of_metadata(&metadata).map_err(|e| match e {
        Error::Invalid { what, message } => {
            Error::invalid(format!("{what} of {}", path.display()), message)
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_metadata_list() {
        let m = json!({"contextAwareResources": [
            {"apiVersion": "v1", "kind": "Pod"},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet"},
        ]});
        let got = resources_of_metadata(&m).unwrap();
        assert!(got.contains(&ContextAwareResource::new("v1", "Pod")));
        assert!(got.contains(&ContextAwareResource::new("apps/v1", "ReplicaSet")));
        assert_eq!(got.len(), 2);
        assert!(resources_of_metadata(&json!({})).unwrap().is_empty());
    }

    #[test]
    fn refuses_incomplete_entries() {
        for bad in [
            json!({"contextAwareResources": [{"apiVersion": "v1"}]}),
            json!({"contextAwareResources": [{"apiVersion": "", "kind": "Pod"}]}),
            json!({"contextAwareResources": "Pod"}),
        ] {
            let err = resources_of_metadata(&bad).unwrap_err().to_string();
            assert!(err.contains("contextAwareResources"), "{err}");
        }
    }

    #[test]
    fn refusal_is_policy_evaluators_text() {
        assert_eq!(
            refusal("v1", "Pod"),
            "Policy has not been granted access to Kubernetes v1/Pod resources. \
             The violation has been reported."
        );
    }
}
