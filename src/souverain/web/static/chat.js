// Chat view: conversations sidebar, streamed answers with citation chips, and the source panel.
import { api, ApiError, postStream, API } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { t, lang, fmtDuration, fmtDate } from "./i18n.js";
import { toast, el } from "./ui.js";

const $ = (id) => document.getElementById(id);
const state = { conversations: [], current: null, busy: false, abort: null, docs: null, docsAt: 0 };
let getMode = () => undefined;

function button(className, label, onClick, { title, aria } = {}) {
  const b = el("button", className, label);
  b.type = "button";
  if (title) b.title = title;
  if (aria || title) b.setAttribute("aria-label", aria || title);
  b.addEventListener("click", onClick);
  return b;
}

// ---- conversations sidebar ------------------------------------------------------------------

async function loadConversations() {
  try {
    const body = await api("/conversations");
    state.conversations = body.conversations || [];
  } catch (err) {
    state.conversations = [];
    toast(t("error_generic", { message: err.message }), true);
  }
  renderConversationList();
}

function renderConversationList() {
  const list = $("conversation-list");
  list.replaceChildren();
  $("conversation-empty").hidden = state.conversations.length > 0;
  for (const conv of state.conversations) {
    const li = el("li", "conv-item");
    li.dataset.id = String(conv.id);
    if (conv.id === state.current) li.classList.add("active");
    const open = button("conv-open", conv.title || t("untitled"), () => openConversation(conv.id));
    if (conv.id === state.current) open.setAttribute("aria-current", "true");
    open.title = conv.title || t("untitled");
    const actions = el("div", "conv-actions");
    actions.append(
      button("btn-icon conv-rename", "✎", () => startRename(li, conv), { title: t("rename") }),
      exportLink(conv),
      button("btn-icon conv-delete", "✕", () => deleteConversation(conv), { title: t("delete") }),
    );
    li.append(open, actions);
    list.appendChild(li);
  }
}

function exportLink(conv) {
  const a = el("a", "btn-icon conv-export", "⤓");
  a.href = `${API}/conversations/${encodeURIComponent(conv.id)}/export`;
  a.setAttribute("download", "");
  a.title = t("export");
  a.setAttribute("aria-label", t("export"));
  return a;
}

function startRename(li, conv) {
  const input = el("input", "conv-rename-input");
  input.type = "text";
  input.value = conv.title || "";
  input.maxLength = 200;
  input.setAttribute("aria-label", t("rename"));
  li.replaceChildren(input);
  input.focus();
  input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const title = input.value.trim();
    if (save && title && title !== conv.title) {
      try {
        const updated = await api(`/conversations/${encodeURIComponent(conv.id)}`, { method: "PATCH", body: { title } });
        Object.assign(conv, updated || { title });
      } catch (err) { toast(t("error_generic", { message: err.message }), true); }
    }
    renderConversationList();
    const again = document.querySelector(`.conv-item[data-id="${CSS.escape(String(conv.id))}"] .conv-rename`);
    if (again) again.focus();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    if (e.key === "Escape") { e.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
}

async function deleteConversation(conv) {
  if (!window.confirm(t("confirm_delete_conversation", { title: conv.title || t("untitled") }))) return;
  try {
    await api(`/conversations/${encodeURIComponent(conv.id)}`, { method: "DELETE" });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) { toast(t("error_generic", { message: err.message }), true); return; }
  }
  state.conversations = state.conversations.filter((c) => c.id !== conv.id);
  if (state.current === conv.id) newConversation();
  renderConversationList();
}

export function newConversation() {
  if (state.abort) state.abort.abort();
  state.current = null;
  $("message-list").replaceChildren();
  $("ai-notice").hidden = false;
  closeSource();
  renderConversationList();
  if (location.hash.startsWith("#/chat/")) history.replaceState(null, "", "#/chat");
  $("composer-input").focus();
}

export async function openConversation(id) {
  if (state.abort) state.abort.abort();
  closeSource();
  let conv;
  try {
    conv = await api(`/conversations/${encodeURIComponent(id)}`);
  } catch (err) {
    toast(t("error_generic", { message: err.message }), true);
    return;
  }
  state.current = conv.id;
  const list = $("message-list");
  list.replaceChildren();
  for (const msg of conv.messages || []) {
    if (msg.role === "user") list.appendChild(userMessage(msg.content));
    else {
      const view = assistantMessage();
      list.appendChild(view.li);
      if (msg.answer) view.finish(msg.answer, null);
      else view.setText(msg.content || "", false);
    }
  }
  $("ai-notice").hidden = list.children.length > 0;
  renderConversationList();
  history.replaceState(null, "", `#/chat/${encodeURIComponent(conv.id)}`);
  scrollToEnd();
}

// ---- messages -------------------------------------------------------------------------------

function userMessage(text) {
  const li = el("li", "msg msg-user");
  li.appendChild(el("div", "msg-author", t("you")));
  li.appendChild(el("div", "msg-body", text));
  return li;
}

function citeTitle(c) {
  return t("cite_label", { n: c.n, title: c.title || c.document || "", page: c.page });
}

function assistantMessage() {
  const li = el("li", "msg msg-assistant streaming");
  const head = el("div", "msg-head");
  head.append(el("span", "msg-author", "Souverain"), el("span", "badge badge-ai", t("ai_generated")));
  const body = el("div", "msg-body md");
  const status = el("p", "msg-status muted", t("thinking"));
  body.appendChild(status);
  const extra = el("div", "msg-extra");
  li.append(head, body, extra);
  let pendingText = null;
  let frame = 0;

  const setText = (text, pending = true) => {
    pendingText = text;
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      body.replaceChildren(renderMarkdown(pendingText, { citations: new Map(), pending }));
      scrollToEnd();
    });
  };

  const finish = (answer, elapsed) => {
    if (frame) { cancelAnimationFrame(frame); frame = 0; }
    li.classList.remove("streaming");
    if (answer.abstained) li.classList.add("abstained");
    const cites = new Map((answer.citations || []).map((c) => [Number(c.n), c]));
    const onCite = (c, origin) => openSource(c, answer, origin);
    body.replaceChildren(renderMarkdown(answer.answer || "", { citations: cites, onCite, citeTitle }));
    extra.replaceChildren();
    const flags = answer.flags || {};
    const notes = [];
    if (answer.abstained) notes.push(t("flag_abstained"));
    if (hasItems(flags.unsupported_sentences)) notes.push(t("flag_unsupported"));
    if (hasItems(flags.invalid_references)) notes.push(t("flag_invalid_refs"));
    if (flags.truncated_context) notes.push(t("flag_truncated"));
    if (notes.length) {
      const ul = el("ul", "msg-flags");
      for (const n of notes) ul.appendChild(el("li", null, n));
      extra.appendChild(ul);
    }
    if (cites.size) extra.appendChild(sourceList([...cites.values()], answer));
    const timings = answer.timings || {};
    let seconds = timings.total_s;
    if (seconds == null) {
      const parts = Object.entries(timings).filter(([k, v]) => k.endsWith("_s") && typeof v === "number");
      seconds = parts.length ? parts.reduce((s, [, v]) => s + v, 0) : elapsed;
    }
    const foot = el("p", "msg-foot muted small");
    foot.append(
      el("span", "msg-model", t("answered_by", { model: answer.model || "–" })),
      el("span", "sep", " · "),
      el("span", "msg-mode", t(`mode_${answer.mode}`) === `mode_${answer.mode}` ? (answer.mode || "") : t(`mode_${answer.mode}`)),
      el("span", "sep", " · "),
      el("span", "msg-time", fmtDuration(seconds)),
    );
    const energy = energyFigure(answer.energy);
    if (energy) foot.append(el("span", "sep", " · "), energy);
    if (answer.created_at) foot.title = fmtDate(answer.created_at);
    extra.appendChild(foot);
  };

  const fail = (message) => {
    if (frame) { cancelAnimationFrame(frame); frame = 0; }
    li.classList.remove("streaming");
    li.classList.add("failed");
    body.replaceChildren(el("p", "error", t("error_generic", { message })));
  };
  return { li, setText, finish, fail };
}

// A generative answer's energy estimate (from the usage ledger): "≈ 0.0021 Wh · 0.000091 g CO2e", the
// method in its tooltip; nothing when the answer has no figure (extractive answers, unknown model size).
const sig = new Intl.NumberFormat(lang, { maximumSignificantDigits: 2 });

function energyFigure(energy) {
  if (!energy || typeof energy.wh !== "number" || !Number.isFinite(energy.wh)) return null;
  const wh = sig.format(energy.wh);
  const hasCo2 = typeof energy.gco2e === "number" && Number.isFinite(energy.gco2e);
  const span = el("span", "msg-energy",
    hasCo2 ? t("answer_energy_co2", { wh, g: sig.format(energy.gco2e) }) : t("answer_energy", { wh }));
  const notes = [t("answer_energy_title")];
  if (energy.method) notes.push(energy.method);
  if (!hasCo2) notes.push(t("answer_energy_no_co2", { note: energy.note || t("usage_grid_not_configured") }));
  span.title = notes.join("\n");
  return span;
}

function hasItems(v) {
  return Array.isArray(v) ? v.length > 0 : Boolean(v);
}

function sourceList(cites, answer) {
  const wrap = el("div", "sources");
  wrap.appendChild(el("h3", "sources-title", t("sources")));
  const ol = el("ol", "source-list");
  for (const c of cites) {
    const li = el("li", "source-item");
    if (c.supported === false) li.classList.add("unsupported");
    const b = button("source-link", "", () => openSource(c, answer, b));
    b.append(el("span", "source-n", String(c.n)), el("span", "source-name", c.title || c.document || ""),
      el("span", "source-pg", t("page_short", { n: c.page })));
    b.setAttribute("aria-label", citeTitle(c));
    li.appendChild(b);
    if (c.quote) li.appendChild(el("q", "source-quote-inline", c.quote));
    if (c.supported === false) li.appendChild(el("span", "badge badge-warn", t("citation_unsupported")));
    ol.appendChild(li);
  }
  wrap.appendChild(ol);
  return wrap;
}

function scrollToEnd() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}

async function send(question) {
  if (state.busy) return;
  state.busy = true;
  const sendBtn = $("send");
  sendBtn.textContent = t("stop");
  sendBtn.classList.add("btn-stop");
  const input = $("composer-input");
  input.value = "";
  $("ai-notice").hidden = true;
  const list = $("message-list");
  list.appendChild(userMessage(question));
  const view = assistantMessage();
  list.appendChild(view.li);
  scrollToEnd();
  const abort = new AbortController();
  state.abort = abort;
  const started = performance.now();
  try {
    if (state.current == null) {
      const conv = await api("/conversations", { method: "POST", body: {}, signal: abort.signal });
      state.current = conv.id;
      state.conversations.unshift(conv);
      renderConversationList();
      history.replaceState(null, "", `#/chat/${encodeURIComponent(conv.id)}`);
    }
    let text = "";
    let final = null;
    const body = { question, stream: true };
    const mode = getMode();
    if (mode) body.mode = mode;
    await postStream(`/conversations/${encodeURIComponent(state.current)}/messages`, body, (event, data) => {
      if (event === "delta") { text += typeof data === "string" ? data : ""; view.setText(text); }
      else if (event === "answer") final = data;
      else if (event === "error") throw new Error(typeof data === "string" ? data : JSON.stringify(data));
    }, abort.signal);
    if (!final) throw new Error(t("error_no_answer"));
    view.finish(final, (performance.now() - started) / 1000);
    loadConversations();
  } catch (err) {
    view.fail(err.name === "AbortError" ? t("stopped") : err.message);
  } finally {
    state.busy = false;
    state.abort = null;
    sendBtn.textContent = t("send");
    sendBtn.classList.remove("btn-stop");
    scrollToEnd();
  }
}

// ---- source panel ---------------------------------------------------------------------------

async function documentIdFor(citation) {
  for (const key of ["document_id", "doc_id", "id"]) if (citation[key] != null) return citation[key];
  const uri = citation.uri || citation.document;
  const find = () => (state.docs || []).find((d) => d.document === uri || d.uri === uri || d.id === uri);
  if (!find() || Date.now() - state.docsAt > 30000) {
    try {
      state.docs = (await api("/documents?limit=1000")).documents || [];
      state.docsAt = Date.now();
    } catch { state.docs = state.docs || []; }
  }
  const doc = find();
  return doc ? doc.id : null;
}

let sourceOrigin = null;
let sourceSeq = 0;

export function closeSource() {
  const panel = $("source-panel");
  if (panel.hidden) return;
  panel.hidden = true;
  document.body.classList.remove("source-open");
  if (sourceOrigin && document.contains(sourceOrigin)) sourceOrigin.focus();
  sourceOrigin = null;
}

function highlight(container, text, start, end, quote) {
  container.replaceChildren();
  let s = Number.isInteger(start) ? start : -1;
  let e = Number.isInteger(end) ? end : -1;
  const norm = (x) => (x || "").replace(/\s+/g, " ").trim();
  const valid = s >= 0 && e > s && e <= text.length && (!quote || norm(text.slice(s, e)).includes(norm(quote).slice(0, 40)));
  if (!valid && quote) {
    const at = text.indexOf(quote);
    if (at >= 0) { s = at; e = at + quote.length; }
    else if (!(s >= 0 && e > s && e <= text.length)) { s = -1; }
  }
  if (s < 0 || e <= s || e > text.length) {
    container.appendChild(document.createTextNode(text));
    return null;
  }
  const mark = el("mark", "passage", text.slice(s, e));
  container.append(document.createTextNode(text.slice(0, s)), mark, document.createTextNode(text.slice(e)));
  return mark;
}

export async function openSource(citation, answer, origin) {
  const seq = ++sourceSeq;
  const panel = $("source-panel");
  sourceOrigin = origin || null;
  document.querySelectorAll(".cite.active").forEach((b) => b.classList.remove("active"));
  if (origin && origin.classList.contains("cite")) origin.classList.add("active");
  panel.hidden = false;
  document.body.classList.add("source-open");
  panel.dataset.page = String(citation.page);
  panel.dataset.n = String(citation.n);
  $("source-title").textContent = citation.title || citation.document || "";
  $("source-page").textContent = t("page_label", { n: citation.page });
  $("source-quote").textContent = citation.quote || "";
  const warning = $("source-warning");
  warning.hidden = citation.supported !== false;
  warning.textContent = citation.supported === false ? t("citation_unsupported_long") : "";
  const textBox = $("source-text");
  textBox.replaceChildren(el("p", "muted", t("loading")));
  const open = $("source-open");
  open.hidden = true;
  panel.focus();

  const id = await documentIdFor(citation);
  if (seq !== sourceSeq) return;
  let page = null;
  if (id != null) {
    try {
      page = await api(`/documents/${encodeURIComponent(id)}/pages/${encodeURIComponent(citation.page)}`);
    } catch { page = null; }
  }
  if (seq !== sourceSeq) return;
  let mark;
  if (page && typeof page.text === "string") {
    if (page.pages) $("source-page").textContent = t("page_of", { n: citation.page, total: page.pages });
    mark = highlight(textBox, page.text, citation.char_start, citation.char_end, citation.quote);
  } else {
    // The page text is not available: show the retrieved passage itself.
    const chunk = (answer?.chunks || []).find((h) => h.document === citation.document && h.page === citation.page
      && h.char_start <= citation.char_start && h.char_end >= citation.char_end);
    const text = chunk ? chunk.text : (citation.quote || "");
    const off = chunk ? chunk.char_start : 0;
    mark = highlight(textBox, text, citation.char_start - off, citation.char_end - off, citation.quote);
    warning.hidden = false;
    warning.textContent = t("preview_unavailable");
  }
  if (id != null) {
    const isPdf = /\.pdf$/i.test(citation.document || "") || (page && /pdf/i.test(page.format || ""));
    open.href = `${API}/documents/${encodeURIComponent(id)}/file#page=${encodeURIComponent(citation.page)}`;
    open.textContent = isPdf || citation.page > 1 ? t("open_original", { n: citation.page }) : t("download_original");
    open.hidden = false;
  }
  if (mark) mark.scrollIntoView({ block: "center" });
}

// ---- wiring ---------------------------------------------------------------------------------

export function initChat({ mode }) {
  getMode = mode;
  const form = $("composer");
  const input = $("composer-input");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (state.busy) { if (state.abort) state.abort.abort(); return; }
    const q = input.value.trim();
    if (q) send(q);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  $("new-chat").addEventListener("click", newConversation);
  $("source-close").addEventListener("click", closeSource);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("source-panel").hidden) closeSource();
  });
  loadConversations();
}

export function routeChat(id) {
  if (id && String(id) !== String(state.current)) openConversation(id);
}
