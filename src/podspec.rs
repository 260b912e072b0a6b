//! Finding pod specs in each kind, and the images in them.
//!
//! Only the fields that are judged are read (names, images, pull policies), by the scanner,
//! in the one pass over the request (`request.rs`); everything else in the object is skipped
//! without being built, and strings are borrowed from the request wherever they have no
//! escapes. Each image and pull policy keeps where its value stands in the request, for the
//! mutation (`mutate.rs`).

use std::borrow::Cow;

pub use crate::kinds::PodSpecPath;
use crate::pods::PodSpans;
use crate::scan::{self, Scanner, Span, json_fields};
use crate::settings::ContainerType;

/// A string field as written in the request: its value (`None` for `null`) and where the
/// value stands, so that a mutation replaces it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringField<'a> {
    pub value: Option<Cow<'a, str>>,
    pub span: Span,
}

/// What one pass over an object finds: the kind it says it is and the images of its pod spec
/// (`None` when the object has no pod spec where its kind puts it); for a Pod, where its
/// metadata and status are, read only when a step asks (`pods.rs`).
#[derive(Debug, PartialEq, Eq)]
pub struct ObjectImages<'a> {
    pub kind: Option<Cow<'a, str>>,
    pub images: Option<Vec<ImageEntry<'a>>>,
    pub pod: PodSpans,
}

json_fields!(
    /// The lists of a pod spec that hold images, with their keys.
    #[derive(Hash)]
    pub ImageList {
        Containers = "containers",
        InitContainers = "initContainers",
        EphemeralContainers = "ephemeralContainers",
        /// Image volumes (`volumes[].image`).
        Volumes = "volumes",
    }
);

impl ImageList {
    /// The list's key in a pod spec.
    pub fn key(self) -> &'static str {
        <ImageList as scan::Field>::NAMES[self as usize]
    }

    /// The container type `exemptContainers` speaks of; `None` for image volumes.
    pub fn container_type(self) -> Option<ContainerType> {
        match self {
            ImageList::Containers => Some(ContainerType::Regular),
            ImageList::InitContainers => Some(ContainerType::Init),
            ImageList::EphemeralContainers => Some(ContainerType::Ephemeral),
            ImageList::Volumes => None,
        }
    }

    /// The name of the pull policy field in this list's entries.
    pub fn pull_policy_key(self) -> &'static str {
        match self {
            ImageList::Volumes => "pullPolicy",
            _ => "imagePullPolicy",
        }
    }

    /// The name of the image field in this list's entries.
    pub fn image_key(self) -> &'static str {
        match self {
            ImageList::Volumes => "reference",
            _ => "image",
        }
    }
}

/// One image of a pod spec: a container's image or an image volume's reference, with the
/// entry's name and pull policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry<'a> {
    pub list: ImageList,
    pub index: usize,
    pub name: Option<Cow<'a, str>>,
    pub image: Option<StringField<'a>>,
    pub pull_policy: Option<StringField<'a>>,
}

impl ImageEntry<'_> {
    /// `spec.template.spec.initContainers[0]`
    pub fn place(&self, path: PodSpecPath) -> String {
        format!("{}.{}[{}]", path.dotted(), self.list.key(), self.index)
    }

    /// JSON pointer of the object holding the image field: `/spec/template/spec/initContainers/0`
    /// (for image volumes, `/spec/volumes/1/image`).
    pub fn pointer(&self, path: PodSpecPath) -> String {
        let volume = if self.list == ImageList::Volumes {
            "/image"
        } else {
            ""
        };
        format!(
            "/{}/{}/{}{volume}",
            path.keys().join("/"),
            self.list.key(),
            self.index
        )
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// The image as written; `None` when absent or `null`.
    pub fn image(&self) -> Option<&str> {
        self.image.as_ref().and_then(|f| f.value.as_deref())
    }

    /// The pull policy as written; `None` when absent or `null`.
    pub fn pull_policy(&self) -> Option<&str> {
        self.pull_policy.as_ref().and_then(|f| f.value.as_deref())
    }
}

/// Reads a string or `null` that comes next (`null` is an absent value).
pub fn read_text<'a>(s: &mut Scanner<'a>) -> scan::Result<Option<Cow<'a, str>>> {
    if s.null()? {
        return Ok(None);
    }
    Ok(Some(s.string()?.0))
}

/// Reads a string or `null` that a mutation may replace, and where it stands.
fn read_field<'a>(s: &mut Scanner<'a>) -> scan::Result<StringField<'a>> {
    s.peek();
    let start = s.position();
    if s.null()? {
        let end = s.position();
        return Ok(StringField {
            value: None,
            span: Span { start, end },
        });
    }
    let (value, span) = s.string()?;
    Ok(StringField {
        value: Some(value),
        span,
    })
}

/// Reads the images of an object whose pod spec is at `path`, in the object that comes next
/// in the scanner (which must be a JSON object): `null` is an absent field, and a field named
/// twice is refused.
pub fn read_object<'a>(s: &mut Scanner<'a>, path: PodSpecPath) -> scan::Result<ObjectImages<'a>> {
    let (first, rest) = path.keys().split_first().ok_or(scan::Stop)?;
    let mut found = ObjectImages {
        kind: None,
        images: None,
        pod: PodSpans::default(),
    };
    // Where a Pod's metadata and status are is kept (they are skipped as any other field, and
    // read only when a step asks: most requests need neither); another kind's are not.
    let pod = ["kind", first, "metadata", "status"];
    let names = if path == PodSpecPath::POD {
        &pod[..]
    } else {
        &pod[..2]
    };
    s.fields_in(names, |s, name| {
        match name {
            "kind" => found.kind = read_text(s)?,
            "metadata" => found.pod.metadata = Some(s.skip()?),
            "status" => found.pod.status = Some(s.skip()?),
            _ => found.images = read_path(s, rest)?,
        }
        Ok(())
    })?;
    Ok(found)
}

/// Follows `keys` to the pod spec and reads its images; `None` when a step is absent or null.
fn read_path<'a>(
    s: &mut Scanner<'a>,
    keys: &[&'static str],
) -> scan::Result<Option<Vec<ImageEntry<'a>>>> {
    if s.null()? {
        return Ok(None);
    }
    let Some((first, rest)) = keys.split_first() else {
        return read_pod_spec(s).map(Some);
    };
    let mut found = None;
    s.fields_in(&[first], |s, _| {
        found = read_path(s, rest)?;
        Ok(())
    })?;
    Ok(found)
}

/// The images of a pod spec, list by list in the order of [`ImageList`]'s variants, whatever
/// the order of the lists in the text.
pub fn read_pod_spec<'a>(s: &mut Scanner<'a>) -> scan::Result<Vec<ImageEntry<'a>>> {
    let mut lists: [Vec<ImageEntry<'a>>; 4] = Default::default();
    s.fields(|s, list: ImageList| {
        if s.null()? {
            return Ok(());
        }
        let entries = &mut lists[list as usize];
        s.array(|s, index| {
            let entry = match list {
                ImageList::Volumes => read_volume(s, index)?,
                list => Some(read_container(s, list, index)?),
            };
            entries.extend(entry);
            Ok(())
        })
    })?;
    let [mut images, init, ephemeral, volumes] = lists;
    images.extend(init.into_iter().chain(ephemeral).chain(volumes));
    Ok(images)
}

json_fields!(ContainerField {
    Name = "name",
    Image = "image",
    ImagePullPolicy = "imagePullPolicy",
});
json_fields!(VolumeField { Name = "name", Image = "image" });
json_fields!(ImageVolumeField { Reference = "reference", PullPolicy = "pullPolicy" });

fn read_container<'a>(
    s: &mut Scanner<'a>,
    list: ImageList,
    index: usize,
) -> scan::Result<ImageEntry<'a>> {
    let mut entry = ImageEntry {
        list,
        index,
        name: None,
        image: None,
        pull_policy: None,
    };
    s.fields(|s, field| {
        match field {
            ContainerField::Name => entry.name = read_text(s)?,
            ContainerField::Image => entry.image = Some(read_field(s)?),
            ContainerField::ImagePullPolicy => entry.pull_policy = Some(read_field(s)?),
        }
        Ok(())
    })?;
    Ok(entry)
}

/// An image volume's entry; `None` for a volume of another type (or `image: null`).
fn read_volume<'a>(s: &mut Scanner<'a>, index: usize) -> scan::Result<Option<ImageEntry<'a>>> {
    let mut entry = ImageEntry {
        list: ImageList::Volumes,
        index,
        name: None,
        image: None,
        pull_policy: None,
    };
    let mut image_volume = false;
    s.fields(|s, field| match field {
        VolumeField::Name => {
            entry.name = read_text(s)?;
            Ok(())
        }
        VolumeField::Image if s.null()? => Ok(()),
        VolumeField::Image => {
            image_volume = true;
            s.fields(|s, field| {
                match field {
                    ImageVolumeField::Reference => entry.image = Some(read_field(s)?),
                    ImageVolumeField::PullPolicy => entry.pull_policy = Some(read_field(s)?),
                }
                Ok(())
            })
        }
    })?;
    Ok(image_volume.then_some(entry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const POD_SPEC: &str = r#"{"containers":[{"name":"app","image":"nginx:1","env":[{"name":"A","value":"b"}]}],
        "initContainers":[{"name":"init","image":"busybox","imagePullPolicy":"IfNotPresent"}],
        "ephemeralContainers":[{"name":"dbg","image":"alpine:3","imagePullPolicy":null}],
        "volumes":[{"name":"cfg","configMap":{"name":"x"}},{"name":"models","image":{"reference":"reg.example.com/m:v1","pullPolicy":"Never"}}]}"#;

    /// Reads the object as the request's reader does; the error is the scanner's message.
    fn read(path: PodSpecPath, object: &str) -> Result<ObjectImages<'_>, String> {
        let mut s = Scanner::new(object.as_bytes());
        read_object(&mut s, path)
            .and_then(|images| s.end().map(|()| images))
            .map_err(|scan::Stop| {
                let why = s.why();
                format!("{}: {}", scan::Why::dotted(&why.path), why.message)
            })
    }

    fn wrap(keys: &[&str], inner: &str) -> String {
        keys.iter().rev().fold(inner.to_owned(), |acc, k| {
            format!(r#"{{"{k}":{acc},"other":{{"k":[1,2]}}}}"#)
        })
    }

    #[rstest]
    #[case(Some(""), "Pod", "", Some(PodSpecPath::POD))]
    #[case(Some(""), "Pod", "ephemeralcontainers", Some(PodSpecPath::POD))]
    #[case(Some(""), "Pod", "status", None)]
    #[case(Some(""), "PodTemplate", "", Some(PodSpecPath::POD_TEMPLATE))]
    #[case(Some(""), "ReplicationController", "", Some(PodSpecPath::WORKLOAD))]
    #[case(Some("apps"), "Deployment", "", Some(PodSpecPath::WORKLOAD))]
    #[case(Some("apps"), "ReplicaSet", "", Some(PodSpecPath::WORKLOAD))]
    #[case(Some("apps"), "StatefulSet", "", Some(PodSpecPath::WORKLOAD))]
    #[case(Some("apps"), "DaemonSet", "", Some(PodSpecPath::WORKLOAD))]
    #[case(Some("apps"), "Deployment", "scale", None)]
    #[case(Some("batch"), "Job", "", Some(PodSpecPath::WORKLOAD))]
    #[case(Some("batch"), "CronJob", "", Some(PodSpecPath::CRON_JOB))]
    #[case(Some(""), "ConfigMap", "", None)]
    // The same kind name in another group is not ours.
    #[case(Some("batch.volcano.sh"), "Job", "", None)]
    // Without a group (hand-written), the kind alone decides.
    #[case(None, "Deployment", "", Some(PodSpecPath::WORKLOAD))]
    fn every_kind_has_a_pod_spec_path(
        #[case] group: Option<&str>,
        #[case] kind: &str,
        #[case] sub_resource: &str,
        #[case] expected: Option<PodSpecPath>,
    ) {
        assert_eq!(
            crate::kinds::pod_spec_path(group, kind, sub_resource),
            expected
        );
    }

    #[rstest]
    fn images_are_found_in_every_list(
        #[values(
            PodSpecPath::POD,
            PodSpecPath::POD_TEMPLATE,
            PodSpecPath::WORKLOAD,
            PodSpecPath::CRON_JOB
        )]
        path: PodSpecPath,
    ) {
        let object = wrap(path.keys(), POD_SPEC);
        let images = read(path, &object).unwrap().images.unwrap();
        let got: Vec<_> = images
            .iter()
            .map(|e| (e.place(path), e.image().unwrap()))
            .collect();
        let p = path.dotted();
        assert_eq!(
            got,
            vec![
                (format!("{p}.containers[0]"), "nginx:1"),
                (format!("{p}.initContainers[0]"), "busybox"),
                (format!("{p}.ephemeralContainers[0]"), "alpine:3"),
                (format!("{p}.volumes[1]"), "reg.example.com/m:v1"),
            ]
        );
        assert_eq!(images[1].pull_policy(), Some("IfNotPresent"));
        assert_eq!(images[3].pull_policy(), Some("Never"));
        assert_eq!(images[3].name(), "models");
        // Every value's span is its JSON text in the object.
        for e in &images {
            let span = e.image.as_ref().unwrap().span;
            assert_eq!(
                &object[span.start..span.end],
                format!("{:?}", e.image().unwrap())
            );
        }
    }

    #[test]
    fn a_null_pull_policy_is_absent_but_keeps_where_it_stands() {
        let object = wrap(&["spec"], POD_SPEC);
        let images = read(PodSpecPath::POD, &object).unwrap().images.unwrap();
        let ephemeral = &images[2];
        assert_eq!(ephemeral.pull_policy(), None);
        let span = ephemeral.pull_policy.as_ref().unwrap().span;
        assert_eq!(&object[span.start..span.end], "null");
    }

    #[test]
    fn pointers_address_the_object_holding_the_image() {
        let object = wrap(PodSpecPath::CRON_JOB.keys(), POD_SPEC);
        let images = read(PodSpecPath::CRON_JOB, &object)
            .unwrap()
            .images
            .unwrap();
        assert_eq!(
            images[1].pointer(PodSpecPath::CRON_JOB),
            "/spec/jobTemplate/spec/template/spec/initContainers/0"
        );
        assert_eq!(
            images[3].pointer(PodSpecPath::CRON_JOB),
            "/spec/jobTemplate/spec/template/spec/volumes/1/image"
        );
        let value: serde_json::Value = serde_json::from_str(&object).unwrap();
        for e in &images {
            let holder = value.pointer(&e.pointer(PodSpecPath::CRON_JOB)).unwrap();
            assert_eq!(holder[e.list.image_key()].as_str(), e.image());
        }
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let object = r#"{"spec":{"containers":[{"name":"a","image":"nginx\u003a1"}]}}"#;
        let images = read(PodSpecPath::POD, object).unwrap().images.unwrap();
        assert_eq!(images[0].image(), Some("nginx:1"));
    }

    #[rstest]
    #[case::no_template(PodSpecPath::WORKLOAD, r#"{"spec":{"replicas":1}}"#)]
    #[case::null_template(PodSpecPath::WORKLOAD, r#"{"spec":{"template":null}}"#)]
    #[case::no_spec(PodSpecPath::POD, r#"{"metadata":{}}"#)]
    fn a_missing_pod_spec_is_none(#[case] path: PodSpecPath, #[case] object: &str) {
        assert_eq!(read(path, object).unwrap().images, None);
    }

    #[rstest]
    #[case::containers_a_map(
        PodSpecPath::WORKLOAD,
        r#"{"spec":{"template":{"spec":{"containers":{"name":"x"}}}}}"#,
        "spec.template.spec.containers: invalid type: map, expected an array"
    )]
    #[case::image_a_number(
        PodSpecPath::POD,
        r#"{"spec":{"containers":[{"image":42}]}}"#,
        "spec.containers[0].image: invalid type: integer `42`, expected a string"
    )]
    #[case::container_an_array(
        PodSpecPath::POD,
        r#"{"spec":{"containers":[["a","nginx:1"]]}}"#,
        "spec.containers[0]: invalid type: sequence, expected an object"
    )]
    #[case::image_twice(
        PodSpecPath::POD,
        r#"{"spec":{"containers":[{"image":"a","image":"b"}]}}"#,
        "spec.containers[0]: duplicate field `image`"
    )]
    #[case::not_an_object(PodSpecPath::POD, "[]", ": invalid type: sequence, expected an object")]
    #[case::a_float_kind(
        PodSpecPath::POD,
        r#"{"kind":1.5}"#,
        "kind: invalid type: floating point `1.5`, expected a string"
    )]
    fn what_is_not_a_kubernetes_object_is_named_by_its_path(
        #[case] path: PodSpecPath,
        #[case] object: &str,
        #[case] message: &str,
    ) {
        assert_eq!(read(path, object).unwrap_err(), message);
    }

    #[test]
    fn the_object_kind_is_read() {
        let o = read(
            PodSpecPath::POD,
            r#"{"apiVersion":"v1","kind":"Pod","spec":{}}"#,
        )
        .unwrap();
        assert_eq!(o.kind.as_deref(), Some("Pod"));
        assert_eq!(o.images, Some(vec![]));
        assert!(
            read(PodSpecPath::POD, r#"{"spec":{}}"#)
                .unwrap()
                .kind
                .is_none()
        );
    }
}
