#!/usr/bin/env bash
# One setup step for a fresh machine (Debian 12): system packages the host build needs
# (libclang for rocksdb's bindgen), the wasm32 toolchain of the contracts and the console's
# verifier (Debian's rustc-web with its std sources; see docs/contracts.md), Node.js for
# the console's front end, with --browser Chromium (and a CJK font for its screenshots)
# for the console's browser test and a headless JDK for the gateway's Java example, and with --fuzz the nightly toolchain and cargo-fuzz
# for the fuzz targets (fuzz/, docs/fuzzing.md).
# Then builds the console's front end when its sources changed (scripts/build-console.sh).
# Idempotent: a second run does nothing.
set -euo pipefail

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in libclang-dev rustc-web cargo-web rust-web-src rust-web-llvm lld-22; do
  have "$pkg" || need+=("$pkg")
done
# The machine image may bring its own Node.js (not Debian's package): any npm will do.
command -v npm >/dev/null || need+=(nodejs npm)
browser=false
fuzz=false
for arg in "$@"; do
  case "$arg" in
    --browser) browser=true ;;
    --fuzz) fuzz=true ;;
    *) echo "setup: unknown option $arg (--browser, --fuzz)" >&2; exit 2 ;;
  esac
done
if $browser; then
  for pkg in chromium fonts-wqy-microhei; do
    have "$pkg" || need+=("$pkg")
  done
  # The gateway's Java example is compiled and run against a gateway by the tests
  # (clients/java: the JDK's HttpClient, nothing else).
  command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "setup: system packages present"

if $fuzz; then
  # cargo-fuzz builds with -Z flags: the nightly toolchain, next to the pinned stable one.
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "setup: installing the nightly toolchain (for the fuzz targets)"
    rustup toolchain install nightly --profile minimal
  fi
  if ! command -v cargo-fuzz >/dev/null; then
    echo "setup: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
  fi
  echo "setup: fuzzing toolchain present"
fi

# The supervisor console (runtime/console), which the node embeds when it is compiled:
# rebuilt when any of its sources (or the Rust crates its verifier compiles) is newer.
cd "$(dirname "$0")/.."
stamp=runtime/console/web/dist/index.html
if [ ! -f "$stamp" ] || [ -n "$(find runtime/console/web/src runtime/console/web/index.html \
    runtime/console/web/package.json runtime/console/web/package-lock.json \
    runtime/console/web/vite.config.ts runtime/console/web/tsconfig.json \
    runtime/console/verifier/src runtime/console/verifier/Cargo.toml runtime/console/verifier/Cargo.lock \
    runtime/proof runtime/crypto/src runtime/types proto -newer "$stamp" -print -quit)" ]; then
  echo "setup: building the supervisor console"
  bash scripts/build-console.sh
fi
echo "setup: supervisor console built"
