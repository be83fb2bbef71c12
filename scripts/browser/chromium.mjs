// The one way the hub's browser tests start a browser: Debian's Chromium (/usr/bin/chromium, or
// $HUB_CHROMIUM), headless, with a fresh profile, driven by playwright-core. Playwright's own
// browser download (`npx playwright install`) is never used. Fails loudly when Chromium is
// missing. Reused by every browser script (login pages today; more pages later).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** playwright-core from $HUB_BROWSER_MODULES (installed by scripts/services/browser.sh). */
function playwright() {
  const modules = process.env.HUB_BROWSER_MODULES;
  if (!modules) {
    throw new Error("HUB_BROWSER_MODULES is not set: run scripts/test.sh, or eval \"$(bash scripts/services/browser.sh)\"");
  }
  return require(join(modules, "playwright-core"));
}

export const CHROMIUM = process.env.HUB_CHROMIUM || "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launch Chromium with a fresh --user-data-dir; returns {context, close}. The context is a
 * persistent one (the profile directory is removed by close()).
 */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (scripts/services/browser.sh does it)`);
  }
  const profile = mkdtempSync(join(tmpdir(), "hub-chromium-"));
  const context = await playwright().chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 900, height: 600 },
    timeout: 60_000,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
