#!/usr/bin/env bash
# Runs the cargo-fuzz (libFuzzer) targets of fuzz/ (docs/fuzzing.md):
#
#   scripts/fuzz.sh [--ci] [target] [seconds]
#
# Without a target: every target (--ci: only those that do not link RocksDB, whose
# instrumented build alone takes 10+ minutes: decode_network and wasm_prepare). Each
# target runs `seconds` (60 with --ci, else 600) from its corpus fuzz/corpus/<target>
# (kept between runs, not committed), the committed seeds fuzz/seeds/<target> and the
# reproducers of past findings fuzz/regressions/<target>.
# Prints the build time, then per target the executions, the corpus size and whether
# it crashed; a crash leaves its input in fuzz/artifacts/<target>/ and makes the
# script exit 1 after the other targets ran.
#
# Builds with the nightly toolchain (cargo-fuzz needs -Z flags), at the lowest CPU
# priority, CARGO_BUILD_JOBS (default 1) jobs, into GOVCHAIN_FUZZ_TARGET_DIR (default
# ~/.cache/govchain-fuzz-target: the instrumented build shares nothing with the normal
# one). Extra libFuzzer flags: FUZZ_ARGS, e.g. FUZZ_ARGS="-rss_limit_mb=4096".
set -euo pipefail
cd "$(dirname "$0")/.."

ci=false
if [ "${1:-}" = --ci ]; then
  ci=true
  shift
fi
target=${1:-}
seconds=${2:-$($ci && echo 60 || echo 600)}
fast=(decode_network wasm_prepare)
slow=(admission gate_sequence)

if [ -n "$target" ]; then
  targets=("$target")
elif $ci; then
  targets=("${fast[@]}")
else
  targets=("${fast[@]}" "${slow[@]}")
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzzing needs the nightly toolchain: rustup toolchain install nightly" >&2
  exit 1
fi
if ! command -v cargo-fuzz >/dev/null; then
  echo "== installing cargo-fuzz"
  CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} nice -n 19 cargo install cargo-fuzz --locked
fi

export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
export CARGO_TARGET_DIR=${GOVCHAIN_FUZZ_TARGET_DIR:-$HOME/.cache/govchain-fuzz-target}
# cargo-fuzz's defaults: a release build with debug assertions, AddressSanitizer and
# coverage instrumentation.
fuzz() { nice -n 19 cargo +nightly fuzz "$@"; }
# cargo-fuzz has no --locked: fail here if fuzz/Cargo.lock is not up to date.
nice -n 19 cargo +nightly metadata --locked --all-features --format-version 1 \
  --manifest-path fuzz/Cargo.toml >/dev/null

# The targets that run against a store need the `state` feature (and RocksDB).
features() {
  case " ${slow[*]} " in
    *" $1 "*) echo --features=state ;;
  esac
}

# libFuzzer flags of one target. gate_sequence: inputs up to its 64 operations from the
# start (libFuzzer's length control would keep them to a dozen for minutes).
target_args() {
  case $1 in
    gate_sequence) echo -max_len=512 -len_control=0 ;;
  esac
}

failed=()
summary=()
for t in "${targets[@]}"; do
  case " ${fast[*]} ${slow[*]} " in
    *" $t "*) ;;
    *)
      echo "unknown target '$t' (targets: ${fast[*]} ${slow[*]})" >&2
      exit 2
      ;;
  esac
  echo "== build $t"
  log=$(mktemp)
  start=$(date +%s)
  # shellcheck disable=SC2046 # the feature flag is one word or none
  if ! fuzz build $(features "$t") "$t" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
  echo "built $t in $(($(date +%s) - start)) s"

  corpus=fuzz/corpus/$t
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  # Reproducers of past findings run first, with the seeds: a bug that comes back
  # fails the run at once.
  inputs=("fuzz/seeds/$t")
  [ -d "fuzz/regressions/$t" ] && inputs+=("fuzz/regressions/$t")
  echo "== run $t for $seconds s"
  status=0
  # shellcheck disable=SC2046,SC2086 # as above; the flags are several words
  fuzz run $(features "$t") "$t" "$corpus" "${inputs[@]}" -- \
    -max_total_time="$seconds" -timeout=120 -print_final_stats=1 $(target_args "$t") ${FUZZ_ARGS:-} \
    >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done [0-9]+ runs' "$log" || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    echo "!! $t failed (exit $status); the end of its log:" >&2
    { grep -E -A3 'panicked at' "$log" && grep -E 'SUMMARY|Test unit written to' "$log"; } >&2 ||
      tail -n 40 "$log" >&2
  fi
  summary+=("$t: ${seconds} s, ${execs:-?} executions, corpus $(find "$corpus" -type f | wc -l) inputs, $([ "$status" -eq 0 ] && echo 'no crash' || echo "CRASH (fuzz/artifacts/$t)")")
  rm -f "$log"
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
