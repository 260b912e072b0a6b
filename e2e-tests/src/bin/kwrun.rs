//! `kwrun`: a small stand-in for `kwctl run`. Prints the AdmissionResponse of a waPC
//! policy for each request, one JSON document per line, or with `--summary` what was asked
//! and the verdict in a few lines for people.

use std::process::ExitCode;

use std::collections::BTreeSet;

use e2e_tests::host::DEFAULT_TIMEOUT_SECONDS;
use e2e_tests::{
    ClusterState, ContextAwareResource, DigestResolver, HostConfig, PolicyModule, annotate,
    context_aware, input, summary,
};
use serde_json::Value;

const USAGE: &str = "\
Usage: kwrun [OPTIONS] --request-path <FILE> <POLICY.wasm>

Runs a Kubewarden waPC policy against AdmissionRequests, like `kwctl run`,
and prints one AdmissionResponse (JSON) per request on stdout.

Options:
  -r, --request-path <FILE>       AdmissionRequest JSON (bare, or an AdmissionReview);
                                  repeat to evaluate several requests in order
  -s, --settings-path <FILE>      policy settings, JSON or YAML
      --settings-json <JSON>      policy settings inline
      --registry-mirror <FROM=TO> answer oci/v1/manifest_digest and oci/v1/oci_manifest
                                  for registry FROM from the loopback registry TO
                                  (repeatable)
      --cluster-state <FILE>      the cluster kubernetes/list_resources_by_namespace
                                  lists from: a Kubernetes List, JSON or YAML, as
                                  `kubectl get pods -A -o json` prints it (repeatable;
                                  the items add up) [default: an empty cluster]
      --allow-context-aware       as kwctl run: grant the Kubernetes resources the
                                  policy's metadata lists (contextAwareResources), read
                                  from the metadata `kwctl annotate` embeds in the wasm;
                                  a policy that is not annotated gets none. Without this
                                  flag every kubernetes/* list call is refused
      --context-aware-resources-from <metadata.yml>
                                  with --allow-context-aware: read contextAwareResources
                                  from this metadata file instead of the wasm (for a
                                  policy not annotated yet, e.g. `make`'s policy.wasm;
                                  `kwctl annotate -m metadata.yml` embeds the same)
      --not-mutating              behave like policy-server with `mutating: false`:
                                  a response with a patch becomes a rejection
      --timeout <SECONDS>         interrupt the policy as policy-server does after this
                                  many 1 s epoch ticks (so after SECONDS-1 to SECONDS s)
                                  and answer with its rejection [default: 2, as
                                  policy-server's --policy-timeout]
      --no-timeout                never interrupt the policy (policy-server's
                                  --disable-timeout-protection; kwctl run has no limit)
      --instance-per-request      a fresh policy instance for every request, as
                                  policy-server runs policies (kwctl keeps one)
      --summary                   print what was asked and the verdict for people
                                  (decoded patch, warnings, audit annotations)
                                  instead of the AdmissionResponse JSON
  -v, --verbose                   print policy logs and host calls on stderr
      --perf-map                  write /tmp/perf-PID.map, where each function of the
                                  compiled policy lies, for a profiler (callgrind, perf)
                                  to name the policy's own code
  -h, --help                      print this help

Only loopback registries (127.0.0.0/8, localhost, [::1]) are contacted, over plain HTTP.";

#[derive(Debug, Default)]
struct Args {
    requests: Vec<String>,
    settings_path: Option<String>,
    settings_json: Option<String>,
    mirrors: Vec<String>,
    cluster_state: Vec<String>,
    allow_context_aware: bool,
    context_aware_from: Option<String>,
    not_mutating: bool,
    timeout: Option<u64>,
    no_timeout: bool,
    instance_per_request: bool,
    summary: bool,
    verbose: bool,
    perf_map: bool,
    policy: Option<String>,
}

enum Parsed {
    Run(Args),
    Help,
}

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut args = Args::default();
    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-r" | "--request-path" => args.requests.push(value("--request-path")?),
            "-s" | "--settings-path" => args.settings_path = Some(value("--settings-path")?),
            "--settings-json" => args.settings_json = Some(value("--settings-json")?),
            "--registry-mirror" => args.mirrors.push(value("--registry-mirror")?),
            "--cluster-state" => args.cluster_state.push(value("--cluster-state")?),
            "--allow-context-aware" => args.allow_context_aware = true,
            "--context-aware-resources-from" => {
                args.context_aware_from = Some(value("--context-aware-resources-from")?);
            }
            "--not-mutating" => args.not_mutating = true,
            "--timeout" => {
                let v = value("--timeout")?;
                let seconds = v.parse::<u64>().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("--timeout needs a whole number of seconds, not {v:?}")
                })?;
                args.timeout = Some(seconds);
            }
            "--no-timeout" => args.no_timeout = true,
            "--instance-per-request" => args.instance_per_request = true,
            "--summary" => args.summary = true,
            "-v" | "--verbose" => args.verbose = true,
            "--perf-map" => args.perf_map = true,
            f if f.starts_with('-') && f != "-" => return Err(format!("unknown option {f}")),
            _ => {
                if args.policy.replace(arg).is_some() {
                    return Err("give exactly one policy .wasm".into());
                }
            }
        }
    }
    if args.policy.is_none() {
        return Err("missing the policy .wasm".into());
    }
    if args.requests.is_empty() {
        return Err("missing --request-path".into());
    }
    if args.timeout.is_some() && args.no_timeout {
        return Err("give --timeout or --no-timeout, not both".into());
    }
    if args.settings_path.is_some() && args.settings_json.is_some() {
        return Err("give --settings-path or --settings-json, not both".into());
    }
    if args.context_aware_from.is_some() && !args.allow_context_aware {
        return Err(
            "--context-aware-resources-from needs --allow-context-aware, which grants them".into(),
        );
    }
    Ok(Parsed::Run(args))
}

fn run(args: Args) -> Result<(), String> {
    let settings: Value = match (&args.settings_path, &args.settings_json) {
        (Some(path), _) => input::read_settings(path).map_err(|e| e.to_string())?,
        (None, Some(text)) => {
            input::parse_settings(text).map_err(|e| format!("cannot parse --settings-json: {e}"))?
        }
        (None, None) => Value::Object(Default::default()),
    };
    // Read every request up front so a bad file fails before anything is printed.
    let requests = args
        .requests
        .iter()
        .map(|p| input::read_request(p).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;

    let mut resolver = DigestResolver::new();
    for spec in &args.mirrors {
        resolver = resolver.with_mirror_spec(spec).map_err(|e| e.to_string())?;
    }
    let cluster = ClusterState::read(&args.cluster_state).map_err(|e| e.to_string())?;
    let policy_path = args.policy.clone().unwrap_or_default();
    let context_aware_resources = granted_resources(&args, &policy_path)?;
    if args.verbose {
        eprintln!(
            "[kwrun] cluster state: {} objects ({}); granted: {}",
            cluster.len(),
            cluster.types().join(", "),
            context_aware_resources
                .iter()
                .map(|r| format!("{}/{}", r.api_version, r.kind))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let module = if args.perf_map {
        PolicyModule::from_file_with_perf_map(&policy_path)
    } else {
        PolicyModule::from_file(&policy_path)
    };
    let policy = module
        .and_then(|module| {
            module.instantiate(HostConfig {
                resolver,
                verbose: args.verbose,
                cluster,
                context_aware_resources,
                timeout_seconds: if args.no_timeout {
                    None
                } else {
                    Some(args.timeout.unwrap_or(DEFAULT_TIMEOUT_SECONDS))
                },
                instance_per_request: args.instance_per_request,
                ..HostConfig::default()
            })
        })
        .map_err(|e| e.to_string())?;

    let version = policy
        .protocol_version()
        .map_err(|e| format!("{policy_path} is not a Kubewarden waPC policy: {e}"))?;
    if version != "v1" {
        return Err(format!("unsupported policy protocol version {version:?}"));
    }

    let validation = policy
        .validate_settings(&settings)
        .map_err(|e| e.to_string())?;
    if !validation.valid {
        return Err(format!(
            "Provided settings are not valid: {}",
            validation.message.unwrap_or_default()
        ));
    }

    for (request, path) in requests.iter().zip(&args.requests) {
        policy.clear_host_calls();
        let mut response = policy.validate(request, &settings);
        if args.not_mutating {
            response = response.enforce_not_mutating("policy-from-cli");
        }
        if args.summary {
            println!(
                "## {path}\n{}",
                summary::describe(request, &settings, &response, &policy.host_calls())
            );
        } else {
            let line = serde_json::to_string(&response).map_err(|e| e.to_string())?;
            println!("{line}");
        }
    }
    Ok(())
}

/// The resources the policy may list, decided as kwctl run decides them: with
/// `--allow-context-aware`, the `contextAwareResources` of the policy's metadata (embedded, or
/// `--context-aware-resources-from`); without it, none (kwctl's warnings on stderr).
fn granted_resources(
    args: &Args,
    policy_path: &str,
) -> Result<BTreeSet<ContextAwareResource>, String> {
    if let Some(path) = &args.context_aware_from {
        return context_aware::resources_of_metadata_file(path).map_err(|e| e.to_string());
    }
    let wasm = std::fs::read(policy_path).map_err(|e| format!("cannot read {policy_path}: {e}"))?;
    let embedded = match annotate::read_metadata(&wasm).map_err(|e| e.to_string())? {
        Some(metadata) => {
            context_aware::resources_of_metadata(&metadata).map_err(|e| e.to_string())?
        }
        None if args.allow_context_aware => {
            eprintln!(
                "kwrun: Policy is not annotated, access to Kubernetes resources is not allowed \
                 (give its metadata with --context-aware-resources-from metadata.yml)"
            );
            return Ok(BTreeSet::new());
        }
        None => BTreeSet::new(),
    };
    if args.allow_context_aware {
        return Ok(embedded);
    }
    if !embedded.is_empty() {
        eprintln!(
            "kwrun: Policy requires access to Kubernetes resources at evaluation time. During \
             this execution the access to Kubernetes resources is denied. This can cause the \
             policy to not behave properly"
        );
    }
    Ok(BTreeSet::new())
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Parsed::Run(args)) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kwrun: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("kwrun: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_repeated_requests_and_inline_values() {
        let Ok(Parsed::Run(a)) = args(&[
            "-r",
            "a.json",
            "--request-path=b.json",
            "--registry-mirror",
            "docker.io=127.0.0.1:5000",
            "--not-mutating",
            "--timeout=5",
            "p.wasm",
        ]) else {
            panic!("should parse");
        };
        assert_eq!(a.requests, ["a.json", "b.json"]);
        assert!(a.cluster_state.is_empty() && !a.allow_context_aware);
        assert_eq!(a.mirrors, ["docker.io=127.0.0.1:5000"]);
        assert!(a.not_mutating);
        assert_eq!(a.timeout, Some(5));
        assert_eq!(a.policy.as_deref(), Some("p.wasm"));
    }

    #[test]
    fn parses_the_cluster_options() {
        let Ok(Parsed::Run(a)) = args(&[
            "-r",
            "a.json",
            "--cluster-state",
            "pods.json",
            "--cluster-state=more.yaml",
            "--allow-context-aware",
            "--context-aware-resources-from",
            "metadata.yml",
            "p.wasm",
        ]) else {
            panic!("should parse");
        };
        assert_eq!(a.cluster_state, ["pods.json", "more.yaml"]);
        assert!(a.allow_context_aware);
        assert_eq!(a.context_aware_from.as_deref(), Some("metadata.yml"));
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert!(args(&["p.wasm"]).is_err());
        assert!(args(&["-r", "a.json"]).is_err());
        assert!(args(&["-r"]).is_err());
        assert!(args(&["-r", "a", "--bogus", "p.wasm"]).is_err());
        assert!(args(&["-r", "a", "p.wasm", "q.wasm"]).is_err());
        assert!(args(&["-r", "a", "-s", "s.yml", "--settings-json", "{}", "p.wasm"]).is_err());
        assert!(args(&["-r", "a", "--timeout", "0", "p.wasm"]).is_err());
        assert!(args(&["-r", "a", "--timeout", "1.5", "p.wasm"]).is_err());
        assert!(args(&["-r", "a", "--timeout", "3", "--no-timeout", "p.wasm"]).is_err());
        assert!(
            args(&[
                "-r",
                "a",
                "--context-aware-resources-from",
                "m.yml",
                "p.wasm"
            ])
            .is_err()
        );
        assert!(matches!(args(&["--help"]), Ok(Parsed::Help)));
    }
}
