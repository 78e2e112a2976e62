// Admin view (administrators only; the server enforces it too): users (create, role, disable),
// groups (members: users and nested groups), API keys (create — the key is shown once — and revoke).
import { api, ApiError } from "./api.js";
import { t, fmtDate } from "./i18n.js";
import { toast, el, button } from "./ui.js";
import { currentUser, roleLabel } from "./auth.js";

const $ = (id) => document.getElementById(id);
const PANES = ["users", "groups", "keys"];
const ROLES = ["member", "auditor", "admin"];
const state = { users: [], groups: [], keys: [], pane: "users", visible: false };

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
  const [keys, users] = await Promise.all([api("/admin/keys"), api("/admin/users")]);
  state.keys = listOf(keys, "keys");
  state.users = listOf(users, "users");
  renderKeys();
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
  try {
    const data = await api("/admin/keys", { method: "POST", body });
    const secret = data.key || data.secret || (data.api_key && data.api_key.key) || "";
    $("new-key-value").value = secret;
    $("new-key").hidden = false;
    $("key-name").value = "";
    $("new-key-value").focus();
    $("new-key-value").select();
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
  $("new-key-copy").addEventListener("click", copyKey);
  $("new-key-done").addEventListener("click", forgetKey);
}
