#!/usr/bin/env bash
# The lint gates (scripts/test.sh runs them first): formatting, clippy on every target
# with warnings as errors (functions over 120 lines need an #[expect] with a reason,
# clippy.toml), the API docs with warnings as errors, and the file-size rule: no Rust
# file over 600 lines unless scripts/long-files.txt names it with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${GOVCHAIN_JOBS:-2}
echo "== format"
cargo fmt --all --check
(cd runtime/console/verifier && cargo fmt --all --check)
echo "== clippy (all targets, warnings are errors)"
cargo clippy -j"$jobs" --workspace --all-targets -- -D warnings
echo "== API docs (warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc -j"$jobs" --workspace --no-deps
echo "== file sizes (at most 600 lines; exceptions with a reason in scripts/long-files.txt)"
status=0
while read -r lines file; do
  [ "$file" = total ] && continue
  if ! grep -q "^$file " scripts/long-files.txt; then
    echo "$file: $lines lines (over 600: split it, or name it in scripts/long-files.txt with a reason)" >&2
    status=1
  fi
done < <(git ls-files '*.rs' | xargs wc -l | awk '$1 > 600')
while read -r file _; do
  case "$file" in '#'*|'') continue ;; esac
  if [ ! -f "$file" ] || [ "$(wc -l < "$file")" -le 600 ]; then
    echo "scripts/long-files.txt names $file, which is not over 600 lines: remove the line" >&2
    status=1
  fi
done < scripts/long-files.txt
exit $status
