//! Hostile input: every malformed payload, request, object, image, setting or host answer gets a
//! clear rejection (not accepted, with a message that says what is wrong) or a documented
//! acceptance, and never a panic. Each case says which and why.

mod common;
use common::*;
use immutable_images::testing::validate_settings;
use immutable_images::testing::{validate, validate_bytes};
use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const OK: &str = "nginx:1.25";

fn raw(payload: &[u8]) -> ValidationResponse {
    validate(payload, &Registry::default())
}

/// Rejected, with a message containing every one of `parts`.
#[track_caller]
fn refused(r: &ValidationResponse, parts: &[&str]) -> String {
    let m = message(r).to_owned();
    for p in parts {
        assert!(m.contains(p), "message {:?} lacks {p:?}", short(&m));
    }
    m
}

/// The first 300 characters, for failure messages.
fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

/// A payload with an admission request (it names its user) whose object is `object`, as raw
/// JSON text.
fn payload_with_object(kind: &str, object: &str) -> Vec<u8> {
    let (group, version) = match kind {
        "Deployment" => ("apps", "v1"),
        _ => ("", "v1"),
    };
    format!(
        r#"{{"request":{{"uid":"u","userInfo":{{"username":"alice"}},"kind":{{"group":"{group}","version":"{version}","kind":"{kind}"}},"operation":"CREATE","object":{object}}},"settings":{{}}}}"#
    )
    .into_bytes()
}

fn pod_with_container(container: &str) -> Vec<u8> {
    payload_with_object(
        "Pod",
        &format!(r#"{{"apiVersion":"v1","kind":"Pod","spec":{{"containers":[{container}]}}}}"#),
    )
}

/// Runs `f` on a thread with a 1 MiB stack, the default stack of a wasm32-wasip1 module, so
/// that unbounded recursion shows here as it would in policy-server.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no panic and no stack overflow")
}

// ---------------------------------------------------------------- the payload

#[test]
fn payload_that_is_not_json_is_rejected() {
    // Rejected: nothing can be judged; the message says the payload is not a request and
    // serde_json's reason (with line and column).
    for (p, why) in [
        (&b""[..], "EOF while parsing a value"),
        (b"not json", "expected ident"),
        (b"\xff\xfe\x00", "expected value"),
        (b"42", "invalid type: integer `42`"),
        (b"\"request\"", "invalid type: string"),
        (b"null", "invalid type: null"),
        (b"{} {}", "trailing characters"),
        // A JSON array is not read positionally, as serde would read it.
        (b"[]", "invalid type: sequence, expected an object"),
        (
            b"[{\"operation\":\"DELETE\"},{}]",
            "invalid type: sequence, expected an object",
        ),
    ] {
        let r = raw(p);
        refused(
            &r,
            &["the payload is not a Kubewarden validation request", why],
        );
        assert_eq!(r.code, Some(400), "{p:?}");
    }
    // Rejected, though the message blames the request for a payload cut short (see
    // `a_truncated_payload_is_called_a_payload_error`).
    for p in [&b"{"[..], b"{\"request\":"] {
        refused(&raw(p), &["EOF while parsing"]);
    }
}

#[test]
fn payload_without_request_or_with_a_request_of_the_wrong_type_is_rejected() {
    // Rejected: no request (or `null`) is nothing to judge.
    refused(&raw(b"{}"), &["the payload has no request"]);
    refused(
        &raw(br#"{"request":null}"#),
        &["the payload has no request"],
    );
    // Rejected: a request that is not an object.
    for req in ["1", "\"Pod\"", "[]", "true"] {
        let p = format!(r#"{{"request":{req}}}"#);
        refused(
            &raw(p.as_bytes()),
            &["the request is not an AdmissionRequest"],
        );
    }
    // Rejected: fields of the request of the wrong type.
    for req in [
        r#"{"kind":"Pod","operation":"CREATE","object":{}}"#,
        r#"{"kind":{"kind":1},"operation":"CREATE","object":{}}"#,
        r#"{"kind":{"group":"","kind":"Pod"},"operation":7,"object":{}}"#,
        r#"{"kind":{"group":"","kind":"Pod"},"subResource":[],"object":{}}"#,
    ] {
        let p = format!(r#"{{"request":{req}}}"#);
        refused(
            &raw(p.as_bytes()),
            &["the request is not an AdmissionRequest"],
        );
    }
}

#[test]
fn request_without_kind_is_rejected_unless_delete_or_connect() {
    // Rejected: without a kind the policy cannot know where the images are.
    refused(
        &raw(br#"{"request":{"operation":"CREATE","object":{}}}"#),
        &["the request has no kind"],
    );
    refused(
        &raw(br#"{"request":{"kind":{"group":""},"operation":"CREATE","object":{}}}"#),
        &["the request has no kind"],
    );
    // Accepted (documented): DELETE and CONNECT are accepted before anything else is read.
    for op in ["DELETE", "CONNECT"] {
        let p = format!(r#"{{"request":{{"operation":"{op}"}}}}"#);
        assert_plain_accept(&raw(p.as_bytes()));
    }
}

#[test]
fn kind_in_another_group_is_another_kind_but_a_missing_group_matches_by_kind() {
    // Accepted (documented, "any other kind is accepted unchanged"): a Deployment is the kind
    // (apps, Deployment); a request that says group "" is not one of the kinds read.
    let mut req = create("Deployment", containers(&[("a", "nginx:latest")]));
    req["kind"]["group"] = json!("");
    assert_plain_accept(&run(&req, json!({})));
    // Judged: the API server always sends the group, so a request without one (or with
    // `null`) was written by hand, and its kind alone decides.
    req["kind"].as_object_mut().unwrap().remove("group");
    refused(&run(&req, json!({})), &["tag \"latest\" is mutable"]);
    req["kind"]["group"] = json!(null);
    refused(&run(&req, json!({})), &["tag \"latest\" is mutable"]);
}

#[test]
fn missing_object_is_rejected() {
    // Rejected: a CREATE or UPDATE of a judged kind must carry the object.
    let mut req = create("Pod", containers(&[("a", OK)]));
    req.as_object_mut().unwrap().remove("object");
    refused(
        &run(&req, json!({})),
        &["the CREATE request for a Pod has no object"],
    );
    req["object"] = Value::Null;
    refused(&run(&req, json!({})), &["has no object"]);
}

#[test]
fn object_that_is_not_a_json_object_is_rejected() {
    // Rejected: an array, string, number or bool where the object should be.
    for object in ["[]", "\"Pod\"", "1", "true", "[{\"spec\":{}}]"] {
        refused(
            &raw(&payload_with_object("Pod", object)),
            &[
                "cannot read the Pod: invalid type: ",
                ", expected an object",
            ],
        );
    }
}

#[test]
fn object_of_another_kind_than_the_request_is_rejected() {
    // Rejected: the object says it is a Deployment, the request says Pod; judging it as either
    // could miss images, so the policy refuses.
    let mut req = create("Pod", containers(&[("a", OK)]));
    req["object"]["kind"] = json!("Deployment");
    refused(
        &run(&req, json!({})),
        &["the object is a Deployment but the request is for a Pod"],
    );
    // Rejected: a kind that is not a string.
    req["object"]["kind"] = json!(["Pod"]);
    refused(
        &run(&req, json!({})),
        &["cannot read the Pod: kind: invalid type"],
    );
    // Rejected: a Deployment-shaped object in a Pod request has no `spec.containers`... and
    // kind "Deployment", so it is refused as above; with no kind at all it is judged as a Pod:
    // its `spec` has no containers list, so it has no images. Accepted (documented): a Pod with
    // no containers holds nothing to judge, and the API server refuses it anyway.
    let object = object("Deployment", containers(&[("a", "nginx:latest")]));
    let mut o = object.as_object().unwrap().clone();
    o.remove("kind");
    let req = request("Pod", "CREATE", Value::Object(o), None);
    assert_plain_accept(&run(&req, json!({})));
}

#[test]
fn object_without_a_pod_spec_is_rejected() {
    // Rejected: a workload with no pod template cannot be judged.
    let req = request(
        "Deployment",
        "CREATE",
        json!({"kind": "Deployment", "spec": {"replicas": 1}}),
        None,
    );
    refused(
        &run(&req, json!({})),
        &["the Deployment has no pod spec at spec.template.spec"],
    );
    let req = request(
        "Deployment",
        "CREATE",
        json!({"kind": "Deployment", "spec": {"template": null}}),
        None,
    );
    refused(&run(&req, json!({})), &["has no pod spec"]);
}

// ---------------------------------------------------------------- containers and images

#[test]
fn containers_that_are_not_arrays_are_rejected() {
    // Rejected: the message names the path of the field and what it is instead.
    for (value, what) in [
        ("{\"name\":\"a\",\"image\":\"nginx\"}", "invalid type: map"),
        ("\"nginx:latest\"", "invalid type: string"),
        ("42", "invalid type: integer"),
        ("true", "invalid type: boolean"),
        ("[\"nginx:latest\"]", "invalid type: string"),
        ("[null]", "invalid type: null"),
        // A container written as an array is no container (serde would read it positionally).
        (
            "[[{\"image\":\"nginx\"}]]",
            "[0]: invalid type: sequence, expected an object",
        ),
    ] {
        for list in [
            "containers",
            "initContainers",
            "ephemeralContainers",
            "volumes",
        ] {
            let object = format!(r#"{{"kind":"Pod","spec":{{"{list}":{value}}}}}"#);
            let m = refused(&raw(&payload_with_object("Pod", &object)), &[what]);
            assert!(
                m.starts_with(&format!("cannot read the Pod: spec.{list}")),
                "{m}"
            );
        }
    }
    // Accepted (documented): `"containers": null` is the same as no list (serde reads a null
    // optional field as absent); the API server never sends it and refuses a Pod without
    // containers.
    let object = r#"{"kind":"Pod","spec":{"containers":null,"initContainers":null}}"#;
    assert_plain_accept(&raw(&payload_with_object("Pod", object)));
    // Rejected: a container written `["a", "nginx:1.25", "Always"]` (name, image and pull
    // policy by position, as serde's derived readers would read it) is not read at all; the
    // API server never sends this form.
    for container in [
        r#"["a","nginx:1.25","Always"]"#,
        r#"["a","nginx:latest",null]"#,
    ] {
        let object = format!(r#"{{"kind":"Pod","spec":{{"containers":[{container}]}}}}"#);
        refused(
            &raw(&payload_with_object("Pod", &object)),
            &[
                "cannot read the Pod: spec.containers[0]: invalid type: sequence, expected an object",
            ],
        );
    }
}

#[test]
fn images_that_are_not_strings_are_rejected() {
    // Rejected: the message names the path and the type found.
    for (image, what) in [
        ("42", "invalid type: integer"),
        ("1.5", "invalid type: floating point"),
        ("true", "invalid type: boolean"),
        ("[\"nginx\"]", "invalid type: sequence"),
        ("{\"name\":\"nginx\"}", "invalid type: map"),
    ] {
        let m = refused(
            &raw(&pod_with_container(&format!(
                r#"{{"name":"a","image":{image}}}"#
            ))),
            &[what],
        );
        assert!(
            m.starts_with("cannot read the Pod: spec.containers[0].image"),
            "{m}"
        );
    }
    for (pull, what) in [("1", "integer"), ("[]", "sequence"), ("{}", "map")] {
        let m = refused(
            &raw(&pod_with_container(&format!(
                r#"{{"name":"a","image":"nginx:1.25","imagePullPolicy":{pull}}}"#
            ))),
            &[what],
        );
        assert!(m.contains("spec.containers[0].imagePullPolicy"), "{m}");
    }
}

#[test]
fn empty_missing_or_null_images_are_rejected() {
    // Rejected: an empty, absent or null image is an invalid reference ("the image is empty").
    for container in [
        r#"{"name":"a","image":""}"#,
        r#"{"name":"a"}"#,
        r#"{"name":"a","image":null}"#,
        r#"{}"#,
    ] {
        refused(
            &raw(&pod_with_container(container)),
            &[
                "spec.containers[0]",
                "invalid image reference: the image is empty",
            ],
        );
    }
    // Rejected: an image volume whose `image` has no reference.
    let object = r#"{"kind":"Pod","spec":{"volumes":[{"name":"m","image":{}}]}}"#;
    refused(
        &raw(&payload_with_object("Pod", object)),
        &["spec.volumes[0] \"m\" image volume \"\": invalid image reference: the image is empty"],
    );
}

#[test]
fn whitespace_control_and_odd_characters_in_images_are_rejected() {
    // Rejected: none of these is a reference; each message says why.
    for image in [
        " nginx:1.25",
        "nginx:1.25 ",
        "nginx:1.25\n",
        "nginx\t:1.25",
        "nginx:1.25\u{0}",
        "\u{0}",
        "nginx\u{0}:1.25",
        "nginx:1.25\u{200b}",
        "ngïnx:1.25",
        "nginx:1.25@",
        "nginx@@sha256:0",
        "https://registry.example.com/app:1",
        "registry.example.com//app:1",
        "/app:1",
        "app:1/",
        "[::1/app:1",
        "[]:5000/app:1",
    ] {
        let r = run(&create("Pod", containers(&[("a", image)])), json!({}));
        let m = refused(&r, &["invalid image reference: "]);
        // A reason follows, then the fix.
        let reason = m.split("invalid image reference: ").nth(1).unwrap();
        assert!(reason.len() > "write it as".len() + 10, "{m}");
        // The image is quoted with escapes, so control characters do not break the message.
        assert!(m.contains(&format!("{image:?}")), "{m}");
    }
}

#[test]
fn nul_bytes_raw_in_the_json_text_are_rejected() {
    // Rejected: a raw control character inside a JSON string is not JSON.
    let p = pod_with_container("{\"name\":\"a\",\"image\":\"nginx\u{0}:1.25\"}");
    refused(&raw(&p), &["request.object", "control character"]);
}

#[test]
fn invalid_utf8_is_rejected() {
    // Rejected: invalid UTF-8 anywhere in the payload is not JSON; in the image string it is
    // refused before any judging.
    let mut p = pod_with_container(r#"{"name":"a","image":"nginx:1.25XX"}"#);
    let at = p.windows(2).position(|w| w == b"XX").unwrap();
    p[at] = 0xff;
    p[at + 1] = 0xfe;
    refused(
        &raw(&p),
        &["spec.containers[0].image: invalid string: invalid unicode code point"],
    );
    // Outside any string: not JSON at all.
    let mut p = pod_with_container(r#"{"name":"a","image":"nginx:1.25"}"#);
    p.insert(1, 0xff);
    refused(&raw(&p), &["key must be a string"]);
    // An overlong encoding of '/' and a lone continuation byte.
    for bad in [&[0xc0u8, 0xaf][..], &[0x80], &[0xed, 0xa0, 0x80]] {
        let mut p = pod_with_container(r#"{"name":"a","image":"nginx:1.25X"}"#);
        let at = p.iter().position(|&b| b == b'X').unwrap();
        p.splice(at..at + 1, bad.iter().copied());
        refused(
            &raw(&p),
            &["spec.containers[0].image: invalid string: invalid unicode code point"],
        );
    }
    // Rejected: an escaped lone surrogate cannot become a Rust string (serde_json: "unexpected
    // end of hex escape").
    let p = pod_with_container(r#"{"name":"a","image":"nginx\ud800:1.25"}"#);
    refused(&raw(&p), &["spec.containers[0].image", "hex escape"]);
    // Accepted: a well-formed escape of a valid reference is that reference.
    let p = pod_with_container(
        r#"{"name":"a","image":"nginx\u003a1.25","imagePullPolicy":"Alw\u0061ys"}"#,
    );
    assert_plain_accept(&raw(&p));
}

#[test]
fn invalid_utf8_in_a_field_the_policy_skips_is_refused_when_the_object_is_mutated() {
    // The reader skips a label's value without decoding it; the mutation must not splice
    // into text that is not UTF-8. Wherever the object sits (followed by a key or last in the
    // request), its text is known from the pass and checked before the splice.
    let object = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"a":"XX"}},"spec":{"containers":[{"name":"a","image":"nginx:1.25"}]}}"#;
    let last = payload_with_object("Pod", object);
    let mut followed = last.clone();
    let end = followed.len() - br#"},"settings":{}}"#.len();
    followed.splice(end..end, br#","dryRun":false"#.iter().copied());
    for mut p in [followed, last] {
        let at = p.windows(2).position(|w| w == b"XX").unwrap();
        p[at] = 0xff;
        p[at + 1] = 0xfe;
        refused(
            &raw(&p),
            &["the Pod is not valid UTF-8, so it cannot be mutated"],
        );
    }
}

#[test]
fn a_one_megabyte_image_is_rejected_quickly() {
    // Rejected: longer than the 1024 characters a reference may have; refused before parsing.
    let image = format!("registry.example.com/{}:1", "a".repeat(1 << 20));
    let started = Instant::now();
    let r = run(&create("Pod", containers(&[("a", &image)])), json!({}));
    let m = refused(
        &r,
        &["invalid image reference: the reference is 1048599 characters long"],
    );
    eprintln!(
        "1 MiB image: {:?}, message {} bytes",
        started.elapsed(),
        m.len()
    );
    // The message quotes the image shortened in its middle, not 1 MiB of it.
    assert!(m.len() < 1000, "{} bytes", m.len());
    // A warning stays short even so.
    let r = run(
        &create("Pod", containers(&[("a", &image)])),
        json!({"mutableTagAction": "warn"}),
    );
    refused(&r, &["the reference is 1048599 characters long"]);
}

#[test]
fn a_one_megabyte_image_against_pathological_exemption_globs_answers() {
    // An invalid reference has no normalized form, so the exemption globs are matched against
    // it as written, and a huge one meets every glob. Accepted (documented): `*` exempts
    // anything, even an invalid reference. Rejected: a glob that does not match leaves the
    // invalid image refused.
    let image = "a".repeat(1 << 20);
    let started = Instant::now();
    let r = run(
        &create("Pod", containers(&[("a", &image)])),
        json!({"exemptImages": ["*a*a*a*a*a*a*a*a*a*a*a*a*b", "*"]}),
    );
    assert_plain_accept(&r);
    let r = run(
        &create("Pod", containers(&[("a", &image)])),
        json!({"exemptImages": ["*a*a*a*a*a*a*a*a*a*a*a*a*b"]}),
    );
    refused(&r, &["the reference is 1048576 characters long"]);
    let took = started.elapsed();
    eprintln!("1 MiB image against *a*a…*b globs: {took:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn ten_thousand_containers_are_answered() {
    // Accepted: 10,000 good containers. Rejected: 10,000 bad ones, one line each.
    // Mutated: 10,000 containers whose pull policy is set to Always.
    let good: Vec<Value> = (0..10_000)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("registry.example.com/app{i}:1.{i}"), "imagePullPolicy": "Always"}))
        .collect();
    let started = Instant::now();
    let r = run(
        &create("Deployment", json!({"containers": good})),
        json!({}),
    );
    let t_accept = started.elapsed();
    assert_plain_accept(&r);

    let bad: Vec<Value> = (0..10_000)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("app{i}:latest")}))
        .collect();
    let started = Instant::now();
    let r = run(&create("Deployment", json!({"containers": bad})), json!({}));
    let t_reject = started.elapsed();
    assert_eq!(message(&r).lines().count(), 10_000);

    let defaulted: Vec<Value> = (0..10_000)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("app{i}:1.0")}))
        .collect();
    let started = Instant::now();
    let r = run(
        &create("Deployment", json!({"containers": defaulted})),
        json!({}),
    );
    let t_mutate = started.elapsed();
    let out = mutated(&r);
    let list = at(out, "spec.template.spec.containers").as_array().unwrap();
    assert_eq!(list.len(), 10_000);
    assert!(list.iter().all(|c| c["imagePullPolicy"] == "Always"));
    eprintln!("10,000 containers: accept {t_accept:?}, reject {t_reject:?}, mutate {t_mutate:?}");
}

#[test]
fn ten_thousand_containers_pinned_resolve_each_image_once() {
    // Mutated: every container pinned; the same image is resolved once for the whole request.
    let reg = Registry::with(&[("nginx:latest", D1)]);
    let spec = json!({"containers": (0..10_000)
        .map(|i| json!({"name": format!("c{i}"), "image": "nginx:latest", "imagePullPolicy": "Always"}))
        .collect::<Vec<_>>()});
    let r = run_with(
        &create("Pod", spec),
        json!({"mutableTagAction": "pin"}),
        &reg,
    );
    let out = mutated(&r);
    assert_eq!(
        at(out, "spec.containers[9999].image"),
        &json!(format!("nginx:latest@{D1}"))
    );
    assert_eq!(reg.calls.borrow().len(), 1);
}

// ---------------------------------------------------------------- deep nesting

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn deep_pod(image: &str, policy: &str) -> Vec<u8> {
    let object = format!(
        r#"{{"kind":"Pod","metadata":{{"x":{}}},"spec":{{"containers":[{{"name":"a","image":"{image}"{policy}}}]}}}}"#,
        nested_arrays(10_000)
    );
    payload_with_object("Pod", &object)
}

#[test]
fn deep_nesting_in_an_unrelated_field_of_the_object_never_overflows() {
    // Accepted: the reader skips fields it does not read without recursing (no stack
    // overflow on a wasm-sized stack), so a good Pod with 10,000 nested arrays in its metadata
    // is judged on its images.
    let r = on_small_stack(|| raw(&deep_pod("nginx:1.25", r#","imagePullPolicy":"Always""#)));
    assert_plain_accept(&r);
    // Rejected: a bad image is refused for its own reason.
    let r = on_small_stack(|| raw(&deep_pod("nginx", r#","imagePullPolicy":"Always""#)));
    refused(&r, &["no tag, so it floats like :latest"]);
    // Mutated: the mutation is spliced into the object's text, which is never parsed into a
    // tree, so the nesting comes back byte for byte. (A host that parses the answer into
    // serde_json values, as policy-server does, stops at 128 levels: its limit, not ours.)
    let payload = deep_pod("nginx:1.25", "");
    let answer = on_small_stack(move || {
        String::from_utf8(validate_bytes(&payload, &Registry::default())).unwrap()
    });
    let deep = nested_arrays(10_000);
    assert!(
        answer.ends_with(&format!(
            r#""mutated_object":{{"kind":"Pod","metadata":{{"x":{deep}}},"spec":{{"containers":[{{"name":"a","image":"nginx:1.25","imagePullPolicy":"Always"}}]}}}}}}"#
        )),
        "{}",
        short(&answer)
    );
    assert!(answer.starts_with(r#"{"accepted":true,"#));
}

#[test]
fn deep_nesting_in_the_payload_itself_is_rejected_without_overflow() {
    // Rejected: the same limit applies to a field of the payload the policy ignores, to the
    // request, to the settings and to the old object.
    let deep = nested_arrays(10_000);
    let good_request = create(
        "Pod",
        json!({"containers": [{"name": "a", "image": OK, "imagePullPolicy": "Always"}]}),
    );
    let cases = vec![
        format!(r#"{{"request":{good_request},"settings":{{}},"x":{deep}}}"#),
        format!(r#"{{"x":{deep},"request":{good_request}}}"#),
        format!(r#"{{"request":{good_request},"settings":{{"mutableTags":{deep}}}}}"#),
        format!(r#"{{"request":{good_request},"settings":{{"x":{deep}}}}}"#),
        format!(r#"{{"request":{deep}}}"#),
        deep.clone(),
        format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)),
    ];
    // Accepted: an unknown field of the payload is skipped. Rejected: anywhere the policy
    // reads, the nesting is a wrong type (or an unknown settings key) and is refused as such.
    let expect = [
        None,
        None,
        Some("mutableTags[0]: invalid type: sequence"),
        Some("unknown field `x`"),
        Some("request: invalid type: sequence, expected an object"),
        // A payload is a JSON object (serde would read an array positionally).
        Some("invalid type: sequence, expected an object"),
        // 10,000 nested objects in an unknown field of the payload are skipped; no request.
        Some("the payload has no request"),
    ];
    for (p, want) in cases.into_iter().zip(expect) {
        let r = on_small_stack(move || raw(p.as_bytes()));
        match want {
            None => assert_plain_accept(&r),
            Some(w) => {
                refused(&r, &[w]);
            }
        }
    }
    // Accepted: 10,000 nested arrays in the old object of an UPDATE. The old object is only
    // read to skip unchanged containers; the new object is judged.
    let mut req = good_request.clone();
    req["operation"] = json!("UPDATE");
    let text = req.to_string().replacen(
        "\"operation\"",
        &format!("\"oldObject\":{{\"x\":{deep}}},\"operation\""),
        1,
    );
    let p = format!(r#"{{"request":{text}}}"#);
    let r = on_small_stack(move || raw(p.as_bytes()));
    assert_plain_accept(&r);
}

#[test]
fn nesting_below_the_limit_is_read() {
    // Accepted: 100 nested arrays in an unrelated field are skipped and the Pod is judged.
    let object = format!(
        r#"{{"kind":"Pod","metadata":{{"x":{}}},"spec":{{"containers":[{{"name":"a","image":"nginx:1.25","imagePullPolicy":"Always"}}]}}}}"#,
        nested_arrays(100)
    );
    assert_plain_accept(&raw(&payload_with_object("Pod", &object)));
}

// ---------------------------------------------------------------- duplicate keys

#[test]
fn duplicate_keys_are_rejected() {
    // Rejected: two values for one field the policy reads could be read differently by the API
    // server and the policy (first wins vs last wins), so the payload is refused and the
    // message names the field.
    let m = refused(
        &raw(&pod_with_container(
            r#"{"name":"a","image":"nginx:1.25","image":"nginx:latest","imagePullPolicy":"Always"}"#,
        )),
        &["duplicate field `image`"],
    );
    assert!(
        m.starts_with("cannot read the Pod: spec.containers[0]"),
        "{m}"
    );
    // An escaped spelling of the same key is the same key.
    refused(
        &raw(&pod_with_container(
            r#"{"name":"a","image":"nginx:1.25","im\u0061ge":"nginx:latest"}"#,
        )),
        &["duplicate field `image`"],
    );
    refused(
        &raw(&pod_with_container(
            r#"{"name":"a","image":"nginx:1.25","imagePullPolicy":"Always","imagePullPolicy":"Never"}"#,
        )),
        &["duplicate field `imagePullPolicy`"],
    );
    let object = r#"{"kind":"Pod","spec":{"containers":[{"name":"a","image":"nginx:1.25"}],"containers":[{"name":"b","image":"evil"}]}}"#;
    refused(
        &raw(&payload_with_object("Pod", object)),
        &["duplicate field `containers`"],
    );
    let object = r#"{"kind":"Pod","spec":{"containers":[]},"spec":{"containers":[{"name":"b","image":"evil"}]}}"#;
    refused(
        &raw(&payload_with_object("Pod", object)),
        &["duplicate field `spec`"],
    );
    // In the request and the payload.
    let p = br#"{"request":{"kind":{"group":"","kind":"ConfigMap"},"kind":{"group":"","kind":"Pod"},"operation":"CREATE","object":{"kind":"Pod","spec":{"containers":[{"name":"a","image":"evil"}]}}}}"#;
    refused(&raw(p), &["duplicate field `kind`"]);
    let p = br#"{"request":{"operation":"DELETE"},"request":{"kind":{"group":"","kind":"Pod"},"operation":"CREATE","object":{}}}"#;
    refused(&raw(p), &["duplicate field `request`"]);
    let p = br#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"DELETE","operation":"CREATE","object":{"kind":"Pod","spec":{"containers":[{"name":"a","image":"evil"}]}}}}"#;
    refused(&raw(p), &["duplicate field `operation`"]);
    // In the settings: refused as invalid settings.
    let p = format!(
        r#"{{"request":{},"settings":{{"mutableTags":["nothing"],"mutableTags":["latest"]}}}}"#,
        create("Pod", containers(&[("a", OK)]))
    );
    refused(
        &raw(p.as_bytes()),
        &["invalid settings", "duplicate field `mutableTags`"],
    );
    let v = validate_settings(br#"{"pullPolicyAction":"ignore","pullPolicyAction":"mutate"}"#);
    assert!(!v.valid);
    assert!(
        v.message
            .unwrap()
            .contains("duplicate field `pullPolicyAction`")
    );
}

#[test]
fn duplicate_keys_the_policy_does_not_read_are_accepted() {
    // Accepted (documented): a repeated key the policy skips (labels, env, ...) changes nothing
    // it judges.
    let p = pod_with_container(
        r#"{"name":"a","image":"nginx:1.25","imagePullPolicy":"Always","env":[],"env":[1]}"#,
    );
    assert_plain_accept(&raw(&p));
}

// ---------------------------------------------------------------- settings

/// Each settings key and the kind of value it takes. The test below checks that these are
/// the keys the policy takes, so that a new setting cannot be left out.
const KEYS: &[(&str, &str)] = &[
    ("mutableTags", "globs"),
    ("immutableTagPatterns", "strings"),
    ("immutableRegistries", "strings"),
    ("mutableTagAction", "enum"),
    ("pinImmutableTags", "bool"),
    ("pinFailureAction", "enum"),
    ("pullPolicyAction", "enum"),
    ("allowIfNotPresentWhenPinned", "bool"),
    ("pinBudgetMilliseconds", "milliseconds"),
    ("keepPinsOnUpdate", "optional bool"),
    ("pinFromReplicas", "optional bool"),
    ("exemptImages", "globs"),
    ("exemptContainers", "objects"),
];

/// The list after "expected one of " in a settings refusal, up to " at line".
fn expected_one_of(doc: &str) -> Vec<String> {
    let m = validate_settings(doc.as_bytes()).message.unwrap();
    let list = m
        .split_once("expected one of ")
        .and_then(|(_, rest)| rest.split_once(" at line"))
        .unwrap_or_else(|| panic!("{doc}: no list in {m:?}"))
        .0;
    list.split(", ")
        .map(|w| w.trim_matches('`').to_owned())
        .collect()
}

#[test]
fn settings_of_every_wrong_type_for_each_key_are_refused_by_name() {
    // The keys are the policy's own: those it names when it refuses an unknown key.
    let mut policy_keys = expected_one_of(r#"{"no such key":1}"#);
    policy_keys.sort();
    let mut keys: Vec<String> = KEYS.iter().map(|(k, _)| k.to_string()).collect();
    keys.sort();
    assert_eq!(
        keys, policy_keys,
        "KEYS lacks or has a key the policy does not"
    );
    // Rejected: each key with each value of a type it does not take; the message starts with
    // the key. Accepted (documented): `null` for an optional key (`mutableTags`,
    // `keepPinsOnUpdate`) means "not set", so its default applies; `null` for any other key is
    // refused.
    let values = [
        "null",
        "true",
        "0",
        "1",
        "-1",
        "1.5",
        "\"x\"",
        "\"\"",
        "[]",
        "{}",
        "[1]",
        "[null]",
        "[true]",
        "[[]]",
        "[{}]",
        "[\"\"]",
        "{\"a\":1}",
    ];
    for (key, kind) in KEYS {
        for v in values {
            let valid_for_kind = match *kind {
                "globs" | "strings" => v == "[]",
                "enum" => false,
                "bool" => v == "true",
                "optional bool" => v == "true" || v == "null",
                "milliseconds" => v == "1",
                "objects" => v == "[]",
                _ => unreachable!(),
            } || (*key == "mutableTags" && v == "null");
            let doc = format!(r#"{{"{key}":{v}}}"#);
            let verdict = validate_settings(doc.as_bytes());
            assert_eq!(
                verdict.valid, valid_for_kind,
                "{doc}: {:?}",
                verdict.message
            );
            if !verdict.valid {
                let m = verdict.message.unwrap();
                assert!(m.starts_with(key), "{doc}: {m}");
            }
        }
    }
    let unset = immutable_images::testing::Settings::from_json(br#"{"keepPinsOnUpdate":null}"#);
    assert!(unset.unwrap().keep_pins_on_update, "the default is true");
    // Enum keys take each of their words, as the policy lists them, and refuse every other
    // value: the words in other cases or with spaces, and the words of the other enum keys.
    let enums: Vec<(&str, Vec<String>)> = KEYS
        .iter()
        .filter(|(_, kind)| *kind == "enum")
        .map(|(key, _)| (*key, expected_one_of(&format!(r#"{{"{key}":true}}"#))))
        .collect();
    for (key, words) in &enums {
        for v in words {
            assert!(
                validate_settings(format!(r#"{{"{key}":"{v}"}}"#).as_bytes()).valid,
                "{key} {v}"
            );
        }
        let others = enums
            .iter()
            .flat_map(|(_, w)| w)
            .filter(|w| !words.contains(w));
        let bad = words
            .iter()
            .flat_map(|w| {
                let capitalized = w[..1].to_uppercase() + &w[1..];
                [
                    capitalized,
                    w.to_uppercase(),
                    format!(" {w}"),
                    format!("{w} "),
                ]
            })
            .chain(others.cloned())
            .chain(["".to_owned(), "always".to_owned()]);
        for v in bad {
            let verdict = validate_settings(format!(r#"{{"{key}":"{v}"}}"#).as_bytes());
            assert!(!verdict.valid, "{key} {v:?}");
            assert!(
                verdict
                    .message
                    .unwrap()
                    .starts_with(&format!("{key}: unknown variant"))
            );
        }
    }
    // exemptContainers entries: wrong types for name and type, and an empty name.
    for (entry, start) in [
        (r#"{"name":1}"#, "exemptContainers[0].name: invalid type"),
        (r#"{"name":null}"#, "exemptContainers[0].name: invalid type"),
        (r#"{}"#, "exemptContainers[0]: missing field `name`"),
        (
            r#"{"name":""}"#,
            "exemptContainers[0].name: must not be empty",
        ),
        (
            r#"{"name":"a","type":1}"#,
            "exemptContainers[0].type: invalid type: integer `1`, expected one of any, init, regular, ephemeral",
        ),
        (
            r#"{"name":"a","type":"Init"}"#,
            "exemptContainers[0].type: unknown variant",
        ),
        (r#""proxy""#, "exemptContainers[0]: invalid type: string"),
    ] {
        let verdict = validate_settings(format!(r#"{{"exemptContainers":[{entry}]}}"#).as_bytes());
        assert!(!verdict.valid, "{entry}");
        let m = verdict.message.unwrap();
        assert!(m.starts_with(start), "{entry}: {m}");
    }
}

#[test]
fn settings_that_are_not_an_object_are_refused() {
    // Rejected: a settings document must be an object (or empty/null for the defaults).
    for doc in ["1", "\"{}\"", "true", "{", "{} {}", "\u{feff}{}", "{\"a\"}"] {
        let verdict = validate_settings(doc.as_bytes());
        assert!(!verdict.valid, "{doc:?}");
        assert!(!verdict.message.unwrap().is_empty());
    }
    // Accepted (documented): empty, whitespace and null mean "all defaults".
    for doc in ["", "  \n", "null", " null ", "{}"] {
        assert!(validate_settings(doc.as_bytes()).valid, "{doc:?}");
    }
    // Rejected: invalid UTF-8 in a settings document.
    assert!(!validate_settings(b"{\"mutableTags\":[\"\xff\"]}").valid);
    // Through validate: invalid settings refuse every request, with the settings' reason.
    let r = run(&create("Pod", containers(&[("a", OK)])), json!(1));
    refused(&r, &["invalid settings"]);
    assert_eq!(r.code, Some(400));
}

#[test]
fn unknown_settings_keys_are_refused_by_name() {
    // Rejected: a typo must never disable a check; the message names the unknown key.
    for (doc, key) in [
        (r#"{"mutableTag":["latest"]}"#, "mutableTag"),
        (r#"{"MutableTags":["latest"]}"#, "MutableTags"),
        (r#"{"mutable_tags":["latest"]}"#, "mutable_tags"),
        (r#"{"mutableTags ":["latest"]}"#, "mutableTags "),
        (r#"{"exemptImage":["*"]}"#, "exemptImage"),
        (r#"{"":1}"#, ""),
    ] {
        let verdict = validate_settings(doc.as_bytes());
        assert!(!verdict.valid, "{doc}");
        let m = verdict.message.unwrap();
        assert!(m.contains(&format!("unknown field `{key}`")), "{doc}: {m}");
    }
    let verdict = validate_settings(br#"{"exemptContainers":[{"name":"a","types":"init"}]}"#);
    assert!(
        verdict
            .message
            .unwrap()
            .starts_with("exemptContainers[0].types: unknown field `types`")
    );
}

#[test]
fn catastrophic_regexes_are_safe() {
    // Accepted: `(a*)*b` and friends compile; Rust's regex engine runs in linear time, so the
    // longest tag (128 characters) is judged at once. The tag matches none of the patterns, so
    // it is refused as unlisted.
    let settings = json!({"immutableTagPatterns": ["(a*)*b", "(a|a)*b", "(a+)+$b", "(.*a){20}b"],
        "pullPolicyAction": "ignore"});
    assert!(validate_settings(settings.to_string().as_bytes()).valid);
    let image = format!("app:{}", "a".repeat(128));
    let started = Instant::now();
    let r = run(&create("Pod", containers(&[("a", &image)])), settings);
    refused(&r, &["matches none of immutableTagPatterns"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Rejected: a pattern whose compiled form is huge is refused as invalid, not compiled.
    for p in [
        "(a{1000}){1000}",
        "((a{100}){100}){100}",
        "\\w{10000}",
        "[\\p{L}\\p{N}]{5000}",
    ] {
        let verdict =
            validate_settings(json!({"immutableTagPatterns": [p]}).to_string().as_bytes());
        assert!(!verdict.valid, "{p}");
        let m = verdict.message.unwrap();
        assert!(
            m.starts_with("immutableTagPatterns[0]: invalid regex"),
            "{p}: {m}"
        );
    }
    // Rejected: syntax errors, look-around and back-references (not supported by the engine).
    for p in ["(", "a{2,1}", "(?=a)", "(a)\\1", "[z-a]", "*"] {
        let verdict =
            validate_settings(json!({"immutableTagPatterns": [p]}).to_string().as_bytes());
        assert!(!verdict.valid, "{p}");
        assert!(
            verdict
                .message
                .unwrap()
                .starts_with("immutableTagPatterns[0]: invalid regex")
        );
    }
    // Rejected: the empty pattern (it would match only the empty tag, which cannot exist).
    let verdict = validate_settings(br#"{"immutableTagPatterns":[""]}"#);
    assert_eq!(
        verdict.message.unwrap(),
        "immutableTagPatterns[0]: empty pattern"
    );
}

#[test]
fn anchors_cannot_be_escaped_by_alternation() {
    // Patterns are wrapped as `^(?:…)$`, so each alternative of `1\.2\.3|x` must match the
    // whole tag. Accepted: `1.2.3` and `x`. Rejected: `1.2.3-evil` and `x1.2.3`, which only
    // contain one.
    let s = json!({"immutableTagPatterns": ["1\\.2\\.3|x"], "pullPolicyAction": "ignore"});
    let judge =
        |image: &str, s: &Value| run(&create("Pod", containers(&[("a", image)])), s.clone());
    for ok in ["app:1.2.3", "app:x"] {
        assert_plain_accept(&judge(ok, &s));
    }
    for bad in ["app:1.2.3-evil", "app:x1.2.3"] {
        refused(&judge(bad, &s), &["matches none of immutableTagPatterns"]);
    }
    // Rejected: no pattern turns `latest` immutable, not even an alternative `.*` that matches
    // it: `mutableTags` (rule 4) is judged before the patterns (rule 5). Accepted
    // (documented): `.*` matches every other tag; the user asked for it.
    let s = json!({"immutableTagPatterns": ["1\\.2\\.3|.*"], "pullPolicyAction": "ignore"});
    refused(
        &judge("app:latest", &s),
        &["tag \"latest\" is mutable (mutableTags \"latest\")"],
    );
    assert_plain_accept(&judge("app:nightly", &s));
}

#[test]
fn bad_globs_are_refused_by_key_and_index() {
    // Rejected: globs the glob crate cannot compile, and empty globs.
    for key in ["mutableTags", "exemptImages"] {
        for g in ["[", "[!]", "***", "a**", "**b", "[a-", ""] {
            let verdict = validate_settings(json!({ key: ["ok", g] }).to_string().as_bytes());
            assert!(!verdict.valid, "{key} {g:?}");
            let m = verdict.message.unwrap();
            assert!(m.starts_with(&format!("{key}[1]: ")), "{key} {g:?}: {m}");
        }
    }
}

#[test]
fn pathological_globs_on_long_tags_answer_quickly() {
    // Accepted: a mutableTags glob of many stars against the longest tag does not blow up
    // (the glob crate stops at the first sub-pattern that cannot match).
    let s = json!({"mutableTags": ["*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"], "pullPolicyAction": "ignore"});
    let image = format!("app:{}", "a".repeat(128));
    let started = Instant::now();
    assert_plain_accept(&run(&create("Pod", containers(&[("a", &image)])), s));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn bad_immutable_registries_are_refused() {
    // Rejected: things that are not host[:port].
    for r in [
        "docker.io/library",
        "https://ghcr.io",
        "ghcr.io ",
        "",
        "[::1",
        "a b",
        "\u{0}",
        "registry",
        "bad_host.example",
    ] {
        let verdict = validate_settings(json!({"immutableRegistries": [r]}).to_string().as_bytes());
        assert!(!verdict.valid, "{r:?}");
        assert!(
            verdict
                .message
                .unwrap()
                .starts_with("immutableRegistries[0]")
        );
    }
    // A name without '.' or ':' would read as a Docker Hub repository, not a registry.
    let verdict = validate_settings(br#"{"immutableRegistries":["registry"]}"#);
    assert!(verdict.message.unwrap().contains("is not a registry host"));
}

// ---------------------------------------------------------------- pinning: host answers

#[test]
fn malformed_digests_from_the_host_are_failures_never_rewrites() {
    // Rejected (pinFailureAction reject): a host answer that is not a well-formed digest.
    // Accepted without a rewrite of the image (accept), or with a warning (warn).
    let good_hex = "0123456789abcdef".repeat(4);
    let good_hex = good_hex.as_str();
    let malformed = [
        String::new(),
        "sha256:".into(),
        "sha256:abc".into(),
        format!("sha256:{}", good_hex.to_uppercase()),
        format!("SHA256:{good_hex}"),
        format!("sha256:{good_hex}\n"),
        format!(" sha256:{good_hex}"),
        format!("sha256:{good_hex}0"),
        format!("md5:{good_hex}"),
        format!("sha256:{good_hex}@sha256:{good_hex}"),
        format!("{{\"digest\":\"sha256:{good_hex}\"}}"),
        format!("sha256:{}", &good_hex[..63]),
        format!("sha256:{}g", &good_hex[..63]),
        format!("sha512:{good_hex}"),
        "null".into(),
        "\u{0}".into(),
        format!("sha256:{}", "é".repeat(32)),
    ];
    for bad in &malformed {
        let reg = Registry::with(&[("nginx:latest", bad)]);
        let req = create("Pod", containers(&[("a", "nginx:latest")]));
        let r = run_with(&req, json!({"mutableTagAction": "pin"}), &reg);
        assert!(!r.accepted, "{bad:?} was taken: {:?}", r.mutated_object);
        refused(
            &r,
            &["cannot pin it to a digest: the host answered a malformed digest"],
        );
        assert!(r.mutated_object.is_none());

        let r = run_with(
            &req,
            json!({"mutableTagAction": "pin", "pinFailureAction": "accept"}),
            &reg,
        );
        // `nginx:latest` defaults to Always, so nothing else changes: a plain accept.
        assert_plain_accept(&r);
        let req_if_not_present = create(
            "Pod",
            json!({"containers": [{"name": "a", "image": "nginx:latest", "imagePullPolicy": "IfNotPresent"}]}),
        );
        let r = run_with(
            &req_if_not_present,
            json!({"mutableTagAction": "pin", "pinFailureAction": "accept"}),
            &reg,
        );
        let out = mutated(&r);
        assert_eq!(
            at(out, "spec.containers[0].image"),
            "nginx:latest",
            "{bad:?}"
        );
        assert_eq!(at(out, "spec.containers[0].imagePullPolicy"), "Always");

        let r = run_with(
            &req,
            json!({"mutableTagAction": "pin", "pinFailureAction": "warn", "pullPolicyAction": "ignore"}),
            &reg,
        );
        assert!(r.accepted && r.mutated_object.is_none(), "{bad:?}: {r:?}");
        assert_eq!(r.warnings.unwrap().len(), 1);
    }
}

#[test]
fn host_errors_of_any_content_are_quoted_not_obeyed() {
    // Rejected: the host's error text is quoted in the message (escaped by the message's own
    // quoting where it has control characters), whatever it holds.
    for error in [
        "",
        "\n\n",
        "x".repeat(100_000).as_str(),
        "{\"accepted\":true}",
        "\u{0}",
    ] {
        let reg = Registry::failing("nginx:latest", error);
        let req = create("Pod", containers(&[("a", "nginx:latest")]));
        let r = run_with(&req, json!({"mutableTagAction": "pin"}), &reg);
        refused(&r, &["cannot pin it to a digest"]);
    }
}

#[test]
fn valid_digests_of_every_algorithm_are_written_after_the_reference() {
    // Mutated: sha256, sha384 and sha512 answers pin `<written>@<digest>`.
    for digest in [
        D1.to_owned(),
        format!("sha384:{}", "a".repeat(96)),
        format!("sha512:{}", "b".repeat(128)),
    ] {
        let reg = Registry::with(&[("localhost:5000/app", &digest)]);
        let req = create("Pod", containers(&[("a", "localhost:5000/app")]));
        let r = run_with(&req, json!({"mutableTagAction": "pin"}), &reg);
        let out = mutated(&r);
        assert_eq!(
            at(out, "spec.containers[0].image"),
            &json!(format!("localhost:5000/app@{digest}"))
        );
    }
}

#[test]
fn images_that_are_invalid_are_never_sent_to_the_host() {
    // Rejected before any lookup: the host is never asked about an invalid reference.
    let reg = Registry::default();
    let req = create(
        "Pod",
        containers(&[("a", "Nginx:latest"), ("b", "nginx@sha256:abc")]),
    );
    let r = run_with(
        &req,
        json!({"mutableTagAction": "pin", "pinFailureAction": "accept"}),
        &reg,
    );
    assert_eq!(message(&r).lines().count(), 2);
    assert!(reg.calls.borrow().is_empty());
}

// ---------------------------------------------------------------- numbers and mutation

#[test]
fn numbers_out_of_f64_range_in_unrelated_fields() {
    // Mutated, with every number as written: the mutation is spliced into the object's text.
    // (A host that reads the answer into serde_json values refuses 1e400: its limit; no
    // built-in kind has such a number.) Accepted when nothing is mutated.
    let object = r#"{"kind":"Pod","metadata":{"x":1e400,"y":123456789012345678901234567890,"z":0.1000000000000000000001},"spec":{"containers":[{"name":"a","image":"nginx:1.25"}]}}"#;
    let answer = String::from_utf8(validate_bytes(
        &payload_with_object("Pod", object),
        &Registry::default(),
    ))
    .unwrap();
    assert!(
        answer.ends_with(r#""mutated_object":{"kind":"Pod","metadata":{"x":1e400,"y":123456789012345678901234567890,"z":0.1000000000000000000001},"spec":{"containers":[{"name":"a","image":"nginx:1.25","imagePullPolicy":"Always"}]}}}"#),
        "{answer}"
    );
    let object = r#"{"kind":"Pod","metadata":{"x":1e400},"spec":{"containers":[{"name":"a","image":"nginx:1.25","imagePullPolicy":"Always"}]}}"#;
    assert_plain_accept(&raw(&payload_with_object("Pod", object)));
}

// ---------------------------------------------------------------- reported bugs

/// Bug: a settings document that is a JSON array is read positionally by serde (the first
/// element is mutableTags, the second immutableTagPatterns, ...), so `[["nothing"]]` is valid
/// settings that turn the `latest` check off without naming a single key, and `[]` is valid
/// settings. docs/design.md: "unknown keys are an error, so a typo never disables a check"; a
/// settings document must be an object.
#[test]
fn settings_that_are_an_array_are_refused() {
    for doc in ["[]", r#"[["nothing"]]"#, r#"[null,[],[],"warn"]"#] {
        let verdict = validate_settings(doc.as_bytes());
        assert!(!verdict.valid, "{doc} is valid settings");
    }
    let r = run(
        &create("Pod", containers(&[("a", "nginx:latest")])),
        json!([["nothing"]]),
    );
    refused(&r, &["invalid settings"]);
}

/// Bug (minor): `immutableTagPatterns` are wrapped as `^(?:PATTERN)$` before they are
/// compiled, so a pattern with an unbalanced `)` closes the wrapper's group: `1)|(.*` compiles
/// to `^(?:1)|(.*)$`, which matches every tag, instead of being refused as an invalid regex.
/// Compiling the pattern alone first (or with `regex_syntax`) would refuse it.
#[test]
fn a_pattern_cannot_close_the_anchoring_group() {
    let verdict = validate_settings(br#"{"immutableTagPatterns":["1)|(.*"]}"#);
    assert!(!verdict.valid, "an unbalanced ')' is accepted");
    let s = json!({"immutableTagPatterns": ["1)|(.*"], "pullPolicyAction": "ignore"});
    let r = run(&create("Pod", containers(&[("a", "app:nightly")])), s);
    assert!(
        !r.accepted,
        "app:nightly passes a pattern meant to allow only `1`"
    );
}

/// Bug (minor, message): a payload cut short after `{` is blamed on the request:
/// "the request is not an AdmissionRequest: ?: EOF while parsing an object" (the path is the
/// placeholder `?`, not a field of the request); the settings answer "?: EOF ..." likewise.
#[test]
fn a_truncated_payload_is_called_a_payload_error() {
    let m = message(&raw(b"{")).to_owned();
    assert!(
        m.starts_with("the payload is not a Kubewarden validation request"),
        "{m}"
    );
    let v = validate_settings(b"{");
    assert!(!v.message.unwrap().starts_with('?'));
}

/// Refused: an enum setting is a string with one of its words, nothing else (not serde's
/// externally tagged form `{"pin": null}`); a wrong type names the key and the words.
#[test]
fn enum_settings_in_tagged_form_and_their_wrong_type_messages() {
    let v = validate_settings(br#"{"mutableTagAction":{"pin":null}}"#);
    assert!(!v.valid);
    assert!(
        v.message
            .unwrap()
            .starts_with("mutableTagAction: invalid type: map")
    );
    let v = validate_settings(br#"{"mutableTagAction":true}"#);
    assert_eq!(
        v.message.unwrap(),
        "mutableTagAction: invalid type: boolean `true`, expected one of reject, warn, pin at line 1 column 24"
    );
}

/// Accepted (for review): the reader checks UTF-8 only in strings it reads; invalid UTF-8 in
/// a string it skips (here `userInfo.groups`) does not refuse the request. The API server
/// only sends valid JSON, and nothing judged comes from such a string.
#[test]
fn invalid_utf8_in_a_skipped_string_is_not_refused() {
    let mut req = create(
        "Pod",
        json!({"containers": [{"name": "a", "image": OK, "imagePullPolicy": "Always"}]}),
    );
    req["userInfo"]["groups"] = json!(["system:mastXrs"]);
    let mut p = json!({"request": req, "settings": {}})
        .to_string()
        .into_bytes();
    let at = p.iter().position(|&b| b == b'X').unwrap();
    p[at] = 0x93;
    assert_plain_accept(&raw(&p));
}

/// Bug (minor): a valid reference close to the 1024-character limit is pinned past it, so the
/// policy writes an image that it refuses itself on the next admission (the ReplicaSet of a
/// pinned Deployment, say). Only a registry host longer than DNS allows gets there: paths are
/// at most 255 characters and tags 128, but the grammar does not bound the host (nor, since
/// distribution/reference v0.6.0, count it in the 255).
#[test]
fn pinning_never_writes_a_reference_the_policy_refuses() {
    // A 255-character path and a 128-character tag on a short host.
    let image = format!("r.example.com/{}:{}", "a".repeat(255), "t".repeat(128));
    assert!(immutable_images::testing::ImageRef::parse(&image).is_ok());
    // A host longer than DNS allows, valid by the grammar, 1000 characters in all: pinned, it
    // would be past the limit, so it is a pin failure and never written.
    let near = format!("{}.example.com/app:1", "r".repeat(980));
    assert!(immutable_images::testing::ImageRef::parse(&near).is_ok());
    assert!(immutable_images::testing::ImageRef::parse(&format!("{near}@{D1}")).is_err());
    let reg = Registry::with(&[(near.as_str(), D1)]);
    let r = run_with(
        &create("Pod", containers(&[("a", &near)])),
        json!({"mutableTagAction": "pin", "pinImmutableTags": true}),
        &reg,
    );
    refused(&r, &["the pinned reference would be invalid"]);
    let reg = Registry::with(&[(image.as_str(), D1)]);
    let settings = json!({"mutableTagAction": "pin", "pinImmutableTags": true});
    let r = run_with(
        &create("Pod", containers(&[("a", &image)])),
        settings.clone(),
        &reg,
    );
    if let Some(out) = &r.mutated_object {
        let pinned = at(out, "spec.containers[0].image")
            .as_str()
            .unwrap()
            .to_owned();
        let again = run_with(
            &create(
                "Pod",
                json!({"containers": [{"name": "a", "image": pinned, "imagePullPolicy": "Always"}]}),
            ),
            settings,
            &reg,
        );
        assert!(again.accepted, "{:?}", again.message.map(|m| short(&m)));
    }
}

/// Bug (see tests/reference_props.rs `uppercase_first_component_is_a_registry`): kubelet pulls
/// `Myregistry/app:latest` from the host `Myregistry`, but the policy reads it as
/// `docker.io/Myregistry/app:latest`, so an exemption meant for Docker Hub exempts it.
#[test]
fn an_uppercase_registry_is_not_docker_hub_for_exemptions() {
    let r = run(
        &create("Pod", containers(&[("a", "Myregistry/app:latest")])),
        json!({"exemptImages": ["docker.io/*"]}),
    );
    assert!(!r.accepted, "exempted as a Docker Hub image");
}

/// Warnings stay under the 120 characters Kubernetes asks for, with a long tag (once found at
/// 143 characters by the `validate_structured` fuzz target, then at exactly 120).
#[test]
fn warnings_stay_under_120_characters() {
    let image = format!("nginx:{}", "a".repeat(100));
    for settings in [
        json!({"mutableTagAction": "warn", "mutableTags": ["a*"], "pullPolicyAction": "ignore"}),
        json!({"mutableTagAction": "warn", "immutableTagPatterns": ["semver"], "pullPolicyAction": "ignore"}),
    ] {
        let r = run(&create("CronJob", containers(&[("a", &image)])), settings);
        assert!(r.accepted);
        for w in r.warnings.unwrap() {
            assert!(
                w.chars().count() < 120,
                "{} characters: {w}",
                w.chars().count()
            );
        }
    }
}

/// Bug (found through the real kwctl): a pull policy written as `null` was judged as absent but
/// the mutation inserted `"imagePullPolicy":"Always"` after the image while the `null` came
/// later in the text, and the host keeps the last key: no effective fix. A value that is
/// present, `null` included, is now replaced where it stands.
#[test]
fn a_null_pull_policy_is_replaced_where_it_stands() {
    const PIN: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    for (image, settings, registry) in [
        ("nginx:1.25", json!({}), Registry::default()),
        (
            "nginx",
            json!({"mutableTagAction": "pin"}),
            Registry::with(&[("nginx", PIN)]),
        ),
    ] {
        let p = format!(
            r#"{{"request":{{"uid":"u","userInfo":{{"username":"alice"}},"kind":{{"group":"","kind":"Pod"}},"operation":"CREATE","object":{{"kind":"Pod","spec":{{"containers":[{{"name":"a","image":"{image}","x":1,"imagePullPolicy":null}}]}}}}}},"settings":{settings}}}"#
        )
        .into_bytes();
        let r = validate(&p, &registry);
        assert!(r.accepted, "{:?}", r.message);
        let object = r.mutated_object.expect("a mutation");
        let text = object.to_string();
        assert_eq!(text.matches("imagePullPolicy").count(), 1, "{text}");
        assert_eq!(
            object["spec"]["containers"][0]["imagePullPolicy"], "Always",
            "{text}"
        );
    }
}

/// Bug (found through the real kwctl): `exemptImages: ["nginx:*"]` exempted `nginx:80/evil/app`
/// (the registry `nginx` on port 80) because the glob was matched against the reference as
/// written and `*` crosses `/`. A glob's name is now normalized as an image's is.
/// Bug: a glob whose name starts with `?` or `[…]` (`?ginx:*`, `[n]ginx:*`) was still taken as
/// written, as if it could stand for a registry: it exempted no Docker Hub image (normalized
/// references start with `docker.io/library/`) and did exempt the host `nginx` on any port.
/// `?` and `[…]` stand for one character of a name: such a glob is a Docker Hub name too.
#[test]
fn a_short_exemption_glob_means_docker_hub() {
    let answer = |image: &str, settings: &Value| {
        run(
            &create("Pod", containers(&[("a", image)])),
            settings.clone(),
        )
    };
    for glob in ["nginx:*", "?ginx:*", "[n]ginx:*"] {
        let exempt = json!({"exemptImages": [glob]});
        // Not exempt: the host `nginx` is refused as it is without the exemption.
        for image in ["nginx:80/evil/app", "nginx:80/evil/app:latest"] {
            let without = refused(
                &answer(image, &json!({})),
                &[&format!("image \"{image}\": ")],
            );
            assert_eq!(message(&answer(image, &exempt)), without, "{glob} {image}");
        }
        // Exempt: Docker Hub's nginx however written, refused without the exemption (the tag
        // `latest` is mutable) and admitted as it is with it.
        for image in [
            "nginx:latest",
            "docker.io/library/nginx:latest",
            "docker.io/nginx:latest",
            "index.docker.io/nginx:latest",
            "index.docker.io/library/nginx:latest",
        ] {
            refused(&answer(image, &json!({})), &["tag \"latest\" is mutable"]);
            assert_plain_accept(&answer(image, &exempt));
        }
    }
}
