#!/usr/bin/env bash
# Dependency hygiene with cargo-deny (configuration: deny.toml). Installs cargo-deny when missing
# (about 4 min of CPU, once). Runs the checks that work offline: licences (permissive only), bans
# (no OpenSSL / aws-lc, no wildcard versions; duplicate versions are reported) and sources
# (crates.io only). The advisories check needs the RustSec database from GitHub: it runs only when
# DENY_ADVISORIES=1 (where GitHub is reachable), and this script says so when it does not.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo deny --version >/dev/null 2>&1; then
  echo "==> installing cargo-deny (once)"
  cargo install cargo-deny --locked
fi
# cargo-deny reads the metadata of every platform's dependencies (wasm-only crates too), which a
# build for this machine never downloads: fetch them first (crates.io), then check offline.
cargo fetch --locked -q
cargo deny --offline check licenses bans sources
if [ "${DENY_ADVISORIES:-0}" = 1 ]; then
  cargo deny check advisories
else
  echo "cargo-deny: advisories NOT checked (needs the RustSec database from GitHub; run with DENY_ADVISORIES=1 where it is reachable)"
fi
