// Model gateway limits of an API key (docs/metering.md): requests and tokens per minute, tokens per
// month, allowed models, team. An editor for one set of limits (used by the key creation form), and
// the row under a key that shows its usage and edits its limits (GET/PUT /api/v1/admin/keys/{public_id}/limits).
import { api } from "./api.js";
import { t, fmtNumber } from "./i18n.js";
import { toast, el, button } from "./ui.js";

const failed = (e) => toast(t("error_generic", { message: e.message || String(e) }), true);
let limitsSeq = 0;

const LIMIT_NUMBERS = [["rpm", "limits_rpm", "limits_rpm_hint"], ["tpm", "limits_tpm", "limits_tpm_hint"],
  ["tokens_per_month", "limits_month", "limits_month_hint"]];

/**
 * A fieldset editing one set of limits; `read()` gives the API body or throws with a message.
 * `choices`: the groups a team can be, and the model aliases (null when the registry could not be read).
 */
export function limitsEditor(limits, prefix, choices) {
  const cur = limits || {};
  const box = el("fieldset", "limits-editor");
  box.append(el("legend", null, t("limits_title")));
  const grid = el("div", "limits-grid");
  const numbers = {};
  for (const [name, label, hint] of LIMIT_NUMBERS) {
    const id = `${prefix}-${name.replace(/_/g, "-")}`;
    const wrap = el("label", "field");
    wrap.htmlFor = id;
    const input = el("input", `lim-${name.replace(/_/g, "-")}`);
    input.type = "number";
    input.id = id;
    input.min = "1";
    input.step = "1";
    input.inputMode = "numeric";
    input.placeholder = t("limits_unlimited");
    input.title = t(hint);
    input.value = cur[name] != null ? String(cur[name]) : "";
    wrap.append(el("span", null, t(label)), input);
    numbers[name] = input;
    grid.append(wrap);
  }
  const teamId = `${prefix}-team`;
  const teamWrap = el("label", "field");
  teamWrap.htmlFor = teamId;
  const team = el("select", "lim-team");
  team.id = teamId;
  const none = el("option", null, t("limits_no_team"));
  none.value = "";
  team.append(none);
  for (const g of choices.groups) {
    const o = el("option", null, g.name);
    o.value = String(g.id);
    team.append(o);
  }
  if (cur.team_id != null && ![...team.options].some((o) => o.value === String(cur.team_id))) {
    const o = el("option", null, `#${cur.team_id}`);
    o.value = String(cur.team_id);
    team.append(o);
  }
  team.value = cur.team_id != null ? String(cur.team_id) : "";
  team.title = t("limits_team_hint");
  teamWrap.append(el("span", null, t("limits_team")), team);
  grid.append(teamWrap);
  box.append(grid);

  const models = el("fieldset", "limits-models");
  models.append(el("legend", null, t("limits_models")));
  let readModels;
  if (choices.models) {
    const all = el("input", "lim-all-models");
    all.type = "checkbox";
    all.id = `${prefix}-models-all`;
    all.checked = !Array.isArray(cur.models);
    const allLabel = el("label", "limits-check");
    allLabel.htmlFor = all.id;
    allLabel.append(all, ` ${t("limits_models_all")}`);
    models.append(allLabel);
    const names = [...choices.models];
    for (const m of cur.models || []) if (!names.includes(m)) names.push(m);
    const boxes = names.map((name, i) => {
      const c = el("input", "lim-model");
      c.type = "checkbox";
      c.id = `${prefix}-model-${i}`;
      c.value = name;
      c.checked = Array.isArray(cur.models) && cur.models.includes(name);
      const l = el("label", "limits-check");
      l.htmlFor = c.id;
      l.append(c, " ", el("code", "mono small", name));
      models.append(l);
      return c;
    });
    const sync = () => { for (const c of boxes) c.disabled = all.checked; };
    all.addEventListener("change", sync);
    sync();
    readModels = () => (all.checked ? null : boxes.filter((c) => c.checked).map((c) => c.value));
  } else {  // the registry could not be read: aliases as text (empty: every model)
    const id = `${prefix}-models-text`;
    const wrap = el("label", "field");
    wrap.htmlFor = id;
    const input = el("input", "lim-models-text");
    input.type = "text";
    input.id = id;
    input.placeholder = t("limits_models_all");
    input.value = Array.isArray(cur.models) ? cur.models.join(", ") : "";
    wrap.append(el("span", null, t("limits_models_text")), input);
    models.append(wrap);
    readModels = () => {
      const list = input.value.split(",").map((x) => x.trim()).filter(Boolean);
      return list.length ? list : null;
    };
  }
  models.append(el("p", "muted small field-hint", t("limits_models_hint")));
  box.append(models);

  const read = () => {
    const body = {};
    for (const [name, label] of LIMIT_NUMBERS) {
      const input = numbers[name];
      input.removeAttribute("aria-invalid");
      const raw = input.value.trim();
      if (!raw) { body[name] = null; continue; }
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1) {
        input.setAttribute("aria-invalid", "true");
        input.focus();
        throw new Error(t("limits_invalid", { field: t(label) }));
      }
      body[name] = n;
    }
    body.models = readModels();
    body.team_id = team.value ? Number(team.value) : null;
    return body;
  };
  return { node: box, read };
}

export const noLimits = (b) => b.rpm == null && b.tpm == null && b.tokens_per_month == null && b.models == null && b.team_id == null;

function closeLimitsRows(except) {
  for (const row of document.querySelectorAll("#key-rows tr.key-limits-row")) {
    if (row === except) continue;
    const owner = row.previousElementSibling;
    const toggle = owner && owner.querySelector(".key-limits-edit");
    if (toggle) toggle.setAttribute("aria-expanded", "false");
    row.remove();
  }
}

/** Opens (or closes) the limits row under a key's row; `choices()` gives the editor's groups and models. */
export async function toggleLimits(k, tr, toggle, choices) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains("key-limits-row")) {
    next.remove();
    toggle.setAttribute("aria-expanded", "false");
    return;
  }
  closeLimitsRows(null);
  let current;
  try {
    current = await api(`/admin/keys/${encodeURIComponent(k.public_id)}/limits`);
  } catch (e) { failed(e); return; }
  const row = el("tr", "key-limits-row");
  row.dataset.id = k.public_id;
  const td = el("td");
  td.colSpan = tr.children.length;
  const form = el("form", "key-limits-form");
  form.noValidate = true;
  form.setAttribute("aria-label", t("limits_of", { name: k.name || k.public_id }));
  const usage = el("p", "muted small key-limits-usage");
  const showUsage = (data) => {
    const u = data.usage || {};
    usage.textContent = `${data.limited ? "" : `${t("limits_none_yet")} · `}${t("limits_usage_now", {
      requests: fmtNumber(u.requests_last_minute ?? 0), tokens: fmtNumber(u.tokens_last_minute ?? 0),
      month: fmtNumber(u.tokens_this_month ?? 0),
    })}`;
  };
  showUsage(current);
  let editor = limitsEditor(current.limited ? current : null, `lim-${++limitsSeq}`, choices());
  const slot = el("div");
  slot.append(editor.node);
  const error = el("p", "error small key-limits-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const save = el("button", "btn btn-primary btn-small key-limits-save", t("limits_save"));
  save.type = "submit";
  const put = async (body) => {
    error.hidden = true;
    try {
      const data = await api(`/admin/keys/${encodeURIComponent(k.public_id)}/limits`, { method: "PUT", body });
      showUsage(data);
      editor = limitsEditor(data.limited ? data : null, `lim-${++limitsSeq}`, choices());
      slot.replaceChildren(editor.node);
      toast(t("limits_saved", { name: k.name || k.public_id }));
      row.dataset.saved = "true";
    } catch (e) {
      error.textContent = t("error_generic", { message: e.message || String(e) });
      error.hidden = false;
    }
  };
  const clear = button("btn btn-secondary btn-small key-limits-clear", t("limits_clear"),
    () => put({ rpm: null, tpm: null, tokens_per_month: null, models: null, team_id: null }));
  const close = button("btn btn-secondary btn-small key-limits-close", t("close"), () => {
    row.remove();
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    let body;
    try { body = editor.read(); } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      return;
    }
    put(body);
  });
  const actions = el("div", "key-limits-actions");
  actions.append(save, clear, close);
  form.append(usage, slot, error, actions);
  td.append(form);
  row.append(td);
  tr.after(row);
  toggle.setAttribute("aria-expanded", "true");
  const first = form.querySelector("input");
  if (first) first.focus();
}
