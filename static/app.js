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
