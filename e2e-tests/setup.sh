#!/usr/bin/env bash
# Installs what the end-to-end tests need, only what is missing (idempotent):
#   docker-registry (distribution v2), umoci, skopeo, bats; Rust target wasm32-wasip1.
# Debian/Ubuntu; run as root or with sudo available.
set -euo pipefail

declare -A tool_package=(
  [docker-registry]=docker-registry
  [umoci]=umoci
  [skopeo]=skopeo
  [bats]=bats
)

missing=()
for tool in "${!tool_package[@]}"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    missing+=("${tool_package[$tool]}")
  fi
done

if ((${#missing[@]} > 0)); then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
  fi
  echo "setup.sh: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# skopeo needs a signature policy; --insecure-policy is passed by the harness, but give
# manual runs one too when the package did not ship it.
if [[ ! -e /etc/containers/policy.json && $(id -u) -eq 0 ]]; then
  mkdir -p /etc/containers
  echo '{"default":[{"type":"insecureAcceptAnything"}]}' >/etc/containers/policy.json
fi

if command -v rustup >/dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx wasm32-wasip1; then
    rustup target add wasm32-wasip1
  fi
else
  echo "setup.sh: rustup not found; install the wasm32-wasip1 target yourself" >&2
fi

echo "setup.sh: docker-registry umoci skopeo bats and wasm32-wasip1 are ready" >&2
