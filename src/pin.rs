//! Pinning tags to digests through the host capabilities `oci/v1/manifest_digest` and
//! `oci/v1/oci_manifest`, within a time budget the policy measures itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::host::Host;
use crate::podspec::read_text;
use crate::reference::check_digest;
use crate::scan::{Scanner, json_fields};

/// Why an image has no digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinError {
    /// The lookup failed; the text says why.
    Failed(String),
    /// The budget was spent (or the next lookup would overrun it), so it was not looked up.
    OverBudget,
}

/// How the lookups of one request went, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PinTally {
    pub budget_ms: u64,
    /// Distinct references a digest was wanted for.
    pub wanted: usize,
    /// Of those, how many got one.
    pub resolved: usize,
    /// Of those, how many were not looked up because the budget was spent.
    pub over_budget: usize,
}

/// Resolves each distinct image once per request, checks what the host answered, and starts
/// no lookup once the budget is spent, nor one that would end past it at the pace of the
/// slowest lookup of this request so far.
pub struct Pinner<'r> {
    host: &'r dyn Host,
    resolved: HashMap<String, Result<String, PinError>>,
    /// What `oci/v1/oci_manifest` answered, by reference.
    manifests: HashMap<String, Result<ManifestKind, PinError>>,
    started: Instant,
    budget: Duration,
    slowest: Duration,
}

impl<'r> Pinner<'r> {
    /// A pinner whose budget counts from `started` (when the request began to be judged).
    pub fn new(host: &'r dyn Host, started: Instant, budget: Duration) -> Self {
        Pinner {
            host,
            resolved: HashMap::new(),
            manifests: HashMap::new(),
            started,
            budget,
            slowest: Duration::ZERO,
        }
    }

    /// The digest for `image`, or why there is none. A malformed digest from the host is a
    /// failure, never a rewrite to a bad image.
    pub fn digest(&mut self, image: &str) -> Result<String, PinError> {
        if let Some(r) = self.resolved.get(image) {
            return r.clone();
        }
        let answer = self.within_budget(|host| {
            host.manifest_digest(image).and_then(|d| {
                check_digest(&d)
                    .map(|()| d.clone())
                    .map_err(|e| format!("the host answered a malformed digest {d:?}: {e}"))
            })
        });
        self.resolved.insert(image.to_owned(), answer.clone());
        answer
    }

    /// Whether the registry serves an index or an image manifest for `image`
    /// (`oci/v1/oci_manifest`), within the same budget as the digests (it is not counted among
    /// the images wanted).
    pub fn manifest_kind(&mut self, image: &str) -> Result<ManifestKind, PinError> {
        if let Some(r) = self.manifests.get(image) {
            return r.clone();
        }
        let answer = self.within_budget(|host| {
            let manifest = host.oci_manifest(image)?;
            ManifestKind::of(&manifest).ok_or_else(|| {
                "the host answered what is neither an image manifest nor an index".to_owned()
            })
        });
        self.manifests.insert(image.to_owned(), answer.clone());
        answer
    }

    /// Makes one lookup unless the budget is spent, or the lookup would end past it at the
    /// pace of the slowest lookup of this request so far.
    fn within_budget<T>(
        &mut self,
        lookup: impl FnOnce(&dyn Host) -> Result<T, String>,
    ) -> Result<T, PinError> {
        let now = self.host.now();
        let spent = now.saturating_duration_since(self.started);
        if spent >= self.budget || spent + self.slowest > self.budget {
            return Err(PinError::OverBudget);
        }
        let answer = lookup(self.host);
        let took = self.host.now().saturating_duration_since(now);
        self.slowest = self.slowest.max(took);
        answer.map_err(PinError::Failed)
    }

    /// How the lookups went so far.
    pub fn tally(&self) -> PinTally {
        let count = |f: fn(&Result<String, PinError>) -> bool| {
            self.resolved.values().filter(|r| f(r)).count()
        };
        PinTally {
            budget_ms: u64::try_from(self.budget.as_millis()).unwrap_or(u64::MAX),
            wanted: self.resolved.len(),
            resolved: count(Result::is_ok),
            over_budget: count(|r| matches!(r, Err(PinError::OverBudget))),
        }
    }
}

/// What a registry serves for a reference: an index (of platform manifests) or one image
/// manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Index,
    Image,
}

json_fields!(ManifestField {
    MediaType = "mediaType",
    Manifests = "manifests",
    Layers = "layers",
});

impl ManifestKind {
    /// Reads the host's answer to `oci/v1/oci_manifest`: its `mediaType` when it names an
    /// index or a manifest (OCI's and Docker's), else an index by its `manifests`, an image
    /// manifest by its `layers`; `None` for anything else.
    pub fn of(manifest: &[u8]) -> Option<ManifestKind> {
        let mut s = Scanner::new(manifest);
        let (mut media_type, mut manifests, mut layers) = (None, false, false);
        s.fields(|s, field| {
            match field {
                ManifestField::MediaType => media_type = read_text(s)?,
                ManifestField::Manifests => manifests = !s.null()? && s.skip().is_ok(),
                ManifestField::Layers => layers = !s.null()? && s.skip().is_ok(),
            }
            Ok(())
        })
        .ok()?;
        match media_type.as_deref() {
            Some(t) if t.ends_with("index.v1+json") || t.ends_with("manifest.list.v2+json") => {
                Some(ManifestKind::Index)
            }
            Some(t) if t.ends_with("manifest.v1+json") || t.ends_with("manifest.v2+json") => {
                Some(ManifestKind::Image)
            }
            _ if manifests && !layers => Some(ManifestKind::Index),
            _ if layers && !manifests => Some(ManifestKind::Image),
            _ => None,
        }
    }
}

/// `<reference as written>@<digest>`: the tag stays for people, the digest decides. Never a
/// reference this policy would refuse on the next admission (one past the length limit).
pub fn pinned_reference(written: &str, digest: &str) -> Result<String, String> {
    let pinned = format!("{written}@{digest}");
    match crate::reference::ImageRef::parse(&pinned) {
        Ok(_) => Ok(pinned),
        Err(e) => Err(format!("the pinned reference would be invalid: {e}")),
    }
}

/// Sticky pins: the digest of `old` when it is exactly `written` plus `@<digest>` (a valid
/// digest), so that re-applying the unpinned reference keeps the pin without a lookup.
pub fn kept_pin<'o>(written: &str, old: &'o str) -> Option<&'o str> {
    let digest = old.strip_prefix(written)?.strip_prefix('@')?;
    check_digest(digest).ok().map(|()| digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    /// A host whose every lookup takes `each` of simulated time.
    struct Counting {
        answer: Result<String, String>,
        calls: RefCell<Vec<String>>,
        start: Instant,
        clock: Cell<Duration>,
        each: Duration,
    }
    impl Counting {
        fn new(answer: Result<&str, &str>, each_ms: u64) -> Self {
            Counting {
                answer: answer.map(str::to_owned).map_err(str::to_owned),
                calls: RefCell::new(vec![]),
                start: Instant::now(),
                clock: Cell::new(Duration::ZERO),
                each: Duration::from_millis(each_ms),
            }
        }
        fn pinner(&self, budget_ms: u64) -> Pinner<'_> {
            Pinner::new(self, self.start, Duration::from_millis(budget_ms))
        }
    }
    impl Host for Counting {
        fn manifest_digest(&self, image: &str) -> Result<String, String> {
            self.calls.borrow_mut().push(image.to_owned());
            self.clock.set(self.clock.get() + self.each);
            self.answer.clone()
        }
        fn now(&self) -> Instant {
            self.start + self.clock.get()
        }
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn each_image_is_resolved_once() {
        let r = Counting::new(Ok(D), 0);
        let mut p = r.pinner(900);
        assert_eq!(p.digest("nginx:1").unwrap(), D);
        assert_eq!(p.digest("nginx:1").unwrap(), D);
        assert_eq!(p.digest("redis:7").unwrap(), D);
        assert_eq!(*r.calls.borrow(), vec!["nginx:1", "redis:7"]);
        assert_eq!(
            p.tally(),
            PinTally {
                budget_ms: 900,
                wanted: 2,
                resolved: 2,
                over_budget: 0
            }
        );
    }

    #[rstest::rstest]
    #[case::empty("")]
    #[case::short("sha256:abc")]
    #[case::unsupported_algorithm("md5:0123")]
    #[case::prose("not a digest")]
    #[case::uppercase(&D.to_uppercase())]
    fn malformed_digests_are_failures(#[case] bad: &str) {
        let r = Counting::new(Ok(bad), 0);
        let Err(PinError::Failed(e)) = r.pinner(900).digest("nginx:1") else {
            panic!("{bad} should fail");
        };
        assert!(e.starts_with("the host answered a malformed digest"), "{e}");
    }

    #[test]
    fn failures_are_remembered_too() {
        let r = Counting::new(Err("registry down"), 0);
        let mut p = r.pinner(900);
        let down = Err(PinError::Failed("registry down".into()));
        assert_eq!(p.digest("a:1"), down);
        assert_eq!(p.digest("a:1"), down);
        assert_eq!(r.calls.borrow().len(), 1);
        assert_eq!(p.tally().resolved, 0);
    }

    #[test]
    fn no_lookup_starts_that_would_end_past_the_budget() {
        // 300 ms a lookup (two round trips to a registry 150 ms away), 900 ms budget:
        // lookups at 0, 300 and 600 ms end by 900; a fourth would end at 1200.
        let r = Counting::new(Ok(D), 300);
        let mut p = r.pinner(900);
        let got: Vec<_> = (0..10).map(|i| p.digest(&format!("app{i}:1"))).collect();
        assert!(got[..3].iter().all(Result::is_ok), "{got:?}");
        assert!(got[3..].iter().all(|g| *g == Err(PinError::OverBudget)));
        assert_eq!(r.calls.borrow().len(), 3);
        assert_eq!(
            p.tally(),
            PinTally {
                budget_ms: 900,
                wanted: 10,
                resolved: 3,
                over_budget: 7
            }
        );
        // A lookup slower than the whole budget is still tried once (the first has no pace).
        let slow = Counting::new(Ok(D), 5000);
        let mut p = slow.pinner(900);
        assert!(p.digest("a:1").is_ok());
        assert_eq!(p.digest("b:1"), Err(PinError::OverBudget));
    }

    #[test]
    fn a_spent_budget_starts_nothing() {
        let r = Counting::new(Ok(D), 0);
        r.clock.set(Duration::from_millis(900));
        assert_eq!(r.pinner(900).digest("a:1"), Err(PinError::OverBudget));
        assert!(r.calls.borrow().is_empty());
    }

    #[test]
    fn pinned_reference_keeps_the_tag() {
        assert_eq!(
            pinned_reference("nginx:1.25", D).unwrap(),
            format!("nginx:1.25@{D}")
        );
        assert_eq!(
            pinned_reference("localhost:5000/app", D).unwrap(),
            format!("localhost:5000/app@{D}")
        );
        let long = format!("{}.example.com/app:1", "r".repeat(980));
        assert!(
            pinned_reference(&long, D)
                .unwrap_err()
                .contains("would be invalid")
        );
    }

    #[test]
    fn kept_pins_are_exactly_the_reference_plus_a_digest() {
        assert_eq!(kept_pin("app:1.0", &format!("app:1.0@{D}")), Some(D));
        assert_eq!(kept_pin("app", &format!("app@{D}")), Some(D));
    }

    #[rstest::rstest]
    #[case::another_tag(&format!("app:1.1@{D}"))]
    #[case::a_longer_tag(&format!("app:1.0x@{D}"))]
    #[case::another_repository(&format!("other/app:1.0@{D}"))]
    #[case::no_digest("app:1.0")]
    #[case::a_bad_digest("app:1.0@sha256:abc")]
    #[case::two_digests(&format!("app:1.0@{D}@{D}"))]
    fn anything_else_keeps_no_pin(#[case] old: &str) {
        assert_eq!(kept_pin("app:1.0", old), None);
    }
}
