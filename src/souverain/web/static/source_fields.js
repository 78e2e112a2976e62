// Form fields for the Sources view: labelled inputs with hints, and the settings fields generated
// from a connector's settings JSON schema (text, secret reference, number, choice, checkbox, list,
// JSON, and the "prefix → principals" rule editor). Each generated field has `read()`, giving
// `{present, value}` (or `{error}`), and its `inputs`, which errors mark as invalid.
import { t } from "./i18n.js";
import { el, button } from "./ui.js";

const SECRET = /secret|password|key/i;
let seq = 0;  // makes hint and rule-row ids unique

/** A message, or `fallback` when the catalog has no such key. */
export function tr(key, fallback, vars) {
  const text = t(key, vars);
  return text === key ? fallback : text;
}

export const kindTitle = (kind, title) => tr(`source_kind_${kind}`, title || kind);
const fieldLabel = (name, shape) => tr(`source_field_${name}`, shape.title || name);

// ---- labelled controls ------------------------------------------------------------------------

export function field(id, labelText, control, { hint, required, wide } = {}) {
  const wrap = el("div", `field${wide ? " field-wide" : ""}`);
  const label = el("label", null, labelText);
  label.htmlFor = id;
  if (required) {
    const mark = el("span", "required-mark", " *");
    mark.setAttribute("aria-hidden", "true");
    label.append(mark);
    control.setAttribute("aria-required", "true");
  }
  control.id = id;
  wrap.append(label, control);
  if (hint) wrap.append(hintFor(control, hint));
  return wrap;
}

function hintFor(control, text, className = "") {
  const h = el("p", `field-hint muted small ${className}`.trim(), text);
  h.id = `${control.id}-hint-${++seq}`;
  const described = control.getAttribute("aria-describedby");
  control.setAttribute("aria-describedby", described ? `${described} ${h.id}` : h.id);
  return h;
}

export function input(type, className) {
  const i = el("input", className);
  i.type = type;
  i.autocomplete = "off";
  i.spellcheck = false;
  i.setAttribute("autocapitalize", "none");
  return i;
}

export function checkbox(id, text, checked, hint) {
  const wrap = el("div", "field-check");
  const box = input("checkbox");
  box.id = id;
  box.checked = checked;
  const label = el("label", null, text);
  label.htmlFor = id;
  wrap.append(box, label);
  if (hint) wrap.append(hintFor(box, hint));
  return wrap;
}

// ---- the settings fields, generated from the connector's JSON schema ----------------------------

function resolveRef(prop, root) {
  if (prop && prop.$ref && prop.$ref.startsWith("#/$defs/")) return (root.$defs || {})[prop.$ref.slice(8)] || {};
  return prop || {};
}

/** The field's shape: the non-null branch of `anyOf: [X, null]`, with $refs followed. */
function shapeOf(prop, root) {
  let p = resolveRef(prop, root);
  if (Array.isArray(p.anyOf)) {
    const branch = p.anyOf.map((b) => resolveRef(b, root)).find((b) => b.type !== "null");
    if (branch) p = { ...branch, ...Object.fromEntries(Object.entries(p).filter(([k]) => k !== "anyOf")) };
  }
  return p;
}

function widget(shape) {
  if (Array.isArray(shape.enum)) return "enum";
  if (shape.type === "boolean") return "bool";
  if (shape.type === "integer" || shape.type === "number") return "number";
  if (shape.type === "array") return "list";
  if (shape.type === "object") {
    const extra = shape.additionalProperties;
    return extra && typeof extra === "object" && extra.type === "array" && !shape.properties ? "map" : "json";
  }
  return "text";
}

/** One field per property of the settings schema, in schema order. */
export function schemaFields(schema) {
  const required = new Set(schema.required || []);
  return Object.entries(schema.properties || {}).map(([name, prop]) => makeField(name, shapeOf(prop, schema), required.has(name)));
}

function makeField(name, shape, required) {
  const id = `source-setting-${name}`;
  const label = fieldLabel(name, shape);
  const kind = widget(shape);
  const help = shape.description || "";
  const has = (v) => v !== undefined && v !== null;
  if (kind === "bool") {
    const node = checkbox(id, label, has(shape.default) ? !!shape.default : false, help);
    node.classList.add("field-wide");
    const box = node.querySelector("input");
    return { name, node, inputs: [box], read: () => ({ present: true, value: box.checked }) };
  }
  if (kind === "enum") {
    const select = el("select");
    const blank = el("option", null, has(shape.default) ? t("sources_default_value", { value: shape.default }) : t("sources_default"));
    blank.value = "";
    select.append(blank);
    for (const v of shape.enum) {
      const o = el("option", null, String(v));
      o.value = String(v);
      select.append(o);
    }
    const node = field(id, label, select, { hint: help, required });
    return { name, node, inputs: [select], read: () => (select.value ? { present: true, value: select.value } : { present: false }) };
  }
  if (kind === "number") {
    const box = input("number");
    if (has(shape.minimum)) box.min = String(shape.minimum);
    if (has(shape.maximum)) box.max = String(shape.maximum);
    box.step = shape.type === "integer" ? "1" : "any";
    if (has(shape.default)) box.value = String(shape.default);
    const node = field(id, label, box, { hint: help, required });
    return {
      name, node, inputs: [box], read: () => {
        const raw = box.value.trim();
        if (!raw) return { present: false };
        const n = Number(raw);
        return { present: true, value: Number.isFinite(n) ? n : raw };
      },
    };
  }
  if (kind === "list") {
    const area = el("textarea");
    area.rows = 3;
    area.spellcheck = false;
    if (Array.isArray(shape.default)) area.value = shape.default.join("\n");
    const node = field(id, label, area, { hint: help, required });
    node.append(hintFor(area, t("sources_list_hint")));
    return {
      name, node, inputs: [area], read: () => {
        // one value a line; '' (or "") stands for the empty string, e.g. a whole-bucket prefix
        const values = area.value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).map((l) => (l === "''" || l === '""' ? "" : l));
        return values.length ? { present: true, value: values } : { present: false };
      },
    };
  }
  if (kind === "map") return mapField(id, name, label, shape, required, help);
  if (kind === "json") {
    const area = el("textarea", "mono");
    area.rows = 3;
    area.spellcheck = false;
    if (has(shape.default)) area.value = JSON.stringify(shape.default, null, 1);
    const node = field(id, label, area, { hint: help, required, wide: true });
    node.append(hintFor(area, t("sources_json_hint")));
    return {
      name, node, inputs: [area], read: () => {
        const raw = area.value.trim();
        if (!raw) return { present: false };
        try { return { present: true, value: JSON.parse(raw) }; } catch { return { error: t("sources_json_invalid", { field: label }) }; }
      },
    };
  }
  const box = input("text");
  if (has(shape.default) && shape.default !== "") box.value = String(shape.default);
  const secret = SECRET.test(name);
  if (secret) box.placeholder = "env:NAME";
  const node = field(id, label, box, { hint: help, required });
  if (secret) {
    node.classList.add("field-secret");
    node.append(hintFor(box, t("sources_secret_hint"), "secret-hint"));
  }
  return {
    name, node, inputs: [box], read: () => {
      const v = box.value.trim();
      return v || required ? { present: !!v, value: v } : { present: false };
    },
  };
}

/** "prefix → principals" rules (or any "key → list of strings" object): one row per key. */
function mapField(id, name, label, shape, required, help) {
  const acl = name === "acl";
  const node = el("fieldset", "field field-wide map-editor");
  node.id = id;
  const legend = el("legend", null, label);
  if (required) {
    const mark = el("span", "required-mark", " *");
    mark.setAttribute("aria-hidden", "true");
    legend.append(mark);
  }
  node.append(legend);
  if (help) {
    const p = el("p", "field-hint muted small", help);
    p.id = `${id}-hint`;
    node.setAttribute("aria-describedby", p.id);
    node.append(p);
  }
  const keyLabel = acl ? t("sources_map_prefix") : t("sources_map_key");
  const valuesLabel = acl ? t("sources_map_principals") : t("sources_map_values");
  const headRow = el("div", "map-row map-head");
  headRow.setAttribute("aria-hidden", "true");
  headRow.append(el("span", null, keyLabel), el("span", null, valuesLabel));
  const rows = el("div", "map-rows");
  const inputs = [];
  const addRow = (key = "", values = "") => {
    const n = ++seq;
    const row = el("div", "map-row");
    const k = input("text", "map-key");
    k.id = `${id}-key-${n}`;
    k.value = key;
    k.placeholder = acl ? t("sources_map_everything") : "";
    const kl = el("label", "sr-only", `${label}: ${keyLabel}`);
    kl.htmlFor = k.id;
    const v = input("text", "map-values");
    v.id = `${id}-values-${n}`;
    v.value = values;
    v.placeholder = acl ? "public, group:2" : "";
    const vl = el("label", "sr-only", `${label}: ${valuesLabel}`);
    vl.htmlFor = v.id;
    const remove = button("btn-icon map-remove", "\u2715", () => {
      const next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      inputs.splice(0, inputs.length, ...rows.querySelectorAll("input"));
      if (!rows.children.length) addRow();
      (next && next.querySelector(".map-key") ? next.querySelector(".map-key") : rows.querySelector(".map-key")).focus();
    }, t("sources_map_remove"));
    row.append(kl, k, vl, v, remove);
    rows.append(row);
    inputs.push(k, v);
    return k;
  };
  if (shape.default && typeof shape.default === "object") {
    for (const [k, v] of Object.entries(shape.default)) addRow(k, (v || []).join(", "));
  }
  if (!rows.children.length) addRow();
  const more = button("btn btn-secondary btn-small map-add", t(acl ? "sources_map_add_rule" : "sources_map_add"), () => addRow().focus());
  node.append(headRow, rows, more);
  if (acl) node.append(el("p", "field-hint muted small", t("sources_map_hint")));
  return {
    name, node, inputs, read: () => {
      const out = {};
      let any = false;
      for (const row of rows.children) {
        const key = row.querySelector(".map-key").value.trim();
        const raw = row.querySelector(".map-values").value.trim();
        if (!key && !raw) continue;
        out[key] = raw.split(/[\s,;]+/).filter(Boolean);
        any = true;
      }
      return any ? { present: true, value: out } : { present: false };
    },
  };
}
