//! `replicabench`: what following the replicas costs (docs/performance.md, "Replicas"). For a
//! namespace of N Pods (10, 100, 1,000, 5,000 by default), the new replica of a ReplicaSet
//! whose two replicas hold and run a pin is sent in pin mode through the e2e host, which lists
//! the namespace's Pods as policy-server does (masked as the policy asks, serialized per
//! call): the request's time, host side included. Against it, on the same request in the same
//! run, timed alternately:
//! - the same request with `pinFromReplicas: false` and the digest in the host's cache: no
//!   list call and no registry (what a pinned replica costs without the feature, at best);
//! - the same with an empty cache: a real lookup on the loopback registry (the round trip the
//!   list saves, at its very cheapest);
//! - and, once, the same lookup through the fault proxy `--latency-ms` away (default 25: a
//!   registry in the cluster's region; a lookup is two round trips).
//!
//! Usage: replicabench [--iterations N] [--pods N]... [--latency-ms MS] POLICY.wasm

use std::collections::BTreeSet;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use e2e_tests::images::push_image;
use e2e_tests::proxy::{Fault, FaultProxy};
use e2e_tests::samples::{duration as fmt, namespace_pods, new_replica};
use e2e_tests::{
    ClusterState, ContextAwareResource, DigestCache, DigestResolver, HostConfig, Policy,
    PolicyModule, Registry,
};
use serde_json::{Value, json};

const OWNER_UID: &str = "9f1c2b3a-4d5e-4f60-8a7b-0c1d2e3f4a5b";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replicabench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut iterations = 200usize;
    let mut latency_ms = 25u64;
    let mut sizes = Vec::new();
    let mut policy_path = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut number = |name: &str| {
            it.next()
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match a.as_str() {
            "--iterations" => iterations = number("--iterations")?,
            "--pods" => sizes.push(number("--pods")?),
            "--latency-ms" => latency_ms = number("--latency-ms")? as u64,
            _ => policy_path = Some(a),
        }
    }
    let policy_path = policy_path.ok_or("give the policy .wasm")?;
    if sizes.is_empty() {
        sizes = vec![10, 100, 1000, 5000];
    }
    let registry = Registry::start().map_err(|e| e.to_string())?;
    let pushed =
        push_image(&registry, "bench/web", "v1", "replicabench").map_err(|e| e.to_string())?;
    let written = pushed.reference.clone();
    let request = new_replica("bench", ("web-7d9", OWNER_UID), "web", &written);
    let follow = json!({"mutableTags": ["v1"], "mutableTagAction": "pin"});
    let mut alone = follow.clone();
    alone["pinFromReplicas"] = json!(false);
    let cached = DigestCache::with_ttl(Duration::from_secs(24 * 3600));
    cached.put(&written, &pushed.digest);

    let far = far_lookup(&policy_path, &registry, &request, &alone, latency_ms)?;
    println!(
        "a new replica of a ReplicaSet in pin mode; {iterations} timed calls per cell, medians; \
         host side included (the list masked as the policy asks and serialized per call, as \
         policy-server does)"
    );
    println!(
        "{:>6} {:>10} {:>11} {:>11} {:>11} {:>11} {:>12} {:>11}",
        "Pods", "list bytes", "follows", "alone", "added", "host side", "added fuel", "lookup"
    );
    for n in sizes {
        let pods = namespace_pods(n, ("web-7d9", OWNER_UID), &written, &pushed.digest);
        let cluster =
            ClusterState::from_list(json!({"apiVersion": "v1", "kind": "List", "items": pods}))
                .map_err(|e| e.to_string())?;
        let config = |cache: Option<DigestCache>| HostConfig {
            cluster: cluster.clone(),
            context_aware_resources: BTreeSet::from([ContextAwareResource::new("v1", "Pod")]),
            digest_cache: cache,
            manifest_cache: None,
            verbose: std::env::var_os("VERBOSE").is_some(),
            ..HostConfig::default()
        };
        let load = |cache| Policy::load(&policy_path, config(cache)).map_err(|e| e.to_string());
        let (following, cached_alone, looking_up) =
            (load(None)?, load(Some(cached.clone()))?, load(None)?);

        // What each answers, checked before timing.
        let pinned = format!("{written}@{}", pushed.digest);
        for (p, settings, lists, looks_up) in [
            (&following, &follow, 1, 0),
            // The host answers from its cache, but the policy still calls it.
            (&cached_alone, &alone, 0, 1),
            (&looking_up, &alone, 0, 1),
        ] {
            p.clear_host_calls();
            let answer = p.validate(&request, settings);
            let image = answer
                .patched(&request["object"])
                .map_err(|e| e.to_string())?["spec"]["containers"][0]["image"]
                .clone();
            if image != json!(pinned) {
                return Err(format!(
                    "{n} Pods: pinned to {image}, expected {pinned}: {answer:?}"
                ));
            }
            let (l, d) = (p.list_calls().len(), p.digest_lookups().len());
            if (l, d) != (lists, looks_up) {
                return Err(format!(
                    "{n} Pods: {l} list calls and {d} lookups: {:?}",
                    p.host_calls()
                ));
            }
        }
        let host_side = {
            let payload = following
                .list_calls()
                .first()
                .map(|c| c.payload.clone())
                .unwrap_or_default();
            let ask = e2e_tests::cluster::ListRequest::parse(payload.as_bytes())?;
            let mut t: Vec<Duration> = (0..iterations.min(50))
                .map(|_| {
                    let start = Instant::now();
                    black_box(cluster.list_by_namespace(black_box(&ask)).ok());
                    start.elapsed()
                })
                .collect();
            t.sort();
            t[t.len() / 2]
        };
        // The policy's own work, in wasmtime fuel (the same count on every run).
        let fuel = |settings: &Value, cache| -> Result<u64, String> {
            let module =
                PolicyModule::from_file_counting_fuel(&policy_path).map_err(|e| e.to_string())?;
            let p = module
                .instantiate(config(cache))
                .map_err(|e| e.to_string())?;
            p.validate(&request, settings);
            Ok(p.fuel().map_or(0, |f| f.call))
        };
        let fuel_follows = fuel(&follow, None)?;
        let fuel_alone = fuel(&alone, Some(cached.clone()))?;
        let list_bytes = following
            .list_calls()
            .first()
            .and_then(|c| c.outcome.as_ref().ok().map(String::len))
            .unwrap_or(0);
        let [f, c, l] = medians(
            [
                (&following, &follow),
                (&cached_alone, &alone),
                (&looking_up, &alone),
            ],
            &request,
            iterations,
        );
        println!(
            "{:>6} {:>10} {:>11} {:>11} {:>11} {:>11} {:>12} {:>11}",
            n,
            list_bytes,
            fmt(f),
            fmt(c),
            fmt(f.saturating_sub(c)),
            fmt(host_side),
            fuel_follows.saturating_sub(fuel_alone),
            fmt(l)
        );
    }
    println!(
        "one lookup {latency_ms} ms away (through the fault proxy, no cache), median of 20: {}",
        fmt(far)
    );
    Ok(())
}

/// The request's time when its digest is looked up through the fault proxy `latency_ms` away.
fn far_lookup(
    policy_path: &str,
    registry: &Registry,
    request: &Value,
    settings: &Value,
    latency_ms: u64,
) -> Result<Duration, String> {
    let proxy = FaultProxy::start(&registry.host()).map_err(|e| e.to_string())?;
    proxy.set_fault(Fault::Latency(Duration::from_millis(latency_ms)));
    let resolver = DigestResolver::new()
        .with_mirror(&registry.host(), &proxy.host())
        .map_err(|e| e.to_string())?;
    let config = HostConfig {
        resolver,
        digest_cache: None,
        timeout_seconds: None,
        ..HostConfig::default()
    };
    let p = Policy::load(policy_path, config).map_err(|e| e.to_string())?;
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            black_box(p.validate(request, settings));
            start.elapsed()
        })
        .collect();
    if proxy.requests().is_empty() {
        return Err("the far lookup did not go through the proxy".into());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Medians of each (policy, settings) on `request`, timed in turn so that a change in the
/// machine's load weighs on all alike.
fn medians(cases: [(&Policy, &Value); 3], request: &Value, iterations: usize) -> [Duration; 3] {
    let time = |(p, settings): (&Policy, &Value)| {
        let start = Instant::now();
        black_box(p.validate(black_box(request), settings));
        start.elapsed()
    };
    for _ in 0..iterations.div_ceil(10) {
        let _ = cases.map(time);
    }
    let mut times: [Vec<Duration>; 3] = Default::default();
    for _ in 0..iterations {
        for (i, t) in cases.map(time).into_iter().enumerate() {
            times[i].push(t);
        }
    }
    times.map(|mut t| {
        t.sort();
        t[t.len() / 2]
    })
}
