// The directory of users and groups the admin view has loaded, and how a principal ("public",
// "user:3", "group:2") is named. Shared by the admin panes (admin.js, admin_keys.js) and, through
// admin.js, by the share dialog.
import { api } from "./api.js";
import { t } from "./i18n.js";

/** The users and groups last loaded (each pane refreshes what it shows). */
export const directory = { users: [], groups: [] };

// Accepts `[...]` or `{users: [...]}`-style answers.
export function listOf(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data[key])) return data[key];
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

export const userName = (u) => (u ? u.display_name || u.username : "");

export async function loadDirectory() {
  const [users, groups] = await Promise.all([api("/admin/users"), api("/admin/groups")]);
  directory.users = listOf(users, "users");
  directory.groups = listOf(groups, "groups");
  return { users: directory.users, groups: directory.groups };
}

export function principalName(principal, dir = directory) {
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
