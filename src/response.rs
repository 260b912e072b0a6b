//! Answers: what is wrong with an image ([`Problem`]) in words written once, composed into a
//! rejection's line, a warning and a background audit's line ([`Violation`]); what judging a
//! request found ([`Findings`]); and the [`Answer`] the host reads.

use std::collections::HashMap;

use kubewarden_policy_sdk::response::ValidationResponse;

use crate::pin::PinTally;
use crate::replicas::Drift;
use crate::rules::TagVerdict;

/// Longest warning, in characters: under the 120 Kubernetes asks warnings to stay under (it
/// truncates them past 256).
pub const WARNING_MAX: usize = 119;
/// Longest tag or value quoted whole in a warning.
const WARNING_TAG_MAX: usize = 16;
/// Fewest characters of the image a warning keeps when its reason is long.
const WARNING_IMAGE_MIN: usize = 16;
/// Longest tag or value quoted whole in a background audit's line.
const AUDIT_TAG_MAX: usize = 64;
/// Longest image quoted whole in a rejection message (a 1 MB image gives a short message).
const MESSAGE_IMAGE_MAX: usize = 256;

/// What is wrong with one image. Its words are written here once ([`Problem::reason`],
/// [`Problem::fix`]) and composed into the rejection line, the warning and the audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The reference cannot be read; the reason says why.
    Invalid(String),
    /// The tag rules call the image mutable; or, where admission pins it, that it has no
    /// digest yet (any verdict but `Pinned`).
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
    /// Pinning was asked for and the pin budget was spent before this image was looked up
    /// (the words give the request's tally).
    PinBudget,
    /// The replicas of the Pod's controller run more than one digest of this reference (found
    /// by a background audit only).
    Drift(Drift),
}

/// What admission does about a problem: the configured action that applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// Rejects the request.
    Reject,
    /// Accepts it with a warning.
    Warn,
    /// Pins the tag to the digest the registry serves.
    Pin,
    /// Sets the pull policy to Always.
    SetAlways,
    /// Nothing at admission: a background audit reports it (drift).
    Report,
}

impl Remedy {
    /// What an audit line says admission does; `None` when admission has no part in it.
    fn words(self) -> Option<&'static str> {
        match self {
            Remedy::Reject => Some("admission rejects it"),
            Remedy::Warn => Some("admission warns"),
            Remedy::Pin => Some("admission pins it"),
            Remedy::SetAlways => Some("admission sets Always"),
            Remedy::Report => None,
        }
    }
}

/// Hex digits of a digest an audit line shows, as `docker images` and `crictl images` show
/// image IDs.
const SHORT_DIGEST_HEX: usize = 12;
/// Replicas an audit line names for one digest; the others are counted.
const DRIFT_NAMES_MAX: usize = 3;

/// `sha256:4f2a8c9d1e0b…`
fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) if hex.len() > SHORT_DIGEST_HEX => {
            format!("{algorithm}:{}…", &hex[..SHORT_DIGEST_HEX])
        }
        _ => digest.to_owned(),
    }
}

/// `sha256:aaaa… (web-a, web-b), sha256:bbbb… (web-c and 2 more)`
fn drift_words(drift: &Drift) -> String {
    let each = drift.digests.iter().map(|(digest, names)| {
        let shown = names
            .iter()
            .take(DRIFT_NAMES_MAX)
            .cloned()
            .collect::<Vec<_>>();
        let more = match names.len().saturating_sub(DRIFT_NAMES_MAX) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        format!("{} ({}{more})", short_digest(digest), shown.join(", "))
    });
    format!(
        "{} replicas of {} run {} digests: {}",
        drift.replicas,
        drift.controller,
        drift.digests.len(),
        each.collect::<Vec<_>>().join(", ")
    )
}

/// What the words of a problem depend on beyond the problem itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// How the request's digest lookups went (for [`Problem::PinBudget`]).
    pub pins: PinTally,
}

/// The fix for a tag: a version tag or a digest.
const USE_A_VERSION: &str = "use a version tag or pin a digest";

impl Problem {
    /// What is wrong, in a few words; each quoted tag or value at most `quote_max`
    /// characters. `policy_field`: `imagePullPolicy`, or `pullPolicy` for an image volume.
    fn reason(&self, policy_field: &str, quote_max: usize, context: &Context) -> String {
        let quote = |t: &str| elide(t, quote_max);
        match self {
            Problem::Invalid(why) => format!("invalid image reference: {why}"),
            Problem::Tag(TagVerdict::NoTag) => "no tag, so it floats like :latest".to_owned(),
            Problem::Tag(TagVerdict::MutableTag { glob, .. }) if glob == "*" => {
                "a digest is required (mutableTags \"*\")".to_owned()
            }
            Problem::Tag(TagVerdict::MutableTag { tag, glob }) => format!(
                "tag {:?} is mutable (mutableTags {:?})",
                quote(tag),
                quote(glob)
            ),
            Problem::Tag(TagVerdict::Unlisted { tag }) => {
                format!("tag {:?} matches none of immutableTagPatterns", quote(tag))
            }
            Problem::Tag(TagVerdict::Pinned | TagVerdict::Immutable) => {
                "tag not pinned to a digest".to_owned()
            }
            Problem::PullPolicy {
                policy, defaulted, ..
            } => {
                let default = if *defaulted { " by default" } else { "" };
                format!("{policy_field} {}{default}, not Always", quote(policy))
            }
            Problem::PinFailed(why) => format!("cannot pin it to a digest: {why}"),
            Problem::PinBudget => {
                let t = context.pins;
                format!(
                    "not resolved within the {} ms pin budget; {} of {} resolved",
                    t.budget_ms, t.resolved, t.wanted
                )
            }
            Problem::Drift(drift) => drift_words(drift),
        }
    }

    /// What to do about it.
    fn fix(&self, policy_field: &str) -> String {
        match self {
            Problem::Invalid(_) => {
                "write it as [registry[:port]/]repository[:tag][@sha256:digest]".to_owned()
            }
            Problem::Tag(TagVerdict::MutableTag { glob, .. }) if glob == "*" => {
                "pin a digest".to_owned()
            }
            Problem::Tag(TagVerdict::Unlisted { .. }) => {
                "use a tag that does or pin a digest".to_owned()
            }
            Problem::Tag(_) => USE_A_VERSION.to_owned(),
            Problem::PullPolicy { pin_would_do, .. } => {
                let or_pin = if *pin_would_do {
                    " or pin a digest"
                } else {
                    ""
                };
                format!(
                    "set {policy_field}: Always{or_pin}; any other lets a node run a stale or \
                     another tenant's cached image"
                )
            }
            Problem::PinFailed(_) => {
                "make the registry serve this tag, exempt the image, or change pinFailureAction"
                    .to_owned()
            }
            Problem::PinBudget => "retry (the host caches resolved digests for 60 s), or raise \
                 the policy's timeoutEvalSeconds and pinBudgetMilliseconds together"
                .to_owned(),
            Problem::Drift(_) => "pin a digest in the controller's template, then replace the \
                 replicas that run another (pinFromReplicas pins new ones to the most run)"
                .to_owned(),
        }
    }
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
    /// In a Pod's audit, the digest its container runs (`status…imageID`), when known.
    pub running: Option<String>,
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

    fn reason(&self, quote_max: usize, context: &Context) -> String {
        self.problem.reason(self.policy_field(), quote_max, context)
    }

    /// A rejection's line: `<place> "<name>" image "<image>": <reason>; <fix>`
    pub fn message(&self, context: &Context) -> String {
        let reason = self.reason(MESSAGE_IMAGE_MAX, context);
        let fix = self.problem.fix(self.policy_field());
        format!("{}: {reason}; {fix}", self.subject())
    }

    fn subject(&self) -> String {
        let what = if self.volume { "image volume" } else { "image" };
        let image = elide(&self.image, MESSAGE_IMAGE_MAX);
        let running = match &self.running {
            Some(digest) => format!(" (running {})", short_digest(digest)),
            None => String::new(),
        };
        if self.name.is_empty() {
            format!("{} {what} {image:?}{running}", self.place)
        } else {
            let name = elide(&self.name, MESSAGE_IMAGE_MAX);
            format!("{} {name:?} {what} {image:?}{running}", self.place)
        }
    }

    /// One line of a background audit's rejection, for a PolicyReport: the place, the image
    /// (and in a Pod, the digest it runs), what is wrong and what admission does about it.
    /// `<place> "<name>" image "<image>" (running sha256:…): <reason>; admission <does>`
    pub fn audit_line(&self, remedy: Remedy, context: &Context) -> String {
        let mut reason = self.reason(AUDIT_TAG_MAX, context);
        if remedy == Remedy::Pin && self.problem != Problem::Tag(TagVerdict::Immutable) {
            reason.push_str(", not pinned to a digest");
        }
        match remedy.words() {
            Some(words) => format!("{}: {reason}; {words}", self.subject()),
            None => format!("{}: {reason}", self.subject()),
        }
    }

    /// One short line for a Kubernetes warning, at most `WARNING_MAX` characters:
    /// `<place> "<image>": <reason>`. The place stays whole; a long tag is shortened in the
    /// middle, then the image, then the reason.
    pub fn warning(&self, context: &Context) -> String {
        let reason = self.reason(WARNING_TAG_MAX, context);
        let room = WARNING_MAX.saturating_sub(self.place.chars().count() + 5);
        let reason_len = reason.chars().count();
        let image_room = room.saturating_sub(reason_len).max(WARNING_IMAGE_MIN);
        let image = elide(&self.image, image_room);
        let reason = elide(&reason, room.saturating_sub(image.chars().count()));
        format!("{} \"{image}\": {reason}", self.place)
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

/// What judging a request found, before it is written as an [`Answer`].
#[derive(Debug, Default)]
pub struct Findings {
    pub rejections: Vec<Violation>,
    pub warnings: Vec<Violation>,
    /// Warnings about the request as a whole (after those of single images).
    pub notes: Vec<String>,
    /// Every pin written into the object, for the audit log.
    pub pins: Vec<PinRecord>,
    /// In a background audit, every violation with what admission does about it: the
    /// answer is one rejection that lists them (no warnings, no mutation).
    pub audit: Vec<(Violation, Remedy)>,
    /// What the words depend on beyond each violation.
    pub context: Context,
}

/// An answer: the validation response and, for a mutation, the mutated object's JSON text,
/// which goes into the answer as it is (never parsed into a tree here).
#[derive(Debug)]
pub struct Answer {
    pub validation: ValidationResponse,
    pub mutated: Option<Vec<u8>>,
}

impl From<ValidationResponse> for Answer {
    fn from(validation: ValidationResponse) -> Self {
        Answer {
            validation,
            mutated: None,
        }
    }
}

impl Answer {
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
    pub source: PinSource,
}

/// Where a pin's digest came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinSource {
    /// The registry, asked through the host.
    Registry,
    /// The old object (a sticky pin).
    Kept,
    /// The other replicas of the Pod's controller.
    Replicas,
}

impl PinRecord {
    /// `pin.initContainers.0`: a valid annotation name part (the API server files it under
    /// the webhook's name), at most 63 characters.
    pub fn key(&self) -> String {
        format!("pin.{}.{}", self.list, self.index)
    }

    /// `app:1.0 -> sha256:…`, with ` (kept)` for a sticky pin and ` (from replicas)` for a
    /// replicas' one; a long reference is shortened.
    pub fn value(&self) -> String {
        let source = match self.source {
            PinSource::Registry => "",
            PinSource::Kept => " (kept)",
            PinSource::Replicas => " (from replicas)",
        };
        format!(
            "{} -> {}{source}",
            elide(&self.written, MESSAGE_IMAGE_MAX),
            self.digest
        )
    }
}

impl Findings {
    /// Whether admission rejects the request.
    pub fn rejects(&self) -> bool {
        !self.rejections.is_empty()
    }

    /// The answer: one rejection that lists every violation (in an audit, every audit line);
    /// else an acceptance with the warnings and, with `mutated` (the object with the edits
    /// spliced in), the mutation and its pins' audit annotations.
    pub fn answer(self, mutated: Option<Vec<u8>>) -> Answer {
        let context = &self.context;
        let mut warnings: Vec<String> = self.warnings.iter().map(|v| v.warning(context)).collect();
        warnings.extend(self.notes);
        let warnings = (!warnings.is_empty()).then_some(warnings);
        // An audit has no warnings (every finding goes into its list) and no rejections.
        let lines: Vec<String> = if self.audit.is_empty() {
            self.rejections.iter().map(|v| v.message(context)).collect()
        } else {
            let line = |(v, remedy): &(Violation, Remedy)| v.audit_line(*remedy, context);
            self.audit.iter().map(line).collect()
        };
        if !lines.is_empty() {
            return Answer::from(ValidationResponse {
                warnings,
                ..reject(lines.join("\n"), None)
            });
        }
        let pins = mutated.is_some() && !self.pins.is_empty();
        let audit_annotations =
            pins.then(|| self.pins.iter().map(|p| (p.key(), p.value())).collect());
        Answer {
            validation: ValidationResponse {
                accepted: true,
                message: None,
                code: None,
                audit_annotations,
                mutated_object: None,
                warnings,
            },
            mutated,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A request whose lookups went 6 of 10 within a 900 ms budget.
    const CONTEXT: &Context = &Context {
        pins: PinTally {
            budget_ms: 900,
            wanted: 10,
            resolved: 6,
            over_budget: 4,
        },
    };

    fn v(problem: Problem) -> Violation {
        Violation {
            place: "spec.template.spec.initContainers[0]".into(),
            name: "init".into(),
            image: "busybox".into(),
            volume: false,
            running: None,
            problem,
        }
    }

    fn every_problem() -> Vec<Problem> {
        vec![
            Problem::Invalid("the repository must be lowercase".into()),
            Problem::Tag(TagVerdict::NoTag),
            Problem::Tag(TagVerdict::MutableTag {
                tag: "latest".into(),
                glob: "latest".into(),
            }),
            Problem::Tag(TagVerdict::MutableTag {
                tag: "v1".into(),
                glob: "*".into(),
            }),
            Problem::Tag(TagVerdict::Unlisted { tag: "x".into() }),
            Problem::Tag(TagVerdict::Immutable),
            Problem::PullPolicy {
                policy: "IfNotPresent".into(),
                defaulted: true,
                pin_would_do: true,
            },
            Problem::PinFailed("the registry is down".into()),
            Problem::PinBudget,
        ]
    }

    #[test]
    fn message_names_place_image_reason_and_fix() {
        assert_eq!(
            v(Problem::Tag(TagVerdict::NoTag)).message(CONTEXT),
            "spec.template.spec.initContainers[0] \"init\" image \"busybox\": no tag, so it floats like :latest; use a version tag or pin a digest"
        );
        let pp = Violation {
            volume: true,
            running: None,
            name: String::new(),
            ..v(Problem::PullPolicy {
                policy: "IfNotPresent".into(),
                defaulted: true,
                pin_would_do: true,
            })
        };
        assert_eq!(
            pp.message(CONTEXT),
            "spec.template.spec.initContainers[0] image volume \"busybox\": pullPolicy IfNotPresent by default, not Always; set pullPolicy: Always or pin a digest; any other lets a node run a stale or another tenant's cached image"
        );
    }

    #[test]
    fn every_line_of_a_problem_says_its_one_reason() {
        for problem in every_problem() {
            let violation = v(problem.clone());
            let reason = problem.reason("imagePullPolicy", usize::MAX, CONTEXT);
            assert!(violation.message(CONTEXT).contains(&reason), "{reason}");
            let remedy = Remedy::Warn;
            assert!(
                violation.audit_line(remedy, CONTEXT).contains(&reason),
                "{reason}"
            );
            let warning = violation.warning(CONTEXT);
            assert!(warning.chars().count() <= WARNING_MAX, "{warning}");
            if reason.chars().count() < 60 {
                assert!(warning.ends_with(&reason), "{warning} / {reason}");
            }
        }
    }

    #[test]
    fn a_required_digest_says_so() {
        let m = v(Problem::Tag(TagVerdict::MutableTag {
            tag: "v1".into(),
            glob: "*".into(),
        }))
        .message(CONTEXT);
        assert!(
            m.ends_with(": a digest is required (mutableTags \"*\"); pin a digest"),
            "{m}"
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
            pp.audit_line(Remedy::SetAlways, CONTEXT),
            "spec.template.spec.initContainers[0] \"init\" image \"busybox\": imagePullPolicy IfNotPresent, not Always; admission sets Always"
        );
        assert_eq!(
            v(Problem::Tag(TagVerdict::Immutable)).audit_line(Remedy::Pin, CONTEXT),
            "spec.template.spec.initContainers[0] \"init\" image \"busybox\": tag not pinned to a digest; admission pins it"
        );
        assert!(
            v(Problem::Tag(TagVerdict::NoTag))
                .audit_line(Remedy::Pin, CONTEXT)
                .ends_with(
                    ": no tag, so it floats like :latest, not pinned to a digest; admission pins it"
                )
        );
        let unlisted = v(Problem::Tag(TagVerdict::Unlisted { tag: "x".into() }));
        assert!(
            unlisted.audit_line(Remedy::Reject, CONTEXT).ends_with(
                ": tag \"x\" matches none of immutableTagPatterns; admission rejects it"
            )
        );
    }

    #[test]
    fn an_audit_is_one_rejection_without_warnings_or_mutation() {
        let out = Findings {
            audit: vec![
                (v(Problem::Tag(TagVerdict::NoTag)), Remedy::Reject),
                (v(Problem::Tag(TagVerdict::Immutable)), Remedy::Pin),
            ],
            ..Findings::default()
        };
        let r = out.answer(None);
        assert!(r.mutated.is_none());
        let r = r.validation;
        assert!(!r.accepted && r.code.is_none() && r.warnings.is_none());
        assert_eq!(r.message.unwrap().lines().count(), 2);
    }

    #[test]
    fn warnings_are_short_even_for_long_images_and_reasons() {
        let mut long = v(Problem::Tag(TagVerdict::MutableTag {
            tag: "latest".into(),
            glob: "latest".into(),
        }));
        long.image = format!("registry.example.com/{}/app:latest", "team".repeat(40));
        let w = long.warning(CONTEXT);
        assert!(w.chars().count() <= WARNING_MAX, "{} {w}", w.len());
        assert!(
            w.starts_with("spec.template.spec.initContainers[0] \"registry.exampl"),
            "{w}"
        );
        assert!(
            w.ends_with("app:latest\": tag \"latest\" is mutable (mutableTags \"latest\")"),
            "{w}"
        );
        assert_eq!(
            v(Problem::PullPolicy {
                policy: "Never".into(),
                defaulted: false,
                pin_would_do: false
            })
            .warning(CONTEXT),
            "spec.template.spec.initContainers[0] \"busybox\": imagePullPolicy Never, not Always"
        );
        let failed = v(Problem::PinFailed("x".repeat(300))).warning(CONTEXT);
        assert!(failed.chars().count() <= WARNING_MAX, "{failed}");
        assert!(
            failed.contains("\"busybox\": cannot pin it to a digest: x"),
            "{failed}"
        );
    }

    #[test]
    fn response_rejects_with_every_violation_and_keeps_warnings() {
        let out = Findings {
            rejections: vec![
                v(Problem::Tag(TagVerdict::NoTag)),
                v(Problem::PinFailed("down".into())),
            ],
            warnings: vec![v(Problem::Tag(TagVerdict::NoTag))],
            ..Findings::default()
        };
        let r = out.answer(Some(b"{}".to_vec()));
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
        let m = v(Problem::PinBudget).message(CONTEXT);
        assert_eq!(
            m,
            "spec.template.spec.initContainers[0] \"init\" image \"busybox\": not resolved within the 900 ms pin budget; 6 of 10 resolved; retry (the host caches resolved digests for 60 s), or raise the policy's timeoutEvalSeconds and pinBudgetMilliseconds together"
        );
        let w = v(Problem::PinBudget).warning(CONTEXT);
        assert!(
            w.ends_with("not resolved within the 900 ms pin budget; 6 of 10 resolved")
                && w.len() <= WARNING_MAX,
            "{w}"
        );
    }

    #[test]
    fn pins_are_audited_on_acceptance_only() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let pin = |list, index, source| PinRecord {
            list,
            index,
            written: "app:1.0".into(),
            digest: d.clone(),
            source,
        };
        let out = Findings {
            pins: vec![
                pin("containers", 0, PinSource::Registry),
                pin("volumes", 3, PinSource::Kept),
                pin("initContainers", 1, PinSource::Replicas),
            ],
            ..Findings::default()
        };
        let a = out
            .answer(Some(b"{}".to_vec()))
            .validation
            .audit_annotations
            .unwrap();
        assert_eq!(a["pin.containers.0"], format!("app:1.0 -> {d}"));
        assert_eq!(a["pin.volumes.3"], format!("app:1.0 -> {d} (kept)"));
        assert_eq!(
            a["pin.initContainers.1"],
            format!("app:1.0 -> {d} (from replicas)")
        );
        let rejected = Findings {
            rejections: vec![v(Problem::Tag(TagVerdict::NoTag))],
            pins: vec![pin("containers", 0, PinSource::Registry)],
            ..Findings::default()
        };
        let answer = rejected.answer(Some(b"{}".to_vec()));
        assert!(answer.validation.audit_annotations.is_none());
        assert!(
            pin("ephemeralContainers", usize::MAX, PinSource::Registry)
                .key()
                .len()
                <= 63,
            "annotation names are at most 63 characters"
        );
    }

    #[test]
    fn a_mutation_is_written_around_the_object_text() {
        let out = Findings {
            warnings: vec![v(Problem::Tag(TagVerdict::NoTag))],
            ..Findings::default()
        };
        let bytes = out
            .answer(Some(br#"{"b": 1e400, "a" :[ ]}"#.to_vec()))
            .to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.starts_with(r#"{"accepted":true,"warnings":[""#),
            "{text}"
        );
        assert!(
            text.ends_with(r#"],"mutated_object":{"b": 1e400, "a" :[ ]}}"#),
            "{text}"
        );
        let plain = Findings::default().answer(None).to_bytes();
        assert_eq!(plain, br#"{"accepted":true}"#);
        let back: ValidationResponse = serde_json::from_slice(&plain).unwrap();
        assert!(back.accepted && back.mutated_object.is_none() && back.warnings.is_none());
        let refused = Answer::from(refuse("bad".into())).to_bytes();
        assert_eq!(refused, br#"{"accepted":false,"message":"bad","code":400}"#);
    }
}
