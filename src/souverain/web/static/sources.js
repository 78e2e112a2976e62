// Sources view (administrators only; the server enforces it too): the connectors that bring documents
// in from folders, file servers and cloud drives. Each source shows its state, document count, the
// counts of its last sync, next run and last error, with Sync now / Full resync / Check /
// Enable-Disable / Remove; a running sync shows its job (done/total, current item, ETA, Cancel),
// polled while it runs. The "add" form below the list is source_form.js.
import { api } from "./api.js";
import { t, fmtNumber, fmtDate, fmtDuration } from "./i18n.js";
import { toast, el, button } from "./ui.js";
import { tr, kindTitle } from "./source_fields.js";
import { buildSourceForm, ensureKinds } from "./source_form.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["queued", "running"]);
const COUNTS = ["added", "updated", "unchanged", "permissions_updated", "deleted", "failed"];
const TARGETS = ["path", "base_url", "bucket", "sites", "shared_drives", "my_drive_users", "onedrive_users", "folders", "prefixes"];
const state = { sources: [], jobs: new Map(), checks: new Map(), visible: false, timer: 0, ticks: 0, rendered: "" };

const failed = (e) => toast(t("error_generic", { message: e.message || String(e) }), true);

// ---- the view's skeleton (built once; labels through i18n) ------------------------------------

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
  add.append(ah, buildSourceForm(sourceAdded));
  view.append(list, add);
  $("app").append(view);
}

// A new source: list it and put the focus on its "Sync now".
async function sourceAdded(created) {
  await loadSources();
  const sync = document.querySelector(`tr.src-row[data-name="${CSS.escape(created.name)}"] [data-action="sync"]`);
  if (sync) sync.focus();
}

// ---- the list ---------------------------------------------------------------------------------

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
  Promise.all([ensureKinds(), loadSources()]).catch(failed);
}
