//! The `kwrun` runner as a user runs it, on the request files in `e2e-tests/fixtures/`.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use e2e_tests::images::push_image;
use e2e_tests::{AdmissionResponse, Registry, policy_wasm_path};
use serde_json::Value;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .display()
        .to_string()
}

fn kwrun(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kwrun"))
        .args(args)
        .output()
        .expect("run kwrun")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One AdmissionResponse per stdout line.
fn responses(out: &Output) -> Vec<AdmissionResponse> {
    assert!(out.status.success(), "kwrun failed: {}", stderr(out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The policy under test, after checking it loads.
fn policy_path() -> String {
    common::policy_module();
    policy_wasm_path().display().to_string()
}

#[test]
fn cli_help_and_usage_errors() {
    let out = kwrun(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--request-path"));

    for args in [
        &[][..],
        &["policy.wasm"],
        &["-r", "x.json"],
        &["--bogus", "-r", "x", "p"],
    ] {
        let out = kwrun(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("kwrun: "), "{}", stderr(&out));
    }
}

#[test]
fn cli_unreadable_inputs_fail_with_a_clear_message() {
    let request = fixture("pod-latest.json");
    let cases: [(&[&str], &str); 4] = [
        (
            &["-r", "/nonexistent/request.json", "p.wasm"],
            "/nonexistent/request.json",
        ),
        (
            &["-r", &request, "/nonexistent/policy.wasm"],
            "/nonexistent/policy.wasm",
        ),
        (
            &["-r", &request, "-s", "/nonexistent/settings.yml", "p.wasm"],
            "/nonexistent/settings.yml",
        ),
        (
            &["-r", &request, "--settings-json", "[1,", "p.wasm"],
            "--settings-json",
        ),
    ];
    for (args, needle) in cases {
        let out = kwrun(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed a response");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    let out = kwrun(&["-r", &fixture("settings-warn.yml"), "p.wasm"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("request file"), "{}", stderr(&out));
}

#[test]
fn cli_prints_one_response_per_request() {
    let policy = policy_path();
    let out = kwrun(&[
        "-r",
        &fixture("pod-latest.json"),
        "--request-path",
        &fixture("pod-versioned-always.json"),
        &policy,
    ]);
    let rs = responses(&out);
    assert_eq!(rs.len(), 2);
    assert_eq!(rs[0].uid, "e2e-pod-latest");
    assert!(
        !rs[0].allowed && rs[0].message().contains("nginx:latest"),
        "{:?}",
        rs[0]
    );
    assert_eq!(rs[1].uid, "e2e-pod-versioned-always");
    assert!(rs[1].allowed && rs[1].patch.is_none(), "{:?}", rs[1]);
    // The same keys as kwctl run prints.
    let first: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    for key in ["uid", "allowed", "status", "auditAnnotations", "warnings"] {
        assert!(first.get(key).is_some(), "missing {key}: {first}");
    }
}

/// policy-server's way (a fresh instance per request, so settings compiled every time) gives
/// the answers kwctl's way (one instance) gives, request after request.
#[test]
fn cli_instance_per_request_answers_as_one_instance_does() {
    let policy = policy_path();
    let settings = r#"{"immutableTagPatterns":["semver","sha-[0-9a-f]{7,40}"],"mutableTags":["latest","edge"]}"#;
    let mut args = vec!["--settings-json", settings];
    let requests: Vec<String> = [
        "pod-latest.json",
        "pod-versioned-always.json",
        "pod-versioned-no-pull-policy.json",
        "deployment-latest.json",
        "pod-init-no-tag.json",
    ]
    .iter()
    .map(|f| fixture(f))
    .collect();
    for r in &requests {
        args.extend(["-r", r.as_str()]);
    }
    args.push(&policy);
    let reused = responses(&kwrun(&args));
    args.insert(0, "--instance-per-request");
    let fresh = responses(&kwrun(&args));
    assert_eq!(reused.len(), requests.len());
    assert_eq!(fresh, reused);
    assert!(reused.iter().any(|r| r.allowed) && reused.iter().any(|r| !r.allowed));
}

#[test]
fn cli_evaluates_with_any_limit_and_with_none() {
    let policy = policy_path();
    let request = fixture("pod-latest.json");
    for limit in [
        &["--timeout", "1"][..],
        &["--timeout", "30"],
        &["--no-timeout"],
        &[],
    ] {
        let mut args = vec!["-r", &request];
        args.extend_from_slice(limit);
        args.push(&policy);
        let out = kwrun(&args);
        assert!(out.status.success(), "{limit:?}: {}", stderr(&out));
        let rs = responses(&out);
        assert_eq!(rs.len(), 1, "{limit:?}");
        assert!(
            !rs[0].allowed && rs[0].message().contains("nginx:latest"),
            "{limit:?}: {:?}",
            rs[0]
        );
    }
}

#[test]
fn cli_invalid_settings_fail() {
    let policy = policy_path();
    let out = kwrun(&[
        "-r",
        &fixture("pod-latest.json"),
        "-s",
        &fixture("settings-typo.json"),
        &policy,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Provided settings are not valid") && err.contains("mutableTag"),
        "{err}"
    );
}

#[test]
fn cli_yaml_settings_and_warn_mode() {
    let policy = policy_path();
    let out = kwrun(&[
        "-r",
        &fixture("pod-latest.json"),
        "--settings-path",
        &fixture("settings-warn.yml"),
        &policy,
    ]);
    let rs = responses(&out);
    assert!(rs[0].allowed, "{:?}", rs[0]);
    assert!(!rs[0].warnings().is_empty(), "{:?}", rs[0]);
}

#[test]
fn cli_not_mutating_turns_a_patch_into_a_rejection() {
    let policy = policy_path();
    let request = fixture("pod-versioned-no-pull-policy.json");
    let mutating = responses(&kwrun(&["-r", &request, &policy]));
    assert!(
        mutating[0].allowed && mutating[0].patch.is_some(),
        "{:?}",
        mutating[0]
    );
    let validating = responses(&kwrun(&["-r", &request, "--not-mutating", &policy]));
    assert!(
        !validating[0].allowed && validating[0].patch.is_none(),
        "{:?}",
        validating[0]
    );
    assert!(validating[0].message().contains("not allow mutations"));
}

#[test]
fn cli_pins_from_a_local_registry_and_a_mirror() {
    let policy = policy_path();
    let registry = Registry::start().unwrap();
    let app = push_image(&registry, "app", "latest", "cli app").unwrap();
    let nginx = push_image(&registry, "library/nginx", "1.25.3", "cli nginx").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let template = std::fs::read_to_string(fixture("pod-local-registry.json")).unwrap();
    let request = dir.path().join("request.json");
    std::fs::write(
        &request,
        template.replace("REGISTRY_PORT", &registry.port().to_string()),
    )
    .unwrap();
    let request = request.display().to_string();

    let rs = responses(&kwrun(&[
        "-r",
        &request,
        "-s",
        &fixture("settings-pin.json"),
        &policy,
    ]));
    let object: Value = serde_json::from_str::<Value>(&std::fs::read_to_string(&request).unwrap())
        .unwrap()["object"]
        .clone();
    let patched = rs[0].patched(&object).unwrap();
    assert_eq!(
        patched["spec"]["containers"][0]["image"],
        app.pinned(),
        "{:?}",
        rs[0]
    );

    let mirror = format!("docker.io={}", registry.host());
    let rs = responses(&kwrun(&[
        "-r",
        &fixture("pod-versioned-always.json"),
        "--settings-json",
        r#"{"pinImmutableTags": true}"#,
        "--registry-mirror",
        &mirror,
        &policy,
    ]));
    let object: Value = serde_json::from_str::<Value>(
        &std::fs::read_to_string(fixture("pod-versioned-always.json")).unwrap(),
    )
    .unwrap()["object"]
        .clone();
    let patched = rs[0].patched(&object).unwrap();
    assert_eq!(
        patched["spec"]["containers"][0]["image"],
        format!("nginx:1.25.3@{}", nginx.digest),
        "{:?}",
        rs[0]
    );
}

#[test]
fn cli_summary_shows_what_was_asked_and_the_verdict() {
    let policy = policy_path();
    let sample = |name: &str| {
        e2e_tests::workspace_root()
            .join("test_data")
            .join(name)
            .display()
            .to_string()
    };
    let (audit, cronjob) = (sample("audit/deployment.json"), sample("cronjob.json"));
    let out = kwrun(&["--summary", "-r", &audit, "-r", &cronjob, &policy]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let (first, second) = text.split_once(&format!("## {cronjob}\n")).unwrap();
    assert!(
        first.starts_with(&format!(
            "## {audit}\nasked:    CREATE Deployment api by the audit-scanner (background audit)\n\
         settings: default settings\n\
         images:   containers[0] \"api\" ghcr.io/example/api:latest (Always)\n"
        )),
        "{first}"
    );
    assert!(
        first.contains("\nverdict:  REJECTED\n  message: spec.template.spec.containers[0]"),
        "{first}"
    );
    assert!(second.contains("by kubernetes-admin\n"), "{second}");
    assert!(second.contains(
        "verdict:  ACCEPTED, MUTATED\n  patch:   add /spec/jobTemplate/spec/template/spec/containers/0/imagePullPolicy \"Always\"\n"
    ), "{second}");
}

/// `--perf-map` writes wasmtime's perf map of the compiled policy, which a profiler reads to
/// name the policy's own code (docs/performance.md), and answers as without it.
#[test]
fn cli_perf_map_lists_the_compiled_policy_and_changes_no_answer() {
    let policy = policy_path();
    let request = fixture("pod-latest.json");
    let plain = responses(&kwrun(&["-r", &request, &policy]));
    let child = Command::new(env!("CARGO_BIN_EXE_kwrun"))
        .args(["--perf-map", "-r", &request, &policy])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kwrun");
    let map = PathBuf::from(format!("/tmp/perf-{}.map", child.id()));
    let out = child.wait_with_output().expect("kwrun ends");
    assert_eq!(responses(&out), plain);
    let text = std::fs::read_to_string(&map).unwrap_or_else(|e| panic!("{}: {e}", map.display()));
    std::fs::remove_file(&map).ok();
    // One line per compiled function: start, size (hex) and name. The policy's functions are
    // `wasm[0]::function[N]` in the stripped build, by their names in an unstripped one.
    let functions = text
        .lines()
        .filter(|line| line.contains("wasm[0]::function[") || line.contains("immutable_images"))
        .count();
    assert!(
        functions > 100,
        "{functions} policy functions in {text:.300}"
    );
}
