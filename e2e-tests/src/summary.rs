//! A request and its answer in a few lines for people (`kwrun --summary`, what `make run`
//! prints): what was asked (operation, kind, name, who asked, the images and pull policies of
//! its pod spec, the settings in a few words), the host calls the policy made (a Pod list, a
//! registry lookup, with what each got) and the verdict (rejected with its message, accepted,
//! accepted with warnings, mutated with the decoded patch, pinned with its audit annotations).

use std::fmt::Write as _;

use serde_json::Value;

use crate::AdmissionResponse;
use crate::HostCall;
use crate::kinds::KINDS;

/// The pod spec, where the policy's table of kinds says the object's kind keeps it.
fn pod_spec(object: &Value) -> Option<&Value> {
    let kind = object.get("kind")?.as_str()?;
    let row = KINDS.iter().find(|k| k.kind == kind)?;
    row.pod_spec
        .keys()
        .iter()
        .try_fold(object, |v, key| v.get(key))
}

/// `containers[0] "web" nginx:1.25 (IfNotPresent)`, one per image of the pod spec.
fn images(object: &Value) -> Vec<String> {
    let Some(spec) = pod_spec(object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            out.push(image_line(
                &format!("{list}[{i}]"),
                &c["name"],
                &c["image"],
                &c["imagePullPolicy"],
            ));
        }
    }
    for (i, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        if v["image"].is_object() {
            out.push(image_line(
                &format!("volumes[{i}]"),
                &v["name"],
                &v["image"]["reference"],
                &v["image"]["pullPolicy"],
            ));
        }
    }
    out
}

fn image_line(place: &str, name: &Value, image: &Value, policy: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let policy = match policy {
        Value::Null => "no pull policy".to_owned(),
        p => text(p),
    };
    format!(
        "{place} {} {} ({policy})",
        serde_json::to_string(&text(name)).unwrap_or_default(),
        text(image)
    )
}

/// The settings in a few words: `default settings`, or `key=value …`.
pub fn settings_words(settings: &Value) -> String {
    match settings.as_object() {
        Some(map) if !map.is_empty() => map
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        _ => "default settings".to_owned(),
    }
}

/// Who sent the request: the user, or the audit-scanner when neither a user nor `dryRun`
/// is set.
fn sender(request: &Value) -> String {
    match request["userInfo"]["username"].as_str() {
        Some(user) if !user.is_empty() => format!("by {user}"),
        _ if request.get("dryRun").is_none_or(Value::is_null) => {
            "by the audit-scanner (background audit)".to_owned()
        }
        _ => "by no user".to_owned(),
    }
}

/// The summary of one request and its answer.
/// One line per host call the policy made (its log aside): what it asked and what it got.
/// `kubernetes/list_resources_by_namespace default -> 3 Pods`,
/// `oci/v1/manifest_digest "app:1" -> sha256:…`, `… -> refused: <the host's first line>`.
fn host_call_line(call: &HostCall) -> Option<String> {
    if call.namespace == "tracing" {
        return None;
    }
    let payload: Value = serde_json::from_str(&call.payload).unwrap_or(Value::Null);
    let asked = match &payload {
        Value::String(image) => format!("{image:?}"),
        _ => payload["namespace"].as_str().unwrap_or("?").to_string(),
    };
    let answer: Value = match &call.outcome {
        Ok(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        Err(e) => {
            let first = e.lines().next().unwrap_or_default();
            let cut: String = first.chars().take(100).collect();
            return Some(format!(
                "{}/{} {asked} -> error: {cut}",
                call.namespace, call.operation
            ));
        }
    };
    let got = match (&answer["items"], &answer["digest"]) {
        (Value::Array(items), _) => {
            let kind = answer["kind"]
                .as_str()
                .unwrap_or("item")
                .trim_end_matches("List");
            format!("{} {kind}s", items.len())
        }
        (_, Value::String(digest)) => digest.clone(),
        _ if answer["manifests"].is_array() => "an index".into(),
        _ => "an image manifest".into(),
    };
    Some(format!(
        "{}/{} {asked} -> {got}",
        call.namespace, call.operation
    ))
}

/// What was asked and the verdict, for people; `calls`: the host calls the policy made for it.
pub fn describe(
    request: &Value,
    settings: &Value,
    resp: &AdmissionResponse,
    calls: &[HostCall],
) -> String {
    let object = match &request["object"] {
        Value::Null => &request["oldObject"],
        o => o,
    };
    let mut out = String::new();
    let subresource = request["subResource"]
        .as_str()
        .map(|s| format!("/{s}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "asked:    {} {}{subresource} {} {}",
        request["operation"].as_str().unwrap_or("?"),
        request["kind"]["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("-"),
        sender(request),
    );
    let _ = writeln!(out, "settings: {}", settings_words(settings));
    for (i, line) in images(object).iter().enumerate() {
        let head = if i == 0 { "images:" } else { "" };
        let _ = writeln!(out, "{head:<9} {line}");
    }
    let patch = resp.patch_operations().ok().flatten().unwrap_or_default();
    let verdict = match (resp.allowed, patch.is_empty(), resp.warnings().is_empty()) {
        (false, _, _) => "REJECTED",
        (true, false, _) if resp.audit_annotations.is_some() => "ACCEPTED, MUTATED AND PINNED",
        (true, false, _) => "ACCEPTED, MUTATED",
        (true, true, false) => "ACCEPTED WITH WARNINGS",
        (true, true, true) => "ACCEPTED AS IT IS",
    };
    for (i, line) in calls.iter().filter_map(host_call_line).enumerate() {
        let head = if i == 0 { "host:" } else { "" };
        let _ = writeln!(out, "{head:<9} {line}");
    }
    let _ = writeln!(out, "verdict:  {verdict}");
    for line in resp.message().lines() {
        let _ = writeln!(out, "  message: {line}");
    }
    for w in resp.warnings() {
        let _ = writeln!(out, "  warning: {w}");
    }
    for op in &patch {
        let _ = writeln!(
            out,
            "  patch:   {} {} {}",
            op["op"].as_str().unwrap_or("?"),
            op["path"].as_str().unwrap_or("?"),
            op["value"]
        );
    }
    let mut annotations: Vec<_> = resp.audit_annotations.iter().flatten().collect();
    annotations.sort();
    for (k, v) in annotations {
        let _ = writeln!(out, "  audit annotation: {k} = {v}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_mutation_shows_the_images_and_the_decoded_patch() {
        let request = json!({
            "operation": "CREATE", "kind": {"kind": "Pod"},
            "userInfo": {"username": "alice"}, "dryRun": false,
            "object": {"kind": "Pod", "metadata": {"name": "web"}, "spec": {
                "containers": [{"name": "web", "image": "nginx:1.25"}],
                "volumes": [{"name": "m", "image": {"reference": "m:1", "pullPolicy": "Always"}}],
            }},
        });
        let resp = AdmissionResponse {
            allowed: true,
            patch: Some(
                "W3sib3AiOiJhZGQiLCJwYXRoIjoiL3NwZWMvY29udGFpbmVycy8wL2ltYWdlUHVsbFBvbGljeSIsInZhbHVlIjoiQWx3YXlzIn1d"
                    .into(),
            ),
            ..Default::default()
        };
        let text = describe(&request, &json!({}), &resp, &[]);
        assert_eq!(
            text,
            "asked:    CREATE Pod web by alice\n\
             settings: default settings\n\
             images:   containers[0] \"web\" nginx:1.25 (no pull policy)\n\
             \u{20}         volumes[0] \"m\" m:1 (Always)\n\
             verdict:  ACCEPTED, MUTATED\n\
             \u{20} patch:   add /spec/containers/0/imagePullPolicy \"Always\"\n"
        );
    }

    #[test]
    fn an_audit_and_its_rejection_are_named() {
        let request = json!({"operation": "CREATE", "kind": {"kind": "Deployment"}, "userInfo": {},
            "object": {"kind": "Deployment", "metadata": {"name": "api"}}});
        let resp = AdmissionResponse::reject("u", "a\nb", None);
        let text = describe(&request, &json!({"pullPolicyAction": "reject"}), &resp, &[]);
        assert!(text.starts_with("asked:    CREATE Deployment api by the audit-scanner (background audit)\nsettings: pullPolicyAction=\"reject\"\nverdict:  REJECTED\n  message: a\n  message: b\n"), "{text}");
    }

    #[test]
    fn host_calls_say_what_was_asked_and_got() {
        let call = |operation: &str, payload: &str, outcome: Result<&str, &str>| HostCall {
            binding: "kubewarden".into(),
            namespace: operation.split('/').next().unwrap_or_default().into(),
            operation: operation.split_once('/').map_or("", |(_, o)| o).into(),
            payload: payload.into(),
            outcome: outcome.map(str::to_owned).map_err(str::to_owned),
        };
        let calls = [
            call(
                "kubernetes/list_resources_by_namespace",
                r#"{"api_version":"v1","kind":"Pod","namespace":"default"}"#,
                Ok(r#"{"kind":"PodList","items":[{},{}]}"#),
            ),
            call(
                "oci/v1/manifest_digest",
                r#""app:1""#,
                Ok(r#"{"digest":"sha256:ab"}"#),
            ),
            call(
                "oci/v1/oci_manifest",
                r#""app:1""#,
                Ok(r#"{"manifests":[]}"#),
            ),
            call(
                "oci/v1/manifest_digest",
                r#""app:2""#,
                Err("refused\nCaused by: x"),
            ),
            call("tracing/log", "{}", Ok("")),
        ];
        let lines: Vec<String> = calls.iter().filter_map(host_call_line).collect();
        assert_eq!(
            lines,
            [
                "kubernetes/list_resources_by_namespace default -> 2 Pods",
                "oci/v1/manifest_digest \"app:1\" -> sha256:ab",
                "oci/v1/oci_manifest \"app:1\" -> an index",
                "oci/v1/manifest_digest \"app:2\" -> error: refused",
            ]
        );
    }
}
