//! The fuel guard: the policy's work per request, counted in wasmtime fuel (the wasm
//! operators it runs: the same every run, unlike times), against the budget committed in
//! `e2e-tests/fuel-budget.json` (`docs/testing.md`).
//!
//! Cases: the Pod (2 containers) and the Deployment (35 containers) of `make bench`
//! (`e2e_tests::samples`), each validating (default settings; the answer accepts them as they
//! are) and mutating (pull policies `IfNotPresent`, `pullPolicyAction: mutate`: every
//! container gets `Always`; no pinning, so no registry), each counted two ways:
//!
//! - `warm`: the second request on one instance, whose settings are already compiled, as
//!   `kwctl run` and `kwctl bench` run the policy;
//! - `fresh`: one request on a new instance, its start (`wapc_init`) included, as
//!   policy-server runs every request; the settings are compiled every time.
//!
//! A count over its budget (the committed count plus `headroom_percent`) fails; one that fell
//! more than `note_below_percent` under the committed count passes with a note to lower it.
//! `FUEL_BUDGET_WRITE=1` rewrites the file from the counts measured (`make fuel-budget`).

use std::fmt::Write as _;
use std::io::Write as _;

use std::collections::BTreeSet;

use e2e_tests::samples::{namespace_pods, new_replica, request, samples};
use e2e_tests::{
    ClusterState, ContextAwareResource, Fuel, HostConfig, Policy, PolicyModule, policy_wasm_path,
    workspace_root,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const BUDGET_FILE: &str = "e2e-tests/fuel-budget.json";
const WRITE_ENV: &str = "FUEL_BUDGET_WRITE";

/// `e2e-tests/fuel-budget.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Budget {
    about: String,
    /// How far over its committed count a case may go before the guard fails.
    headroom_percent: u64,
    /// How far under its committed count a case may fall before the guard says to lower it.
    note_below_percent: u64,
    /// The committed count of each case, in fuel.
    fuel: std::collections::BTreeMap<String, u64>,
}

const ABOUT: &str = "wasmtime fuel per request of policy.wasm, counted by \
    e2e-tests/tests/fuel_budget.rs (docs/testing.md). A count over its committed value plus \
    headroom_percent fails make e2e-tests; make fuel-budget rewrites this file.";

struct Case {
    name: &'static str,
    request: Value,
    settings: Value,
    mutates: bool,
    /// The Pods the host lists (granted `v1/Pod`), for a case that lists them.
    pods: Option<Vec<Value>>,
}

fn cases() -> Vec<Case> {
    let (pod, deployment, _) = samples("Always");
    let (pull_pod, pull_deployment, _) = samples("IfNotPresent");
    let case = |name, kind, group, object: &Value, mutates| Case {
        name,
        request: request(kind, group, "v1", "CREATE", object, None),
        settings: if mutates {
            json!({"pullPolicyAction": "mutate"})
        } else {
            json!({})
        },
        mutates,
        pods: None,
    };
    // A new replica pinned from its two replicas in a namespace of 100 Pods: one list call,
    // no registry (the list's reading is what grows with the namespace).
    let owner = ("web-7d9", "9f1c2b3a-4d5e-4f60-8a7b-0c1d2e3f4a5b");
    let written = "ghcr.io/example/web:v1";
    let digest = format!("sha256:{}", "4f2a".repeat(16));
    let replica = Case {
        name: "Pod pinned from its replicas among 100",
        request: new_replica("bench", owner, "web", written),
        settings: json!({"mutableTags": ["v1"], "mutableTagAction": "pin"}),
        mutates: true,
        pods: Some(namespace_pods(100, owner, written, &digest)),
    };
    vec![
        case("Pod validating", "Pod", "", &pod, false),
        case("Pod mutating", "Pod", "", &pull_pod, true),
        case(
            "Deployment validating",
            "Deployment",
            "apps",
            &deployment,
            false,
        ),
        case(
            "Deployment mutating",
            "Deployment",
            "apps",
            &pull_deployment,
            true,
        ),
        replica,
    ]
}

/// One request of `case` on `policy`, checked to answer as the case expects; what the
/// instance spent.
fn evaluate(policy: &Policy, case: &Case) -> Fuel {
    let answer = policy
        .validate_raw(&case.request, &case.settings)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    assert!(
        answer.accepted && answer.mutated_object.is_some() == case.mutates,
        "{}: expected an acceptance {}, got {answer:?}",
        case.name,
        if case.mutates {
            "with a mutation"
        } else {
            "as is"
        },
    );
    policy.fuel().expect("the module counts fuel")
}

/// Each case's counts, `<case>, warm` and `<case>, fresh`, in case order.
fn measure() -> Vec<(String, u64)> {
    let path = policy_wasm_path();
    assert!(
        path.exists(),
        "policy wasm {} not found; build it with `make policy.wasm`",
        path.display()
    );
    let module = PolicyModule::from_file_counting_fuel(&path).unwrap_or_else(|e| panic!("{e}"));
    let instance = |instance_per_request, case: &Case| {
        let (cluster, context_aware_resources) = match &case.pods {
            Some(pods) => (
                ClusterState::from_list(json!({"apiVersion": "v1", "kind": "List", "items": pods}))
                    .unwrap_or_else(|e| panic!("{e}")),
                BTreeSet::from([ContextAwareResource::new("v1", "Pod")]),
            ),
            None => (ClusterState::default(), BTreeSet::new()),
        };
        module
            .instantiate(HostConfig {
                instance_per_request,
                cluster,
                context_aware_resources,
                ..HostConfig::default()
            })
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let mut counts = Vec::new();
    for case in cases() {
        let warm = instance(false, &case);
        evaluate(&warm, &case);
        let warm = evaluate(&warm, &case).call;
        let fresh = evaluate(&instance(true, &case), &case);
        counts.push((format!("{}, warm", case.name), warm));
        counts.push((format!("{}, fresh", case.name), fresh.init + fresh.call));
    }
    counts
}

#[test]
fn the_policy_keeps_within_its_fuel_budget() {
    let counts = measure();
    let path = workspace_root().join(BUDGET_FILE);
    let text = std::fs::read_to_string(&path);
    let committed: Option<Budget> = text
        .as_ref()
        .ok()
        .map(|t| serde_json::from_str(t).unwrap_or_else(|e| panic!("{BUDGET_FILE}: {e}")));

    if std::env::var_os(WRITE_ENV).is_some_and(|v| v != "0" && !v.is_empty()) {
        let budget = Budget {
            about: ABOUT.to_string(),
            headroom_percent: committed.as_ref().map_or(10, |b| b.headroom_percent),
            note_below_percent: committed.as_ref().map_or(20, |b| b.note_below_percent),
            fuel: counts.iter().cloned().collect(),
        };
        let json = serde_json::to_string_pretty(&budget).expect("serializable") + "\n";
        std::fs::write(&path, json).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        say(&format!(
            "{WRITE_ENV}: wrote {BUDGET_FILE}; the counts against the file's previous ones:\n{}",
            table(&counts, committed.as_ref().unwrap_or(&budget))
        ));
        return;
    }

    let budget = committed.unwrap_or_else(|| {
        panic!(
            "{BUDGET_FILE}: {}; write it with `make fuel-budget`",
            text.err().map_or_else(String::new, |e| e.to_string())
        )
    });
    let refresh = format!(
        "if this is intended, update {BUDGET_FILE} with the counts printed here \
         (`make fuel-budget` writes them)"
    );
    let mut over = Vec::new();
    let mut under = Vec::new();
    for (name, count) in &counts {
        let Some(&committed) = budget.fuel.get(name) else {
            over.push(format!("{name}: {} fuel, no budget", grouped(*count)));
            continue;
        };
        let allowed = committed * (100 + budget.headroom_percent) / 100;
        if *count > allowed {
            over.push(format!(
                "{name}: {} fuel, budget {} ({}; committed {}, {})",
                grouped(*count),
                grouped(allowed),
                percent(*count, allowed),
                grouped(committed),
                percent(*count, committed),
            ));
        } else if *count * 100 < committed * (100 - budget.note_below_percent) {
            under.push(format!(
                "{name}: {} fuel, committed {} ({})",
                grouped(*count),
                grouped(committed),
                percent(*count, committed),
            ));
        }
    }
    let stale: Vec<_> = budget
        .fuel
        .keys()
        .filter(|name| !counts.iter().any(|(n, _)| n == *name))
        .collect();
    // Shown with --nocapture, and above the failure's message.
    println!("fuel per request:\n{}", table(&counts, &budget));
    if !under.is_empty() {
        say(&format!(
            "note: the policy's work fell more than {}% under its committed fuel count; lower \
             the budget (`make fuel-budget` rewrites {BUDGET_FILE}) so that it \
             guards the new count:\n  {}\n{}",
            budget.note_below_percent,
            under.join("\n  "),
            table(&counts, &budget)
        ));
    }
    assert!(
        over.is_empty() && stale.is_empty(),
        "the policy's work per request is over its fuel budget (committed count + {}%):\n  {}\n{}\
         {refresh}.",
        budget.headroom_percent,
        over.join("\n  "),
        if stale.is_empty() {
            String::new()
        } else {
            format!("  cases no longer measured: {stale:?}\n")
        },
    );
}

/// Writes to stderr past the test harness's capture, so that `make check` shows it even
/// when the test passes.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// The counts against the committed ones, a line a case.
fn table(counts: &[(String, u64)], budget: &Budget) -> String {
    let mut out = String::new();
    for (name, count) in counts {
        let committed = budget.fuel.get(name);
        let _ = writeln!(
            out,
            "  {name:<32} {:>13}  committed {:>13}  {}",
            grouped(*count),
            committed.map_or("-".to_string(), |c| grouped(*c)),
            committed.map_or(String::new(), |c| percent(*count, *c)),
        );
    }
    out
}

/// `+12.2%`: how far `count` is from `reference`.
fn percent(count: u64, reference: u64) -> String {
    let change = (count as f64 - reference as f64) / reference.max(1) as f64 * 100.0;
    format!("{change:+.1}%")
}

/// `123,456`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}
