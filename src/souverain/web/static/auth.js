// Sign-in: the first-run "create the administrator" screen, the sign-in form (local accounts and,
// when configured, OpenID Connect), the user menu with sign out / sign out everywhere, and the
// session's CSRF token. Any 401 from the API brings the sign-in screen back.
import { request, setCsrfToken, onUnauthorized, ApiError } from "./api.js";
import { t } from "./i18n.js";
import { toast } from "./ui.js";

const $ = (id) => document.getElementById(id);
const state = { user: null, setup: false, started: false, onSignedIn: null };

export const currentUser = () => state.user;
export const isAdmin = () => !!state.user && state.user.role === "admin";
export const myPrincipal = () => (state.user ? `user:${state.user.id}` : "");

export function roleLabel(role) {
  const key = `role_${role}`;
  const text = t(key);
  return text === key ? String(role || "") : text;
}

function accept(data) {
  state.user = data.user;
  setCsrfToken(data.csrf_token);
  renderUser();
}

function renderUser() {
  const u = state.user;
  if (!u) return;
  const name = u.display_name || u.username;
  $("user-name").textContent = name;
  $("user-role").textContent = roleLabel(u.role);
  $("user-avatar").textContent = (name || "?").trim().charAt(0).toUpperCase();
  $("menu-username").textContent = u.username;
  $("user-button").setAttribute("aria-label", t("user_menu", { name, role: roleLabel(u.role) }));
  document.body.dataset.role = u.role;
  $("tab-admin").hidden = u.role !== "admin";
}

// ---- the sign-in / setup screen ----------------------------------------------------------------

function showScreen(setup, message = "") {
  state.setup = setup;
  document.body.classList.add("signed-out");
  document.body.classList.remove("auth-pending");
  $("auth-screen").hidden = false;
  $("signin-form").hidden = false;
  $("auth-title").textContent = t(setup ? "setup_title" : "signin_title");
  $("setup-intro").hidden = !setup;
  $("auth-password2-field").hidden = !setup;
  $("auth-password2").required = setup;
  $("auth-password").autocomplete = setup ? "new-password" : "current-password";
  $("auth-submit").textContent = t(setup ? "setup_submit" : "signin");
  const err = $("auth-error");
  err.textContent = message;
  err.hidden = !message;
  $("auth-password").value = "";
  $("auth-password2").value = "";
  if (setup) $("oidc-box").hidden = true;
  else probeOidc();
  $("auth-username").focus();
}

function hideScreen() {
  $("auth-screen").hidden = true;
  document.body.classList.remove("signed-out", "auth-pending");
}

let oidcProbed = null;
async function probeOidc() {
  if (oidcProbed === null) {
    oidcProbed = (async () => {
      try {
        const setup = await request("/auth/setup", { quiet: true });
        for (const k of ["oidc", "oidc_enabled", "oidc_configured"]) if (k in (setup || {})) return !!setup[k];
      } catch { /* fall through to the probe */ }
      try {
        // Answers a redirect to the identity provider when OIDC is configured, 404 otherwise.
        const resp = await fetch("/auth/oidc/login", { redirect: "manual", credentials: "same-origin" });
        return resp.type === "opaqueredirect" || (resp.status >= 200 && resp.status < 400);
      } catch { return false; }
    })();
  }
  $("oidc-box").hidden = !(await oidcProbed);
}

async function submit(event) {
  event.preventDefault();
  const err = $("auth-error");
  err.hidden = true;
  const username = $("auth-username").value.trim();
  const password = $("auth-password").value;
  if (state.setup && password !== $("auth-password2").value) {
    err.textContent = t("password_mismatch");
    err.hidden = false;
    $("auth-password2").focus();
    return;
  }
  const button = $("auth-submit");
  button.disabled = true;
  try {
    const body = { username, password };
    const data = await request(state.setup ? "/auth/setup" : "/auth/login", { method: "POST", body, quiet: true });
    $("auth-password").value = "";
    $("auth-password2").value = "";
    accept(data.user ? data : await request("/auth/me", { quiet: true }));
    signedIn();
  } catch (e) {
    err.textContent = t("signin_failed", { message: e.message || String(e) });
    err.hidden = false;
    $("auth-password").select();
  } finally {
    button.disabled = false;
  }
}

function signedIn() {
  hideScreen();
  if (!state.started) {
    state.started = true;
    state.onSignedIn();
  } else {
    // A session that ended mid-way: start from a clean page with the new user's data.
    location.reload();
  }
}

// ---- the user menu -----------------------------------------------------------------------------

function toggleMenu(open) {
  const menu = $("user-menu");
  const btn = $("user-button");
  const show = open ?? menu.hidden;
  menu.hidden = !show;
  btn.setAttribute("aria-expanded", String(show));
  if (show) menu.querySelector(".menu-item").focus();
}

async function signOut(everywhere) {
  toggleMenu(false);
  try {
    await request(everywhere ? "/auth/logout-all" : "/auth/logout", { method: "POST", quiet: true });
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) { toast(t("error_generic", { message: e.message }), true); return; }
  }
  state.user = null;
  setCsrfToken("");
  // A fresh page: nothing of the previous user's conversations or documents stays in the DOM.
  location.hash = "";
  location.reload();
}

function initMenu() {
  const menu = $("user-menu");
  $("user-button").addEventListener("click", () => toggleMenu());
  $("signout").addEventListener("click", () => signOut(false));
  $("signout-all").addEventListener("click", () => signOut(true));
  document.addEventListener("click", (e) => {
    if (!menu.hidden && !e.target.closest(".user-menu")) toggleMenu(false);
  });
  menu.addEventListener("keydown", (e) => {
    const items = [...menu.querySelectorAll(".menu-item")];
    const i = items.indexOf(document.activeElement);
    if (e.key === "Escape") { toggleMenu(false); $("user-button").focus(); e.preventDefault(); }
    else if (e.key === "ArrowDown") { items[(i + 1) % items.length].focus(); e.preventDefault(); }
    else if (e.key === "ArrowUp") { items[(i - 1 + items.length) % items.length].focus(); e.preventDefault(); }
    else if (e.key === "Tab") toggleMenu(false);
  });
}

// ---- boot --------------------------------------------------------------------------------------

// Resolves the session, then calls `start` once signed in (now, or after the sign-in form).
export async function initAuth(start) {
  state.onSignedIn = start;
  $("signin-form").addEventListener("submit", submit);
  initMenu();
  onUnauthorized(() => {
    if (!$("auth-screen").hidden) return;
    state.user = null;
    showScreen(false, state.started ? t("session_ended") : "");
  });
  try {
    accept(await request("/auth/me", { quiet: true }));
    signedIn();
    return;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      // A server without sign-in (no /auth routes): the app runs as before, without a user menu.
      document.body.classList.add("no-auth");
      hideScreen();
      state.started = true;
      start();
      return;
    }
  }
  let needed = false;
  try { needed = !!(await request("/auth/setup", { quiet: true })).needed; } catch { /* older server */ }
  showScreen(needed);
}
