#!/usr/bin/env bash
# The test command: installs what the build needs, builds the node once, runs every test
# (unit, contract-runtime and multi-process integration tests), smoke-runs the bench and
# runs the fuzz targets that need no RocksDB for a minute each.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser --fuzz
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
jobs=${GOVCHAIN_JOBS:-2}
echo "== contracts (wasm32) and a reproducibility check"
bash scripts/build-contracts.sh | tee /tmp/govchain-contracts-1.txt
# The second build runs from a copy of the checkout's files (tracked and new, not
# ignored) at another path, into another target folder: the bytes must not depend on
# where the checkout lives.
second=$(mktemp -d)
git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -c | tar -x -C "$second"
CONTRACTS_TARGET_DIR= GOVCHAIN_SETUP_DONE=1 bash "$second/scripts/build-contracts.sh" > /tmp/govchain-contracts-2.txt
rm -rf "$second"
if ! diff -u /tmp/govchain-contracts-1.txt /tmp/govchain-contracts-2.txt; then
  echo "contract builds are not reproducible: two builds gave different SM3 hashes" >&2
  exit 1
fi
echo "reproducible: two clean builds in different folders gave identical SM3 code hashes"
echo "== contract unit tests (native, through the SDK's testing host)"
(cd contracts && PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 cargo test -q --target x86_64-unknown-linux-gnu \
  --target-dir "$(realpath -m "${CONTRACTS_TARGET_DIR:-target}")-native" --locked)
echo "== console verifier unit tests (native)"
(cd runtime/console/verifier && PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 cargo test -q --target x86_64-unknown-linux-gnu \
  --target-dir "$(realpath -m "${VERIFIER_TARGET_DIR:-target}")-native" --locked)
echo "== lint gates"
bash scripts/lint.sh
echo "== build"
cargo build -j"$jobs" --workspace --all-targets
echo "== tests"
target=${CARGO_TARGET_DIR:-target}
rm -f "$target/tmp/bft-faults.txt"
status=0
cargo test -j"$jobs" --workspace --no-fail-fast -- --test-threads="$jobs" || status=$?
echo "== BFT fault suite summary (4 validators as real node processes; after each fault the"
echo "   honest ones went on with one block per height and no acknowledged transaction lost)"
if [ -f "$target/tmp/bft-faults.txt" ]; then
  sort "$target/tmp/bft-faults.txt" | awk -F'\t' '{ printf "| %-66s | %s\n", $1, $2 }'
fi
echo "   (a fault missing from this table failed: its test's output is above)"
[ "$status" -eq 0 ] || exit "$status"
echo "== criterion micro-benchmarks, once each (figures: cargo bench)"
cargo test -j"$jobs" -p govchain-crypto -p govchain-state --bench crypto --bench execution
echo "== bench smoke run (figures are printed, not asserted)"
"$target/debug/govchain" bench --kind targets --txs 1000 --batch 250 --certs 20 --wasm contracts/artifacts/bench.wasm
"$target/debug/govchain" bench --kind gate --txs 20000 --batch 2000
"$target/debug/govchain" bench --kind custody --txs 20
echo "== fuzz targets, short run (no RocksDB: decode_network, wasm_prepare; docs/fuzzing.md)"
CARGO_BUILD_JOBS=$jobs bash scripts/fuzz.sh --ci
echo "== the demo and the supervisor console in headless Chromium (screenshots: $target/console-screenshots)"
bash scripts/console-test.sh "$target/debug/govchain"
