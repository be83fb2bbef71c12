// A user's login as Looker starts it: a page with the form's login button (the `oauth_url` of
// the `oauth_link` / `oauth_link_google` field opens in a new tab, as Looker renders it), a click,
// the provider's consent (the test OAuth server grants it at once, or declines it), and the page
// the browser finally lands on. Each page is saved as a PNG in the artefacts directory.
//
//   node oauth_login.mjs <oauth_url> <artefacts dir> <name>
//
// Prints one JSON line: {pages: [{url, status, title, text, screenshot}], final: {...}}.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const [link, artefacts, name] = process.argv.slice(2);
if (!link || !artefacts || !name) {
  console.error("usage: node oauth_login.mjs <oauth_url> <artefacts dir> <name>");
  process.exit(2);
}
mkdirSync(artefacts, { recursive: true });

const escape = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
const browser = await launchChromium();
try {
  const looker = await browser.context.newPage();
  // What the user sees in Looker: the action's form with the login button.
  await looker.setContent(
    `<!doctype html><title>Looker: action form</title><body style="font-family:sans-serif">` +
      `<h1>Mark as Suspicious</h1><p>This action writes with your own identity.</p>` +
      `<a id="login" href="${escape(link)}" target="_blank" rel="noopener">Log in</a></body>`,
  );
  const pages = [];
  const shot = async (page, step) => {
    const file = join(artefacts, `${name}-${step}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
  pages.push({ url: "looker:form", status: 200, title: await looker.title(), text: await looker.innerText("body"), screenshot: await shot(looker, "1-looker-form") });

  // Every main-frame response of the login tab, redirects included.
  const [tab] = await Promise.all([browser.context.waitForEvent("page"), looker.click("#login")]);
  const hops = [];
  tab.on("response", (r) => {
    if (r.request().frame() === tab.mainFrame() && r.request().isNavigationRequest()) {
      hops.push({ url: r.url(), status: r.status() });
    }
  });
  await tab.waitForLoadState("load", { timeout: 30_000 });
  // Redirects end on the hub's page (v1) or on Looker's state_redir_url (v2).
  await tab.waitForFunction(() => document.readyState === "complete", null, { timeout: 30_000 });
  const navigation = await tab.evaluate(() => performance.getEntriesByType("navigation")[0]?.responseStatus ?? null);
  const final = {
    url: tab.url(),
    status: navigation ?? (hops.length ? hops[hops.length - 1].status : null),
    title: await tab.title(),
    text: await tab.innerText("body").catch(() => ""),
    screenshot: await shot(tab, "2-landing"),
    hops,
  };
  pages.push(final);
  console.log(JSON.stringify({ pages, final }));
} finally {
  await browser.close();
}
