// The Sources view's "add a source" form: kind, name, schedule, enabled/watch, and the connector's
// settings (fields generated from its JSON schema by source_fields.js, GET /sources/kinds).
// The server validates; its messages name the offending fields, which are marked invalid here.
// Credentials are env:/file: references, never secrets: the server refuses anything else.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { toast, el } from "./ui.js";
import { field, input, checkbox, schemaFields, kindTitle } from "./source_fields.js";

const $ = (id) => document.getElementById(id);
const state = { kinds: [], fields: [], kindsLoaded: false, onAdded: null };

/** The form; `onAdded(source)` runs once a source is created (a failure is shown in the form). */
export function buildSourceForm(onAdded) {
  state.onAdded = onAdded;
  const form = el("form", "source-form");
  form.id = "source-form";
  form.noValidate = true;  // the server validates, with messages that name the fields
  form.autocomplete = "off";
  form.setAttribute("aria-labelledby", "source-form-title");
  const top = el("div", "src-top");
  const kind = el("select");
  top.append(field("source-kind", t("sources_kind"), kind));
  const name = input("text");
  name.maxLength = 64;
  top.append(field("source-name", t("sources_name"), name, { hint: t("sources_name_hint"), required: true }));
  const schedule = input("number");
  schedule.min = "0";
  schedule.max = "10080";
  schedule.step = "1";
  schedule.value = "60";
  top.append(field("source-schedule", t("sources_schedule"), schedule, { hint: t("sources_schedule_hint") }));
  const checks = el("div", "src-checks");
  checks.append(checkbox("source-enabled", t("sources_enabled"), true));
  const watch = checkbox("source-watch", t("sources_watch"), false, t("sources_watch_hint"));
  watch.id = "source-watch-field";
  checks.append(watch);
  top.append(checks);
  const settings = el("fieldset", "src-settings");
  settings.id = "source-settings";
  const error = el("p", "error src-form-error");
  error.id = "source-form-error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  const submit = el("button", "btn btn-primary", t("sources_submit"));
  submit.type = "submit";
  submit.id = "source-add";
  const foot = el("div", "src-form-foot");
  foot.append(submit);
  form.append(top, settings, error, foot);
  kind.addEventListener("change", () => renderSettings());
  form.addEventListener("submit", addSource);
  return form;
}

// ---- the connector kinds and their settings --------------------------------------------------

/** Loads the connector kinds once (the list of kinds does not change while the page is open). */
export function ensureKinds() {
  return state.kindsLoaded ? Promise.resolve() : loadKinds();
}

async function loadKinds() {
  const data = await api("/sources/kinds");
  state.kinds = (data && data.kinds) || [];
  const select = $("source-kind");
  const chosen = select.value;
  select.replaceChildren();
  for (const k of state.kinds) {
    const o = el("option", null, kindTitle(k.kind, k.title));
    o.value = k.kind;
    select.append(o);
  }
  if (chosen && state.kinds.some((k) => k.kind === chosen)) select.value = chosen;
  state.kindsLoaded = true;
  renderSettings();
}

function renderSettings() {
  const box = $("source-settings");
  const kindName = $("source-kind").value;
  const kind = state.kinds.find((k) => k.kind === kindName);
  formError("");  // an error was about the previous form
  box.replaceChildren(el("legend", null, t("sources_settings", { kind: kind ? kindTitle(kind.kind, kind.title) : "" })));
  state.fields = [];
  $("source-watch-field").hidden = kindName !== "local";
  if (!kind) return;
  state.fields = schemaFields(kind.settings_schema || {});
  box.append(...state.fields.map((f) => f.node));
}

// ---- errors and submission ---------------------------------------------------------------------

function formError(message) {
  const box = $("source-form-error");
  box.textContent = message || "";
  box.hidden = !message;
  const all = [$("source-name"), ...state.fields.flatMap((f) => f.inputs)];
  for (const i of all) i.removeAttribute("aria-invalid");
  if (!message) return;
  // the server names the offending fields ("path: ...; acl: ..."): mark them
  let first = null;
  const mark = (inputs) => {
    for (const i of inputs) {
      i.setAttribute("aria-invalid", "true");
      first = first || i;
    }
  };
  if (/source name/.test(message) || /already exists/.test(message)) mark([$("source-name")]);
  for (const f of state.fields) {
    if (new RegExp(`(^|[\\s;:(])${f.name}(\\.[\\w.]+)?:`).test(message)) mark(f.inputs);
  }
  return first;
}

function resetForm() {
  $("source-name").value = "";
  $("source-schedule").value = "60";
  $("source-enabled").checked = true;
  $("source-watch").checked = false;
  renderSettings();
}

async function addSource(event) {
  event.preventDefault();
  formError("");
  const kind = $("source-kind").value;
  const settings = {};
  for (const f of state.fields) {
    const r = f.read();
    if (r.error) {
      formError(r.error);
      f.inputs[0].setAttribute("aria-invalid", "true");
      f.inputs[0].focus();
      return;
    }
    if (r.present) settings[f.name] = r.value;
  }
  const body = { name: $("source-name").value.trim(), kind, settings, enabled: $("source-enabled").checked, watch: kind === "local" && $("source-watch").checked };
  const minutes = $("source-schedule").value.trim();
  if (minutes !== "") body.schedule_minutes = Number(minutes);
  const submit = $("source-add");
  submit.disabled = true;
  try {
    const created = await api("/sources", { method: "POST", body });
    toast(t("sources_added", { name: created.name }));
    resetForm();
    if (state.onAdded) await state.onAdded(created);
  } catch (e) {
    const first = formError(e.message || String(e));
    if (first) first.focus();
  } finally {
    submit.disabled = false;
  }
}
