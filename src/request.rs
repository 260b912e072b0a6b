//! Reading the `validate` payload, `{"request": <AdmissionRequest>, "settings": {...}}`.
//!
//! Two readers give the same [`Payload`]. The fast one reads the request in one pass: the API
//! server writes `kind`, `subResource` and `operation` before `object` (Go's field order), so
//! by the time the object comes its shape is known and only its images are read from it,
//! without first capturing it whole. Where the order differs, the object is captured and read
//! afterwards. The traced reader captures the objects and names the path of any error; it
//! serves when the fast one fails (for the message) or when a mutation needs the object's text.

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::fmt;

use crate::podspec::{self, ObjectImages, ObjectSeed, Shape, Text};

/// An `object` or `oldObject` field as read.
#[derive(Debug, Default)]
pub enum Object<'a> {
    /// Absent or `null`.
    #[default]
    Absent,
    /// Present but not needed (another kind, or an old object outside UPDATE).
    Skipped,
    /// Captured whole, to be read by its shape afterwards.
    Raw(&'a RawValue),
    /// Its images, read in the pass over the request, as the given shape.
    Read(Shape, ObjectImages<'a>),
}

#[derive(Debug, Default, Deserialize)]
pub struct GroupVersionKind<'a> {
    /// Absent only in hand-written requests; then the kind alone decides.
    #[serde(borrow)]
    pub group: Option<Text<'a>>,
    #[serde(borrow)]
    pub kind: Option<Text<'a>>,
}

/// What the policy reads of an AdmissionRequest.
#[derive(Debug, Default)]
pub struct Request<'a> {
    pub kind: Option<GroupVersionKind<'a>>,
    pub sub_resource: Option<Text<'a>>,
    pub operation: Option<Text<'a>>,
    pub object: Object<'a>,
    pub old_object: Object<'a>,
    /// Where the `object` field sits, when it was read in the pass (not captured).
    pub object_bounds: ObjectBounds,
}

/// Where an object read in the pass over the request sits in the payload, known from the keys
/// around it (borrowed from the payload): the end of the `object` key and the start of the
/// key after the object. Between them there is only `:`, the object, `,` and whitespace. As
/// addresses, resolved against the payload by [`ObjectBounds::text`].
#[derive(Debug, Default, Clone, Copy)]
pub struct ObjectBounds {
    key_end: Option<usize>,
    next_key: Option<usize>,
}

/// Whitespace as JSON has it (not `u8::is_ascii_whitespace`, which takes form feed too).
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl ObjectBounds {
    /// The object's JSON text in `payload` (the buffer the request was read from), or `None`
    /// when a bound is unknown (an escaped key, no key after the object).
    pub fn text(self, payload: &[u8]) -> Option<&[u8]> {
        let base = payload.as_ptr() as usize;
        let key_end = self.key_end?.checked_sub(base)?;
        let next_key = self.next_key?.checked_sub(base)?;
        if payload.get(key_end) != Some(&b'"')
            || payload.get(next_key.checked_sub(1)?) != Some(&b'"')
        {
            return None;
        }
        let mut start = key_end + 1;
        while payload.get(start).copied().is_some_and(is_space) {
            start += 1;
        }
        if payload.get(start) != Some(&b':') {
            return None;
        }
        start += 1;
        while payload.get(start).copied().is_some_and(is_space) {
            start += 1;
        }
        let mut end = next_key - 1;
        while end > start && is_space(payload[end - 1]) {
            end -= 1;
        }
        if end <= start || payload[end - 1] != b',' {
            return None;
        }
        end -= 1;
        while end > start && is_space(payload[end - 1]) {
            end -= 1;
        }
        let object = &payload[start..end];
        (object.first() == Some(&b'{') && object.last() == Some(&b'}')).then_some(object)
    }
}

/// The address of a key's text when it is borrowed from the payload.
fn borrowed_at(key: &Text<'_>) -> Option<usize> {
    match &key.0 {
        std::borrow::Cow::Borrowed(s) => Some(s.as_ptr() as usize),
        std::borrow::Cow::Owned(_) => None,
    }
}

impl Request<'_> {
    /// The shape of the object, from what has been read so far.
    pub fn shape(&self) -> Option<Shape> {
        let gvk = self.kind.as_ref()?;
        podspec::shape_of(
            gvk.group.as_ref().map(Text::as_str),
            gvk.kind.as_ref()?.as_str(),
            self.sub_resource.as_ref().map_or("", Text::as_str),
        )
    }
}

/// The `validate` payload.
#[derive(Debug, Deserialize)]
pub struct Payload<'a> {
    #[serde(borrow)]
    pub request: Option<Request<'a>>,
    #[serde(borrow)]
    pub settings: Option<&'a RawValue>,
}

/// Reads the payload in one pass; any error is left to [`read_traced`] to explain.
pub fn read_fast(payload: &[u8]) -> Option<Payload<'_>> {
    serde_json::from_slice(payload).ok()
}

/// Reads the payload capturing the objects whole; an error names where it is.
pub fn read_traced(payload: &[u8]) -> Result<Payload<'_>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Captured<'a> {
        #[serde(borrow)]
        kind: Option<GroupVersionKind<'a>>,
        #[serde(borrow)]
        sub_resource: Option<Text<'a>>,
        #[serde(borrow)]
        operation: Option<Text<'a>>,
        #[serde(borrow)]
        object: Option<&'a RawValue>,
        #[serde(borrow)]
        old_object: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct Traced<'a> {
        #[serde(borrow)]
        request: Option<Captured<'a>>,
        #[serde(borrow)]
        settings: Option<&'a RawValue>,
    }
    let traced: Traced = crate::json::read(payload).map_err(|e| {
        if e.path.is_empty() {
            format!(
                "the payload is not a Kubewarden validation request: {}",
                e.error
            )
        } else {
            format!("the request is not an AdmissionRequest: {e}")
        }
    })?;
    fn raw(o: Option<&RawValue>) -> Object<'_> {
        o.map_or(Object::Absent, Object::Raw)
    }
    Ok(Payload {
        request: traced.request.map(|r| Request {
            kind: r.kind,
            sub_resource: r.sub_resource,
            operation: r.operation,
            object: raw(r.object),
            old_object: raw(r.old_object),
            object_bounds: ObjectBounds::default(),
        }),
        settings: traced.settings,
    })
}

impl<'de: 'a, 'a> Deserialize<'de> for Request<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor)
    }
}

struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = Request<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an AdmissionRequest")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Request<'de>, A::Error> {
        let mut r = Request::default();
        let mut after_object = false;
        let mut seen = [false; 5];
        let mut once = |i: usize, key: &'static str| {
            if std::mem::replace(&mut seen[i], true) {
                Err(de::Error::duplicate_field(key))
            } else {
                Ok(())
            }
        };
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if std::mem::take(&mut after_object) {
                r.object_bounds.next_key = borrowed_at(&key);
            }
            match key.as_str() {
                "kind" => {
                    once(0, "kind")?;
                    r.kind = map.next_value()?;
                }
                "subResource" => {
                    once(1, "subResource")?;
                    r.sub_resource = map.next_value()?;
                }
                "operation" => {
                    once(2, "operation")?;
                    r.operation = map.next_value()?;
                }
                "object" => {
                    once(3, "object")?;
                    r.object = object_field(&r, &mut map, true)?;
                    r.object_bounds.key_end = borrowed_at(&key).map(|at| at + key.as_str().len());
                    after_object = true;
                }
                "oldObject" => {
                    once(4, "oldObject")?;
                    r.old_object = object_field(&r, &mut map, false)?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(r)
    }
}

/// Reads an object field as far as what is known of the request allows.
fn object_field<'de, A: MapAccess<'de>>(
    r: &Request<'de>,
    map: &mut A,
    new: bool,
) -> Result<Object<'de>, A::Error> {
    let operation = r.operation.as_ref().map(Text::as_str);
    let needed = match operation {
        Some("DELETE" | "CONNECT") => false,
        Some("UPDATE") | None => true,
        Some(_) => new,
    };
    let known_kind = r.kind.as_ref().is_some_and(|k| k.kind.is_some());
    match (needed, known_kind, r.shape()) {
        (false, _, _) | (true, true, None) => {
            map.next_value::<IgnoredAny>()?;
            Ok(Object::Skipped)
        }
        (true, true, Some(shape)) => Ok(map
            .next_value_seed(OptionalObject(shape))?
            .map_or(Object::Absent, |images| Object::Read(shape, images))),
        (true, false, _) => Ok(map
            .next_value::<Option<&RawValue>>()?
            .map_or(Object::Absent, Object::Raw)),
    }
}

/// `null`, or an object of a shape.
struct OptionalObject(Shape);

impl<'de> de::DeserializeSeed<'de> for OptionalObject {
    type Value = Option<ObjectImages<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptionalObject {
    type Value = Option<ObjectImages<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        de::DeserializeSeed::deserialize(ObjectSeed(self.0), d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(json: &str) -> Request<'_> {
        read_fast(json.as_bytes()).unwrap().request.unwrap()
    }

    #[test]
    fn in_go_order_the_object_is_read_in_the_same_pass() {
        let r = fast(
            r#"{"request":{"uid":"u","kind":{"group":"apps","version":"v1","kind":"Deployment"},
            "operation":"CREATE","object":{"kind":"Deployment","spec":{"template":{"spec":
            {"containers":[{"name":"a","image":"nginx"}]}}}},"oldObject":null}}"#,
        );
        let Object::Read(Shape::Workload, images) = &r.object else {
            panic!("{:?}", r.object)
        };
        assert_eq!(
            images.sites.as_ref().unwrap()[0]
                .image
                .as_ref()
                .unwrap()
                .as_str(),
            "nginx"
        );
        assert!(matches!(r.old_object, Object::Skipped));
    }

    #[test]
    fn the_bounds_of_an_object_read_in_the_pass_are_known() {
        let payload = r#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"CREATE",
            "object" :  {"spec":{"containers":[]},"x":"}"}  ,
            "oldObject":null}}"#;
        let r = fast(payload);
        let text = r.object_bounds.text(payload.as_bytes()).unwrap();
        assert_eq!(text, br#"{"spec":{"containers":[]},"x":"}"}"#);
        // Another buffer: unknown.
        assert!(
            r.object_bounds
                .text(payload.to_owned().as_bytes())
                .is_none()
        );

        // Last in the request, or followed by an escaped key: unknown.
        for payload in [
            r#"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE","object":{"spec":{}}}}"#,
            r#"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE","object":{"spec":{}},"\u0064ryRun":false}}"#,
            r#"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE","obj\u0065ct":{"spec":{}},"dryRun":false}}"#,
        ] {
            let r = fast(payload);
            assert!(matches!(r.object, Object::Read(..)), "{payload}");
            assert!(
                r.object_bounds.text(payload.as_bytes()).is_none(),
                "{payload}"
            );
        }
    }

    #[test]
    fn an_object_before_its_kind_is_captured() {
        let r = fast(
            r#"{"request":{"object":{"spec":{}},"kind":{"group":"","kind":"Pod"},"operation":"CREATE"}}"#,
        );
        assert!(matches!(r.object, Object::Raw(_)), "{:?}", r.object);
    }

    #[test]
    fn objects_that_are_not_needed_are_skipped() {
        let r = fast(
            r#"{"request":{"kind":{"group":"","kind":"ConfigMap"},"operation":"CREATE","object":{"data":{}}}}"#,
        );
        assert!(matches!(r.object, Object::Skipped));
        let r = fast(
            r#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"CREATE","object":{"spec":{}},"oldObject":{"spec":{}}}}"#,
        );
        assert!(matches!(r.object, Object::Read(..)));
        assert!(matches!(r.old_object, Object::Skipped));
        let r = fast(
            r#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"DELETE","object":null,"oldObject":{"spec":{}}}}"#,
        );
        assert!(matches!(r.old_object, Object::Skipped));
    }

    #[test]
    fn the_fast_reader_refuses_what_the_traced_one_explains() {
        for bad in [
            r#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"CREATE","object":[1]}}"#,
            r#"{"request":{"kind":{"group":"","kind":"Pod"},"object":{"spec":{"containers":{}}}}}"#,
            r#"{"request":{"kind":{"kind":"Pod"},"kind":{"kind":"Pod"}}}"#,
            r#"{"request":{}} trailing"#,
        ] {
            assert!(read_fast(bad.as_bytes()).is_none(), "{bad}");
        }
        let e = read_traced(br#"{"request":{"operation":7}}"#).unwrap_err();
        assert!(
            e.starts_with(
                "the request is not an AdmissionRequest: request.operation: invalid type"
            ),
            "{e}"
        );
        let e = read_traced(b"{").unwrap_err();
        assert!(
            e.starts_with("the payload is not a Kubewarden validation request: EOF"),
            "{e}"
        );
    }
}
