// Small shared UI helpers.

/** An element with an optional class and text (always set as text, never parsed as HTML). */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** A type=button element; ``title`` is also its accessible name. */
export function button(className, label, onClick, title) {
  const b = el("button", className, label);
  b.type = "button";
  if (title) { b.title = title; b.setAttribute("aria-label", title); }
  b.addEventListener("click", onClick);
  return b;
}
let timer = 0;

export function toast(message, isError = false) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.classList.toggle("toast-error", isError);
  box.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 4000);
}
