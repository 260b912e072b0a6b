//! Answers: violation texts (long for rejections, short for warnings, one line each in a
//! background audit), the [`Verdict`] judging a request comes to, and the [`Answer`] the host
//! reads.

use std::collections::HashMap;

use kubewarden_policy_sdk::response::ValidationResponse;

use crate::mutate::Edit;
use crate::pin::PinTally;
use crate::rules::TagVerdict;

/// Longest warning, in characters: under the 120 Kubernetes asks warnings to stay under (it
/// truncates them past 256).
pub const WARNING_MAX: usize = 119;
/// Longest tag or value quoted whole in a warning.
const WARNING_TAG_MAX: usize = 16;
/// Longest tag or value quoted whole in a background audit's line.
const AUDIT_TAG_MAX: usize = 64;
/// Longest image quoted whole in a rejection message (a 1 MB image gives a short message).
const MESSAGE_IMAGE_MAX: usize = 256;

/// What is wrong with one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The reference cannot be read; the reason says why.
    Invalid(String),
    /// The tag rules call the image mutable.
    Tag(TagVerdict),
    /// The pull policy is not Always. `defaulted`: the field is absent and this is
    /// Kubernetes' default; `pin_would_do`: pinning a digest would allow it.
    PullPolicy {
        policy: String,
        defaulted: bool,
        pin_would_do: bool,
    },
    /// Pinning was asked for and the digest could not be resolved.
    PinFailed(String),
    /// Pinning was asked for and the pin budget was spent before this image was looked up;
    /// the tally is that of the whole request.
    PinBudget(PinTally),
}

/// What admission does about a violation: the configured action that applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Rejects the request.
    Reject,
    /// Accepts it with a warning.
    Warn,
    /// Pins the tag to the digest the registry serves.
    Pin,
    /// Sets the pull policy to Always.
    SetAlways,
}

/// A problem at a place of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `spec.template.spec.containers[0]`
    pub place: String,
    /// Container or volume name (may be empty).
    pub name: String,
    pub image: String,
    /// An image volume rather than a container.
    pub volume: bool,
    pub problem: Problem,
}

impl Violation {
    fn policy_field(&self) -> &'static str {
        if self.volume {
            "pullPolicy"
        } else {
            "imagePullPolicy"
        }
    }

    /// `<place> "<name>" image "<image>": <reason>; <fix>`
    pub fn message(&self) -> String {
        let (reason, fix) = match &self.problem {
            Problem::Invalid(why) => (
                format!("invalid image reference: {why}"),
                "write it as [registry[:port]/]repository[:tag][@sha256:digest]".to_owned(),
            ),
            Problem::Tag(TagVerdict::NoTag) => (
                "no tag, so it floats like :latest".to_owned(),
                "use a version tag or pin a digest".to_owned(),
            ),
            Problem::Tag(TagVerdict::MutableTag { tag, glob }) => (
                format!("tag {tag:?} is mutable (mutableTags {glob:?})"),
                "use a version tag or pin a digest".to_owned(),
            ),
            Problem::Tag(TagVerdict::Unlisted { tag }) => (
                format!("tag {tag:?} matches none of immutableTagPatterns"),
                "use a tag that does or pin a digest".to_owned(),
            ),
            Problem::Tag(TagVerdict::Pinned | TagVerdict::Immutable) => {
                ("is not mutable".to_owned(), "nothing to fix".to_owned())
            }
            Problem::PullPolicy {
                policy,
                defaulted,
                pin_would_do,
            } => {
                let default = if *defaulted {
                    " (Kubernetes' default for this tag)"
                } else {
                    ""
                };
                let or_pin = if *pin_would_do {
                    " or pin a digest"
                } else {
                    ""
                };
                (
                    format!(
                        "{} {policy}{default} lets a node run a stale or another tenant's cached image",
                        self.policy_field()
                    ),
                    format!("set {}: Always{or_pin}", self.policy_field()),
                )
            }
            Problem::PinFailed(why) => (
                format!("cannot pin it to a digest: {why}"),
                "make the registry serve this tag, exempt the image, or change pinFailureAction"
                    .to_owned(),
            ),
            Problem::PinBudget(t) => (
                format!(
                    "not resolved within the {} ms pin budget; {} of {} resolved",
                    t.budget_ms, t.resolved, t.wanted
                ),
                "retry (the host caches resolved digests for 60 s), or raise the policy's \
                 timeoutEvalSeconds and pinBudgetMilliseconds together"
                    .to_owned(),
            ),
        };
        format!("{}: {reason}; {fix}", self.subject())
    }

    fn subject(&self) -> String {
        let what = if self.volume { "image volume" } else { "image" };
        let image = elide(&self.image, MESSAGE_IMAGE_MAX);
        if self.name.is_empty() {
            format!("{} {what} {image:?}", self.place)
        } else {
            let name = elide(&self.name, MESSAGE_IMAGE_MAX);
            format!("{} {name:?} {what} {image:?}", self.place)
        }
    }

    /// One line of a background audit's rejection, for a PolicyReport: the place, the image,
    /// what is wrong in a few words and what admission does about it.
    /// `<place> "<name>" image "<image>": <short reason>; admission <action>`
    pub fn audit_line(&self, action: Action) -> String {
        let tag = |t: &str| elide(t, AUDIT_TAG_MAX);
        let reason = match &self.problem {
            Problem::Invalid(why) => format!("invalid image reference: {why}"),
            Problem::Tag(TagVerdict::NoTag) => "no tag, floats like :latest".to_owned(),
            Problem::Tag(TagVerdict::MutableTag { tag: t, .. }) => {
                format!("mutable tag {:?}", tag(t))
            }
            Problem::Tag(TagVerdict::Unlisted { tag: t }) => {
                format!("tag {:?} matches none of immutableTagPatterns", tag(t))
            }
            // Only found where admission pins an immutable tag (pinImmutableTags).
            Problem::Tag(TagVerdict::Pinned | TagVerdict::Immutable) => {
                "tag not pinned to a digest".to_owned()
            }
            Problem::PullPolicy {
                policy, defaulted, ..
            } => {
                let default = if *defaulted { " (by default)" } else { "" };
                format!("{} {}{default}", self.policy_field(), tag(policy))
            }
            // Never found in an audit, which asks no registry.
            Problem::PinFailed(_) | Problem::PinBudget(_) => "not pinned".to_owned(),
        };
        let (reason, action) = match action {
            Action::Reject => (reason, "admission rejects it"),
            Action::Warn => (reason, "admission warns"),
            Action::SetAlways => (reason, "admission sets Always"),
            Action::Pin if matches!(self.problem, Problem::Tag(TagVerdict::Immutable)) => {
                (reason, "admission pins it")
            }
            Action::Pin => (
                format!("{reason}, not pinned to a digest"),
                "admission pins it",
            ),
        };
        format!("{}: {reason}; {action}", self.subject())
    }

    /// One short line for a Kubernetes warning, at most `WARNING_MAX` characters: the place
    /// stays whole, a long tag or image is shortened in the middle.
    pub fn warning(&self) -> String {
        let tag = |t: &str| elide(t, WARNING_TAG_MAX);
        let short = match &self.problem {
            Problem::Invalid(_) => "invalid image reference".to_owned(),
            Problem::Tag(TagVerdict::NoTag) => "no tag, floats like :latest".to_owned(),
            Problem::Tag(TagVerdict::MutableTag { tag: t, .. }) => {
                format!("mutable tag {:?}", tag(t))
            }
            Problem::Tag(TagVerdict::Unlisted { tag: t }) => {
                format!("tag {:?} not in immutableTagPatterns", tag(t))
            }
            Problem::Tag(_) => "not mutable".to_owned(),
            Problem::PullPolicy { policy, .. } => {
                format!("{} {}, not Always", self.policy_field(), tag(policy))
            }
            Problem::PinFailed(_) => "not pinned, digest lookup failed".to_owned(),
            Problem::PinBudget(_) => "not pinned, pin budget spent".to_owned(),
        };
        // `<place> "<image>": <short>`
        let fixed = self.place.chars().count() + short.chars().count() + 5;
        let room = WARNING_MAX.saturating_sub(fixed);
        format!("{} \"{}\": {short}", self.place, elide(&self.image, room))
    }
}

/// Shortens `s` to at most `max` characters by replacing its middle with `…`.
fn elide(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let keep = max - 1;
    let head: String = s.chars().take(keep / 2).collect();
    let tail: String = s.chars().skip(n - (keep - keep / 2)).collect();
    format!("{head}…{tail}")
}

/// What judging a request came to, before it is written as an [`Answer`].
#[derive(Debug, Default)]
pub struct Verdict {
    pub rejections: Vec<Violation>,
    pub warnings: Vec<Violation>,
    /// Warnings about the request as a whole (after those of single images).
    pub notes: Vec<String>,
    /// Every pin written into the object, for the audit log.
    pub pins: Vec<PinRecord>,
    /// In a background audit, every violation with what admission does about it: the
    /// answer is one rejection that lists them (no warnings, no mutation).
    pub audit: Vec<(Violation, Action)>,
    /// The whole object's JSON text with the mutations spliced in, when there are any.
    pub mutated: Option<Vec<u8>>,
}

/// An answer: the validation response and, for a mutation, the mutated object's JSON text,
/// which goes into the answer as it is (never parsed into a tree here).
#[derive(Debug)]
pub struct Answer<'a> {
    pub validation: ValidationResponse,
    pub mutated: Option<Vec<u8>>,
    /// For a mutation, the object's JSON text in the payload and the edits spliced into it:
    /// what the tests' tree-based oracle applies to compare.
    pub object: Option<&'a [u8]>,
    pub edits: Vec<Edit>,
}

impl From<ValidationResponse> for Answer<'_> {
    fn from(validation: ValidationResponse) -> Self {
        Answer {
            validation,
            mutated: None,
            object: None,
            edits: Vec::new(),
        }
    }
}

impl Answer<'_> {
    /// The answer as a `ValidationResponse`, read back from the bytes the host gets (for
    /// tests).
    pub fn read_back(&self) -> ValidationResponse {
        serde_json::from_slice(&self.to_bytes()).expect("the answer is JSON")
    }

    /// The answer as the host reads it: a `ValidationResponse` without its empty fields (the
    /// host reads an absent field as none), whose `mutated_object` is the mutated object's
    /// text.
    pub fn to_bytes(&self) -> Vec<u8> {
        #[derive(serde::Serialize)]
        struct Compact<'r> {
            accepted: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            message: &'r Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            code: Option<u16>,
            #[serde(skip_serializing_if = "Option::is_none")]
            audit_annotations: &'r Option<HashMap<String, String>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            warnings: &'r Option<Vec<String>>,
        }
        let v = &self.validation;
        let compact = Compact {
            accepted: v.accepted,
            message: &v.message,
            code: v.code,
            audit_annotations: &v.audit_annotations,
            warnings: &v.warnings,
        };
        let extra = self.mutated.as_ref().map_or(0, |m| m.len() + 20);
        let mut out = Vec::with_capacity(64 + extra);
        // Writing to a Vec cannot fail, and these fields always serialize.
        let _ = serde_json::to_writer(&mut out, &compact);
        if let Some(object) = &self.mutated {
            out.pop(); // the closing brace
            out.extend_from_slice(b",\"mutated_object\":");
            out.extend_from_slice(object);
            out.push(b'}');
        }
        out
    }
}

/// A pin written into the object: where, the reference as written, and the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRecord {
    /// `containers`, `initContainers`, `ephemeralContainers` or `volumes`.
    pub list: &'static str,
    pub index: usize,
    pub written: String,
    pub digest: String,
    /// Kept from the old object (sticky pin) rather than looked up.
    pub kept: bool,
}

impl PinRecord {
    /// `pin.initContainers.0`: a valid annotation name part (the API server files it under
    /// the webhook's name), at most 63 characters.
    pub fn key(&self) -> String {
        format!("pin.{}.{}", self.list, self.index)
    }

    /// `app:1.0 -> sha256:…`, with ` (kept)` for a sticky pin; a long reference is shortened.
    pub fn value(&self) -> String {
        let kept = if self.kept { " (kept)" } else { "" };
        format!(
            "{} -> {}{kept}",
            elide(&self.written, MESSAGE_IMAGE_MAX),
            self.digest
        )
    }
}

impl Verdict {
    pub fn answer(self) -> Answer<'static> {
        let mut warnings: Vec<String> = self.warnings.iter().map(Violation::warning).collect();
        warnings.extend(self.notes);
        let warnings = (!warnings.is_empty()).then_some(warnings);
        // An audit has no warnings (every finding goes into its list) and no rejections.
        let lines: Vec<String> = if self.audit.is_empty() {
            self.rejections.iter().map(Violation::message).collect()
        } else {
            let line = |(v, action): &(Violation, Action)| v.audit_line(*action);
            self.audit.iter().map(line).collect()
        };
        if !lines.is_empty() {
            return Answer::from(ValidationResponse {
                warnings,
                ..reject(lines.join("\n"), None)
            });
        }
        let audit: HashMap<String, String> =
            self.pins.iter().map(|p| (p.key(), p.value())).collect();
        Answer {
            validation: ValidationResponse {
                accepted: true,
                message: None,
                code: None,
                audit_annotations: (self.mutated.is_some() && !audit.is_empty()).then_some(audit),
                mutated_object: None,
                warnings,
            },
            mutated: self.mutated,
            object: None,
            edits: Vec::new(),
        }
    }
}

/// A rejection for a request that cannot be judged (malformed payload, invalid settings).
pub fn refuse(message: String) -> ValidationResponse {
    reject(message, Some(400))
}

/// A rejection with this message and code, nothing else.
fn reject(message: String, code: Option<u16>) -> ValidationResponse {
    ValidationResponse {
        accepted: false,
        message: Some(message),
        code,
        mutated_object: None,
        audit_annotations: None,
        warnings: None,
    }
}

/// A plain acceptance: no message, no patch, no warnings.
pub fn accept() -> ValidationResponse {
    Verdict::default().answer().validation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(problem: Problem) -> Violation {
        Violation {
            place: "spec.template.spec.initContainers[0]".into(),
            name: "init".into(),
            image: "busybox".into(),
            volume: false,
            problem,
        }
    }

    #[test]
    fn message_names_place_image_reason_and_fix() {
        assert_eq!(
            v(Problem::Tag(TagVerdict::NoTag)).message(),
            "spec.template.spec.initContainers[0] \"init\" image \"busybox\": no tag, so it floats like :latest; use a version tag or pin a digest"
        );
        let pp = Violation {
            volume: true,
            name: String::new(),
            ..v(Problem::PullPolicy {
                policy: "IfNotPresent".into(),
                defaulted: true,
                pin_would_do: true,
            })
        };
        assert_eq!(
            pp.message(),
            "spec.template.spec.initContainers[0] image volume \"busybox\": pullPolicy IfNotPresent (Kubernetes' default for this tag) lets a node run a stale or another tenant's cached image; set pullPolicy: Always or pin a digest"
        );
    }

    #[test]
    fn audit_lines_say_what_admission_does() {
        let pp = v(Problem::PullPolicy {
            policy: "IfNotPresent".into(),
            defaulted: false,
            pin_would_do: false,
        });
        assert_eq!(
            pp.audit_line(Action::SetAlways),
            "spec.template.spec.initContainers[0] \"init\" image \"busybox\": imagePullPolicy IfNotPresent; admission sets Always"
        );
        assert_eq!(
            v(Problem::Tag(TagVerdict::Immutable)).audit_line(Action::Pin),
            "spec.template.spec.initContainers[0] \"init\" image \"busybox\": tag not pinned to a digest; admission pins it"
        );
        assert!(
            v(Problem::Tag(TagVerdict::NoTag))
                .audit_line(Action::Warn)
                .ends_with(": no tag, floats like :latest; admission warns")
        );
        let unlisted = v(Problem::Tag(TagVerdict::Unlisted { tag: "x".into() }));
        assert!(
            unlisted.audit_line(Action::Reject).ends_with(
                ": tag \"x\" matches none of immutableTagPatterns; admission rejects it"
            )
        );
    }

    #[test]
    fn an_audit_is_one_rejection_without_warnings_or_mutation() {
        let out = Verdict {
            audit: vec![
                (v(Problem::Tag(TagVerdict::NoTag)), Action::Reject),
                (v(Problem::Tag(TagVerdict::Immutable)), Action::Pin),
            ],
            ..Verdict::default()
        };
        let r = out.answer();
        assert!(r.mutated.is_none());
        let r = r.validation;
        assert!(!r.accepted && r.code.is_none() && r.warnings.is_none());
        assert_eq!(r.message.unwrap().lines().count(), 2);
    }

    #[test]
    fn warnings_are_short_even_for_long_images() {
        let mut long = v(Problem::Tag(TagVerdict::MutableTag {
            tag: "latest".into(),
            glob: "latest".into(),
        }));
        long.image = format!("registry.example.com/{}/app:latest", "team".repeat(40));
        let w = long.warning();
        assert!(w.chars().count() <= WARNING_MAX, "{} {w}", w.len());
        assert!(
            w.starts_with("spec.template.spec.initContainers[0] \"registry.example.com/"),
            "{w}"
        );
        assert!(w.ends_with("app:latest\": mutable tag \"latest\""), "{w}");
        assert_eq!(
            v(Problem::PullPolicy {
                policy: "Never".into(),
                defaulted: false,
                pin_would_do: false
            })
            .warning(),
            "spec.template.spec.initContainers[0] \"busybox\": imagePullPolicy Never, not Always"
        );
    }

    #[test]
    fn response_rejects_with_every_violation_and_keeps_warnings() {
        let out = Verdict {
            rejections: vec![
                v(Problem::Tag(TagVerdict::NoTag)),
                v(Problem::PinFailed("down".into())),
            ],
            warnings: vec![v(Problem::Tag(TagVerdict::NoTag))],
            mutated: Some(b"{}".to_vec()),
            ..Verdict::default()
        };
        let r = out.answer();
        assert!(r.mutated.is_none());
        let r = r.validation;
        assert!(!r.accepted);
        let m = r.message.unwrap();
        assert_eq!(m.lines().count(), 2);
        assert!(
            m.lines()
                .nth(1)
                .unwrap()
                .contains("cannot pin it to a digest: down")
        );
        assert_eq!(r.warnings.unwrap().len(), 1);
    }

    #[test]
    fn budget_messages_give_the_tally_and_the_fix() {
        let t = PinTally {
            budget_ms: 900,
            wanted: 10,
            resolved: 6,
            over_budget: 4,
        };
        let m = v(Problem::PinBudget(t)).message();
        assert_eq!(
            m,
            "spec.template.spec.initContainers[0] \"init\" image \"busybox\": not resolved within the 900 ms pin budget; 6 of 10 resolved; retry (the host caches resolved digests for 60 s), or raise the policy's timeoutEvalSeconds and pinBudgetMilliseconds together"
        );
        let w = v(Problem::PinBudget(t)).warning();
        assert!(w.ends_with("not pinned, pin budget spent") && w.len() <= WARNING_MAX);
    }

    #[test]
    fn pins_are_audited_on_acceptance_only() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let pin = |list, index, kept| PinRecord {
            list,
            index,
            written: "app:1.0".into(),
            digest: d.clone(),
            kept,
        };
        let out = Verdict {
            pins: vec![pin("containers", 0, false), pin("volumes", 3, true)],
            mutated: Some(b"{}".to_vec()),
            ..Verdict::default()
        };
        let a = out.answer().validation.audit_annotations.unwrap();
        assert_eq!(a["pin.containers.0"], format!("app:1.0 -> {d}"));
        assert_eq!(a["pin.volumes.3"], format!("app:1.0 -> {d} (kept)"));
        let rejected = Verdict {
            rejections: vec![v(Problem::Tag(TagVerdict::NoTag))],
            pins: vec![pin("containers", 0, false)],
            mutated: Some(b"{}".to_vec()),
            ..Verdict::default()
        };
        assert!(rejected.answer().validation.audit_annotations.is_none());
        assert!(
            pin("ephemeralContainers", usize::MAX, false).key().len() <= 63,
            "annotation names are at most 63 characters"
        );
    }

    #[test]
    fn a_mutation_is_written_around_the_object_text() {
        let out = Verdict {
            warnings: vec![v(Problem::Tag(TagVerdict::NoTag))],
            mutated: Some(br#"{"b": 1e400, "a" :[ ]}"#.to_vec()),
            ..Verdict::default()
        };
        let bytes = out.answer().to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with(r#"{"accepted":true,"warnings":[""#),
            "{text}"
        );
        assert!(
            text.ends_with(r#"],"mutated_object":{"b": 1e400, "a" :[ ]}}"#),
            "{text}"
        );
        let plain = Answer::from(accept()).to_bytes();
        assert_eq!(plain, br#"{"accepted":true}"#);
        let back: ValidationResponse = serde_json::from_slice(&plain).unwrap();
        assert!(back.accepted && back.mutated_object.is_none() && back.warnings.is_none());
        let refused = Answer::from(refuse("bad".into())).to_bytes();
        assert_eq!(refused, br#"{"accepted":false,"message":"bad","code":400}"#);
    }

    #[test]
    fn accept_is_plain() {
        let r = accept();
        assert!(
            r.accepted && r.message.is_none() && r.warnings.is_none() && r.mutated_object.is_none()
        );
    }
}
