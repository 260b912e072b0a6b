//! Mutation as text: new `image`/`imagePullPolicy` (or `reference`/`pullPolicy`) values are
//! spliced into the request's own JSON text of the object, where the reader found the values
//! (a missing field is inserted right after the image value of its entry). The object is
//! never parsed into a tree nor written back: every byte not changed stays as it came (field
//! order, unknown fields, numbers of any size, any nesting, escapes).
//!
//! The reader gives every place as a [`Span`] of the payload, and only for values of object
//! members (it reads no entry written as an array), so a splice always writes into an object.

use crate::scan::Span;

/// New values for fields of one entry (a container, or an image volume's `image`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// JSON pointer of the object holding the fields, e.g. `/spec/containers/0` (names the
    /// place; what a tree-based mutation would edit).
    pub pointer: String,
    /// Where the entry's image (`reference`) value ends: absent fields are inserted there.
    pub after_image: usize,
    pub fields: Vec<FieldEdit>,
}

/// One field's new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldEdit {
    pub key: &'static str,
    /// Where the current value stands, when the field is present (`null` included).
    pub current: Option<Span>,
    pub new: String,
}

/// The object at `object` in `payload` with the edits spliced in. Edits must lie inside the
/// object and must not overlap.
pub fn splice(payload: &[u8], object: Span, edits: &[Edit]) -> Result<Vec<u8>, String> {
    // (start, end, what goes there): a replacement of start..end, or an insertion at start.
    let mut cuts: Vec<(usize, usize, &FieldEdit)> = edits
        .iter()
        .flat_map(|edit| {
            edit.fields.iter().map(|field| match field.current {
                Some(span) => (span.start, span.end, field),
                None => (edit.after_image, edit.after_image, field),
            })
        })
        .collect();
    cuts.sort_unstable_by_key(|&(start, end, _)| (start, end));
    let extra: usize = cuts.iter().map(|(_, _, f)| f.new.len() + 24).sum();
    let mut out = Vec::with_capacity(object.end - object.start + extra);
    let mut at = object.start;
    for (start, end, field) in cuts {
        if start < at || end > object.end {
            return Err(format!(
                "an edit of {} overlaps another or leaves the object",
                field.key
            ));
        }
        out.extend_from_slice(&payload[at..start]);
        if field.current.is_none() {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(field.key.as_bytes());
            out.extend_from_slice(b"\":");
        }
        write_json_string(&mut out, &field.new);
        at = end;
    }
    out.extend_from_slice(&payload[at..object.end]);
    Ok(out)
}

/// `s` as a JSON string.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail, and a str always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The span of `needle` in `text`.
    fn span_of(text: &str, needle: &str) -> Span {
        let start = text.find(needle).unwrap();
        Span {
            start,
            end: start + needle.len(),
        }
    }

    /// The edit of the entry whose image value is `image` (found in `object`).
    fn edit(object: &str, image: &str, fields: Vec<(&'static str, Option<&str>, &str)>) -> Edit {
        Edit {
            pointer: String::new(),
            after_image: span_of(object, image).end,
            fields: fields
                .into_iter()
                .map(|(key, current, new)| FieldEdit {
                    key,
                    current: current.map(|c| span_of(object, c)),
                    new: new.into(),
                })
                .collect(),
        }
    }

    fn whole(text: &str) -> Span {
        Span {
            start: 0,
            end: text.len(),
        }
    }

    #[test]
    fn values_are_replaced_and_missing_fields_inserted_after_the_image() {
        let object = r#"{"spec": {"containers": [ {"name":"a", "image" : "nginx\u003a1", "x":1e400},
            {"imagePullPolicy":"IfNotPresent","image":"busybox"}]}}"#;
        let edits = [
            edit(
                object,
                r#""nginx\u003a1""#,
                vec![
                    ("image", Some(r#""nginx\u003a1""#), "nginx:1@sha256:ab"),
                    ("imagePullPolicy", None, "Always"),
                ],
            ),
            edit(
                object,
                r#""busybox""#,
                vec![("imagePullPolicy", Some(r#""IfNotPresent""#), "Always")],
            ),
        ];
        let out =
            String::from_utf8(splice(object.as_bytes(), whole(object), &edits).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"spec": {"containers": [ {"name":"a", "image" : "nginx:1@sha256:ab","imagePullPolicy":"Always", "x":1e400},
            {"imagePullPolicy":"Always","image":"busybox"}]}}"#
        );
    }

    #[test]
    fn a_null_value_is_replaced_where_it_stands() {
        let object = r#"{"image":"a","x":1,"imagePullPolicy":null}"#;
        let e = edit(
            object,
            r#""a""#,
            vec![("imagePullPolicy", Some("null"), "Always")],
        );
        let out = splice(object.as_bytes(), whole(object), &[e]).unwrap();
        assert_eq!(out, br#"{"image":"a","x":1,"imagePullPolicy":"Always"}"#);
    }

    #[test]
    fn only_the_object_is_written() {
        let payload = r#"{"request":{"object":{"image":"a"},"x":1}}"#;
        let object = span_of(payload, r#"{"image":"a"}"#);
        let e = edit(payload, r#""a""#, vec![("image", Some(r#""a""#), "b")]);
        assert_eq!(
            splice(payload.as_bytes(), object, &[e]).unwrap(),
            br#"{"image":"b"}"#
        );
    }

    #[test]
    fn new_values_are_escaped() {
        let object = r#"{"image":"a"}"#;
        let edits = [edit(
            object,
            r#""a""#,
            vec![("image", Some(r#""a""#), "q\"\\\u{1}")],
        )];
        let out = splice(object.as_bytes(), whole(object), &edits).unwrap();
        assert_eq!(out, br#"{"image":"q\"\\\u0001"}"#);
    }

    #[test]
    fn overlapping_edits_and_edits_outside_the_object_are_errors() {
        let object = r#"{"image":"a"}"#;
        let twice = edit(object, r#""a""#, vec![("image", Some(r#""a""#), "b")]);
        let e = splice(object.as_bytes(), whole(object), &[twice.clone(), twice]).unwrap_err();
        assert_eq!(e, "an edit of image overlaps another or leaves the object");
        let outside = edit(object, r#""a""#, vec![("image", Some(r#""a""#), "b")]);
        let e = splice(object.as_bytes(), Span { start: 0, end: 3 }, &[outside]).unwrap_err();
        assert_eq!(e, "an edit of image overlaps another or leaves the object");
    }
}
