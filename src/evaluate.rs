//! Evaluating one admission request, in steps that each return what they found:
//! - [`triage`]: what the request asks to judge ([`Subject`]), or nothing (an acceptance);
//! - [`Before`]: on UPDATE, what each named image was, so that unchanged ones are skipped;
//! - [`Judge::image`]: one judgement per image: exemption, tag, pin, pull policy and, in a
//!   Pod's audit, drift between the replicas of its controller, each step matching on the
//!   setting that decides what admission does about what it finds;
//! - [`Judge::route`]: the one router, from what admission does to rejections, warnings and
//!   field edits, or, in a background audit, to the audit's list;
//! - [`Judged::into_answer`]: the answer, with the edits spliced into the object's text.
//!
//! In a background audit the answer is one rejection that says what admission does about each
//! image, with no mutation and no registry lookup (docs/design.md, "Background audit").
//!
//! The replicas of a Pod's controller are listed through the host at most once per request,
//! and only by a step that needs them: a pin (`pinFromReplicas`) or, in an audit, drift
//! (docs/design.md, "Same bytes on every replica").

use std::borrow::Cow;
use std::collections::HashMap;

use kubewarden_policy_sdk::response::ValidationResponse;

use crate::host::Host;
use crate::mutate::{self, Edit, FieldEdit};
use crate::pin::{ManifestKind, PinError, Pinner, kept_pin, pinned_reference};
use crate::pods::{PodFacts, PodSpans};
use crate::podspec::{ImageEntry, ImageList, ObjectImages, PodSpecPath};
use crate::reference::ImageRef;
use crate::replicas::{self, Replicas};
use crate::request::{self, Object, Request};
use crate::response::{
    self, Answer, Context, Findings, PinRecord, PinSource, Problem, Remedy, Violation,
};
use crate::rules::{self, ExemptionKey, TagVerdict};
use crate::scan::Span;
use crate::settings::{self, MutableTagAction, PinFailureAction, PullPolicyAction, Settings};

/// The answer to a `validate` payload, as the bytes the host reads. Every input gets an
/// answer; none panics.
pub fn validate_bytes(payload: &[u8], host: &dyn Host) -> Vec<u8> {
    answer(payload, host).to_bytes()
}

/// The answer to a `validate` payload as a `ValidationResponse` (for tests: it is read back
/// from the bytes the host gets, so the mutated object is the one the host reads).
pub fn validate(payload: &[u8], host: &dyn Host) -> ValidationResponse {
    answer(payload, host).read_back()
}

/// Evaluates a `validate` payload.
pub fn answer(payload: &[u8], host: &dyn Host) -> Answer {
    judge(payload, host)
        .and_then(Judged::into_answer)
        .unwrap_or_else(|e| response::refuse(e).into())
}

/// For the tests' tree-based oracle: when admission edits the object, the object's JSON text
/// and the edits the answer splices into it.
pub fn mutation<'a>(payload: &'a [u8], host: &dyn Host) -> Option<(&'a [u8], Vec<Edit>)> {
    let m = judge(payload, host).ok()?.mutation?;
    Some((&payload[m.object.start..m.object.end], m.edits))
}

/// What judging a request came to.
struct Judged<'a> {
    findings: Findings,
    /// When admission edits the object (and does not reject it).
    mutation: Option<Mutation<'a>>,
}

/// The edits of an object, and where its text is.
struct Mutation<'a> {
    payload: &'a [u8],
    kind: Cow<'a, str>,
    object: Span,
    edits: Vec<Edit>,
}

impl Judged<'_> {
    fn into_answer(self) -> Result<Answer, String> {
        let mutated = self.mutation.map(|m| m.splice()).transpose()?;
        Ok(self.findings.answer(mutated))
    }
}

impl Mutation<'_> {
    /// The object's text with the edits spliced in. The reader may have skipped some of its
    /// bytes, so the text is checked for UTF-8 here.
    fn splice(&self) -> Result<Vec<u8>, String> {
        let text = &self.payload[self.object.start..self.object.end];
        std::str::from_utf8(text).map_err(|_| {
            format!(
                "the {} is not valid UTF-8, so it cannot be mutated",
                self.kind
            )
        })?;
        mutate::splice(self.payload, self.object, &self.edits)
    }
}

fn judge<'a>(payload: &'a [u8], host: &dyn Host) -> Result<Judged<'a>, String> {
    // The pin budget counts from here: the host's deadline counts the whole evaluation.
    let started = host.now();
    let read = request::read(payload)?;
    let settings = settings::cached(read.settings.unwrap_or(b"{}"))
        .map_err(|e| format!("invalid settings: {e}"))?;
    let request = read.request.ok_or("the payload has no request")?;
    let Some(subject) = triage(request)? else {
        return Ok(Judged {
            findings: Findings::default(),
            mutation: None,
        });
    };
    let before = Before::of(subject.old);
    let pinner = Pinner::new(host, started, settings.pin_budget);
    let mut judge = Judge {
        settings: &settings,
        audit: subject.audit,
        path: subject.path,
        host,
        pinner,
        payload,
        namespace: subject.namespace.as_deref(),
        pod_spans: subject.pod,
        pod: None,
        findings: Findings::default(),
        edits: Vec::new(),
    };
    for entry in &subject.images {
        match before.of_entry(entry) {
            Some(old) if old.image() == entry.image() && old.policy() == entry.pull_policy() => {}
            old => {
                let keep = settings.keep_pins_on_update;
                judge.image(entry, old.and_then(|o| o.image()).filter(|_| keep));
            }
        }
    }
    Ok(judge.finish(payload, subject.kind, subject.object))
}

/// What a request asks to judge: the images of its object.
struct Subject<'a> {
    kind: Cow<'a, str>,
    path: PodSpecPath,
    images: Vec<ImageEntry<'a>>,
    /// Where the object's text is.
    object: Span,
    /// The old object's images, on UPDATE.
    old: Option<ObjectImages<'a>>,
    /// Where a Pod's metadata and status are (nowhere for other kinds).
    pod: PodSpans,
    namespace: Option<Cow<'a, str>>,
    audit: bool,
}

/// The request's subject; `None` when there is nothing to judge (DELETE, CONNECT, a kind or
/// subresource without images this policy judges); an error for a request that cannot be
/// judged.
fn triage(request: Request<'_>) -> Result<Option<Subject<'_>>, String> {
    let audit = request.is_background_audit();
    let path = request.pod_spec_path();
    let Request {
        kind,
        namespace,
        operation,
        object,
        old_object,
        ..
    } = request;
    let operation = operation.unwrap_or_default();
    if matches!(&*operation, "DELETE" | "CONNECT") {
        return Ok(None);
    }
    let kind = kind.and_then(|k| k.kind).unwrap_or_default();
    if kind.is_empty() {
        return Err("the request has no kind".into());
    }
    let Some(path) = path else {
        return Ok(None);
    };
    let (images, pod, object) = object_images(object, path, &kind, &operation)?;
    let old = match old_object {
        Object::Read(read_as, old, _) if operation == "UPDATE" && read_as == path => Some(old),
        _ => None,
    };
    Ok(Some(Subject {
        kind,
        path,
        images,
        object,
        old,
        pod,
        namespace,
        audit,
    }))
}

/// The images of the request's object (read with the kind's pod spec path), where a Pod's
/// metadata and status are, and where its text is; an error for an object that is absent, of another kind,
/// or without a pod spec.
fn object_images<'a>(
    object: Object<'a>,
    path: PodSpecPath,
    kind: &str,
    operation: &str,
) -> Result<(Vec<ImageEntry<'a>>, PodSpans, Span), String> {
    let (found, span) = match object {
        Object::Read(read_as, images, span) if read_as == path => (images, span),
        Object::Absent => {
            return Err(format!(
                "the {operation} request for a {kind} has no object"
            ));
        }
        // The reader reads the object of every kind that has a pod spec path.
        _ => return Err(format!("the {kind} was not read")),
    };
    if let Some(k) = found.kind.filter(|k| k != kind) {
        return Err(format!(
            "the object is a {k} but the request is for a {kind}"
        ));
    }
    let images = found
        .images
        .ok_or_else(|| format!("the {kind} has no pod spec at {}", path.dotted()))?;
    Ok((images, found.pod, span))
}

/// An entry's image and pull policy as written (`None` when absent or `null`).
struct Written<'a> {
    image: Option<Cow<'a, str>>,
    pull_policy: Option<Cow<'a, str>>,
}

impl Written<'_> {
    fn image(&self) -> Option<&str> {
        self.image.as_deref()
    }

    fn policy(&self) -> Option<&str> {
        self.pull_policy.as_deref()
    }
}

/// On UPDATE, each named container's and image volume's image and pull policy in the old
/// object, by list and name. An entry whose image and pull policy did not change is neither
/// judged nor mutated.
struct Before<'a>(HashMap<(ImageList, Cow<'a, str>), Written<'a>>);

impl<'a> Before<'a> {
    fn of(old: Option<ObjectImages<'a>>) -> Self {
        let entries = old.and_then(|o| o.images).into_iter().flatten();
        Before(
            entries
                .filter_map(|e| {
                    let name = e.name.filter(|n| !n.is_empty())?;
                    let written = Written {
                        image: e.image.and_then(|f| f.value),
                        pull_policy: e.pull_policy.and_then(|f| f.value),
                    };
                    Some(((e.list, name), written))
                })
                .collect(),
        )
    }

    /// The same-named entry of the same list in the old object.
    fn of_entry<'o>(&'o self, entry: &'o ImageEntry<'_>) -> Option<&'o Written<'a>> {
        let name = entry.name();
        if name.is_empty() || self.0.is_empty() {
            return None;
        }
        // The keys borrow for `'a`; looked up by a name that borrows for `'o`.
        let by_name: &'o HashMap<(ImageList, Cow<'o, str>), Written<'a>> = &self.0;
        by_name.get(&(entry.list, Cow::Borrowed(name)))
    }
}

/// Judging the images of one request: the steps, and what they found so far.
struct Judge<'s, 'r, 'p> {
    settings: &'s Settings,
    audit: bool,
    path: PodSpecPath,
    host: &'r dyn Host,
    pinner: Pinner<'r>,
    payload: &'p [u8],
    namespace: Option<&'p str>,
    pod_spans: PodSpans,
    /// The judged Pod's metadata and status (empty for other kinds) and the replicas of its
    /// controller, once a step asks ([`Judge::pod`]).
    pod: Option<(PodFacts<'p>, Option<Replicas>)>,
    findings: Findings,
    edits: Vec<Edit>,
}

impl<'p> Judge<'_, '_, 'p> {
    /// The judged Pod's metadata and status, and its controller's replicas (to be listed), read
    /// the first time a step asks: most requests need neither.
    fn pod(&mut self) -> &mut (PodFacts<'p>, Option<Replicas>) {
        let (payload, spans, namespace) = (self.payload, self.pod_spans, self.namespace);
        self.pod.get_or_insert_with(|| {
            let facts = PodFacts::read(payload, spans);
            let replicas = Replicas::of(&facts, namespace);
            (facts, replicas)
        })
    }

    /// Judges one image: exemption and reference, tag (and pin), pull policy. `old_image`:
    /// the same entry's image in the old object, whose pin is kept (`keepPinsOnUpdate`).
    fn image(&mut self, entry: &ImageEntry<'_>, old_image: Option<&str>) {
        let written = entry.image().unwrap_or("");
        let Some(image) = self.reference(entry, written) else {
            return;
        };
        let mut fields = Vec::new();
        let pinned = self.tag_step(entry, &image, old_image, &mut fields);
        if let Some((problem, remedy)) = self.pull_policy_step(entry, &image, pinned) {
            self.route(entry, problem, remedy, &mut fields);
        }
        if self.audit {
            self.drift_step(entry, &image);
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

    /// Rule 1 and the reference: the image to judge; `None` when it is exempt, or invalid
    /// (which is rejected).
    fn reference(&mut self, entry: &ImageEntry<'_>, written: &str) -> Option<ImageRef> {
        let settings = self.settings;
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
            return None;
        }
        parsed
            .map_err(|e| {
                let problem = Problem::Invalid(e.to_string());
                self.route(entry, problem, Remedy::Reject, &mut Vec::new());
            })
            .ok()
    }

    /// Rules 2–6, and what `mutableTagAction` (or `pinImmutableTags`) does about the tag.
    /// Whether the image leaves admission pinned (in an audit: would leave it).
    fn tag_step(
        &mut self,
        entry: &ImageEntry<'_>,
        image: &ImageRef,
        old_image: Option<&str>,
        fields: &mut Vec<FieldEdit>,
    ) -> bool {
        let verdict = rules::judge_tag(self.settings, image);
        let remedy = match self.settings.mutable_tag_action {
            _ if !verdict.is_mutable() => None,
            MutableTagAction::Reject => Some(Remedy::Reject),
            MutableTagAction::Warn => Some(Remedy::Warn),
            MutableTagAction::Pin => Some(Remedy::Pin),
        };
        let pin_immutable = verdict == TagVerdict::Immutable && self.settings.pin_immutable_tags;
        match remedy {
            Some(Remedy::Pin) => self.pin_step(entry, verdict, old_image, fields),
            None if pin_immutable => self.pin_step(entry, verdict, old_image, fields),
            Some(remedy) => {
                self.route(entry, Problem::Tag(verdict), remedy, fields);
                false
            }
            None => image.is_pinned(),
        }
    }

    /// Pins the image (sticky pin or lookup) and writes it; a failure goes by
    /// `pinFailureAction`. Whether it was pinned. An audit asks no registry: it reports that
    /// admission pins the image.
    fn pin_step(
        &mut self,
        entry: &ImageEntry<'_>,
        verdict: TagVerdict,
        old_image: Option<&str>,
        fields: &mut Vec<FieldEdit>,
    ) -> bool {
        if self.audit {
            self.route(entry, Problem::Tag(verdict), Remedy::Pin, fields);
            return true;
        }
        let written = entry.image().unwrap_or("");
        match self.pin(entry, written, old_image) {
            Ok(pinned) => {
                fields.push(FieldEdit {
                    key: entry.list.image_key(),
                    current: entry.image.as_ref().map(|f| f.span),
                    new: pinned,
                });
                true
            }
            Err(problem) => {
                let remedy = match self.settings.pin_failure_action {
                    PinFailureAction::Reject => Remedy::Reject,
                    PinFailureAction::Warn => Remedy::Warn,
                    PinFailureAction::Accept => return false,
                };
                self.route(entry, problem, remedy, fields);
                false
            }
        }
    }

    /// The pinned reference of `written` (recorded for the audit log): the old object's pin
    /// when it is exactly this reference plus a digest (sticky pin), else the digest the
    /// controller's other replicas run (`pinFromReplicas`), else a lookup.
    fn pin(
        &mut self,
        entry: &ImageEntry<'_>,
        written: &str,
        old_image: Option<&str>,
    ) -> Result<String, Problem> {
        let kept = old_image.and_then(|old| Some((kept_pin(written, old)?, old)));
        let (digest, pinned, source) = match kept {
            Some((digest, old)) => (digest.to_owned(), old.to_owned(), PinSource::Kept),
            None => {
                let (digest, source) = match self.replicas_pin(entry, written) {
                    Some(digest) => (digest, PinSource::Replicas),
                    None => {
                        let digest = self.pinner.digest(written).map_err(|e| match e {
                            PinError::OverBudget => Problem::PinBudget,
                            PinError::Failed(why) => self.pin_failed(entry, written, why),
                        })?;
                        (digest, PinSource::Registry)
                    }
                };
                let pinned = pinned_reference(written, &digest)
                    .map_err(|why| self.pin_failed(entry, written, why))?;
                (digest, pinned, source)
            }
        };
        self.findings.pins.push(PinRecord {
            list: entry.list.key(),
            index: entry.index,
            written: written.to_owned(),
            digest,
            source,
        });
        Ok(pinned)
    }

    /// The digest the other replicas of the Pod's controller hold for this container: a pin
    /// they run; else, a digest they run unpinned that the registry shows is not one
    /// platform's manifest of an index ([`Judge::safe_to_pin`]). `None`: ask the registry.
    /// Image volumes have no running digest in a Pod's status, so they are never pinned so.
    fn replicas_pin(&mut self, entry: &ImageEntry<'_>, written: &str) -> Option<String> {
        if !self.settings.pin_from_replicas || entry.list == ImageList::Volumes {
            return None;
        }
        let host = self.host;
        let replicas = self.pod().1.as_mut()?;
        let controller = replicas.controller.clone();
        let listed = replicas.list(host);
        let (list, name) = (entry.list, entry.name());
        if let Some(held) = replicas::held_pin(listed, list, name, written, &controller) {
            return Some(held);
        }
        let running = replicas::running_unpinned(listed, list, name, written)?;
        self.safe_to_pin(written, &running).then_some(running)
    }

    /// Whether a digest that replicas run unpinned may be pinned: CRI-O reports the digest of
    /// the platform manifest it pulled from an index, and pinning that would leave nodes of
    /// another platform unable to run the image. It is safe when the registry serves an index
    /// for it, or an image manifest while the tag, too, names one image manifest (an image of
    /// one platform). The lookups count against the pin budget.
    fn safe_to_pin(&mut self, written: &str, digest: &str) -> bool {
        let Ok(pinned) = pinned_reference(written, digest) else {
            return false;
        };
        let safe = match self.pinner.manifest_kind(&pinned) {
            Ok(ManifestKind::Index) => Ok(true),
            Ok(ManifestKind::Image) => self
                .pinner
                .manifest_kind(written)
                .map(|tag| tag == ManifestKind::Image),
            Err(e) => Err(e),
        };
        match safe {
            Ok(true) => true,
            Ok(false) => {
                crate::log::info(&format!(
                    "{written:?}: the replicas run {digest}, one platform's manifest of the \
                     tag's index, so the tag's digest is looked up"
                ));
                false
            }
            Err(e) => {
                crate::log::info(&format!(
                    "{written:?}: the replicas run {digest}, which could not be checked ({e:?}), \
                     so the tag's digest is looked up"
                ));
                false
            }
        }
    }

    /// In a Pod's audit, drift: the controller's replicas (this Pod among them) running more
    /// than one digest of this image's reference as written, whatever else the settings allow.
    /// Only for a reference with a tag; a digest alone cannot drift.
    fn drift_step(&mut self, entry: &ImageEntry<'_>, image: &ImageRef) {
        if image.effective_tag().is_none() || entry.list == ImageList::Volumes {
            return;
        }
        let host = self.host;
        let (facts, replicas) = self.pod();
        let Some(replicas) = replicas.as_mut() else {
            return;
        };
        let controller = replicas.controller.clone();
        let listed = replicas.list(host);
        let (list, name) = (entry.list, entry.name());
        let own = (
            facts.meta.name.as_deref().unwrap_or(""),
            facts.running(list, name),
        );
        let written = entry.image().unwrap_or("");
        if let Some(drift) = replicas::drift(own, listed, list, name, written, &controller) {
            self.route(
                entry,
                Problem::Drift(drift),
                Remedy::Report,
                &mut Vec::new(),
            );
        }
    }

    /// A failed lookup: logged, and the problem it is.
    fn pin_failed(&self, entry: &ImageEntry<'_>, written: &str, why: String) -> Problem {
        let place = entry.place(self.path);
        crate::log::warn(&format!("{place} image {written:?}: not pinned: {why}"));
        Problem::PinFailed(why)
    }

    /// The pull policy, judged for the image as it leaves admission (`pinned`), and what
    /// `pullPolicyAction` does about it.
    fn pull_policy_step(
        &self,
        entry: &ImageEntry<'_>,
        image: &ImageRef,
        pinned: bool,
    ) -> Option<(Problem, Remedy)> {
        let remedy = match self.settings.pull_policy_action {
            PullPolicyAction::Mutate => Remedy::SetAlways,
            PullPolicyAction::Reject => Remedy::Reject,
            PullPolicyAction::Warn => Remedy::Warn,
            PullPolicyAction::Ignore => return None,
        };
        let (policy, defaulted) = rules::effective_pull_policy(entry.pull_policy(), image, pinned);
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
        Some((problem, remedy))
    }

    /// Routes one problem by what admission does about it: at admission into rejections,
    /// warnings and field edits; in a background audit into the audit's list, with nothing
    /// edited. Admission's pins are written by the pin step, which routes one only in an
    /// audit.
    fn route(
        &mut self,
        entry: &ImageEntry<'_>,
        problem: Problem,
        remedy: Remedy,
        fields: &mut Vec<FieldEdit>,
    ) {
        let running = match self.audit {
            true => self
                .pod()
                .0
                .running(entry.list, entry.name())
                .map(str::to_owned),
            false => None,
        };
        let violation = || Violation {
            place: entry.place(self.path),
            name: entry.name().to_owned(),
            image: entry.image().unwrap_or("").to_owned(),
            volume: entry.list == ImageList::Volumes,
            running,
            problem,
        };
        match remedy {
            _ if self.audit => self.findings.audit.push((violation(), remedy)),
            Remedy::Reject => self.findings.rejections.push(violation()),
            Remedy::Warn => self.findings.warnings.push(violation()),
            Remedy::SetAlways => fields.push(FieldEdit {
                key: entry.list.pull_policy_key(),
                current: entry.pull_policy.as_ref().map(|f| f.span),
                new: "Always".to_owned(),
            }),
            Remedy::Pin | Remedy::Report => {}
        }
    }

    /// What was found, with the request's pin tally; the edits, unless the request is
    /// rejected. When the pin budget ran out, logs how far pinning got and, with `warn`, adds
    /// a warning that says so.
    fn finish<'a>(mut self, payload: &'a [u8], kind: Cow<'a, str>, object: Span) -> Judged<'a> {
        let tally = self.pinner.tally();
        if tally.over_budget > 0 {
            let summary = format!(
                "{} of {} images pinned within the {} ms pin budget",
                tally.resolved, tally.wanted, tally.budget_ms
            );
            crate::log::warn(&summary);
            if self.settings.pin_failure_action == PinFailureAction::Warn {
                self.findings
                    .notes
                    .push(format!("{summary}; retry to pin the rest"));
            }
        }
        self.findings.context = Context { pins: tally };
        let edited = !self.findings.rejects() && !self.edits.is_empty();
        let mutation = edited.then_some(Mutation {
            payload,
            kind,
            object,
            edits: self.edits,
        });
        Judged {
            findings: self.findings,
            mutation,
        }
    }
}
