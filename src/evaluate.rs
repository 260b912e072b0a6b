//! Evaluating one admission request: read the payload, find the images, judge each, and
//! decide the answer (reject, warn, mutate or accept); in a background audit, one rejection
//! that says what admission does about each image, with no mutation and no registry lookup
//! (docs/design.md, "Background audit").

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

use crate::answer::{self, Action, Outcome, PinRecord, Problem, Response, Violation};
use crate::judge::{self, TagVerdict};
use crate::mutate::{self, Edit, FieldEdit};
use crate::pin::{DigestResolver, PinError, Pinner, kept_pin, pinned_reference};
use crate::podspec::{self, List, ObjectImages, Shape, Site, Text};
use crate::reference::ImageRef;
use crate::request::{self, Object, Payload, Request};
use crate::settings::{self, MutableTagAction, PinFailureAction, PullPolicyAction, Settings};
use kubewarden_policy_sdk::response::ValidationResponse;

/// The answer to a `validate` payload, as the bytes the host reads. Every input gets an
/// answer; none panics.
pub fn validate_bytes(payload: &[u8], resolver: &dyn DigestResolver) -> Vec<u8> {
    answer(payload, resolver).response.to_bytes()
}

/// The answer to a `validate` payload as a `ValidationResponse` (for tests: it is read back
/// from [`validate_bytes`], so the mutated object is the one the host gets).
pub fn validate(payload: &[u8], resolver: &dyn DigestResolver) -> ValidationResponse {
    answer(payload, resolver).read_back()
}

/// What evaluating a payload came to.
#[derive(Debug)]
pub struct Answer<'a> {
    pub response: Response,
    /// For a mutation: the object's JSON text in the payload, and the edits spliced into it.
    pub object: Option<&'a [u8]>,
    pub edits: Vec<Edit<'a>>,
}

impl Answer<'_> {
    /// The answer as a `ValidationResponse`, read back from the bytes the host gets (for
    /// tests).
    pub fn read_back(&self) -> ValidationResponse {
        serde_json::from_slice(&self.response.to_bytes()).expect("the answer is JSON")
    }
}

impl From<ValidationResponse> for Answer<'_> {
    fn from(v: ValidationResponse) -> Self {
        Answer {
            response: v.into(),
            object: None,
            edits: Vec::new(),
        }
    }
}

/// Evaluates a `validate` payload.
pub fn answer<'a>(payload: &'a [u8], resolver: &dyn DigestResolver) -> Answer<'a> {
    evaluate(payload, resolver).unwrap_or_else(|e| answer::refuse(e).into())
}

fn evaluate<'a>(payload: &'a [u8], resolver: &dyn DigestResolver) -> Result<Answer<'a>, String> {
    // The pin budget counts from here: the host's deadline counts the whole evaluation.
    let started = resolver.now();
    if let Some(fast) = request::read_fast(payload)
        && let Some(answer) = judge(fast, resolver, started)?
    {
        return Ok(answer);
    }
    let traced = request::read_traced(payload)?;
    judge(traced, resolver, started)?.ok_or_else(|| "the request cannot be read".to_owned())
}

/// Judges a read payload; `None` when the fast reader read the object as another shape than
/// the whole request calls for (a `subResource` after the object), so it must be read again.
fn judge<'a>(
    payload: Payload<'a>,
    resolver: &dyn DigestResolver,
    started: Instant,
) -> Result<Option<Answer<'a>>, String> {
    let settings = match payload.settings {
        Some(raw) => settings::cached(raw.as_bytes()),
        None => settings::cached(b"{}"),
    }
    .map_err(|e| format!("invalid settings: {e}"))?;
    let request = payload.request.ok_or("the payload has no request")?;

    let shape = request.shape();
    let audit = request.is_background_audit();
    let Request {
        kind: gvk,
        operation,
        object,
        old_object,
        ..
    } = request;
    let operation = operation.as_ref().map_or("", Text::as_str);
    if matches!(operation, "DELETE" | "CONNECT") {
        return Ok(Some(answer::accept().into()));
    }
    let kind = gvk
        .as_ref()
        .and_then(|k| k.kind.as_ref())
        .map_or("", Text::as_str);
    if kind.is_empty() {
        return Err("the request has no kind".into());
    }
    let Some(shape) = shape else {
        return Ok(Some(answer::accept().into()));
    };
    let (found, object_text) = match object {
        Object::Absent => {
            return Err(format!(
                "the {operation} request for a {kind} has no object"
            ));
        }
        Object::Raw(raw) => (read(shape, kind, raw)?, raw.as_bytes()),
        Object::Read(read_as, images, text) if read_as == shape => (images, text),
        Object::Read(..) | Object::Skipped => return Ok(None),
    };
    if let Some(k) = &found.kind
        && k.as_str() != kind
    {
        return Err(format!(
            "the object is a {} but the request is for a {kind}",
            k.as_str()
        ));
    }
    let sites = found
        .sites
        .ok_or_else(|| format!("the {kind} has no pod spec at {}", shape.path().join(".")))?;

    let old = match (operation, old_object) {
        ("UPDATE", Object::Raw(raw)) => podspec::read_object(shape, raw)
            .map(previous_images)
            .unwrap_or_default(),
        ("UPDATE", Object::Read(read_as, images, _)) if read_as == shape => previous_images(images),
        ("UPDATE", Object::Read(..)) => return Ok(None),
        _ => Previous::new(),
    };

    let mut pinner = Pinner::new(resolver, started, settings.pin_budget);
    let mut outcome = Outcome::default();
    let mut edits = Vec::new();
    for site in &sites {
        let previous = old_site(&old, site);
        if previous
            .is_some_and(|(image, policy)| *image == site.image && *policy == site.pull_policy)
        {
            continue;
        }
        let old_image = previous
            .filter(|_| settings.keep_pins_on_update)
            .and_then(|(image, _)| image.as_ref())
            .map(Text::as_str);
        if let Some(edit) = judge_site(
            &settings,
            audit,
            shape,
            site,
            old_image,
            &mut pinner,
            &mut outcome,
        ) {
            edits.push(edit);
        }
    }
    report_budget(&settings, &pinner, &mut outcome);
    let mut object = None;
    if outcome.rejections.is_empty() && !edits.is_empty() {
        // The object's text, as the reader found it: bytes it may have skipped, so checked
        // for UTF-8 here.
        std::str::from_utf8(object_text)
            .map_err(|_| format!("the {kind} is not valid UTF-8, so it cannot be mutated"))?;
        outcome.mutated = Some(mutate::splice(object_text, &edits)?);
        object = Some(object_text);
    }
    Ok(Some(Answer {
        response: outcome.response(),
        object,
        edits,
    }))
}

fn read<'a>(shape: Shape, kind: &str, object: &'a str) -> Result<ObjectImages<'a>, String> {
    podspec::read_object(shape, object).map_err(|e| format!("cannot read the {kind}: {e}"))
}

/// Image and pull policy of each named container and image volume of the old object, by
/// list and name, borrowed from the request.
type Previous<'a> = HashMap<(List, Cow<'a, str>), (Option<Text<'a>>, Option<Text<'a>>)>;

/// Images and pull policies of the old object, by list and name.
fn previous_images(old: ObjectImages<'_>) -> Previous<'_> {
    old.sites
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let name = s.name?.0;
            (!name.is_empty()).then_some(((s.list, name), (s.image, s.pull_policy)))
        })
        .collect()
}

/// The same-named image of the same list in the old object (UPDATE only). When its image and
/// pull policy equal the new ones, the site is neither judged nor mutated.
fn old_site<'o>(
    old: &'o Previous<'o>,
    site: &'o Site<'_>,
) -> Option<&'o (Option<Text<'o>>, Option<Text<'o>>)> {
    let name = site.name_str();
    if name.is_empty() {
        return None;
    }
    old.get(&(site.list, Cow::Borrowed(name)))
}

/// Completes the pin-budget violations with the request's tally, and with `warn` adds one
/// warning that says how far pinning got and what to do.
fn report_budget(settings: &Settings, pinner: &Pinner<'_>, outcome: &mut Outcome) {
    let tally = pinner.tally();
    if tally.over_budget == 0 {
        return;
    }
    for v in outcome
        .rejections
        .iter_mut()
        .chain(outcome.warnings.iter_mut())
    {
        if let Problem::PinBudget(t) = &mut v.problem {
            *t = tally;
        }
    }
    if settings.pin_failure_action == PinFailureAction::Warn {
        outcome.notes.push(format!(
            "{} of {} images pinned within the {} ms pin budget; retry to pin the rest",
            tally.resolved, tally.wanted, tally.budget_ms
        ));
    }
}

/// One image's findings on their way to the answer, routed by what admission does about
/// each: at admission into rejections, warnings and field edits; in a background audit every
/// one goes into the audit's list, and nothing is edited.
struct Findings<'o, 'a> {
    audit: bool,
    shape: Shape,
    site: &'o Site<'a>,
    outcome: &'o mut Outcome,
    fields: Vec<FieldEdit<'a>>,
}

impl<'a> Findings<'_, 'a> {
    fn add(&mut self, problem: Problem, action: Action) {
        if self.audit {
            let violation = self.violation(problem);
            self.outcome.audit.push((violation, action));
            return;
        }
        match action {
            Action::Reject => {
                let violation = self.violation(problem);
                self.outcome.rejections.push(violation);
            }
            Action::Warn => {
                let violation = self.violation(problem);
                self.outcome.warnings.push(violation);
            }
            Action::SetAlways => self.fields.push(FieldEdit {
                key: self.site.list.pull_policy_key(),
                old: self.site.pull_policy_raw,
                new: "Always".to_owned(),
            }),
            // Admission pins once the digest is known ([`Findings::pin`]).
            Action::Pin => {}
        }
    }

    fn violation(&self, problem: Problem) -> Violation {
        let site = self.site;
        Violation {
            place: site.place(self.shape),
            name: site.name_str().to_owned(),
            image: site.image.as_ref().map_or("", Text::as_str).to_owned(),
            volume: site.list == List::Volumes,
            problem,
        }
    }

    /// Writes the pin of this image (admission only).
    fn pin(&mut self, written: &str, digest: String, pinned: String, kept: bool) {
        let site = self.site;
        self.outcome.pins.push(PinRecord {
            list: site.list.key(),
            index: site.index,
            written: written.to_owned(),
            digest,
            kept,
        });
        self.fields.push(FieldEdit {
            key: site.list.image_key(),
            old: site.image_raw,
            new: pinned,
        });
    }
}

/// Judges one image and records its findings; returns the edit it needs, if any.
fn judge_site<'a>(
    settings: &Settings,
    audit: bool,
    shape: Shape,
    site: &Site<'a>,
    old_image: Option<&str>,
    pinner: &mut Pinner<'_>,
    outcome: &mut Outcome,
) -> Option<Edit<'a>> {
    let written = site.image.as_ref().map_or("", Text::as_str);
    let parsed = ImageRef::parse(written);
    let container = site.list.container_type().map(|t| (site.name_str(), t));
    let normalized = match (&parsed, settings.exempt_images.is_empty()) {
        (Ok(image), false) => Some(image.normalized()),
        _ => None,
    };
    if judge::is_exempt(settings, written, normalized.as_deref(), container) {
        return None;
    }
    let mut found = Findings {
        audit,
        shape,
        site,
        outcome,
        fields: Vec::new(),
    };
    let image = match parsed {
        Ok(image) => image,
        Err(e) => {
            found.add(Problem::Invalid(e.to_string()), Action::Reject);
            return None;
        }
    };

    // The tag.
    let verdict = judge::judge_tag(settings, &image);
    let tag_action = match settings.mutable_tag_action {
        _ if !verdict.is_mutable() => None,
        MutableTagAction::Reject => Some(Action::Reject),
        MutableTagAction::Warn => Some(Action::Warn),
        MutableTagAction::Pin => Some(Action::Pin),
    };
    let wants_pin = tag_action == Some(Action::Pin)
        || (verdict == TagVerdict::Immutable && settings.pin_immutable_tags);
    if let Some(action) = tag_action.filter(|a| *a != Action::Pin) {
        found.add(Problem::Tag(verdict.clone()), action);
    }

    // The pin. An audit asks no registry: it reports that admission pins the image, and
    // judges the pull policy of the image as admission leaves it, with a digest (whose value
    // plays no part in that).
    let mut final_image = image;
    if wants_pin && audit {
        found.add(Problem::Tag(verdict), Action::Pin);
        final_image.digest = Some(String::new());
    } else if wants_pin {
        // Sticky pin: the old object has exactly this reference plus a digest.
        let kept = old_image.and_then(|old| kept_pin(written, old).map(|d| (d, old)));
        let lookup = match kept {
            Some((digest, old)) => Ok((digest.to_owned(), old.to_owned())),
            None => pinner.digest(written).and_then(|d| {
                pinned_reference(written, &d)
                    .map(|p| (d, p))
                    .map_err(PinError::Failed)
            }),
        };
        match lookup {
            Ok((digest, reference)) => {
                final_image.digest = Some(digest.clone());
                found.pin(written, digest, reference, kept.is_some());
            }
            Err(why) => {
                let problem = match why {
                    PinError::Failed(why) => Problem::PinFailed(why),
                    // The tally is filled in once every image has been judged.
                    PinError::OverBudget => Problem::PinBudget(Default::default()),
                };
                match settings.pin_failure_action {
                    PinFailureAction::Reject => found.add(problem, Action::Reject),
                    PinFailureAction::Warn => found.add(problem, Action::Warn),
                    PinFailureAction::Accept => {}
                }
            }
        }
    }

    // The pull policy, judged for the image as it leaves admission.
    let pull_action = match settings.pull_policy_action {
        PullPolicyAction::Mutate => Some(Action::SetAlways),
        PullPolicyAction::Reject => Some(Action::Reject),
        PullPolicyAction::Warn => Some(Action::Warn),
        PullPolicyAction::Ignore => None,
    };
    if let Some(action) = pull_action {
        let explicit = site.pull_policy.as_ref().map(Text::as_str);
        let (policy, defaulted) = judge::effective_pull_policy(explicit, Some(&final_image));
        let pinned = final_image.is_pinned();
        if judge::pull_policy_violates(settings, policy, pinned) {
            let problem = Problem::PullPolicy {
                policy: policy.to_owned(),
                defaulted,
                pin_would_do: settings.allow_if_not_present_when_pinned
                    && policy == "IfNotPresent"
                    && !pinned,
            };
            found.add(problem, action);
        }
    }

    // A judged image always has its value in the object (an absent one is invalid).
    let anchor = site.image_raw?;
    (!found.fields.is_empty()).then(|| Edit {
        pointer: site.pointer(shape),
        anchor,
        fields: found.fields,
    })
}
