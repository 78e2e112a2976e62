// Entry point: sign-in first (auth.js), then view switching (#/chat, #/chat/<id>, #/documents, #/usage,
// #/admin/<users|groups|keys>, #/models and #/sources for administrators), answer mode and model info.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { initChat, routeChat } from "./chat.js";
import { initDocuments, showDocuments } from "./documents.js";
import { initAuth, isAdmin } from "./auth.js";
import { initAdmin, showAdmin } from "./admin.js";
import { initSources, showSources } from "./sources.js";
import { initUsage, showUsage } from "./usage.js";
import { initModels, showModels } from "./models.js";

const $ = (id) => document.getElementById(id);
const MODE_KEY = "souverain.mode";
const VIEWS = ["chat", "documents", "usage", "admin", "models", "sources"];
const ADMIN_VIEWS = new Set(["admin", "models", "sources"]);
const MEMBER_VIEWS = new Set(["documents", "usage"]);

function route() {
  const hash = location.hash || "#/chat";
  const [, view = "chat", id] = hash.split("/");
  const current = MEMBER_VIEWS.has(view) ? view : ADMIN_VIEWS.has(view) && isAdmin() ? view : "chat";
  for (const name of VIEWS) {
    $(`view-${name}`).hidden = name !== current;
    const tab = $(`tab-${name}`);
    if (name === current) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  document.body.dataset.view = current;
  showDocuments(current === "documents");
  showAdmin(current === "admin", id);
  showSources(current === "sources");
  showUsage(current === "usage");
  showModels(current === "models");
  if (current === "chat" && id) routeChat(decodeURIComponent(id));
}

async function loadModels() {
  const select = $("mode-select");
  const saved = localStorage.getItem(MODE_KEY);
  try {
    const info = await api("/models");
    const modes = info.answer_modes && info.answer_modes.length ? info.answer_modes : ["extractive", "generative"];
    select.replaceChildren();
    for (const m of modes) {
      const o = document.createElement("option");
      o.value = m;
      const label = t(`mode_${m}`);
      o.textContent = label.startsWith("mode_") ? m : label;
      select.appendChild(o);
    }
    select.value = saved && modes.includes(saved) ? saved : (info.default_mode || modes[0]);
    const llm = info.llm || {};
    const emb = info.embedder || {};
    const box = $("model-info");
    // Extractive answers are chosen by the embedding model; generative ones are written by the LLM.
    const show = () => {
      box.textContent = t("model_info", { model: (select.value === "generative" ? llm.model : emb.model) || "–" });
    };
    show();
    select.addEventListener("change", show);
    box.title = t("model_info_long", { llm: `${llm.backend || ""} ${llm.model || ""}`.trim(), embedder: `${emb.backend || ""} ${emb.model || ""}`.trim() });
  } catch {
    if (saved) select.value = saved;
  }
}

function init() {
  const select = $("mode-select");
  select.addEventListener("change", () => localStorage.setItem(MODE_KEY, select.value));
  initChat({ mode: () => select.value || undefined });
  initDocuments();
  initAdmin();
  initSources();
  initUsage();
  initModels();
  $("tab-sources").hidden = !isAdmin();
  $("tab-models").hidden = !isAdmin();
  window.addEventListener("hashchange", route);
  route();
  loadModels();
  document.body.classList.add("ready");
}

initAuth(init);
