// tidings web app: the little behaviour htmx and Alpine do not declare in markup.
// Served from the box under a CSP without 'unsafe-eval': Alpine's CSP build, and no
// inline scripts or handlers anywhere.
"use strict";

document.addEventListener("alpine:init", () => {
  window.Alpine.data("shell", () => ({
    open: false,
    toggle() { this.open = !this.open; },
    close() { this.open = false; },
    get expanded() { return this.open ? "true" : "false"; },
    get sidebarClass() { return this.open ? "translate-x-0" : ""; },
  }));
});

function thread() { return document.getElementById("main"); }

function scrollToEnd() {
  const main = thread();
  if (main) main.scrollTop = main.scrollHeight;
}

document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target && target.id === "composer-text" && event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (target.value.trim()) target.form.requestSubmit();
  }
  if (event.key === "Escape") {
    const stops = document.querySelectorAll("[data-stop]");
    if (stops.length) {
      event.preventDefault();
      stops[stops.length - 1].click();
    }
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form && form.id === "composer") {
    // htmx's ws extension has read the fields by now; the next message starts empty.
    setTimeout(() => {
      const text = document.getElementById("composer-text");
      text.value = "";
      text.focus();
      scrollToEnd();
    }, 0);
  }
});

document.addEventListener("htmx:wsOpen", () => { document.body.dataset.ws = "open"; });
document.addEventListener("htmx:wsClose", () => { document.body.dataset.ws = "closed"; });

document.addEventListener("htmx:wsAfterMessage", () => {
  const state = document.getElementById("page-state");
  if (state && state.dataset.url && location.pathname !== state.dataset.url) {
    history.replaceState(null, "", state.dataset.url);
    document.getElementById("thread").dataset.conversation = state.dataset.conversation || "";
  }
  scrollToEnd();
});

document.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail && event.detail.target;
  if (target && target.id === "reader-content") {
    const reader = document.getElementById("reader");
    if (reader && !reader.open) reader.showModal();
  }
});

document.addEventListener("DOMContentLoaded", scrollToEnd);
