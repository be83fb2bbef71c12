# shellcheck shell=bash
# Headless Chromium for the browser tests: Debian's `chromium` (installed with apt-get only when
# /usr/bin/chromium is missing; the browser is never downloaded by a test tool) driven by npm
# playwright-core (pinned by scripts/browser/package-lock.json, installed once into
# $HUB_TEST_SERVICES_DIR/browser). Exports HUB_BROWSER_MODULES (the node_modules directory) and
# HUB_ARTEFACTS_DIR (screenshots; git-ignored). Sourced by scripts/test.sh; run on its own
# (`bash scripts/services/browser.sh`) it prints the export lines.

browser_service_start() {
  local root src dir stamp want
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  src="$root/scripts/browser"
  dir="${HUB_TEST_SERVICES_DIR:-$root/.services}/browser"
  mkdir -p "$dir"

  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "browser.sh: node and npm are required (Node >= 20)" >&2
    return 1
  fi
  if [ ! -x /usr/bin/chromium ] && [ -z "${HUB_CHROMIUM:-}" ]; then
    echo "browser.sh: /usr/bin/chromium is missing: installing Debian's chromium" >&2
    if ! command -v apt-get >/dev/null; then
      echo "browser.sh: no apt-get: install Chromium and set HUB_CHROMIUM to its path" >&2
      return 1
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium; } >&2 || {
      echo "browser.sh: could not install chromium" >&2
      return 1
    }
  fi

  stamp="$dir/.installed"
  want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -d "$dir/node_modules/playwright-core" ]; then
    cp "$src/package.json" "$src/package-lock.json" "$dir/"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2) || return 1
    echo "$want" >"$stamp"
  fi
  export HUB_BROWSER_MODULES="$dir/node_modules"
  export HUB_ARTEFACTS_DIR="${HUB_ARTEFACTS_DIR:-${HUB_TEST_SERVICES_DIR:-$root/.services}/artefacts}"
  mkdir -p "$HUB_ARTEFACTS_DIR"
  echo "Browser: ${HUB_CHROMIUM:-/usr/bin/chromium} ($("${HUB_CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -1)), playwright-core in $HUB_BROWSER_MODULES, screenshots in $HUB_ARTEFACTS_DIR" >&2
}

browser_service_start || exit 1
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  printf 'export HUB_BROWSER_MODULES=%q\nexport HUB_ARTEFACTS_DIR=%q\n' "$HUB_BROWSER_MODULES" "$HUB_ARTEFACTS_DIR"
fi
