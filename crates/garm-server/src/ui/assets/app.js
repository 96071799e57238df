// garm web UI: keeps the <main> of live pages current. The server answers a page's URL
// with its <main> only when asked with the X-Garm-Fragment header. Changes arrive as
// server-sent events from /ui/events (the change feed the websocket streams use); each one
// schedules a refresh. A slow timer refreshes anyway (ages, "waited" times), and fast while
// the event stream is down. EventSource reconnects by itself; when it gives up (the
// session ended, the server restarted) the script opens a new one with a growing delay.
// A file chosen in an <input type=file data-fill=ID> is read into the text area ID (the
// GitHub App private key): the file itself is never sent, only the text, as when pasted.
(function () {
  "use strict";
  document.addEventListener("change", function (ev) {
    var input = ev.target;
    if (!input || !input.getAttribute || !input.files || !input.files[0]) return;
    var target = document.getElementById(input.getAttribute("data-fill") || "");
    if (!target) return;
    input.files[0].text().then(function (text) { target.value = text; });
  });
})();
(function () {
  "use strict";
  var main = document.getElementById("main");
  var status = document.getElementById("live-status");
  if (!main || !main.hasAttribute("data-live")) return;
  var fast = parseInt(main.getAttribute("data-live"), 10) || 2000;
  var slow = 15000;
  var connected = false;
  var inflight = false;
  var again = false;
  var timer = null;
  var retry = 1000;
  var last = null; // the last fragment fetched: unchanged content is not swapped

  function say(text) { if (status) status.textContent = text; }
  function busy() {
    // Never swap the page under a keyboard user or a half-typed form.
    var a = document.activeElement;
    return a && a !== document.body && main.contains(a) && /INPUT|SELECT|TEXTAREA|BUTTON/.test(a.tagName);
  }
  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(refresh, ms);
  }
  function refresh() {
    timer = null;
    if (document.hidden || busy()) { return schedule(connected ? slow : fast); }
    if (inflight) { again = true; return; }
    inflight = true;
    fetch(location.href, { headers: { "X-Garm-Fragment": "1" }, credentials: "same-origin", redirect: "manual" })
      .then(function (r) {
        if (r.type === "opaqueredirect" || r.status === 401) { location.reload(); return null; }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (html) {
        if (html === null) return;
        if (html !== last) { last = html; main.innerHTML = html; }
        main.setAttribute("data-updated", String(Date.now()));
      })
      .catch(function () { say("connection lost; retrying"); })
      .then(function () {
        inflight = false;
        if (again) { again = false; schedule(100); } else { schedule(connected ? slow : fast); }
      });
  }
  function listen() {
    if (!window.EventSource) { schedule(fast); return; }
    var es = new EventSource("/ui/events");
    es.addEventListener("hello", function () {
      connected = true; retry = 1000; say("live");
      schedule(100); // catch up on what changed while disconnected
    });
    es.addEventListener("change", function () { schedule(250); });
    es.onerror = function () {
      connected = false;
      say("connection lost; reconnecting");
      schedule(fast);
      if (es.readyState === EventSource.CLOSED) {
        retry = Math.min(retry * 2, 30000);
        setTimeout(listen, retry);
      }
    };
  }
  listen();
  schedule(fast);
})();
