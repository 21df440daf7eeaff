#!/usr/bin/env bash
# Builds the supervisor console (docs/design/console.md) into runtime/console/web/dist,
# which the node embeds when it is compiled (runtime/api/build.rs):
# 1. the browser verifier (runtime/console/verifier: govchain-proof and govchain-crypto
#    behind a tiny wasm ABI) for wasm32-unknown-unknown with Debian's Rust and build-std
#    (rustup has no wasm32 target here), into web/public/verifier.wasm;
# 2. the front end (Vite + Preact + TypeScript; npm packages pinned by package-lock.json).
# Prints each artefact's size and SM3. The verifier is reproducible: the same sources,
# toolchain and flags give the same bytes, wherever the checkout is. scripts/setup.sh runs it when the sources
# changed (it installs the toolchain this needs first).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1
command -v rust-lld >/dev/null || export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
# Local paths end up in panic messages: the release profile's trim-paths maps them to
# fixed names. The folder the sources are built from still changes the code, so they are
# built from one fixed folder (as scripts/build-contracts.sh does), and no RUSTFLAGS are
# set (they would also replace .cargo/config.toml's getrandom cfg).
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
target=$(realpath -m "${VERIFIER_TARGET_DIR:-runtime/console/verifier/target}")
src=/tmp/govchain-verifier-sources
exec 9>"$src.lock"
flock 9
rm -rf "$src" && mkdir -p "$src"
tar -c --exclude=runtime/console/verifier/target --exclude=runtime/console/verifier/target-native \
  Cargo.toml proto runtime/types runtime/crypto runtime/proof runtime/console/verifier | tar -x -C "$src"
# cargo reads the verifier's .cargo/config.toml (target, build-std) only from inside it.
(cd "$src/runtime/console/verifier" && cargo build --release --target-dir "$target" --locked -q -j"${GOVCHAIN_JOBS:-2}")
exec 9>&-
wasm="$target/wasm32-unknown-unknown/release/govchain_console_verifier.wasm"
web=runtime/console/web
mkdir -p "$web/public"
cp "$wasm" "$web/public/verifier.wasm"
cd "$web"
# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build >/dev/null
for f in public/verifier.wasm dist/assets/*; do
  printf 'console: %-28s %8d bytes  sm3 %s\n' "${f##*/}" "$(stat -c %s "$f")" "$(openssl dgst -sm3 -r "$f" | cut -d' ' -f1)"
done
