//! What the policy reads of a Pod beyond its images, to compare it with the other replicas of
//! its controller (docs/design.md, "Same bytes on every replica"): its name, age, deletion and
//! controller owner (`metadata`), and the digest each container runs (`status`); and the Pod
//! list the host answers `kubernetes/list_resources_by_namespace` with, read into the
//! replicas of one controller.
//!
//! The request's reader keeps where a Pod's `metadata` and `status` are ([`PodSpans`]); they
//! are read ([`PodFacts::read`]) only when a step asks, since most requests need neither. The
//! list is read once per request, item by item, and an item of another owner is skipped after
//! its metadata.

use std::borrow::Cow;

use crate::podspec::{self, ImageEntry, ImageList, read_text};
use crate::reference::check_digest;
use crate::scan::{self, Scanner, Span, json_fields};

json_fields!(MetadataField {
    Name = "name",
    CreationTimestamp = "creationTimestamp",
    DeletionTimestamp = "deletionTimestamp",
    OwnerReferences = "ownerReferences",
});
json_fields!(OwnerField {
    Kind = "kind",
    Name = "name",
    Uid = "uid",
    Controller = "controller",
});
json_fields!(
    /// The lists of a Pod's status that say what each container runs, in the order of
    /// [`ImageList`]'s container lists.
    StatusList {
        Containers = "containerStatuses",
        Init = "initContainerStatuses",
        Ephemeral = "ephemeralContainerStatuses",
    }
);
json_fields!(ContainerStatusField { Name = "name", ImageId = "imageID" });
json_fields!(ListField { Items = "items" });
json_fields!(ItemField { Metadata = "metadata", Spec = "spec", Status = "status" });

impl StatusList {
    fn image_list(self) -> ImageList {
        match self {
            StatusList::Containers => ImageList::Containers,
            StatusList::Init => ImageList::InitContainers,
            StatusList::Ephemeral => ImageList::EphemeralContainers,
        }
    }
}

/// The field masks of the list call: only what [`read_pod_list`] reads. policy-evaluator keeps
/// the masked paths of each item's body, through arrays (`spec.containers.image` keeps the image
/// of every container), and drops the rest; it keeps `metadata` whole whatever the masks say
/// (but `managedFields`), so the `metadata` masks only say what is read. Sorted, as the SDK
/// sends its set of masks: `kwctl run --replay-host-capabilities-interactions` compares the
/// request with the recorded one.
pub const LIST_FIELD_MASKS: &[&str] = &[
    "metadata.creationTimestamp",
    "metadata.deletionTimestamp",
    "metadata.name",
    "metadata.ownerReferences",
    "spec.containers.image",
    "spec.containers.name",
    "spec.ephemeralContainers.image",
    "spec.ephemeralContainers.name",
    "spec.initContainers.image",
    "spec.initContainers.name",
    "status.containerStatuses.imageID",
    "status.containerStatuses.name",
    "status.ephemeralContainerStatuses.imageID",
    "status.ephemeralContainerStatuses.name",
    "status.initContainerStatuses.imageID",
    "status.initContainerStatuses.name",
];

/// A Pod's controller: the owner reference with `controller: true`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Controller<'a> {
    pub kind: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub uid: Cow<'a, str>,
}

/// What a Pod's metadata says of it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodMeta<'a> {
    pub name: Option<Cow<'a, str>>,
    /// `creationTimestamp` as written (RFC 3339 in UTC, so its text sorts by time).
    pub created: Option<Cow<'a, str>>,
    /// `deletionTimestamp` is set: the Pod is being deleted.
    pub deleting: bool,
    pub controller: Option<Controller<'a>>,
}

/// The digest a container runs, read from its status's `imageID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running<'a> {
    pub list: ImageList,
    pub name: Cow<'a, str>,
    /// The manifest digest; `None` when the runtime reported none (a waiting container) or an
    /// image's config ID, which names no manifest.
    pub digest: Option<String>,
}

/// Where a Pod's `metadata` and `status` are in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodSpans {
    pub metadata: Option<Span>,
    pub status: Option<Span>,
}

/// A Pod's metadata and status, as far as replicas are compared.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodFacts<'a> {
    pub meta: PodMeta<'a>,
    pub running: Vec<Running<'a>>,
}

impl<'a> PodFacts<'a> {
    /// Reads the metadata and status at `spans` of `payload`. The API server never sends them
    /// malformed; what cannot be read is left out (a Pod without a controller, or without
    /// running digests), and logged: it only means the replicas are not compared.
    pub fn read(payload: &'a [u8], spans: PodSpans) -> PodFacts<'a> {
        fn at<'a, T: Default>(
            payload: &'a [u8],
            (field, span): (&str, Option<Span>),
            read: fn(&mut Scanner<'a>) -> scan::Result<T>,
        ) -> T {
            let Some(span) = span else {
                return T::default();
            };
            let mut s = Scanner::at(payload, span.start);
            read(&mut s).unwrap_or_else(|scan::Stop| {
                let why = s.why();
                let path = std::iter::once(field.to_owned()).chain(why.path);
                crate::log::info(&format!(
                    "the Pod's {} cannot be read, so its replicas are not compared: {}",
                    scan::Why::dotted(&path.collect::<Vec<_>>()),
                    why.message
                ));
                T::default()
            })
        }
        PodFacts {
            meta: at(payload, ("metadata", spans.metadata), read_metadata),
            running: at(payload, ("status", spans.status), read_status),
        }
    }

    /// The digest the container `name` of `list` runs, if known.
    pub fn running(&self, list: ImageList, name: &str) -> Option<&str> {
        self.running
            .iter()
            .find(|r| r.list == list && r.name == name)
            .and_then(|r| r.digest.as_deref())
    }
}

/// The manifest digest in a container status's `imageID`, by runtime:
/// - containerd: `<repository>@sha256:…`;
/// - cri-dockerd: `docker-pullable://<repository>@sha256:…`;
/// - CRI-O: `<repository>@sha256:…` (which may be a platform manifest's digest);
/// - Docker's `docker://sha256:…` and a bare `sha256:…` are an image's config ID: no manifest
///   digest, so `None`; so is an empty one (a waiting container).
pub fn running_digest(image_id: &str) -> Option<String> {
    let id = image_id
        .strip_prefix("docker-pullable://")
        .unwrap_or(image_id);
    let (_, digest) = id.rsplit_once('@')?;
    check_digest(digest).ok()?;
    Some(digest.to_owned())
}

/// Reads a Pod's `metadata`.
pub fn read_metadata<'a>(s: &mut Scanner<'a>) -> scan::Result<PodMeta<'a>> {
    let mut meta = PodMeta::default();
    if s.null()? {
        return Ok(meta);
    }
    s.fields(|s, field| {
        match field {
            MetadataField::Name => meta.name = read_text(s)?,
            MetadataField::CreationTimestamp => meta.created = read_text(s)?,
            MetadataField::DeletionTimestamp => meta.deleting = !s.null()? && s.skip().is_ok(),
            MetadataField::OwnerReferences if s.null()? => {}
            MetadataField::OwnerReferences => s.array(|s, _| {
                let owner = read_owner(s)?;
                if meta.controller.is_none() {
                    meta.controller = owner;
                }
                Ok(())
            })?,
        }
        Ok(())
    })?;
    Ok(meta)
}

/// An owner reference; `Some` only for the controller (`controller: true`).
fn read_owner<'a>(s: &mut Scanner<'a>) -> scan::Result<Option<Controller<'a>>> {
    let mut owner = Controller::default();
    let mut controller = false;
    s.fields(|s, field| {
        match field {
            OwnerField::Kind => owner.kind = read_text(s)?.unwrap_or_default(),
            OwnerField::Name => owner.name = read_text(s)?.unwrap_or_default(),
            OwnerField::Uid => owner.uid = read_text(s)?.unwrap_or_default(),
            OwnerField::Controller => {
                let value = s.skip()?;
                controller = &s.bytes()[value.start..value.end] == b"true";
            }
        }
        Ok(())
    })?;
    Ok((controller && !owner.uid.is_empty()).then_some(owner))
}

/// Reads a Pod's `status`: the digest each container runs.
pub fn read_status<'a>(s: &mut Scanner<'a>) -> scan::Result<Vec<Running<'a>>> {
    let mut running = Vec::new();
    if s.null()? {
        return Ok(running);
    }
    s.fields(|s, list: StatusList| {
        if s.null()? {
            return Ok(());
        }
        s.array(|s, _| {
            let mut name = None;
            let mut image_id = None;
            s.fields(|s, field| {
                match field {
                    ContainerStatusField::Name => name = read_text(s)?,
                    ContainerStatusField::ImageId => image_id = read_text(s)?,
                }
                Ok(())
            })?;
            if let Some(name) = name {
                running.push(Running {
                    list: list.image_list(),
                    name,
                    digest: image_id.as_deref().and_then(running_digest),
                });
            }
            Ok(())
        })
    })?;
    Ok(running)
}

/// Another replica of the same controller, as the list call answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub name: String,
    pub created: String,
    /// Each container's image as written in its spec, by list and name.
    pub images: Vec<(ImageList, String, String)>,
    pub running: Vec<Running<'static>>,
}

impl Replica {
    /// The image as written of the container `name` of `list`.
    pub fn image(&self, list: ImageList, name: &str) -> Option<&str> {
        self.images
            .iter()
            .find(|(l, n, _)| *l == list && n == name)
            .map(|(_, _, image)| image.as_str())
    }

    /// The digest the container `name` of `list` runs, if known.
    pub fn running(&self, list: ImageList, name: &str) -> Option<&str> {
        self.running
            .iter()
            .find(|r| r.list == list && r.name == name)
            .and_then(|r| r.digest.as_deref())
    }
}

/// The replicas of the controller `uid` in the host's answer to the list call (a `PodList`),
/// leaving out the Pod `except` and Pods being deleted, oldest first; an error says what is
/// wrong with the answer.
pub fn read_pod_list(list: &[u8], uid: &str, except: Option<&str>) -> Result<Vec<Replica>, String> {
    let mut s = Scanner::new(list);
    let mut replicas = Vec::new();
    let read = s
        .fields(|s, ListField::Items| {
            if s.null()? {
                return Ok(());
            }
            s.array(|s, _| {
                if let Some(replica) = read_item(s, uid, except)? {
                    replicas.push(replica);
                }
                Ok(())
            })
        })
        .and_then(|()| s.end());
    if read.is_err() {
        let why = s.why();
        return Err(format!(
            "the Pod list cannot be read: {}{}",
            if why.path.is_empty() {
                String::new()
            } else {
                format!("{}: ", scan::Why::dotted(&why.path))
            },
            why.message
        ));
    }
    replicas.sort_by(|a, b| (&a.created, &a.name).cmp(&(&b.created, &b.name)));
    Ok(replicas)
}

/// One item of the list: a replica of `uid`, or `None` for another Pod (read no further than
/// its metadata when that comes first, as policy-evaluator writes it).
fn read_item(
    s: &mut Scanner<'_>,
    uid: &str,
    except: Option<&str>,
) -> scan::Result<Option<Replica>> {
    let mut meta = None;
    let mut images: Vec<ImageEntry<'_>> = Vec::new();
    let mut running = Vec::new();
    let is_replica = |meta: &PodMeta<'_>| {
        meta.controller.as_ref().is_some_and(|c| c.uid == uid)
            && !meta.deleting
            && meta.name.is_some()
            && meta.name.as_deref() != except
    };
    s.fields(|s, field| {
        if meta.as_ref().is_some_and(|m| !is_replica(m)) {
            return s.skip().map(drop);
        }
        match field {
            ItemField::Metadata => meta = Some(read_metadata(s)?),
            ItemField::Spec if s.null()? => {}
            ItemField::Spec => images = podspec::read_pod_spec(s)?,
            ItemField::Status => running = read_status(s)?,
        }
        Ok(())
    })?;
    let Some(meta) = meta.filter(is_replica) else {
        return Ok(None);
    };
    let owned = |c: Cow<'_, str>| c.into_owned();
    Ok(Some(Replica {
        name: meta.name.map(owned).unwrap_or_default(),
        created: meta.created.map(owned).unwrap_or_default(),
        images: images
            .into_iter()
            .filter(|e| e.list != ImageList::Volumes)
            .filter_map(|e| {
                let image = e.image()?.to_owned();
                Some((e.list, e.name.map(owned)?, image))
            })
            .collect(),
        running: running
            .into_iter()
            .map(|r| Running {
                list: r.list,
                name: Cow::Owned(r.name.into_owned()),
                digest: r.digest,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const SHA: &str = "sha256:4f2a8f2a8f2a8f2a8f2a8f2a8f2a8f2a8f2a8f2a8f2a8f2a8f2a8f2a8f2a8f2a";

    #[rstest]
    #[case::containerd(format!("registry.example.com/app@{SHA}"), Some(SHA))]
    #[case::docker_hub_containerd(format!("docker.io/library/nginx@{SHA}"), Some(SHA))]
    #[case::cri_dockerd(format!("docker-pullable://nginx@{SHA}"), Some(SHA))]
    #[case::registry_with_port(format!("localhost:5000/app@{SHA}"), Some(SHA))]
    #[case::docker_config_id(format!("docker://{SHA}"), None)]
    #[case::bare_config_id(SHA.to_owned(), None)]
    #[case::waiting(String::new(), None)]
    #[case::short_digest("app@sha256:4f2a".to_owned(), None)]
    #[case::uppercase_digest(format!("app@{}", SHA.to_uppercase()), None)]
    fn running_digests_are_read_from_each_runtime(
        #[case] image_id: String,
        #[case] digest: Option<&str>,
    ) {
        assert_eq!(running_digest(&image_id).as_deref(), digest);
    }

    fn pod(name: &str, uid: &str, extra_meta: &str, image: &str, image_id: &str) -> String {
        format!(
            r#"{{"metadata":{{"name":"{name}","creationTimestamp":"2026-12-01T10:00:0{}Z",
            "ownerReferences":[{{"kind":"Deployment","name":"x","uid":"other"}},
            {{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d9","uid":"{uid}","controller":true}}]{extra_meta}}},
            "spec":{{"containers":[{{"name":"web","image":"{image}"}}],"initContainers":[{{"name":"init","image":"busybox:1"}}]}},
            "status":{{"initContainerStatuses":[{{"name":"init","imageID":"docker.io/library/busybox@{SHA}"}}],
            "containerStatuses":[{{"name":"web","imageID":"{image_id}","state":{{"waiting":{{}}}}}}]}}}}"#,
            name.len() % 10
        )
    }

    #[test]
    fn the_list_gives_the_replicas_of_one_controller_oldest_first() {
        let list = format!(
            r#"{{"apiVersion":"v1","kind":"PodList","metadata":{{"resourceVersion":"1"}},"items":[{},{},{},{},{}]}}"#,
            pod("web-7d9-bbb", "rs-1", "", "app:v1", &format!("app@{SHA}")),
            pod("web-7d9-a", "rs-1", "", "app:v1", ""),
            pod("other", "rs-2", "", "app:v1", ""),
            pod(
                "web-7d9-gone",
                "rs-1",
                r#","deletionTimestamp":"2026-12-01T11:00:00Z""#,
                "app:v1",
                ""
            ),
            pod("web-7d9-self", "rs-1", "", "app:v1", ""),
        );
        let replicas = read_pod_list(list.as_bytes(), "rs-1", Some("web-7d9-self")).unwrap();
        let names: Vec<&str> = replicas.iter().map(|r| r.name.as_str()).collect();
        // Created at :01 and :09 (the test's clock is the name's length).
        assert_eq!(names, ["web-7d9-bbb", "web-7d9-a"]);
        let b = &replicas[0];
        assert_eq!(b.image(ImageList::Containers, "web"), Some("app:v1"));
        assert_eq!(b.running(ImageList::Containers, "web"), Some(SHA));
        assert_eq!(b.running(ImageList::InitContainers, "init"), Some(SHA));
        assert_eq!(b.running(ImageList::InitContainers, "web"), None);
        assert_eq!(replicas[1].running(ImageList::Containers, "web"), None);
    }

    #[rstest]
    #[case::not_an_object(
        "[]",
        "the Pod list cannot be read: invalid type: sequence, expected an object"
    )]
    #[case::items_a_map(
        r#"{"items":{}}"#,
        "the Pod list cannot be read: items: invalid type: map, expected an array"
    )]
    #[case::cut_short(
        r#"{"items":[{"metadata":"#,
        "the Pod list cannot be read: items[0].metadata: EOF while parsing a value at line 1 column 22"
    )]
    #[case::owner_uid_a_number(
        r#"{"items":[{"metadata":{"ownerReferences":[{"uid":7}]}}]}"#,
        "the Pod list cannot be read: items[0].metadata.ownerReferences[0].uid: invalid type: integer `7`, expected a string"
    )]
    fn a_malformed_list_is_an_error_that_says_where(#[case] list: &str, #[case] message: &str) {
        assert_eq!(
            read_pod_list(list.as_bytes(), "rs-1", None).unwrap_err(),
            message
        );
    }

    #[test]
    fn the_masks_are_sorted_and_distinct_as_the_sdk_sends_them() {
        assert!(LIST_FIELD_MASKS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn an_empty_list_has_no_replicas() {
        for list in [
            r#"{"items":[]}"#,
            r#"{"items":null}"#,
            r#"{"kind":"PodList"}"#,
        ] {
            assert_eq!(read_pod_list(list.as_bytes(), "rs-1", None), Ok(vec![]));
        }
    }

    #[test]
    fn only_the_owner_marked_controller_is_the_controller() {
        let read = |meta: &str| {
            let mut s = Scanner::new(meta.as_bytes());
            read_metadata(&mut s)
                .unwrap()
                .controller
                .map(|c| c.uid.into_owned())
        };
        assert_eq!(read(r#"{"ownerReferences":[{"uid":"a"}]}"#), None);
        assert_eq!(
            read(r#"{"ownerReferences":[{"uid":"a","controller":false}]}"#),
            None
        );
        assert_eq!(
            read(r#"{"ownerReferences":[{"uid":"a","controller":"true"}]}"#),
            None
        );
        assert_eq!(
            read(r#"{"ownerReferences":[{"uid":"","controller":true}]}"#),
            None
        );
        assert_eq!(
            read(r#"{"ownerReferences":[{"uid":"a"},{"uid":"b","controller":true}]}"#).as_deref(),
            Some("b")
        );
    }
}
