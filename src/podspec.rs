//! Finding pod specs in each kind, and the images in them.
//!
//! Only the fields that are judged are read (names, images, pull policies); everything else in
//! the object is skipped without being built, and strings are borrowed from the request
//! wherever they have no escapes. Two readers find the same images: the scanner's
//! ([`scan_object`], in the one pass over the request) and serde's derived readers
//! ([`read_object_traced`]), for what the scanner gives up on and to name the path of an error.

use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodTemplate, ReplicationController};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::borrow::Cow;
use std::fmt;

use crate::scan::{self, Scanner, Unread};
use crate::settings::ContainerType;

/// Where the pod spec sits in an object of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Pod: `spec`.
    Pod,
    /// PodTemplate: `template.spec`.
    PodTemplate,
    /// Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job:
    /// `spec.template.spec`.
    Workload,
    /// CronJob: `spec.jobTemplate.spec.template.spec`.
    CronJob,
}

impl Shape {
    /// The path of the pod spec in the object.
    pub fn path(self) -> &'static [&'static str] {
        match self {
            Shape::Pod => &["spec"],
            Shape::PodTemplate => &["template", "spec"],
            Shape::Workload => &["spec", "template", "spec"],
            Shape::CronJob => &["spec", "jobTemplate", "spec", "template", "spec"],
        }
    }
}

/// The kinds whose pod specs are judged, by API group and kind (k8s-openapi's names).
const KINDS: &[(&str, &str, Shape)] = &[
    (Pod::GROUP, Pod::KIND, Shape::Pod),
    (PodTemplate::GROUP, PodTemplate::KIND, Shape::PodTemplate),
    (
        ReplicationController::GROUP,
        ReplicationController::KIND,
        Shape::Workload,
    ),
    (Deployment::GROUP, Deployment::KIND, Shape::Workload),
    (ReplicaSet::GROUP, ReplicaSet::KIND, Shape::Workload),
    (StatefulSet::GROUP, StatefulSet::KIND, Shape::Workload),
    (DaemonSet::GROUP, DaemonSet::KIND, Shape::Workload),
    (Job::GROUP, Job::KIND, Shape::Workload),
    (CronJob::GROUP, CronJob::KIND, Shape::CronJob),
];

/// The subresource `kubectl debug` writes ephemeral containers through; its object is the Pod.
pub const EPHEMERAL_SUBRESOURCE: &str = "ephemeralcontainers";

/// The shape of a request's object, or `None` for kinds and subresources that hold no images
/// this policy judges.
/// A request without a group (written by hand; the API server always sends one) is matched by
/// kind alone.
pub fn shape_of(group: Option<&str>, kind: &str, sub_resource: &str) -> Option<Shape> {
    let (_, _, shape) = KINDS
        .iter()
        .find(|(g, k, _)| group.is_none_or(|group| *g == group) && *k == kind)?;
    match (shape, sub_resource) {
        (_, "") => Some(*shape),
        (Shape::Pod, EPHEMERAL_SUBRESOURCE) => Some(Shape::Pod),
        _ => None,
    }
}

/// A JSON string, borrowed from the request when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A string field that a mutation may rewrite: its value, and the value's JSON text exactly as
/// written in the request (quotes and escapes included), borrowed from it, so the mutation
/// knows where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub text: Text<'a>,
    pub raw: &'a str,
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de serde_json::value::RawValue>::deserialize(d)?.get();
        let text = if !raw.starts_with('"') {
            let value: serde_json::Value = serde_json::from_str(raw).map_err(de::Error::custom)?;
            return Err(de::Error::invalid_type(unexpected(&value), &"a string"));
        } else if raw.contains('\\') {
            Cow::Owned(serde_json::from_str(raw).map_err(de::Error::custom)?)
        } else {
            Cow::Borrowed(&raw[1..raw.len() - 1])
        };
        Ok(Field {
            text: Text(text),
            raw,
        })
    }
}

/// What serde's own string visitor would say it found instead of a string.
fn unexpected(value: &serde_json::Value) -> de::Unexpected<'_> {
    use serde_json::Value;
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => de::Unexpected::Unsigned(u),
            (_, Some(i), _) => de::Unexpected::Signed(i),
            (_, _, Some(f)) => de::Unexpected::Float(f),
            _ => de::Unexpected::Other("number"),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

fn split(field: Option<Field<'_>>) -> (Option<Text<'_>>, Option<&str>) {
    field.map_or((None, None), |f| (Some(f.text), Some(f.raw)))
}

#[derive(Debug, Deserialize)]
struct ContainerFields<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    image: Option<Field<'a>>,
    #[serde(borrow, rename = "imagePullPolicy")]
    image_pull_policy: Option<Field<'a>>,
}

#[derive(Debug, Deserialize)]
struct ImageVolumeFields<'a> {
    #[serde(borrow)]
    reference: Option<Field<'a>>,
    #[serde(borrow, rename = "pullPolicy")]
    pull_policy: Option<Field<'a>>,
}

#[derive(Debug, Deserialize)]
struct VolumeFields<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    image: Option<ImageVolumeFields<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct PodSpecFields<'a> {
    #[serde(borrow)]
    containers: Option<Vec<ContainerFields<'a>>>,
    #[serde(borrow, rename = "initContainers")]
    init_containers: Option<Vec<ContainerFields<'a>>>,
    #[serde(borrow, rename = "ephemeralContainers")]
    ephemeral_containers: Option<Vec<ContainerFields<'a>>>,
    #[serde(borrow)]
    volumes: Option<Vec<VolumeFields<'a>>>,
}

#[derive(Debug, Deserialize)]
struct Spec<T> {
    spec: Option<T>,
}
#[derive(Debug, Deserialize)]
struct Template<T> {
    template: Option<T>,
}
#[derive(Debug, Deserialize)]
struct JobTemplate<T> {
    #[serde(rename = "jobTemplate")]
    job_template: Option<T>,
}
#[derive(Debug, Deserialize)]
struct PodObject<'a> {
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    spec: Option<PodSpecFields<'a>>,
}
#[derive(Debug, Deserialize)]
struct PodTemplateObject<'a> {
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    template: Option<Spec<PodSpecFields<'a>>>,
}
#[derive(Debug, Deserialize)]
struct WorkloadObject<'a> {
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    spec: Option<Template<Spec<PodSpecFields<'a>>>>,
}
#[derive(Debug, Deserialize)]
struct CronJobObject<'a> {
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    spec: Option<JobTemplate<Spec<Template<Spec<PodSpecFields<'a>>>>>>,
}

/// What one pass over an object finds: the kind it says it is and the images of its pod spec
/// (`None` when the object has no pod spec where its shape puts it).
#[derive(Debug, PartialEq, Eq)]
pub struct ObjectImages<'a> {
    pub kind: Option<Text<'a>>,
    pub sites: Option<Vec<Site<'a>>>,
}

/// Which list of the pod spec a place is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum List {
    Containers,
    InitContainers,
    EphemeralContainers,
    Volumes,
}

impl List {
    pub fn key(self) -> &'static str {
        match self {
            List::Containers => "containers",
            List::InitContainers => "initContainers",
            List::EphemeralContainers => "ephemeralContainers",
            List::Volumes => "volumes",
        }
    }

    /// The container type `exemptContainers` speaks of; `None` for image volumes.
    pub fn container_type(self) -> Option<ContainerType> {
        match self {
            List::Containers => Some(ContainerType::Regular),
            List::InitContainers => Some(ContainerType::Init),
            List::EphemeralContainers => Some(ContainerType::Ephemeral),
            List::Volumes => None,
        }
    }

    /// The name of the pull policy field at this place.
    pub fn pull_policy_key(self) -> &'static str {
        match self {
            List::Volumes => "pullPolicy",
            _ => "imagePullPolicy",
        }
    }

    /// The name of the image field at this place.
    pub fn image_key(self) -> &'static str {
        match self {
            List::Volumes => "reference",
            _ => "image",
        }
    }
}

/// One image in a pod spec: a container's image or an image volume's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site<'a> {
    pub list: List,
    pub index: usize,
    pub name: Option<Text<'a>>,
    pub image: Option<Text<'a>>,
    pub pull_policy: Option<Text<'a>>,
    /// The image (`reference`) value's JSON text as written, borrowed from the request.
    pub image_raw: Option<&'a str>,
    /// The pull policy value's JSON text as written, borrowed from the request.
    pub pull_policy_raw: Option<&'a str>,
}

impl Site<'_> {
    /// `spec.template.spec.initContainers[0]`
    pub fn place(&self, shape: Shape) -> String {
        format!(
            "{}.{}[{}]",
            shape.path().join("."),
            self.list.key(),
            self.index
        )
    }

    /// JSON pointer of the object holding the image field: `/spec/template/spec/initContainers/0`
    /// (for image volumes, `/spec/volumes/1/image`).
    pub fn pointer(&self, shape: Shape) -> String {
        let mut p = String::new();
        for seg in shape.path() {
            p.push('/');
            p.push_str(seg);
        }
        p.push('/');
        p.push_str(self.list.key());
        p.push('/');
        p.push_str(&self.index.to_string());
        if self.list == List::Volumes {
            p.push_str("/image");
        }
        p
    }

    pub fn name_str(&self) -> &str {
        self.name.as_ref().map_or("", Text::as_str)
    }
}

/// The object types of each shape, reduced to what is judged.
trait ShapeObject<'a>: Deserialize<'a> {
    fn parts(self) -> (Option<Text<'a>>, Option<PodSpecFields<'a>>);

    fn images(self) -> ObjectImages<'a> {
        let (kind, spec) = self.parts();
        ObjectImages {
            kind,
            sites: spec.map(sites_of),
        }
    }
}

impl<'a> ShapeObject<'a> for PodObject<'a> {
    fn parts(self) -> (Option<Text<'a>>, Option<PodSpecFields<'a>>) {
        (self.kind, self.spec)
    }
}
impl<'a> ShapeObject<'a> for PodTemplateObject<'a> {
    fn parts(self) -> (Option<Text<'a>>, Option<PodSpecFields<'a>>) {
        (self.kind, self.template.and_then(|t| t.spec))
    }
}
impl<'a> ShapeObject<'a> for WorkloadObject<'a> {
    fn parts(self) -> (Option<Text<'a>>, Option<PodSpecFields<'a>>) {
        (
            self.kind,
            self.spec.and_then(|s| s.template).and_then(|t| t.spec),
        )
    }
}
impl<'a> ShapeObject<'a> for CronJobObject<'a> {
    fn parts(self) -> (Option<Text<'a>>, Option<PodSpecFields<'a>>) {
        let spec = self
            .spec
            .and_then(|s| s.job_template)
            .and_then(|j| j.spec)
            .and_then(|s| s.template)
            .and_then(|t| t.spec);
        (self.kind, spec)
    }
}

/// Reads the images of an object of the given shape: with the scanner, or when it gives up,
/// with the derived readers, whose error names the path of the field that is not what a
/// Kubernetes object has there.
pub fn read_object(shape: Shape, object: &str) -> Result<ObjectImages<'_>, String> {
    if !object.trim_start().starts_with('{') {
        return Err("it is not a JSON object".into());
    }
    let mut s = Scanner::new(object.as_bytes());
    if let Ok(images) = scan_object(&mut s, shape)
        && s.end().is_ok()
    {
        return Ok(images);
    }
    read_object_traced(shape, object)
}

/// Reads the images of an object of the given shape with the derived readers alone (serde_json):
/// what [`read_object`] falls back to, and the oracle the scanner is checked against.
pub fn read_object_traced(shape: Shape, object: &str) -> Result<ObjectImages<'_>, String> {
    Ok(match shape {
        Shape::Pod => parse::<PodObject>(object)?.images(),
        Shape::PodTemplate => parse::<PodTemplateObject>(object)?.images(),
        Shape::Workload => parse::<WorkloadObject>(object)?.images(),
        Shape::CronJob => parse::<CronJobObject>(object)?.images(),
    })
}

/// Reads a string or `null` that comes next in the scanner (an `Option<Text>` field).
pub fn scan_text<'a>(s: &mut Scanner<'a>) -> scan::Result<Option<Text<'a>>> {
    if s.null()? {
        return Ok(None);
    }
    Ok(Some(Text(s.string()?.text()?)))
}

/// Reads a string or `null` that a mutation may rewrite (an `Option<Field>` field).
fn scan_field<'a>(s: &mut Scanner<'a>) -> scan::Result<Option<Field<'a>>> {
    if s.null()? {
        return Ok(None);
    }
    let raw = s.string()?;
    Ok(Some(Field {
        text: Text(raw.text()?),
        raw: raw.json()?,
    }))
}

/// Reads the images of an object of a shape from the scanner, in the pass over the request:
/// what the derived readers above read, the same way (`null` is an absent field, a duplicate
/// field is refused), and nothing else.
pub fn scan_object<'a>(s: &mut Scanner<'a>, shape: Shape) -> scan::Result<ObjectImages<'a>> {
    let (first, rest) = shape.path().split_first().ok_or(Unread)?;
    let mut images = ObjectImages {
        kind: None,
        sites: None,
    };
    s.fields([b"kind", first.as_bytes()], |s, field| {
        match field {
            0 => images.kind = scan_text(s)?,
            _ => images.sites = scan_path(s, rest)?,
        }
        Ok(())
    })?;
    Ok(images)
}

/// Follows `path` to the pod spec and reads its images; `None` when a step is absent or null.
fn scan_path<'a>(s: &mut Scanner<'a>, path: &[&str]) -> scan::Result<Option<Vec<Site<'a>>>> {
    if s.null()? {
        return Ok(None);
    }
    let Some((first, rest)) = path.split_first() else {
        return scan_pod_spec(s).map(Some);
    };
    let mut found = None;
    s.fields([first.as_bytes()], |s, _| {
        found = scan_path(s, rest)?;
        Ok(())
    })?;
    Ok(found)
}

/// The images of a pod spec, in the order of [`sites_of`]: containers, init containers,
/// ephemeral containers, image volumes.
fn scan_pod_spec<'a>(s: &mut Scanner<'a>) -> scan::Result<Vec<Site<'a>>> {
    const LISTS: [List; 4] = [
        List::Containers,
        List::InitContainers,
        List::EphemeralContainers,
        List::Volumes,
    ];
    let mut lists: [Vec<Site<'a>>; 4] = Default::default();
    s.fields(LISTS.map(|l| l.key().as_bytes()), |s, i| {
        if s.null()? {
            return Ok(());
        }
        let sites = &mut lists[i];
        s.array(|s, index| {
            let site = match LISTS[i] {
                List::Volumes => scan_volume(s, index)?,
                list => Some(scan_container(s, list, index)?),
            };
            sites.extend(site);
            Ok(())
        })
    })?;
    let [mut sites, init, ephemeral, volumes] = lists;
    sites.extend(init.into_iter().chain(ephemeral).chain(volumes));
    Ok(sites)
}

fn scan_container<'a>(s: &mut Scanner<'a>, list: List, index: usize) -> scan::Result<Site<'a>> {
    let (mut name, mut image, mut policy) = (None, None, None);
    s.fields([b"name", b"image", b"imagePullPolicy"], |s, field| {
        match field {
            0 => name = scan_text(s)?,
            1 => image = scan_field(s)?,
            _ => policy = scan_field(s)?,
        }
        Ok(())
    })?;
    Ok(site(list, index, name, image, policy))
}

/// An image volume's site; `None` for a volume of another type (or `image: null`).
fn scan_volume<'a>(s: &mut Scanner<'a>, index: usize) -> scan::Result<Option<Site<'a>>> {
    let (mut name, mut image) = (None, None);
    s.fields([b"name", b"image"], |s, field| {
        if field == 0 {
            name = scan_text(s)?;
            return Ok(());
        }
        if s.null()? {
            return Ok(());
        }
        let (mut reference, mut policy) = (None, None);
        s.fields([b"reference", b"pullPolicy"], |s, field| {
            match field {
                0 => reference = scan_field(s)?,
                _ => policy = scan_field(s)?,
            }
            Ok(())
        })?;
        image = Some((reference, policy));
        Ok(())
    })?;
    Ok(image.map(|(reference, policy)| site(List::Volumes, index, name, reference, policy)))
}

fn site<'a>(
    list: List,
    index: usize,
    name: Option<Text<'a>>,
    image: Option<Field<'a>>,
    policy: Option<Field<'a>>,
) -> Site<'a> {
    let (image, image_raw) = split(image);
    let (pull_policy, pull_policy_raw) = split(policy);
    Site {
        list,
        index,
        name,
        image,
        pull_policy,
        image_raw,
        pull_policy_raw,
    }
}

fn parse<'a, T: Deserialize<'a>>(json: &'a str) -> Result<T, String> {
    crate::json::read(json.as_bytes()).map_err(|e| e.to_string())
}

fn sites_of(spec: PodSpecFields<'_>) -> Vec<Site<'_>> {
    let mut sites = Vec::new();
    let lists = [
        (List::Containers, spec.containers),
        (List::InitContainers, spec.init_containers),
        (List::EphemeralContainers, spec.ephemeral_containers),
    ];
    for (list, containers) in lists {
        for (index, c) in containers.into_iter().flatten().enumerate() {
            sites.push(site(list, index, c.name, c.image, c.image_pull_policy));
        }
    }
    for (index, v) in spec.volumes.into_iter().flatten().enumerate() {
        if let Some(volume) = v.image {
            sites.push(site(
                List::Volumes,
                index,
                v.name,
                volume.reference,
                volume.pull_policy,
            ));
        }
    }
    sites
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD_SPEC: &str = r#"{"containers":[{"name":"app","image":"nginx:1","env":[{"name":"A","value":"b"}]}],
        "initContainers":[{"name":"init","image":"busybox","imagePullPolicy":"IfNotPresent"}],
        "ephemeralContainers":[{"name":"dbg","image":"alpine:3"}],
        "volumes":[{"name":"cfg","configMap":{"name":"x"}},{"name":"models","image":{"reference":"reg.example.com/m:v1","pullPolicy":"Never"}}]}"#;

    fn read_sites_t(shape: Shape, object: &str) -> Result<Option<Vec<Site<'_>>>, String> {
        read_object(shape, object).map(|o| o.sites)
    }

    fn wrap(path: &[&str], inner: &str) -> String {
        path.iter().rev().fold(inner.to_owned(), |acc, k| {
            format!(r#"{{"{k}":{acc},"other":{{"k":[1,2]}}}}"#)
        })
    }

    #[test]
    fn every_kind_has_a_shape() {
        assert_eq!(shape_of(Some(""), "Pod", ""), Some(Shape::Pod));
        assert_eq!(
            shape_of(Some(""), "Pod", "ephemeralcontainers"),
            Some(Shape::Pod)
        );
        assert_eq!(shape_of(Some(""), "Pod", "status"), None);
        assert_eq!(
            shape_of(Some(""), "PodTemplate", ""),
            Some(Shape::PodTemplate)
        );
        assert_eq!(
            shape_of(Some(""), "ReplicationController", ""),
            Some(Shape::Workload)
        );
        for k in ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"] {
            assert_eq!(shape_of(Some("apps"), k, ""), Some(Shape::Workload), "{k}");
        }
        assert_eq!(shape_of(Some("apps"), "Deployment", "scale"), None);
        assert_eq!(shape_of(Some("batch"), "Job", ""), Some(Shape::Workload));
        assert_eq!(shape_of(Some("batch"), "CronJob", ""), Some(Shape::CronJob));
        assert_eq!(shape_of(Some(""), "ConfigMap", ""), None);
        // Same kind name in another group is not ours.
        assert_eq!(shape_of(Some("batch.volcano.sh"), "Job", ""), None);
        assert_eq!(shape_of(None, "Deployment", ""), Some(Shape::Workload));
    }

    #[test]
    fn sites_are_found_in_every_shape_and_list() {
        for shape in [
            Shape::Pod,
            Shape::PodTemplate,
            Shape::Workload,
            Shape::CronJob,
        ] {
            let object = wrap(shape.path(), POD_SPEC);
            let sites = read_sites_t(shape, &object).unwrap().unwrap();
            let got: Vec<_> = sites
                .iter()
                .map(|s| {
                    (
                        s.place(shape),
                        s.image.as_ref().unwrap().as_str().to_owned(),
                    )
                })
                .collect();
            let p = shape.path().join(".");
            assert_eq!(
                got,
                vec![
                    (format!("{p}.containers[0]"), "nginx:1".to_owned()),
                    (format!("{p}.initContainers[0]"), "busybox".to_owned()),
                    (format!("{p}.ephemeralContainers[0]"), "alpine:3".to_owned()),
                    (format!("{p}.volumes[1]"), "reg.example.com/m:v1".to_owned()),
                ],
                "{shape:?}"
            );
            assert_eq!(
                sites[1].pull_policy.as_ref().unwrap().as_str(),
                "IfNotPresent"
            );
            assert_eq!(sites[3].pull_policy.as_ref().unwrap().as_str(), "Never");
            assert_eq!(sites[3].name_str(), "models");
        }
    }

    #[test]
    fn pointers_address_the_object_holding_the_image() {
        let object = wrap(Shape::CronJob.path(), POD_SPEC);
        let sites = read_sites_t(Shape::CronJob, &object).unwrap().unwrap();
        assert_eq!(
            sites[1].pointer(Shape::CronJob),
            "/spec/jobTemplate/spec/template/spec/initContainers/0"
        );
        assert_eq!(
            sites[3].pointer(Shape::CronJob),
            "/spec/jobTemplate/spec/template/spec/volumes/1/image"
        );
        let value: serde_json::Value = serde_json::from_str(&object).unwrap();
        for s in &sites {
            let holder = value.pointer(&s.pointer(Shape::CronJob)).unwrap();
            assert_eq!(
                holder[s.list.image_key()].as_str(),
                s.image.as_ref().map(Text::as_str)
            );
        }
    }

    #[test]
    fn escaped_strings_are_read() {
        let object = r#"{"spec":{"containers":[{"name":"a","image":"nginx\u003a1"}]}}"#;
        let sites = read_sites_t(Shape::Pod, object).unwrap().unwrap();
        assert_eq!(sites[0].image.as_ref().unwrap().as_str(), "nginx:1");
    }

    #[test]
    fn missing_pod_spec_is_none() {
        assert_eq!(
            read_sites_t(Shape::Workload, r#"{"spec":{"replicas":1}}"#).unwrap(),
            None
        );
        assert_eq!(
            read_sites_t(Shape::Pod, r#"{"metadata":{}}"#).unwrap(),
            None
        );
    }

    #[test]
    fn wrong_types_name_the_path() {
        let e = read_sites_t(
            Shape::Workload,
            r#"{"spec":{"template":{"spec":{"containers":{"name":"x"}}}}}"#,
        )
        .unwrap_err();
        assert!(
            e.starts_with("spec.template.spec.containers: invalid type: map"),
            "{e}"
        );
        let e = read_sites_t(Shape::Pod, r#"{"spec":{"containers":[{"image":42}]}}"#).unwrap_err();
        assert!(
            e.starts_with("spec.containers[0].image: invalid type: integer"),
            "{e}"
        );
        for not_object in ["[]", "\"Pod\"", "null", "1"] {
            let e = read_sites_t(Shape::Pod, not_object).unwrap_err();
            assert_eq!(e, "it is not a JSON object");
        }
    }

    #[test]
    fn object_kind_is_read() {
        let o = read_object(Shape::Pod, r#"{"apiVersion":"v1","kind":"Pod","spec":{}}"#).unwrap();
        assert_eq!(o.kind.unwrap().as_str(), "Pod");
        assert_eq!(o.sites, Some(vec![]));
        assert!(
            read_object(Shape::Pod, r#"{"spec":{}}"#)
                .unwrap()
                .kind
                .is_none()
        );
    }
}
