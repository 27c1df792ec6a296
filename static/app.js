// pieced-admin: small behaviours on top of htmx. No inline scripts: the pages' CSP allows only our own files.

// A confirm text may name the form's current values: "{month}" reads the form field named month.
function piecedConfirmText(form, text) {
  return text.replace(/\{([a-z_]+)\}/g, function (whole, name) {
    var input = form.elements ? form.elements[name] : null;
    return input && input.value ? input.value : whole;
  });
}

document.addEventListener("DOMContentLoaded", function () {
  // Forms outside htmx that change something ask first: <form data-confirm="..."> or a submit
  // button's own data-confirm. One question per click: once confirmed the form is on its way and
  // a second click (a double click) neither asks again nor sends it twice.
  document.body.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.getAttribute) { return; }
    if (form.getAttribute("data-submitting") === "true") {
      event.preventDefault();
      return;
    }
    var submitter = event.submitter;
    var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (message && !window.confirm(piecedConfirmText(form, message))) {
      event.preventDefault();
      return;
    }
    if (message || form.hasAttribute("data-once")) {
      form.setAttribute("data-submitting", "true");
      if (submitter && submitter.name) {
        // the button's value must still travel once the button is disabled
        var carry = document.createElement("input");
        carry.type = "hidden"; carry.name = submitter.name; carry.value = submitter.value;
        carry.setAttribute("data-carry", "");
        form.appendChild(carry);
      }
      Array.prototype.forEach.call(form.querySelectorAll("button[type=submit], button:not([type])"), function (b) {
        b.disabled = true;
      });
    }
  });

  // The main navigation folds into a Menu button on narrow screens.
  var toggle = document.querySelector(".nav-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var nav = toggle.closest("nav");
      var open = !nav.classList.contains("nav-open");
      nav.classList.toggle("nav-open", open);
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // "Select all" boxes: <input type=checkbox data-check-all="name"> ticks every box of that name.
  document.body.addEventListener("change", function (event) {
    var box = event.target;
    var name = box.getAttribute && box.getAttribute("data-check-all");
    if (!name) { return; }
    var scope = box.form || document;
    Array.prototype.forEach.call(scope.querySelectorAll("input[type=checkbox][name='" + name + "']"), function (b) {
      b.checked = box.checked;
    });
  });

  // Reveal what belongs to a choice: <div data-show-when="field=value"> is shown only while it holds.
  function syncShowWhen(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("[data-show-when]"), function (el) {
      var parts = el.getAttribute("data-show-when").split("=");
      var form = el.closest("form") || document;
      var field = form.querySelector("[name='" + parts[0] + "']");
      if (!field) { return; }
      var value = field.type === "checkbox" ? (field.checked ? "y" : "") : field.value;
      el.hidden = value !== parts[1];
    });
  }
  document.body.addEventListener("change", function () { syncShowWhen(document); });
  syncShowWhen(document);
  markScrollableRegions(document);
});

// Read-only inputs that hold a link select it on focus; "Copy" buttons copy the input they name.
document.addEventListener("focusin", function (event) {
  if (event.target.hasAttribute && event.target.hasAttribute("data-select-on-focus")) { event.target.select(); }
});
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("[data-copy-from]") : null;
  if (!button) { return; }
  var input = document.getElementById(button.getAttribute("data-copy-from"));
  if (input && navigator.clipboard) {
    navigator.clipboard.writeText(input.value).then(function () { button.textContent = "Copied"; });
  }
});

// A table that scrolls sideways (a phone) must be reachable by keyboard: give its wrapper a tab stop.
function markScrollableRegions(root) {
  Array.prototype.forEach.call((root || document).querySelectorAll(".table-wrap"), function (wrap) {
    if (!wrap.hasAttribute("tabindex")) {
      wrap.setAttribute("tabindex", "0");
      if (!wrap.hasAttribute("role")) { wrap.setAttribute("role", "region"); }
      if (!wrap.hasAttribute("aria-label")) {
        var caption = wrap.querySelector("caption");
        wrap.setAttribute("aria-label", caption ? caption.textContent.trim() : "Table");
      }
    }
  });
}
document.addEventListener("htmx:afterSettle", function (event) { markScrollableRegions(event.target); });

// hx-confirm texts may name form values too ("{month}").
document.addEventListener("htmx:confirm", function (event) {
  var question = event.detail.question;
  if (!question || question.indexOf("{") < 0) { return; }
  var form = event.detail.elt.closest("form");
  if (!form) { return; }
  event.preventDefault();
  if (window.confirm(piecedConfirmText(form, question))) { event.detail.issueRequest(true); }
});

// No inline handlers (the Content-Security-Policy allows only these scripts):
// <button data-copy-from="ID"> copies that field's value; <input data-select-on-focus> selects itself.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("[data-copy-from]");
  if (!button) { return; }
  var field = document.getElementById(button.getAttribute("data-copy-from"));
  if (field && navigator.clipboard) {
    navigator.clipboard.writeText(field.value).then(function () { button.textContent = "Copied"; });
  }
});
document.addEventListener("focusin", function (event) {
  if (event.target.hasAttribute && event.target.hasAttribute("data-select-on-focus")) { event.target.select(); }
});

// Show a server error of an htmx request in the flash area instead of failing silently.
document.addEventListener("htmx:responseError", function (event) {
  var flashes = document.getElementById("flashes");
  if (!flashes) { return; }
  var div = document.createElement("div");
  div.className = "flash flash-error";
  div.setAttribute("role", "alert");
  var status = event.detail.xhr ? event.detail.xhr.status : "";
  div.textContent = status === 403
    ? "Your role does not allow this action."
    : "The server could not complete this action (HTTP " + status + "). Nothing was changed; please try again.";
  flashes.appendChild(div);
});
document.addEventListener("htmx:sendError", function () {
  var flashes = document.getElementById("flashes");
  if (!flashes) { return; }
  var div = document.createElement("div");
  div.className = "flash flash-error";
  div.setAttribute("role", "alert");
  div.textContent = "The server could not be reached. Check your connection and try again.";
  flashes.appendChild(div);
});

// Back to a page from the browser's cache: the forms sent from it may be sent again.
window.addEventListener("pageshow", function (event) {
  if (!event.persisted) { return; }
  Array.prototype.forEach.call(document.querySelectorAll("form[data-submitting]"), function (form) {
    form.removeAttribute("data-submitting");
    Array.prototype.forEach.call(form.querySelectorAll("input[data-carry]"), function (c) { c.remove(); });
    Array.prototype.forEach.call(form.querySelectorAll("button[disabled]"), function (b) { b.disabled = false; });
  });
});
