#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs and starts what the tests need, then runs
# formatting, lints and every test. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

# Test services: each script installs (idempotently) and starts one real local stand-in on
# 127.0.0.1 and exports its address for the tests. They are stopped when this script exits.
export HUB_TEST_SERVICES_DIR="$ROOT/.services"
mkdir -p "$HUB_TEST_SERVICES_DIR"
SERVICE_PIDS=()
cleanup() { for p in "${SERVICE_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for svc in scripts/services/*.sh; do
  [ -e "$svc" ] || continue
  step "service $(basename "$svc" .sh)"
  # shellcheck source=/dev/null
  source "$svc"
done

step "deployment files"; bash scripts/validate_deploy.sh
step "dependencies (cargo-deny: licences, bans, sources)"; bash scripts/deny.sh
step "format"
cargo fmt --all -- --check
step "lint"
cargo clippy --workspace --all-targets -- -D warnings
step "build binaries"
cargo build --workspace --bins
step "tests"
cargo nextest run --workspace --no-fail-fast "$@"
