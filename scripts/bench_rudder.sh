#!/usr/bin/env bash
# RudderStack benchmarks (not tests): build the release hub, then
#   scripts/bench_rudder.sh [ROWS...]
#     `rudder_track` over generated json_detail_lite_stream results (default 100 000 and
#     1 000 000 rows × 10 fields) served as a download_url, against a local data plane;
#   scripts/bench_rudder.sh --changed [--fraction F] [--repeat N] [ROWS...]
#     `rudder_event` sending every row, then only new or changed rows: a first run, a run with a
#     fraction F of the rows changed (default 0.01) and one with every row changed (default
#     1 000 000 rows), each by a fresh hub process; with --repeat, N times each (medians).
# Prints rows/s, the hub's CPU per row and its peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$(pwd)/target}
cargo build --release -p hub
if [ "${1:-}" = "--changed" ]; then
  shift
  HUB_BIN="$TARGET/release/hub" cargo bench -p hub_core --bench rudder_changes -- "$@"
else
  HUB_BIN="$TARGET/release/hub" cargo bench -p hub_core --bench rudder -- "$@"
fi
