//! Evaluating one admission request: read the payload, find the images, judge each in steps
//! (exemption, tag, pin, pull policy), route what each step finds by the configured action,
//! and write the answer (reject, warn, mutate or accept). In a background audit the answer is
//! one rejection that says what admission does about each image, with no mutation and no
//! registry lookup (docs/design.md, "Background audit").

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

use kubewarden_policy_sdk::response::ValidationResponse;

use crate::mutate::{self, Edit, FieldEdit};
use crate::pin::{DigestResolver, PinError, Pinner, kept_pin, pinned_reference};
use crate::podspec::{ImageEntry, ImageList, ObjectImages, PodSpecPath};
use crate::reference::ImageRef;
use crate::request::{self, Object, Request};
use crate::response::{self, Action, Answer, PinRecord, Problem, Verdict, Violation};
use crate::rules::{self, ExemptionKey, TagVerdict};
use crate::settings::{self, MutableTagAction, PinFailureAction, PullPolicyAction, Settings};

/// The answer to a `validate` payload, as the bytes the host reads. Every input gets an
/// answer; none panics.
pub fn validate_bytes(payload: &[u8], resolver: &dyn DigestResolver) -> Vec<u8> {
    answer(payload, resolver).to_bytes()
}

/// The answer to a `validate` payload as a `ValidationResponse` (for tests: it is read back
/// from the bytes the host gets, so the mutated object is the one the host reads).
pub fn validate(payload: &[u8], resolver: &dyn DigestResolver) -> ValidationResponse {
    answer(payload, resolver).read_back()
}

/// Evaluates a `validate` payload.
pub fn answer<'a>(payload: &'a [u8], resolver: &dyn DigestResolver) -> Answer<'a> {
    evaluate(payload, resolver).unwrap_or_else(|e| response::refuse(e).into())
}

fn evaluate<'a>(payload: &'a [u8], resolver: &dyn DigestResolver) -> Result<Answer<'a>, String> {
    // The pin budget counts from here: the host's deadline counts the whole evaluation.
    let started = resolver.now();
    let read = request::read(payload)?;
    let settings = settings::cached(read.settings.unwrap_or(b"{}"))
        .map_err(|e| format!("invalid settings: {e}"))?;
    let request = read.request.ok_or("the payload has no request")?;
    judge_request(payload, &settings, request, resolver, started)
}

fn judge_request<'a>(
    payload: &'a [u8],
    settings: &Settings,
    request: Request<'a>,
    resolver: &dyn DigestResolver,
    started: Instant,
) -> Result<Answer<'a>, String> {
    let audit = request.is_background_audit();
    let path = request.pod_spec_path();
    let Request {
        kind: gvk,
        operation,
        object,
        old_object,
        ..
    } = request;
    let operation = operation.as_deref().unwrap_or("");
    if matches!(operation, "DELETE" | "CONNECT") {
        return Ok(response::accept().into());
    }
    let kind = gvk.as_ref().and_then(|k| k.kind.as_deref()).unwrap_or("");
    if kind.is_empty() {
        return Err("the request has no kind".into());
    }
    let Some(path) = path else {
        return Ok(response::accept().into());
    };
    let (found, object) = match object {
        Object::Read(read_as, images, span) if read_as == path => (images, span),
        Object::Absent => {
            return Err(format!(
                "the {operation} request for a {kind} has no object"
            ));
        }
        // The reader reads the object of every kind that has a pod spec path.
        _ => return Err(format!("the {kind} was not read")),
    };
    if let Some(k) = &found.kind
        && k != kind
    {
        return Err(format!(
            "the object is a {k} but the request is for a {kind}"
        ));
    }
    let images = found
        .images
        .ok_or_else(|| format!("the {kind} has no pod spec at {}", path.dotted()))?;
    let old = match (operation, old_object) {
        ("UPDATE", Object::Read(read_as, old, _)) if read_as == path => previous_images(old),
        _ => Previous::new(),
    };

    let mut judge = Judge {
        settings,
        audit,
        path,
        pinner: Pinner::new(resolver, started, settings.pin_budget),
        verdict: Verdict::default(),
        edits: Vec::new(),
    };
    for entry in &images {
        let previous = old_entry(&old, entry);
        if previous.is_some_and(|(image, policy)| {
            image.as_deref() == entry.image() && policy.as_deref() == entry.pull_policy()
        }) {
            continue;
        }
        let old_image = previous
            .filter(|_| settings.keep_pins_on_update)
            .and_then(|(image, _)| image.as_deref());
        judge.image(entry, old_image);
    }
    judge.report_budget();
    let Judge {
        mut verdict, edits, ..
    } = judge;
    if !verdict.rejections.is_empty() || edits.is_empty() {
        return Ok(verdict.answer());
    }
    // The object's text, as the reader found it: bytes it may have skipped, so checked for
    // UTF-8 here.
    let text = &payload[object.start..object.end];
    std::str::from_utf8(text)
        .map_err(|_| format!("the {kind} is not valid UTF-8, so it cannot be mutated"))?;
    verdict.mutated = Some(mutate::splice(payload, object, &edits)?);
    Ok(Answer {
        object: Some(text),
        edits,
        ..verdict.answer()
    })
}

/// An entry's image and pull policy, as written (`None` when absent or `null`).
type ImageAndPolicy<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>);

/// Image and pull policy of each named container and image volume of the old object, by
/// list and name, borrowed from the request.
type Previous<'a> = HashMap<(ImageList, Cow<'a, str>), ImageAndPolicy<'a>>;

/// Images and pull policies of the old object, by list and name.
fn previous_images(old: ObjectImages<'_>) -> Previous<'_> {
    old.images
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let image = e.image.and_then(|f| f.value);
            let policy = e.pull_policy.and_then(|f| f.value);
            let name = e.name.filter(|n| !n.is_empty())?;
            Some(((e.list, name), (image, policy)))
        })
        .collect()
}

/// The same-named entry of the same list in the old object (UPDATE only). When its image and
/// pull policy equal the new ones, the entry is neither judged nor mutated.
fn old_entry<'o>(
    old: &'o Previous<'o>,
    entry: &'o ImageEntry<'_>,
) -> Option<&'o ImageAndPolicy<'o>> {
    let name = entry.name();
    if name.is_empty() {
        return None;
    }
    old.get(&(entry.list, Cow::Borrowed(name)))
}

/// What the configured action for mutable tags does about one.
fn tag_action(action: MutableTagAction) -> Action {
    match action {
        MutableTagAction::Reject => Action::Reject,
        MutableTagAction::Warn => Action::Warn,
        MutableTagAction::Pin => Action::Pin,
    }
}

/// What the configured action for a failed pin does about it; `None`: accept it silently.
fn pin_failure_action(action: PinFailureAction) -> Option<Action> {
    match action {
        PinFailureAction::Reject => Some(Action::Reject),
        PinFailureAction::Warn => Some(Action::Warn),
        PinFailureAction::Accept => None,
    }
}

/// What the configured action for a pull policy other than Always does about it.
fn pull_policy_action(action: PullPolicyAction) -> Option<Action> {
    match action {
        PullPolicyAction::Mutate => Some(Action::SetAlways),
        PullPolicyAction::Reject => Some(Action::Reject),
        PullPolicyAction::Warn => Some(Action::Warn),
        PullPolicyAction::Ignore => None,
    }
}

/// Judging the images of one request: the steps, and what they found so far.
struct Judge<'s, 'r> {
    settings: &'s Settings,
    audit: bool,
    path: PodSpecPath,
    pinner: Pinner<'r>,
    verdict: Verdict,
    edits: Vec<Edit>,
}

/// The tag step's finding, and whether admission pins the image.
struct TagFinding {
    verdict: TagVerdict,
    action: Option<Action>,
    pin: bool,
}

impl Judge<'_, '_> {
    /// Judges one image: exemption, tag, pin, pull policy; each step's finding goes to
    /// [`Judge::route`].
    fn image(&mut self, entry: &ImageEntry<'_>, old_image: Option<&str>) {
        let settings = self.settings;
        let written = entry.image().unwrap_or("");
        let parsed = ImageRef::parse(written);
        let container = entry.list.container_type().map(|t| (entry.name(), t));
        let normalized = match (&parsed, settings.exempt_images.is_empty()) {
            (Ok(image), false) => Some(image.normalized()),
            _ => None,
        };
        let key = match (&normalized, &parsed) {
            (Some(n), _) => Some(ExemptionKey::Normalized(n)),
            (None, Err(_)) => Some(ExemptionKey::Invalid(written)),
            (None, Ok(_)) => None,
        };
        if rules::is_exempt(settings, key, container) {
            return;
        }
        let mut fields = Vec::new();
        let mut image = match parsed {
            Ok(image) => image,
            Err(e) => {
                self.route(
                    entry,
                    Problem::Invalid(e.to_string()),
                    Action::Reject,
                    &mut fields,
                );
                return;
            }
        };
        let tag = self.tag_step(&image);
        if let Some(action) = tag.action.filter(|a| *a != Action::Pin) {
            self.route(
                entry,
                Problem::Tag(tag.verdict.clone()),
                action,
                &mut fields,
            );
        }
        if tag.pin {
            let digest = self.pin_step(entry, written, tag.verdict, old_image, &mut fields);
            image.digest = digest.or(image.digest);
        }
        if let Some((problem, action)) = self.pull_policy_step(entry, &image) {
            self.route(entry, problem, action, &mut fields);
        }
        // A judged image always has its value in the object (an absent one is invalid).
        if let (false, Some(image)) = (fields.is_empty(), &entry.image) {
            self.edits.push(Edit {
                pointer: entry.pointer(self.path),
                after_image: image.span.end,
                fields,
            });
        }
    }

    /// Rules 2–6, and whether admission pins the image (a mutable tag in pin mode, or an
    /// immutable one with `pinImmutableTags`).
    fn tag_step(&self, image: &ImageRef) -> TagFinding {
        let verdict = rules::judge_tag(self.settings, image);
        let action = verdict
            .is_mutable()
            .then(|| tag_action(self.settings.mutable_tag_action));
        let pin = action == Some(Action::Pin)
            || (verdict == TagVerdict::Immutable && self.settings.pin_immutable_tags);
        TagFinding {
            verdict,
            action,
            pin,
        }
    }

    /// The digest the image is pinned to; `None` when the pin failed (routed by
    /// `pinFailureAction`). An audit asks no registry: it reports that admission pins the
    /// image, and gives an empty digest, since only its presence plays a part in what follows.
    fn pin_step(
        &mut self,
        entry: &ImageEntry<'_>,
        written: &str,
        verdict: TagVerdict,
        old_image: Option<&str>,
        fields: &mut Vec<FieldEdit>,
    ) -> Option<String> {
        if self.audit {
            self.route(entry, Problem::Tag(verdict), Action::Pin, fields);
            return Some(String::new());
        }
        // Sticky pin: the old object has exactly this reference plus a digest.
        let kept = old_image.and_then(|old| kept_pin(written, old).map(|d| (d, old)));
        let lookup = match kept {
            Some((digest, old)) => Ok((digest.to_owned(), old.to_owned())),
            None => self.pinner.digest(written).and_then(|d| {
                pinned_reference(written, &d)
                    .map(|p| (d, p))
                    .map_err(PinError::Failed)
            }),
        };
        match lookup {
            Ok((digest, pinned)) => {
                self.verdict.pins.push(PinRecord {
                    list: entry.list.key(),
                    index: entry.index,
                    written: written.to_owned(),
                    digest: digest.clone(),
                    kept: kept.is_some(),
                });
                fields.push(FieldEdit {
                    key: entry.list.image_key(),
                    current: entry.image.as_ref().map(|f| f.span),
                    new: pinned,
                });
                Some(digest)
            }
            Err(why) => {
                let problem = match why {
                    PinError::Failed(why) => {
                        crate::log::warn(&format!(
                            "{} image {written:?}: not pinned: {why}",
                            entry.place(self.path)
                        ));
                        Problem::PinFailed(why)
                    }
                    // The tally is filled in once every image has been judged.
                    PinError::OverBudget => Problem::PinBudget(Default::default()),
                };
                if let Some(action) = pin_failure_action(self.settings.pin_failure_action) {
                    self.route(entry, problem, action, fields);
                }
                None
            }
        }
    }

    /// The pull policy, judged for the image as it leaves admission.
    fn pull_policy_step(
        &self,
        entry: &ImageEntry<'_>,
        image: &ImageRef,
    ) -> Option<(Problem, Action)> {
        let action = pull_policy_action(self.settings.pull_policy_action)?;
        let pinned = image.is_pinned();
        let (policy, defaulted) = rules::effective_pull_policy(entry.pull_policy(), Some(image));
        if !rules::pull_policy_violates(self.settings, policy, pinned) {
            return None;
        }
        let problem = Problem::PullPolicy {
            policy: policy.to_owned(),
            defaulted,
            pin_would_do: self.settings.allow_if_not_present_when_pinned
                && policy == "IfNotPresent"
                && !pinned,
        };
        Some((problem, action))
    }

    /// Routes one finding by what admission does about it: at admission into rejections,
    /// warnings and field edits; in a background audit every one goes into the audit's list,
    /// and nothing is edited. Admission's pins are written by the pin step.
    fn route(
        &mut self,
        entry: &ImageEntry<'_>,
        problem: Problem,
        action: Action,
        fields: &mut Vec<FieldEdit>,
    ) {
        let violation = || Violation {
            place: entry.place(self.path),
            name: entry.name().to_owned(),
            image: entry.image().unwrap_or("").to_owned(),
            volume: entry.list == ImageList::Volumes,
            problem,
        };
        match action {
            _ if self.audit => self.verdict.audit.push((violation(), action)),
            Action::Reject => self.verdict.rejections.push(violation()),
            Action::Warn => self.verdict.warnings.push(violation()),
            Action::SetAlways => fields.push(FieldEdit {
                key: entry.list.pull_policy_key(),
                current: entry.pull_policy.as_ref().map(|f| f.span),
                new: "Always".to_owned(),
            }),
            Action::Pin => {}
        }
    }

    /// Completes the pin-budget violations with the request's tally, logs it, and with `warn`
    /// adds one warning that says how far pinning got and what to do.
    fn report_budget(&mut self) {
        let tally = self.pinner.tally();
        if tally.over_budget == 0 {
            return;
        }
        let verdict = &mut self.verdict;
        for v in verdict
            .rejections
            .iter_mut()
            .chain(verdict.warnings.iter_mut())
        {
            if let Problem::PinBudget(t) = &mut v.problem {
                *t = tally;
            }
        }
        let summary = format!(
            "{} of {} images pinned within the {} ms pin budget",
            tally.resolved, tally.wanted, tally.budget_ms
        );
        crate::log::warn(&summary);
        if self.settings.pin_failure_action == PinFailureAction::Warn {
            verdict
                .notes
                .push(format!("{summary}; retry to pin the rest"));
        }
    }
}
