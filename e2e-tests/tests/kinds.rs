//! The policy's table of kinds (`src/kinds.rs`) against everything that must follow it: a kind
//! in the table is judged only where `metadata.yml` lets the API server send it, is listed in
//! the metadata's and Artifact Hub's resources, is named in the README, and has its samples
//! (`test_data/<kind>.json` and `test_data/audit/<kind>.json`), which the built policy judges.
//! Adding a row fails here until all of them are there.

mod common;

use e2e_tests::kinds::{KINDS, Kind};
use serde_json::Value;

fn yaml(name: &str) -> Value {
    serde_norway::from_str(&common::workspace_file(name)).unwrap()
}

/// `<kind>.json`: the sample's name for a kind.
fn sample(kind: &Kind) -> String {
    format!("{}.json", kind.kind.to_lowercase())
}

/// Whether one of `rules` (as `metadata.yml` writes them) sends `resource` of `kind`'s group
/// and version.
fn has_rule(rules: &Value, kind: &Kind, resource: &str) -> bool {
    let has = |v: &Value, s: &str| v.as_array().is_some_and(|a| a.iter().any(|x| x == s));
    rules.as_array().unwrap().iter().any(|rule| {
        has(&rule["apiGroups"], kind.group)
            && has(&rule["apiVersions"], kind.version)
            && has(&rule["resources"], resource)
    })
}

/// `Pod, Deployment, …` split into names.
fn listed(text: &Value) -> Vec<String> {
    text.as_str()
        .unwrap()
        .split(',')
        .map(|s| s.trim().to_owned())
        .collect()
}

#[test]
fn every_kind_has_a_rule_for_it_and_its_subresources() {
    let metadata = yaml("metadata.yml")["rules"].clone();
    // Artifact Hub's copy of the rules, as `kwctl scaffold artifacthub` writes it (YAML text).
    let copy = yaml("artifacthub-pkg.yml")["annotations"]["kubewarden/rules"].clone();
    let copy: Value = serde_norway::from_str(copy.as_str().unwrap()).unwrap();
    for (file, rules) in [("metadata.yml", &metadata), ("artifacthub-pkg.yml", &copy)] {
        for kind in KINDS {
            let resources = std::iter::once(kind.resource.to_owned()).chain(
                kind.subresources
                    .iter()
                    .map(|s| format!("{}/{s}", kind.resource)),
            );
            for resource in resources {
                assert!(
                    has_rule(rules, kind, &resource),
                    "{file} has no rule for {} ({}/{} {resource})",
                    kind.kind,
                    kind.group,
                    kind.version,
                );
            }
        }
    }
}

#[test]
fn every_kind_is_listed_in_the_metadata_and_artifact_hub_and_named_in_the_readme() {
    let metadata = listed(&yaml("metadata.yml")["annotations"]["io.artifacthub.resources"]);
    let artifacthub = listed(&yaml("artifacthub-pkg.yml")["annotations"]["kubewarden/resources"]);
    let readme = common::workspace_file("README.md");
    for kind in KINDS {
        assert!(metadata.contains(&kind.kind.to_owned()), "{}", kind.kind);
        assert!(artifacthub.contains(&kind.kind.to_owned()), "{}", kind.kind);
        assert!(
            readme.contains(kind.kind),
            "the README never names {}",
            kind.kind
        );
    }
    // And no list names a kind the policy does not judge.
    for name in metadata.iter().chain(&artifacthub) {
        assert!(
            KINDS.iter().any(|k| k.kind == name),
            "{name} is not in the table"
        );
    }
}

#[test]
fn every_kind_has_samples_that_the_policy_judges() {
    let policy = common::policy(common::default_host());
    let settings = common::test_data("settings-default.json");
    for kind in KINDS {
        for dir in ["", "audit/"] {
            let name = format!("{dir}{}", sample(kind));
            let request = common::test_data(&name);
            assert_eq!(request["kind"]["kind"], kind.kind, "{name}");
            assert_eq!(request["kind"]["group"], kind.group, "{name}");
            let object = &request["object"];
            let spec = kind
                .pod_spec
                .keys()
                .iter()
                .try_fold(object, |v, key| v.get(key));
            assert!(
                spec.is_some_and(|s| s.get("containers").is_some()),
                "{name}: no pod spec at {}",
                kind.pod_spec.dotted()
            );
            // Every sample has something to say under default settings: its pod spec is read.
            let resp = common::evaluate(&policy, &settings, &request);
            let judged = !resp.allowed || resp.patch.is_some() || resp.warnings.is_some();
            assert!(
                judged,
                "{name}: the policy found nothing to judge: {resp:?}"
            );
        }
    }
}
