//! `pinbench`: how long pinning takes in the field. Pushes cold images to the real registry,
//! puts the fault proxy in front of it with a per-request latency, and sends a Deployment in
//! pin mode to the policy through the e2e host (policy-server's 2 s limit in 1 s ticks, its
//! 60 s digest cache) until it is admitted. Prints, per latency: one lookup's time, the
//! first answer's time, images resolved per try, and the tries to admission.
//!
//! Usage: pinbench [--images N] [--latency-ms MS]... POLICY.wasm

use std::process::ExitCode;
use std::time::{Duration, Instant};

use e2e_tests::images::{Layout, Platform};
use e2e_tests::policy::INTERRUPTED_MESSAGE;
use e2e_tests::proxy::{Fault, FaultProxy};
use e2e_tests::{DigestCache, DigestResolver, HostConfig, Policy, Registry};
use serde_json::{Value, json};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pinbench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut images = 12usize;
    let mut latencies = Vec::new();
    let mut policy_path = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut number = |name: &str| {
            it.next()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match a.as_str() {
            "--images" => images = number("--images")? as usize,
            "--latency-ms" => latencies.push(number("--latency-ms")?),
            _ => policy_path = Some(a),
        }
    }
    let policy_path = policy_path.ok_or("give the policy .wasm")?;
    if latencies.is_empty() {
        latencies = vec![0, 50, 150, 300];
    }
    let registry = Registry::start().map_err(|e| e.to_string())?;
    let proxy = FaultProxy::start(&registry.host()).map_err(|e| e.to_string())?;
    let layout = Layout::new().map_err(|e| e.to_string())?;
    println!(
        "{images} distinct cold images in pin mode, default settings (pinBudgetMilliseconds 900); \
         host: 2 s limit in 1 s ticks, 60 s digest cache"
    );
    println!(
        "{:>11} {:>13} {:>13} {:>26} {:>6}",
        "latency", "one lookup", "first answer", "resolved per try", "tries"
    );
    for (round, latency) in latencies.iter().enumerate() {
        // Fresh tags per round, so every round starts cold.
        let refs: Vec<String> = (0..images)
            .map(|i| {
                let tag = format!("{round}.{i}");
                layout
                    .add_image(
                        &tag,
                        Platform::LINUX_AMD64,
                        &format!("round {round} image {i}"),
                    )
                    .and_then(|()| layout.push(&tag, &registry.image(&format!("app:{tag}")), false))
                    .map(|()| format!("{}/app:{tag}", proxy.host()))
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        proxy.set_fault(Fault::Latency(Duration::from_millis(*latency)));
        let one = {
            let started = Instant::now();
            DigestResolver::new()
                .manifest_digest(&format!("{}/app:{round}.0", proxy.host()))
                .map_err(|e| e.to_string())?;
            started.elapsed()
        };
        let policy = Policy::load(
            &policy_path,
            HostConfig {
                digest_cache: Some(DigestCache::default()),
                ..HostConfig::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let request = deployment(&refs);
        let settings = json!({"pinImmutableTags": true});
        let mut counts = Vec::new();
        let mut first = None;
        loop {
            let started = Instant::now();
            let resp = policy.validate(&request, &settings);
            first.get_or_insert(started.elapsed());
            if resp.message().contains(INTERRUPTED_MESSAGE) {
                return Err(format!("the host interrupted the policy at {latency} ms"));
            }
            if resp.allowed {
                counts.push(images);
                break;
            }
            counts.push(tally(resp.message()).ok_or(resp.message().to_string())?);
            if counts.len() > images {
                return Err(format!("no convergence at {latency} ms: {counts:?}"));
            }
        }
        println!(
            "{:>8} ms {:>10.0} ms {:>10.0} ms {:>26} {:>6}",
            latency,
            one.as_secs_f64() * 1000.0,
            first.unwrap_or_default().as_secs_f64() * 1000.0,
            counts
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            counts.len()
        );
    }
    Ok(())
}

/// "… 3 of 12 resolved …" → 3.
fn tally(message: &str) -> Option<usize> {
    let at = message.find(" of ")?;
    message[..at].rsplit(' ').next()?.parse().ok()
}

fn deployment(images: &[String]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image, "imagePullPolicy": "Always"}))
        .collect();
    json!({
        "uid": "pinbench",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "operation": "CREATE",
        "object": {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "pinbench", "namespace": "default"},
            "spec": {"template": {"spec": {"containers": containers}}}
        }
    })
}
