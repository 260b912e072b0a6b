//! The oracles for mutation as text and for the policy's one reader: the policy's first,
//! tree-based mutation (parse the object into serde_json values, set the fields at each edit's
//! pointer) kept here, outside the policy; serde_json's reading of the same payload, which
//! the reader must agree with ([`check_readers_agree`]); and a generator of requests whose
//! text varies wherever reading and splicing could go wrong (field order, whitespace, escapes
//! in keys and values, absent and `null` fields, unknown fields, big numbers, nesting, where
//! the object sits in the request).
//!
//! Shared by the `mutation` fuzz target and `tests/mutation_oracle.rs` (a proptest), which
//! includes this file.

use immutable_images::testing::{
    Answer, Edit, Host, ImageList, KINDS, Object, PodSpecPath, Request, Span, StringField,
    mutation, read_payload,
};
use serde_json::Value;

/// Whatever the policy's reader reads of a payload, serde_json reads the same: the payload is
/// JSON to it, with the same settings and request fields, and each object the reader read
/// has exactly the images serde_json finds at its kind's pod spec path, each value's span
/// holding that value's JSON text. Returns whether the reader read the payload.
///
/// Neither checks UTF-8 in what it skips, but serde_json's values must be UTF-8: it is given
/// the payload with each byte of an invalid sequence replaced by `?` (same length, same JSON
/// outside strings the reader skipped). serde_json's values stop at 128 levels and at f64's
/// range: where it cannot build them, it is no oracle.
pub fn check_readers_agree(payload: &[u8]) -> bool {
    let Ok(read) = read_payload(payload) else {
        return false;
    };
    let shown = || String::from_utf8_lossy(payload).into_owned();
    let utf8 = utf8_or_question_marks(payload);
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&utf8) {
        panic!("the reader read what serde_json refuses ({e}): {}", shown());
    }
    let Ok(value) = serde_json::from_slice::<Value>(&utf8) else {
        return true;
    };
    let settings = read
        .settings
        .map(|s| serde_json::from_slice::<Value>(&utf8_or_question_marks(s)).unwrap());
    assert_eq!(
        settings.as_ref(),
        present(&value["settings"]),
        "settings: {}",
        shown()
    );
    let request = match (read.request, present(&value["request"])) {
        (None, None) => return true,
        (Some(r), Some(v)) => (r, v),
        (r, v) => panic!("request {r:?} against {v:?}: {}", shown()),
    };
    check_request(payload, &request.0, request.1, &shown);
    true
}

/// `Some` for a value that is there and not `null`.
fn present(v: &Value) -> Option<&Value> {
    (!v.is_null()).then_some(v)
}

fn check_request(payload: &[u8], read: &Request<'_>, v: &Value, shown: &dyn Fn() -> String) {
    let text = |x: &Value| present(x).map(|x| x.as_str().expect("a string").to_owned());
    let kind = read.kind.as_ref();
    assert_eq!(
        kind.map(|k| (
            k.group.as_deref().map(str::to_owned),
            k.kind.as_deref().map(str::to_owned)
        )),
        present(&v["kind"]).map(|k| (text(&k["group"]), text(&k["kind"]))),
        "kind: {}",
        shown()
    );
    assert_eq!(
        read.operation.as_deref().map(str::to_owned),
        text(&v["operation"]),
        "{}",
        shown()
    );
    assert_eq!(
        read.sub_resource.as_deref().map(str::to_owned),
        text(&v["subResource"]),
        "{}",
        shown()
    );
    assert_eq!(
        read.dry_run,
        present(&v["dryRun"]).is_some(),
        "dryRun: {}",
        shown()
    );
    assert_eq!(
        read.username.as_deref().map(str::to_owned),
        text(&v["userInfo"]["username"]),
        "username: {}",
        shown()
    );
    for (object, value) in [
        (&read.object, &v["object"]),
        (&read.old_object, &v["oldObject"]),
    ] {
        match object {
            Object::Absent => assert!(value.is_null(), "{}", shown()),
            Object::Skipped => {}
            Object::Later(_) => panic!("an object left unread: {}", shown()),
            Object::Read(path, images, span) => {
                assert_eq!(&json_at(payload, *span), value, "object span: {}", shown());
                let expected = images_in(value, *path);
                let got = images.images.as_ref().map(|images| {
                    images
                        .iter()
                        .map(|e| {
                            (
                                e.list,
                                e.index,
                                e.name.as_deref().map(str::to_owned),
                                field(payload, e.image.as_ref()),
                                field(payload, e.pull_policy.as_ref()),
                            )
                        })
                        .collect::<Vec<_>>()
                });
                assert_eq!(got, expected, "images: {}", shown());
                assert_eq!(
                    images.kind.as_deref().map(str::to_owned),
                    text(&value["kind"]),
                    "{}",
                    shown()
                );
            }
        }
    }
}

/// One entry as compared: list, index, name, image and pull policy (each `null` or a string,
/// or absent).
type Entry = (
    ImageList,
    usize,
    Option<String>,
    Option<Value>,
    Option<Value>,
);

/// A field as the reader read it: its value, checked against the JSON text at its span.
fn field(payload: &[u8], f: Option<&StringField<'_>>) -> Option<Value> {
    let f = f?;
    let at_span = json_at(payload, f.span);
    let value = f
        .value
        .as_deref()
        .map_or(Value::Null, |s| Value::String(s.to_owned()));
    assert_eq!(at_span, value, "the span of a value holds another value");
    Some(value)
}

fn json_at(payload: &[u8], span: Span) -> Value {
    serde_json::from_slice(&utf8_or_question_marks(&payload[span.start..span.end]))
        .expect("a span that is not one JSON value")
}

/// The images serde_json finds in an object, in the reader's order; `None` without a pod spec.
fn images_in(object: &Value, path: PodSpecPath) -> Option<Vec<Entry>> {
    let spec = path
        .keys()
        .iter()
        .try_fold(object, |v, k| present(&v[*k]))?;
    let mut found = Vec::new();
    for (list, key) in [
        (ImageList::Containers, "containers"),
        (ImageList::InitContainers, "initContainers"),
        (ImageList::EphemeralContainers, "ephemeralContainers"),
    ] {
        for (i, c) in spec[key].as_array().into_iter().flatten().enumerate() {
            let c = c.as_object().unwrap();
            let name = c
                .get("name")
                .and_then(|n| present(n))
                .map(|n| n.as_str().unwrap().to_owned());
            found.push((
                list,
                i,
                name,
                c.get("image").cloned(),
                c.get("imagePullPolicy").cloned(),
            ));
        }
    }
    for (i, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        if let Some(image) = present(&v["image"]) {
            let image = image.as_object().unwrap();
            let name = present(&v["name"]).map(|n| n.as_str().unwrap().to_owned());
            found.push((
                ImageList::Volumes,
                i,
                name,
                image.get("reference").cloned(),
                image.get("pullPolicy").cloned(),
            ));
        }
    }
    Some(found)
}

/// `bytes` with each byte of an invalid UTF-8 sequence replaced by `?`.
fn utf8_or_question_marks(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut at = 0;
    while let Err(e) = std::str::from_utf8(&out[at..]) {
        let bad = at + e.valid_up_to();
        let len = e.error_len().unwrap_or(out.len() - bad);
        out[bad..bad + len].fill(b'?');
        at = bad + len;
    }
    out
}

/// The tree-based mutation: `object` with each edit's fields set at its pointer.
pub fn apply_tree(object: &str, edits: &[Edit]) -> Result<Value, String> {
    let mut value: Value =
        serde_json::from_str(object).map_err(|e| format!("cannot re-read the object: {e}"))?;
    for edit in edits {
        let holder = value
            .pointer_mut(&edit.pointer)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| format!("no object at {} to mutate", edit.pointer))?;
        for field in &edit.fields {
            holder.insert(field.key.to_owned(), Value::String(field.new.clone()));
        }
    }
    Ok(value)
}

/// Evaluates `payload` and, when the answer is a mutation, checks that the spliced object is
/// JSON and equals (as JSON values) what the tree-based mutation makes of the same edits.
/// Returns whether there was a mutation.
pub fn check_splice(payload: &[u8], resolver: &dyn Host) -> bool {
    check_readers_agree(payload);
    check_spliced(
        payload,
        &immutable_images::testing::answer(payload, resolver),
        resolver,
    )
}

/// The checks of [`check_splice`] on the answer already given to `payload`; and, for a
/// generated payload, that the policy read the pod spec where the generated object has it.
pub fn check_spliced(payload: &[u8], answer: &Answer, resolver: &dyn Host) -> bool {
    check_pod_spec_found_by_shape(payload);
    let Some(spliced) = &answer.mutated else {
        return false;
    };
    let (object, edits) = mutation(payload, resolver).expect("a mutation without its edits");
    let object = std::str::from_utf8(object).expect("a mutated object that is not UTF-8");
    let spliced_text = String::from_utf8_lossy(spliced);
    // serde_json values stop at 128 levels and at f64's range: where the tree cannot read the
    // object, it is no oracle.
    let Ok(expected) = apply_tree(object, &edits) else {
        return true;
    };
    let got: Value = serde_json::from_slice(spliced)
        .unwrap_or_else(|e| panic!("the spliced object is not JSON ({e}): {spliced_text}"));
    assert_eq!(
        got, expected,
        "splice and tree differ\nobject:  {object}\nspliced: {spliced_text}"
    );
    true
}

/// The policy's table of kinds puts each kind's pod spec somewhere; the generator builds
/// objects by that table. Found again here by its shape alone (the one way down through
/// objects, past the object's own `apiVersion`, `kind`, `metadata` and the generator's `x-`
/// fields, to the object that has `containers`), a generated object's pod spec must be where
/// the policy read it, or the table and the policy's reading disagree.
fn check_pod_spec_found_by_shape(payload: &[u8]) {
    let Ok(read) = read_payload(payload) else {
        return;
    };
    let Some(Object::Read(path, ..)) = read.request.map(|r| r.object) else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<Value>(&utf8_or_question_marks(payload)) else {
        return;
    };
    let mut at = &value["request"]["object"];
    let mut keys = Vec::new();
    while at.get("containers").is_none() {
        let Some((key, inner)) = at.as_object().and_then(|o| {
            o.iter().find(|(k, v)| {
                v.is_object() && !k.starts_with("x-") && !matches!(k.as_str(), "metadata")
            })
        }) else {
            return;
        };
        keys.push(key.as_str());
        at = inner;
    }
    assert_eq!(
        keys,
        path.keys(),
        "the pod spec is not where the policy read it"
    );
}

/// Reads choices from bytes (zero once they run out), so a fuzzer's input and a proptest's
/// byte vector drive the same generator.
pub struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn below(&mut self, n: usize) -> usize {
        self.byte() as usize % n
    }
    fn pick<'l, T>(&mut self, list: &'l [T]) -> &'l T {
        &list[self.below(list.len())]
    }
    fn chance(&mut self, in_256: u8) -> bool {
        self.byte() < in_256
    }
}

const IMAGES: &[&str] = &[
    "nginx",
    "nginx:latest",
    "nginx:1.25.3",
    "quay.io/team/app:v1.2.3",
    "localhost:5000/app:edge",
    "registry.example.com/a/b/c:stable",
    "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "busybox:1.36",
    "Nginx:1",
];
const POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const SPACE: &[&str] = &["", "", " ", "\n  ", "\t", "\r\n"];
const UNKNOWN: &[&str] = &[
    "123456789012345678901234567890",
    "-0.000000000000000000000000001",
    "1.5e300",
    "[]",
    "{}",
    "null",
    r#""a\"b\\c\u00e9\ud83d\ude00/""#,
    r#"{"image":"not-a-container","imagePullPolicy":"Never"}"#,
    r#"[{"image":"x"},{"name":"image"}]"#,
    "true",
];

/// A JSON string for `s`, each character written plainly or escaped as the generator chooses.
fn string(c: &mut Choices<'_>, s: &str) -> String {
    let mut out = String::from("\"");
    let escaping = c.chance(48);
    for ch in s.chars() {
        if escaping && c.chance(80) {
            if ch == '/' && c.chance(128) {
                out.push_str("\\/");
            } else {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        } else {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
    }
    out.push('"');
    out
}

fn object(c: &mut Choices<'_>, members: Vec<(String, String)>) -> String {
    let sp = |c: &mut Choices<'_>| *c.pick(SPACE);
    let mut out = format!("{{{}", sp(c));
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push_str(&format!(",{}", sp(c)));
        }
        let key = string(c, key);
        out.push_str(&format!("{key}{}:{}{value}{}", sp(c), sp(c), sp(c)));
    }
    out.push('}');
    out
}

fn shuffle<T>(c: &mut Choices<'_>, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, c.below(i + 1));
    }
}

fn nested(c: &mut Choices<'_>) -> String {
    let depth = c.below(40);
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// A container (or an image volume's `image` object) of the generator's choosing.
fn container(c: &mut Choices<'_>, volume: bool, index: usize) -> String {
    let (image_key, policy_key) = if volume {
        ("reference", "pullPolicy")
    } else {
        ("image", "imagePullPolicy")
    };
    let mut members = Vec::new();
    if !volume {
        members.push(("name".to_owned(), string(c, &format!("c{index}"))));
    }
    let image = c.pick(IMAGES).to_string();
    members.push((image_key.to_owned(), string(c, &image)));
    if c.chance(128) {
        let policy = c.pick(POLICIES).to_string();
        members.push((policy_key.to_owned(), string(c, &policy)));
    } else if c.chance(40) {
        // `null`, as other callers than the API server may write it: replaced where it stands.
        members.push((policy_key.to_owned(), "null".to_owned()));
    }
    for _ in 0..c.below(3) {
        let value = if c.chance(40) {
            nested(c)
        } else {
            c.pick(UNKNOWN).to_string()
        };
        members.push((format!("x-{}", c.below(1000)), value));
    }
    shuffle(c, &mut members);
    object(c, members)
}

/// A `validate` payload of the generator's choosing: any kind, containers in every list, the
/// object where the API server puts it or elsewhere, settings that mutate.
pub fn payload(bytes: &[u8]) -> Vec<u8> {
    let c = &mut Choices(bytes);
    let row = c.pick(KINDS);
    let (group, kind, path) = (row.group, row.kind, row.pod_spec.keys());
    // Chosen before the bytes run out, so each place of the object is as likely as the others.
    let place = c.below(4);
    let mut spec = Vec::new();
    for list in [
        "containers",
        "initContainers",
        "ephemeralContainers",
        "volumes",
    ] {
        let n = c.below(4);
        if n == 0 && list != "containers" {
            continue;
        }
        let volume = list == "volumes";
        let items: Vec<String> = (0..n)
            .map(|i| {
                if volume {
                    let image = container(c, true, i);
                    let name = string(c, &format!("v{i}"));
                    object(c, vec![("name".into(), name), ("image".into(), image)])
                } else {
                    container(c, false, i)
                }
            })
            .collect();
        spec.push((list.to_owned(), format!("[{}]", items.join(","))));
    }
    spec.push(("x-spec".into(), nested(c)));
    shuffle(c, &mut spec);
    let mut inner = object(c, spec);
    for key in path.iter().rev() {
        let mut members = vec![
            (key.to_string(), inner),
            ("x-other".into(), c.pick(UNKNOWN).to_string()),
        ];
        shuffle(c, &mut members);
        inner = object(c, members);
    }
    // The object's own kind goes first, as the API server writes it.
    let object_text = format!(
        "{{\"apiVersion\":\"{}\",\"kind\":\"{kind}\",\"metadata\":{{\"name\":\"n\"}},{}",
        if group.is_empty() {
            "v1".to_owned()
        } else {
            format!("{group}/v1")
        },
        &inner[1..]
    );
    let gvk = format!(r#"{{"group":"{group}","version":"v1","kind":"{kind}"}}"#);
    let request = match place {
        // Go's order, as the API server writes it.
        0 | 1 => format!(
            r#"{{"uid":"u","kind":{gvk},"operation":"CREATE","object":{object_text},"oldObject":null,"dryRun":false}}"#
        ),
        // Nothing after the object.
        2 => format!(
            r#"{{"uid":"u","userInfo":{{"username":"u"}},"kind":{gvk},"operation":"CREATE","object":{object_text}}}"#
        ),
        // The object before its kind.
        _ => format!(
            r#"{{"object":{object_text},"kind":{gvk},"operation":"CREATE","userInfo":{{"username":"u"}}}}"#
        ),
    };
    let settings = format!(
        r#"{{"mutableTagAction":"{}","pinImmutableTags":{},"pinFailureAction":"warn","pullPolicyAction":"{}"}}"#,
        c.pick(&["pin", "pin", "warn"]),
        c.chance(128),
        c.pick(&["mutate", "mutate", "warn"]),
    );
    format!(r#"{{"request":{request},"settings":{settings}}}"#).into_bytes()
}
