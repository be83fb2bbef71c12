#!/usr/bin/env bash
# Run every fuzz target (fuzz/, cargo-fuzz + libFuzzer) for a bounded time each.
#   scripts/fuzz.sh [seconds per target, default 60] [target ...]
# Installs cargo-fuzz when missing. Works on the stable toolchain: the targets are built without a
# sanitizer by default (instrumentation for coverage only needs stable flags); FUZZ_SANITIZER=address
# builds with AddressSanitizer, which needs -Zsanitizer and so RUSTC_BOOTSTRAP=1 (set here).
# A crash stops that target, leaves the input in fuzz/artifacts/<target>/ and makes this script fail.
# Corpora grow in fuzz/corpus/<target>/ (not in git); fuzz/seeds/<target>/ are the committed seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS=${1:-60}
shift || true
SANITIZER=${FUZZ_SANITIZER:-none}
# A target dir of its own: the instrumented build's host crates (proc macros, build scripts) would
# otherwise be rebuilt back and forth with the normal build's.
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}
# Bounded per-input time and memory: a hang or a blow-up is a finding too.
LIBFUZZER_ARGS=(-max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz (about 1.5 min)"
  cargo install cargo-fuzz --locked
fi
if [ "$SANITIZER" != none ]; then
  export RUSTC_BOOTSTRAP=1
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list --fuzz-dir "$ROOT/fuzz")
fi

echo "==> building ${targets[*]} (sanitizer: $SANITIZER)"
cargo fuzz build -O -s "$SANITIZER" --fuzz-dir "$ROOT/fuzz"

mkdir -p "$ROOT/fuzz/logs"
failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$ROOT/fuzz/corpus/$t"
  mkdir -p "$corpus"
  seeds=()
  [ -d "$ROOT/fuzz/seeds/$t" ] && seeds=("$ROOT/fuzz/seeds/$t")
  log="$ROOT/fuzz/logs/$t.log"
  echo "==> $t for ${SECS}s (log: fuzz/logs/$t.log)"
  if cargo fuzz run -O -s "$SANITIZER" --fuzz-dir "$ROOT/fuzz" "$t" "$corpus" "${seeds[@]}" -- \
      "${LIBFUZZER_ARGS[@]}" >"$log" 2>&1; then
    result=ok
  else
    result=CRASHED
    failed+=("$t")
    tail -n 40 "$log"
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | grep -o '[0-9]*' || true)
  summary+=("$(printf '%-14s %-8s %6ss %12s runs  cov %s  corpus %s' "$t" "$result" "$SECS" \
    "${runs:-?}" "${cov:-?}" "$(find "$corpus" -type f | wc -l)")")
done

echo
echo "==> summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
