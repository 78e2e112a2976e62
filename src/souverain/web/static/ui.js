// Small shared UI helpers.
let timer = 0;

export function toast(message, isError = false) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.classList.toggle("toast-error", isError);
  box.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 4000);
}
