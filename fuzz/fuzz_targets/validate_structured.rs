//! Structured payloads that get deep: valid AdmissionRequests of every kind with fuzzer-chosen
//! settings, containers, images (from interesting references, with fuzzer bytes spliced in)
//! and pull policies; or a valid payload's text with fuzzer bytes spliced in at any place.
//!
//! Besides the invariants of `check_payload`, an oracle for "never pass what should be
//! refused": with no exemptions, on CREATE, an invalid reference is always refused, and so is a
//! mutable tag under `mutableTagAction: reject`.
#![no_main]

use arbitrary::Arbitrary;
use immutable_images::testing::KINDS;
use fuzz_support::{FuzzResolver, check_payload};
use immutable_images::testing::ImageRef;
use immutable_images::testing::Settings;
use immutable_images::testing::judge_tag;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const IMAGES: &[&str] = &[
    "nginx",
    "nginx:latest",
    "nginx:LATEST",
    "nginx:1",
    "nginx:1.25.3",
    "nginx:1.25@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "nginx@sha256:abc",
    "Nginx:1",
    "localhost:5000/app",
    "localhost:5000",
    "registry:5000/team/app:2.1",
    "[2001:db8::1]:5000/app:1.0",
    "[::1]/app",
    "quay.io/team/app:v1.2.3-rc.1+build.5",
    "index.docker.io/library/busybox:1.36",
    "ghcr.io/org/app:feature-dev",
    "registry.k8s.io/pause:3.9",
    "Myregistry/app:1",
    "",
];

const MUTABLE_TAGS: &[&str] = &["latest", "stable", "*-dev", "[0-9]", "v?", "*"];
const PATTERNS: &[&str] = &[
    "semver",
    "sha-[0-9a-f]{7}",
    "[0-9]+",
    "(a*)*b",
    "v?[0-9]+\\.[0-9]+",
];
const REGISTRIES: &[&str] = &["quay.io", "localhost:5000", "[::1]", "ghcr.io"];
const EXEMPT: &[&str] = &[
    "registry.k8s.io/pause:*",
    "docker.io/library/busybox*",
    "nginx:*",
    "*",
];
const NAMES: &[&str] = &["a", "b", "proxy", "init", ""];
const POLICIES: &[&str] = &["Always", "IfNotPresent", "Never", "always", ""];

#[derive(Debug, Arbitrary)]
enum Image {
    Known(u8),
    /// A known reference with fuzzer text put in at a place.
    Spliced(u8, u8, String),
    Raw(String),
}

impl Image {
    fn text(&self) -> String {
        match self {
            Image::Known(i) => IMAGES[*i as usize % IMAGES.len()].to_owned(),
            Image::Spliced(i, at, s) => {
                let base = IMAGES[*i as usize % IMAGES.len()];
                let mut at = *at as usize % (base.len() + 1);
                while !base.is_char_boundary(at) {
                    at -= 1;
                }
                format!("{}{s}{}", &base[..at], &base[at..])
            }
            Image::Raw(s) => s.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Container {
    list: u8,
    name: u8,
    image: Image,
    policy: Option<u8>,
    /// On UPDATE, also in the old object (unchanged, or with another image).
    in_old: Option<bool>,
}

#[derive(Debug, Arbitrary)]
struct SettingsChoice {
    mutable_tag_action: u8,
    pin_failure_action: u8,
    pull_policy_action: u8,
    pin_immutable_tags: bool,
    allow_if_not_present_when_pinned: bool,
    mutable_tags: Option<Vec<u8>>,
    patterns: Vec<u8>,
    registries: Vec<u8>,
    exempt_images: Vec<u8>,
    exempt_containers: Vec<(u8, u8)>,
}

#[derive(Debug, Arbitrary)]
enum Input {
    Structured {
        kind: u8,
        update: bool,
        settings: SettingsChoice,
        containers: Vec<Container>,
        salt: u64,
    },
    /// A valid payload's text with bytes spliced in at `at` (replacing `cut` bytes).
    SplicedText {
        kind: u8,
        at: u16,
        cut: u8,
        bytes: Vec<u8>,
        salt: u64,
    },
}

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[i as usize % list.len()]
}

fn settings_json(s: &SettingsChoice) -> Value {
    let mut v = json!({
        "mutableTagAction": pick(&["reject", "warn", "pin"], s.mutable_tag_action),
        "pinFailureAction": pick(&["reject", "warn", "accept"], s.pin_failure_action),
        "pullPolicyAction": pick(&["mutate", "reject", "warn", "ignore"], s.pull_policy_action),
        "pinImmutableTags": s.pin_immutable_tags,
        "allowIfNotPresentWhenPinned": s.allow_if_not_present_when_pinned,
        "immutableTagPatterns": s.patterns.iter().take(3).map(|i| pick(PATTERNS, *i)).collect::<Vec<_>>(),
        "immutableRegistries": s.registries.iter().take(3).map(|i| pick(REGISTRIES, *i)).collect::<Vec<_>>(),
        "exemptImages": s.exempt_images.iter().take(2).map(|i| pick(EXEMPT, *i)).collect::<Vec<_>>(),
        "exemptContainers": s.exempt_containers.iter().take(2).map(|(n, t)| json!({
            "name": pick(&NAMES[..4], *n), "type": pick(&["any", "init", "regular", "ephemeral"], *t)
        })).collect::<Vec<_>>(),
    });
    if let Some(tags) = &s.mutable_tags {
        v["mutableTags"] = json!(
            tags.iter()
                .take(3)
                .map(|i| pick(MUTABLE_TAGS, *i))
                .collect::<Vec<_>>()
        );
    }
    v
}

fn pod_spec(containers: &[Container], old: bool) -> Value {
    let mut spec = json!({});
    for c in containers.iter().take(8) {
        if old && c.in_old.is_none() {
            continue;
        }
        let mut image = c.image.text();
        if old && c.in_old == Some(false) {
            image.push_str("-old");
        }
        let policy = c.policy.map(|p| pick(POLICIES, p));
        let list = [
            "containers",
            "initContainers",
            "ephemeralContainers",
            "volumes",
        ][c.list as usize % 4];
        let entry = if list == "volumes" {
            let mut i = json!({"reference": image});
            if let Some(p) = policy {
                i["pullPolicy"] = json!(p);
            }
            json!({"name": pick(NAMES, c.name), "image": i, "x-unknown": [1, {"a": null}]})
        } else {
            let mut e =
                json!({"name": pick(NAMES, c.name), "image": image, "env": [{"name": "A"}]});
            if let Some(p) = policy {
                e["imagePullPolicy"] = json!(p);
            }
            e
        };
        match spec.get_mut(list) {
            Some(Value::Array(a)) => a.push(entry),
            _ => spec[list] = json!([entry]),
        }
    }
    spec
}

fn object(kind: u8, spec: Value) -> (Value, &'static str) {
    let row = KINDS[kind as usize % KINDS.len()];
    let (group, name, path) = (row.group, row.kind, row.pod_spec.keys());
    let mut inner = spec;
    for key in path.iter().rev() {
        inner = json!({ *key: inner, "x-other": {"k": [1, 2.5, "s"]} });
    }
    inner["apiVersion"] = json!(if group.is_empty() {
        "v1".to_owned()
    } else {
        format!("{group}/v1")
    });
    inner["kind"] = json!(name);
    inner["metadata"] = json!({"name": "n", "labels": {"app": "x"}});
    let request_kind = json!({"group": group, "version": "v1", "kind": name});
    (json!({"kind": request_kind, "object": inner}), name)
}

fuzz_target!(|input: Input| {
    match input {
        Input::Structured {
            kind,
            update,
            settings,
            containers,
            salt,
        } => {
            let (mut request, _) = object(kind, pod_spec(&containers, false));
            request["uid"] = json!("u");
            request["operation"] = json!(if update { "UPDATE" } else { "CREATE" });
            if update {
                let (old, _) = object(kind, pod_spec(&containers, true));
                request["oldObject"] = old["object"].clone();
            }
            let settings_value = settings_json(&settings);
            let payload = json!({"request": request, "settings": settings_value});
            let bytes = serde_json::to_vec(&payload).unwrap();
            let accepted = check_payload(&bytes, &FuzzResolver { salt });

            // Oracle: what must be refused, whatever else happens.
            let Ok(compiled) = Settings::from_json(settings_value.to_string().as_bytes()) else {
                return;
            };
            let exemptions =
                !compiled.exempt_images.is_empty() || !compiled.exempt_containers.is_empty();
            if update || exemptions || !accepted {
                return;
            }
            for c in containers.iter().take(8) {
                let written = c.image.text();
                match ImageRef::parse(&written) {
                    Err(e) => panic!("{written:?} is invalid ({e}) yet the request was accepted"),
                    Ok(r) => {
                        let verdict = judge_tag(&compiled, &r);
                        assert!(
                            !(verdict.is_mutable()
                                && settings_value["mutableTagAction"] == "reject"),
                            "{written:?} is mutable ({verdict:?}) yet accepted under reject"
                        );
                    }
                }
            }
        }
        Input::SplicedText {
            kind,
            at,
            cut,
            bytes,
            salt,
        } => {
            let spec = json!({"containers": [{"name": "a", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent"}],
                "initContainers": [{"name": "i", "image": "busybox"}],
                "volumes": [{"name": "m", "image": {"reference": "quay.io/m:v1"}}]});
            let (mut request, _) = object(kind, spec);
            request["operation"] = json!("CREATE");
            let text = json!({"request": request, "settings": {"mutableTagAction": "pin", "pinFailureAction": "warn"}}).to_string();
            let mut payload = text.into_bytes();
            let at = at as usize % (payload.len() + 1);
            let end = (at + cut as usize % 8).min(payload.len());
            payload.splice(at..end, bytes);
            check_payload(&payload, &FuzzResolver { salt });
        }
    }
});
