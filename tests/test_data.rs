//! The sample requests in `test_data/` (as `kwctl run` takes them) give the expected answers
//! (those `make run` prints) under the sample settings files.

mod common;
use common::*;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/test_data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// What the policy finds wrong with one image of a sample.
#[derive(Debug, Clone, Copy)]
enum Problem {
    /// Rule 3.
    NoTag,
    /// Rule 4, under the default `mutableTags` (`latest`, ignoring case).
    Mutable,
    /// Rule 5.
    Unlisted,
    /// A pull policy other than Always: the one written, or Kubernetes' default
    /// (`IfNotPresent` for the tags of these samples) where none is.
    PullPolicy,
    /// An invalid reference, and why.
    Invalid(&'static str),
}

/// Why `job.json`'s `Busybox:1.36` is no reference.
const LOWERCASE: &str = "the repository name must be lowercase";

/// Where an image is, under the pod spec (`containers[0]`, `volumes[0]`), and its problem.
type Finding = (&'static str, Problem);

/// The answer a sample gets.
#[derive(Debug)]
enum Expected {
    Accept,
    /// Accepted, with the pull policy of the images at these places (under the pod spec) set
    /// to `Always`, and nothing else changed.
    SetAlways(&'static [&'static str]),
    /// One line for each finding, in this order.
    Reject(&'static [Finding]),
    /// One warning for each finding, in this order.
    Warn(&'static [Finding]),
}

/// An image of a sample, as the request writes it.
struct Entry<'a> {
    /// Its full place in the object (`spec.template.spec.containers[0]`).
    place: String,
    name: &'a str,
    image: &'a str,
    /// The pull policy written, if any.
    pull: Option<&'a str>,
    volume: bool,
}

impl<'a> Entry<'a> {
    /// The image at `place` (under the pod spec) of the request's object.
    fn at(request: &'a Value, place: &str) -> Entry<'a> {
        let kind = request["kind"]["kind"].as_str().unwrap();
        let place = format!("{}.{place}", path_of(kind).join("."));
        let entry = at(&request["object"], &place);
        let volume = entry.get("image").is_some_and(Value::is_object);
        let (image, pull) = if volume {
            (&entry["image"]["reference"], &entry["image"]["pullPolicy"])
        } else {
            (&entry["image"], &entry["imagePullPolicy"])
        };
        Entry {
            place,
            name: entry["name"].as_str().unwrap(),
            image: image.as_str().unwrap(),
            pull: pull.as_str(),
            volume,
        }
    }

    fn tag(&self) -> &str {
        self.image.rsplit(':').next().unwrap()
    }

    fn pull_policy_field(&self) -> &str {
        if self.volume {
            "pullPolicy"
        } else {
            "imagePullPolicy"
        }
    }

    /// How a rejection's line about this image starts: its place, name and image.
    fn rejection_start(&self) -> String {
        let what = if self.volume { "image volume" } else { "image" };
        format!("{} {:?} {what} {:?}: ", self.place, self.name, self.image)
    }

    /// The words that tell `problem` apart in the reason of a rejection's line or a warning,
    /// whatever the rest of the sentence: the problem, and the tag or pull policy it is about.
    /// (` mutable`, with its space, is not the `immutable` of immutableTagPatterns.)
    fn words(&self, problem: Problem) -> Vec<String> {
        match problem {
            Problem::NoTag => vec!["no tag".to_owned()],
            Problem::Mutable => vec![format!("{:?}", self.tag()), " mutable".to_owned()],
            Problem::Unlisted => vec![format!(
                "tag {:?} matches none of immutableTagPatterns",
                self.tag()
            )],
            Problem::PullPolicy => vec![format!(
                "{} {}",
                self.pull_policy_field(),
                self.pull.unwrap_or("IfNotPresent")
            )],
            Problem::Invalid(why) => vec![format!("invalid image reference: {why}")],
        }
    }
}

/// Asserts that `reason` holds each of `words`.
#[track_caller]
fn assert_words(case: &str, line: &str, reason: Option<&str>, words: &[String]) {
    let reason = reason.unwrap_or_else(|| panic!("{case}: {line:?} is about another image"));
    // With a space before it, so that a reason may start with a word (` mutable`).
    let reason = format!(" {reason}");
    for w in words {
        assert!(reason.contains(w.as_str()), "{case}: {line:?} lacks {w:?}");
    }
}

/// Checks the answer to `file` under `settings`: which images, and what about each.
#[track_caller]
fn check(file: &str, settings: &str, expected: Expected) {
    let request = load(file);
    let r = run(&request, load(settings));
    let case = format!("{file} under {settings}: {expected:?}");
    match expected {
        Expected::Accept => {
            assert!(
                r.accepted
                    && r.mutated_object.is_none()
                    && r.warnings.is_none()
                    && r.message.is_none(),
                "{case}: {r:?}"
            );
        }
        Expected::SetAlways(places) => {
            assert!(r.accepted && r.warnings.is_none(), "{case}: {r:?}");
            let mut want = request["object"].clone();
            for place in places {
                let entry = Entry::at(&request, place);
                assert_ne!(entry.pull, Some("Always"), "{case}: {place}");
                let mut pointer =
                    format!("/{}", entry.place.replace(['.', '['], "/").replace(']', ""));
                if entry.volume {
                    pointer.push_str("/image");
                }
                want.pointer_mut(&pointer).unwrap()[entry.pull_policy_field()] = "Always".into();
            }
            assert_eq!(r.mutated_object.as_ref(), Some(&want), "{case}");
        }
        Expected::Reject(findings) => {
            assert!(!r.accepted, "{case}: {r:?}");
            let message = r.message.unwrap();
            let lines: Vec<&str> = message.lines().collect();
            assert_eq!(lines.len(), findings.len(), "{case}: {message}");
            for (line, (place, problem)) in lines.iter().zip(findings) {
                let entry = Entry::at(&request, place);
                let reason = line.strip_prefix(&entry.rejection_start());
                assert_words(&case, line, reason, &entry.words(*problem));
            }
        }
        Expected::Warn(findings) => {
            assert!(r.accepted && r.mutated_object.is_none(), "{case}: {r:?}");
            let warnings = r.warnings.unwrap_or_default();
            assert_eq!(warnings.len(), findings.len(), "{case}: {warnings:?}");
            // A warning names the place and the image, which may be shortened, then the reason.
            for (warning, (place, problem)) in warnings.iter().zip(findings) {
                let entry = Entry::at(&request, place);
                let reason = warning
                    .strip_prefix(&format!("{} \"", entry.place))
                    .and_then(|rest| rest.split_once("\": "))
                    .map(|(_, reason)| reason);
                assert_words(&case, warning, reason, &entry.words(*problem));
            }
        }
    }
}

#[test]
fn sample_requests_under_default_settings() {
    use Expected::*;
    use Problem::*;
    let expected = [
        ("pod.json", SetAlways(&["containers[0]"])),
        (
            "pod-latest.json",
            Reject(&[("containers[0]", Mutable), ("initContainers[0]", NoTag)]),
        ),
        (
            "deployment.json",
            Reject(&[("containers[0]", Mutable), ("initContainers[0]", NoTag)]),
        ),
        ("deployment-pinned.json", SetAlways(&["containers[0]"])),
        ("replicaset.json", SetAlways(&["containers[0]"])),
        ("statefulset.json", Reject(&[("volumes[0]", NoTag)])),
        ("daemonset.json", Reject(&[("containers[0]", NoTag)])),
        ("replicationcontroller.json", SetAlways(&["containers[0]"])),
        ("job.json", Reject(&[("containers[0]", Invalid(LOWERCASE))])),
        (
            "cronjob.json",
            SetAlways(&["containers[0]", "initContainers[0]"]),
        ),
        ("podtemplate.json", Reject(&[("containers[0]", Mutable)])),
        (
            "pod-ephemeralcontainers.json",
            Reject(&[("ephemeralContainers[0]", NoTag)]),
        ),
        ("deployment-update-labels.json", Accept),
        ("deployment-update-sticky.json", Accept),
        ("pod-delete.json", Accept),
        ("configmap.json", Accept),
    ];
    for (file, want) in expected {
        check(file, "settings-default.json", want);
    }
}

#[test]
fn sample_requests_under_warn_and_strict_settings() {
    use Expected::*;
    use Problem::*;
    let expected = [
        (
            "pod.json",
            "settings-warn.json",
            Warn(&[("containers[0]", PullPolicy)]),
        ),
        (
            "deployment.json",
            "settings-warn.json",
            Warn(&[
                ("containers[0]", Mutable),
                ("containers[1]", PullPolicy),
                ("initContainers[0]", NoTag),
            ]),
        ),
        (
            "job.json",
            "settings-warn.json",
            Reject(&[("containers[0]", Invalid(LOWERCASE))]),
        ),
        (
            "replicaset.json",
            "settings-strict.json",
            Reject(&[("containers[0]", Unlisted), ("containers[0]", PullPolicy)]),
        ),
        (
            "cronjob.json",
            "settings-strict.json",
            Reject(&[
                ("containers[0]", PullPolicy),
                ("initContainers[0]", Unlisted),
                ("initContainers[0]", PullPolicy),
            ]),
        ),
        (
            "deployment-pinned.json",
            "settings-strict.json",
            Reject(&[("containers[0]", PullPolicy)]),
        ),
    ];
    for (file, settings, want) in expected {
        check(file, settings, want);
    }
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
