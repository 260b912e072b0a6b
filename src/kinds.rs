//! The kinds whose pod specs the policy judges: the one table of them ([`KINDS`]), and where
//! each keeps its pod spec. Data only, with no dependency, so that the host-side tools read
//! the same table (`e2e-tests` includes this file: `kwrun --summary`, the docs check).
//!
//! A new kind is a row here, its rule in `metadata.yml` and its samples
//! (`test_data/<kind>.json`, `test_data/audit/<kind>.json`); `e2e-tests/tests/kinds.rs` fails
//! until they are there and the README names it; and the API server's requests for each kind
//! (`test_data/`) must be judged.

/// Where the pod spec sits in an object of a kind: the keys from the object to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodSpecPath(&'static [&'static str]);

impl PodSpecPath {
    /// Pod: `spec`.
    pub const POD: PodSpecPath = PodSpecPath(&["spec"]);
    /// PodTemplate: `template.spec`.
    pub const POD_TEMPLATE: PodSpecPath = PodSpecPath(&["template", "spec"]);
    /// The workloads: `spec.template.spec`.
    pub const WORKLOAD: PodSpecPath = PodSpecPath(&["spec", "template", "spec"]);
    /// CronJob: `spec.jobTemplate.spec.template.spec`.
    pub const CRON_JOB: PodSpecPath =
        PodSpecPath(&["spec", "jobTemplate", "spec", "template", "spec"]);

    /// The keys from the object to its pod spec.
    pub fn keys(self) -> &'static [&'static str] {
        self.0
    }

    /// `spec.template.spec`
    pub fn dotted(self) -> String {
        self.keys().join(".")
    }
}

/// A kind whose pod specs are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// API group, version and kind (`""` is the core group).
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The resource, as `metadata.yml`'s rules and the request's `resource` name it.
    pub resource: &'static str,
    /// Subresources whose requests carry the whole object, judged as the object is.
    pub subresources: &'static [&'static str],
    pub pod_spec: PodSpecPath,
}

/// The kinds whose pod specs are judged.
pub const KINDS: &[Kind] = &[
    // `kubectl debug` writes ephemeral containers through a subresource; its object is the Pod.
    Kind {
        group: "",
        version: "v1",
        kind: "Pod",
        resource: "pods",
        subresources: &["ephemeralcontainers"],
        pod_spec: PodSpecPath::POD,
    },
    Kind {
        group: "",
        version: "v1",
        kind: "PodTemplate",
        resource: "podtemplates",
        subresources: &[],
        pod_spec: PodSpecPath::POD_TEMPLATE,
    },
    Kind {
        group: "",
        version: "v1",
        kind: "ReplicationController",
        resource: "replicationcontrollers",
        subresources: &[],
        pod_spec: PodSpecPath::WORKLOAD,
    },
    Kind {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        resource: "deployments",
        subresources: &[],
        pod_spec: PodSpecPath::WORKLOAD,
    },
    Kind {
        group: "apps",
        version: "v1",
        kind: "ReplicaSet",
        resource: "replicasets",
        subresources: &[],
        pod_spec: PodSpecPath::WORKLOAD,
    },
    Kind {
        group: "apps",
        version: "v1",
        kind: "StatefulSet",
        resource: "statefulsets",
        subresources: &[],
        pod_spec: PodSpecPath::WORKLOAD,
    },
    Kind {
        group: "apps",
        version: "v1",
        kind: "DaemonSet",
        resource: "daemonsets",
        subresources: &[],
        pod_spec: PodSpecPath::WORKLOAD,
    },
    Kind {
        group: "batch",
        version: "v1",
        kind: "Job",
        resource: "jobs",
        subresources: &[],
        pod_spec: PodSpecPath::WORKLOAD,
    },
    Kind {
        group: "batch",
        version: "v1",
        kind: "CronJob",
        resource: "cronjobs",
        subresources: &[],
        pod_spec: PodSpecPath::CRON_JOB,
    },
];

/// Where the pod spec of a request's object is, or `None` for kinds and subresources that hold
/// no images this policy judges. A request without a group (written by hand; the API server
/// always sends one) is matched by kind alone.
pub fn pod_spec_path(group: Option<&str>, kind: &str, sub_resource: &str) -> Option<PodSpecPath> {
    let row = KINDS
        .iter()
        .find(|k| group.is_none_or(|group| k.group == group) && k.kind == kind)?;
    (sub_resource.is_empty() || row.subresources.contains(&sub_resource)).then_some(row.pod_spec)
}
