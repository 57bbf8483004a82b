// omnicx console, sources section:
// - the live debugger's pause button: while paused the poller's requests are cancelled (the
//   server keeps the events; resuming fetches those stored meanwhile);
// - new events are highlighted briefly, and the list is kept to MAX_EVENTS items;
// - copy buttons (data-copy="ID") copy the text of element ID.
(function () {
  "use strict";
  var MAX_EVENTS = 200;

  function debugger_() { return document.querySelector("[data-debugger]"); }

  function wirePause() {
    var button = document.querySelector("[data-debugger-pause]");
    var root = debugger_();
    if (!button || !root || button.dataset.wired) return;
    button.dataset.wired = "1";
    button.hidden = false;
    button.addEventListener("click", function () {
      var paused = !root.hasAttribute("data-paused");
      if (paused) root.setAttribute("data-paused", ""); else root.removeAttribute("data-paused");
      button.setAttribute("aria-pressed", paused ? "true" : "false");
    });
  }

  function wireCopy(scope) {
    scope.querySelectorAll("[data-copy]").forEach(function (button) {
      if (button.dataset.wired || !navigator.clipboard) return;
      button.dataset.wired = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.dataset.copy);
        if (!source) return;
        navigator.clipboard.writeText(source.textContent).then(function () {
          button.classList.add("copied");
          setTimeout(function () { button.classList.remove("copied"); }, 2000);
        });
      });
    });
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var root = debugger_();
    if (root && root.hasAttribute("data-paused") && event.detail.elt.id === "debugger-poll") {
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var list = event.detail.target;
    if (!list || list.id !== "debugger-events") return;
    list.querySelectorAll(".debugger-event:not([data-seen])").forEach(function (item) {
      item.setAttribute("data-seen", "");
      item.classList.add("arrived");
    });
    while (list.children.length > MAX_EVENTS) list.removeChild(list.lastElementChild);
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".debugger-event").forEach(function (item) { item.setAttribute("data-seen", ""); });
    wirePause();
    wireCopy(document);
  });
})();
