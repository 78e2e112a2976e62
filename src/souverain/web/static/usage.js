// Usage view (everyone): the model gateway's ledger (docs/metering.md). Administrators see every user's
// requests, everybody else only their own (the server filters: GET /api/v1/usage answers a member with
// their own records only). A month picker; totals (requests, prompt/completion tokens, energy, gCO2e);
// a table grouped by user, team, model or day; a plain same-origin "Download CSV" link with the same
// filters; the energy method(s) and the grid factor source(s) of the month (GET /api/v1/usage/energy);
// "Your usage" (GET /api/v1/me/usage): today, this month, all time, your limits and your keys' limits.
import { api, API } from "./api.js";
import { t, lang, fmtNumber, fmtDate } from "./i18n.js";
import { toast, el, button } from "./ui.js";
import { isAdmin } from "./auth.js";

const $ = (id) => document.getElementById(id);
const GROUPS = ["user", "team", "model", "day"];
const state = { visible: false, seq: 0, built: false };

const failed = (e) => toast(t("error_generic", { message: e.message || String(e) }), true);
const sig = new Intl.NumberFormat(lang, { maximumSignificantDigits: 3 });

/** kWh as Wh (or kWh from 1 kWh up), with three significant digits: tiny figures stay readable. */
export function fmtEnergy(kwh) {
  if (kwh == null || !Number.isFinite(kwh)) return "–";
  if (kwh === 0) return t("usage_wh", { n: "0" });
  return Math.abs(kwh) >= 1 ? t("usage_kwh", { n: sig.format(kwh) }) : t("usage_wh", { n: sig.format(kwh * 1000) });
}

export function fmtGrams(g) {
  return g == null || !Number.isFinite(g) ? "–" : t("usage_g", { n: g === 0 ? "0" : sig.format(g) });
}

/** The CO2e cell: the figure, or "not configured" when the records have energy but no grid factor. */
function co2Node(row) {
  const missing = Number(row.requests_without_gco2e || 0);
  if (row.gco2e == null && missing > 0) {
    const span = el("span", "usage-co2-missing", t("usage_co2_not_configured"));
    span.title = t("usage_co2_reason");
    return span;
  }
  const span = el("span", "usage-co2", fmtGrams(row.gco2e));
  if (missing > 0) span.title = t("usage_co2_partial", { n: missing });
  return span;
}

function monthBounds(month) {
  const [y, m] = month.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return { from: `${month}-01`, to: `${month}-${String(last).padStart(2, "0")}` };
}

function thisMonth() {
  const now = new Date();
  return `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, "0")}`;
}

// ---- the view's skeleton ---------------------------------------------------------------------

function labelled(id, text, control) {
  const wrap = el("label", "field");
  wrap.htmlFor = id;
  control.id = id;
  wrap.append(el("span", null, text), control);
  return wrap;
}

function buildView() {
  const view = el("section", "view view-usage");
  view.id = "view-usage";
  view.hidden = true;
  view.setAttribute("aria-labelledby", "usage-heading");

  const report = el("div", "card usage-report");
  const head = el("div", "card-head");
  const h = el("h2", null, t("usage_title"));
  h.id = "usage-heading";
  h.tabIndex = -1;
  const refresh = button("btn btn-secondary btn-small", t("refresh"), () => load().catch(failed));
  refresh.id = "usage-refresh";
  head.append(h, refresh);
  const scope = el("p", "muted small usage-scope");
  scope.id = "usage-scope";

  const controls = el("form", "inline-form usage-controls");
  controls.addEventListener("submit", (e) => e.preventDefault());
  const month = el("input");
  month.type = "month";
  month.required = true;
  month.value = thisMonth();
  month.addEventListener("change", () => { if (month.value) load().catch(failed); });
  const group = el("select");
  for (const g of GROUPS) {
    const o = el("option", null, t(`usage_group_${g}`));
    o.value = g;
    group.append(o);
  }
  group.addEventListener("change", () => loadReport().catch(failed));
  const csv = el("a", "btn btn-secondary usage-csv", t("usage_csv"));
  csv.id = "usage-csv";
  csv.setAttribute("download", "");
  controls.append(labelled("usage-month", t("usage_month"), month), labelled("usage-group", t("usage_group_by"), group), csv);

  const totals = el("dl", "usage-totals");
  totals.id = "usage-totals";
  totals.setAttribute("aria-live", "polite");
  const noEnergy = el("p", "muted small usage-no-energy");
  noEnergy.id = "usage-no-energy";
  noEnergy.hidden = true;
  const info = el("div", "usage-energy-info small");
  info.id = "usage-energy-info";

  const wrap = el("div", "table-wrap");
  const table = el("table", "doc-table usage-table");
  table.id = "usage-table";
  const caption = el("caption", "sr-only");
  caption.id = "usage-caption";
  const thead = el("thead");
  thead.id = "usage-head";
  const rows = el("tbody");
  rows.id = "usage-rows";
  table.append(caption, thead, rows);
  wrap.append(table);
  const empty = el("p", "muted");
  empty.id = "usage-empty";
  empty.textContent = t("usage_none");
  empty.hidden = true;
  report.append(head, scope, controls, totals, noEnergy, info, wrap, empty);

  const mine = el("div", "card usage-mine");
  const mh = el("h2", null, t("usage_mine"));
  mh.id = "usage-mine-heading";
  mine.setAttribute("aria-labelledby", mh.id);
  const mineBody = el("div", "usage-mine-body");
  mineBody.id = "usage-mine";
  mine.append(mh, mineBody);

  view.append(report, mine);
  $("app").append(view);
  state.built = true;
}

// ---- the report --------------------------------------------------------------------------------

function query(format) {
  const { from, to } = monthBounds($("usage-month").value || thisMonth());
  const params = new URLSearchParams({ group_by: $("usage-group").value, from, to });
  if (format) params.set("format", format);
  return params.toString();
}

const METRICS = [
  ["requests", "usage_requests", (r) => fmtNumber(r.requests)],
  ["prompt_tokens", "usage_prompt_tokens", (r) => fmtNumber(r.prompt_tokens)],
  ["completion_tokens", "usage_completion_tokens", (r) => fmtNumber(r.completion_tokens)],
  ["total_tokens", "usage_total_tokens", (r) => fmtNumber(r.total_tokens)],
  ["energy_kwh", "usage_energy", (r) => energyNode(r)],
  ["gco2e", "usage_co2", (r) => co2Node(r)],
];

function energyNode(row) {
  const span = el("span", "usage-energy", fmtEnergy(row.energy_kwh));
  if (row.energy_kwh != null && row.energy_kwh_min != null && row.energy_kwh_max != null
      && (row.energy_kwh_min !== row.energy_kwh || row.energy_kwh_max !== row.energy_kwh)) {
    span.title = t("usage_energy_range", { min: fmtEnergy(row.energy_kwh_min), max: fmtEnergy(row.energy_kwh_max) });
  }
  return span;
}

function groupLabel(group, r) {
  if (group === "user") return r.username || (r.user_id != null ? `#${r.user_id}` : t("usage_no_user"));
  if (group === "team") return r.team || (r.team_id != null ? `#${r.team_id}` : t("usage_no_team"));
  if (group === "day") return r.day || "–";
  return r.model || "–";
}

function renderTotals(totals) {
  const box = $("usage-totals");
  box.replaceChildren();
  const tiles = [
    ["requests", t("usage_requests"), fmtNumber(totals.requests)],
    ["prompt_tokens", t("usage_prompt_tokens"), fmtNumber(totals.prompt_tokens)],
    ["completion_tokens", t("usage_completion_tokens"), fmtNumber(totals.completion_tokens)],
    ["energy", t("usage_energy"), energyNode(totals)],
    ["co2", t("usage_co2"), co2Node(totals)],
  ];
  for (const [key, label, value] of tiles) {
    const tile = el("div", "usage-tile");
    tile.dataset.metric = key;
    const dd = el("dd", "usage-tile-value");
    dd.append(value);
    tile.append(el("dt", key === "co2" ? "usage-tile-label keep-case" : "usage-tile-label", label), dd);
    box.append(tile);
  }
  const note = $("usage-no-energy");
  note.hidden = !totals.requests_without_energy;
  note.textContent = totals.requests_without_energy ? t("usage_without_energy", { n: totals.requests_without_energy }) : "";
}

function renderTable(report) {
  const group = report.group_by[0] || $("usage-group").value;
  const head = $("usage-head");
  const hr = el("tr");
  const first = el("th", null, t(`usage_group_${group}`));
  first.scope = "col";
  hr.append(first);
  for (const [, key] of METRICS) {
    const th = el("th", key === "usage_co2" ? "num keep-case" : "num", t(key));
    th.scope = "col";
    hr.append(th);
  }
  head.replaceChildren(hr);
  $("usage-caption").textContent = t("usage_caption", { group: t(`usage_group_${group}`) });
  const rows = $("usage-rows");
  rows.replaceChildren();
  for (const r of report.rows || []) {
    const tr = el("tr", "usage-row");
    tr.dataset.group = group;
    tr.dataset.key = groupLabel(group, r);
    const name = el("th", "usage-key", groupLabel(group, r));
    name.scope = "row";
    tr.append(name);
    for (const [col, , render] of METRICS) {
      const td = el("td", "num");
      td.dataset.col = col;
      td.append(render(r));
      tr.append(td);
    }
    rows.append(tr);
  }
  $("usage-empty").hidden = (report.rows || []).length > 0;
  $("usage-table").hidden = (report.rows || []).length === 0;
}

function renderEnergyInfo(energy) {
  const box = $("usage-energy-info");
  box.replaceChildren();
  const methods = (energy && energy.methods) || [];
  const sources = (energy && energy.grid_sources) || [];
  const p1 = el("p", "usage-method");
  p1.append(el("strong", null, t("usage_method")), " ");
  p1.append(methods.length ? methods.join(" · ") : t("usage_method_none"));
  const p2 = el("p", "usage-grid");
  p2.append(el("strong", null, t("usage_grid_source")), " ");
  const totals = (energy && energy.totals) || {};
  if (sources.length) p2.append(sources.join(" · "));
  else if (totals.requests_without_gco2e) p2.append(t("usage_grid_not_configured"));
  else p2.append(t("usage_method_none"));
  box.append(p1, p2);
  if (totals.requests_without_gco2e) {
    const p3 = el("p", "warning usage-co2-note", t("usage_co2_reason"));
    box.append(p3);
  }
}

async function loadReport() {
  const seq = ++state.seq;
  $("usage-csv").href = `${API}/usage?${query("csv")}`;
  const report = await api(`/usage?${query()}`);
  if (seq !== state.seq) return;
  renderTotals(report.totals || {});
  renderTable(report);
}

async function loadEnergy() {
  const month = $("usage-month").value || thisMonth();
  const energy = await api(`/usage/energy?month=${encodeURIComponent(month)}`);
  renderEnergyInfo(energy);
}

// ---- your own usage ----------------------------------------------------------------------------

export function limitsText(limits) {
  if (!limits) return t("usage_no_limits");
  const parts = [];
  if (limits.rpm != null) parts.push(t("limits_rpm_value", { n: fmtNumber(limits.rpm) }));
  if (limits.tpm != null) parts.push(t("limits_tpm_value", { n: fmtNumber(limits.tpm) }));
  if (limits.tokens_per_month != null) parts.push(t("limits_month_value", { n: fmtNumber(limits.tokens_per_month) }));
  if (Array.isArray(limits.models)) parts.push(t("limits_models_value", { models: limits.models.join(", ") || t("limits_models_none") }));
  if (limits.team_id != null) parts.push(t("limits_team_value", { team: `#${limits.team_id}` }));
  return parts.length ? parts.join(" · ") : t("usage_no_limits");
}

export function usageText(usage) {
  if (!usage) return "";
  return t("limits_usage_now", {
    requests: fmtNumber(usage.requests_last_minute ?? 0), tokens: fmtNumber(usage.tokens_last_minute ?? 0),
    month: fmtNumber(usage.tokens_this_month ?? 0),
  });
}

function renderMine(me) {
  const box = $("usage-mine");
  box.replaceChildren();
  const table = el("table", "doc-table usage-mine-table");
  const thead = el("thead");
  const hr = el("tr");
  for (const key of ["usage_period", "usage_requests", "usage_total_tokens", "usage_energy", "usage_co2"]) {
    const th = el("th", key === "usage_period" ? null : key === "usage_co2" ? "num keep-case" : "num", t(key));
    th.scope = "col";
    hr.append(th);
  }
  thead.append(hr);
  const tbody = el("tbody");
  for (const period of ["today", "this_month", "all_time"]) {
    const r = me[period] || {};
    const tr = el("tr", "usage-mine-row");
    tr.dataset.period = period;
    const th = el("th", null, t(`usage_${period}`));
    th.scope = "row";
    const cells = [fmtNumber(r.requests ?? 0), fmtNumber(r.total_tokens ?? 0), energyNode(r), co2Node(r)];
    tr.append(th, ...cells.map((c) => { const td = el("td", "num"); td.append(c); return td; }));
    tbody.append(tr);
  }
  table.append(thead, tbody);
  const wrap = el("div", "table-wrap");
  wrap.append(table);
  box.append(wrap);
  const lim = el("p", "small usage-my-limits");
  lim.append(el("strong", null, t("usage_my_limits")), " ", limitsText(me.limits));
  if (me.limits && me.limits.usage) lim.append(el("span", "muted", ` — ${usageText(me.limits.usage)}`));
  box.append(lim);
  const keys = (me.keys || []).filter((k) => !k.revoked);
  if (keys.length) {
    const h = el("h3", "usage-sub", t("usage_my_keys"));
    const ul = el("ul", "usage-key-list");
    for (const k of keys) {
      const li = el("li", "usage-key-item small");
      li.dataset.id = k.public_id;
      li.append(el("span", "doc-name", k.name || k.public_id), el("code", "mono small", k.public_id), " ",
        el("span", "muted", `${(k.scopes || []).join(", ")} · ${t("key_expires_at")} ${fmtDate(k.expires_at)}`));
      const l = el("span", "usage-key-limits", limitsText(k.limits));
      li.append(l);
      if (k.usage) li.append(el("span", "muted", usageText(k.usage)));
      ul.append(li);
    }
    box.append(h, ul);
  }
}

async function loadMine() {
  renderMine(await api("/me/usage"));
}

// ---- view ----------------------------------------------------------------------------------------

async function load() {
  $("usage-scope").textContent = t(isAdmin() ? "usage_scope_all" : "usage_scope_own");
  await Promise.all([loadReport(), loadEnergy(), loadMine()]);
}

export function initUsage() {
  if (!state.built) buildView();
}

export function showUsage(visible) {
  state.visible = visible;
  if (visible) load().catch(failed);
}
