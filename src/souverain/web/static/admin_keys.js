// API keys pane of the admin view: the keys (name, id, user, scopes, expiry, status), creation — the
// key is shown once — with optional model gateway limits (admin_limits.js), and revocation.
// Keys may hold the "models" scope (the OpenAI-compatible /v1 gateway).
import { api } from "./api.js";
import { t, fmtDate } from "./i18n.js";
import { toast, el, button } from "./ui.js";
import { currentUser } from "./auth.js";
import { directory, listOf } from "./admin_directory.js";
import { limitsEditor, noLimits, toggleLimits } from "./admin_limits.js";

const $ = (id) => document.getElementById(id);
const state = { keys: [], models: null, keyLimits: null };

const failed = (e) => toast(t("error_generic", { message: e.message || String(e) }), true);
/** What a limits editor offers: the groups (teams) and the model aliases. */
const choices = () => ({ groups: directory.groups, models: state.models });

export async function loadKeys() {
  const [keys, users, groups, models] = await Promise.all([api("/admin/keys"), api("/admin/users"),
    api("/admin/groups").catch(() => null), api("/admin/models").catch(() => null)]);
  state.keys = listOf(keys, "keys");
  directory.users = listOf(users, "users");
  if (groups) directory.groups = listOf(groups, "groups");
  state.models = models ? listOf(models, "models").map((m) => m.alias) : null;
  renderKeys();
  renderKeyFormLimits();
}

/** The creation form's limits, rebuilt when the groups or models change (values kept when possible). */
function renderKeyFormLimits() {
  const slot = $("key-limits");
  if (!slot) return;
  let keep = null;
  if (state.keyLimits) {
    try { keep = state.keyLimits.read(); } catch { keep = null; }
  }
  state.keyLimits = limitsEditor(keep, "key", choices());
  slot.replaceChildren(state.keyLimits.node);
}

function setupKeyForm() {
  const scopes = document.querySelector("#key-form fieldset.scopes");
  if (scopes && !scopes.querySelector("input[value='models']")) {
    const label = el("label");
    const box = el("input");
    box.type = "checkbox";
    box.name = "scope";
    box.value = "models";
    box.id = "key-scope-models";
    label.append(box, ` ${t("scope_models")}`);
    label.title = t("scope_models_hint");
    scopes.append(label);
  }
  const slot = el("div", "key-form-limits");
  slot.id = "key-limits";
  $("key-create").before(slot);
  renderKeyFormLimits();
}

function keyStatus(k) {
  if (k.revoked_at || k.revoked) return "revoked";
  if (k.expires_at && new Date(k.expires_at).getTime() < Date.now()) return "expired";
  return "active";
}

function renderKeys() {
  const select = $("key-user");
  const chosen = select.value;
  select.replaceChildren();
  for (const u of directory.users.filter((x) => !x.disabled)) {
    const o = el("option", null, u.username);
    o.value = u.id;
    select.append(o);
  }
  const me = currentUser();
  select.value = chosen || (me ? String(me.id) : "");
  const rows = $("key-rows");
  rows.replaceChildren();
  for (const k of state.keys) {
    const status = keyStatus(k);
    const tr = el("tr", "key-row");
    tr.dataset.id = k.public_id;
    tr.dataset.status = status;
    const user = directory.users.find((u) => u.id === k.user_id);
    const scopes = Array.isArray(k.scopes) ? k.scopes : String(k.scopes || "").split(/[ ,]+/);
    const badge = el("span", `badge ${status === "active" ? "badge-done" : "badge-failed"}`, t(`key_${status}`));
    badge.dataset.status = status;
    const statusCell = el("td");
    statusCell.append(badge);
    const actions = el("td", "doc-actions");
    if (status === "active") {
      const limits = button("btn btn-secondary btn-small key-limits-edit", t("limits_edit"), () => toggleLimits(k, tr, limits, choices),
        t("limits_edit_named", { name: k.name || k.public_id }));
      limits.setAttribute("aria-expanded", "false");
      actions.append(limits);
      actions.append(button("btn btn-danger btn-small key-revoke", t("revoke"), () => revokeKey(k),
        t("revoke_named", { name: k.name || k.public_id })));
    }
    const id = el("td");
    id.append(el("code", "mono small", k.public_id));
    tr.append(el("td", null, k.name || "–"), id, el("td", null, k.username || (user && user.username) || String(k.user_id ?? "")),
      el("td", "small", scopes.filter(Boolean).sort().join(", ")), el("td", "doc-date small", fmtDate(k.expires_at)), statusCell, actions);
    rows.append(tr);
  }
  $("keys-empty").hidden = state.keys.length > 0;
  $("key-count").textContent = `(${state.keys.length})`;
}

async function createKey(event) {
  event.preventDefault();
  const scopes = [...document.querySelectorAll("#key-form input[name='scope']:checked")].map((c) => c.value);
  const body = { user_id: Number($("key-user").value), scopes, expires_days: Number($("key-expires").value), name: $("key-name").value.trim() };
  if (state.keyLimits) {
    let limits;
    try { limits = state.keyLimits.read(); } catch (e) { failed(e); return; }
    if (!noLimits(limits)) body.limits = limits;
  }
  try {
    const data = await api("/admin/keys", { method: "POST", body });
    const secret = data.key || data.secret || (data.api_key && data.api_key.key) || "";
    $("new-key-value").value = secret;
    $("new-key").hidden = false;
    $("key-name").value = "";
    $("new-key-value").focus();
    $("new-key-value").select();
    state.keyLimits = null;  // the next key starts without limits
    await loadKeys();
  } catch (e) { failed(e); }
}

async function copyKey() {
  const input = $("new-key-value");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand("copy");
  }
  toast(t("copied"));
}

function forgetKey() {
  $("new-key-value").value = "";
  $("new-key").hidden = true;
  $("key-name").focus();
}

async function revokeKey(k) {
  if (!confirm(t("confirm_revoke", { name: k.name || k.public_id }))) return;
  try {
    await api(`/admin/keys/${encodeURIComponent(k.public_id)}`, { method: "DELETE" });
  } catch (e) { failed(e); }
  await loadKeys().catch(failed);
}

/** Hides the one-time key; `forget` also clears it from the page. */
export function hideNewKey(forget) {
  if (forget) $("new-key-value").value = "";
  $("new-key").hidden = true;
}

export function initKeys() {
  $("key-form").addEventListener("submit", createKey);
  setupKeyForm();
  $("new-key-copy").addEventListener("click", copyKey);
  $("new-key-done").addEventListener("click", forgetKey);
}
