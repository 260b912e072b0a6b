//! `bench`: times `validate` of a policy through the e2e host against floor policies on the
//! same requests in the same run, and prints the medians and their ratio: validating answers
//! against a no-op policy, mutating answers against the cheapest possible mutating policy
//! (`e2e-tests/mutate-floor-policy`: it rewrites `"IfNotPresent"` to `"Always"` in the
//! object's text and hands it back).
//!
//! Each timed call does what policy-server does per request: parse the AdmissionRequest
//! bytes, build the `{"request", "settings"}` payload, call the guest over waPC, read its
//! answer and build the AdmissionResponse (parsing the mutated object and computing the
//! JSONPatch when it mutates).
//!
//! The last table times the same with a fresh instance per request, as policy-server runs a
//! policy (it rehydrates the precompiled module for every request: `wapc_init`, then
//! `validate`, whose settings the policy reads and compiles anew, since no memory survives),
//! against the no-op policy also instantiated per request. `kwctl bench` and the first two
//! tables keep one instance.
//!
//! Usage: bench [--iterations N] POLICY.wasm NOOP.wasm MUTATE_FLOOR.wasm
//!        bench --write-requests DIR
//!
//! `--write-requests` writes each validating case's request (bare AdmissionRequest) and
//! settings to DIR instead, for `kwctl bench` and instruction counts on the same requests
//! (docs/performance.md).

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use e2e_tests::samples::{container, duration as fmt, request, samples, svc_image, workload};
use e2e_tests::{DigestCache, HostConfig, Policy};
use serde_json::{Value, json};

struct Case {
    name: &'static str,
    request: Vec<u8>,
    /// What the policy must answer, checked before timing: accepted, mutated.
    expect: (bool, bool),
    /// The settings in the payload (the floors ignore them).
    settings: Value,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut iterations = 400usize;
    let mut paths = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--write-requests" => {
                return match it.next() {
                    Some(dir) => write_requests(&dir),
                    None => usage("--write-requests needs a directory"),
                };
            }
            "--iterations" => match it.next().and_then(|n| n.parse().ok()) {
                Some(n) => iterations = n,
                None => return usage("--iterations needs a number"),
            },
            _ => paths.push(a),
        }
    }
    let [policy_path, noop_path, floor_path] = paths.as_slice() else {
        return usage("give the policy, the no-op policy and the mutate-floor policy");
    };
    // The pinning case finds its digests in the host's cache, as policy-server serves them
    // once looked up (kept for the whole run here).
    let cache = DigestCache::with_ttl(Duration::from_secs(24 * 3600));
    for (image, digest) in pinned_images() {
        cache.put(&image, &digest);
    }
    let config = |instance_per_request| HostConfig {
        digest_cache: Some(cache.clone()),
        instance_per_request,
        ..HostConfig::default()
    };
    let load = |p: &str, fresh| Policy::load(p, config(fresh)).map_err(|e| format!("{p}: {e}"));
    let loaded = [
        load(policy_path, false),
        load(noop_path, false),
        load(floor_path, false),
        load(policy_path, true),
        load(noop_path, true),
    ];
    let [policy, noop, floor, fresh_policy, fresh_noop] = match loaded {
        [Ok(a), Ok(b), Ok(c), Ok(d), Ok(e)] => [a, b, c, d, e],
        failed => {
            for e in failed.into_iter().filter_map(Result::err) {
                eprintln!("bench: {e}");
            }
            return ExitCode::FAILURE;
        }
    };

    println!(
        "policy.wasm {} bytes, no-op {} bytes, mutate-floor {} bytes; {iterations} timed calls \
         per cell, medians",
        size(policy_path),
        size(noop_path),
        size(floor_path)
    );
    let tables = [
        (
            "validating answers",
            &policy,
            "no-op",
            &noop,
            validating_cases(),
        ),
        (
            "mutating answers",
            &policy,
            "floor",
            &floor,
            mutating_cases(),
        ),
        (
            "validating answers, a fresh instance per request (as policy-server)",
            &fresh_policy,
            "no-op",
            &fresh_noop,
            per_request_cases(),
        ),
    ];
    for (title, policy, floor_name, floor_policy, cases) in tables {
        println!("\n{title}");
        println!(
            "{:<38} {:>8} {:>12} {:>12} {:>7}",
            "request", "bytes", "policy", floor_name, "ratio"
        );
        for case in cases {
            let answer = admit(policy, &case.request, &case.settings);
            let got = (answer.allowed, answer.patch.is_some());
            if got != case.expect {
                eprintln!(
                    "bench: {} answered (allowed, mutated) = {got:?}, expected {:?}: {answer:?}",
                    case.name, case.expect
                );
                return ExitCode::FAILURE;
            }
            let (p, n) = medians(
                policy,
                floor_policy,
                &case.request,
                &case.settings,
                iterations,
            );
            println!(
                "{:<38} {:>8} {:>12} {:>12} {:>6.2}x",
                case.name,
                case.request.len(),
                fmt(p),
                fmt(n),
                p.as_secs_f64() / n.as_secs_f64()
            );
        }
    }
    ExitCode::SUCCESS
}

fn usage(why: &str) -> ExitCode {
    eprintln!(
        "bench: {why}\nusage: bench [--iterations N] POLICY.wasm NOOP.wasm MUTATE_FLOOR.wasm\n       bench --write-requests DIR"
    );
    ExitCode::from(2)
}

/// Writes every validating case (the fresh-instance table's, which holds the first table's
/// Pod and Deployment with both settings) as `<name>.json` and `<name>.settings.json`.
fn write_requests(dir: &str) -> ExitCode {
    let cases = per_request_cases().into_iter().chain(validating_cases());
    let mut written = std::collections::BTreeSet::new();
    for case in cases {
        let name: String = case
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .split('-')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        if !written.insert(name.clone()) {
            continue;
        }
        let settings = serde_json::to_vec(&case.settings).expect("serializable");
        let files = [
            (format!("{dir}/{name}.json"), case.request),
            (format!("{dir}/{name}.settings.json"), settings),
        ];
        for (path, bytes) in files {
            if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, bytes))
            {
                eprintln!("bench: {path}: {e}");
                return ExitCode::FAILURE;
            }
            println!("{path}");
        }
    }
    ExitCode::SUCCESS
}

fn size(path: &str) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// One admission as the host handles it, from the request's bytes to the response.
fn admit(policy: &Policy, request: &[u8], settings: &Value) -> e2e_tests::AdmissionResponse {
    let request: Value = serde_json::from_slice(request).expect("bench requests are JSON");
    policy.validate(&request, settings)
}

/// Medians of the policy and a floor on one request, timed alternately so that a change in
/// the machine's load during the run weighs on both alike. Both get the same payload (the
/// floors ignore the settings in it).
fn medians(
    policy: &Policy,
    floor: &Policy,
    request: &[u8],
    settings: &Value,
    iterations: usize,
) -> (Duration, Duration) {
    let time = |p: &Policy, settings: &Value| {
        let start = Instant::now();
        black_box(admit(p, black_box(request), settings));
        start.elapsed()
    };
    for _ in 0..iterations.div_ceil(10) {
        time(policy, settings);
        time(floor, settings);
    }
    let (mut a, mut b): (Vec<Duration>, Vec<Duration>) = (0..iterations)
        .map(|_| (time(policy, settings), time(floor, settings)))
        .unzip();
    a.sort();
    b.sort();
    (a[a.len() / 2], b[b.len() / 2])
}

// ---- the cases (the requests are built by `e2e_tests::samples`) ----

fn validating_cases() -> Vec<Case> {
    let (small_pod, deployment, cronjob) = samples("Always");
    let rejected = workload(
        "Deployment",
        "apps/v1",
        (0..35)
            .map(|i| {
                let image = match i % 3 {
                    0 => format!("registry.example.com/shop/svc-{i}:latest"),
                    1 => format!("registry.example.com/shop/svc-{i}"),
                    _ => format!("localhost:5000/svc-{i}"),
                };
                container(i, &image, 20)
            })
            .collect(),
    );
    let old = deployment.clone();
    let mut new = deployment.clone();
    new["metadata"]["labels"]["rollout"] = json!("canary");
    new["metadata"]["resourceVersion"] = json!("48213");

    let bytes = |v: &Value| serde_json::to_vec(v).expect("serializable");
    vec![
        Case {
            name: "Pod, 2 containers",
            request: bytes(&request("Pod", "", "v1", "CREATE", &small_pod, None)),
            expect: (true, false),
            settings: json!({}),
        },
        Case {
            name: "Deployment, 35 containers",
            request: bytes(&request(
                "Deployment",
                "apps",
                "v1",
                "CREATE",
                &deployment,
                None,
            )),
            expect: (true, false),
            settings: json!({}),
        },
        Case {
            name: "CronJob, 2 containers",
            request: bytes(&request("CronJob", "batch", "v1", "CREATE", &cronjob, None)),
            expect: (true, false),
            settings: json!({}),
        },
        Case {
            name: "Deployment, 35 violations",
            request: bytes(&request(
                "Deployment",
                "apps",
                "v1",
                "CREATE",
                &rejected,
                None,
            )),
            expect: (false, false),
            settings: json!({}),
        },
        Case {
            name: "Deployment UPDATE, labels only",
            request: bytes(&request(
                "Deployment",
                "apps",
                "v1",
                "UPDATE",
                &new,
                Some(&old),
            )),
            expect: (true, false),
            settings: json!({}),
        },
    ]
}

/// The Pod and the Deployment with default settings, each followed by itself with the
/// settings of the README's example (tag globs, two tag patterns, a registry, exemptions),
/// which a fresh instance reads and compiles on every request.
fn per_request_cases() -> Vec<Case> {
    let example = json!({
        "mutableTags": ["latest", "stable", "edge", "*-snapshot"],
        "immutableTagPatterns": ["semver", "sha-[0-9a-f]{7,40}"],
        "immutableRegistries": ["123456789012.dkr.ecr.eu-west-1.amazonaws.com"],
        "exemptImages": ["registry.k8s.io/pause:*"],
        "exemptContainers": [{"name": "istio-proxy", "type": "any"}],
    });
    let names = [
        "Pod, README example settings",
        "Deployment, README example settings",
    ];
    validating_cases()
        .into_iter()
        .zip(names)
        .flat_map(|(case, name)| {
            let with_example = Case {
                name,
                request: case.request.clone(),
                expect: case.expect,
                settings: example.clone(),
            };
            [case, with_example]
        })
        .collect()
}

/// The 35 images of the pinning case and their digests.
fn pinned_images() -> Vec<(String, String)> {
    (0..35)
        .map(|i| (svc_image(i), format!("sha256:{:064x}", 0x5eed_0000 + i)))
        .collect()
}

/// Requests whose containers say `IfNotPresent`: with default settings the policy sets
/// Always, as the floor does; in the pinning case it pins every image instead (IfNotPresent
/// is allowed once pinned), as many edits as the floor makes.
fn mutating_cases() -> Vec<Case> {
    let (pod, deployment, cronjob) = samples("IfNotPresent");
    let bytes = |v: &Value| serde_json::to_vec(v).expect("serializable");
    let create = |kind: &str, group: &str, object: &Value| {
        bytes(&request(kind, group, "v1", "CREATE", object, None))
    };
    let mutated = |name, request, settings| Case {
        name,
        request,
        expect: (true, true),
        settings,
    };
    let pin = json!({"mutableTagAction": "pin", "pinImmutableTags": true,
                     "allowIfNotPresentWhenPinned": true});
    vec![
        mutated("Pod, 2 containers", create("Pod", "", &pod), json!({})),
        mutated(
            "CronJob, 2 containers",
            create("CronJob", "batch", &cronjob),
            json!({}),
        ),
        mutated(
            "Deployment, 35 containers",
            create("Deployment", "apps", &deployment),
            json!({}),
        ),
        mutated(
            "Deployment, 35 pins written",
            create("Deployment", "apps", &deployment),
            pin,
        ),
    ]
}
