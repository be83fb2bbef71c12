// The playground page (GET /playground of a hub in local mode) driven as a user would: the list,
// a form, an invalid then a valid submit, the row that landed, an interactive field, a query action
// on a generated 1 000-row sample, keyboard use and two window sizes. Each step is saved as a PNG
// in the artefacts directory.
//
//   node playground.mjs <hub base url> <artefacts dir>
//
// Prints one JSON line with what each step saw; the Rust test (tests/api/playground.rs) asserts it.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const [base, artefacts] = process.argv.slice(2);
if (!base || !artefacts) {
  console.error("usage: node playground.mjs <hub base url> <artefacts dir>");
  process.exit(2);
}
mkdirSync(artefacts, { recursive: true });

const out = { steps: [] };
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  const lookerCalls = [];
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (r.method() === "POST" && (u.pathname === "/" || u.pathname.startsWith("/actions/"))) {
      lookerCalls.push({ path: u.pathname, headers: r.headers(), body: r.postDataJSON() });
    }
  });
  const shot = async (name) => {
    const file = join(artefacts, `playground-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    out.steps.push({ name, screenshot: file });
  };
  const tableCount = async (name) =>
    page.locator(`#rows h3[data-table="${name}"]`).getAttribute("data-count", { timeout: 10_000 }).then(Number).catch(() => null);
  const waitCount = async (name, n) => {
    await page.waitForFunction(([t, c]) => document.querySelector(`#rows h3[data-table="${t}"]`)?.dataset.count === String(c), [name, n], { timeout: 30_000 });
  };

  // 1. The list.
  await page.goto(`${base}/playground`);
  await page.waitForSelector(".action[data-action]");
  out.actions = await page.$$eval(".action", (bs) =>
    bs.map((b) => ({ name: b.dataset.action, label: b.querySelector(".label").textContent, icon: !!b.querySelector("img"), badges: Array.from(b.querySelectorAll(".badge"), (x) => x.textContent) })));
  out.token_injected = await page.inputValue("#hub-token");
  await shot("1-list");

  // 2. Keyboard: the first stops of the tab order, and choosing an action with Enter.
  const order = [];
  await page.locator("body").focus();
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press("Tab");
    order.push(await page.evaluate(() => document.activeElement.id || document.activeElement.dataset.action || document.activeElement.tagName));
  }
  out.tab_order = order;
  await page.focus('.action[data-action="mark_suspicious"]');
  await page.keyboard.press("Enter");
  out.title_after_enter = await page.textContent("#run-title");

  // 3. The form of a cell action, asked as Looker asks it.
  await page.fill("#cell-value", "A-1001");
  await page.click("#get-form");
  await page.waitForSelector('#form-fields [data-field="classification"]');
  out.form_fields = await page.$$eval("#form-fields [data-field]", (fs) => fs.map((f) => f.dataset.field));
  out.id_default = await page.inputValue("#field-id");
  await shot("2-form");

  // 4. An invalid submit: the hub's validation error shows beside its field.
  await page.fill("#field-id", "");
  await page.click("#send");
  await page.waitForSelector("#field-id-error:not([hidden])");
  out.invalid = {
    field_error: await page.textContent("#field-id-error"),
    focused: await page.evaluate(() => document.activeElement.id),
    success: await page.textContent("#answer .success"),
  };
  await shot("3-invalid");

  // 5. A valid submit: the message, then the row.
  await page.fill("#field-id", "A-1001");
  await page.selectOption("#field-classification", "Suspicious");
  await page.fill("#field-comment", "seen in the playground");
  await page.click("#send");
  await page.waitForSelector("#answer .result.ok");
  out.valid = { message: await page.textContent("#answer .message"), refresh: await page.textContent("#answer-body") };
  await waitCount("suspicious_marks", 1);
  out.marks_row = await page.$$eval('.table-wrap[aria-label="Rows of suspicious_marks"] tbody tr:first-child td', (tds) => tds.map((t) => t.textContent));
  out.marks_columns = await page.$$eval('.table-wrap[aria-label="Rows of suspicious_marks"] th', (ths) => ths.map((t) => t.textContent));
  // The README's picture (docs/playground.png): one 1280×800 window, zoomed out to show the
  // answer and the row.
  await page.evaluate(() => { document.body.style.zoom = "0.66"; window.scrollTo(0, 0); });
  await page.screenshot({ path: join(artefacts, "playground-readme.png") });
  await page.evaluate(() => { document.body.style.zoom = ""; });
  await page.locator("#rows-panel").scrollIntoViewIfNeeded();
  await shot("4-valid-and-row");

  // 6. An interactive field re-asks the form with the current values (no hosted action has one
  //    yet: Looker's side of the exchange is what is checked, with the hub's form answer stood in).
  const asked = [];
  await page.route("**/actions/mark_suspicious/form", async (route) => {
    const body = route.request().postDataJSON();
    asked.push(body);
    const mode = body.form_params?.mode || "";
    if (mode === "c") {
      await route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ error: "C is not available today." }) });
      return;
    }
    const fields = [
      { name: "note", type: "message", value: "Read this before you choose." },
      { name: "mode", label: "Mode", description: "B asks one more thing", type: "select", interactive: true, options: [{ name: "a", label: "A" }, { name: "b", label: "B" }, { name: "c", label: "C" }], default: "a" },
      { name: "why", label: "Why", type: "textarea", default: "because" },
    ];
    if (mode === "b") fields.push({ name: "extra", label: "Shown for B", type: "string", required: true });
    await route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ fields }) });
  });
  await page.click("#get-form");
  await page.waitForSelector("#field-mode");
  const before = await page.$$eval("#form-fields [data-field]", (fs) => fs.map((f) => f.innerText.replace(/\s+/g, " ").trim()));
  const whyDefault = await page.inputValue("#field-why");
  await page.fill("#field-why", "kept");
  await page.selectOption("#field-mode", "b");
  await page.waitForSelector("#field-extra");
  out.interactive = {
    requests: asked.length,
    form_params: asked[asked.length - 1]?.form_params,
    mode_kept: await page.inputValue("#field-mode"),
    why_default: whyDefault,
    why_kept: await page.inputValue("#field-why"),
    rendered: before,
    tag_why: await page.$eval("#field-why", (e) => e.tagName),
    extra_label: await page.textContent('label[for="field-extra"]'),
  };
  await shot("5-interactive");
  await page.selectOption("#field-mode", "c");
  await page.waitForSelector("#form-error:not([hidden])");
  out.form_error = await page.textContent("#form-error");
  await page.unroute("**/actions/mark_suspicious/form");

  // 7. A query action on a generated 1 000-row sample, sent as a download_url the hub serves.
  await page.click('.action[data-action="writeback_batch"]');
  out.default_delivery = (await page.isChecked("#delivery-url")) ? "url" : "push";
  out.sample_fields = await page.$$eval("#fields .f-name", (is) => is.map((i) => i.value));
  await page.fill("#row-count", "1000");
  await page.click("#get-form");
  await page.waitForSelector("#field-classification");
  await page.selectOption("#field-classification", "Approved");
  await page.click("#send");
  await page.waitForSelector("#answer .result.ok", { timeout: 60_000 });
  out.query_url = { message: await page.textContent("#answer .message") };
  await waitCount("suspicious_marks_batch", 1000);
  await shot("6-query-1000-rows");

  // 8. The same action pushed (attachment), 5 rows.
  await page.check("#delivery-push");
  await page.fill("#row-count", "5");
  await page.click("#send");
  await page.waitForFunction(() => /5 rows/.test(document.querySelector("#answer .message")?.textContent || ""), null, { timeout: 30_000 });
  out.query_push = { message: await page.textContent("#answer .message") };
  await waitCount("suspicious_marks_batch", 1005);

  // 8b. A pasted json_detail (2 rows), pushed.
  await page.check("#source-pasted");
  await page.fill("#pasted", JSON.stringify({
    fields: { dimensions: [{ name: "orders.ref", label: "Ref", tags: ["mark-suspicious"] }], measures: [], table_calculations: [], pivots: [] },
    data: [{ "orders.ref": { value: "P-1" } }, { "orders.ref": { value: "P-2" } }],
  }));
  await page.click("#send");
  await page.waitForFunction(() => /2 rows/.test(document.querySelector("#answer .message")?.textContent || ""), null, { timeout: 30_000 });
  out.query_pasted = { message: await page.textContent("#answer .message") };
  await waitCount("suspicious_marks_batch", 1007);
  out.pasted_newest = await page.$$eval('.table-wrap[aria-label="Rows of suspicious_marks_batch"] tbody tr', (trs) => trs.slice(0, 2).map((tr) => tr.children[3].textContent));
  out.batch_count = await tableCount("suspicious_marks_batch");

  // 8c. Sensitive params are masked.
  await page.click('.action[data-action="rudder_event"]');
  out.param_types = await page.$$eval("[data-param]", (is) => Object.fromEntries(is.map((i) => [i.dataset.param, i.type])));

  // 9. Every visible control has a label; the page fits the window at 1280×800 and 420 wide.
  const unlabelled = () =>
    page.$$eval("input, select, textarea, button", (els) =>
      els.filter((e) => e.offsetParent !== null)
        .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !(e.tagName === "BUTTON" && e.textContent.trim()))
        .map((e) => e.outerHTML.slice(0, 120)));
  out.unlabelled = await unlabelled();
  out.wide_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.setViewportSize({ width: 420, height: 800 });
  await page.evaluate(() => window.scrollTo(0, 0));
  out.narrow_overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await shot("7-narrow");
  out.looker_calls = lookerCalls.map((c) => ({ path: c.path, authorization: c.headers.authorization, instance: c.headers["x-looker-instance"], webhook: c.headers["x-looker-webhook-id"], type: c.body?.type, has_download_url: !!c.body?.scheduled_plan?.download_url, has_attachment: !!c.body?.attachment }));
  out.console_errors = consoleErrors;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
