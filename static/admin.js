// leadlink admin: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // <button data-copy="#id" hidden> copies the text (or value) of the element #id. It comes
  // hidden, as it does nothing without this file or without a clipboard (plain http), and is
  // shown here only where it works; the text next to it can always be selected and copied.
  if (navigator.clipboard) {
    document.querySelectorAll("[data-copy]").forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    event.preventDefault();
    var text = source.value !== undefined ? source.value : source.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // <form data-live-preview="preview-frame-name">: while the owner types, the form is sent to
  // its preview button's `formaction`, targeting the preview frame (debounced).
  document.querySelectorAll("form[data-live-preview]").forEach(function (form) {
    var button = form.querySelector("[data-preview-button]");
    if (!button) return;
    var timer = null;
    var refresh = function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { button.click(); }, 400);
    };
    form.addEventListener("input", function (event) {
      if (event.target.type !== "file") refresh();
    });
  });

  // <form data-confirm="question"> asks before it is sent (erase, revoke, archive).
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
