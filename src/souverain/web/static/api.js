// The JSON API under /api/v1 (the UI uses the same API as every other client).
export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// Session state: the cookie travels by itself; the CSRF token is sent on every state-changing request.
const session = { csrf: "", onUnauthorized: null };
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function setCsrfToken(token) { session.csrf = token || ""; }
export function onUnauthorized(callback) { session.onUnauthorized = callback; }

function headersFor(method, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (UNSAFE.has(method.toUpperCase()) && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  return headers;
}

function unauthorized(status, quiet) {
  if (status === 401 && !quiet && session.onUnauthorized) session.onUnauthorized();
}

async function detail(resp) {
  try {
    const body = await resp.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    return JSON.stringify(body);
  } catch { return resp.statusText || `HTTP ${resp.status}`; }
}

// A JSON request to any same-origin URL. A 401 shows the sign-in screen unless `quiet`.
export async function request(url, { method = "GET", body, signal, quiet = false } = {}) {
  const init = { method, signal, headers: headersFor(method), credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  if (!resp.ok) {
    unauthorized(resp.status, quiet);
    throw new ApiError(resp.status, await detail(resp));
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

export async function api(path, options = {}) {
  return request(API + path, options);
}

// POST that answers with Server-Sent Events (`event: delta` ... `event: answer`, or `event: error`).
// EventSource only does GET, so the stream is read from fetch.
export async function postStream(path, body, onEvent, signal) {
  const resp = await fetch(API + path, {
    method: "POST", signal,
    headers: headersFor("POST", { "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body), credentials: "same-origin",
  });
  if (!resp.ok) {
    unauthorized(resp.status, false);
    throw new ApiError(resp.status, await detail(resp));
  }
  if (!(resp.headers.get("content-type") || "").startsWith("text/event-stream")) {
    onEvent("answer", await resp.json());
    return;
  }
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    let sep;
    while ((sep = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, sep);
      buffer = buffer.slice(sep).replace(/^\r?\n\r?\n/, "");
      let event = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) {
        let payload;
        try { payload = JSON.parse(data.join("\n")); } catch { payload = data.join("\n"); }
        onEvent(event, payload);
      }
    }
    if (done) break;
  }
}

// Multipart upload with byte progress (fetch has no upload progress yet).
export function uploadFiles(files, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const f of files) form.append("files", f, f.webkitRelativePath || f.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", API + "/documents");
    xhr.responseType = "json";
    for (const [k, v] of Object.entries(headersFor("POST"))) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0));
    xhr.addEventListener("load", () => {
      const body = xhr.response;
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        unauthorized(xhr.status, false);
        reject(new ApiError(xhr.status, (body && body.detail && String(body.detail)) || `HTTP ${xhr.status}`));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network error")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "aborted")));
    xhr.send(form);
  });
}
