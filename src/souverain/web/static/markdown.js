// A safe Markdown subset for model output and document text.
//
// Invariants: input text only ever reaches the page through text nodes (createTextNode /
// textContent), never through an HTML parser, so raw HTML such as <script> shows as literal text. Images are
// never loaded: `![alt](url)` stays as its literal text. Links become <a> only when they point into
// Souverain (relative or same-origin http(s)); any other link is shown as text with its address.
// Citation markers [n] (or [1, 2]) become buttons that open the cited source.
//
// Supported: ATX headings, paragraphs (single newlines kept as line breaks), bullet and numbered
// lists, block quotes, fenced code, horizontal rules, **bold**, *italic*, `code`.
import { el } from "./ui.js";

const INLINE = new RegExp([
  "(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)",             // 1,2 code span
  "(!\\[[^\\]\\n]*\\]\\([^)\\n]*\\))",                   // 3 image: literal text, never loaded
  "\\[([^\\]\\n]+)\\]\\(\\s*([^)\\s]*)(?:\\s+\"[^\"\\n]*\")?\\s*\\)", // 4,5 link
  "\\[(\\d{1,3}(?:\\s*[,;]\\s*\\d{1,3})*)\\]",           // 6 citation(s)
  "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*",                  // 7 bold
  "(?<![\\w_])__(?=\\S)([\\s\\S]*?\\S)__(?![\\w_])",     // 8 bold
  "\\*(?=[^\\s*])([^*\\n]*?[^\\s*])\\*",                 // 9 italic (no newlines)
  "(?<![\\w_])_(?=[^\\s_])([^_\\n]*?[^\\s_])_(?![\\w_])",// 10 italic
].join("|"), "g");

export function safeInternalUrl(raw) {
  const url = (raw || "").trim();
  if (!url || /[\u0000-\u001f\s\\]/.test(url)) return null;
  if (/^\/\//.test(url)) return null;                   // protocol-relative: another host
  const relative = /^(\/|#|\?|\.\.?\/)/.test(url);
  let parsed;
  try { parsed = new URL(url, window.location.href); } catch { return null; }
  if (parsed.origin !== window.location.origin) return null;
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
  if (!relative && !/^https?:\/\//i.test(url)) return null;
  return parsed.href;
}

export function renderInline(text, parent, opts = {}, depth = 0) {
  const re = new RegExp(INLINE.source, "g");
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) appendText(parent, text.slice(last, m.index), opts);
    last = re.lastIndex;
    if (m[1] !== undefined) parent.appendChild(el("code", null, m[2]));
    else if (m[3] !== undefined) parent.appendChild(document.createTextNode(m[3]));
    else if (m[4] !== undefined) appendLink(parent, m[4], m[5], opts, depth);
    else if (m[6] !== undefined) appendCitations(parent, m[0], m[6], opts);
    else if (m[7] !== undefined || m[8] !== undefined) {
      const strong = el("strong");
      nest(m[7] ?? m[8], strong, opts, depth);
      parent.appendChild(strong);
    } else if (m[9] !== undefined || m[10] !== undefined) {
      const em = el("em");
      nest(m[9] ?? m[10], em, opts, depth);
      parent.appendChild(em);
    }
  }
  if (last < text.length) appendText(parent, text.slice(last), opts);
}

function nest(text, parent, opts, depth) {
  if (depth > 4) parent.appendChild(document.createTextNode(text));
  else renderInline(text, parent, opts, depth + 1);
}

function appendText(parent, text, opts) {
  if (!opts.breaks || !text.includes("\n")) { parent.appendChild(document.createTextNode(text)); return; }
  text.split("\n").forEach((part, i) => {
    if (i) parent.appendChild(document.createElement("br"));
    if (part) parent.appendChild(document.createTextNode(part));
  });
}

function appendLink(parent, label, href, opts, depth) {
  const safe = safeInternalUrl(href);
  if (safe) {
    const a = el("a");
    a.href = safe;
    a.rel = "noopener noreferrer";
    nest(label, a, { ...opts, noLinks: true }, depth);
    parent.appendChild(a);
  } else {
    // Shown, never followed or fetched.
    nest(label, parent, opts, depth);
    if (href && href !== label) parent.appendChild(el("span", "link-text", ` (${href})`));
  }
}

function appendCitations(parent, raw, list, opts) {
  const numbers = list.split(/\s*[,;]\s*/).map((s) => Number.parseInt(s, 10));
  const cites = opts.citations;
  if (!cites) { parent.appendChild(document.createTextNode(raw)); return; }
  const group = el("span", "cite-group");
  for (const n of numbers) {
    const c = cites.get(n);
    const b = el("button", "cite", String(n));
    b.type = "button";
    b.dataset.n = String(n);
    if (c) {
      if (c.supported === false) b.classList.add("cite-unsupported");
      b.title = opts.citeTitle ? opts.citeTitle(c) : String(n);
      b.setAttribute("aria-label", b.title);
      if (opts.onCite) b.addEventListener("click", () => opts.onCite(c, b));
    } else {
      b.disabled = !opts.pending;
      b.classList.add(opts.pending ? "cite-pending" : "cite-missing");
    }
    group.appendChild(b);
  }
  parent.appendChild(group);
}

const FENCE = /^\s{0,3}(```|~~~)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const ORDERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;

export function renderMarkdown(source, opts = {}) {
  const frag = document.createDocumentFragment();
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  const inlineOpts = { ...opts, breaks: true };
  let i = 0;
  let para = [];
  const flush = () => {
    if (!para.length) return;
    const p = el("p");
    renderInline(para.join("\n"), p, inlineOpts);
    frag.appendChild(p);
    para = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) { flush(); i++; continue; }
    if ((m = FENCE.exec(line))) {
      flush();
      const fence = m[1];
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
      i++;
      const pre = el("pre");
      pre.appendChild(el("code", null, body.join("\n")));
      frag.appendChild(pre);
      continue;
    }
    if ((m = HEADING.exec(line))) {
      flush();
      const h = el(`h${Math.min(m[1].length + 2, 6)}`, "md-heading");
      renderInline(m[2], h, inlineOpts);
      frag.appendChild(h);
      i++;
      continue;
    }
    if (RULE.test(line)) { flush(); frag.appendChild(el("hr")); i++; continue; }
    if (BULLET.test(line) || ORDERED.test(line)) {
      flush();
      const ordered = !BULLET.test(line);
      const list = el(ordered ? "ol" : "ul");
      if (ordered) {
        const start = Number.parseInt(ORDERED.exec(line)[1], 10);
        if (start !== 1) list.start = start;
      }
      const itemRe = ordered ? ORDERED : BULLET;
      let item = null;
      while (i < lines.length && lines[i].trim()) {
        const im = itemRe.exec(lines[i]);
        if (im) {
          item = el("li");
          renderInline(ordered ? im[2] : im[1], item, inlineOpts);
          list.appendChild(item);
        } else if (item && /^\s+/.test(lines[i])) {
          item.appendChild(document.createElement("br"));
          renderInline(lines[i].trim(), item, inlineOpts);
        } else break;
        i++;
      }
      frag.appendChild(list);
      continue;
    }
    if (QUOTE.test(line)) {
      flush();
      const body = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) { body.push(m[1]); i++; }
      const q = el("blockquote");
      q.appendChild(renderMarkdown(body.join("\n"), opts));
      frag.appendChild(q);
      continue;
    }
    para.push(line);
    i++;
  }
  flush();
  return frag;
}
