//! Mutation as text: new `image`/`imagePullPolicy` (or `reference`/`pullPolicy`) values are
//! spliced into the request's own JSON text of the object, where the reader found the values
//! (a missing field is inserted right after the image value of its object). The object is
//! never parsed into a tree nor written back: every byte not changed stays as it came (field
//! order, unknown fields, numbers of any size, any nesting, escapes).

use crate::scan::is_space;

/// New values for fields of one container (or image volume `image`) object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit<'a> {
    /// JSON pointer of the object holding the fields, e.g. `/spec/containers/0` (names the
    /// place; what a tree-based mutation would edit).
    pub pointer: String,
    /// The image (`reference`) value's JSON text as written in the object: fields that are
    /// absent are inserted right after it.
    pub anchor: &'a str,
    pub fields: Vec<FieldEdit<'a>>,
}

/// One field's new value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldEdit<'a> {
    pub key: &'static str,
    /// The current value's JSON text as written, when the field is present.
    pub old: Option<&'a str>,
    pub new: String,
}

/// Where `raw` (a slice of `object`) sits in it.
fn span(object: &[u8], raw: &str) -> Result<(usize, usize), String> {
    let start = (raw.as_ptr() as usize).wrapping_sub(object.as_ptr() as usize);
    let end = start.wrapping_add(raw.len());
    if start <= end && end <= object.len() {
        Ok((start, end))
    } else {
        Err("a value to mutate is not inside the object".into())
    }
}

/// Whether the value starting at `start` is the value of an object member (`"key": value`),
/// not an array element (a container written as an array has no field to write into).
fn is_member_value(object: &[u8], start: usize) -> bool {
    object[..start].iter().rev().find(|&&b| !is_space(b)) == Some(&b':')
}

/// `object` (JSON text) with the edits spliced in. The values the edits name must be slices of
/// `object`, each the value of a member of the object at the edit's pointer; edits must not
/// overlap.
pub fn splice(object: &[u8], edits: &[Edit<'_>]) -> Result<Vec<u8>, String> {
    // (start, end, what goes there): a replacement of start..end, or an insertion at start.
    let mut cuts: Vec<(usize, usize, &FieldEdit<'_>)> = Vec::new();
    for edit in edits {
        let not_an_object = || format!("no object at {} to mutate", edit.pointer);
        let (anchor_start, anchor_end) = span(object, edit.anchor)?;
        if !is_member_value(object, anchor_start) {
            return Err(not_an_object());
        }
        for field in &edit.fields {
            cuts.push(match field.old {
                Some(old) => {
                    let (start, end) = span(object, old)?;
                    if !is_member_value(object, start) {
                        return Err(not_an_object());
                    }
                    (start, end, field)
                }
                None => (anchor_end, anchor_end, field),
            });
        }
    }
    cuts.sort_unstable_by_key(|&(start, end, _)| (start, end));
    let extra: usize = cuts.iter().map(|(_, _, f)| f.new.len() + 24).sum();
    let mut out = Vec::with_capacity(object.len() + extra);
    let mut at = 0;
    for (start, end, field) in cuts {
        if start < at {
            return Err(format!("overlapping edits of {}", field.key));
        }
        out.extend_from_slice(&object[at..start]);
        if field.old.is_none() {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(field.key.as_bytes());
            out.extend_from_slice(b"\":");
        }
        write_json_string(&mut out, &field.new);
        at = end;
    }
    out.extend_from_slice(&object[at..]);
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

    /// The edit of the container holding `image` (a slice of `object`).
    fn edit<'a>(
        object: &'a str,
        image: &str,
        fields: Vec<(&'static str, Option<&str>, &str)>,
    ) -> Edit<'a> {
        let find = |needle: &str| {
            let at = object.find(needle).unwrap();
            &object[at..at + needle.len()]
        };
        Edit {
            pointer: String::new(),
            anchor: find(image),
            fields: fields
                .into_iter()
                .map(|(key, old, new)| FieldEdit {
                    key,
                    old: old.map(find),
                    new: new.into(),
                })
                .collect(),
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
        let out = String::from_utf8(splice(object.as_bytes(), &edits).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"spec": {"containers": [ {"name":"a", "image" : "nginx:1@sha256:ab","imagePullPolicy":"Always", "x":1e400},
            {"imagePullPolicy":"Always","image":"busybox"}]}}"#
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
        let out = splice(object.as_bytes(), &edits).unwrap();
        assert_eq!(out, br#"{"image":"q\"\\\u0001"}"#);
    }

    #[test]
    fn values_outside_the_object_and_overlaps_are_errors() {
        let object = r#"{"image":"a"}"#;
        let elsewhere = String::from(r#""a""#);
        let e = splice(
            object.as_bytes(),
            &[Edit {
                pointer: String::new(),
                anchor: &elsewhere,
                fields: vec![],
            }],
        )
        .unwrap_err();
        assert_eq!(e, "a value to mutate is not inside the object");
        let twice = edit(object, r#""a""#, vec![("image", Some(r#""a""#), "b")]);
        let e = splice(object.as_bytes(), &[twice.clone(), twice]).unwrap_err();
        assert_eq!(e, "overlapping edits of image");
    }

    #[test]
    fn a_container_written_as_an_array_is_not_written_into() {
        let object = r#"{"containers":[["a", "nginx:1", null]]}"#;
        let mut e = edit(
            object,
            r#""nginx:1""#,
            vec![("imagePullPolicy", None, "Always")],
        );
        e.pointer = "/containers/0".into();
        let err = splice(object.as_bytes(), &[e]).unwrap_err();
        assert_eq!(err, "no object at /containers/0 to mutate");
        let object = r#"{"containers":[{"image" :"x","imagePullPolicy":"Never"}]}"#;
        let e = edit(
            object,
            r#""x""#,
            vec![("imagePullPolicy", Some(r#""Never""#), "Always")],
        );
        assert!(splice(object.as_bytes(), &[e]).is_ok());
    }
}
