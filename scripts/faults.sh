#!/usr/bin/env bash
# Fault injection at full size: the end-to-end fault tests of crates/core/tests/api/faults.rs with
# 100 000 rows (the test suite runs them with 20 000). Usage: scripts/faults.sh [rows]
set -euo pipefail
cd "$(dirname "$0")/.."
export HUB_FAULT_ROWS=${1:-100000}
cargo nextest run -p hub_core --no-capture -E 'test(/^faults::/)'
