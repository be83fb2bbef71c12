// The playground page: plays Looker against this hub. Every call goes to the hub's own Action API
// endpoints (POST /, /actions/{name}/form, /actions/{name}/execute) with Looker's body and headers.
"use strict";

const $ = (sel) => document.querySelector(sel);
const PUBLIC_URL = document.querySelector('meta[name="hub-public-url"]').content.replace(/\/+$/, "");
const LOOKER_VERSION = "25.0.0";
const randomId = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");

const pg = {
  actions: [],
  current: null, // the selected integration
  form: null, // the last form answer
  id: randomId(), // this page, in its webhook ids
  slot: null, // this page's state_url slot, issued by the hub (Looker keeps one state per user and action)
  states: {}, // action name -> state_json, as Looker stores it
  polling: null,
  webhookCount: 0,
};

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function status(text) {
  $("#status").textContent = text;
}

function token() {
  return $("#hub-token").value.trim();
}

/** Looker's request headers (Chromium drops a page's User-Agent; the hub logs the others). */
function lookerHeaders() {
  pg.webhookCount += 1;
  return {
    "Content-Type": "application/json",
    Authorization: `Token token="${token()}"`,
    "User-Agent": `LookerOutgoingWebhook/${LOOKER_VERSION}`,
    "X-Looker-Instance": "playground",
    "X-Looker-Webhook-Id": `playground-${pg.id.slice(0, 8)}-${pg.webhookCount}`,
  };
}

/** POST like Looker; the answer may start with keep-alive newlines. `webhook` is the call's
 *  X-Looker-Webhook-Id (the run ledger records it). */
async function lookerPost(path, body) {
  const headers = lookerHeaders();
  const resp = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await resp.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch (_) {
    /* shown as text */
  }
  return { status: resp.status, json, text, webhook: headers["X-Looker-Webhook-Id"] };
}

// ------------------------------------------------------------------ the list

function tagsOf(def) {
  const out = [];
  for (const r of def.required_fields || []) {
    if (r.tag) out.push(r.tag);
    if (r.any_tag) out.push(r.any_tag.join(" | "));
    if (r.all_tags) out.push(r.all_tags.join(" & "));
  }
  return out;
}

async function loadActions() {
  status("Loading the list (POST /)…");
  let r;
  try {
    r = await lookerPost("/", {});
  } catch (e) {
    status(`The hub did not answer: ${e}`);
    return;
  }
  if (r.status !== 200 || !r.json) {
    status(`POST / answered ${r.status}: ${r.json?.error ?? r.text}`);
    return;
  }
  pg.actions = r.json.integrations || [];
  const list = $("#actions");
  list.replaceChildren();
  for (const def of pg.actions) {
    const kinds = (def.supported_action_types || []).map((k) => el("span", { class: "badge kind", text: k }));
    const tags = tagsOf(def).map((t) => el("span", { class: "badge", text: `tag: ${t}` }));
    const params = (def.params || []).map((p) => el("span", { class: "badge", text: `param: ${p.name}${p.sensitive ? " (sensitive)" : ""}` }));
    const extra = def.uses_oauth ? [el("span", { class: "badge", text: "OAuth" })] : [];
    const icon = def.icon_data_uri ? el("img", { src: def.icon_data_uri, alt: "" }) : el("span", { class: "noicon" });
    const button = el(
      "button",
      { type: "button", class: "action", "aria-pressed": "false", "data-action": def.name, onclick: () => select(def.name) },
      icon,
      el("span", { class: "label", text: def.label }),
      el("span", { class: "name", text: def.name }),
      el("span", { class: "desc", text: def.description || "" }),
      el("span", { class: "badges" }, kinds, tags, params, extra),
    );
    list.append(el("li", {}, button));
  }
  status(`${r.json.label || "Hub"}: ${pg.actions.length} actions`);
}

// ------------------------------------------------------------------ one action

function select(name) {
  const def = pg.actions.find((a) => a.name === name);
  if (!def) return;
  pg.current = def;
  pg.form = null;
  for (const b of document.querySelectorAll(".action")) b.setAttribute("aria-pressed", String(b.dataset.action === name));
  $("#run-title").textContent = def.label;
  const kinds = def.supported_action_types || [];
  const query = kinds.includes("query") && !kinds.includes("cell");
  $("#definition").replaceChildren(
    el("p", { class: "description", text: def.description || "" }),
    el(
      "p",
      { class: "description" },
      `Kind: ${kinds.join(", ")}. Formats: ${(def.supported_formats || ["any"]).join(", ")}. Download: ${(def.supported_download_settings || ["push", "url"]).join(", ")}.`,
    ),
  );
  // Params: what the admin types once per hub action.
  const params = $("#params");
  params.replaceChildren();
  for (const p of def.params || []) {
    const id = `param-${p.name}`;
    params.append(
      el("div", { class: "field" },
        el("label", { for: id }, p.label || p.name, p.required ? el("span", { class: "required", text: " *" }) : null),
        p.description ? el("p", { class: "description", id: `${id}-desc`, text: p.description }) : null,
        el("input", {
          id, "data-param": p.name, type: p.sensitive ? "password" : "text", autocomplete: "off",
          "aria-describedby": p.description ? `${id}-desc` : null,
          placeholder: p.user_attribute_name ? `user attribute ${p.user_attribute_name}` : null,
        }),
      ),
    );
  }
  $("#params-box").hidden = !(def.params || []).length;
  $("#cell-box").hidden = query;
  $("#query-box").hidden = !query;
  if (query) {
    resetFields(def);
    const url = (def.supported_download_settings || ["url"]).includes("url");
    $(url ? "#delivery-url" : "#delivery-push").checked = true;
  }
  $("#request").hidden = false;
  $("#action-form").hidden = true;
  $("#answer").hidden = true;
  const has = !!def.form_url;
  $("#get-form").textContent = has ? "Ask the form" : "Continue";
  $("#run-panel").scrollIntoView?.({ block: "nearest" });
}

function paramData() {
  const data = {};
  for (const i of document.querySelectorAll("[data-param]")) if (i.value !== "") data[i.dataset.param] = i.value;
  return data;
}

// The state_url slot: the hub issues it to a holder of the hub token, and keeps only what is
// posted to a slot it issued.
async function stateSlot() {
  if (pg.slot) return pg.slot;
  const r = await fetch("/playground/state", { method: "POST", headers: { Authorization: `Token token="${token()}"` } });
  if (r.ok) pg.slot = (await r.json()).slot;
  return pg.slot;
}

async function requestData() {
  const def = pg.current;
  const data = paramData();
  if (!$("#cell-box").hidden) data.value = $("#cell-value").value;
  if (def.uses_oauth && (await stateSlot())) {
    data.state_url = `${PUBLIC_URL}/playground/state/${pg.slot}`;
    if (pg.states[def.name] !== undefined) data.state_json = pg.states[def.name];
  }
  return data;
}

function actionType() {
  return $("#cell-box").hidden ? "query" : "cell";
}

// ------------------------------------------------------------------ the form

function formValues() {
  const values = {};
  for (const i of document.querySelectorAll("[data-form-field]")) values[i.dataset.formField] = i.value;
  return values;
}

async function askForm(formParams) {
  const def = pg.current;
  if (!def.form_url) {
    pg.form = { fields: [] };
    renderForm();
    return;
  }
  status(`POST /actions/${def.name}/form…`);
  const body = { type: actionType(), data: await requestData(), form_params: formParams || {} };
  const r = await lookerPost(`/actions/${encodeURIComponent(def.name)}/form`, body);
  $("#raw").textContent = `POST /actions/${def.name}/form\n${JSON.stringify(redact(body), null, 2)}\n\n→ ${r.status}\n${r.text}`;
  if (r.status !== 200 || !r.json) {
    pg.form = { fields: [], error: r.json?.error ?? `the form endpoint answered ${r.status}` };
  } else {
    pg.form = r.json;
    if (r.json.state && r.json.state.data !== undefined) pg.states[def.name] = r.json.state.data;
  }
  renderForm(formParams);
  const n = pg.form.fields?.length ?? 0;
  status(`Form of ${def.name}: ${n} ${n === 1 ? "field" : "fields"}`);
}

function redact(body) {
  const copy = JSON.parse(JSON.stringify(body));
  for (const p of pg.current?.params || []) if (p.sensitive && copy.data?.[p.name]) copy.data[p.name] = "••••••";
  if (copy.attachment?.data && copy.attachment.data.length > 2000) copy.attachment.data = `${copy.attachment.data.slice(0, 2000)}… (${copy.attachment.data.length} characters)`;
  return copy;
}

function renderForm(keep) {
  const box = $("#form-fields");
  box.replaceChildren();
  const err = $("#form-error");
  err.hidden = !pg.form.error;
  err.textContent = pg.form.error || "";
  for (const f of pg.form.fields || []) box.append(renderField(f, keep?.[f.name]));
  $("#action-form").hidden = false;
  $("#answer").hidden = true;
}

function renderField(f, kept) {
  const id = `field-${f.name}`;
  const label = f.label || f.name;
  const describedBy = [];
  const parts = [];
  const desc = f.description ? el("p", { class: "description", id: `${id}-desc`, text: f.description }) : null;
  if (desc) describedBy.push(`${id}-desc`);
  const error = el("p", { class: "field-error", id: `${id}-error`, hidden: true });
  describedBy.push(`${id}-error`);
  const value = kept ?? f.value ?? f.default ?? "";
  const common = {
    id, name: f.name, "data-form-field": f.name, "aria-describedby": describedBy.join(" "),
    "aria-required": f.required ? "true" : null,
  };
  let input = null;
  switch (f.type) {
    case "message":
      return el("div", { class: "field message-field", "data-field": f.name },
        el("p", { text: f.value || f.label || "" }), desc);
    case "oauth_link":
    case "oauth_link_google":
      return el("div", { class: "field", "data-field": f.name },
        el("p", { text: f.description || "This action needs you to log in." }),
        el("a", { class: "button", id, href: f.oauth_url, target: "_blank", rel: "noopener", onclick: () => waitForState() }, label),
        el("p", { class: "description", text: "The login opens in a new tab; when it ends, the state comes back here as Looker would store it." }));
    case "textarea":
      input = el("textarea", { ...common, rows: 4 });
      input.value = value;
      break;
    case "select": {
      input = el("select", common);
      if (!f.required || !value) input.append(el("option", { value: "", text: "" }));
      for (const o of f.options || []) input.append(el("option", { value: o.name, text: o.label ?? o.name }));
      input.value = value;
      break;
    }
    default:
      input = el("input", { ...common, type: "text" });
      input.value = value;
  }
  parts.push(el("label", { for: id }, label, f.required ? el("span", { class: "required", "aria-hidden": "true", text: " *" }) : null));
  if (desc) parts.push(desc);
  parts.push(input);
  if (f.interactive) {
    input.addEventListener("change", () => askForm(formValues()));
    parts.push(el("p", { class: "description", text: "Changing this field asks the form again." }));
  }
  parts.push(error);
  return el("div", { class: "field", "data-field": f.name }, parts);
}

// After a login link was opened: Looker's state_url (this hub's /playground/state/…) receives the
// user state; the form is then asked again with it, as Looker does.
function waitForState() {
  const def = pg.current;
  clearInterval(pg.polling);
  const started = Date.now();
  status("Waiting for the login to finish in the other tab…");
  pg.polling = setInterval(async () => {
    if (Date.now() - started > 10 * 60 * 1000) return clearInterval(pg.polling);
    const r = await fetch(`/playground/state/${pg.slot}`, { headers: { Authorization: `Token token="${token()}"` } });
    if (!r.ok) return;
    const j = await r.json();
    if (j.state !== null && j.state !== undefined && j.state !== pg.states[def.name]) {
      clearInterval(pg.polling);
      pg.states[def.name] = j.state;
      status("Logged in: the state came back to the playground.");
      await askForm(formValues());
    }
  }, 1000);
}

// ------------------------------------------------------------------ sample results

function defaultFields(def) {
  const fields = [];
  const seen = new Set();
  for (const r of def.required_fields || []) {
    const tag = r.tag || (r.any_tag || r.all_tags || [])[0];
    if (!tag || seen.has(tag)) continue;
    seen.add(tag);
    const name = `users.${tag.replace(/[^a-z0-9_]/gi, "_")}`;
    fields.push({ name, kind: "dimension", type: tag.includes("email") ? "email" : "string", tags: tag });
  }
  if (!fields.length) fields.push({ name: "orders.id", kind: "dimension", type: "number", tags: "mark-suspicious" });
  fields.push({ name: "users.plan", kind: "dimension", type: "string", tags: "" });
  fields.push({ name: "orders.total", kind: "measure", type: "number", tags: "" });
  return fields;
}

function resetFields(def) {
  $("#fields").replaceChildren();
  for (const f of defaultFields(def)) addField(f);
}

let fieldSeq = 0;
function addField(f = { name: "", kind: "dimension", type: "string", tags: "" }) {
  const n = ++fieldSeq;
  const select = (cls, value, options, label) => {
    const s = el("select", { class: cls, "aria-label": `${label} of field ${n}` }, options.map((o) => el("option", { value: o, text: o })));
    s.value = value;
    return s;
  };
  const name = el("input", { type: "text", class: "f-name", value: f.name, "aria-label": `Name of field ${n}`, spellcheck: "false" });
  const tags = el("input", { type: "text", class: "f-tags", value: f.tags, "aria-label": `Tags of field ${n} (comma-separated)`, spellcheck: "false" });
  const row = el("tr", {},
    el("td", {}, name),
    el("td", {}, select("f-kind", f.kind, ["dimension", "measure"], "Kind")),
    el("td", {}, select("f-type", f.type, ["string", "number", "email", "date", "yesno"], "Type")),
    el("td", {}, tags),
    el("td", {}, el("button", { type: "button", "aria-label": `Remove field ${n}`, onclick: () => row.remove(), text: "✕" })));
  $("#fields").append(row);
}

function fieldList() {
  return Array.from(document.querySelectorAll("#fields tr"), (tr) => ({
    name: tr.querySelector(".f-name").value.trim(),
    kind: tr.querySelector(".f-kind").value,
    type: tr.querySelector(".f-type").value,
    tags: tr.querySelector(".f-tags").value.split(",").map((t) => t.trim()).filter(Boolean),
  })).filter((f) => f.name);
}

function sampleValue(f, i) {
  switch (f.type) {
    case "number": return f.kind === "measure" ? Math.round((i + 1) * 1234.5) / 100 : 1000 + i;
    case "email": return `user${i + 1}@example.com`;
    case "date": return new Date(Date.UTC(2026, 0, 1) + i * 86400000).toISOString().slice(0, 10);
    case "yesno": return i % 2 === 0 ? "Yes" : "No";
    default: return `${f.name.split(".").pop()} ${i + 1}`;
  }
}

/** A json_detail document (fields before data, as json_detail_lite_stream writes it). */
function generatedSample() {
  const fields = fieldList();
  const rows = Math.max(0, Math.min(1000000, parseInt($("#row-count").value, 10) || 0));
  const meta = (f) => ({ name: f.name, label: f.name, label_short: f.name.split(".").pop(), type: f.type, tags: f.tags });
  const doc = {
    ran_at: new Date().toISOString(),
    fields: {
      dimensions: fields.filter((f) => f.kind === "dimension").map(meta),
      measures: fields.filter((f) => f.kind === "measure").map(meta),
      table_calculations: [],
      pivots: [],
    },
    data: [],
  };
  for (let i = 0; i < rows; i++) {
    const row = {};
    for (const f of fields) row[f.name] = { value: sampleValue(f, i) };
    doc.data.push(row);
  }
  return { text: JSON.stringify(doc), fields: fields.map((f) => f.name) };
}

function sample() {
  if ($("#source-pasted").checked) {
    const text = $("#pasted").value.trim();
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new Error(`the pasted json_detail is not JSON: ${e.message}`);
    }
    const f = doc.fields || {};
    const names = [...(f.dimensions || []), ...(f.measures || []), ...(f.table_calculations || [])].map((x) => x.name);
    return { text, fields: names };
  }
  return generatedSample();
}

async function queryParts() {
  const s = sample();
  const formats = pg.current.supported_formats || ["json_detail"];
  const format = formats.includes("json_detail_lite_stream") ? "json_detail_lite_stream" : "json_detail";
  const plan = {
    scheduled_plan_id: $("#plan-id").value.trim() || null, title: "Playground sample", type: "Look", url: `${PUBLIC_URL}/playground`,
    query_id: "playground", query: { model: "playground", view: "playground", fields: s.fields, filters: {}, vis_config: { hidden_fields: [] } },
    filters_differ_from_look: false,
  };
  if ($("#delivery-url").checked) {
    const r = await fetch("/playground/samples", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Token token="${token()}"` },
      body: s.text,
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(`the sample could not be kept: ${j.error || r.status}`);
    plan.download_url = j.download_url;
    return { scheduled_plan: plan };
  }
  return { scheduled_plan: plan, attachment: { mimetype: "application/json", extension: format === "json_detail" ? "json" : "json", data: s.text } };
}

// ------------------------------------------------------------------ execute

async function send(ev) {
  ev.preventDefault();
  const def = pg.current;
  const button = $("#send");
  button.disabled = true;
  for (const e of document.querySelectorAll(".field-error")) { e.hidden = true; e.textContent = ""; }
  for (const e of document.querySelectorAll(".field.invalid")) e.classList.remove("invalid");
  try {
    const body = { type: actionType(), data: await requestData(), form_params: formValues() };
    if (body.type === "query") Object.assign(body, await queryParts());
    status(`POST /actions/${def.name}/execute…`);
    const r = await lookerPost(`/actions/${encodeURIComponent(def.name)}/execute`, body);
    $("#raw").textContent = `POST /actions/${def.name}/execute\n${JSON.stringify(redact(body), null, 2)}\n\n→ ${r.status}\n${r.text.trim()}`;
    showAnswer(r);
    await Promise.all([loadRows(), loadRuns(r.webhook)]);
  } catch (e) {
    showAnswer({ status: 0, json: null, text: String(e.message || e) });
  } finally {
    button.disabled = false;
  }
}

function showAnswer(r) {
  const box = $("#answer-body");
  const looker = r.json?.looker;
  const out = [];
  if (!looker) {
    out.push(el("div", { class: "result failed" }, el("p", { text: r.status ? `The hub answered ${r.status} without a Looker answer: ${r.json?.error ?? r.text}` : r.text })));
  } else {
    const ok = looker.success === true;
    const items = [
      el("p", { class: "success" }, el("strong", { text: "success: " }), String(looker.success)),
      looker.message ? el("p", { class: "message" }, el("strong", { text: "message: " }), looker.message) : el("p", { text: "(no message)" }),
      el("p", {}, el("strong", { text: "refresh_query: " }), String(!!looker.refresh_query)),
    ];
    const errors = looker.validation_errors || {};
    const unplaced = [];
    for (const [name, msg] of Object.entries(errors)) {
      const slot = document.getElementById(`field-${name}-error`);
      if (slot) {
        slot.textContent = msg;
        slot.hidden = false;
        slot.closest(".field")?.classList.add("invalid");
        document.getElementById(`field-${name}`)?.setAttribute("aria-invalid", "true");
      } else unplaced.push(`${name}: ${msg}`);
    }
    if (Object.keys(errors).length) items.push(el("p", { text: `validation_errors on ${Object.keys(errors).join(", ")}` }));
    for (const u of unplaced) items.push(el("p", { class: "error", text: u }));
    if (looker.state && looker.state.data !== undefined) {
      pg.states[pg.current.name] = looker.state.data;
      items.push(el("p", { text: "state: updated (kept for the next request, as Looker does)" }));
    }
    out.push(el("div", { class: `result ${ok ? "ok" : "failed"}` }, items));
  }
  box.replaceChildren(...out);
  $("#answer").hidden = false;
  const firstInvalid = document.querySelector("[aria-invalid=true]");
  if (firstInvalid) firstInvalid.focus();
  status(looker ? `Execute answered: success ${looker.success}` : "Execute failed");
}

// ------------------------------------------------------------------ rows

async function loadRows() {
  const r = await fetch("/playground/rows", { headers: { Authorization: `Token token="${token()}"` } });
  const j = await r.json().catch(() => ({}));
  const box = $("#rows");
  if (!r.ok) {
    box.replaceChildren(el("p", { class: "error", text: `Rows: ${j.error || r.status}` }));
    return;
  }
  if (j.note) {
    box.replaceChildren(el("p", { text: j.note }));
    return;
  }
  const parts = [];
  for (const t of j.tables || []) {
    parts.push(el("h3", { text: `${t.name} (${t.count} ${t.count === 1 ? "row" : "rows"})`, "data-table": t.name, "data-count": t.count }));
    if (!t.rows.length) {
      parts.push(el("p", { class: "hint", text: "No rows yet." }));
      continue;
    }
    const head = el("tr", {}, t.columns.map((c) => el("th", { scope: "col", text: c })));
    const body = t.rows.map((row) => el("tr", {}, t.columns.map((c) => (row[c] === null ? el("td", { class: "null", text: "null" }) : el("td", { text: String(row[c]) })))));
    parts.push(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `Rows of ${t.name}` }, el("table", { class: "rows" }, el("thead", {}, head), el("tbody", {}, body))));
  }
  box.replaceChildren(...parts);
}

// ------------------------------------------------------------------ runs

/** GET a playground endpoint with the hub token; `{ok, status, json}`. */
async function hubGet(path) {
  const r = await fetch(path, { headers: { Authorization: `Token token="${token()}"` } });
  return { ok: r.ok, status: r.status, json: await r.json().catch(() => ({})) };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The last runs, shown; with `webhook`, first waits (a few seconds at most) for the run of that
 *  call: the ledger stores a run just after its answer. */
async function loadRuns(webhook) {
  let r = await hubGet("/playground/runs");
  for (let i = 0; webhook && r.ok && i < 20 && !(r.json.runs || []).some((run) => run.webhook_id === webhook); i++) {
    await sleep(250);
    r = await hubGet("/playground/runs");
  }
  const box = $("#runs");
  if (!r.ok) {
    box.replaceChildren(el("p", { class: "error", text: `Runs: ${r.json.error || r.status}` }));
    return;
  }
  if (r.json.note) {
    box.replaceChildren(el("p", { text: r.json.note }));
    return;
  }
  const runs = r.json.runs || [];
  if (!runs.length) {
    box.replaceChildren(el("p", { class: "hint", text: "No runs yet: execute an action." }));
    return;
  }
  const columns = ["Started (UTC)", "Action", "Kind", "Outcome", "Read", "Delivered", "Unchanged (skipped)", "Rejected", "Duration", "First error", "Rejected rows"];
  const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", text: c })));
  const num = (n) => el("td", { class: "num", text: String(n) });
  const body = runs.map((run) => el("tr", { "data-run": run.run_id },
    el("td", {}, el("time", { datetime: run.started_at, text: run.started_at.slice(0, 19).replace("T", " ") })),
    el("td", { text: run.action }),
    el("td", { text: run.kind }),
    el("td", { class: `outcome-${run.outcome}`, text: run.outcome }),
    num(run.rows_read),
    num(run.rows_delivered),
    run.rows_unchanged === null ? el("td", { class: "null", text: "not a change-only run" }) : num(run.rows_unchanged),
    num(run.rows_rejected),
    el("td", { class: "num", text: `${run.duration_ms} ms` }),
    run.error_message === null ? el("td", { class: "null", text: "none" }) : el("td", { text: `${run.error_kind}: ${run.error_message}` }),
    el("td", {}, run.rejected_rows_recorded > 0
      ? el("button", { type: "button", "aria-label": `Rejected rows of run ${run.run_id}`, onclick: () => showRejected(run.run_id), text: `Show ${run.rejected_rows_recorded}` })
      : "none"),
  ));
  box.replaceChildren(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Last runs" },
    el("table", { class: "rows runs" }, el("thead", {}, head), el("tbody", {}, body))));
}

/** The rows one run rejected, with the reason. */
async function showRejected(runId) {
  const r = await hubGet(`/playground/runs/${encodeURIComponent(runId)}`);
  const box = $("#rejected");
  $("#run-detail").hidden = false;
  if (!r.ok) {
    box.replaceChildren(el("p", { class: "error", text: `Run ${runId}: ${r.json.error || r.status}` }));
    return;
  }
  const { run, rejected_rows: rows } = r.json;
  const parts = [el("p", { class: "hint", "data-run": run.run_id, text: `Run ${run.run_id} (${run.action}, ${run.outcome}): ${run.rows_rejected} ${run.rows_rejected === 1 ? "row" : "rows"} rejected, the first ${rows.length} recorded.` })];
  const head = el("tr", {}, ["Row", "Key", "Column", "Reason"].map((c) => el("th", { scope: "col", text: c })));
  const cell = (v) => (v === null ? el("td", { class: "null", text: "null" }) : el("td", { text: String(v) }));
  const body = rows.map((row) => el("tr", {}, cell(row.row_index), cell(row.key_value), cell(row.column_name), cell(row.reason)));
  parts.push(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `Rejected rows of run ${run.run_id}` },
    el("table", { class: "rows" }, el("thead", {}, head), el("tbody", {}, body))));
  box.replaceChildren(...parts);
  $("#run-detail").scrollIntoView?.({ block: "nearest" });
}

// ------------------------------------------------------------------ wiring

document.addEventListener("DOMContentLoaded", () => {
  $("#hub-token").value = document.querySelector('meta[name="hub-token"]').content;
  $("#reload").addEventListener("click", () => { loadActions(); loadRows(); loadRuns(); });
  $("#get-form").addEventListener("click", () => askForm({}).catch((e) => status(String(e))));
  $("#action-form").addEventListener("submit", send);
  $("#add-field").addEventListener("click", () => addField());
  $("#refresh-rows").addEventListener("click", loadRows);
  $("#refresh-runs").addEventListener("click", () => loadRuns());
  for (const r of document.querySelectorAll('input[name="source"]')) {
    r.addEventListener("change", () => {
      $("#generated-box").hidden = !$("#source-generated").checked;
      $("#pasted-box").hidden = $("#source-generated").checked;
    });
  }
  if (token()) {
    loadActions();
    loadRows();
    loadRuns();
  } else {
    status("Enter the hub token (one of HUB_TOKENS), then Reload actions.");
  }
});
