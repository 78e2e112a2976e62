// Documents view: uploads with per-file progress, ingestion jobs (progress, ETA, cancel), and the
// document list with status, quality, re-ingest and delete. Polls only while a job is active.
import { api, uploadFiles, API } from "./api.js";
import { t, fmtNumber, fmtDate, fmtDuration, fmtBytes } from "./i18n.js";
import { toast, el, button } from "./ui.js";
import { canShare, openShare, initShare } from "./share.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["queued", "running"]);
const state = { docs: [], jobs: [], uploads: [], pollTimer: 0, jobStatus: new Map(), visible: false };

function statusLabel(status) {
  const key = `status_${status}`;
  const text = t(key);
  return text === key ? status : text;
}

function badge(status, prefix = "status") {
  const b = el("span", `badge badge-${status || "unknown"}`, prefix === "job" ? jobStatusLabel(status) : statusLabel(status));
  b.dataset.status = status || "";
  return b;
}

function jobStatusLabel(status) {
  const key = `job_${status}`;
  const text = t(key);
  return text === key ? status : text;
}

// Files a cancelled job never reached are "failed" with reason "not_processed": show them as such.
const reportStatus = (rep) => (rep.reason === "not_processed" ? "not_processed" : rep.status);

const baseName = (s) => String(s || "").replace(/^upload:/, "").split(/[\\/]/).pop();

// ---- uploads --------------------------------------------------------------------------------

async function startUpload(fileList) {
  const files = [...fileList].filter((f) => f.size >= 0);
  if (!files.length) return;
  const group = { files: [], jobId: null, done: false };
  const li = el("li", "upload-group");
  const head = el("div", "upload-head");
  const title = el("span", "upload-title", t("uploading_n", { n: files.length }));
  head.appendChild(title);
  li.appendChild(head);
  const rows = el("ul", "upload-files");
  let offset = 0;
  for (const f of files) {
    const row = el("li", "upload-file");
    const name = f.webkitRelativePath || f.name;
    row.dataset.name = name;
    const line = el("div", "upload-line");
    line.append(el("span", "file-name", name), el("span", "file-size muted small", fmtBytes(f.size)));
    const bar = el("progress", "bar");
    bar.max = Math.max(f.size, 1);
    bar.value = 0;
    bar.setAttribute("aria-label", t("upload_progress_of", { name }));
    const status = el("span", "file-status small", t("upload_waiting"));
    row.append(line, bar, status);
    rows.appendChild(row);
    group.files.push({ file: f, name, row, bar, status, start: offset, end: offset + f.size });
    offset += f.size;
  }
  li.appendChild(rows);
  $("upload-list").prepend(li);
  state.uploads.push(group);
  const totalBytes = offset || 1;
  try {
    const body = await uploadFiles(files, (loaded, total) => {
      const sent = total ? (loaded / total) * totalBytes : loaded;
      for (const g of group.files) {
        const v = Math.max(0, Math.min(g.file.size, sent - g.start));
        g.bar.value = v;
        g.status.textContent = v >= g.file.size ? t("upload_sent") : t("upload_percent", { p: Math.round((100 * v) / Math.max(g.file.size, 1)) });
      }
    });
    for (const g of group.files) { g.bar.value = g.bar.max; g.status.textContent = t("upload_sent"); }
    title.textContent = t("uploaded_n", { n: files.length });
    if (body && body.job) {
      group.jobId = body.job.id;
      li.dataset.job = String(body.job.id);
      mergeJob(body.job);
      updateUploadsFromJobs();
      renderJobs();
      poll();
    } else if (body && Array.isArray(body.reports)) {
      applyReports(group, body.reports, false);
      group.done = true;
      loadDocuments();
    }
  } catch (err) {
    title.textContent = t("upload_failed");
    for (const g of group.files) { g.status.textContent = err.message; g.row.classList.add("failed"); }
    group.done = true;
    toast(t("error_generic", { message: err.message }), true);
  }
}

function reportFor(reports, name) {
  const base = baseName(name).toLowerCase();
  return reports.find((r) => baseName(r.uri).toLowerCase() === base)
    || reports.find((r) => String(r.uri || "").toLowerCase().endsWith(base))
    || reports.find((r) => baseName(r.uri).toLowerCase().endsWith(base.replace(/[^a-z0-9._ -]/g, "_")));
}

function applyReports(group, reports, running, current = "") {
  for (const g of group.files) {
    const rep = reportFor(reports, g.name);
    g.row.classList.remove("ok", "failed", "active");
    g.status.replaceChildren();
    if (rep) {
      const status = reportStatus(rep);
      g.status.appendChild(badge(status));
      if (rep.message && status !== "not_processed") g.status.appendChild(el("span", "file-msg muted", ` ${rep.message}`));
      g.row.classList.add(status === "indexed" || status === "unchanged" ? "ok" : status === "not_processed" ? "skipped" : "failed");
    } else if (running && current && baseName(current) === baseName(g.name)) {
      g.status.textContent = t("upload_indexing");
      g.row.classList.add("active");
    } else {
      g.status.textContent = running ? t("upload_queued") : t("not_processed");
    }
  }
}

function updateUploadsFromJobs() {
  for (const group of state.uploads) {
    if (group.jobId == null || group.done) continue;
    const job = state.jobs.find((j) => j.id === group.jobId);
    if (!job) continue;
    const running = ACTIVE.has(job.status);
    applyReports(group, job.reports || [], running, job.current);
    if (!running) group.done = true;
  }
}

// ---- jobs -----------------------------------------------------------------------------------

function mergeJob(job) {
  if (!state.jobStatus.has(job.id)) state.jobStatus.set(job.id, job.status);
  const i = state.jobs.findIndex((j) => j.id === job.id);
  if (i >= 0) state.jobs[i] = job; else state.jobs.unshift(job);
}

async function loadJobs() {
  try {
    const body = await api("/jobs");
    state.jobs = Array.isArray(body) ? body : (body.jobs || []);
  } catch (err) {
    if (err.status !== 404) toast(t("error_generic", { message: err.message }), true);
  }
  let finished = false;
  for (const job of state.jobs) {
    const before = state.jobStatus.get(job.id);
    if (before && ACTIVE.has(before) && !ACTIVE.has(job.status)) finished = true;
    state.jobStatus.set(job.id, job.status);
  }
  renderJobs();
  updateUploadsFromJobs();
  return finished;
}

function renderJobs() {
  const list = $("job-list");
  list.replaceChildren();
  const jobs = state.jobs.slice(0, 8);
  $("jobs-empty").hidden = jobs.length > 0;
  for (const job of jobs) list.appendChild(jobItem(job));
}

function jobItem(job) {
  const li = el("li", "job");
  li.dataset.id = String(job.id);
  li.dataset.status = job.status;
  const head = el("div", "job-head");
  const kind = t(`job_kind_${job.kind}`);
  head.append(el("span", "job-title", kind.startsWith("job_kind_") ? job.kind : kind), badge(job.status, "job"));
  li.appendChild(head);
  const total = job.total || 0;
  const bar = el("progress", "bar");
  bar.max = Math.max(total, 1);
  if (job.status === "queued" && !job.done) bar.removeAttribute("value");
  else bar.value = Math.min(job.done || 0, bar.max);
  bar.setAttribute("aria-label", t("job_progress"));
  li.appendChild(bar);
  const info = el("p", "job-info small muted");
  const parts = [t("files_done", { done: fmtNumber(job.done || 0), total: fmtNumber(total) })];
  if (ACTIVE.has(job.status)) {
    if (job.current) parts.push(t("job_current", { name: baseName(job.current) }));
    parts.push(job.eta_s != null ? t("eta", { t: fmtDuration(job.eta_s) }) : t("eta_unknown"));
  } else {
    const reports = job.reports || [];
    const counts = {};
    for (const r of reports) counts[reportStatus(r)] = (counts[reportStatus(r)] || 0) + 1;
    for (const [status, n] of Object.entries(counts)) parts.push(`${statusLabel(status)}: ${n}`);
    if (job.finished_at) parts.push(fmtDate(job.finished_at));
  }
  info.textContent = parts.join(" · ");
  li.appendChild(info);
  if (job.error) li.appendChild(el("p", "error small", job.error));
  if (ACTIVE.has(job.status)) {
    const cancel = button("btn btn-secondary btn-small job-cancel", t("cancel"), async () => {
      cancel.disabled = true;
      cancel.textContent = t("cancelling");
      try {
        mergeJob(await api(`/jobs/${encodeURIComponent(job.id)}/cancel`, { method: "POST" }));
        renderJobs();
      } catch (err) { toast(t("error_generic", { message: err.message }), true); }
      poll();
    }, t("cancel_job"));
    li.appendChild(cancel);
  }
  return li;
}

function poll(delay = 600) {
  clearTimeout(state.pollTimer);
  state.pollTimer = setTimeout(async () => {
    const finished = await loadJobs();
    if (finished) loadDocuments();
    const active = state.jobs.some((j) => ACTIVE.has(j.status)) || state.uploads.some((g) => !g.done && g.jobId == null);
    if (active) poll(1000);
  }, delay);
}

// ---- documents ------------------------------------------------------------------------------

async function loadDocuments() {
  try {
    const body = await api("/documents?limit=1000");
    state.docs = body.documents || [];
  } catch (err) {
    toast(t("error_generic", { message: err.message }), true);
  }
  renderDocuments();
}

function quality(doc) {
  const cell = el("td", "quality");
  const bits = [];
  if (doc.pages != null) bits.push(doc.pages === 1 ? t("n_page") : t("n_pages", { n: fmtNumber(doc.pages) }));
  if (doc.chars != null) bits.push(t("n_chars", { n: fmtNumber(doc.chars) }));
  if (doc.chunks != null) bits.push(doc.chunks === 1 ? t("n_chunk") : t("n_chunks", { n: fmtNumber(doc.chunks) }));
  cell.appendChild(el("span", null, bits.join(" · ") || "–"));
  if (doc.status === "no_text") cell.appendChild(el("p", "warning small", t("needs_ocr")));
  if (doc.message && doc.status !== "indexed" && doc.status !== "unchanged") cell.appendChild(el("p", "error small", doc.message));
  for (const w of doc.warnings || []) cell.appendChild(el("p", "warning small", typeof w === "string" ? w : (w.message || JSON.stringify(w))));
  return cell;
}

function renderDocuments() {
  const rows = $("doc-rows");
  // a refresh replaces the rows: keep keyboard focus on the same button of the same document
  const focused = rows.contains(document.activeElement) ? document.activeElement : null;
  const focusRow = focused && focused.closest("tr.doc-row");
  const refocus = focusRow && [focusRow.dataset.id, [...focused.classList].find((c) => c.startsWith("doc-"))];
  rows.replaceChildren();
  $("docs-empty").hidden = state.docs.length > 0;
  $("doc-count").textContent = state.docs.length ? `(${fmtNumber(state.docs.length)})` : "";
  for (const doc of state.docs) {
    const tr = el("tr", "doc-row");
    tr.dataset.document = doc.document || "";
    if (doc.id != null) tr.dataset.id = String(doc.id);
    const titleCell = el("td", "doc-title");
    titleCell.appendChild(el("span", "doc-name", doc.title || baseName(doc.document)));
    const sub = el("span", "doc-sub muted small");
    sub.append(el("span", "format", (doc.format || "").toUpperCase()), document.createTextNode(` ${baseName(doc.document)}`));
    if (doc.size_bytes != null) sub.appendChild(document.createTextNode(` · ${fmtBytes(doc.size_bytes)}`));
    titleCell.appendChild(sub);
    const statusCell = el("td", "doc-status");
    statusCell.appendChild(badge(doc.status || (doc.id != null ? "indexed" : "failed")));
    const lang = el("td", "doc-lang", doc.language || "–");
    const when = el("td", "doc-date small", fmtDate(doc.ingested_at));
    const actions = el("td", "doc-actions");
    if (doc.id != null) {
      const open = el("a", "btn btn-secondary btn-small", t("open"));
      open.href = `${API}/documents/${encodeURIComponent(doc.id)}/file`;
      open.target = "_blank";
      open.rel = "noopener noreferrer";
      const name = doc.title || baseName(doc.document);
      actions.append(open);
      if (canShare(doc)) {
        const shareBtn = button("btn btn-secondary btn-small doc-share", t("share"),
          () => openShare(doc, shareBtn, loadDocuments), t("share_named", { title: name }));
        actions.append(shareBtn);
      }
      actions.append(
        button("btn btn-secondary btn-small doc-reingest", t("reingest"), () => reingest(doc), t("reingest_named", { title: name })),
        button("btn btn-danger btn-small doc-delete", t("delete"), () => removeDoc(doc), t("delete_named", { title: name })),
      );
    }
    tr.append(titleCell, statusCell, quality(doc), lang, when, actions);
    rows.appendChild(tr);
  }
  if (refocus && refocus[1]) {
    const again = rows.querySelector(`tr.doc-row[data-id="${CSS.escape(String(refocus[0]))}"] .${CSS.escape(refocus[1])}`);
    if (again) again.focus();
  }
}

async function reingest(doc) {
  try {
    const body = await api(`/documents/${encodeURIComponent(doc.id)}/reingest`, { method: "POST" });
    if (body && body.job) { mergeJob(body.job); renderJobs(); }
    toast(t("reingest_started", { title: doc.title || baseName(doc.document) }));
    poll();
  } catch (err) { toast(t("error_generic", { message: err.message }), true); }
}

async function removeDoc(doc) {
  if (!window.confirm(t("confirm_delete_document", { title: doc.title || baseName(doc.document) }))) return;
  try {
    await api(`/documents/${encodeURIComponent(doc.id)}`, { method: "DELETE" });
    toast(t("deleted", { title: doc.title || baseName(doc.document) }));
  } catch (err) { toast(t("error_generic", { message: err.message }), true); }
  loadDocuments();
}

// ---- wiring ---------------------------------------------------------------------------------

export function initDocuments() {
  initShare();
  const fileInput = $("file-input");
  const folderInput = $("folder-input");
  $("pick-files").addEventListener("click", () => fileInput.click());
  $("pick-folder").addEventListener("click", () => folderInput.click());
  for (const input of [fileInput, folderInput]) {
    input.addEventListener("change", () => {
      const files = [...input.files];
      input.value = "";
      startUpload(files);
    });
  }
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    if (e.dataTransfer && e.dataTransfer.files.length) startUpload(e.dataTransfer.files);
  });
  $("docs-refresh").addEventListener("click", () => { loadDocuments(); poll(0); });
}

export function showDocuments(visible) {
  state.visible = visible;
  if (visible) { loadDocuments(); poll(0); }
}
