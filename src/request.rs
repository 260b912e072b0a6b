//! Reading the `validate` payload, `{"request": <AdmissionRequest>, "settings": {...}}`: the
//! one reader of the request. Each field the policy uses is read here, with the scanner of
//! [`crate::scan`], in one pass, whatever the order of the keys; the objects' images are read
//! by `podspec.rs` in the same pass. What the reader refuses is named by its path.
//!
//! policy-evaluator (policy-server, kwctl) builds the payload as serde_json values without
//! `preserve_order`, so the request's keys come sorted: `kind` before `object` and
//! `oldObject`, `operation` and `subResource` after them. The objects are read by their kind's
//! pod spec path as they stream by, and what the operation and subresource decide is settled
//! once the request is read. Where `kind` comes after an object (other hosts: the slow path),
//! the object is skipped and its span kept, and it is read in place once the kind is known.

use std::borrow::Cow;

use crate::podspec::{self, ObjectImages, PodSpecPath, read_text};
use crate::scan::{self, Scanner, Span, Stop, Why, json_fields};

json_fields!(PayloadField { Request = "request", Settings = "settings" });
json_fields!(RequestField {
    Kind = "kind",
    Namespace = "namespace",
    SubResource = "subResource",
    Operation = "operation",
    Object = "object",
    OldObject = "oldObject",
    DryRun = "dryRun",
    UserInfo = "userInfo",
});
json_fields!(GvkField { Group = "group", Kind = "kind" });

/// An `object` or `oldObject` field as read. At most two are built per request and none is
/// kept in a collection, so the size of `Read` (a Pod's metadata and status with its images)
/// costs nothing that boxing it would save.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Default)]
pub enum Object<'a> {
    /// Absent or `null`.
    #[default]
    Absent,
    /// Present but not needed (another kind, an old object outside UPDATE), or an old object
    /// that cannot be read (it only saves work: without it every image is judged).
    Skipped,
    /// Skipped before its kind was known, to be read in place.
    Later(Span),
    /// Its images, read with this pod spec path, and its span in the payload.
    Read(PodSpecPath, ObjectImages<'a>, Span),
}

/// The request's `kind`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GroupVersionKind<'a> {
    /// Absent only in hand-written requests; then the kind alone decides.
    pub group: Option<Cow<'a, str>>,
    pub kind: Option<Cow<'a, str>>,
}

/// What the policy reads of an AdmissionRequest.
#[derive(Debug, Default)]
pub struct Request<'a> {
    pub kind: Option<GroupVersionKind<'a>>,
    pub namespace: Option<Cow<'a, str>>,
    pub sub_resource: Option<Cow<'a, str>>,
    pub operation: Option<Cow<'a, str>>,
    pub object: Object<'a>,
    pub old_object: Object<'a>,
    /// `dryRun` is present and not `null`.
    pub dry_run: bool,
    /// `userInfo.username`.
    pub username: Option<Cow<'a, str>>,
}

impl Request<'_> {
    /// Whether this is the audit-scanner's synthetic request rather than the API server's
    /// (docs/design.md, "Background audit"). The API server sets `dryRun` on every request
    /// and a non-empty `userInfo.username` for every user, anonymous ones included; the
    /// audit-scanner sets neither. Both must be missing, so a request from the API server is
    /// never taken for an audit.
    pub fn is_background_audit(&self) -> bool {
        !self.dry_run && self.username.as_deref().is_none_or(str::is_empty)
    }

    /// The kind named by the request (`""` when it names none).
    pub fn kind_name(&self) -> &str {
        self.kind
            .as_ref()
            .and_then(|k| k.kind.as_deref())
            .unwrap_or("")
    }

    pub fn operation(&self) -> &str {
        self.operation.as_deref().unwrap_or("")
    }

    /// Where the object's pod spec is, from what has been read so far; `None` for a kind or
    /// subresource that holds no judged images, or while the kind is unknown.
    pub fn pod_spec_path(&self) -> Option<PodSpecPath> {
        let gvk = self.kind.as_ref()?;
        crate::kinds::pod_spec_path(
            gvk.group.as_deref(),
            gvk.kind.as_deref()?,
            self.sub_resource.as_deref().unwrap_or(""),
        )
    }
}

/// The `validate` payload.
#[derive(Debug)]
pub struct Payload<'a> {
    pub request: Option<Request<'a>>,
    /// The settings' JSON text.
    pub settings: Option<&'a [u8]>,
}

/// Reads the payload; an error says what is wrong and names where.
pub fn read(bytes: &[u8]) -> Result<Payload<'_>, String> {
    let mut s = Scanner::new(bytes);
    let mut payload = Payload {
        request: None,
        settings: None,
    };
    let read = read_payload(&mut s, &mut payload).and_then(|()| s.end());
    if read.is_err() {
        return Err(explain(&s, payload.request.as_ref()));
    }
    if let Some(request) = &mut payload.request {
        let object = std::mem::take(&mut request.object);
        request.object = read_later(bytes, request, object, true)?;
        let old_object = std::mem::take(&mut request.old_object);
        request.old_object = read_later(bytes, request, old_object, false)?;
    }
    Ok(payload)
}

/// The message for a payload the scanner stopped in: by where it stopped, the payload, the
/// request, or an object of the request's kind that is not what a Kubernetes object has.
#[cold]
fn explain(s: &Scanner<'_>, request: Option<&Request<'_>>) -> String {
    let why = s.why();
    match why.path.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => format!(
            "the payload is not a Kubewarden validation request: {}",
            why.message
        ),
        ["request", "object", ref rest @ ..] if !why.malformed => {
            let kind = request.map_or("", Request::kind_name);
            cannot_read(kind, rest, &why.message)
        }
        _ => format!(
            "the request is not an AdmissionRequest: {}: {}",
            Why::dotted(&why.path),
            why.message
        ),
    }
}

/// `cannot read the Pod: spec.containers[0].image: invalid type: ...`
fn cannot_read(kind: &str, path: &[&str], why: &str) -> String {
    if path.is_empty() {
        format!("cannot read the {kind}: {why}")
    } else {
        format!("cannot read the {kind}: {}: {why}", Why::dotted(path))
    }
}

fn read_payload<'a>(s: &mut Scanner<'a>, payload: &mut Payload<'a>) -> scan::Result<()> {
    s.fields(|s, field| {
        if s.null()? {
            return Ok(());
        }
        match field {
            PayloadField::Request => {
                // Kept in the payload as it is read, for the message if reading stops.
                let request = payload.request.insert(Request::default());
                read_request(s, request)
            }
            PayloadField::Settings => {
                let span = s.skip()?;
                payload.settings = Some(&s.bytes()[span.start..span.end]);
                Ok(())
            }
        }
    })
}

fn read_request<'a>(s: &mut Scanner<'a>, r: &mut Request<'a>) -> scan::Result<()> {
    s.fields(|s, field| {
        match field {
            RequestField::Kind => r.kind = read_gvk(s)?,
            RequestField::Namespace => r.namespace = read_text(s)?,
            RequestField::SubResource => r.sub_resource = read_text(s)?,
            RequestField::Operation => r.operation = read_text(s)?,
            RequestField::Object => r.object = read_object_field(r, s, true)?,
            RequestField::OldObject => r.old_object = read_object_field(r, s, false)?,
            RequestField::DryRun => {
                r.dry_run = !s.null()?;
                if r.dry_run {
                    s.skip()?;
                }
            }
            RequestField::UserInfo => r.username = read_username(s)?,
        }
        Ok(())
    })
}

/// `userInfo.username`, or `None` when `userInfo` or its username is absent or `null`.
fn read_username<'a>(s: &mut Scanner<'a>) -> scan::Result<Option<Cow<'a, str>>> {
    let mut username = None;
    if !s.null()? {
        s.fields_in(&["username"], |s, _| {
            username = read_text(s)?;
            Ok(())
        })?;
    }
    Ok(username)
}

fn read_gvk<'a>(s: &mut Scanner<'a>) -> scan::Result<Option<GroupVersionKind<'a>>> {
    if s.null()? {
        return Ok(None);
    }
    let mut gvk = GroupVersionKind::default();
    s.fields(|s, field| {
        let text = read_text(s)?;
        match field {
            GvkField::Group => gvk.group = text,
            GvkField::Kind => gvk.kind = text,
        }
        Ok(())
    })?;
    Ok(Some(gvk))
}

/// Whether the operation (when known) needs this object: none for DELETE and CONNECT, the
/// old one only for UPDATE.
fn needed(operation: Option<&str>, new: bool) -> bool {
    match operation {
        Some("DELETE" | "CONNECT") => false,
        Some("UPDATE") | None => true,
        Some(_) => new,
    }
}

/// Reads an object field as far as what is known of the request allows.
fn read_object_field<'a>(
    r: &Request<'a>,
    s: &mut Scanner<'a>,
    new: bool,
) -> scan::Result<Object<'a>> {
    let known_kind = r.kind.as_ref().is_some_and(|k| k.kind.is_some());
    let path = r.pod_spec_path();
    if !needed(r.operation.as_deref(), new) || (known_kind && path.is_none()) {
        s.skip()?;
        return Ok(Object::Skipped);
    }
    if s.null()? {
        return Ok(Object::Absent);
    }
    let Some(path) = path else {
        // The slow path: the kind comes later.
        return Ok(Object::Later(s.skip()?));
    };
    s.peek();
    let start = s.position();
    match podspec::read_object(s, path) {
        Ok(images) => {
            let span = Span {
                start,
                end: s.position(),
            };
            Ok(Object::Read(path, images, span))
        }
        Err(Stop) if new => Err(Stop),
        // An old object that cannot be read is skipped (JSON that is not malformed).
        Err(Stop) => {
            s.rewind(start);
            s.skip()?;
            Ok(Object::Skipped)
        }
    }
}

/// Reads an object skipped before its kind was known (the slow path), in place.
#[cold]
fn read_later<'a>(
    bytes: &'a [u8],
    r: &Request<'a>,
    object: Object<'a>,
    new: bool,
) -> Result<Object<'a>, String> {
    let Object::Later(span) = object else {
        return Ok(object);
    };
    let Some(path) = r
        .pod_spec_path()
        .filter(|_| needed(r.operation.as_deref(), new))
    else {
        return Ok(Object::Skipped);
    };
    crate::log::debug(
        "the object came before its kind in the request, so it is read in a second pass",
    );
    let mut s = Scanner::at(bytes, span.start);
    match podspec::read_object(&mut s, path) {
        Ok(images) => Ok(Object::Read(path, images, span)),
        Err(Stop) if new => {
            let why = s.why();
            let path: Vec<&str> = why.path.iter().map(String::as_str).collect();
            Err(cannot_read(r.kind_name(), &path, &why.message))
        }
        Err(Stop) => Ok(Object::Skipped),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn request(json: &str) -> Request<'_> {
        read(json.as_bytes()).unwrap().request.unwrap()
    }

    #[test]
    fn in_go_order_the_object_is_read_in_the_same_pass() {
        let r = request(
            r#"{"request":{"uid":"u","kind":{"group":"apps","version":"v1","kind":"Deployment"},
            "operation":"CREATE","object":{"kind":"Deployment","spec":{"template":{"spec":
            {"containers":[{"name":"a","image":"nginx"}]}}}},"oldObject":null}}"#,
        );
        let Object::Read(PodSpecPath::WORKLOAD, images, _) = &r.object else {
            panic!("{:?}", r.object)
        };
        assert_eq!(images.images.as_ref().unwrap()[0].image(), Some("nginx"));
        assert!(matches!(r.old_object, Object::Skipped));
    }

    const OBJECT: &str = r#"{"spec":{"containers":[]},"x":"}"}"#;

    #[rstest]
    #[case::between_keys_with_spaces(
        r#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"CREATE","object" :  OBJECT  ,"oldObject":null}}"#
    )]
    #[case::last(r#"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE","object":OBJECT}}"#)]
    #[case::escaped_key(
        r#"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE","obj\u0065ct":OBJECT}}"#
    )]
    #[case::escaped_key_after_it(
        r#"{"request":{"kind":{"kind":"Pod"},"operation":"CREATE","object":OBJECT,"\u0064ryRun":false}}"#
    )]
    #[case::before_its_kind(
        r#"{"request":{"object":OBJECT,"kind":{"group":"","kind":"Pod"},"operation":"CREATE"}}"#
    )]
    fn the_span_of_the_object_is_known_wherever_it_sits(#[case] payload: &str) {
        let payload = payload.replace("OBJECT", OBJECT);
        let r = request(&payload);
        let Object::Read(PodSpecPath::POD, _, span) = r.object else {
            panic!("{:?}", r.object)
        };
        assert_eq!(&payload[span.start..span.end], OBJECT);
    }

    #[rstest]
    #[case::another_kind(
        r#"{"request":{"kind":{"group":"","kind":"ConfigMap"},"operation":"UPDATE","oldObject":{"data":{}}}}"#,
        false
    )]
    #[case::old_object_of_a_create(
        r#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"CREATE","oldObject":{"spec":{}}}}"#,
        false
    )]
    #[case::old_object_of_a_delete(
        r#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"DELETE","oldObject":{"spec":{}}}}"#,
        false
    )]
    #[case::an_unreadable_old_object(
        r#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"UPDATE","oldObject":{"spec":{"containers":7}}}}"#,
        false
    )]
    #[case::old_object_of_an_update(
        r#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"UPDATE","oldObject":{"spec":{}}}}"#,
        true
    )]
    #[case::old_object_of_an_update_before_its_kind(
        r#"{"request":{"oldObject":{"spec":{}},"kind":{"group":"","kind":"Pod"},"operation":"UPDATE"}}"#,
        true
    )]
    fn old_objects_are_read_only_where_needed(#[case] payload: &str, #[case] read_it: bool) {
        let r = request(payload);
        let old = &r.old_object;
        assert_eq!(matches!(old, Object::Read(..)), read_it, "{old:?}");
        assert!(read_it || matches!(old, Object::Skipped), "{old:?}");
    }

    #[rstest]
    #[case::nothing("", true)]
    #[case::empty_user_info(r#","userInfo":{}"#, true)]
    #[case::nulls(r#","userInfo":null,"dryRun":null"#, true)]
    #[case::empty_username(r#","userInfo":{"username":"","groups":["g"]}"#, true)]
    #[case::anonymous(r#","userInfo":{"username":"system:anonymous"}"#, false)]
    #[case::dry_run_false(r#","dryRun":false"#, false)]
    #[case::dry_run_without_user(r#","dryRun":true,"userInfo":{}"#, false)]
    #[case::api_server(r#","dryRun":false,"userInfo":{"username":"alice"}"#, false)]
    fn an_audit_is_a_request_without_username_and_without_dry_run(
        #[case] extra: &str,
        #[case] audit: bool,
    ) {
        let payload = format!(
            r#"{{"request":{{"kind":{{"group":"","kind":"Pod"}},"operation":"CREATE"{extra}}}}}"#
        );
        assert_eq!(request(&payload).is_background_audit(), audit);
    }

    #[rstest]
    #[case::user_info_a_string(
        r#"{"request":{"userInfo":"alice"}}"#,
        "the request is not an AdmissionRequest: request.userInfo: invalid type: string \"alice\", expected an object"
    )]
    #[case::operation_a_number(
        r#"{"request":{"operation":7}}"#,
        "the request is not an AdmissionRequest: request.operation: invalid type: integer `7`, expected a string"
    )]
    #[case::kind_twice(
        r#"{"request":{"kind":{"kind":"Pod"},"kind":{"kind":"Pod"}}}"#,
        "the request is not an AdmissionRequest: request: duplicate field `kind`"
    )]
    #[case::object_an_array(
        r#"{"request":{"kind":{"group":"","kind":"Pod"},"operation":"CREATE","object":[1]}}"#,
        "cannot read the Pod: invalid type: sequence, expected an object"
    )]
    #[case::containers_a_map(
        r#"{"request":{"kind":{"group":"","kind":"Pod"},"object":{"spec":{"containers":{}}}}}"#,
        "cannot read the Pod: spec.containers: invalid type: map, expected an array"
    )]
    #[case::containers_a_map_before_the_kind(
        r#"{"request":{"object":{"spec":{"containers":{}}},"kind":{"group":"","kind":"Pod"}}}"#,
        "cannot read the Pod: spec.containers: invalid type: map, expected an array"
    )]
    #[case::trailing(
        r#"{"request":{}} trailing"#,
        "the payload is not a Kubewarden validation request: trailing characters at line 1 column 16"
    )]
    #[case::cut_short(
        "{",
        "the payload is not a Kubewarden validation request: EOF while parsing an object at line 1 column 1"
    )]
    #[case::control_character_in_the_object(
        "{\"request\":{\"kind\":{\"kind\":\"Pod\"},\"object\":{\"spec\":\"\u{1}\"}}}",
        "the request is not an AdmissionRequest: request.object.spec: control character (\\u0000-\\u001F) found while parsing a string at line 1 column 52"
    )]
    fn what_the_reader_refuses_it_names(#[case] payload: &str, #[case] message: &str) {
        assert_eq!(read(payload.as_bytes()).unwrap_err(), message);
    }
}
