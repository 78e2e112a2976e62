// Sources view (administrators only; the server enforces it too): the connectors that bring documents
// in from folders, file servers and cloud drives. Each source shows its state, document count, the
// counts of its last sync, next run and last error, with Sync now / Full resync / Check /
// Enable-Disable / Remove; a running sync shows its job (done/total, current item, ETA, Cancel).
// The "add" form is generated from the connector's settings JSON schema (GET /sources/kinds).
// Credentials are env:/file: references, never secrets: the server refuses anything else.
import { api } from "./api.js";
import { t, fmtNumber, fmtDate, fmtDuration } from "./i18n.js";
import { toast, el, button } from "./ui.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["queued", "running"]);
const SECRET = /secret|password|key/i;
const COUNTS = ["added", "updated", "unchanged", "permissions_updated", "deleted", "failed"];
const TARGETS = ["path", "base_url", "bucket", "sites", "shared_drives", "my_drive_users", "onedrive_users", "folders", "prefixes"];
const state = {
  kinds: [], sources: [], jobs: new Map(), checks: new Map(), fields: [], visible: false, kindsLoaded: false,
  timer: 0, ticks: 0, rendered: "", rowSeq: 0,
};

/** A message, or `fallback` when the catalog has no such key. */
function tr(key, fallback, vars) {
  const text = t(key, vars);
  return text === key ? fallback : text;
}

const failed = (e) => toast(t("error_generic", { message: e.message || String(e) }), true);
const kindTitle = (kind, title) => tr(`source_kind_${kind}`, title || kind);

// ---- the view's skeleton (built once; labels through i18n) ------------------------------------

function field(id, labelText, control, { hint, required, wide } = {}) {
  const wrap = el("div", `field${wide ? " field-wide" : ""}`);
  const label = el("label", null, labelText);
  label.htmlFor = id;
  if (required) {
    const mark = el("span", "required-mark", " *");
    mark.setAttribute("aria-hidden", "true");
    label.append(mark);
    control.setAttribute("aria-required", "true");
  }
  control.id = id;
  wrap.append(label, control);
  if (hint) wrap.append(hintFor(control, hint));
  return wrap;
}

function hintFor(control, text, className = "") {
  const h = el("p", `field-hint muted small ${className}`.trim(), text);
  h.id = `${control.id}-hint-${++state.rowSeq}`;
  const described = control.getAttribute("aria-describedby");
  control.setAttribute("aria-describedby", described ? `${described} ${h.id}` : h.id);
  return h;
}

function input(type, className) {
  const i = el("input", className);
  i.type = type;
  i.autocomplete = "off";
  i.spellcheck = false;
  i.setAttribute("autocapitalize", "none");
  return i;
}

function buildView() {
  const view = el("section", "view view-sources");
  view.id = "view-sources";
  view.hidden = true;
  view.setAttribute("aria-labelledby", "sources-heading");

  const list = el("div", "card");
  const head = el("div", "card-head");
  const h = el("h2", null, t("sources_title"));
  h.id = "sources-heading";
  h.tabIndex = -1;
  const count = el("span", "count");
  count.id = "source-count";
  h.append(" ", count);
  const refresh = button("btn btn-secondary btn-small", t("refresh"), () => loadSources().catch(failed));
  refresh.id = "sources-refresh";
  head.append(h, refresh);
  const intro = el("p", "muted small src-intro", t("sources_intro"));
  const wrap = el("div", "table-wrap");
  const table = el("table", "doc-table admin-table src-table");
  table.id = "source-table";
  const thead = el("thead");
  const hr = el("tr");
  for (const key of ["sources_col_source", "sources_col_state", "sources_col_documents", "sources_col_last_sync", "sources_col_next_run"]) {
    const th = el("th", null, t(key));
    th.scope = "col";
    hr.append(th);
  }
  const actions = el("th");
  actions.scope = "col";
  actions.append(el("span", "sr-only", t("col_actions")));
  hr.append(actions);
  thead.append(hr);
  const rows = el("tbody");
  rows.id = "source-rows";
  table.append(thead, rows);
  wrap.append(table);
  const empty = el("p", "muted", t("sources_none"));
  empty.id = "sources-empty";
  empty.hidden = true;
  list.append(head, intro, wrap, empty);

  const add = el("div", "card");
  const ah = el("h2", null, t("sources_add"));
  ah.id = "source-form-title";
  add.append(ah, buildForm());
  view.append(list, add);
  $("app").append(view);
}

function buildForm() {
  const form = el("form", "source-form");
  form.id = "source-form";
  form.noValidate = true;  // the server validates, with messages that name the fields
  form.autocomplete = "off";
  form.setAttribute("aria-labelledby", "source-form-title");
  const top = el("div", "src-top");
  const kind = el("select");
  top.append(field("source-kind", t("sources_kind"), kind));
  const name = input("text");
  name.maxLength = 64;
  top.append(field("source-name", t("sources_name"), name, { hint: t("sources_name_hint"), required: true }));
  const schedule = input("number");
  schedule.min = "0";
  schedule.max = "10080";
  schedule.step = "1";
  schedule.value = "60";
  top.append(field("source-schedule", t("sources_schedule"), schedule, { hint: t("sources_schedule_hint") }));
  const checks = el("div", "src-checks");
  checks.append(checkbox("source-enabled", t("sources_enabled"), true));
  const watch = checkbox("source-watch", t("sources_watch"), false, t("sources_watch_hint"));
  watch.id = "source-watch-field";
  checks.append(watch);
  top.append(checks);
  const settings = el("fieldset", "src-settings");
  settings.id = "source-settings";
  const error = el("p", "error src-form-error");
  error.id = "source-form-error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const submit = el("button", "btn btn-primary", t("sources_submit"));
  submit.type = "submit";
  submit.id = "source-add";
  const foot = el("div", "src-form-foot");
  foot.append(submit);
  form.append(top, settings, error, foot);
  kind.addEventListener("change", () => renderSettings());
  form.addEventListener("submit", addSource);
  return form;
}

function checkbox(id, text, checked, hint) {
  const wrap = el("div", "field-check");
  const box = input("checkbox");
  box.id = id;
  box.checked = checked;
  const label = el("label", null, text);
  label.htmlFor = id;
  wrap.append(box, label);
  if (hint) wrap.append(hintFor(box, hint));
  return wrap;
}

// ---- the settings form, generated from the connector's JSON schema ----------------------------

function resolveRef(prop, root) {
  if (prop && prop.$ref && prop.$ref.startsWith("#/$defs/")) return (root.$defs || {})[prop.$ref.slice(8)] || {};
  return prop || {};
}

/** The field's shape: the non-null branch of `anyOf: [X, null]`, with $refs followed. */
function shapeOf(prop, root) {
  let p = resolveRef(prop, root);
  if (Array.isArray(p.anyOf)) {
    const branch = p.anyOf.map((b) => resolveRef(b, root)).find((b) => b.type !== "null");
    if (branch) p = { ...branch, ...Object.fromEntries(Object.entries(p).filter(([k]) => k !== "anyOf")) };
  }
  return p;
}

function widget(shape) {
  if (Array.isArray(shape.enum)) return "enum";
  if (shape.type === "boolean") return "bool";
  if (shape.type === "integer" || shape.type === "number") return "number";
  if (shape.type === "array") return "list";
  if (shape.type === "object") {
    const extra = shape.additionalProperties;
    return extra && typeof extra === "object" && extra.type === "array" && !shape.properties ? "map" : "json";
  }
  return "text";
}

const fieldLabel = (name, shape) => tr(`source_field_${name}`, shape.title || name);

function renderSettings() {
  const box = $("source-settings");
  const kindName = $("source-kind").value;
  const kind = state.kinds.find((k) => k.kind === kindName);
  formError("");  // an error was about the previous form
  box.replaceChildren(el("legend", null, t("sources_settings", { kind: kind ? kindTitle(kind.kind, kind.title) : "" })));
  state.fields = [];
  $("source-watch-field").hidden = kindName !== "local";
  if (!kind) return;
  const schema = kind.settings_schema || {};
  const required = new Set(schema.required || []);
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const shape = shapeOf(prop, schema);
    const f = makeField(name, shape, required.has(name));
    state.fields.push(f);
    box.append(f.node);
  }
}

function makeField(name, shape, required) {
  const id = `source-setting-${name}`;
  const label = fieldLabel(name, shape);
  const kind = widget(shape);
  const help = shape.description || "";
  const has = (v) => v !== undefined && v !== null;
  if (kind === "bool") {
    const node = checkbox(id, label, has(shape.default) ? !!shape.default : false, help);
    node.classList.add("field-wide");
    const box = node.querySelector("input");
    return { name, node, inputs: [box], read: () => ({ present: true, value: box.checked }) };
  }
  if (kind === "enum") {
    const select = el("select");
    const blank = el("option", null, has(shape.default) ? t("sources_default_value", { value: shape.default }) : t("sources_default"));
    blank.value = "";
    select.append(blank);
    for (const v of shape.enum) {
      const o = el("option", null, String(v));
      o.value = String(v);
      select.append(o);
    }
    const node = field(id, label, select, { hint: help, required });
    return { name, node, inputs: [select], read: () => (select.value ? { present: true, value: select.value } : { present: false }) };
  }
  if (kind === "number") {
    const box = input("number");
    if (has(shape.minimum)) box.min = String(shape.minimum);
    if (has(shape.maximum)) box.max = String(shape.maximum);
    box.step = shape.type === "integer" ? "1" : "any";
    if (has(shape.default)) box.value = String(shape.default);
    const node = field(id, label, box, { hint: help, required });
    return {
      name, node, inputs: [box], read: () => {
        const raw = box.value.trim();
        if (!raw) return { present: false };
        const n = Number(raw);
        return { present: true, value: Number.isFinite(n) ? n : raw };
      },
    };
  }
  if (kind === "list") {
    const area = el("textarea");
    area.rows = 3;
    area.spellcheck = false;
    if (Array.isArray(shape.default)) area.value = shape.default.join("\n");
    const node = field(id, label, area, { hint: help, required });
    node.append(hintFor(area, t("sources_list_hint")));
    return {
      name, node, inputs: [area], read: () => {
        // one value a line; '' (or "") stands for the empty string, e.g. a whole-bucket prefix
        const values = area.value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).map((l) => (l === "''" || l === '""' ? "" : l));
        return values.length ? { present: true, value: values } : { present: false };
      },
    };
  }
  if (kind === "map") return mapField(id, name, label, shape, required, help);
  if (kind === "json") {
    const area = el("textarea", "mono");
    area.rows = 3;
    area.spellcheck = false;
    if (has(shape.default)) area.value = JSON.stringify(shape.default, null, 1);
    const node = field(id, label, area, { hint: help, required, wide: true });
    node.append(hintFor(area, t("sources_json_hint")));
    return {
      name, node, inputs: [area], read: () => {
        const raw = area.value.trim();
        if (!raw) return { present: false };
        try { return { present: true, value: JSON.parse(raw) }; } catch { return { error: t("sources_json_invalid", { field: label }) }; }
      },
    };
  }
  const box = input("text");
  if (has(shape.default) && shape.default !== "") box.value = String(shape.default);
  const secret = SECRET.test(name);
  if (secret) box.placeholder = "env:NAME";
  const node = field(id, label, box, { hint: help, required });
  if (secret) {
    node.classList.add("field-secret");
    node.append(hintFor(box, t("sources_secret_hint"), "secret-hint"));
  }
  return {
    name, node, inputs: [box], read: () => {
      const v = box.value.trim();
      return v || required ? { present: !!v, value: v } : { present: false };
    },
  };
}

/** "prefix → principals" rules (or any "key → list of strings" object): one row per key. */
function mapField(id, name, label, shape, required, help) {
  const acl = name === "acl";
  const node = el("fieldset", "field field-wide map-editor");
  node.id = id;
  const legend = el("legend", null, label);
  if (required) {
    const mark = el("span", "required-mark", " *");
    mark.setAttribute("aria-hidden", "true");
    legend.append(mark);
  }
  node.append(legend);
  if (help) {
    const p = el("p", "field-hint muted small", help);
    p.id = `${id}-hint`;
    node.setAttribute("aria-describedby", p.id);
    node.append(p);
  }
  const keyLabel = acl ? t("sources_map_prefix") : t("sources_map_key");
  const valuesLabel = acl ? t("sources_map_principals") : t("sources_map_values");
  const headRow = el("div", "map-row map-head");
  headRow.setAttribute("aria-hidden", "true");
  headRow.append(el("span", null, keyLabel), el("span", null, valuesLabel));
  const rows = el("div", "map-rows");
  const inputs = [];
  const addRow = (key = "", values = "") => {
    const n = ++state.rowSeq;
    const row = el("div", "map-row");
    const k = input("text", "map-key");
    k.id = `${id}-key-${n}`;
    k.value = key;
    k.placeholder = acl ? t("sources_map_everything") : "";
    const kl = el("label", "sr-only", `${label}: ${keyLabel}`);
    kl.htmlFor = k.id;
    const v = input("text", "map-values");
    v.id = `${id}-values-${n}`;
    v.value = values;
    v.placeholder = acl ? "public, group:2" : "";
    const vl = el("label", "sr-only", `${label}: ${valuesLabel}`);
    vl.htmlFor = v.id;
    const remove = button("btn-icon map-remove", "\u2715", () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      inputs.splice(0, inputs.length, ...rows.querySelectorAll("input"));
      if (!rows.children.length) addRow();
      (next && next.querySelector(".map-key") ? next.querySelector(".map-key") : rows.querySelector(".map-key")).focus();
    }, t("sources_map_remove"));
    row.append(kl, k, vl, v, remove);
    rows.append(row);
    inputs.push(k, v);
    return k;
  };
  if (shape.default && typeof shape.default === "object") {
    for (const [k, v] of Object.entries(shape.default)) addRow(k, (v || []).join(", "));
  }
  if (!rows.children.length) addRow();
  const more = button("btn btn-secondary btn-small map-add", t(acl ? "sources_map_add_rule" : "sources_map_add"), () => addRow().focus());
  node.append(headRow, rows, more);
  if (acl) node.append(el("p", "field-hint muted small", t("sources_map_hint")));
  return {
    name, node, inputs, read: () => {
      const out = {};
      let any = false;
      for (const row of rows.children) {
        const key = row.querySelector(".map-key").value.trim();
        const raw = row.querySelector(".map-values").value.trim();
        if (!key && !raw) continue;
        out[key] = raw.split(/[\s,;]+/).filter(Boolean);
        any = true;
      }
      return any ? { present: true, value: out } : { present: false };
    },
  };
}

function formError(message) {
  const box = $("source-form-error");
  box.textContent = message || "";
  box.hidden = !message;
  const all = [$("source-name"), ...state.fields.flatMap((f) => f.inputs)];
  for (const i of all) i.removeAttribute("aria-invalid");
  if (!message) return;
  // the server names the offending fields ("path: ...; acl: ..."): mark them
  let first = null;
  const mark = (inputs) => {
    for (const i of inputs) {
      i.setAttribute("aria-invalid", "true");
      first = first || i;
    }
  };
  if (/source name/.test(message) || /already exists/.test(message)) mark([$("source-name")]);
  for (const f of state.fields) {
    if (new RegExp(`(^|[\\s;:(])${f.name}(\\.[\\w.]+)?:`).test(message)) mark(f.inputs);
  }
  return first;
}

function resetForm() {
  $("source-name").value = "";
  $("source-schedule").value = "60";
  $("source-enabled").checked = true;
  $("source-watch").checked = false;
  renderSettings();
}

async function addSource(event) {
  event.preventDefault();
  formError("");
  const kind = $("source-kind").value;
  const settings = {};
  for (const f of state.fields) {
    const r = f.read();
    if (r.error) {
      formError(r.error);
      f.inputs[0].setAttribute("aria-invalid", "true");
      f.inputs[0].focus();
      return;
    }
    if (r.present) settings[f.name] = r.value;
  }
  const body = { name: $("source-name").value.trim(), kind, settings, enabled: $("source-enabled").checked, watch: kind === "local" && $("source-watch").checked };
  const minutes = $("source-schedule").value.trim();
  if (minutes !== "") body.schedule_minutes = Number(minutes);
  const submit = $("source-add");
  submit.disabled = true;
  try {
    const created = await api("/sources", { method: "POST", body });
    toast(t("sources_added", { name: created.name }));
    resetForm();
    await loadSources();
    const sync = document.querySelector(`tr.src-row[data-name="${CSS.escape(created.name)}"] [data-action="sync"]`);
    if (sync) sync.focus();
  } catch (e) {
    const first = formError(e.message || String(e));
    if (first) first.focus();
  } finally {
    submit.disabled = false;
  }
}

// ---- the list ---------------------------------------------------------------------------------

async function loadKinds() {
  const data = await api("/sources/kinds");
  state.kinds = (data && data.kinds) || [];
  const select = $("source-kind");
  const chosen = select.value;
  select.replaceChildren();
  for (const k of state.kinds) {
    const o = el("option", null, kindTitle(k.kind, k.title));
    o.value = k.kind;
    select.append(o);
  }
  if (chosen && state.kinds.some((k) => k.kind === chosen)) select.value = chosen;
  state.kindsLoaded = true;
  renderSettings();
}

async function loadSources() {
  const data = await api("/sources");
  state.sources = (data && data.sources) || [];
  const names = new Set(state.sources.map((s) => s.name));
  for (const name of [...state.jobs.keys()]) if (!names.has(name)) state.jobs.delete(name);
  await adoptRunningJobs();
  render();
  schedule();
}

// A sync started elsewhere (the schedule, the folder watcher, another administrator): sync jobs
// name their source, so each running source is matched to its active job.
async function adoptRunningJobs() {
  const orphans = state.sources.filter((s) => s.state === "running" && !activeJob(s.name));
  if (!orphans.length) return;
  try {
    const data = await api("/jobs?limit=50");
    for (const j of (data && data.jobs) || []) {
      if (j.kind !== "sync" || !ACTIVE.has(j.status) || !j.source) continue;
      if (orphans.some((s) => s.name === j.source) && !activeJob(j.source)) state.jobs.set(j.source, j);
    }
  } catch { /* the list still shows the source as running */ }
}

function activeJob(name) {
  const job = state.jobs.get(name);
  return job && ACTIVE.has(job.status) ? job : null;
}

function badge(status) {
  const b = el("span", `badge badge-${status || "unknown"} src-state`, tr(`sources_state_${status}`, status));
  b.dataset.state = status || "";
  return b;
}

function target(s) {
  const st = s.settings || {};
  for (const key of TARGETS) {
    const v = st[key];
    if (Array.isArray(v) ? v.length : v) return Array.isArray(v) ? v.join(", ") : String(v);
  }
  return "";
}

function render() {
  const key = JSON.stringify([state.sources, [...state.jobs.entries()], [...state.checks.entries()]]);
  if (key === state.rendered) return;
  state.rendered = key;
  const rows = $("source-rows");
  // a refresh replaces the rows: keep keyboard focus on the same action of the same source
  const focused = rows.contains(document.activeElement) ? document.activeElement : null;
  const refocus = focused && focused.closest("tr[data-name]") && [focused.closest("tr[data-name]").dataset.name, focused.dataset.action];
  rows.replaceChildren();
  $("sources-empty").hidden = state.sources.length > 0;
  $("source-table").hidden = !state.sources.length;
  $("source-count").textContent = state.sources.length ? `(${fmtNumber(state.sources.length)})` : "";
  for (const s of state.sources) rows.append(...sourceRows(s));
  if (refocus && refocus[1]) {
    const inRows = (action) => rows.querySelector(`tr[data-name="${CSS.escape(refocus[0])}"] [data-action="${action}"]:not(:disabled)`);
    const fallback = { sync: "cancel", full: "cancel", cancel: "sync" }[refocus[1]];
    const again = inRows(refocus[1]) || (fallback && inRows(fallback));
    if (again) again.focus();
  }
}

function sourceRows(s) {
  const job = activeJob(s.name);
  const shown = job ? (job.status === "queued" ? "queued" : "running") : s.state;
  const busy = !!job || s.state === "running";
  const row = el("tr", "src-row");
  row.dataset.name = s.name;
  row.dataset.state = shown;

  const who = el("td", "src-source");
  who.append(el("span", "src-name", s.name), el("span", "src-kind muted small", kindTitle(s.kind, s.kind_title)));
  const where = target(s);
  if (where) who.append(el("span", "src-target muted", where));

  const stateCell = el("td", "src-state-cell");
  stateCell.append(badge(shown));
  if (!s.enabled) {
    const off = el("span", "badge badge-cancelled src-disabled", t("sources_disabled"));
    off.dataset.state = "disabled";
    stateCell.append(" ", off);
  }
  if (s.kind === "local" && s.watch && s.enabled) stateCell.append(el("span", "src-note muted small", t("sources_watching")));
  if (s.resuming && !busy) stateCell.append(el("span", "src-note muted small", t("sources_resuming")));

  const items = s.items || {};
  const docs = el("td", "src-docs-cell");
  const n = el("span", "src-docs", fmtNumber(items.indexed || 0));
  n.dataset.count = String(items.indexed || 0);
  docs.append(n);
  for (const k of ["no_text", "failed"]) {
    if (items[k]) docs.append(el("span", `src-note small ${k === "failed" ? "error" : "warning"}`, t(`sources_items_${k}`, { n: fmtNumber(items[k]) })));
  }

  const last = el("td", "src-last small");
  last.append(el("span", "doc-date src-when", s.last_finished_at ? fmtDate(s.last_finished_at) : t("sources_never")));
  const counts = s.counts || {};
  const parts = COUNTS.filter((k) => counts[k]).map((k) => t(`sources_count_${k}`, { n: fmtNumber(counts[k]) }));
  if (parts.length) {
    const c = el("span", "src-counts muted", parts.join(" · "));
    for (const k of COUNTS) c.dataset[k.replace(/_(\w)/g, (m, ch) => ch.toUpperCase())] = String(counts[k] || 0);
    last.append(c);
  }
  if (s.last_success_at && s.last_success_at !== s.last_finished_at) {
    last.append(el("span", "src-note muted", t("sources_last_success", { when: fmtDate(s.last_success_at) })));
  }

  const next = el("td", "src-next small");
  // a manual-only source (schedule 0) runs when asked, whatever next_run_at says
  const when = !s.enabled ? t("sources_paused") : s.schedule_minutes && s.next_run_at ? fmtDate(s.next_run_at) : t("sources_manual");
  next.append(el("span", "doc-date", when));
  if (s.schedule_minutes) next.append(el("span", "src-note muted", t("sources_every", { n: fmtNumber(s.schedule_minutes) })));

  const actions = el("td", "src-actions-cell");
  const box = el("div", "src-actions");
  const act = (action, cls, label, title, fn, disabled = false) => {
    const b = button(`btn btn-small ${cls} src-${action}`, label, fn, title);
    b.dataset.action = action;
    b.disabled = disabled;
    box.append(b);
  };
  act("sync", "btn-primary", t("sources_sync"), t("sources_sync_named", { name: s.name }), () => startSync(s, false), busy);
  act("full", "btn-secondary", t("sources_full"), t("sources_full_named", { name: s.name }), () => startSync(s, true), busy);
  act("check", "btn-secondary", t("sources_check"), t("sources_check_named", { name: s.name }), () => check(s));
  act("toggle", "btn-secondary", t(s.enabled ? "disable" : "enable"), t(s.enabled ? "sources_disable_named" : "sources_enable_named", { name: s.name }),
    () => toggle(s));
  act("remove", "btn-danger", t("remove"), t("sources_remove_named", { name: s.name }), () => remove(s), busy);
  actions.append(box);
  row.append(who, stateCell, docs, last, next, actions);

  const detail = detailRow(s, job, busy);
  if (!detail) return [row];
  row.classList.add("has-detail");
  return [row, detail];
}

function detailRow(s, job, busy) {
  const cell = el("td", "src-detail-cell");
  cell.colSpan = 6;
  if (busy) cell.append(progress(s, job));
  const checked = state.checks.get(s.name);
  if (checked) {
    const p = el("p", `small src-check ${checked.ok ? "src-check-ok" : "error"}`,
      t(checked.ok ? "sources_check_ok" : "sources_check_failed", { message: checked.message }));
    p.dataset.ok = String(checked.ok);
    cell.append(p);
  }
  if (s.last_error && !busy) cell.append(el("p", "error small src-error", t("sources_last_error", { message: s.last_error })));
  if (!cell.children.length) return null;
  const row = el("tr", "src-detail");
  row.dataset.name = s.name;
  row.append(cell);
  return row;
}

function progress(s, job) {
  const box = el("div", "src-progress");
  const bar = el("progress", "bar");
  const total = job ? job.total || 0 : 0;
  bar.max = Math.max(total, 1);
  if (!job || (!total && !job.done)) bar.removeAttribute("value");  // indeterminate until the listing has counted
  else bar.value = Math.min(job.done || 0, bar.max);
  bar.setAttribute("aria-label", t("sources_progress", { name: s.name }));
  const info = el("p", "small muted src-progress-info");
  info.setAttribute("aria-live", "polite");
  const parts = [];
  if (job && job.status === "queued") parts.push(t("job_queued"));
  else if (job) {
    parts.push(total ? t("sources_items_done", { done: fmtNumber(job.done || 0), total: fmtNumber(total) })
      : t("sources_items_seen", { done: fmtNumber(job.done || 0) }));
    if (job.current) parts.push(t("job_current", { name: job.current }));
    parts.push(job.eta_s != null ? t("eta", { t: fmtDuration(job.eta_s) }) : t("eta_unknown"));
  } else parts.push(t("sources_state_running"));
  info.textContent = parts.join(" · ");
  box.append(bar, info);
  if (job) {
    const cancel = button("btn btn-secondary btn-small job-cancel src-cancel", t("cancel"), async () => {
      cancel.disabled = true;
      cancel.textContent = t("cancelling");
      try {
        state.jobs.set(s.name, await api(`/jobs/${encodeURIComponent(job.id)}/cancel`, { method: "POST" }));
      } catch (e) { failed(e); }
      tick();
    }, t("sources_cancel_named", { name: s.name }));
    cancel.dataset.action = "cancel";
    box.append(cancel);
  }
  return box;
}

// ---- actions ----------------------------------------------------------------------------------

async function startSync(s, full) {
  try {
    const data = await api(`/sources/${encodeURIComponent(s.name)}/sync`, { method: "POST", body: { full } });
    if (data && data.job) state.jobs.set(s.name, data.job);
    state.checks.delete(s.name);
    toast(t(full ? "sources_full_started" : "sources_sync_started", { name: s.name }));
    render();
    schedule(700);
  } catch (e) {
    failed(e);
    loadSources().catch(failed);
  }
}

async function check(s) {
  try {
    const r = await api(`/sources/${encodeURIComponent(s.name)}/check`, { method: "POST" });
    state.checks.set(s.name, { ok: !!r.ok, message: r.message || "" });
    toast(t(r.ok ? "sources_check_ok" : "sources_check_failed", { message: r.message || "" }), !r.ok);
  } catch (e) {
    state.checks.set(s.name, { ok: false, message: e.message || String(e) });
  }
  render();
}

async function toggle(s) {
  try {
    await api(`/sources/${encodeURIComponent(s.name)}`, { method: "PATCH", body: { enabled: !s.enabled } });
    toast(t(s.enabled ? "sources_disabled_named" : "sources_enabled_named", { name: s.name }));
  } catch (e) { failed(e); }
  await loadSources().catch(failed);
}

async function remove(s) {
  if (!window.confirm(t("sources_confirm_remove", { name: s.name }))) return;
  try {
    const r = await api(`/sources/${encodeURIComponent(s.name)}`, { method: "DELETE" });
    toast(t("sources_removed", { name: s.name, n: fmtNumber((r && r.removed_documents) || 0) }));
    state.jobs.delete(s.name);
    state.checks.delete(s.name);
  } catch (e) { failed(e); }
  await loadSources().catch(failed);
  $("sources-heading").focus();
}

// ---- polling: each active sync job every second, the list every few seconds while any runs ------

function schedule(delay) {
  clearTimeout(state.timer);
  if (!state.visible) return;
  const jobs = [...state.jobs.values()].some((j) => ACTIVE.has(j.status));
  const running = state.sources.some((s) => s.state === "running");
  if (delay != null || jobs || running) state.timer = setTimeout(tick, delay ?? (jobs ? 1000 : 3000));
}

async function tick() {
  clearTimeout(state.timer);
  if (!state.visible) return;
  state.ticks++;
  let finished = false;
  for (const [name, job] of [...state.jobs.entries()]) {
    if (!ACTIVE.has(job.status)) continue;
    try {
      const now = await api(`/jobs/${encodeURIComponent(job.id)}`);
      state.jobs.set(name, now);
      if (!ACTIVE.has(now.status)) finished = true;
    } catch (e) {
      if (e.status === 404) state.jobs.delete(name);
    }
  }
  const jobs = [...state.jobs.values()].some((j) => ACTIVE.has(j.status));
  try {
    if (finished || !jobs || state.ticks % 3 === 0) await loadSources();
    else { render(); schedule(); }
  } catch (e) {
    failed(e);
    schedule();
  }
}

// ---- wiring -----------------------------------------------------------------------------------

export function initSources() {
  buildView();
}

export function showSources(visible) {
  state.visible = visible;
  if (!visible) {
    clearTimeout(state.timer);
    return;
  }
  const kinds = state.kindsLoaded ? Promise.resolve() : loadKinds();
  Promise.all([kinds, loadSources()]).catch(failed);
}
