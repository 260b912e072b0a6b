#!/usr/bin/env bash
# Fuzzes every target of immutable-images for a bounded time, on the stable toolchain.
#
#   fuzz/run.sh [TOTAL_SECONDS] [TARGET...]
#
# TOTAL_SECONDS (default 60) is split evenly across the targets (default: all of them).
# Installs cargo-fuzz if it is missing. Builds with `-s none` (no sanitizer: the crate is safe
# Rust, and ASan needs nightly's -Zsanitizer), in release mode with debug assertions.
# Exits non-zero on the first crash; the crashing input is in fuzz/artifacts/<target>/ and
# `cargo fuzz run -s none <target> <file>` replays it.
#
# The seed corpus in fuzz/corpus/<target>/ is read, never written: new inputs go to
# fuzz/work/<target>/ (ignored by git). `cargo fuzz cmin -s none <target> fuzz/corpus/<target>`
# keeps the seeds small when adding some.
set -euo pipefail
# cargo reads a relative CARGO_TARGET_DIR from where it runs: keep the caller's after the cd.
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
  CARGO_TARGET_DIR="$(realpath -m -- "$CARGO_TARGET_DIR")"
  export CARGO_TARGET_DIR
fi
cd "$(dirname "$0")"

total="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(validate validate_structured mutation settings reference replicas)
fi
if ! [[ "$total" =~ ^[0-9]+$ ]] || [ "$total" -lt ${#targets[@]} ]; then
  echo "usage: $0 [TOTAL_SECONDS >= number of targets] [TARGET...]" >&2
  exit 2
fi
per_target=$(( total / ${#targets[@]} ))

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "### installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

# One build for all targets; the runs below reuse it.
nice -n 10 cargo fuzz build -s none

for t in "${targets[@]}"; do
  mkdir -p "work/$t" "corpus/$t"
  echo "### $t: ${per_target}s" >&2
  # -max_len bounds inputs (a 1 MB image is covered by tests/hostile.rs);
  # -rss_limit_mb and -timeout turn blow-ups into failures.
  nice -n 10 cargo fuzz run -s none "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$per_target" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1
done
echo "### no crash in ${#targets[@]} targets, ${per_target}s each" >&2
