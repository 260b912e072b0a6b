//! The settings as documented (README table, questions-ui.yml, its copy in artifacthub-pkg.yml)
//! are the settings the built policy takes: the same keys, each documented default accepted.

mod common;

use std::collections::BTreeSet;

use serde_json::{Value, json};

/// (variable, default) of each top-level question but the description.
fn questions(text: &str) -> Vec<(String, Value)> {
    let doc: Value = serde_norway::from_str(text).unwrap();
    doc["questions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["variable"] != "description")
        .map(|q| {
            (
                q["variable"].as_str().unwrap().to_string(),
                q["default"].clone(),
            )
        })
        .collect()
}

/// The keys of the README's settings table.
fn readme_keys() -> BTreeSet<String> {
    let readme = common::workspace_file("README.md");
    let table = readme
        .split("## Settings")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .find(|block| block.starts_with("| key |"))
        .unwrap();
    table
        .lines()
        .skip(2)
        .map(|l| l.split('`').nth(1).unwrap().to_string())
        .collect()
}

#[test]
fn documented_settings_are_the_policys_settings() {
    let questions = questions(&common::workspace_file("questions-ui.yml"));
    let keys: BTreeSet<String> = questions.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, readme_keys(), "questions-ui.yml vs the README table");

    let artifacthub: Value =
        serde_norway::from_str(&common::workspace_file("artifacthub-pkg.yml")).unwrap();
    let embedded = artifacthub["annotations"]["kubewarden/questions-ui"]
        .as_str()
        .unwrap();
    let a: Value = serde_norway::from_str(embedded).unwrap();
    let b: Value = serde_norway::from_str(&common::workspace_file("questions-ui.yml")).unwrap();
    assert_eq!(a, b, "artifacthub-pkg.yml embeds questions-ui.yml as it is");

    let policy = common::policy(common::default_host());
    let mut all = serde_json::Map::new();
    for (key, default) in &questions {
        if default.is_null() {
            continue;
        }
        let one = json!({ key: default });
        let verdict = policy.validate_settings(&one).unwrap();
        assert!(verdict.valid, "{one}: {verdict:?}");
        all.insert(key.clone(), default.clone());
        // The key is read: a value of the wrong type is refused, naming it.
        let wrong = json!({ key: {"not": "a setting value"} });
        let verdict = policy.validate_settings(&wrong).unwrap();
        assert!(!verdict.valid, "{wrong} should be refused");
        assert!(
            verdict
                .message
                .as_deref()
                .unwrap_or("")
                .starts_with(key.as_str()),
            "{verdict:?}"
        );
    }
    let verdict = policy.validate_settings(&Value::Object(all)).unwrap();
    assert!(verdict.valid, "{verdict:?}");

    // And every key the policy takes is documented: its refusal of an unknown key lists them.
    let verdict = policy
        .validate_settings(&json!({"notASetting": true}))
        .unwrap();
    let message = verdict.message.unwrap_or_default();
    let taken: BTreeSet<String> = message
        .split_once("expected one of ")
        .map(|(_, list)| list.split(" at line").next().unwrap_or(list))
        .unwrap_or_else(|| panic!("no key list in {message:?}"))
        .split(", ")
        .map(|k| k.trim_matches('`').to_owned())
        .collect();
    assert_eq!(
        taken,
        readme_keys(),
        "the policy's settings vs the README table"
    );
}
