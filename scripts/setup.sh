#!/usr/bin/env bash
# One setup step for a fresh machine (Debian 12): system packages the host build needs
# (libclang for rocksdb's bindgen) and the wasm32 contract toolchain (Debian's rustc-web
# with its std sources; see docs/contracts.md). Idempotent: a second run does nothing.
set -euo pipefail

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in libclang-dev rustc-web cargo-web rust-web-src rust-web-llvm lld-22; do
  have "$pkg" || need+=("$pkg")
done

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "setup: system packages present"
