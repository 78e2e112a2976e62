// Models view (administrators only; the server enforces it too): the model gateway's registry
// (GET /api/v1/admin/models, docs/gateway.md). One card per model — alias, backend, where it runs,
// size, quantisation, context length, languages, licence, intended use and limitations (the AI Act's
// "instructions for use") — with its status: available, suspended (reason, who, when) or unavailable
// (its upstream server is down or misconfigured). Suspend asks for a reason; Resume ends the suspension.
// Both are effective on the next request. The residency policy and the suspension history follow.
import { api } from "./api.js";
import { t, lang, fmtNumber, fmtDate } from "./i18n.js";
import { toast, el, button } from "./ui.js";

const $ = (id) => document.getElementById(id);
const state = { visible: false, built: false, data: null, seq: 0 };
const failed = (e) => toast(t("error_generic", { message: e.message || String(e) }), true);
const params = new Intl.NumberFormat(lang, { maximumFractionDigits: 3 });
let regions = null;
try { regions = new Intl.DisplayNames([lang], { type: "region" }); } catch { regions = null; }

/** "France (FR)" for an ISO 3166 code, the code itself when the browser has no name for it. */
function countryName(code) {
  if (!code) return "";
  let name = "";
  try { name = regions ? regions.of(code) : ""; } catch { name = ""; }
  return name && name !== code ? `${name} (${code})` : code;
}

/** available | suspended | unavailable (health "down" or "misconfigured: ..."). */
export function modelStatus(m) {
  if (m.status === "suspended") return "suspended";
  const health = String(m.health || "");
  if (health === "down" || health.startsWith("misconfigured")) return "unavailable";
  return "available";
}

// ---- the view's skeleton -----------------------------------------------------------------------

function buildView() {
  const view = el("section", "view view-models");
  view.id = "view-models";
  view.hidden = true;
  view.setAttribute("aria-labelledby", "models-heading");
  const top = el("div", "card");
  const head = el("div", "card-head");
  const h = el("h2", null, t("models_title"));
  h.id = "models-heading";
  h.tabIndex = -1;
  const count = el("span", "count");
  count.id = "model-count";
  h.append(" ", count);
  const refresh = button("btn btn-secondary btn-small", t("refresh"), () => load().catch(failed));
  refresh.id = "models-refresh";
  head.append(h, refresh);
  const intro = el("p", "muted small", t("models_intro"));
  const residency = el("p", "small models-residency");
  residency.id = "models-residency";
  top.append(head, intro, residency);

  const list = el("div", "model-grid");
  list.id = "model-list";
  list.setAttribute("aria-live", "polite");

  const history = el("div", "card");
  const hh = el("h2", null, t("models_history"));
  hh.id = "models-history-heading";
  const wrap = el("div", "table-wrap");
  const table = el("table", "doc-table admin-table models-history");
  table.setAttribute("aria-labelledby", hh.id);
  const thead = el("thead");
  const hr = el("tr");
  for (const key of ["models_col_model", "models_col_suspended", "models_col_reason", "models_col_resumed"]) {
    const th = el("th", null, t(key));
    th.scope = "col";
    hr.append(th);
  }
  thead.append(hr);
  const rows = el("tbody");
  rows.id = "models-history-rows";
  table.append(thead, rows);
  wrap.append(table);
  const none = el("p", "muted small", t("models_history_none"));
  none.id = "models-history-empty";
  history.append(hh, wrap, none);

  view.append(top, list, history);
  $("app").append(view);
  state.built = true;
}

// ---- cards ---------------------------------------------------------------------------------------

function fact(dl, key, label, value) {
  if (value == null || value === "" || (Array.isArray(value) && !value.length)) return;
  const row = el("div", "model-fact");
  row.dataset.fact = key;
  const dd = el("dd");
  dd.append(value);
  row.append(el("dt", null, label), dd);
  dl.append(row);
}

function where(m) {
  const parts = [];
  if (m.country) parts.push(countryName(m.country));
  if (m.region) parts.push(m.region);
  let text = parts.join(" — ");
  if (!m.country) text = text ? `${text} · ${t("models_country_undeclared")}` : t("models_country_undeclared");
  if (m.operator) text += ` · ${t("models_operated_by", { operator: m.operator })}`;
  return text;
}

function size(m) {
  if (m.total_params_b == null) return t("models_size_unknown");
  const total = params.format(m.total_params_b);
  const active = m.active_params_b != null ? params.format(m.active_params_b) : total;
  return t("models_params_value", { total, active });
}

function healthText(health) {
  const key = { "in-process": "models_health_in_process", up: "models_health_up", down: "models_health_down" }[health];
  return key ? t(key) : String(health || "");
}

function statusBadge(m) {
  const status = modelStatus(m);
  const cls = { available: "badge-done", suspended: "badge-failed", unavailable: "badge-warn" }[status];
  const badge = el("span", `badge model-status ${cls}`, t(`models_status_${status}`));
  badge.dataset.status = status;
  return badge;
}

function card(m) {
  const status = modelStatus(m);
  const art = el("article", "card model-card");
  art.dataset.alias = m.alias;
  art.dataset.status = status;
  const titleId = `model-${m.alias.replace(/[^A-Za-z0-9_-]/g, "-")}-title`;
  art.setAttribute("aria-labelledby", titleId);
  const head = el("div", "model-head");
  const h = el("h3", "model-alias", m.alias);
  h.id = titleId;
  head.append(h, statusBadge(m));
  art.append(head);
  if (m.description) art.append(el("p", "muted small model-desc", m.description));

  if (m.suspension && status === "suspended") {
    const s = m.suspension;
    const box = el("p", "model-suspension small");
    box.setAttribute("role", "status");
    box.append(el("strong", null, t("models_suspended_on", { when: fmtDate(s.suspended_at), by: s.suspended_by || "?" })), " ");
    box.append(el("span", "model-reason-text", s.reason || t("models_no_reason")));
    art.append(box);
  } else if (status === "unavailable") {
    art.append(el("p", "model-unavailable warning small", t("models_unavailable_note", { health: m.health })));
  }

  const dl = el("dl", "model-facts");
  const backend = `${t(m.backend === "upstream" ? "models_backend_upstream" : "models_backend_in_process")}`
    + (m.backend_type ? ` (${m.backend_type})` : "");
  fact(dl, "backend", t("models_backend"), backend);
  fact(dl, "kind", t("models_kind"), t(m.kind === "embeddings" ? "models_kind_embeddings" : "models_kind_chat"));
  fact(dl, "where", t("models_where"), where(m));
  fact(dl, "params", t("models_params"), size(m));
  fact(dl, "quantisation", t("models_quantisation"), m.quantisation || "–");
  fact(dl, "context", t("models_context"), t("models_context_value", { n: fmtNumber(m.context_length) }));
  fact(dl, "languages", t("models_languages"), (m.languages || []).join(", ") || "–");
  fact(dl, "licence", t("models_licence"), m.licence || "–");
  if (m.fallbacks && m.fallbacks.length) fact(dl, "fallbacks", t("models_fallbacks"), m.fallbacks.join(", "));
  if (m.base_url) {
    const code = el("code", "mono small", m.base_url);
    fact(dl, "upstream", t("models_upstream"), code);
  }
  fact(dl, "health", t("models_health"), healthText(m.health));
  art.append(dl);

  const use = el("div", "model-text");
  use.append(el("h4", null, t("models_intended_use")), el("p", "small model-intended", m.intended_use || t("models_not_stated")));
  use.append(el("h4", null, t("models_limitations")), el("p", "small model-limitations", m.limitations || t("models_not_stated")));
  art.append(use);

  const actions = el("div", "model-actions");
  if (m.status === "suspended") {
    actions.append(button("btn btn-primary btn-small model-resume", t("models_resume"), () => resume(m),
      t("models_resume_named", { name: m.alias })));
  } else {
    actions.append(button("btn btn-danger btn-small model-suspend", t("models_suspend"), () => askReason(m, art),
      t("models_suspend_named", { name: m.alias })));
  }
  art.append(actions);
  return art;
}

/** The inline "why?" form: a reason is required (it is what clients read in the 503). */
function askReason(m, art) {
  const actions = art.querySelector(".model-actions");
  const form = el("form", "model-suspend-form");
  form.noValidate = true;
  const id = `${art.getAttribute("aria-labelledby")}-reason`;
  const label = el("label", "field", null);
  label.htmlFor = id;
  const input = el("input", "model-reason");
  input.type = "text";
  input.id = id;
  input.maxLength = 500;
  input.required = true;
  input.autocomplete = "off";
  label.append(el("span", null, t("models_reason")), input);
  const hint = el("p", "muted small field-hint", t("models_reason_hint"));
  hint.id = `${id}-hint`;
  input.setAttribute("aria-describedby", hint.id);
  const error = el("p", "error small model-reason-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const confirmBtn = el("button", "btn btn-danger btn-small model-suspend-confirm", t("models_suspend_confirm"));
  confirmBtn.type = "submit";
  const cancel = button("btn btn-secondary btn-small model-suspend-cancel", t("cancel"), () => {
    actions.replaceChildren(button("btn btn-danger btn-small model-suspend", t("models_suspend"), () => askReason(m, art),
      t("models_suspend_named", { name: m.alias })));
    actions.querySelector(".model-suspend").focus();
  });
  const row = el("div", "model-form-actions");
  row.append(confirmBtn, cancel);
  form.append(label, hint, error, row);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const reason = input.value.trim();
    if (!reason) {
      error.textContent = t("models_reason_required");
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    confirmBtn.disabled = true;
    try {
      await api(`/admin/models/${encodeURIComponent(m.alias)}/suspend`, { method: "POST", body: { reason } });
      toast(t("models_suspended_toast", { name: m.alias }));
    } catch (err) { failed(err); }
    await load().catch(failed);
    focusCard(m.alias, ".model-resume");
  });
  actions.replaceChildren(form);
  input.focus();
}

async function resume(m) {
  try {
    await api(`/admin/models/${encodeURIComponent(m.alias)}/resume`, { method: "POST" });
    toast(t("models_resumed_toast", { name: m.alias }));
  } catch (err) { failed(err); }
  await load().catch(failed);
  focusCard(m.alias, ".model-suspend");
}

function focusCard(alias, selector) {
  const art = [...document.querySelectorAll(".model-card")].find((a) => a.dataset.alias === alias);
  const target = art && art.querySelector(selector);
  if (target) target.focus();
}

function renderHistory(history) {
  const rows = $("models-history-rows");
  rows.replaceChildren();
  for (const s of history || []) {
    const tr = el("tr", "models-history-row");
    tr.dataset.alias = s.alias;
    tr.append(el("td", "doc-name", s.alias),
      el("td", "small", `${fmtDate(s.suspended_at)} · ${s.suspended_by || ""}`),
      el("td", "small", s.reason || "–"),
      el("td", "small", s.resumed_at ? `${fmtDate(s.resumed_at)} · ${s.resumed_by || ""}` : t("models_still_suspended")));
    rows.append(tr);
  }
  $("models-history-empty").hidden = (history || []).length > 0;
  rows.closest("table").hidden = !(history || []).length;
}

function render(data) {
  const models = data.models || [];
  $("model-count").textContent = `(${models.length})`;
  const res = $("models-residency");
  res.replaceChildren(el("strong", null, t("models_residency")), " ", data.residency || "–");
  if (data.registry_file) res.append(el("span", "muted", ` · ${t("models_registry_file")} `), el("code", "mono small", data.registry_file));
  const list = $("model-list");
  list.replaceChildren(...models.map(card));
  renderHistory(data.history);
}

async function load() {
  const seq = ++state.seq;
  const data = await api("/admin/models");
  if (seq !== state.seq) return;
  state.data = data;
  render(data);
}

export function initModels() {
  if (!state.built) buildView();
}

export function showModels(visible) {
  state.visible = visible;
  if (visible) load().catch(failed);
}
