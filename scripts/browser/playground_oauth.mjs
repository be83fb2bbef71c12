// The playground with a user-identity action: the form's login link opens in a new tab, the test
// OAuth server grants it, the hub posts the user state to the playground's state_url, and the
// page (playing Looker) sends it back as data.state_json: the form then asks for the write.
//
//   node playground_oauth.mjs <hub base url> <artefacts dir> <Looker user's email>
//
// Prints one JSON line with what each step saw; tests/api/playground.rs asserts it.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const [base, artefacts, email] = process.argv.slice(2);
if (!base || !artefacts || !email) {
  console.error("usage: node playground_oauth.mjs <hub base url> <artefacts dir> <email>");
  process.exit(2);
}
mkdirSync(artefacts, { recursive: true });
const out = {};
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  const shot = (p, name) => p.screenshot({ path: join(artefacts, `playground-oauth-${name}.png`), fullPage: true });
  const forms = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname === "/actions/mark_suspicious/form") forms.push(r.postDataJSON());
  });
  await page.goto(`${base}/playground`);
  await page.click('.action[data-action="mark_suspicious"]');
  out.oauth_badge = await page.locator('.action[data-action="mark_suspicious"] .badge', { hasText: "OAuth" }).count();
  await page.fill("#param-user_email", email);
  await page.click("#get-form");
  await page.waitForSelector('#form-fields [data-field] a.button');
  out.login_label = await page.textContent("#form-fields a.button");
  out.login_target = await page.getAttribute("#form-fields a.button", "target");
  await shot(page, "1-login-form");
  const [tab] = await Promise.all([browser.context.waitForEvent("page"), page.click("#form-fields a.button")]);
  await tab.waitForLoadState("load", { timeout: 30_000 });
  await tab.waitForFunction(() => document.readyState === "complete", null, { timeout: 30_000 });
  out.landing_title = await tab.title();
  await shot(tab, "2-landing");
  // Back in the playground: the state arrives and the form is asked again with it.
  await page.bringToFront();
  await page.waitForSelector("#field-classification", { timeout: 30_000 });
  out.fields_after_login = await page.$$eval("#form-fields [data-field]", (fs) => fs.map((f) => f.dataset.field));
  out.first_form_state = forms[0]?.data?.state_json ?? null;
  out.state_url = forms[0]?.data?.state_url ?? null;
  out.last_form_has_state = typeof forms[forms.length - 1]?.data?.state_json === "string";
  await page.fill("#field-id", "O-77");
  await page.click("#send");
  await page.waitForSelector("#answer .result");
  out.message = await page.textContent("#answer .message").catch(() => null);
  out.success = await page.textContent("#answer .success");
  await page.waitForFunction(() => document.querySelector('#rows h3[data-table="suspicious_marks"]')?.dataset.count === "1", null, { timeout: 10_000 });
  const cols = await page.$$eval('.table-wrap[aria-label="Rows of suspicious_marks"] th', (t) => t.map((x) => x.textContent));
  const row = await page.$$eval('.table-wrap[aria-label="Rows of suspicious_marks"] tbody tr:first-child td', (t) => t.map((x) => x.textContent));
  out.row = Object.fromEntries(cols.map((c, i) => [c, row[i]]));
  await shot(page, "3-written");
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
