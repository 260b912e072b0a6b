//! Reading the `validate` payload, `{"request": <AdmissionRequest>, "settings": {...}}`.
//!
//! Two readers give the same [`Payload`]. The fast one ([`read_fast`]) reads the request in
//! one pass with the strict scanner of [`crate::scan`]. policy-evaluator (policy-server,
//! kwctl) builds the payload as serde_json values without `preserve_order`, so the request's
//! keys come sorted: `kind` before `object` and `oldObject`, `operation` and `subResource`
//! after them. The objects are read by the kind's shape as they stream by (only their images,
//! and where they sit), and what the operation and subresource decide is settled once the
//! request is read. Where `kind` comes after an object (other hosts), that object is captured
//! and read afterwards. The traced reader
//! ([`read_traced`], serde_json) captures the objects and names the path of any error; it
//! serves when the fast one gives up (for the message, or to read what the scanner leaves to
//! serde_json).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::podspec::{self, ObjectImages, Shape, Text};
use crate::scan::{self, Scanner, Unread};

/// An `object` or `oldObject` field as read.
#[derive(Debug, Default)]
pub enum Object<'a> {
    /// Absent or `null`.
    #[default]
    Absent,
    /// Present but not needed (another kind, or an old object outside UPDATE).
    Skipped,
    /// Captured whole (its JSON text), to be read by its shape afterwards.
    Raw(&'a str),
    /// Its images, read in the pass over the request, as the given shape; and its JSON text
    /// (bytes the scanner skipped, so not checked for UTF-8).
    Read(Shape, ObjectImages<'a>, &'a [u8]),
}

#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
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
    /// `dryRun` is present and not `null`.
    pub dry_run: bool,
    /// `userInfo.username`.
    pub username: Option<Text<'a>>,
}

impl Request<'_> {
    /// Whether this is the audit-scanner's synthetic request rather than the API server's
    /// (docs/design.md, "Background audit"). The API server sets `dryRun` on every request
    /// and a non-empty `userInfo.username` for every user, anonymous ones included; the
    /// audit-scanner sets neither. Both must be missing, so a request from the API server is
    /// never taken for an audit.
    pub fn is_background_audit(&self) -> bool {
        !self.dry_run && self.username.as_ref().is_none_or(|u| u.as_str().is_empty())
    }

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
#[derive(Debug)]
pub struct Payload<'a> {
    pub request: Option<Request<'a>>,
    /// The settings' JSON text.
    pub settings: Option<&'a str>,
}

/// Reads the payload in one pass; `None` when the scanner gives up, for [`read_traced`] to
/// read or explain.
pub fn read_fast(payload: &[u8]) -> Option<Payload<'_>> {
    scan_payload(payload).ok()
}

fn scan_payload(bytes: &[u8]) -> scan::Result<Payload<'_>> {
    let mut s = Scanner::new(bytes);
    let mut payload = Payload {
        request: None,
        settings: None,
    };
    s.fields([b"request", b"settings"], |s, field| {
        if s.null()? {
            return Ok(());
        }
        match field {
            0 => payload.request = Some(scan_request(s)?),
            _ => payload.settings = Some(std::str::from_utf8(s.skip()?).map_err(|_| Unread)?),
        }
        Ok(())
    })?;
    s.end()?;
    Ok(payload)
}

fn scan_request<'a>(s: &mut Scanner<'a>) -> scan::Result<Request<'a>> {
    let mut r = Request::default();
    let names = [
        &b"kind"[..],
        b"subResource",
        b"operation",
        b"object",
        b"oldObject",
        b"dryRun",
        b"userInfo",
    ];
    s.fields(names, |s, field| {
        match field {
            0 => r.kind = scan_gvk(s)?,
            1 => r.sub_resource = podspec::scan_text(s)?,
            2 => r.operation = podspec::scan_text(s)?,
            3 => r.object = object_field(&r, s, true)?,
            4 => r.old_object = object_field(&r, s, false)?,
            5 => {
                r.dry_run = !s.null()?;
                if r.dry_run {
                    s.skip()?;
                }
            }
            _ => r.username = scan_username(s)?,
        }
        Ok(())
    })?;
    Ok(r)
}

/// `userInfo.username`, or `None` when `userInfo` or its username is absent or `null`.
fn scan_username<'a>(s: &mut Scanner<'a>) -> scan::Result<Option<Text<'a>>> {
    let mut username = None;
    if !s.null()? {
        s.fields([b"username"], |s, _| {
            username = podspec::scan_text(s)?;
            Ok(())
        })?;
    }
    Ok(username)
}

fn scan_gvk<'a>(s: &mut Scanner<'a>) -> scan::Result<Option<GroupVersionKind<'a>>> {
    if s.null()? {
        return Ok(None);
    }
    let mut gvk = GroupVersionKind::default();
    s.fields([b"group", b"kind"], |s, field| {
        let text = podspec::scan_text(s)?;
        match field {
            0 => gvk.group = text,
            _ => gvk.kind = text,
        }
        Ok(())
    })?;
    Ok(Some(gvk))
}

/// Reads an object field as far as what is known of the request allows.
fn object_field<'a>(r: &Request<'a>, s: &mut Scanner<'a>, new: bool) -> scan::Result<Object<'a>> {
    let operation = r.operation.as_ref().map(Text::as_str);
    let needed = match operation {
        Some("DELETE" | "CONNECT") => false,
        Some("UPDATE") | None => true,
        Some(_) => new,
    };
    let known_kind = r.kind.as_ref().is_some_and(|k| k.kind.is_some());
    // Only a known kind has a shape.
    let shape = r.shape();
    if !needed || (known_kind && shape.is_none()) {
        s.skip()?;
        return Ok(Object::Skipped);
    }
    if s.null()? {
        return Ok(Object::Absent);
    }
    match shape {
        Some(shape) => {
            s.peek();
            let start = s.position();
            let images = podspec::scan_object(s, shape)?;
            Ok(Object::Read(shape, images, s.since(start)))
        }
        None => Ok(Object::Raw(
            std::str::from_utf8(s.skip()?).map_err(|_| Unread)?,
        )),
    }
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
        #[serde(borrow)]
        dry_run: Option<&'a RawValue>,
        #[serde(borrow)]
        user_info: Option<&'a RawValue>,
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
        o.map_or(Object::Absent, |raw| Object::Raw(raw.get()))
    }
    let request = match traced.request {
        None => None,
        Some(r) => {
            // userInfo is read by the scanner alone, whichever reader reads the rest.
            let username = match r.user_info {
                None => None,
                Some(raw) => {
                    scan_username(&mut Scanner::new(raw.get().as_bytes())).map_err(|Unread| {
                        "the request is not an AdmissionRequest: request.userInfo: \
                         expected an object whose username is a string"
                            .to_owned()
                    })?
                }
            };
            Some(Request {
                kind: r.kind,
                sub_resource: r.sub_resource,
                operation: r.operation,
                object: raw(r.object),
                old_object: raw(r.old_object),
                dry_run: r.dry_run.is_some(),
                username,
            })
        }
    };
    Ok(Payload {
        request,
        settings: traced.settings.map(RawValue::get),
    })
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
        let Object::Read(Shape::Workload, images, _) = &r.object else {
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
    fn the_text_of_an_object_read_in_the_pass_is_known_wherever_it_sits() {
        let object = r#"{"spec":{"containers":[]},"x":"}"}"#;
        for payload in [
            format!(
                r#"{{"request":{{"kind":{{"group":"","kind":"Pod"}},"operation":"CREATE",
                "object" :  {object}  ,
                "oldObject":null}}}}"#
            ),
            // Last in the request.
            format!(
                r#"{{"request":{{"kind":{{"kind":"Pod"}},"operation":"CREATE","object":{object}}}}}"#
            ),
        ] {
            let r = fast(&payload);
            let Object::Read(Shape::Pod, _, text) = r.object else {
                panic!("{payload}: {:?}", r.object)
            };
            assert_eq!(text, object.as_bytes(), "{payload}");
        }
        // Escaped keys are decoded: the object's own, or the key after it.
        for payload in [
            format!(
                r#"{{"request":{{"kind":{{"kind":"Pod"}},"operation":"CREATE","obj\u0065ct":{object}}}}}"#
            ),
            format!(
                r#"{{"request":{{"kind":{{"kind":"Pod"}},"operation":"CREATE","object":{object},"\u0064ryRun":false}}}}"#
            ),
        ] {
            let r = fast(&payload);
            assert!(
                matches!(r.object, Object::Read(Shape::Pod, _, text) if text == object.as_bytes()),
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
    fn an_audit_is_a_request_without_username_and_without_dry_run() {
        let request = |extra: &str| {
            format!(
                r#"{{"request":{{"kind":{{"group":"","kind":"Pod"}},"operation":"CREATE"{extra}}}}}"#
            )
        };
        for (extra, audit) in [
            ("", true),
            (r#","userInfo":{}"#, true),
            (r#","userInfo":null,"dryRun":null"#, true),
            (r#","userInfo":{"username":"","groups":["g"]}"#, true),
            (r#","userInfo":{"username":"system:anonymous"}"#, false),
            (r#","dryRun":false"#, false),
            (r#","dryRun":true,"userInfo":{}"#, false),
            (r#","dryRun":false,"userInfo":{"username":"alice"}"#, false),
        ] {
            let payload = request(extra);
            assert_eq!(fast(&payload).is_background_audit(), audit, "{payload}");
            let traced = read_traced(payload.as_bytes()).unwrap().request.unwrap();
            assert_eq!(traced.is_background_audit(), audit, "{payload}");
        }
        // userInfo of the wrong type is left to the traced reader, which names it.
        let bad = request(r#","userInfo":"alice""#);
        assert!(read_fast(bad.as_bytes()).is_none());
        let e = read_traced(bad.as_bytes()).unwrap_err();
        assert!(e.contains("request.userInfo"), "{e}");
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
