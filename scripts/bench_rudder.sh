#!/usr/bin/env bash
# RudderStack Track benchmark (not a test): builds the release hub, then runs `rudder_track` over
# generated json_detail_lite_stream results (default 100 000 and 1 000 000 rows × 10 fields) served
# as a download_url, against a local data plane. Prints rows/s and the hub's peak RSS.
# Usage: scripts/bench_rudder.sh [ROWS...]
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$(pwd)/target}
cargo build --release -p hub
HUB_BIN="$TARGET/release/hub" cargo bench -p hub_core --bench rudder -- "$@"
