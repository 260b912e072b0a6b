//! The sample requests in `test_data/` (as `kwctl run` takes them) give the answers the README
//! shows, under the sample settings files.

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

#[test]
fn sample_settings_are_valid() {
    for s in [
        "settings-default.json",
        "settings-warn.json",
        "settings-strict.json",
        "settings-pin.json",
    ] {
        let v = immutable_images::settings_verdict(load(s).to_string().as_bytes());
        assert!(v.valid, "{s}: {:?}", v.message);
    }
}
