// Admin view (administrators only; the server enforces it too): users (create, role, disable),
// groups (members: users and nested groups), API keys (create — the key is shown once — and revoke).
// Keys may hold the "models" scope (the OpenAI-compatible /v1 gateway) and carry model gateway limits
// (docs/metering.md): requests and tokens per minute, tokens per month, allowed models, team; set at
// creation and editable afterwards (GET/PUT /api/v1/admin/keys/{public_id}/limits).
import { api, ApiError } from "./api.js";
import { t, fmtDate, fmtNumber } from "./i18n.js";
import { toast, el, button } from "./ui.js";
import { currentUser, roleLabel } from "./auth.js";

const $ = (id) => document.getElementById(id);
const PANES = ["users", "groups", "keys"];
const ROLES = ["member", "auditor", "admin"];
const state = { users: [], groups: [], keys: [], models: null, pane: "users", visible: false, keyLimits: null };
let limitsSeq = 0;

// Accepts `[...]` or `{users: [...]}`-style answers.
export function listOf(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data[key])) return data[key];
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

const failed = (e) => toast(t("error_generic", { message: e.message || String(e) }), true);
const userName = (u) => (u ? u.display_name || u.username : "");

// ---- shared with the share dialog: who can be named -----------------------------------------

export async function loadDirectory() {
  const [users, groups] = await Promise.all([api("/admin/users"), api("/admin/groups")]);
  state.users = listOf(users, "users");
  state.groups = listOf(groups, "groups");
  return { users: state.users, groups: state.groups };
}

export function principalName(principal, dir = state) {
  const [kind, id] = String(principal).split(":");
  if (principal === "public") return t("everyone");
  if (kind === "user") {
    const u = dir.users.find((x) => String(x.id) === id);
    return u ? t("member_user", { name: userName(u) }) : principal;
  }
  if (kind === "group") {
    const g = dir.groups.find((x) => String(x.id) === id);
    return g ? t("member_group", { name: g.name }) : principal;
  }
  return principal;
}

// ---- users -----------------------------------------------------------------------------------

async function loadUsers() {
  state.users = listOf(await api("/admin/users"), "users");
  renderUsers();
}

function renderUsers() {
  const rows = $("user-rows");
  rows.replaceChildren();
  const me = currentUser();
  for (const u of state.users) {
    const tr = el("tr", "user-row");
    tr.dataset.username = u.username;
    tr.dataset.id = u.id;
    const self = me && me.id === u.id;
    const name = el("td");
    name.append(el("span", "doc-name", u.username));
    if (self) name.append(el("span", "muted small", `(${t("you_label")})`));
    const role = el("select", "user-role-select");
    role.setAttribute("aria-label", t("role_of", { name: u.username }));
    for (const r of ROLES) {
      const o = el("option", null, roleLabel(r));
      o.value = r;
      role.append(o);
    }
    role.value = u.role;
    role.disabled = !!self;
    role.addEventListener("change", () => patchUser(u, { role: role.value }));
    const roleCell = el("td");
    roleCell.append(role);
    const status = el("td");
    const badge = el("span", `badge ${u.disabled ? "badge-failed" : "badge-done"}`, t(u.disabled ? "user_disabled" : "user_active"));
    badge.dataset.status = u.disabled ? "disabled" : "active";
    status.append(badge);
    const actions = el("td", "doc-actions");
    if (!self) {
      actions.append(button(`btn btn-small ${u.disabled ? "btn-secondary" : "btn-danger"} user-toggle`,
        t(u.disabled ? "enable" : "disable"), () => patchUser(u, { disabled: !u.disabled }),
        t(u.disabled ? "enable_named" : "disable_named", { name: u.username })));
    }
    tr.append(name, el("td", null, u.display_name || ""), roleCell, status, actions);
    rows.append(tr);
  }
  $("user-count").textContent = `(${state.users.length})`;
}

async function patchUser(u, patch) {
  try {
    await api(`/admin/users/${u.id}`, { method: "PATCH", body: patch });
    toast(t("saved"));
  } catch (e) { failed(e); }
  await loadUsers().catch(failed);
}

async function createUser(event) {
  event.preventDefault();
  const body = {
    username: $("new-username").value.trim(), password: $("new-password").value,
    role: $("new-role").value, display_name: $("new-display").value.trim(),
  };
  try {
    await api("/admin/users", { method: "POST", body });
    toast(t("user_created", { name: body.username }));
    event.target.reset();
    await loadUsers();
    $("new-username").focus();
  } catch (e) { failed(e); }
}

// ---- groups ----------------------------------------------------------------------------------

// Normalises the members of a group answer: `members: [{kind|type, id, ...}]`, or `users`/`groups`.
function membersOf(g) {
  const out = [];
  const push = (kind, m) => {
    const id = typeof m === "object" && m ? (m.id ?? m.user_id ?? m.group_id ?? m.member_id) : m;
    if (id != null) out.push({ kind, id });
  };
  for (const m of g.members || []) {
    const kind = m.kind || m.type || (m.username !== undefined || m.user_id !== undefined ? "user" : "group");
    push(kind === "groups" ? "group" : kind === "users" ? "user" : kind, m);
  }
  for (const m of g.users || g.user_members || g.user_ids || []) push("user", m);
  for (const m of g.groups || g.group_members || g.group_ids || g.subgroups || []) push("group", m);
  return out;
}

async function loadGroups() {
  const [groups, users] = await Promise.all([api("/admin/groups"), api("/admin/users")]);
  state.groups = listOf(groups, "groups");
  state.users = listOf(users, "users");
  renderGroups();
}

function renderGroups() {
  const box = $("group-list");
  const focused = document.activeElement && document.activeElement.id;
  box.replaceChildren();
  $("groups-empty").hidden = state.groups.length > 0;
  for (const g of state.groups) {
    const card = el("section", "card group-card");
    card.dataset.id = g.id;
    card.dataset.name = g.name;
    const headId = `group-${g.id}-title`;
    card.setAttribute("aria-labelledby", headId);
    const head = el("h3", "group-name", g.name);
    head.id = headId;
    card.append(head);
    const members = membersOf(g);
    const list = el("ul", "member-list");
    list.setAttribute("aria-label", t("group_members"));
    for (const m of members) {
      const name = principalName(`${m.kind}:${m.id}`);
      const li = el("li", "member");
      li.dataset.member = `${m.kind}:${m.id}`;
      li.append(el("span", `member-kind member-${m.kind}`, name),
        button("btn-icon member-remove", "\u2715", () => removeMember(g, m), t("remove_named", { name })));
      list.append(li);
    }
    card.append(list);
    if (!members.length) card.append(el("p", "muted small", t("group_no_members")));
    const form = el("form", "inline-form member-form");
    const select = el("select", "member-select");
    select.id = `member-select-${g.id}`;
    const label = el("label", "sr-only", t("add_member_to", { name: g.name }));
    label.htmlFor = select.id;
    const blank = el("option", null, t("choose"));
    blank.value = "";
    select.append(blank);
    const have = new Set(members.map((m) => `${m.kind}:${m.id}`));
    const ug = el("optgroup");
    ug.label = t("admin_users");
    for (const u of state.users) {
      if (have.has(`user:${u.id}`)) continue;
      const o = el("option", null, userName(u) === u.username ? u.username : `${userName(u)} (${u.username})`);
      o.value = `user:${u.id}`;
      ug.append(o);
    }
    const gg = el("optgroup");
    gg.label = t("admin_groups");
    for (const other of state.groups) {
      if (other.id === g.id || have.has(`group:${other.id}`)) continue;
      const o = el("option", null, other.name);
      o.value = `group:${other.id}`;
      gg.append(o);
    }
    select.append(ug, gg);
    const add = el("button", "btn btn-secondary btn-small member-add", t("add_member"));
    add.type = "submit";
    form.append(label, select, add);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (select.value) addMember(g, select.value);
    });
    card.append(form);
    box.append(card);
  }
  if (focused && $(focused)) $(focused).focus();
}

async function addMember(g, principal) {
  const [kind, id] = principal.split(":");
  try {
    await api(`/admin/groups/${g.id}/members`, { method: "POST", body: kind === "user" ? { user_id: Number(id) } : { group_id: Number(id) } });
  } catch (e) { failed(e); }
  await loadGroups().catch(failed);
  const select = $(`member-select-${g.id}`);
  if (select) select.focus();
}

async function removeMember(g, m) {
  try {
    try {
      await api(`/admin/groups/${g.id}/members/${m.kind}/${m.id}`, { method: "DELETE" });
    } catch (e) {
      if (!(e instanceof ApiError) || ![404, 405].includes(e.status)) throw e;
      // servers that take the member in the body: DELETE /admin/groups/{id}/members {user_id | group_id}
      await api(`/admin/groups/${g.id}/members`, { method: "DELETE", body: m.kind === "user" ? { user_id: Number(m.id) } : { group_id: Number(m.id) } });
    }
  } catch (e) { failed(e); }
  await loadGroups().catch(failed);
  const select = $(`member-select-${g.id}`);
  if (select) select.focus();
}

async function createGroup(event) {
  event.preventDefault();
  try {
    await api("/admin/groups", { method: "POST", body: { name: $("new-group").value.trim() } });
    event.target.reset();
    await loadGroups();
    $("new-group").focus();
  } catch (e) { failed(e); }
}

// ---- API keys ----------------------------------------------------------------------------------

async function loadKeys() {
  const [keys, users, groups, models] = await Promise.all([api("/admin/keys"), api("/admin/users"),
    api("/admin/groups").catch(() => null), api("/admin/models").catch(() => null)]);
  state.keys = listOf(keys, "keys");
  state.users = listOf(users, "users");
  if (groups) state.groups = listOf(groups, "groups");
  state.models = models ? listOf(models, "models").map((m) => m.alias) : null;
  renderKeys();
  renderKeyFormLimits();
}

// ---- model gateway limits (a key's rpm, tpm, tokens per month, allowed models, team) -------------

const LIMIT_NUMBERS = [["rpm", "limits_rpm", "limits_rpm_hint"], ["tpm", "limits_tpm", "limits_tpm_hint"],
  ["tokens_per_month", "limits_month", "limits_month_hint"]];

/** A fieldset editing one set of limits; `read()` gives the API body or throws with a message. */
function limitsEditor(limits, prefix) {
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
  for (const g of state.groups) {
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
  if (state.models) {
    const all = el("input", "lim-all-models");
    all.type = "checkbox";
    all.id = `${prefix}-models-all`;
    all.checked = !Array.isArray(cur.models);
    const allLabel = el("label", "limits-check");
    allLabel.htmlFor = all.id;
    allLabel.append(all, ` ${t("limits_models_all")}`);
    models.append(allLabel);
    const names = [...state.models];
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

const noLimits = (b) => b.rpm == null && b.tpm == null && b.tokens_per_month == null && b.models == null && b.team_id == null;

/** The creation form's limits, rebuilt when the groups or models change (values kept when possible). */
function renderKeyFormLimits() {
  const slot = $("key-limits");
  if (!slot) return;
  let keep = null;
  if (state.keyLimits) {
    try { keep = state.keyLimits.read(); } catch { keep = null; }
  }
  state.keyLimits = limitsEditor(keep, "key");
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

function closeLimitsRows(except) {
  for (const row of document.querySelectorAll("#key-rows tr.key-limits-row")) {
    if (row === except) continue;
    const owner = row.previousElementSibling;
    const toggle = owner && owner.querySelector(".key-limits-edit");
    if (toggle) toggle.setAttribute("aria-expanded", "false");
    row.remove();
  }
}

async function toggleLimits(k, tr, toggle) {
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
  let editor = limitsEditor(current.limited ? current : null, `lim-${++limitsSeq}`);
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
      editor = limitsEditor(data.limited ? data : null, `lim-${++limitsSeq}`);
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

function keyStatus(k) {
  if (k.revoked_at || k.revoked) return "revoked";
  if (k.expires_at && new Date(k.expires_at).getTime() < Date.now()) return "expired";
  return "active";
}

function renderKeys() {
  const select = $("key-user");
  const chosen = select.value;
  select.replaceChildren();
  for (const u of state.users.filter((x) => !x.disabled)) {
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
    const user = state.users.find((u) => u.id === k.user_id);
    const scopes = Array.isArray(k.scopes) ? k.scopes : String(k.scopes || "").split(/[ ,]+/);
    const badge = el("span", `badge ${status === "active" ? "badge-done" : "badge-failed"}`, t(`key_${status}`));
    badge.dataset.status = status;
    const statusCell = el("td");
    statusCell.append(badge);
    const actions = el("td", "doc-actions");
    if (status === "active") {
      const limits = button("btn btn-secondary btn-small key-limits-edit", t("limits_edit"), () => toggleLimits(k, tr, limits),
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

// ---- view --------------------------------------------------------------------------------------

export function showAdmin(visible, pane) {
  state.visible = visible;
  if (!visible) {
    $("new-key-value").value = "";  // the one-time key never stays in the page
    $("new-key").hidden = true;
    return;
  }
  state.pane = PANES.includes(pane) ? pane : "users";
  for (const name of PANES) {
    $(`admin-${name}`).hidden = name !== state.pane;
    const tab = $(`admin-tab-${name}`);
    if (name === state.pane) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (state.pane !== "keys") $("new-key").hidden = true;
  const load = { users: loadUsers, groups: loadGroups, keys: loadKeys }[state.pane];
  load().catch(failed);
}

export function initAdmin() {
  $("user-form").addEventListener("submit", createUser);
  $("group-form").addEventListener("submit", createGroup);
  $("key-form").addEventListener("submit", createKey);
  setupKeyForm();
  $("new-key-copy").addEventListener("click", copyKey);
  $("new-key-done").addEventListener("click", forgetKey);
}
