#!/usr/bin/env bash
# Benchmark of user-mode cell write-backs to BigQuery (the emulator): the latency of one append
# with a new Write client per write (what every user write did before the per-user client cache)
# and with the client kept for the user's token. Usage: scripts/bench/user_writes.sh [WRITES]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# shellcheck source=/dev/null
source scripts/services/bigquery.sh
mkdir -p .services/bench
cargo build --release -q -p hub_core --example bench_user_writes
cp "$CARGO_TARGET_DIR/release/examples/bench_user_writes" .services/bench/bench_user_writes
.services/bench/bench_user_writes "$@"
