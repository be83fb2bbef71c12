#!/usr/bin/env bash
# Benchmark of the whole-query write-back: the release `hub` binary writes a streamed result of
# N rows (default 10 000 and 100 000) to the BigQuery emulator and to the embedded store, and the
# bench reports rows/s and the hub's peak RSS. Usage: scripts/bench/writeback_batch.sh [ROWS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# shellcheck source=/dev/null
source scripts/services/bigquery.sh
mkdir -p .services/bench
# Copy right after each build: a target dir shared between work trees may be rebuilt meanwhile.
cargo build --release -q -p hub --bin hub
cp "$CARGO_TARGET_DIR/release/hub" .services/bench/hub
cargo build --release -q -p hub_core --example bench_writeback
cp "$CARGO_TARGET_DIR/release/examples/bench_writeback" .services/bench/bench_writeback
.services/bench/bench_writeback .services/bench/hub "$@"
