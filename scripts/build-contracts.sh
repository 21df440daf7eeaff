#!/usr/bin/env bash
# Builds every contract in contracts/ for wasm32-unknown-unknown with Debian's Rust and
# build-std (rustup has no wasm32 target here), copies the .wasm files to
# contracts/artifacts/ and prints their SM3 code hashes. Reproducible: the same
# sources, toolchain and flags give the same bytes, wherever the checkout is.
set -euo pipefail
cd "$(dirname "$0")/.."
# GOVCHAIN_SETUP_DONE: the caller ran scripts/setup.sh (scripts/test.sh, whose second
# build runs from a copy of the contract sources alone).
[ -n "${GOVCHAIN_SETUP_DONE:-}" ] || bash scripts/setup.sh >/dev/null
export PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1
command -v rust-lld >/dev/null || export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
# Paths end up in panic messages: the release profile's trim-paths maps them to fixed
# names. That is not enough: the folder the sources are built from still changes the
# code (clones at two folders built the same contracts to different bytes of the same
# size; the path reaches code layout through the crates' hashes). So the sources are
# built from one fixed folder, whatever the checkout's, and no RUSTFLAGS are set.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
target=$(realpath -m "${CONTRACTS_TARGET_DIR:-contracts/target}")
src=/tmp/govchain-contract-sources
exec 9>"$src.lock"
flock 9
rm -rf "$src" && mkdir -p "$src"
# The root manifest too: the SDK inherits the workspace's lints. tar keeps modification
# times, so cargo rebuilds only what changed.
tar -c --exclude=contracts/target --exclude=contracts/target-native --exclude=contracts/artifacts \
  Cargo.toml contracts sdk | tar -x -C "$src"
# cargo reads contracts/.cargo/config.toml (target, build-std) only from inside contracts/.
(cd "$src/contracts" && cargo build --release --target-dir "$target" --locked -q)
exec 9>&-
mkdir -p contracts/artifacts
for wasm in "$target"/wasm32-unknown-unknown/release/*.wasm; do
  name=$(basename "$wasm")
  cp "$wasm" "contracts/artifacts/$name"
  printf '%-26s %8d bytes  sm3 %s\n' "$name" "$(stat -c %s "$wasm")" "$(openssl dgst -sm3 -r "$wasm" | cut -d' ' -f1)"
done
