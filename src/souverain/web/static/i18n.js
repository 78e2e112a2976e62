// Messages for labels the scripts create. The catalog is rendered by the server into a JSON data
// block (never executed) in the language negotiated from the browser's Accept-Language.
const data = JSON.parse(document.getElementById("i18n-data").textContent || "{}");
const messages = data.messages || {};
export const lang = data.lang || document.documentElement.lang || "en";

export function t(key, vars = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

const numberFormat = new Intl.NumberFormat(lang);
export const fmtNumber = (n) => (n == null ? "–" : numberFormat.format(n));

export function fmtDate(iso) {
  if (!iso) return "–";
  const d = new Date(typeof iso === "number" ? iso * 1000 : iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
}

export function fmtDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "";
  if (seconds < 1) return t("duration_ms", { n: Math.round(seconds * 1000) });
  if (seconds < 60) return t("duration_s", { n: (Math.round(seconds * 10) / 10).toLocaleString(lang) });
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  return t("duration_min", { m, s });
}

export function fmtBytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${numberFormat.format(Math.round(n * 10) / 10)} ${units[i]}`;
}
