// pieced-admin: small behaviours on top of htmx.
document.addEventListener("DOMContentLoaded", function () {
  // Forms outside htmx that destroy something ask first: <form data-confirm="...">.
  document.body.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
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
