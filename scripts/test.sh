#!/usr/bin/env bash
# The test command: installs what the build needs, builds the node once, runs every test
# (unit, contract-runtime and multi-process integration tests) and smoke-runs the bench.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
jobs=${GOVCHAIN_JOBS:-2}
echo "== build"
cargo build -j"$jobs" --workspace --all-targets
echo "== tests"
cargo test -j"$jobs" --workspace --no-fail-fast -- --test-threads="$jobs"
echo "== bench smoke run (figures are printed, not asserted)"
target=${CARGO_TARGET_DIR:-target}
"$target/debug/govchain" bench --txs 2000 --batch 500
