/* Live Markdown preview on the bid form: progressive enhancement only.
   Without JavaScript the form's Preview button renders the same preview on the server. */
(function () {
  "use strict";
  var form = document.querySelector("form.bid-form[data-preview-url]");
  var body = form && form.querySelector("textarea[name=body]");
  if (!body || !window.fetch) { return; }

  var region = document.createElement("section");
  region.className = "preview live-preview";
  region.setAttribute("aria-label", "Live preview of the bid text");
  region.setAttribute("aria-live", "polite");
  var heading = document.createElement("p");
  heading.className = "muted";
  heading.textContent = "Live preview";
  var content = document.createElement("div");
  content.className = "bid-body";
  region.appendChild(heading);
  region.appendChild(content);
  body.closest(".field").insertAdjacentElement("afterend", region);

  var token = form.querySelector("input[name=csrf_token]");
  var timer = null;
  var latest = 0;

  function refresh() {
    var ticket = ++latest;
    var data = new FormData();
    data.append("body", body.value);
    if (token) { data.append("csrf_token", token.value); }
    fetch(form.getAttribute("data-preview-url"), {
      method: "POST", body: data, credentials: "same-origin"
    }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      // The server sanitised this HTML with nh3; stale answers are dropped.
      if (html !== null && ticket === latest) { content.innerHTML = html; }
    }).catch(function () { /* the Preview button still works */ });
  }

  body.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 500);
  });
  refresh();
})();
