#!/usr/bin/env bats
# The main end-to-end cases with the real `kwctl run`, on the same request files as the
# Rust tests (e2e-tests/fixtures/). Every test skips when kwctl is not on PATH.
#
#   bats e2e-tests/kwctl.bats
#
# The policy is $POLICY_WASM, else annotated-policy.wasm when it is not older than policy.wasm,
# else policy.wasm at the repo root (`make bats` sets POLICY_WASM).
# The pinning test also needs docker-registry, umoci and skopeo (e2e-tests/setup.sh).

bats_require_minimum_version 1.5.0

setup() {
  command -v kwctl >/dev/null 2>&1 || skip "kwctl not found"
  FIXTURES="$BATS_TEST_DIRNAME/fixtures"
  local root="$BATS_TEST_DIRNAME/.."
  if [[ -n "${POLICY_WASM:-}" ]]; then
    POLICY="$POLICY_WASM"
  elif [[ -f "$root/annotated-policy.wasm" && ! "$root/policy.wasm" -nt "$root/annotated-policy.wasm" ]]; then
    POLICY="$root/annotated-policy.wasm"
  else
    POLICY="$root/policy.wasm"
  fi
  if [[ ! -f "$POLICY" ]]; then
    echo "policy $POLICY not found: run 'make policy.wasm' first" >&2
    return 1
  fi
}

teardown() {
  if [[ -n "${APISERVER_PID:-}" ]]; then
    kill "$APISERVER_PID" 2>/dev/null || true
  fi
  if [[ -n "${REGISTRY_PID:-}" ]]; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
  fi
}

# kwctl_run REQUEST_FILE SETTINGS_JSON [kwctl options...]
kwctl_run() {
  local request=$1 settings=$2
  shift 2
  run --separate-stderr kwctl run --request-path "$request" --settings-json "$settings" "$@" "$POLICY"
}

# The JSON patch of the last response, decoded.
decoded_patch() {
  sed -n 's/.*"patch":"\([^"]*\)".*/\1/p' <<<"$output" | base64 -d
}

@test "kwctl: rejects an image tagged :latest" {
  kwctl_run "$FIXTURES/pod-latest.json" '{}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  [[ "$output" == *'spec.containers[0]'*'nginx:latest'* ]]
}

@test "kwctl: rejects an init container without a tag" {
  kwctl_run "$FIXTURES/pod-init-no-tag.json" '{}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  [[ "$output" == *'spec.initContainers[0]'*'busybox'* ]]
}

@test "kwctl: rejects a Deployment with a :latest image" {
  kwctl_run "$FIXTURES/deployment-latest.json" '{}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  [[ "$output" == *'spec.template.spec.containers[0]'* ]]
}

@test "kwctl: accepts a version tag pulled Always, without a patch" {
  kwctl_run "$FIXTURES/pod-versioned-always.json" '{}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":true'* ]]
  [[ "$output" != *'"patch"'* ]]
}

@test "kwctl: sets a missing imagePullPolicy to Always with a JSONPatch" {
  kwctl_run "$FIXTURES/pod-versioned-no-pull-policy.json" '{}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":true'* ]]
  [[ "$output" == *'"patchType":"JSONPatch"'* ]]
  patch=$(decoded_patch)
  [[ "$patch" == *'imagePullPolicy'*'Always'* ]]
  [[ "$patch" != *'x-e2e-unknown-field'* ]]
}

@test "kwctl: an imagePullPolicy written as null is set to Always where it stands" {
  sed 's|"image": "nginx:1.25.3",|"image": "nginx:1.25.3", "imagePullPolicy": null,|' \
    "$FIXTURES/pod-versioned-no-pull-policy.json" >"$BATS_TEST_TMPDIR/null-policy.json"
  grep -q '"imagePullPolicy": null' "$BATS_TEST_TMPDIR/null-policy.json"
  kwctl_run "$BATS_TEST_TMPDIR/null-policy.json" '{}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":true'* ]]
  patch=$(decoded_patch)
  [[ "$patch" == *'"path":"/spec/containers/0/imagePullPolicy","value":"Always"'* ]]
}

@test "kwctl: an exemption glob with a short name does not exempt another registry" {
  sed 's|"nginx:latest"|"nginx:80/evil/app"|' "$FIXTURES/pod-latest.json" >"$BATS_TEST_TMPDIR/evil.json"
  grep -q 'nginx:80/evil/app' "$BATS_TEST_TMPDIR/evil.json"
  kwctl_run "$BATS_TEST_TMPDIR/evil.json" '{"exemptImages": ["nginx:*"]}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  [[ "$output" == *'nginx:80/evil/app'*'no tag'* ]]
  kwctl_run "$FIXTURES/pod-latest.json" '{"exemptImages": ["nginx:*"]}'
  [[ "$output" == *'"allowed":true'* ]]
}

@test "kwctl: an exemption glob starting with ? or [ names a Docker Hub image" {
  sed 's|"nginx:latest"|"nginx:80/evil/app"|' "$FIXTURES/pod-latest.json" >"$BATS_TEST_TMPDIR/evil.json"
  for glob in '?ginx:*' '[n]ginx:*'; do
    kwctl_run "$FIXTURES/pod-latest.json" "{\"exemptImages\": [\"$glob\"]}"
    [ "$status" -eq 0 ]
    [[ "$output" == *'"allowed":true'* ]]
    kwctl_run "$BATS_TEST_TMPDIR/evil.json" "{\"exemptImages\": [\"$glob\"]}"
    [ "$status" -eq 0 ]
    [[ "$output" == *'"allowed":false'* ]]
    [[ "$output" == *'nginx:80/evil/app'*'no tag'* ]]
  done
}

@test "kwctl: a short path on a long registry host is valid, a path past 255 characters is not" {
  local host
  host="$(printf 'r%.0s' {1..240}).example.com"
  sed "s|\"nginx:1.25.3\"|\"$host/team/app:1.0\"|" "$FIXTURES/pod-versioned-always.json" >"$BATS_TEST_TMPDIR/long-host.json"
  grep -q "$host/team/app:1.0" "$BATS_TEST_TMPDIR/long-host.json"
  kwctl_run "$BATS_TEST_TMPDIR/long-host.json" '{}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":true'* ]]
  sed "s|\"nginx:1.25.3\"|\"registry.example.com/$(printf 'a%.0s' {1..256}):1.0\"|" \
    "$FIXTURES/pod-versioned-always.json" >"$BATS_TEST_TMPDIR/long-path.json"
  kwctl_run "$BATS_TEST_TMPDIR/long-path.json" '{}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  [[ "$output" == *'the repository path is 256 characters long'* ]]
}

@test "kwctl: accepts a pinned image pulled IfNotPresent when allowed" {
  kwctl_run "$FIXTURES/pod-pinned-ifnotpresent.json" '{"allowIfNotPresentWhenPinned": true}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":true'* ]]
  [[ "$output" != *'"patch"'* ]]
}

@test "kwctl: pullPolicyAction reject rejects without mutating" {
  kwctl_run "$FIXTURES/pod-versioned-no-pull-policy.json" '{"pullPolicyAction": "reject"}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  [[ "$output" != *'"patch"'* ]]
}

@test "kwctl: warn mode from YAML settings accepts with warnings" {
  run --separate-stderr kwctl run --request-path "$FIXTURES/pod-latest.json" \
    --settings-path "$FIXTURES/settings-warn.yml" "$POLICY"
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":true'* ]]
  [[ "$output" == *'"warnings":["'* ]]
}

@test "kwctl: a settings typo is refused" {
  run --separate-stderr kwctl run --request-path "$FIXTURES/pod-latest.json" \
    --settings-path "$FIXTURES/settings-typo.json" "$POLICY"
  [ "$status" -ne 0 ]
  [[ "$stderr" == *'mutableTag'* ]]
}

# --- a local registry for the pinning test ---

start_registry() {
  local dir="$BATS_TEST_TMPDIR/registry"
  mkdir -p "$dir/storage"
  for _ in $(seq 1 20); do
    REGISTRY_PORT=$((20000 + RANDOM % 20000))
    (echo >"/dev/tcp/127.0.0.1/$REGISTRY_PORT") 2>/dev/null || break
  done
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: e2e-tests-not-a-secret
EOF
  docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  REGISTRY_PID=$!
  for _ in $(seq 1 100); do
    if (echo >"/dev/tcp/127.0.0.1/$REGISTRY_PORT") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  cat "$dir/registry.log" >&2
  return 1
}

# push_image REPO:TAG CONTENT -> prints the digest the registry serves
push_image() {
  local ref=$1 content=$2 layout="$BATS_TEST_TMPDIR/oci-$RANDOM"
  umoci init --layout "$layout" >&2
  umoci new --image "$layout:img" >&2
  printf '%s' "$content" >"$layout.txt"
  umoci insert --rootless --image "$layout:img" "$layout.txt" /e2e/content.txt >&2
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
    "oci:$layout:img" "docker://127.0.0.1:$REGISTRY_PORT/$ref" >&2
  echo "sha256:$(skopeo --insecure-policy inspect --raw --tls-verify=false \
    "docker://127.0.0.1:$REGISTRY_PORT/$ref" | sha256sum | cut -d' ' -f1)"
}

@test "kwctl: pins a mutable tag to the digest a local registry serves" {
  for tool in docker-registry umoci skopeo; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool not found (run e2e-tests/setup.sh)"
  done
  start_registry
  digest=$(push_image app:latest "kwctl pin test")
  sed "s/REGISTRY_PORT/$REGISTRY_PORT/" "$FIXTURES/pod-local-registry.json" >"$BATS_TEST_TMPDIR/request.json"
  printf 'insecure_sources:\n  - "127.0.0.1:%s"\n' "$REGISTRY_PORT" >"$BATS_TEST_TMPDIR/sources.yml"

  kwctl_run "$BATS_TEST_TMPDIR/request.json" '{"mutableTagAction": "pin"}' \
    --sources-path "$BATS_TEST_TMPDIR/sources.yml"
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":true'* ]]
  patch=$(decoded_patch)
  [[ "$patch" == *"127.0.0.1:$REGISTRY_PORT/app:latest@$digest"* ]]
}

@test "kwctl: a registry that is down is one line per image, whatever RUST_BACKTRACE says" {
  command -v jq >/dev/null 2>&1 || skip "jq not found"
  # Nothing listens on port 1: both lookups fail; kwctl's error has a chain and a backtrace.
  sed -e 's/REGISTRY_PORT/1/' \
    -e 's|"image": "127.0.0.1:1/app:latest",|"image": "127.0.0.1:1/app:latest", "imagePullPolicy": "Always"}, {"name": "db", "image": "127.0.0.1:1/db:latest",|' \
    "$FIXTURES/pod-local-registry.json" >"$BATS_TEST_TMPDIR/down.json"
  grep -q '127.0.0.1:1/db:latest' "$BATS_TEST_TMPDIR/down.json"
  export RUST_BACKTRACE=1
  kwctl_run "$BATS_TEST_TMPDIR/down.json" '{"mutableTagAction": "pin"}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  message=$(jq -r .status.message <<<"$output")
  [ "$(wc -l <<<"$message")" -eq 2 ]
  [[ "$message" == *'127.0.0.1:1/app:latest'*'cannot pin it to a digest'* ]]
  [[ "$message" == *'127.0.0.1:1/db:latest'*'cannot pin it to a digest'* ]]
  [[ "$message" != *'Caused by'* ]]
  [[ "$message" != *'backtrace'* ]]
}

@test "kwctl: a re-applied tag keeps its old pin, with no registry" {
  # ghcr.io is never asked: a lookup would fail here and reject the request.
  local settings
  settings=$(cat "$BATS_TEST_DIRNAME/../test_data/settings-pin.json")
  kwctl_run "$BATS_TEST_DIRNAME/../test_data/deployment-update-sticky.json" "$settings"
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":true'* ]]
  [[ "$output" == *'"pin.containers.0":"ghcr.io/example/api:1.4 -> sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 (kept)"'* ]]
  patch=$(decoded_patch)
  [[ "$patch" == *'ghcr.io/example/api:1.4@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'* ]]
}

@test "kwctl: a background audit reports what admission would change, as one rejection" {
  # The audit-scanner's request: no userInfo.username, no dryRun.
  kwctl_run "$BATS_TEST_DIRNAME/../test_data/audit/deployment.json" '{}'
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  [[ "$output" == *'containers[1] \"proxy\" image \"envoyproxy/envoy:v1.30.1\": imagePullPolicy IfNotPresent, not Always; admission sets Always'* ]]
  [[ "$output" == *'initContainers[0] \"migrate\" image \"ghcr.io/example/api\": no tag, so it floats like :latest; admission rejects it'* ]]
  [[ "$output" != *'"patch"'* ]]
}

@test "kwctl: a background audit in pin mode asks no registry" {
  # ghcr.io cannot be reached from here: a lookup would be a pin failure, not this answer.
  local settings
  settings=$(cat "$BATS_TEST_DIRNAME/../test_data/settings-pin.json")
  kwctl_run "$BATS_TEST_DIRNAME/../test_data/audit/deployment.json" "$settings"
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  [[ "$output" == *'ghcr.io/example/api:latest\": tag \"latest\" is mutable (mutableTags \"latest\"), not pinned to a digest; admission pins it'* ]]
  [[ "$output" != *'cannot pin'* ]]
  [[ "$output" != *'"patch"'* ]]
}

# The policy annotated with metadata.yml, whose contextAwareResources --allow-context-aware
# grants (kwctl grants a policy without annotations nothing).
annotate_policy() {
  ANNOTATED="$BATS_TEST_TMPDIR/annotated.wasm"
  kwctl annotate -m "$BATS_TEST_DIRNAME/../metadata.yml" -o "$ANNOTATED" "$POLICY" 2>/dev/null
}

# replay SESSION REQUEST [kwctl options...]: the annotated policy in pin mode, its host calls
# answered from e2e-tests/fixtures/sessions/SESSION strictly in order (a call the session does
# not hold is an error, so a registry lookup would be a pin failure).
replay() {
  local session=$1 request=$2
  shift 2
  annotate_policy
  run --separate-stderr kwctl run --replay-host-capabilities-interactions "$FIXTURES/sessions/$session" \
    --request-path "$BATS_TEST_DIRNAME/../test_data/$request" \
    --settings-json '{"mutableTagAction":"pin","pinImmutableTags":true}' "$@" "$ANNOTATED"
}

@test "kwctl: a new replica is pinned to the digest its replicas hold and run, with no registry call" {
  replay replicas.yml pod-replica.json --allow-context-aware
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":true'* ]]
  [[ "$output" == *'"pin.containers.0":"ghcr.io/example/web:1.4 -> sha256:4082e3187a4f06fcd7471a588e955fcdab1d910f4218e4e91e50ac9b0053f859 (from replicas)"'* ]]
  patch=$(decoded_patch)
  [[ "$patch" == *'ghcr.io/example/web:1.4@sha256:4082e3187a4f06fcd7471a588e955fcdab1d910f4218e4e91e50ac9b0053f859'* ]]
  # Two replicas hold that pin and one another: the policy says so in its log.
  [[ "$stderr" == *'the replicas of ReplicaSet web-7d9 hold 2 pins'* ]]
}

@test "kwctl: a refused Pod list leaves the registry's pin, and an info line" {
  # Without --allow-context-aware kwctl refuses the list call (and neither records nor
  # replays it); the session holds only the registry's answer.
  replay registry-only.yml pod-replica.json
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":true'* ]]
  [[ "$output" == *'"pin.containers.0":"ghcr.io/example/web:1.4 -> sha256:c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff"'* ]]
  [[ "$stderr" == *'are not compared: the host could not list them'*'not been granted access to Kubernetes v1/Pod'* ]]
}

@test "kwctl: a background audit of a replica reports the drift of its ReplicaSet" {
  replay replicas.yml audit/pod-replica.json --allow-context-aware
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  [[ "$output" == *'spec.containers[0] \"web\" image \"ghcr.io/example/web:1.4@sha256:d72b479497ad21e5ff24c831232f99cac580080a9bcc8e94ac34897c4f8d34eb\" (running sha256:d72b479497ad…): 3 replicas of ReplicaSet web-7d9 run 2 digests: sha256:4082e3187a4f… (web-7d9-a, web-7d9-b), sha256:d72b479497ad… (web-7d9-c)'* ]]
}

@test "kwctl: the pin budget is a positive whole number of milliseconds" {
  kwctl_run "$FIXTURES/pod-latest.json" '{"pinBudgetMilliseconds": 0}'
  [ "$status" -ne 0 ]
  [[ "$stderr$output" == *'pinBudgetMilliseconds'* ]]
}

@test "kwctl: the release path (annotate, push, pull, inspect, run) against a local registry" {
  for tool in docker-registry jq; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool not found (run e2e-tests/setup.sh)"
  done
  local root="$BATS_TEST_DIRNAME/.." version annotated="$BATS_TEST_TMPDIR/annotated.wasm"
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
  kwctl annotate -m "$root/metadata.yml" -u "$root/README.md" -o "$annotated" "$root/policy.wasm"
  start_registry
  printf 'insecure_sources:\n  - "127.0.0.1:%s"\n' "$REGISTRY_PORT" >"$BATS_TEST_TMPDIR/sources.yml"
  local image="127.0.0.1:$REGISTRY_PORT/policies/immutable-images:v$version"

  run --separate-stderr kwctl push --sources-path "$BATS_TEST_TMPDIR/sources.yml" -o json "$annotated" "registry://$image"
  [ "$status" -eq 0 ]
  [[ "$(jq -r .immutable_ref <<<"$output")" == "127.0.0.1:$REGISTRY_PORT/policies/immutable-images@sha256:"* ]]

  # The manifest carries metadata.yml's io.kubewarden.policy.* annotations, as the Rust
  # release-path test expects of its own push.
  manifest=$(skopeo --insecure-policy inspect --raw --tls-verify=false "docker://$image")
  [ "$(jq -r '.annotations["io.kubewarden.policy.version"]' <<<"$manifest")" = "$version" ]
  [ "$(jq -r '.annotations["org.opencontainers.image.source"]' <<<"$manifest")" = \
    "$(jq -r '.annotations["io.kubewarden.policy.source"]' <<<"$manifest")" ]
  [ "$(jq -r '.config.mediaType' <<<"$manifest")" = "application/vnd.wasm.config.v1+json" ]

  run kwctl pull --sources-path "$BATS_TEST_TMPDIR/sources.yml" "registry://$image"
  [ "$status" -eq 0 ]
  run kwctl inspect --output yaml --sources-path "$BATS_TEST_TMPDIR/sources.yml" "registry://$image"
  [ "$status" -eq 0 ]
  [[ "$output" == *'io.kubewarden.policy.version:'*"$version"* ]]
  [[ "$output" == *'mutating: true'* ]]

  run --separate-stderr kwctl run --request-path "$FIXTURES/pod-latest.json" --settings-json '{}' \
    --sources-path "$BATS_TEST_TMPDIR/sources.yml" "registry://$image"
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
}

# --- live: the real kwctl against a loopback API server stand-in ---

# The stand-in (e2e-tests/src/bin/apiserver.rs): $APISERVER, else built by cargo (a no-op when
# it is up to date) into cargo's target directory, else one already there; skips without it.
apiserver_bin() {
  if [[ -n "${APISERVER:-}" ]]; then
    [[ -x "$APISERVER" ]] || skip "APISERVER=$APISERVER is not executable"
    return 0
  fi
  local root="$BATS_TEST_DIRNAME/.." target
  target=$(cd "$root" && realpath -m -- "${CARGO_TARGET_DIR:-target}")
  APISERVER="$target/debug/apiserver"
  if [[ ! -e "$BATS_FILE_TMPDIR/apiserver-build" ]] && command -v cargo >/dev/null 2>&1; then
    (cd "$root" && cargo build --quiet -p e2e-tests --bin apiserver) \
      >"$BATS_FILE_TMPDIR/apiserver-build" 2>&1 || true
  fi
  [[ -x "$APISERVER" ]] || skip "no apiserver stand-in: cargo build -p e2e-tests --bin apiserver"
}

# start_apiserver CLUSTER_STATE...: serves the files on a free loopback port and exports
# KUBECONFIG for it. Under `timeout`, so that it cannot outlive a run by much.
start_apiserver() {
  apiserver_bin
  local dir="$BATS_TEST_TMPDIR/apiserver"
  mkdir -p "$dir"
  timeout 120 "$APISERVER" --kubeconfig "$dir/kubeconfig" "$@" >"$dir/out" 2>"$dir/log" 3>&- &
  APISERVER_PID=$!
  for _ in $(seq 1 100); do
    if [[ -f "$dir/kubeconfig" ]]; then
      export KUBECONFIG="$dir/kubeconfig"
      return 0
    fi
    kill -0 "$APISERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  stop_apiserver
  cat "$dir/log" >&2
  return 1
}

# Stops the stand-in and puts the requests it served in APISERVER_LOG.
stop_apiserver() {
  kill "$APISERVER_PID" 2>/dev/null || true
  wait "$APISERVER_PID" 2>/dev/null || true
  APISERVER_LOG=$(cat "$BATS_TEST_TMPDIR/apiserver/log")
}

# live REQUEST: the annotated policy in pin mode, run by kwctl against the stand-in serving
# test_data/replicas/cluster.json; the stand-in is stopped before anything is checked.
live() {
  annotate_policy
  start_apiserver "$BATS_TEST_DIRNAME/../test_data/replicas/cluster.json"
  run --separate-stderr kwctl run --allow-context-aware \
    --request-path "$BATS_TEST_DIRNAME/../test_data/$1" \
    --settings-json '{"mutableTagAction":"pin","pinImmutableTags":true}' "$ANNOTATED"
  stop_apiserver
}

@test "kwctl: live, with --allow-context-aware against a loopback API server, a new replica follows its ReplicaSet" {
  live pod-replica.json
  [ "$status" -eq 0 ]
  # ghcr.io cannot be reached from here: a registry lookup would be a pin failure.
  [[ "$output" == *'"allowed":true'* ]]
  [[ "$output" == *'"pin.containers.0":"ghcr.io/example/web:1.4 -> sha256:4082e3187a4f06fcd7471a588e955fcdab1d910f4218e4e91e50ac9b0053f859 (from replicas)"'* ]]
  patch=$(decoded_patch)
  [[ "$patch" == *'ghcr.io/example/web:1.4@sha256:4082e3187a4f06fcd7471a588e955fcdab1d910f4218e4e91e50ac9b0053f859'* ]]
  # kube-rs's reflector: discovery, the list, then the watch from the list's resourceVersion.
  [[ "$APISERVER_LOG" == *'GET /api/v1 -> 200'* ]]
  [[ "$APISERVER_LOG" == *'GET /api/v1/namespaces/default/pods?'*'limit=500 -> 200'* ]]
  [[ "$APISERVER_LOG" == *'GET /api/v1/namespaces/default/pods?'*'watch=true'*'resourceVersion=1 -> 200'* ]]
}

@test "kwctl: live, a background audit of a replica reports the drift of its ReplicaSet" {
  live audit/pod-replica.json
  [ "$status" -eq 0 ]
  [[ "$output" == *'"allowed":false'* ]]
  [[ "$output" == *'spec.containers[0] \"web\" image \"ghcr.io/example/web:1.4@sha256:d72b479497ad21e5ff24c831232f99cac580080a9bcc8e94ac34897c4f8d34eb\" (running sha256:d72b479497ad…): 3 replicas of ReplicaSet web-7d9 run 2 digests: sha256:4082e3187a4f… (web-7d9-a, web-7d9-b), sha256:d72b479497ad… (web-7d9-c)'* ]]
  [[ "$APISERVER_LOG" == *'GET /api/v1/namespaces/default/pods?'*'limit=500 -> 200'* ]]
}
