#!/usr/bin/env bash
# Builds every contract in contracts/ for wasm32-unknown-unknown with Debian's Rust and
# build-std (rustup has no wasm32 target here), copies the .wasm files to
# contracts/artifacts/ and prints their SM3 code hashes. Reproducible: the same
# sources, toolchain and flags give the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
# GOVCHAIN_SETUP_DONE: the caller ran scripts/setup.sh (scripts/test.sh, whose second
# build runs from a copy of the contract sources alone).
[ -n "${GOVCHAIN_SETUP_DONE:-}" ] || bash scripts/setup.sh >/dev/null
export PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1
command -v rust-lld >/dev/null || export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
# Paths end up in panic messages: the release profile's trim-paths maps them to fixed
# names. No RUSTFLAGS: flags that carry the checkout's path change the code's bytes.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
target=$(realpath -m "${CONTRACTS_TARGET_DIR:-contracts/target}")
# cargo reads contracts/.cargo/config.toml (target, build-std) only from inside contracts/.
(cd contracts && cargo build --release --target-dir "$target" --locked -q)
mkdir -p contracts/artifacts
for wasm in "$target"/wasm32-unknown-unknown/release/*.wasm; do
  name=$(basename "$wasm")
  cp "$wasm" "contracts/artifacts/$name"
  printf '%-26s %8d bytes  sm3 %s\n' "$name" "$(stat -c %s "$wasm")" "$(openssl dgst -sm3 -r "$wasm" | cut -d' ' -f1)"
done
