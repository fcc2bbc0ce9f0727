/* The language switcher (templates/_language_switcher.html) submits as soon as a language is chosen;
 * without JavaScript its button does. No inline script (CSP). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("change", function (event) {
    var select = event.target.closest && event.target.closest("[data-language-select]");
    if (!select) return;
    var form = select.form;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });
})();
