//! The sample requests in `test_data/` (as `kwctl run` takes them) give the expected answers
//! (those `make run` prints) under the sample settings files.

mod common;
use common::*;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/test_data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Accept,
    Mutate,
    Reject(usize),
    Warn(usize),
}

fn verdict(file: &str, settings: &str) -> Verdict {
    let r = run(&load(file), load(settings));
    match (r.accepted, &r.mutated_object, &r.warnings) {
        (false, _, _) => Verdict::Reject(r.message.unwrap().lines().count()),
        (true, Some(_), _) => Verdict::Mutate,
        (true, None, Some(w)) => Verdict::Warn(w.len()),
        (true, None, None) => Verdict::Accept,
    }
}

#[test]
fn sample_requests_under_default_settings() {
    use Verdict::*;
    let expected = [
        ("pod.json", Mutate),
        ("pod-latest.json", Reject(2)),
        ("deployment.json", Reject(2)),
        ("deployment-pinned.json", Mutate),
        ("replicaset.json", Mutate),
        ("statefulset.json", Reject(1)),
        ("daemonset.json", Reject(1)),
        ("replicationcontroller.json", Mutate),
        ("job.json", Reject(1)),
        ("cronjob.json", Mutate),
        ("podtemplate.json", Reject(1)),
        ("pod-ephemeralcontainers.json", Reject(1)),
        ("deployment-update-labels.json", Accept),
        ("deployment-update-sticky.json", Accept),
        ("pod-delete.json", Accept),
        ("configmap.json", Accept),
    ];
    for (file, want) in expected {
        assert_eq!(verdict(file, "settings-default.json"), want, "{file}");
    }
}

#[test]
fn sample_requests_under_warn_and_strict_settings() {
    use Verdict::*;
    assert_eq!(verdict("pod.json", "settings-warn.json"), Warn(1));
    assert_eq!(verdict("deployment.json", "settings-warn.json"), Warn(3));
    assert_eq!(verdict("job.json", "settings-warn.json"), Reject(1));
    assert_eq!(
        verdict("replicaset.json", "settings-strict.json"),
        Reject(2)
    );
    assert_eq!(verdict("cronjob.json", "settings-strict.json"), Reject(3));
    assert_eq!(
        verdict("deployment-pinned.json", "settings-strict.json"),
        Reject(1)
    );
}

/// A GitOps re-apply of `api:1.4` over the live `api:1.4@sha256:…` in pin mode keeps the pin
/// with no lookup (the mocked registry knows no image: a lookup would be a rejection).
#[test]
fn sticky_sample_keeps_its_pin_without_a_lookup() {
    let request = load("deployment-update-sticky.json");
    let registry = Registry::default();
    let r = run_with(&request, load("settings-pin.json"), &registry);
    assert!(registry.calls.borrow().is_empty());
    let old = at(
        &request["oldObject"],
        "spec.template.spec.containers[0].image",
    );
    assert_eq!(
        at(mutated(&r), "spec.template.spec.containers[0].image"),
        old
    );
    let audit = r.audit_annotations.unwrap();
    assert_eq!(
        audit["pin.containers.0"],
        format!(
            "ghcr.io/example/api:1.4 -> {} (kept)",
            old.as_str().unwrap().split('@').nth(1).unwrap()
        )
    );
}

#[test]
fn sample_settings_are_valid() {
    for s in [
        "settings-default.json",
        "settings-warn.json",
        "settings-strict.json",
        "settings-pin.json",
    ] {
        let v = immutable_images::testing::validate_settings(load(s).to_string().as_bytes());
        assert!(v.valid, "{s}: {:?}", v.message);
    }
}

/// The fast reader reads the object in the same pass when `kind` comes first (Go's order, as
/// in these files and the audit-scanner's of `test_data/audit/`) and captures it otherwise:
/// both orders give the same answer.
#[test]
fn field_order_of_the_request_does_not_change_the_answer() {
    use immutable_images::testing::validate;
    let root = env!("CARGO_MANIFEST_DIR");
    let files = ["test_data", "test_data/audit"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(format!("{root}/{dir}")).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"));
    for path in files {
        let name = path.display().to_string();
        if name.contains("/settings-") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // The file has kind before object; the rewrite has its keys in reverse alphabetical
        // order, so object comes before kind (written by hand: serde_json sorts map keys).
        let mut keys = vec![];
        let mut de =
            serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Map<String, Value>>();
        let map = de.next().unwrap().unwrap();
        for (k, v) in map.iter() {
            keys.push(format!("{k:?}:{v}"));
        }
        let in_order = format!(r#"{{"request":{text},"settings":{{}}}}"#);
        keys.reverse();
        let reversed = format!(r#"{{"request":{{{}}},"settings":{{}}}}"#, keys.join(","));
        let a = validate(in_order.as_bytes(), &Registry::default());
        let b = validate(reversed.as_bytes(), &Registry::default());
        assert_eq!(
            (a.accepted, &a.message, &a.warnings, &a.mutated_object),
            (b.accepted, &b.message, &b.warnings, &b.mutated_object),
            "{name}"
        );
    }
}
