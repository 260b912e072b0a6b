//! The rules that judge one image: exemption, tag mutability (rules 1–6 of docs/design.md)
//! and pull policy.

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

/// The image as rule 1 matches it against `exemptImages`.
pub enum ExemptionKey<'a> {
    /// A valid reference, normalized: matched by the normalized globs (`settings.rs`).
    Normalized(&'a str),
    /// An invalid reference has no normalized form: matched as written, by the globs as
    /// written.
    Invalid(&'a str),
}

/// Rule 1: exempt by image glob, or by container name and type.
pub fn is_exempt(
    settings: &Settings,
    image: Option<ExemptionKey<'_>>,
    container: Option<(&str, ContainerType)>,
) -> bool {
    let globs = &settings.exempt_images;
    let by_image = match image {
        Some(ExemptionKey::Normalized(n)) => globs.iter().any(|g| g.matches(n, true)),
        Some(ExemptionKey::Invalid(written)) => globs.iter().any(|g| g.matches_as_written(written)),
        None => false,
    };
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

/// The pull policy Kubernetes applies to `image` as it leaves admission (`pinned`: with a
/// digest, its own or admission's pin): the explicit one, or Kubernetes' default when absent
/// (Always for the tag `latest`, written or implied by neither tag nor digest, otherwise
/// IfNotPresent). Whether it is the default.
pub fn effective_pull_policy<'a>(
    explicit: Option<&'a str>,
    image: &ImageRef,
    pinned: bool,
) -> (&'a str, bool) {
    let tag = match image.tag {
        None if pinned => None,
        _ => image.effective_tag(),
    };
    match (explicit, tag) {
        (Some(p), _) => (p, false),
        (None, Some("latest")) => ("Always", true),
        (None, _) => ("IfNotPresent", true),
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
    use rstest::rstest;

    const D64: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn settings(json: &str) -> Settings {
        Settings::from_json(json.as_bytes()).unwrap()
    }
    fn judge(s: &Settings, image: &str) -> TagVerdict {
        judge_tag(s, &ImageRef::parse(image).unwrap())
    }
    fn exempt_image(globs: &str, image: &str) -> bool {
        let s = settings(&format!(r#"{{"exemptImages":{globs}}}"#));
        let normalized = ImageRef::parse(image).unwrap().normalized();
        is_exempt(&s, Some(ExemptionKey::Normalized(&normalized)), None)
    }

    #[rstest]
    #[case::short_name_by_normalized_glob(r#"["docker.io/library/busybox*"]"#, "busybox", true)]
    #[case::registry_glob(r#"["registry.k8s.io/pause:*"]"#, "registry.k8s.io/pause:3.9", true)]
    #[case::other_image(r#"["docker.io/library/busybox*"]"#, "nginx", false)]
    #[case::short_glob_short_image(r#"["nginx:*"]"#, "nginx:1", true)]
    #[case::short_glob_long_image(r#"["nginx:*"]"#, "docker.io/library/nginx:1", true)]
    #[case::short_glob_legacy_host(r#"["nginx:*"]"#, "index.docker.io/nginx:1", true)]
    // `nginx:80/evil/app` is the registry `nginx:80`: a glob with a short name is Docker Hub's.
    #[case::short_glob_is_not_a_registry(r#"["nginx:*"]"#, "nginx:80/evil/app", false)]
    #[case::short_glob_is_not_a_registry_tagged(r#"["nginx:*"]"#, "nginx:80/evil/app:1", false)]
    #[case::org_glob(r#"["team/*"]"#, "team/app:1", true)]
    #[case::org_glob_elsewhere(r#"["team/*"]"#, "ghcr.io/team/app:1", false)]
    #[case::docker_hub_everything(r#"["docker.io/*"]"#, "team/app:1", true)]
    #[case::docker_hub_everything_not_elsewhere(r#"["docker.io/*"]"#, "ghcr.io/team/app:1", false)]
    // `*` matches `/` too (documented): a registry glob covers nested repositories.
    #[case::star_crosses_slashes(r#"["ghcr.io/org/*"]"#, "ghcr.io/org/team/app:1", true)]
    #[case::any_registry(r#"["*/pause:*"]"#, "registry.k8s.io/pause:3.9", true)]
    #[case::digest_glob(r#"["nginx@sha256:*"]"#, &format!("nginx@{D64}"), true)]
    fn rule1_exempt_by_image_glob_normalized_as_an_image(
        #[case] globs: &str,
        #[case] image: &str,
        #[case] exempt: bool,
    ) {
        assert_eq!(exempt_image(globs, image), exempt);
    }

    #[rstest]
    #[case::written_glob(r#"["Bad:*"]"#, "Bad:Image", true)]
    #[case::everything(r#"["*"]"#, "Nginx:1", true)]
    #[case::other(r#"["nginx:*"]"#, "Nginx:1", false)]
    fn rule1_an_invalid_reference_is_matched_as_written(
        #[case] globs: &str,
        #[case] image: &str,
        #[case] exempt: bool,
    ) {
        let s = settings(&format!(r#"{{"exemptImages":{globs}}}"#));
        assert!(ImageRef::parse(image).is_err());
        assert_eq!(
            is_exempt(&s, Some(ExemptionKey::Invalid(image)), None),
            exempt
        );
    }

    #[rstest]
    #[case::any_type_init("proxy", ContainerType::Init, true)]
    #[case::any_type_regular("proxy", ContainerType::Regular, true)]
    #[case::typed("dbg", ContainerType::Ephemeral, true)]
    #[case::typed_other_list("dbg", ContainerType::Regular, false)]
    #[case::other_name("other", ContainerType::Regular, false)]
    fn rule1_exempt_by_container_name_and_type(
        #[case] name: &str,
        #[case] list: ContainerType,
        #[case] exempt: bool,
    ) {
        let s = settings(
            r#"{"exemptContainers":[{"name":"proxy"},{"name":"dbg","type":"ephemeral"}]}"#,
        );
        assert_eq!(is_exempt(&s, None, Some((name, list))), exempt);
    }

    #[rstest]
    #[case::rule2_digest_and_tag(&format!("nginx:latest@{D64}"), TagVerdict::Pinned)]
    #[case::rule2_digest(&format!("nginx@{D64}"), TagVerdict::Pinned)]
    #[case::rule3_no_tag("nginx", TagVerdict::NoTag)]
    #[case::rule3_no_tag_with_port("localhost:5000/app", TagVerdict::NoTag)]
    #[case::rule4_latest("nginx:latest", TagVerdict::MutableTag { tag: "latest".into(), glob: "latest".into() })]
    #[case::rule4_case_insensitive("nginx:LATEST", TagVerdict::MutableTag { tag: "LATEST".into(), glob: "latest".into() })]
    #[case::rule6_version("nginx:1.25", TagVerdict::Immutable)]
    #[case::rule6_major("nginx:1", TagVerdict::Immutable)]
    fn default_settings_judge_tags(#[case] image: &str, #[case] verdict: TagVerdict) {
        assert_eq!(judge(&settings("{}"), image), verdict);
    }

    #[rstest]
    #[case::glob_case_insensitive("nginx:STABLE", TagVerdict::MutableTag { tag: "STABLE".into(), glob: "stable".into() })]
    #[case::suffix_glob("app:feature-dev", TagVerdict::MutableTag { tag: "feature-dev".into(), glob: "*-dev".into() })]
    #[case::class_glob("app:1", TagVerdict::MutableTag { tag: "1".into(), glob: "[0-9]".into() })]
    #[case::unmatched("app:1.2", TagVerdict::Immutable)]
    // mutableTags replaces the default list.
    #[case::latest_no_longer_listed("app:latest", TagVerdict::Immutable)]
    fn rule4_mutable_tags_are_case_insensitive_globs(
        #[case] image: &str,
        #[case] verdict: TagVerdict,
    ) {
        let s = settings(r#"{"mutableTags":["stable","*-dev","[0-9]"]}"#);
        assert_eq!(judge(&s, image), verdict);
    }

    #[rstest]
    #[case::two_parts("nginx:1.25", TagVerdict::Unlisted { tag: "1.25".into() })]
    #[case::a_word("nginx:stable", TagVerdict::Unlisted { tag: "stable".into() })]
    #[case::semver("nginx:1.25.3", TagVerdict::Immutable)]
    #[case::enforcing_registry("ecr.example.com/app:1.25", TagVerdict::Immutable)]
    #[case::enforcing_registry_any_case("ECR.example.com/app:nightly", TagVerdict::Immutable)]
    // Rule 4 comes first: a registry that enforces immutability does not excuse mutableTags.
    #[case::rule4_first("ecr.example.com/app:latest", TagVerdict::MutableTag { tag: "latest".into(), glob: "latest".into() })]
    fn rule5_tags_outside_immutable_patterns_are_mutable_unless_the_registry_enforces(
        #[case] image: &str,
        #[case] verdict: TagVerdict,
    ) {
        let s = settings(
            r#"{"immutableTagPatterns":["semver"],"immutableRegistries":["ecr.example.com"]}"#,
        );
        assert_eq!(judge(&s, image), verdict);
    }

    #[rstest]
    #[case(TagVerdict::NoTag, true)]
    #[case(TagVerdict::Unlisted { tag: "x".into() }, true)]
    #[case(TagVerdict::Immutable, false)]
    #[case(TagVerdict::Pinned, false)]
    fn mutability(#[case] verdict: TagVerdict, #[case] mutable: bool) {
        assert_eq!(verdict.is_mutable(), mutable);
    }

    #[rstest]
    #[case::no_tag(None, "nginx", ("Always", true))]
    #[case::latest(None, "nginx:latest", ("Always", true))]
    #[case::latest_with_digest(None, &format!("nginx:latest@{D64}"), ("Always", true))]
    // Kubernetes compares the tag case-sensitively.
    #[case::upper_latest(None, "nginx:LATEST", ("IfNotPresent", true))]
    #[case::version(None, "nginx:1", ("IfNotPresent", true))]
    #[case::digest_only(None, &format!("nginx@{D64}"), ("IfNotPresent", true))]
    #[case::explicit(Some("Never"), "nginx", ("Never", false))]
    fn the_default_pull_policy_is_kubernetes_default(
        #[case] explicit: Option<&str>,
        #[case] image: &str,
        #[case] expected: (&str, bool),
    ) {
        let image = ImageRef::parse(image).unwrap();
        assert_eq!(
            effective_pull_policy(explicit, &image, image.is_pinned()),
            expected
        );
    }

    #[rstest]
    // Pinned by admission, `nginx` becomes `nginx@sha256:…`, whose default is IfNotPresent.
    #[case::no_tag_pinned("nginx", ("IfNotPresent", true))]
    #[case::latest_pinned("nginx:latest", ("Always", true))]
    #[case::version_pinned("nginx:1", ("IfNotPresent", true))]
    fn the_default_pull_policy_follows_admission_s_pin(
        #[case] image: &str,
        #[case] expected: (&str, bool),
    ) {
        let image = ImageRef::parse(image).unwrap();
        assert_eq!(effective_pull_policy(None, &image, true), expected);
    }

    #[rstest]
    #[case::always("{}", "Always", false, false)]
    #[case::if_not_present_pinned_strict("{}", "IfNotPresent", true, true)]
    #[case::never("{}", "Never", false, true)]
    #[case::if_not_present_pinned_lenient(
        r#"{"allowIfNotPresentWhenPinned":true}"#,
        "IfNotPresent",
        true,
        false
    )]
    #[case::if_not_present_unpinned_lenient(
        r#"{"allowIfNotPresentWhenPinned":true}"#,
        "IfNotPresent",
        false,
        true
    )]
    #[case::never_pinned_lenient(r#"{"allowIfNotPresentWhenPinned":true}"#, "Never", true, true)]
    fn the_pull_policy_rule(
        #[case] json: &str,
        #[case] policy: &str,
        #[case] pinned: bool,
        #[case] violates: bool,
    ) {
        assert_eq!(
            pull_policy_violates(&settings(json), policy, pinned),
            violates
        );
    }
}
