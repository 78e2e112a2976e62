// Share dialog for a document the signed-in user owns (or any document, for an administrator):
// POST /documents/{id}/share {principals} adds readers, DELETE the same path removes them.
// Administrators pick users and groups from the directory; others type a principal (user:3, group:2).
import { api } from "./api.js";
import { t } from "./i18n.js";
import { toast } from "./ui.js";
import { isAdmin, myPrincipal } from "./auth.js";
import { loadDirectory, principalName } from "./admin.js";

const $ = (id) => document.getElementById(id);
const OTHER = "__other__";
const known = new Map();  // document id -> the ACL the last share/unshare answered (lists may not carry it)
const state = { doc: null, principals: [], dir: { users: [], groups: [] }, opener: null, onChange: null };

// The ACL a document answer carries, when the server includes it.
export const aclOf = (doc) => doc.principals || doc.acl || doc.shared_with || null;

// Whether the signed-in user may share this document: the owner, or an administrator.
export function canShare(doc) {
  if (doc.id == null) return false;
  if (typeof doc.can_share === "boolean") return doc.can_share;
  if (isAdmin()) return true;
  const me = myPrincipal();
  if (!me) return false;
  const owner = doc.owner ?? doc.owner_principal ?? doc.owner_id ?? doc.uploaded_by;
  if (owner != null) return String(owner) === me || String(owner) === me.slice(5);
  const acl = aclOf(doc);
  return acl ? acl.includes(me) : true;  // no ownership info: let the server decide
}

function renderCurrent() {
  const list = $("share-current");
  list.replaceChildren();
  const me = myPrincipal();
  const others = state.principals.filter((p) => p !== me);
  $("share-none").hidden = others.length > 0;
  for (const p of state.principals) {
    const li = document.createElement("li");
    li.className = "share-item";
    li.dataset.principal = p;
    const name = document.createElement("span");
    name.textContent = p === me ? t("owner_you") : principalName(p, state.dir);
    li.append(name);
    if (p !== me) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "btn-icon share-remove";
      b.textContent = "\u2715";
      const label = t("unshare_named", { name: principalName(p, state.dir) });
      b.title = label;
      b.setAttribute("aria-label", label);
      b.addEventListener("click", () => unshare(p));
      li.append(b);
    }
    list.append(li);
  }
}

function renderChoices() {
  const select = $("share-principal");
  select.replaceChildren();
  const add = (parent, value, text) => {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    parent.append(o);
  };
  add(select, "", t("choose"));
  const me = myPrincipal();
  if (state.dir.users.length) {
    const og = document.createElement("optgroup");
    og.label = t("admin_users");
    for (const u of state.dir.users) {
      const p = `user:${u.id}`;
      if (p === me || state.principals.includes(p) || u.disabled) continue;
      add(og, p, u.display_name && u.display_name !== u.username ? `${u.display_name} (${u.username})` : u.username);
    }
    select.append(og);
  }
  if (state.dir.groups.length) {
    const og = document.createElement("optgroup");
    og.label = t("admin_groups");
    for (const g of state.dir.groups) if (!state.principals.includes(`group:${g.id}`)) add(og, `group:${g.id}`, g.name);
    select.append(og);
  }
  add(select, OTHER, t("share_other"));
  const manualOnly = !state.dir.users.length && !state.dir.groups.length;
  select.value = manualOnly ? OTHER : "";
  $("share-manual-field").hidden = select.value !== OTHER;
}

function chosen() {
  const v = $("share-principal").value;
  const raw = v === OTHER ? $("share-manual").value : v;
  return raw.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

function showError(message) {
  const err = $("share-error");
  err.textContent = message || "";
  err.hidden = !message;
}

async function share() {
  const principals = chosen();
  if (!principals.length) { $("share-principal").focus(); return; }
  showError("");
  try {
    const data = await api(`/documents/${encodeURIComponent(state.doc.id)}/share`, { method: "POST", body: { principals } });
    const acl = data && (aclOf(data) || (data.document && aclOf(data.document)));
    state.principals = acl ? [...acl] : [...new Set([...state.principals, ...principals])];
    known.set(state.doc.id, state.principals);
    $("share-manual").value = "";
    renderCurrent();
    renderChoices();
    toast(t("shared_with", { name: principals.map((p) => principalName(p, state.dir)).join(", ") }));
    if (state.onChange) state.onChange();
    $("share-principal").focus();
  } catch (e) { showError(t("error_generic", { message: e.message })); }
}

async function unshare(principal) {
  showError("");
  try {
    const data = await api(`/documents/${encodeURIComponent(state.doc.id)}/share`, { method: "DELETE", body: { principals: [principal] } });
    const acl = data && (aclOf(data) || (data.document && aclOf(data.document)));
    state.principals = acl ? [...acl] : state.principals.filter((p) => p !== principal);
    known.set(state.doc.id, state.principals);
    renderCurrent();
    renderChoices();
    toast(t("unshared", { name: principalName(principal, state.dir) }));
    if (state.onChange) state.onChange();
    $("share-principal").focus();
  } catch (e) { showError(t("error_generic", { message: e.message })); }
}

export async function openShare(doc, opener, onChange) {
  state.doc = doc;
  state.opener = opener;
  state.onChange = onChange;
  state.principals = [...(aclOf(doc) || known.get(doc.id) || [myPrincipal()].filter(Boolean))];
  $("share-doc").textContent = doc.title || doc.document;
  showError("");
  state.dir = { users: [], groups: [] };
  if (isAdmin()) {
    try { state.dir = await loadDirectory(); } catch { /* manual entry still works */ }
  }
  renderCurrent();
  renderChoices();
  $("share-dialog").showModal();
  $("share-principal").focus();
}

export function initShare() {
  const dialog = $("share-dialog");
  $("share-add").addEventListener("click", share);
  $("share-principal").addEventListener("change", () => {
    $("share-manual-field").hidden = $("share-principal").value !== OTHER;
    if ($("share-principal").value === OTHER) $("share-manual").focus();
  });
  $("share-manual").addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); share(); }
  });
  dialog.addEventListener("close", () => {
    const again = state.doc && document.querySelector(`tr.doc-row[data-id="${CSS.escape(String(state.doc.id))}"] .doc-share`);
    const target = state.opener && document.contains(state.opener) ? state.opener : again;
    if (target) target.focus();
  });
}
