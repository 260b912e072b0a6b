//! Pinning in the field, through the built wasm, against the real registry behind the
//! fault-injecting proxy: a registry 150 ms away, the host's 2 s evaluation limit (1 s
//! epoch ticks) and its 60 s digest cache, sticky pins on UPDATE, and the audit trail.
//! Every test is named `field_<what it shows>`.

mod common;

use std::time::{Duration, Instant};

use common::{admission_request, container, create, cronjob_with, deployment_with, evaluate, pod};
use e2e_tests::host::DigestCache;
use e2e_tests::images::{Layout, Platform};
use e2e_tests::policy::INTERRUPTED_MESSAGE;
use e2e_tests::proxy::{Fault, FaultProxy};
use e2e_tests::{AdmissionResponse, DigestResolver, HostConfig, Registry};
use serde_json::{Value, json};

/// One way and back to a registry this far away.
const FAR: Duration = Duration::from_millis(150);

/// The real registry with `n` images `app:1.<i>` (distinct digests), and the proxy in front.
struct Far {
    _registry: Registry,
    proxy: FaultProxy,
    /// `<proxy>/app:1.<i>` and the digest the registry serves for it.
    images: Vec<(String, String)>,
}

impl Far {
    /// Every image pinned to its digest, as the policy writes it.
    fn pinned(&self) -> Vec<String> {
        self.images
            .iter()
            .map(|(image, digest)| format!("{image}@{digest}"))
            .collect()
    }
}

fn far_registry(n: usize) -> Far {
    let registry = Registry::start().unwrap();
    let layout = Layout::new().unwrap();
    for i in 0..n {
        let tag = format!("1.{i}");
        layout
            .add_image(&tag, Platform::LINUX_AMD64, &format!("build of 1.{i}"))
            .unwrap();
        layout
            .push(&tag, &registry.image(&format!("app:{tag}")), false)
            .unwrap();
    }
    let proxy = FaultProxy::start(&registry.host()).unwrap();
    let images = (0..n)
        .map(|i| {
            let tag = format!("1.{i}");
            (
                format!("{}/app:{tag}", proxy.host()),
                registry.manifest_digest("app", &tag).unwrap(),
            )
        })
        .collect();
    Far {
        _registry: registry,
        proxy,
        images,
    }
}

fn pin_all(failure: &str) -> Value {
    json!({"pinImmutableTags": true, "pinFailureAction": failure})
}

fn containers_of(images: &[(String, String)]) -> Vec<Value> {
    images
        .iter()
        .enumerate()
        .map(|(i, (image, _))| container(&format!("c{i}"), image, Some("Always")))
        .collect()
}

/// "… 3 of 12 resolved …" in a budget rejection.
fn resolved_count(resp: &AdmissionResponse) -> usize {
    let m = resp.message();
    let at = m
        .find(" of ")
        .unwrap_or_else(|| panic!("no tally in {m:?}"));
    let before = m[..at].rsplit(' ').next().unwrap();
    before
        .parse()
        .unwrap_or_else(|_| panic!("no tally in {m:?}"))
}

fn workload_images(object: &Value) -> Vec<String> {
    object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn field_twelve_cold_images_150ms_away_are_answered_by_the_policy_and_retries_converge() {
    let far = far_registry(12);
    far.proxy.set_fault(Fault::Latency(FAR));
    // policy-server's defaults: 2 s limit in 1 s ticks, 60 s cache.
    let p = common::policy(HostConfig::default());
    let req = create(deployment_with(containers_of(&far.images)));
    let mut counts = Vec::new();
    let answer = loop {
        let started = Instant::now();
        let resp = evaluate(&p, &pin_all("reject"), &req);
        let took = started.elapsed();
        assert!(
            !resp.message().contains(INTERRUPTED_MESSAGE),
            "the host interrupted try {}: {resp:?}",
            counts.len() + 1
        );
        // The earliest the host may interrupt is one tick, 1 s: the policy answered first.
        assert!(took < Duration::from_secs(1), "try took {took:?}");
        if resp.allowed {
            break resp;
        }
        assert!(resp.message().contains("pin budget"), "{}", resp.message());
        counts.push(resolved_count(&resp));
        assert!(counts.len() < 12, "no convergence: {counts:?}");
    };
    eprintln!("resolved per try: {counts:?}");
    assert!(
        !counts.is_empty() && counts[0] >= 1 && counts[0] < 12,
        "{counts:?}"
    );
    assert!(
        counts.windows(2).all(|w| w[0] < w[1]),
        "each try resolves more: {counts:?}"
    );
    let object = answer.patched(&req["object"]).unwrap();
    assert_eq!(workload_images(&object), far.pinned());
    // Every lookup is two round trips, and each image was looked up at the registry once.
    let heads = far
        .proxy
        .requests()
        .iter()
        .filter(|r| r.starts_with("HEAD /v2/app/manifests/"))
        .count();
    assert_eq!(heads, 12, "{:?}", far.proxy.requests());
    let audit = answer.audit_annotations.as_ref().unwrap();
    assert_eq!(audit.len(), 12);
    assert_eq!(
        audit["pin.containers.11"],
        format!("{} -> {}", far.images[11].0, far.images[11].1)
    );
}

#[test]
fn field_without_the_budget_the_host_interrupts_the_policy() {
    let far = far_registry(12);
    far.proxy.set_fault(Fault::Latency(FAR));
    let cache = DigestCache::default();
    let p = common::policy(HostConfig {
        digest_cache: Some(cache.clone()),
        ..HostConfig::default()
    });
    let req = create(deployment_with(containers_of(&far.images)));
    let mut settings = pin_all("warn");
    settings["pinBudgetMilliseconds"] = json!(10_000);
    let resp = evaluate(&p, &settings, &req);
    assert!(!resp.allowed, "{resp:?}");
    assert_eq!(resp.message(), INTERRUPTED_MESSAGE);
    assert_eq!(resp.status.as_ref().unwrap().code, Some(500));
    // Not even `warn` admits it; the host still cached what it resolved before the stop.
    assert!((1..12).contains(&cache.len()), "{}", cache.len());
    // The instance was replaced: the next request is answered.
    let small = create(deployment_with(containers_of(&far.images[..1])));
    let resp = evaluate(&p, &settings, &small);
    assert!(resp.allowed, "{resp:?}");
}

#[test]
fn field_warn_admits_at_once_partly_pinned() {
    let far = far_registry(12);
    far.proxy.set_fault(Fault::Latency(FAR));
    let p = common::policy(HostConfig::default());
    let req = create(deployment_with(containers_of(&far.images)));
    let resp = evaluate(&p, &pin_all("warn"), &req);
    assert!(resp.allowed, "{resp:?}");
    let images = workload_images(&resp.patched(&req["object"]).unwrap());
    let pinned = images.iter().filter(|i| i.contains("@sha256:")).count();
    assert!((1..12).contains(&pinned), "{images:?}");
    for (i, (image, digest)) in far.images.iter().enumerate() {
        if i < pinned {
            assert_eq!(images[i], format!("{image}@{digest}"));
        } else {
            assert_eq!(&images[i], image);
        }
    }
    let warnings = resp.warnings();
    assert_eq!(warnings.len(), 12 - pinned + 1, "{warnings:?}");
    assert!(warnings[..12 - pinned].iter().all(|w| w.ends_with(&format!(
        "not resolved within the 900 ms pin budget; {pinned} of 12 resolved"
    ))));
    assert_eq!(
        warnings[12 - pinned],
        format!("{pinned} of 12 images pinned within the 900 ms pin budget; retry to pin the rest")
    );
}

/// An UPDATE of `kind` whose old object has `old` images and new object `new` ones, in a
/// container, an init container and an image volume.
fn update(kind: &str, old: &[String; 3], new: &[String; 3]) -> Value {
    let object = |images: &[String; 3]| {
        let spec = json!({
            "containers": [container("app", &images[0], Some("Always"))],
            "initContainers": [container("init", &images[1], Some("Always"))],
            "volumes": [{"name": "data", "image": {"reference": images[2], "pullPolicy": "Always"}}],
        });
        match kind {
            "Pod" => pod(spec),
            "Deployment" => {
                let mut d = deployment_with(vec![]);
                d["spec"]["template"]["spec"] = spec;
                d
            }
            "CronJob" => {
                let mut c = cronjob_with(vec![]);
                c["spec"]["jobTemplate"]["spec"]["template"]["spec"] = spec;
                c
            }
            other => panic!("{other}"),
        }
    };
    admission_request("UPDATE", object(new), Some(object(old)))
}

fn spec_of(kind: &str, object: &Value) -> Value {
    match kind {
        "Pod" => object["spec"].clone(),
        "Deployment" => object["spec"]["template"]["spec"].clone(),
        _ => object["spec"]["jobTemplate"]["spec"]["template"]["spec"].clone(),
    }
}

#[test]
fn field_sticky_pins_need_no_registry_in_every_kind_and_for_image_volumes() {
    let far = far_registry(3);
    let pinned: [String; 3] =
        std::array::from_fn(|i| format!("{}@{}", far.images[i].0, far.images[i].1));
    let plain: [String; 3] = std::array::from_fn(|i| far.images[i].0.clone());
    // The registry is unreachable: any lookup would fail the request.
    far.proxy.set_fault(Fault::Status(503));
    for kind in ["Pod", "Deployment", "CronJob"] {
        let p = common::policy(HostConfig::default());
        let req = update(kind, &pinned, &plain);
        let resp = evaluate(&p, &pin_all("reject"), &req);
        assert!(resp.allowed, "{kind}: {resp:?}");
        assert!(
            p.digest_lookups().is_empty(),
            "{kind}: {:?}",
            p.digest_lookups()
        );
        let spec = spec_of(kind, &resp.patched(&req["object"]).unwrap());
        assert_eq!(spec["containers"][0]["image"], pinned[0], "{kind}");
        assert_eq!(spec["initContainers"][0]["image"], pinned[1], "{kind}");
        assert_eq!(
            spec["volumes"][0]["image"]["reference"], pinned[2],
            "{kind}"
        );
        let audit = resp.audit_annotations.as_ref().unwrap();
        assert_eq!(
            audit["pin.volumes.0"],
            format!("{} -> {} (kept)", far.images[2].0, far.images[2].1)
        );
    }
    assert!(
        far.proxy.requests().is_empty(),
        "{:?}",
        far.proxy.requests()
    );
}

/// Pins one image of a registry behind `fault` (the lookup must succeed, with the digest the
/// registry serves) and returns the requests the registry got.
fn pin_one_behind(fault: Fault) -> Vec<String> {
    let far = far_registry(1);
    far.proxy.set_fault(fault);
    let p = common::policy(HostConfig::default());
    let req = create(pod(json!({"containers": containers_of(&far.images)})));
    let resp = evaluate(&p, &pin_all("reject"), &req);
    assert!(resp.allowed, "{resp:?}");
    let pinned = resp.patched(&req["object"]).unwrap();
    assert_eq!(
        pinned["spec"]["containers"][0]["image"],
        far.pinned()[0].as_str()
    );
    far.proxy.requests()
}

/// A registry whose answers lack `Docker-Content-Digest`: policy-server's client then GETs
/// the manifest and digests its bytes, so the pin is the same, after four round trips.
#[test]
fn field_a_registry_without_digest_headers_is_read_from_the_manifest() {
    let manifest = "/v2/app/manifests/1.0";
    assert_eq!(
        pin_one_behind(Fault::NoDigestHeader),
        vec![
            "GET /v2/".to_string(),
            format!("HEAD {manifest}"),
            "GET /v2/".to_string(),
            format!("GET {manifest}"),
        ]
    );
}

/// policy-server's client reads `GET /v2/` only for an authentication challenge: a failing
/// version check does not stop the lookup.
#[test]
fn field_a_failing_version_check_does_not_stop_a_lookup() {
    assert_eq!(
        pin_one_behind(Fault::VersionCheckStatus(500)),
        vec!["GET /v2/", "HEAD /v2/app/manifests/1.0"]
    );
}

/// What policy-server's answer to a failed lookup carries after the registry's error:
/// policy-evaluator answers `Callback evaluation failure: {e:?}`, anyhow's chain of causes and,
/// when it runs with RUST_BACKTRACE set, a backtrace.
const POLICY_SERVER_TRAIL: &str = "Caused by:
    0: Fail to interact with OCI registry: error sending request
    1: error sending request for url (http://127.0.0.1/v2/)
    2: client error (Connect)
    3: tcp connect error: Connection refused (os error 111)

Stack backtrace:
   0: anyhow::error::<impl core::convert::From<E> for anyhow::Error>::from
   1: policy_evaluator::callback_handler::oci::get_oci_digest_cached::{{closure}}
   2: tokio::runtime::task::core::Core<T,S>::poll
   3: std::sys::pal::unix::thread::Thread::new::thread_start";

fn host_with_policy_servers_errors() -> HostConfig {
    HostConfig {
        error_trail: Some(POLICY_SERVER_TRAIL.to_owned()),
        ..HostConfig::default()
    }
}

#[test]
fn field_a_changed_tag_is_looked_up_and_a_failing_registry_says_so() {
    let far = far_registry(3);
    let old: [String; 3] =
        std::array::from_fn(|i| format!("{}@{}", far.images[i].0, far.images[i].1));
    // The container moves from 1.0 to 1.1; the others are re-applied unpinned.
    let mut new: [String; 3] = std::array::from_fn(|i| far.images[i].0.clone());
    new[0] = far.images[1].0.clone();
    let p = common::policy(host_with_policy_servers_errors());
    let req = update("Deployment", &old, &new);
    let resp = evaluate(&p, &pin_all("reject"), &req);
    let lookups: Vec<String> = p.digest_lookups().into_iter().map(|c| c.payload).collect();
    assert_eq!(lookups, vec![format!("{:?}", far.images[1].0)]);
    let spec = spec_of("Deployment", &resp.patched(&req["object"]).unwrap());
    assert_eq!(
        spec["containers"][0]["image"],
        format!("{}@{}", far.images[1].0, far.images[1].1)
    );
    assert_eq!(spec["initContainers"][0]["image"], old[1]);
    let audit = resp.audit_annotations.as_ref().unwrap();
    assert_eq!(
        audit["pin.containers.0"],
        format!("{} -> {}", far.images[1].0, far.images[1].1)
    );

    // The same change against a failing registry: a 503, a reset connection.
    let moved = {
        let mut n = new.clone();
        n[0] = far.images[2].0.clone();
        update("Deployment", &old, &n)
    };
    for (fault, why) in [
        (Fault::Status(503), "HTTP 503"),
        (Fault::Reset, "cannot connect"),
    ] {
        far.proxy.set_fault(fault);
        let resp = evaluate(&p, &pin_all("reject"), &moved);
        assert!(!resp.allowed, "{resp:?}");
        let m = resp.message();
        assert!(
            m.contains("cannot pin it to a digest") && m.contains(why),
            "{m}"
        );
        assert!(m.contains(&far.images[2].0), "{m}");
        assert_eq!(m.lines().count(), 1, "only the changed image: {m}");
    }
}

/// A failing registry behind policy-server: one line per image that could not be pinned, with
/// the registry's error and none of the host's chain or backtrace, which go to the log.
#[test]
fn field_a_failing_registry_is_one_line_per_image_and_the_whole_error_is_logged() {
    let far = far_registry(2);
    far.proxy.set_fault(Fault::Status(503));
    let p = common::policy(host_with_policy_servers_errors());
    let req = create(deployment_with(containers_of(&far.images)));
    let resp = evaluate(&p, &pin_all("reject"), &req);
    assert!(!resp.allowed, "{resp:?}");
    let m = resp.message();
    let lines: Vec<&str> = m.lines().collect();
    assert_eq!(lines.len(), 2, "one line per image: {m}");
    for (line, (image, _)) in lines.iter().zip(&far.images) {
        assert!(line.contains(image.as_str()), "{line}");
        assert!(
            line.contains("cannot pin it to a digest")
                && line.contains("(Callback evaluation failure: ")
                && line.contains("HTTP 503"),
            "{line}"
        );
    }
    assert!(!m.contains("Caused by") && !m.contains("backtrace"), "{m}");
    let warnings: Vec<String> = p
        .host_calls()
        .iter()
        .filter(|c| (c.namespace.as_str(), c.operation.as_str()) == ("tracing", "log"))
        .map(|c| serde_json::from_str::<Value>(&c.payload).unwrap())
        .filter(|e| e["level"] == "warning")
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    for (image, _) in &far.images {
        assert!(
            warnings.iter().any(|w| w.contains(image.as_str())
                && w.contains("Caused by:")
                && w.contains("Stack backtrace:")),
            "the whole error of {image} is not logged: {warnings:?}"
        );
    }
    far.proxy.set_fault(Fault::None);
}

#[test]
fn field_a_hanging_registry_holds_the_request_until_the_host_gives_up() {
    let far = far_registry(1);
    far.proxy.set_fault(Fault::Hang);
    // The host's own registry timeout (3 s) is past its evaluation limit (2 s): the policy
    // cannot cut a host call short, so the host's deadline answers once the call returns.
    let p = common::policy(HostConfig {
        resolver: DigestResolver::new().with_timeout(Duration::from_secs(3)),
        ..HostConfig::default()
    });
    let req = create(deployment_with(containers_of(&far.images)));
    let started = Instant::now();
    let resp = evaluate(&p, &pin_all("warn"), &req);
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(resp.message(), INTERRUPTED_MESSAGE, "{resp:?}");
    // A registry timeout inside the limit is an ordinary pin failure.
    let p = common::policy(HostConfig {
        resolver: DigestResolver::new().with_timeout(Duration::from_millis(300)),
        ..HostConfig::default()
    });
    let resp = evaluate(&p, &pin_all("reject"), &req);
    assert!(
        resp.message().contains("cannot pin it to a digest"),
        "{resp:?}"
    );
    far.proxy.set_fault(Fault::None);
}

#[test]
fn field_the_host_caches_digests_for_60_s_and_failures_not_at_all() {
    let far = far_registry(1);
    let cache = DigestCache::with_ttl(Duration::from_millis(500));
    let p = common::policy(HostConfig {
        digest_cache: Some(cache.clone()),
        ..HostConfig::default()
    });
    let req = create(deployment_with(containers_of(&far.images)));
    far.proxy.set_fault(Fault::Status(503));
    assert!(!evaluate(&p, &pin_all("reject"), &req).allowed);
    assert!(cache.is_empty(), "failures are not cached");
    far.proxy.set_fault(Fault::None);
    assert!(evaluate(&p, &pin_all("reject"), &req).allowed);
    far.proxy.clear_requests();
    // Within the cache's life the registry is not asked again, even when it is down.
    far.proxy.set_fault(Fault::Status(503));
    assert!(evaluate(&p, &pin_all("reject"), &req).allowed);
    assert!(far.proxy.requests().is_empty());
    std::thread::sleep(Duration::from_millis(600));
    assert!(!evaluate(&p, &pin_all("reject"), &req).allowed, "expired");
    assert_eq!(
        HostConfig::default().digest_cache.unwrap().ttl(),
        Duration::from_secs(60)
    );
}

/// Pins 12 images 150 ms away in one try under the host's limit (`None`: off) and the
/// policy's pin budget, checks every one is pinned, and says how long it took.
fn pin_twelve_far_images_in_one_try(timeout_seconds: Option<u64>, budget_ms: u64) -> Duration {
    let far = far_registry(12);
    far.proxy.set_fault(Fault::Latency(FAR));
    let p = common::policy(HostConfig {
        timeout_seconds,
        ..HostConfig::default()
    });
    let req = create(deployment_with(containers_of(&far.images)));
    let mut settings = pin_all("reject");
    settings["pinBudgetMilliseconds"] = json!(budget_ms);
    let start = Instant::now();
    let resp = evaluate(&p, &settings, &req);
    let took = start.elapsed();
    assert!(resp.allowed, "{resp:?}");
    assert_eq!(
        workload_images(&resp.patched(&req["object"]).unwrap()),
        far.pinned()
    );
    took
}

#[test]
fn field_a_longer_limit_and_budget_together_pin_twelve_far_images_in_one_try() {
    // The README's advice: timeoutEvalSeconds 5 with pinBudgetMilliseconds 3900.
    pin_twelve_far_images_in_one_try(Some(5), 3900);
}

#[test]
fn field_with_the_limit_off_the_host_never_interrupts() {
    // policy-server's --disable-timeout-protection, kwrun's --no-timeout: with a budget past
    // the default limit, the one try takes longer than the default limit would allow.
    let took = pin_twelve_far_images_in_one_try(None, 28_900);
    assert!(took > Duration::from_secs(2), "took only {took:?}");
}
