//! The other replicas of a Pod's controller (docs/design.md, "Same bytes on every replica"):
//! listed once per request, and only when a step asks ([`Replicas::list`]); the digest they
//! hold for a container ([`held_pin`], [`running_unpinned`]), so that a new replica runs what
//! the others run; and [`drift`], when they run more than one digest under one reference.

use crate::host::ListResourcesByNamespaceRequest;

use crate::host::Host;
use crate::pin::kept_pin;
use crate::pods::{LIST_FIELD_MASKS, PodFacts, Replica, read_pod_list};
use crate::podspec::ImageList;

/// The controller of the Pod being judged and, once asked, its other replicas.
pub struct Replicas {
    namespace: String,
    /// `ReplicaSet web-7d9`
    pub controller: String,
    uid: String,
    /// The judged Pod's own name, left out of the list (an audited Pod is in it).
    own_name: Option<String>,
    /// `None` until asked; then the replicas, or none when the host refused or failed.
    listed: Option<Vec<Replica>>,
}

impl Replicas {
    /// The replicas of the controller of `pod` in `namespace`; `None` for a Pod without a
    /// controller owner (or without a namespace, which an API server's request always has).
    pub fn of(pod: &PodFacts<'_>, namespace: Option<&str>) -> Option<Replicas> {
        let controller = pod.meta.controller.as_ref()?;
        let namespace = namespace.filter(|n| !n.is_empty())?;
        Some(Replicas {
            namespace: namespace.to_owned(),
            controller: format!("{} {}", controller.kind, controller.name),
            uid: controller.uid.clone().into_owned(),
            own_name: pod.meta.name.as_deref().map(str::to_owned),
            listed: None,
        })
    }

    /// The other replicas, oldest first, from one `list_resources_by_namespace` call made the
    /// first time they are asked for. When the host refuses or fails the call, or answers
    /// what cannot be read, there are none: the policy answers as without them, and logs why.
    pub fn list(&mut self, host: &dyn Host) -> &[Replica] {
        if self.listed.is_none() {
            let request = ListResourcesByNamespaceRequest {
                api_version: "v1".to_owned(),
                kind: "Pod".to_owned(),
                namespace: self.namespace.clone(),
                label_selector: None,
                field_selector: None,
                field_masks: Some(LIST_FIELD_MASKS.iter().map(|m| (*m).to_owned()).collect()),
            };
            let read = host
                .list_resources_by_namespace(&request)
                .and_then(|list| read_pod_list(&list, &self.uid, self.own_name.as_deref()));
            let replicas = read.unwrap_or_else(|why| {
                crate::log::info(&format!(
                    "the replicas of {} are not compared: {why}",
                    self.controller
                ));
                Vec::new()
            });
            self.listed = Some(replicas);
        }
        self.listed.as_deref().unwrap_or_default()
    }
}

/// Digests and the replicas that hold (or run) each, most held first; a tie goes to the digest
/// of the oldest replica (`replicas` come oldest first). It takes a slice, not an iterator:
/// one instance of the sort instead of one per caller (each is 4 KB of wasm, by `twiggy`).
fn votes<'r>(held: &[(&'r str, &'r str)]) -> Vec<(&'r str, Vec<&'r str>)> {
    let mut votes: Vec<(&str, Vec<&str>)> = Vec::new();
    for &(digest, replica) in held {
        match votes.iter_mut().find(|(d, _)| *d == digest) {
            Some((_, names)) => names.push(replica),
            None => votes.push((digest, vec![replica])),
        }
    }
    // A stable sort: among equal counts the first seen, the oldest replica's, stays first.
    votes.sort_by_key(|(_, names)| std::cmp::Reverse(names.len()));
    votes
}

/// The digest the replicas hold for the container `name` of `list` written as `written`: a
/// pin `<written>@<digest>` in a replica's spec that the replica runs (its status reports that
/// digest, so the registry served it). The one most replicas hold; when they disagree, the
/// disagreement is logged.
pub fn held_pin(
    replicas: &[Replica],
    list: ImageList,
    name: &str,
    written: &str,
    controller: &str,
) -> Option<String> {
    let held = replicas.iter().filter_map(|r| {
        let digest = kept_pin(written, r.image(list, name)?)?;
        (r.running(list, name) == Some(digest)).then_some((digest, r.name.as_str()))
    });
    let votes = votes(&held.collect::<Vec<_>>());
    if votes.len() > 1 {
        let counts: Vec<String> = votes
            .iter()
            .map(|(d, names)| format!("{d} ({})", names.len()))
            .collect();
        crate::log::warn(&format!(
            "the replicas of {controller} hold {} pins of {written:?}: {}; the most held is kept",
            votes.len(),
            counts.join(", ")
        ));
    }
    votes.first().map(|(d, _)| (*d).to_owned())
}

/// The digest that replicas with the container `name` of `list` unpinned, written as
/// `written`, run (most run first, a tie the oldest's). It may be a platform manifest's digest
/// (CRI-O reports one), so it is pinned only after the registry is asked (`evaluate.rs`).
pub fn running_unpinned(
    replicas: &[Replica],
    list: ImageList,
    name: &str,
    written: &str,
) -> Option<String> {
    let running = replicas.iter().filter_map(|r| {
        (r.image(list, name)? == written)
            .then(|| r.running(list, name))
            .flatten()
            .map(|d| (d, r.name.as_str()))
    });
    votes(&running.collect::<Vec<_>>())
        .first()
        .map(|(d, _)| (*d).to_owned())
}

/// The replicas of one controller running more than one digest for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// `ReplicaSet web-7d9`
    pub controller: String,
    /// Replicas whose running digest is known.
    pub replicas: usize,
    /// Each digest with the replicas that run it, most run first.
    pub digests: Vec<(String, Vec<String>)>,
}

/// The reference as written without a pin: replicas of one template differ only by the pins
/// admission gave them.
fn unpinned(image: &str) -> &str {
    image.split_once('@').map_or(image, |(name, _)| name)
}

/// Drift of the container `name` of `list` (written `written`) between the judged Pod (named
/// `own_name`, running `own_digest`) and its replicas: those whose same container has the same
/// reference as written, pins aside.
pub fn drift(
    own: (&str, Option<&str>),
    replicas: &[Replica],
    list: ImageList,
    name: &str,
    written: &str,
    controller: &str,
) -> Option<Drift> {
    let reference = unpinned(written);
    let others = replicas.iter().filter_map(|r| {
        let image = r.image(list, name)?;
        (unpinned(image) == reference)
            .then(|| r.running(list, name))
            .flatten()
            .map(|d| (d, r.name.as_str()))
    });
    let (own_name, own_digest) = own;
    let all = own_digest.map(|d| (d, own_name)).into_iter().chain(others);
    let votes = votes(&all.collect::<Vec<_>>());
    if votes.len() < 2 {
        return None;
    }
    let replicas = votes.iter().map(|(_, names)| names.len()).sum();
    let digests = votes
        .into_iter()
        .map(|(d, names)| {
            let mut names: Vec<String> = names.into_iter().map(str::to_owned).collect();
            names.sort();
            (d.to_owned(), names)
        })
        .collect();
    Some(Drift {
        controller: controller.to_owned(),
        replicas,
        digests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::Running;
    use std::borrow::Cow;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    /// A replica whose container `web` is written `image` and runs `running`.
    fn replica(name: &str, created: &str, image: &str, running: Option<String>) -> Replica {
        Replica {
            name: name.into(),
            created: created.into(),
            images: vec![(ImageList::Containers, "web".into(), image.into())],
            running: vec![Running {
                list: ImageList::Containers,
                name: Cow::Borrowed("web"),
                digest: running,
            }],
        }
    }

    #[test]
    fn a_pin_counts_only_where_the_replica_runs_it() {
        let a = d('a');
        let pinned = format!("app:v1@{a}");
        let replicas = [
            replica("r1", "1", &pinned, None),
            replica("r2", "2", &pinned, Some(d('b'))),
        ];
        assert_eq!(
            held_pin(&replicas, ImageList::Containers, "web", "app:v1", "RS x"),
            None
        );
        let replicas = [replica("r1", "1", &pinned, Some(a.clone()))];
        assert_eq!(
            held_pin(&replicas, ImageList::Containers, "web", "app:v1", "RS x"),
            Some(a)
        );
    }

    #[test]
    fn the_most_held_pin_wins_and_a_tie_goes_to_the_oldest() {
        let pin = |c| (format!("app:v1@{}", d(c)), Some(d(c)));
        let (pa, ra) = pin('a');
        let (pb, rb) = pin('b');
        let replicas = [
            replica("old", "1", &pb, rb.clone()),
            replica("r2", "2", &pa, ra.clone()),
            replica("r3", "3", &pa, ra.clone()),
        ];
        let held = |r: &[Replica]| held_pin(r, ImageList::Containers, "web", "app:v1", "RS x");
        assert_eq!(held(&replicas), Some(d('a')));
        assert_eq!(held(&replicas[..2]), Some(d('b')), "a tie: the oldest's");
    }

    #[test]
    fn another_container_list_name_or_reference_holds_nothing() {
        let a = d('a');
        let replicas = [
            replica("r1", "1", &format!("app:v2@{a}"), Some(a.clone())),
            replica("r2", "2", &format!("other/app:v1@{a}"), Some(a.clone())),
        ];
        for (list, name) in [
            (ImageList::Containers, "web"),
            (ImageList::InitContainers, "web"),
        ] {
            assert_eq!(held_pin(&replicas, list, name, "app:v1", "RS x"), None);
        }
        let replicas = [replica("r1", "1", &format!("app:v1@{a}"), Some(a.clone()))];
        assert_eq!(
            held_pin(&replicas, ImageList::Containers, "db", "app:v1", "RS x"),
            None
        );
        assert_eq!(
            held_pin(
                &replicas,
                ImageList::InitContainers,
                "web",
                "app:v1",
                "RS x"
            ),
            None
        );
    }

    #[test]
    fn running_digests_of_unpinned_replicas_need_the_same_reference() {
        let replicas = [
            replica("r1", "1", "app:v1", Some(d('a'))),
            replica("r2", "2", "app:v1@x", Some(d('b'))),
            replica("r3", "3", "app:v2", Some(d('c'))),
            replica("r4", "4", "app:v1", None),
        ];
        assert_eq!(
            running_unpinned(&replicas, ImageList::Containers, "web", "app:v1"),
            Some(d('a'))
        );
    }

    #[test]
    fn drift_lists_each_digest_with_its_replicas() {
        let replicas = [
            replica("web-b", "1", &format!("app:v1@{}", d('a')), Some(d('a'))),
            replica("web-c", "2", "app:v1", Some(d('b'))),
            replica("web-d", "3", "app:v1", None),
            replica("web-e", "4", "app:v2", Some(d('c'))),
        ];
        let drift = drift(
            ("web-a", Some(&d('a'))),
            &replicas,
            ImageList::Containers,
            "web",
            "app:v1",
            "ReplicaSet web",
        )
        .unwrap();
        assert_eq!(drift.replicas, 3);
        assert_eq!(
            drift.digests,
            [
                (d('a'), vec!["web-a".to_owned(), "web-b".to_owned()]),
                (d('b'), vec!["web-c".to_owned()])
            ]
        );
    }

    #[test]
    fn one_digest_is_no_drift() {
        let replicas = [replica("web-b", "1", "app:v1", Some(d('a')))];
        let own = ("web-a", Some(d('a')));
        let drift = |own: (&str, Option<&str>)| {
            drift(
                own,
                &replicas,
                ImageList::Containers,
                "web",
                "app:v1",
                "RS web",
            )
        };
        assert_eq!(drift((own.0, own.1.as_deref())), None);
        assert_eq!(drift(("web-a", None)), None);
    }
}
