// garm web UI: refreshes the <main> of live pages in place. The server answers the same
// URL with the <main> content only when asked with the X-Garm-Fragment header. It polls
// every few seconds (there is no event stream to follow yet); when a request fails it
// says so and retries with a growing delay, so a lost connection recovers by itself.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var status = document.getElementById("live-status");
  if (!main || !main.hasAttribute("data-live")) return;
  var period = parseInt(main.getAttribute("data-live"), 10) || 2000;
  var delay = period;
  function busy() {
    // Never swap the page under a keyboard user or a half-typed form.
    var a = document.activeElement;
    return a && a !== document.body && main.contains(a) && /INPUT|SELECT|TEXTAREA/.test(a.tagName);
  }
  function tick() {
    if (document.hidden || busy()) { return schedule(period); }
    fetch(location.href, { headers: { "X-Garm-Fragment": "1" }, credentials: "same-origin", redirect: "manual" })
      .then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 401) { location.reload(); return null; }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        if (html === null) return;
        if (html !== main.innerHTML) main.innerHTML = html;
        if (delay !== period && status) status.textContent = "reconnected";
        delay = period;
        main.setAttribute("data-updated", String(Date.now()));
        schedule(delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, 30000);
        if (status) status.textContent = "connection lost; retrying in " + Math.round(delay / 1000) + " s";
        schedule(delay);
      });
  }
  function schedule(ms) { setTimeout(tick, ms); }
  schedule(period);
})();
