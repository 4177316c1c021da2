// ims console — the URL builder's live preview. Plain JS, loaded from /console/static (CSP: no
// inline script). The page works without it (the form is a GET that signs on the server); with
// it, every change asks the console for the signed URL (data-builder: a same-origin JSON route
// that calls the API's own signer) and points the preview <img> at what it returns: the signed
// URL itself, or for a private source the console's preview route.
(function () {
  "use strict";
  var form = document.getElementById("url-builder");
  if (!form) return;
  var endpoint = form.getAttribute("data-builder");
  var result = document.getElementById("builder-result");
  var empty = document.getElementById("builder-empty");
  var urlText = document.getElementById("signed-url");
  var open = document.getElementById("open-url");
  var preview = document.getElementById("preview");
  var previewError = document.getElementById("preview-error");
  var timer = null;
  var asked = 0;

  function showErrors(errors) {
    form.querySelectorAll(".field").forEach(function (field) {
      var input = field.querySelector("input, select, textarea");
      if (!input) return;
      var message = errors[input.name];
      var note = field.querySelector("p.error");
      field.classList.toggle("has-error", !!message);
      if (message) {
        if (!note) {
          note = document.createElement("p");
          note.className = "error";
          note.id = "e-" + input.name;
          note.setAttribute("role", "alert");
          field.appendChild(note);
        }
        note.textContent = message;  // text, never HTML
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", note.id);
      } else {
        if (note) note.remove();
        input.removeAttribute("aria-invalid");
      }
    });
  }

  function show(url, shown) {
    result.hidden = !url;
    empty.hidden = !!url;
    urlText.textContent = url ? (urlText.getAttribute("data-base") || "") + url : "";
    open.setAttribute("href", url || "#");
    if (preview) {
      if (previewError) previewError.hidden = true;
      if (shown) {
        preview.hidden = false;
        if (preview.getAttribute("src") !== shown) preview.setAttribute("src", shown);
      } else {
        preview.hidden = true;
        preview.removeAttribute("src");
      }
    }
  }

  function update() {
    var query = new URLSearchParams(new FormData(form)).toString();
    var mine = ++asked;
    fetch(endpoint + "?" + query, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (reply) { return reply.json(); })
      .then(function (body) {
        if (mine !== asked) return;  // an older answer arriving late
        showErrors(body.errors || {});
        show(body.url, body.preview);
        if (window.history && window.history.replaceState) {
          window.history.replaceState(null, "", form.getAttribute("action") + "?" + query);
        }
      })
      .catch(function () { /* keep what is shown; the Sign URL button still works */ });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
  form.addEventListener("submit", function (event) { event.preventDefault(); update(); });

  if (preview && previewError) {
    // An image that does not load: show the service's own message (its errors are JSON).
    preview.addEventListener("error", function () {
      var url = preview.getAttribute("src");
      if (!url) return;
      fetch(url, {credentials: "same-origin"})
        .then(function (reply) { return reply.json(); })
        .then(function (body) { previewError.textContent = body.message || "The image did not load."; })
        .catch(function () { previewError.textContent = "The image did not load."; })
        .then(function () { previewError.hidden = false; preview.hidden = true; });
    });
    preview.addEventListener("load", function () { previewError.hidden = true; preview.hidden = false; });
  }
})();
