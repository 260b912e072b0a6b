//! Pinning tags to digests through the host capability `oci/v1/manifest_digest`, within a
//! time budget the policy measures itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kubewarden_policy_sdk::host_capabilities::oci::ManifestDigestResponse;
use kubewarden_policy_sdk::{Error as SdkError, Result as SdkResult};

use crate::reference::check_digest;

/// Resolves an image reference to the digest its registry serves for it, and tells the time.
pub trait DigestResolver {
    fn manifest_digest(&self, image: &str) -> Result<String, String>;

    /// The monotonic clock the pin budget is measured with: in the policy, WASI's
    /// `clock_time_get(MONOTONIC)`; tests give a clock of their own.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The Kubewarden host: policy-server (or kwctl) asks the registry. A namespaced policy can be
/// denied this capability; the host then answers with an error, which is a lookup failure.
pub struct HostCapability;

impl DigestResolver for HostCapability {
    fn manifest_digest(&self, image: &str) -> Result<String, String> {
        host_answer(
            image,
            kubewarden_policy_sdk::host_capabilities::oci::get_manifest_digest(image),
        )
    }
}

/// The digest the SDK read from the host's answer, or why there is none: for a failed host
/// call, the host's own text, without the SDK's and waPC's prefixes.
fn host_answer(image: &str, answer: SdkResult<ManifestDigestResponse>) -> Result<String, String> {
    answer.map(|r| r.digest).map_err(|e| match e {
        SdkError::HostCall { source, .. } => {
            let text = source.to_string();
            host_failure(image, text.strip_prefix("Host error: ").unwrap_or(&text))
        }
        other => host_failure(image, &other.to_string()),
    })
}

/// The longest part of a host's error a violation carries, in characters.
const HOST_CAUSE_MAX_CHARS: usize = 200;

/// A failed lookup, from the host's error: the violation gets its first cause on one line, and
/// the whole error, when that is more, goes to the log (the pin failure's own warning, which
/// `evaluate` logs, carries the line). policy-evaluator answers a failed callback with
/// `Callback evaluation failure: {e:?}`, anyhow's whole chain (`Caused by:`, `0: …`, and a
/// backtrace when it runs with RUST_BACKTRACE set), which made one violation many lines.
fn host_failure(image: &str, host_error: &str) -> String {
    let cause = first_cause(host_error);
    if cause != host_error {
        crate::log::warn(&format!(
            "oci/v1/manifest_digest could not resolve {image:?}: {host_error}"
        ));
    }
    format!("the host could not resolve it through oci/v1/manifest_digest ({cause})")
}

/// The first line of a host's error (before `Caused by:` or a backtrace, even on the same
/// line), with control characters and runs of whitespace made one space, and cut to
/// [`HOST_CAUSE_MAX_CHARS`] characters, the cut marked with `…`.
fn first_cause(host_error: &str) -> String {
    let line = host_error
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let line = ["Caused by:", "Stack backtrace:"]
        .iter()
        .fold(line, |l, marker| l.split(marker).next().unwrap_or(l));
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let cause = words.join(" ");
    if cause.is_empty() {
        return "the host gave no reason".to_owned();
    }
    if cause.chars().count() <= HOST_CAUSE_MAX_CHARS {
        return cause;
    }
    let kept: String = cause.chars().take(HOST_CAUSE_MAX_CHARS - 1).collect();
    format!("{kept}…")
}

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
    resolver: &'r dyn DigestResolver,
    resolved: HashMap<String, Result<String, PinError>>,
    started: Instant,
    budget: Duration,
    slowest: Duration,
}

impl<'r> Pinner<'r> {
    /// A pinner whose budget counts from `started` (when the request began to be judged).
    pub fn new(resolver: &'r dyn DigestResolver, started: Instant, budget: Duration) -> Self {
        Pinner {
            resolver,
            resolved: HashMap::new(),
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
        let now = self.resolver.now();
        let spent = now.saturating_duration_since(self.started);
        let answer = if spent >= self.budget || spent + self.slowest > self.budget {
            Err(PinError::OverBudget)
        } else {
            let answer = self.resolver.manifest_digest(image).and_then(|d| {
                check_digest(&d)
                    .map(|()| d.clone())
                    .map_err(|e| format!("the host answered a malformed digest {d:?}: {e}"))
            });
            let took = self.resolver.now().saturating_duration_since(now);
            self.slowest = self.slowest.max(took);
            answer.map_err(PinError::Failed)
        };
        self.resolved.insert(image.to_owned(), answer.clone());
        answer
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
    impl DigestResolver for Counting {
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

    /// What policy-evaluator answers when the registry fails: its callback error's `{:?}`,
    /// anyhow's chain and, under RUST_BACKTRACE, a backtrace.
    const POLICY_SERVER_ERROR: &str = "Callback evaluation failure: Fail to interact with OCI \
        registry: Registry error: url https://registry.example.com/v2/app/manifests/1.0, \
        envelope: OCI API errors: [OCI API error: manifest unknown]

Caused by:
    0: Registry error: url https://registry.example.com/v2/app/manifests/1.0, envelope: OCI API errors: [OCI API error: manifest unknown]
    1: OCI API errors: [OCI API error: manifest unknown]
    2: manifest unknown
    3: HTTP status client error (404 Not Found)

Stack backtrace:
   0: anyhow::error::<impl core::convert::From<E> for anyhow::Error>::from
             at /cargo/registry/src/anyhow-1.0.98/src/backtrace.rs:27:14
   1: policy_evaluator::callback_handler::oci::get_oci_digest_cached::{{closure}}
   2: tokio::runtime::task::core::Core<T,S>::poll
   3: std::sys::pal::unix::thread::Thread::new::thread_start
";

    /// The failed host call as the SDK hands it over.
    fn failed_host_call(host_error: &str) -> SdkError {
        SdkError::HostCall {
            operation: "oci.manifest_digest".into(),
            source: Box::new(wapc_guest::errors::new(
                wapc_guest::errors::ErrorKind::HostError(host_error.into()),
            )),
        }
    }

    /// policy-server behind `HostCapability`: every lookup fails with `POLICY_SERVER_ERROR`.
    struct FailingPolicyServer;
    impl DigestResolver for FailingPolicyServer {
        fn manifest_digest(&self, image: &str) -> Result<String, String> {
            host_answer(image, Err(failed_host_call(POLICY_SERVER_ERROR)))
        }
    }

    #[test]
    fn a_failed_pin_is_one_line_per_violation() {
        let payload = r#"{"request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},
            "operation":"CREATE","userInfo":{"username":"alice"},
            "object":{"spec":{"containers":[
                {"name":"a","image":"registry.example.com/app:1.0","imagePullPolicy":"Always"},
                {"name":"b","image":"registry.example.com/db:2.0","imagePullPolicy":"Always"}]}}},
            "settings":{"pinImmutableTags":true}}"#;
        let r = crate::evaluate::validate(payload.as_bytes(), &FailingPolicyServer);
        assert!(!r.accepted);
        let m = r.message.unwrap();
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines.len(), 2, "{m}");
        for (line, image) in lines.iter().zip(["app:1.0", "db:2.0"]) {
            assert!(line.contains(image), "{line}");
            assert!(
                line.contains("manifest_digest (Callback evaluation failure: Fail to interact"),
                "{line}"
            );
        }
        assert!(!m.contains("Caused by") && !m.contains("backtrace"), "{m}");
    }

    #[test]
    fn a_host_error_becomes_its_first_cause_on_one_line() {
        let m = host_answer(
            "registry.example.com/app:1.0",
            Err(failed_host_call(POLICY_SERVER_ERROR)),
        )
        .unwrap_err();
        assert_eq!(
            m,
            "the host could not resolve it through oci/v1/manifest_digest (Callback evaluation \
             failure: Fail to interact with OCI registry: Registry error: url \
             https://registry.example.com/v2/app/manifests/1.0, envelope: OCI API errors: [OCI \
             API error: manifest unknown])"
        );
        assert!(!m.contains('\n'));
    }

    #[rstest::rstest]
    #[case::chain_on_one_line("registry down Caused by: 0: refused", "registry down")]
    #[case::backtrace_on_one_line("registry down Stack backtrace: 0: x", "registry down")]
    #[case::leading_blank_lines("\n \n  registry down\n\nCaused by:\n  x", "registry down")]
    #[case::whitespace_and_controls("a\t\tb \u{1b}[31m c\r", "a b [31m c")]
    #[case::nothing(" \n\nCaused by:\n    0: x", "the host gave no reason")]
    fn a_first_cause_is_one_clean_line(#[case] host_error: &str, #[case] cause: &str) {
        assert_eq!(first_cause(host_error), cause);
    }

    #[test]
    fn a_long_first_cause_is_cut_at_200_characters() {
        let exactly = "é".repeat(HOST_CAUSE_MAX_CHARS);
        assert_eq!(first_cause(&exactly), exactly);
        let cut = first_cause(&format!("{exactly}x\nCaused by: y"));
        assert_eq!(cut.chars().count(), HOST_CAUSE_MAX_CHARS);
        assert_eq!(cut, format!("{}…", "é".repeat(HOST_CAUSE_MAX_CHARS - 1)));
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
