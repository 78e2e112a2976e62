// Admin view (administrators only; the server enforces it too): the users, groups and API keys panes.
// Users (create, role, disable) and groups (members: users and nested groups) are here; API keys are
// admin_keys.js, their model gateway limits admin_limits.js; the directory is admin_directory.js.
import { api, ApiError } from "./api.js";
import { t } from "./i18n.js";
import { toast, el, button } from "./ui.js";
import { currentUser, roleLabel } from "./auth.js";
import { directory, listOf, userName, principalName } from "./admin_directory.js";
import { initKeys, loadKeys, hideNewKey } from "./admin_keys.js";

// the share dialog (share.js) names principals through these
export { listOf, loadDirectory, principalName } from "./admin_directory.js";

const $ = (id) => document.getElementById(id);
const PANES = ["users", "groups", "keys"];
const ROLES = ["member", "auditor", "admin"];
const state = { pane: "users", visible: false };

const failed = (e) => toast(t("error_generic", { message: e.message || String(e) }), true);

// ---- users -----------------------------------------------------------------------------------

async function loadUsers() {
  directory.users = listOf(await api("/admin/users"), "users");
  renderUsers();
}

function renderUsers() {
  const rows = $("user-rows");
  rows.replaceChildren();
  const me = currentUser();
  for (const u of directory.users) {
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
  $("user-count").textContent = `(${directory.users.length})`;
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
  directory.groups = listOf(groups, "groups");
  directory.users = listOf(users, "users");
  renderGroups();
}

function renderGroups() {
  const box = $("group-list");
  const focused = document.activeElement && document.activeElement.id;
  box.replaceChildren();
  $("groups-empty").hidden = directory.groups.length > 0;
  for (const g of directory.groups) {
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
    for (const u of directory.users) {
      if (have.has(`user:${u.id}`)) continue;
      const o = el("option", null, userName(u) === u.username ? u.username : `${userName(u)} (${u.username})`);
      o.value = `user:${u.id}`;
      ug.append(o);
    }
    const gg = el("optgroup");
    gg.label = t("admin_groups");
    for (const other of directory.groups) {
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

// ---- view --------------------------------------------------------------------------------------

export function showAdmin(visible, pane) {
  state.visible = visible;
  if (!visible) {
    hideNewKey(true);  // the one-time key never stays in the page
    return;
  }
  state.pane = PANES.includes(pane) ? pane : "users";
  for (const name of PANES) {
    $(`admin-${name}`).hidden = name !== state.pane;
    const tab = $(`admin-tab-${name}`);
    if (name === state.pane) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (state.pane !== "keys") hideNewKey(false);
  const load = { users: loadUsers, groups: loadGroups, keys: loadKeys }[state.pane];
  load().catch(failed);
}

export function initAdmin() {
  $("user-form").addEventListener("submit", createUser);
  $("group-form").addEventListener("submit", createGroup);
  initKeys();
}
