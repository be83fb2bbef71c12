#!/usr/bin/env bash
# Benchmark of a whole-query write-back: the release `hub` binary runs a query action (the built-in
# writeback_batch, or any query action of an actions file) over a streamed result of N rows
# (default 10 000 and 100 000) into the BigQuery emulator and / or the embedded store; the bench
# reports rows/s, the hub's CPU time per row, its idle and peak RSS and the rows in the table.
# A cell action (--action mark_suspicious) runs as N executes one after the other (one commit each).
# Usage: scripts/bench/writeback_batch.sh [--actions-file FILE --action NAME]
#          [--sinks bigquery,sqlite] [--form NAME=VALUE]... [ROWS...]
# (or BENCH_ACTIONS_FILE / BENCH_ACTION / BENCH_SINKS). The emulator is started only for BigQuery.
# HUB_BIN / BENCH_BIN run already built binaries instead of building them.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
sinks="${BENCH_SINKS:-bigquery,sqlite}"
prev=""
for a in "$@"; do
  if [ "$prev" = "--sinks" ]; then sinks="$a"; fi
  prev="$a"
done
if [[ ",$sinks," == *",bigquery,"* ]]; then
  # shellcheck source=/dev/null
  source scripts/services/bigquery.sh
fi
mkdir -p .services/bench
# Copy right after each build: a target dir shared between work trees may be rebuilt meanwhile.
# HUB_BIN / BENCH_BIN: already built binaries (e.g. two commits side by side), no build.
if [ -n "${HUB_BIN:-}" ]; then cp "$HUB_BIN" .services/bench/hub; else
  cargo build --release -q -p hub --bin hub
  cp "$CARGO_TARGET_DIR/release/hub" .services/bench/hub
fi
if [ -n "${BENCH_BIN:-}" ]; then cp "$BENCH_BIN" .services/bench/bench_writeback; else
  cargo build --release -q -p hub_core --example bench_writeback
  cp "$CARGO_TARGET_DIR/release/examples/bench_writeback" .services/bench/bench_writeback
fi
.services/bench/bench_writeback .services/bench/hub "$@"
