#!/usr/bin/env bash
# The main command: installs what the build needs, builds govchain (release) and runs a
# local development chain with the 'nanjing' departments on 127.0.0.1:7545.
# In another terminal: target/release/govchain status (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -j"${GOVCHAIN_JOBS:-2}" --bin govchain
exec target/release/govchain dev "$@"
