//! Judging one image: exemption, tag mutability (rules 1–6 of docs/design.md) and pull policy.

use crate::reference::ImageRef;
use crate::settings::{ContainerType, Settings};

/// What the tag rules say of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagVerdict {
    /// Rule 2: a digest is present.
    Pinned,
    /// Rule 3: no tag, so Kubernetes pulls `latest`.
    NoTag,
    /// Rule 4: the tag matches a `mutableTags` glob (the glob as written).
    MutableTag { tag: String, glob: String },
    /// Rule 5: `immutableTagPatterns` is set and the tag matches none of them.
    Unlisted { tag: String },
    /// Rule 6.
    Immutable,
}

impl TagVerdict {
    pub fn is_mutable(&self) -> bool {
        matches!(
            self,
            TagVerdict::NoTag | TagVerdict::MutableTag { .. } | TagVerdict::Unlisted { .. }
        )
    }
}

/// Rule 1: exempt by image glob (normalized or written reference) or by container name and type.
pub fn is_exempt(
    settings: &Settings,
    written: &str,
    normalized: Option<&str>,
    container: Option<(&str, ContainerType)>,
) -> bool {
    let by_image = settings
        .exempt_images
        .iter()
        .any(|g| g.matches(written, true) || normalized.is_some_and(|n| g.matches(n, true)));
    let by_container = container.is_some_and(|(name, kind)| {
        settings.exempt_containers.iter().any(|e| {
            e.name == name && (e.container_type == ContainerType::Any || e.container_type == kind)
        })
    });
    by_image || by_container
}

/// Rules 2–6.
pub fn judge_tag(settings: &Settings, image: &ImageRef) -> TagVerdict {
    if image.is_pinned() {
        return TagVerdict::Pinned;
    }
    let Some(tag) = image.tag.as_deref() else {
        return TagVerdict::NoTag;
    };
    if let Some(g) = settings.mutable_tags.iter().find(|g| g.matches(tag, false)) {
        return TagVerdict::MutableTag {
            tag: tag.to_owned(),
            glob: g.text.clone(),
        };
    }
    if !settings.immutable_tag_patterns.is_empty()
        && !settings
            .immutable_tag_patterns
            .iter()
            .any(|r| r.is_match(tag))
        && !settings
            .immutable_registries
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&image.registry))
    {
        return TagVerdict::Unlisted {
            tag: tag.to_owned(),
        };
    }
    TagVerdict::Immutable
}

/// The pull policy Kubernetes applies: the explicit one, or its default when absent
/// (Always for the tag `latest`, written or implied, otherwise IfNotPresent).
pub fn effective_pull_policy<'a>(
    explicit: Option<&'a str>,
    image: Option<&ImageRef>,
) -> (&'a str, bool) {
    match explicit {
        Some(p) => (p, false),
        None => match image.and_then(ImageRef::effective_tag) {
            Some("latest") => ("Always", true),
            _ => ("IfNotPresent", true),
        },
    }
}

/// A pull policy other than Always is a violation, unless the image is pinned and
/// `allowIfNotPresentWhenPinned` is set (which allows IfNotPresent, not Never).
pub fn pull_policy_violates(settings: &Settings, policy: &str, pinned: bool) -> bool {
    if policy == "Always" {
        return false;
    }
    !(pinned && settings.allow_if_not_present_when_pinned && policy == "IfNotPresent")
}

#[cfg(test)]
mod tests {
    use super::*;

    const D64: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn settings(json: &str) -> Settings {
        Settings::from_json(json.as_bytes()).unwrap()
    }
    fn judge(s: &Settings, image: &str) -> TagVerdict {
        judge_tag(s, &ImageRef::parse(image).unwrap())
    }

    #[test]
    fn rule1_exempt_by_normalized_or_written_image() {
        let s = settings(
            r#"{"exemptImages":["docker.io/library/busybox*","registry.k8s.io/pause:*"]}"#,
        );
        let n = ImageRef::parse("busybox").unwrap().normalized();
        assert!(is_exempt(&s, "busybox", Some(&n), None));
        assert!(is_exempt(&s, "registry.k8s.io/pause:3.9", None, None));
        assert!(!is_exempt(
            &s,
            "nginx",
            Some("docker.io/library/nginx"),
            None
        ));
        let s = settings(r#"{"exemptImages":["nginx:*"]}"#);
        assert!(is_exempt(
            &s,
            "nginx:1",
            Some("docker.io/library/nginx:1"),
            None
        ));
        assert!(!is_exempt(
            &s,
            "docker.io/library/nginx:1",
            Some("docker.io/library/nginx:1"),
            None
        ));
    }

    #[test]
    fn rule1_exempt_by_container_name_and_type() {
        let s = settings(
            r#"{"exemptContainers":[{"name":"proxy"},{"name":"dbg","type":"ephemeral"}]}"#,
        );
        assert!(is_exempt(
            &s,
            "x",
            None,
            Some(("proxy", ContainerType::Init))
        ));
        assert!(is_exempt(
            &s,
            "x",
            None,
            Some(("proxy", ContainerType::Regular))
        ));
        assert!(is_exempt(
            &s,
            "x",
            None,
            Some(("dbg", ContainerType::Ephemeral))
        ));
        assert!(!is_exempt(
            &s,
            "x",
            None,
            Some(("dbg", ContainerType::Regular))
        ));
        assert!(!is_exempt(
            &s,
            "x",
            None,
            Some(("other", ContainerType::Regular))
        ));
    }

    #[test]
    fn rule2_digest_pins_whatever_the_tag() {
        let s = settings("{}");
        assert_eq!(
            judge(&s, &format!("nginx:latest@{D64}")),
            TagVerdict::Pinned
        );
        assert_eq!(judge(&s, &format!("nginx@{D64}")), TagVerdict::Pinned);
    }

    #[test]
    fn rule3_no_tag_is_mutable() {
        let s = settings("{}");
        assert_eq!(judge(&s, "nginx"), TagVerdict::NoTag);
        assert_eq!(judge(&s, "localhost:5000/app"), TagVerdict::NoTag);
        assert!(TagVerdict::NoTag.is_mutable());
    }

    #[test]
    fn rule4_mutable_tags_are_case_insensitive_globs() {
        let s = settings("{}");
        for t in ["latest", "LATEST", "Latest"] {
            assert!(
                matches!(
                    judge(&s, &format!("nginx:{t}")),
                    TagVerdict::MutableTag { .. }
                ),
                "{t}"
            );
        }
        let s = settings(r#"{"mutableTags":["stable","*-dev","[0-9]"]}"#);
        assert_eq!(
            judge(&s, "nginx:STABLE"),
            TagVerdict::MutableTag {
                tag: "STABLE".into(),
                glob: "stable".into()
            }
        );
        assert!(judge(&s, "app:feature-dev").is_mutable());
        assert!(judge(&s, "app:1").is_mutable());
        assert_eq!(judge(&s, "app:1.2"), TagVerdict::Immutable);
        // mutableTags replaces the default list.
        assert_eq!(judge(&s, "app:latest"), TagVerdict::Immutable);
    }

    #[test]
    fn rule5_tags_outside_immutable_patterns_are_mutable_unless_registry_enforces() {
        let s = settings(
            r#"{"immutableTagPatterns":["semver"],"immutableRegistries":["ecr.example.com"]}"#,
        );
        assert_eq!(
            judge(&s, "nginx:1.25"),
            TagVerdict::Unlisted { tag: "1.25".into() }
        );
        assert_eq!(
            judge(&s, "nginx:stable"),
            TagVerdict::Unlisted {
                tag: "stable".into()
            }
        );
        assert_eq!(judge(&s, "nginx:1.25.3"), TagVerdict::Immutable);
        assert_eq!(judge(&s, "ecr.example.com/app:1.25"), TagVerdict::Immutable);
        assert_eq!(
            judge(&s, "ECR.example.com/app:nightly"),
            TagVerdict::Immutable
        );
        // Rule 4 comes first: a registry that enforces immutability does not excuse mutableTags.
        assert!(judge(&s, "ecr.example.com/app:latest").is_mutable());
    }

    #[test]
    fn rule6_otherwise_immutable() {
        let s = settings("{}");
        assert_eq!(judge(&s, "nginx:1.25"), TagVerdict::Immutable);
        assert_eq!(judge(&s, "nginx:1"), TagVerdict::Immutable);
        assert!(!TagVerdict::Immutable.is_mutable() && !TagVerdict::Pinned.is_mutable());
    }

    #[test]
    fn default_pull_policy_is_kubernetes_default() {
        let r = |s: &str| ImageRef::parse(s).unwrap();
        assert_eq!(
            effective_pull_policy(None, Some(&r("nginx"))),
            ("Always", true)
        );
        assert_eq!(
            effective_pull_policy(None, Some(&r("nginx:latest"))),
            ("Always", true)
        );
        assert_eq!(
            effective_pull_policy(None, Some(&r(&format!("nginx:latest@{D64}")))),
            ("Always", true)
        );
        // Kubernetes compares the tag case-sensitively.
        assert_eq!(
            effective_pull_policy(None, Some(&r("nginx:LATEST"))),
            ("IfNotPresent", true)
        );
        assert_eq!(
            effective_pull_policy(None, Some(&r("nginx:1"))),
            ("IfNotPresent", true)
        );
        assert_eq!(
            effective_pull_policy(None, Some(&r(&format!("nginx@{D64}")))),
            ("IfNotPresent", true)
        );
        assert_eq!(
            effective_pull_policy(Some("Never"), Some(&r("nginx"))),
            ("Never", false)
        );
    }

    #[test]
    fn pull_policy_rule() {
        let strict = settings("{}");
        let lenient = settings(r#"{"allowIfNotPresentWhenPinned":true}"#);
        assert!(!pull_policy_violates(&strict, "Always", false));
        assert!(pull_policy_violates(&strict, "IfNotPresent", true));
        assert!(pull_policy_violates(&strict, "Never", false));
        assert!(!pull_policy_violates(&lenient, "IfNotPresent", true));
        assert!(pull_policy_violates(&lenient, "IfNotPresent", false));
        assert!(pull_policy_violates(&lenient, "Never", true));
    }
}
