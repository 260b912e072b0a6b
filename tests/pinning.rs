//! Pinning in the field, with a mocked host whose clock is simulated: the pin budget, sticky
//! pins on UPDATE and the audit trail.

mod common;
use common::*;
use immutable_images::testing::Host;
use immutable_images::testing::validate;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashSet;
use std::time::Instant;

fn digest(i: usize) -> String {
    format!("sha256:{:064x}", i + 1)
}

/// `n` distinct images `reg.example.com/app<i>:1.0`, each known to the registry.
fn images(n: usize) -> (Vec<String>, Registry) {
    let names: Vec<String> = (0..n)
        .map(|i| format!("reg.example.com/app{i}:1.0"))
        .collect();
    let entries: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), digest(i)))
        .collect();
    let refs: Vec<(&str, &str)> = entries
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    (names, Registry::with(&refs))
}

fn deployment(images: &[String]) -> Value {
    let list: Vec<(String, &str)> = images
        .iter()
        .enumerate()
        .map(|(i, img)| (format!("c{i}"), img.as_str()))
        .collect();
    let refs: Vec<(&str, &str)> = list.iter().map(|(n, i)| (n.as_str(), *i)).collect();
    create("Deployment", containers(&refs))
}

const PIN_ALL: fn(&str) -> Value = |failure| json!({"pinImmutableTags": true, "pinFailureAction": failure, "pullPolicyAction": "ignore"});

fn image_at(out: &Value, i: usize) -> &str {
    at(out, &format!("spec.template.spec.containers[{i}].image"))
        .as_str()
        .unwrap()
}

#[test]
fn the_budget_stops_lookups_and_names_every_unresolved_image() {
    // Two round trips of 150 ms a lookup: three fit in the 900 ms budget.
    let (names, reg) = images(10);
    let reg = reg.slow(300);
    let r = run_with(&deployment(&names), PIN_ALL("reject"), &reg);
    let m = message(&r);
    assert_eq!(reg.calls.borrow().len(), 3, "{:?}", reg.calls);
    assert_eq!(m.lines().count(), 7, "{m}");
    for (i, line) in m.lines().enumerate() {
        let i = i + 3;
        assert_eq!(
            line,
            format!(
                "spec.template.spec.containers[{i}] \"c{i}\" image \"{}\": not resolved within the 900 ms pin budget; 3 of 10 resolved; retry (the host caches resolved digests for 60 s), or raise the policy's timeoutEvalSeconds and pinBudgetMilliseconds together",
                names[i]
            )
        );
    }
}

#[test]
fn a_larger_budget_resolves_more() {
    let (names, reg) = images(10);
    let reg = reg.slow(300);
    let mut settings = PIN_ALL("reject");
    settings["pinBudgetMilliseconds"] = json!(1800);
    let r = run_with(&deployment(&names), settings, &reg);
    assert!(message(&r).contains("6 of 10 resolved"), "{r:?}");
    assert_eq!(reg.calls.borrow().len(), 6);
}

#[test]
fn warn_admits_what_was_resolved_with_a_warning_for_each_other_image() {
    let (names, reg) = images(10);
    let reg = reg.slow(300);
    let r = run_with(&deployment(&names), PIN_ALL("warn"), &reg);
    let out = mutated(&r);
    for (i, name) in names.iter().enumerate() {
        let expected = if i < 3 {
            format!("{name}@{}", digest(i))
        } else {
            name.clone()
        };
        assert_eq!(image_at(out, i), expected);
    }
    let w = r.warnings.as_ref().unwrap();
    assert_eq!(w.len(), 8, "{w:?}");
    for (i, warning) in w[..7].iter().enumerate() {
        // The place stays whole; the image may be shortened in the middle to keep the
        // warning under 120 characters.
        let place = format!("spec.template.spec.containers[{}] \"", i + 3);
        let name = &names[i + 3];
        assert!(warning.starts_with(&place), "{warning}");
        assert!(warning.contains(&name[name.len() - 8..]), "{warning}");
        assert!(
            warning.ends_with("\": not resolved within the 900 ms pin budget; 3 of 10 resolved"),
            "{warning}"
        );
        assert!(warning.chars().count() < 120, "{warning}");
    }
    assert_eq!(
        w[7],
        "3 of 10 images pinned within the 900 ms pin budget; retry to pin the rest"
    );
    assert!(w.iter().all(|w| w.chars().count() <= 120));
    // accept: admitted, partly pinned, silently.
    let reg = images(10).1.slow(300);
    let r = run_with(&deployment(&names), PIN_ALL("accept"), &reg);
    assert!(r.warnings.is_none());
    assert_eq!(
        image_at(mutated(&r), 2),
        format!("{}@{}", names[2], digest(2))
    );
}

/// The host's 60 s cache in front of a slow registry: an image looked up once answers at once.
struct CachingHost {
    registry: Registry,
    cached: RefCell<HashSet<String>>,
}

impl Host for CachingHost {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        if self.cached.borrow().contains(image) {
            return self.registry.digests[image].clone();
        }
        let answer = self.registry.manifest_digest(image);
        if answer.is_ok() {
            self.cached.borrow_mut().insert(image.to_owned());
        }
        answer
    }
    fn now(&self) -> Instant {
        self.registry.now()
    }
}

#[test]
fn retries_converge_as_the_host_cache_fills() {
    let (names, reg) = images(12);
    let host = CachingHost {
        registry: reg.slow(300),
        cached: RefCell::default(),
    };
    let request = deployment(&names);
    let payload = json!({"request": request, "settings": PIN_ALL("reject")}).to_string();
    let mut resolved = Vec::new();
    let answer = loop {
        let r = validate(payload.as_bytes(), &host);
        if r.accepted {
            break r;
        }
        let m = r.message.unwrap();
        let n: usize = m
            .split("; ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{m}"));
        resolved.push(n);
        assert!(resolved.len() < 12, "no convergence: {resolved:?}");
    };
    assert_eq!(resolved, vec![3, 6, 9]);
    assert_eq!(host.registry.calls.borrow().len(), 12);
    let out = answer.mutated_object.unwrap();
    for (i, name) in names.iter().enumerate() {
        assert_eq!(image_at(&out, i), format!("{name}@{}", digest(i)));
    }
}

#[test]
fn identical_references_are_looked_up_once_and_count_once() {
    let (names, reg) = images(1);
    let reg = reg.slow(300);
    let same = vec![names[0].clone(); 5];
    let r = run_with(&deployment(&same), PIN_ALL("reject"), &reg);
    assert_eq!(reg.calls.borrow().len(), 1);
    let out = mutated(&r);
    for i in 0..5 {
        assert_eq!(image_at(out, i), format!("{}@{}", names[0], digest(0)));
    }
}

/// A spec with one image of each list, all `app:1.0`-like.
fn every_list(tagged: &dyn Fn(&str) -> String) -> Value {
    json!({
        "containers": [{"name": "a", "image": tagged("reg.example.com/a:1.0")}],
        "initContainers": [{"name": "i", "image": tagged("reg.example.com/i:1.0")}],
        "ephemeralContainers": [{"name": "e", "image": tagged("reg.example.com/e:1.0")}],
        "volumes": [{"name": "v", "image": {"reference": tagged("reg.example.com/v:1.0")}}]
    })
}

const PLACES: [(&str, &str); 4] = [
    ("containers[0].image", "containers.0"),
    ("initContainers[0].image", "initContainers.0"),
    ("ephemeralContainers[0].image", "ephemeralContainers.0"),
    ("volumes[0].image.reference", "volumes.0"),
];

#[test]
fn sticky_pins_keep_the_old_digest_without_a_lookup_in_every_kind_and_list() {
    let pinned = |r: &str| format!("{r}@{D1}");
    let plain = |r: &str| r.to_owned();
    for row in KINDS {
        let (kind, path) = (row.kind, row.pod_spec.keys());
        let old = object(kind, every_list(&pinned));
        let new = object(kind, every_list(&plain));
        let req = request(kind, "UPDATE", new, Some(old));
        // The registry would answer D2 for every tag: a lookup would show.
        let reg = Registry::with(&[
            ("reg.example.com/a:1.0", D2),
            ("reg.example.com/i:1.0", D2),
            ("reg.example.com/e:1.0", D2),
            ("reg.example.com/v:1.0", D2),
        ]);
        let r = run_with(&req, PIN_ALL("reject"), &reg);
        assert!(reg.calls.borrow().is_empty(), "{kind}: {:?}", reg.calls);
        let out = mutated(&r);
        let p = path.join(".");
        let audit = r.audit_annotations.as_ref().unwrap();
        for ((field, key), name) in PLACES.iter().zip(["a", "i", "e", "v"]) {
            let written = format!("reg.example.com/{name}:1.0");
            assert_eq!(at(out, &format!("{p}.{field}")), &json!(pinned(&written)));
            assert_eq!(
                audit[&format!("pin.{key}")],
                format!("{written} -> {D1} (kept)"),
                "{kind}"
            );
        }
    }
}

#[test]
fn a_changed_tag_or_repository_is_looked_up() {
    let old = object(
        "Pod",
        json!({"containers": [
            {"name": "a", "image": format!("reg.example.com/a:1.0@{D1}")},
            {"name": "b", "image": format!("reg.example.com/b:1.0@{D1}")},
            {"name": "c", "image": format!("reg.example.com/c:1.0@{D1}")}]}),
    );
    let new = object(
        "Pod",
        json!({"containers": [
            {"name": "a", "image": "reg.example.com/a:1.1"},
            {"name": "b", "image": "reg.example.com/other:1.0"},
            {"name": "c", "image": "reg.example.com/c:1.0"}]}),
    );
    let reg = Registry::with(&[
        ("reg.example.com/a:1.1", D2),
        ("reg.example.com/other:1.0", D2),
        ("reg.example.com/c:1.0", D2),
    ]);
    let r = run_with(
        &request("Pod", "UPDATE", new, Some(old)),
        PIN_ALL("reject"),
        &reg,
    );
    assert_eq!(
        *reg.calls.borrow(),
        vec!["reg.example.com/a:1.1", "reg.example.com/other:1.0"]
    );
    let out = mutated(&r);
    assert_eq!(
        at(out, "spec.containers[0].image"),
        &json!(format!("reg.example.com/a:1.1@{D2}"))
    );
    assert_eq!(
        at(out, "spec.containers[1].image"),
        &json!(format!("reg.example.com/other:1.0@{D2}"))
    );
    assert_eq!(
        at(out, "spec.containers[2].image"),
        &json!(format!("reg.example.com/c:1.0@{D1}"))
    );
    let audit = r.audit_annotations.unwrap();
    assert_eq!(
        audit["pin.containers.0"],
        format!("reg.example.com/a:1.1 -> {D2}")
    );
    assert_eq!(
        audit["pin.containers.2"],
        format!("reg.example.com/c:1.0 -> {D1} (kept)")
    );
}

#[test]
fn sticky_pins_need_the_same_name_and_list_and_can_be_turned_off() {
    let old = object(
        "Pod",
        json!({"initContainers": [{"name": "a", "image": format!("reg.example.com/a:1.0@{D1}")}],
               "containers": [{"name": "x", "image": format!("reg.example.com/a:1.0@{D1}")}]}),
    );
    let new = object(
        "Pod",
        json!({"containers": [{"name": "a", "image": "reg.example.com/a:1.0"}]}),
    );
    let req = request("Pod", "UPDATE", new, Some(old.clone()));
    let reg = Registry::with(&[("reg.example.com/a:1.0", D2)]);
    let r = run_with(&req, PIN_ALL("reject"), &reg);
    assert_eq!(
        reg.calls.borrow().len(),
        1,
        "another list or name is no pin"
    );
    assert_eq!(
        at(mutated(&r), "spec.containers[0].image"),
        &json!(format!("reg.example.com/a:1.0@{D2}"))
    );

    let same_name = object(
        "Pod",
        json!({"containers": [{"name": "x", "image": "reg.example.com/a:1.0"}]}),
    );
    let req = request("Pod", "UPDATE", same_name, Some(old));
    let reg = Registry::with(&[("reg.example.com/a:1.0", D2)]);
    let mut off = PIN_ALL("reject");
    off["keepPinsOnUpdate"] = json!(false);
    let r = run_with(&req, off, &reg);
    assert_eq!(
        reg.calls.borrow().len(),
        1,
        "keepPinsOnUpdate: false looks up"
    );
    assert_eq!(
        at(mutated(&r), "spec.containers[0].image"),
        &json!(format!("reg.example.com/a:1.0@{D2}"))
    );
}

#[test]
fn sticky_pins_apply_only_where_the_policy_would_pin() {
    // Default settings do not pin: the unpinned 1.0 is accepted as written (pull policy
    // Always is there, so nothing changes).
    let old = object(
        "Pod",
        json!({"containers": [{"name": "a", "image": format!("reg.example.com/a:1.0@{D1}"), "imagePullPolicy": "Always"}]}),
    );
    let new = object(
        "Pod",
        json!({"containers": [{"name": "a", "image": "reg.example.com/a:1.0", "imagePullPolicy": "Always"}]}),
    );
    let reg = Registry::default();
    let r = run_with(&request("Pod", "UPDATE", new, Some(old)), json!({}), &reg);
    assert_plain_accept(&r);
    assert!(reg.calls.borrow().is_empty());
}

#[test]
fn every_new_pin_is_audited_and_a_plain_accept_has_no_annotations() {
    let (names, reg) = images(2);
    let r = run_with(&deployment(&names), PIN_ALL("reject"), &reg);
    let audit = r.audit_annotations.as_ref().unwrap();
    assert_eq!(audit.len(), 2);
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            audit[&format!("pin.containers.{i}")],
            format!("{name} -> {}", digest(i))
        );
    }
    let r = run(
        &create("Pod", containers(&[("a", &format!("nginx:1@{D1}"))])),
        json!({"pullPolicyAction": "ignore"}),
    );
    assert_plain_accept(&r);
    assert!(r.audit_annotations.is_none());
}
