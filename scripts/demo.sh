#!/usr/bin/env bash
# The main command: installs what the build needs, builds the contracts (wasm32) and
# govchain, then runs `govchain demo` on an embedded chain with the 'nanjing'
# departments: housing-purchase eligibility, compute-to-data and the sharing incentive,
# end to end, with the audit trail verified. The chain keeps running on 127.0.0.1:7545
# afterwards so you can explore it (the demo prints how), with the supervisor console at
# http://127.0.0.1:9545/; Ctrl-C stops it.
# Extra arguments go to `govchain demo` (see `govchain demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build-contracts.sh
# The dev profile with optimised dependencies (Cargo.toml), the build scripts/test.sh uses
# too (it adds the integration tests, whose test-only `byzantine` feature recompiles the
# consensus crate and what depends on it). Benchmark figures come from
# `cargo build --release` (docs/performance.md).
cargo build -j"${GOVCHAIN_JOBS:-2}" --bin govchain
exec "${CARGO_TARGET_DIR:-target}/debug/govchain" demo --serve "${GOVCHAIN_PORT:-7545}" "$@"
