// Change-only sends in the playground (GET /playground of a hub in local mode) as a user tries
// them: the batch action on the generated sample with its scheduled plan id, "Send only new or
// changed rows" chosen on the form, the same sample sent twice; the second answer and the Runs
// panel show every row skipped.
//
//   node playground_changes.mjs <hub base url> <artefacts dir>
//
// Prints one JSON line with what each step saw; the Rust test (tests/api/playground.rs) asserts it.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const [base, artefacts] = process.argv.slice(2);
if (!base || !artefacts) {
  console.error("usage: node playground_changes.mjs <hub base url> <artefacts dir>");
  process.exit(2);
}
mkdirSync(artefacts, { recursive: true });

const out = { answers: [] };
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 900 });
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));

  await page.goto(`${base}/playground`);
  await page.waitForSelector(".action[data-action]");
  await page.click('.action[data-action="writeback_batch"]');
  out.plan_id = await page.inputValue("#plan-id");
  await page.click("#get-form");
  await page.waitForSelector("#field-send_mode");
  out.mode_options = await page.$$eval("#field-send_mode option", (os) => os.map((o) => [o.value, o.textContent]));
  out.mode_default = await page.inputValue("#field-send_mode");
  await page.selectOption("#field-send_mode", "changed");
  await page.selectOption("#field-classification", "Approved");
  for (let run = 1; run <= 2; run++) {
    await page.click("#send");
    await page.waitForFunction((n) => document.querySelectorAll("#runs tbody tr").length === n, run, { timeout: 30_000 });
    out.answers.push({
      ok: (await page.$("#answer .result.ok")) !== null,
      message: await page.textContent("#answer .message"),
    });
  }
  out.runs = await page.$$eval("#runs tbody tr", (trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent).slice(1, 8)));
  await page.locator("#runs-panel").scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(artefacts, "playground-changes.png"), fullPage: true });
  out.console_errors = consoleErrors;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
