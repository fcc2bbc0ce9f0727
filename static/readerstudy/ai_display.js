/* Readerstudy AI displays: "Show AI" (on-request arms), the similar-cases gallery's enlarged view
 * with the study case side by side, and what the reading records of their use (ai_opened_at,
 * opened_neighbour). Vanilla JS, no inline scripts (CSP); the panel itself comes from the server
 * (htmx GET of reader:case_ai), which applies the blinding rule; the server validates what is posted. */
(function () {
  "use strict";

  function form() { return document.getElementById("answer-form"); }

  function recordOpened() {
    var f = form();
    var field = f && f.querySelector("[data-ai-opened-at]");
    if (field && !field.value) field.value = String(Date.now());
  }

  function recordNeighbour(imageId) {
    var f = form();
    var box = f && f.querySelector("[data-opened-neighbours]");
    if (!box || !imageId) return;
    var seen = Array.prototype.some.call(box.querySelectorAll("input"), function (el) { return el.value === imageId; });
    if (seen) return;
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "opened_neighbour";
    input.value = imageId;
    box.appendChild(input);
  }

  function openView(button) {
    var root = button.closest("[data-ai-panel]") || document;
    var view = root.querySelector("[data-neighbour-view]");
    if (!view) return;
    var neighbour = view.querySelector("[data-view-neighbour]");
    var caseImage = view.querySelector("[data-view-case]");
    var label = view.querySelector("[data-view-label]");
    neighbour.src = button.getAttribute("data-full");
    if (button.getAttribute("data-case-full")) caseImage.src = button.getAttribute("data-case-full");
    if (label) label.textContent = button.getAttribute("data-label") || "";
    view.returnFocus = button;
    if (typeof view.showModal === "function") view.showModal(); else view.setAttribute("open", "");
    var close = view.querySelector("[data-view-close]");
    if (close) close.focus();
    recordNeighbour(button.getAttribute("data-neighbour"));
  }

  function closeView(view) {
    if (typeof view.close === "function") view.close(); else view.removeAttribute("open");
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    if (target.closest("[data-show-ai]")) { recordOpened(); return; }
    var button = target.closest("[data-neighbour]");
    if (button) { event.preventDefault(); openView(button); return; }
    var close = target.closest("[data-view-close]");
    if (close) { closeView(close.closest("[data-neighbour-view]")); return; }
    if (target.matches("[data-neighbour-view]")) closeView(target);  // a click on the backdrop
  });

  document.addEventListener("close", function (event) {
    var view = event.target;
    if (view instanceof Element && view.matches("[data-neighbour-view]") && view.returnFocus) view.returnFocus.focus();
  }, true);

  // The panel arrived (htmx): move focus to it so keyboard and screen-reader users land on the AI.
  document.addEventListener("htmx:afterSwap", function (event) {
    var panel = event.target && event.target.querySelector && event.target.querySelector("[data-ai-panel]");
    if (panel) { panel.setAttribute("tabindex", "-1"); panel.focus(); }
  });
})();
