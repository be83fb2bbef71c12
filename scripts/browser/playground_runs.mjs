// The playground's Runs panel (GET /playground of a hub in local mode) driven as a user would: a
// cell execute that succeeds, then a query execute with a rejected row (a pasted json_detail whose
// second row holds a number beyond a double and markup in its key); the panel shows both runs
// newest first and, on request, the rejected row with its reason — as text, never as markup.
//
//   node playground_runs.mjs <hub base url> <artefacts dir>
//
// Prints one JSON line with what each step saw; the Rust test (tests/api/playground.rs) asserts it.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const [base, artefacts] = process.argv.slice(2);
if (!base || !artefacts) {
  console.error("usage: node playground_runs.mjs <hub base url> <artefacts dir>");
  process.exit(2);
}
mkdirSync(artefacts, { recursive: true });

// What a key may hold: markup the page must show as text.
const MARKUP_KEY = '<img src=x onerror="window.pwned=1">';

const out = { steps: [] };
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  const shot = async (name) => {
    const file = join(artefacts, `playground-runs-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    out.steps.push({ name, screenshot: file });
  };
  const runRows = () =>
    page.$$eval("#runs tbody tr", (trs) => trs.map((tr) => ({ run: tr.dataset.run, cells: Array.from(tr.children, (td) => td.textContent) })));

  // 1. Before any execute.
  await page.goto(`${base}/playground`);
  await page.waitForSelector(".action[data-action]");
  await page.waitForSelector("#runs p");
  out.empty = await page.textContent("#runs");

  // 2. A cell execute that succeeds.
  await page.click('.action[data-action="mark_suspicious"]');
  await page.fill("#cell-value", "R-1");
  await page.click("#get-form");
  await page.waitForSelector("#field-classification");
  await page.selectOption("#field-classification", "Suspicious");
  await page.click("#send");
  await page.waitForSelector("#answer .result.ok");
  await page.waitForFunction(() => document.querySelectorAll("#runs tbody tr").length === 1, null, { timeout: 30_000 });
  out.after_success = await runRows();

  // 3. A query execute whose second row is rejected (pushed, as a pasted json_detail).
  await page.click('.action[data-action="writeback_batch"]');
  await page.check("#source-pasted");
  await page.check("#delivery-push");
  const doc = JSON.stringify({
    fields: { dimensions: [{ name: "orders.ref", label: "Ref", tags: ["mark-suspicious"] }, { name: "orders.amount", label: "Amount" }], measures: [], table_calculations: [], pivots: [] },
    data: [{ "orders.ref": { value: "P-1" }, "orders.amount": { value: 5 } }, { "orders.ref": { value: MARKUP_KEY }, "orders.amount": { value: 7 } }],
  }).replace('"value":7', '"value":1e999'); // JSON.stringify cannot write a number beyond a double
  await page.fill("#pasted", doc);
  await page.click("#get-form");
  await page.waitForSelector("#field-classification");
  await page.selectOption("#field-classification", "Approved");
  await page.click("#send");
  await page.waitForSelector("#answer .result.failed");
  out.partial_message = await page.textContent("#answer .message");
  await page.waitForFunction(() => document.querySelectorAll("#runs tbody tr").length === 2, null, { timeout: 30_000 });
  out.runs = await runRows();
  out.runs_header = await page.$$eval("#runs thead th", (ths) => ths.map((t) => t.textContent));
  out.started_datetime = await page.getAttribute("#runs tbody tr:first-child time", "datetime");
  await page.locator("#runs-panel").scrollIntoViewIfNeeded();
  await shot("1-runs");

  // 4. The rejected rows of the partial run.
  await page.click("#runs tbody tr:first-child button");
  await page.waitForSelector("#rejected tbody tr");
  out.rejected_summary = await page.textContent("#rejected p");
  out.rejected_header = await page.$$eval("#rejected thead th", (ths) => ths.map((t) => t.textContent));
  out.rejected = await page.$$eval("#rejected tbody tr", (trs) => trs.map((tr) => Array.from(tr.children, (td) => td.textContent)));
  out.rejected_label = await page.getAttribute("#rejected .table-wrap", "aria-label");
  out.markup_elements = await page.$$eval("#runs-panel img", (is) => is.length);
  out.pwned = await page.evaluate(() => window.pwned === 1);
  out.row_tables = await page.$$eval("#rows h3[data-table]", (hs) => hs.map((h) => h.dataset.table));
  await shot("2-rejected");

  // 5. The run's button is named for a screen reader; the panel fits 1280 and 420 px wide.
  await page.focus("#runs tbody tr:first-child button");
  out.button_label = await page.evaluate(() => document.activeElement.getAttribute("aria-label"));
  out.wide_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.setViewportSize({ width: 420, height: 800 });
  out.narrow_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await shot("3-narrow");
  out.console_errors = consoleErrors;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
