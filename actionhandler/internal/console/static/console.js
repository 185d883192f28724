// Alexis console: live timeline updates. The page works without this
// script; with it, rows newer than the top one are fetched every few
// seconds from the fragment endpoint and put on top.
(function () {
  "use strict";
  var table = document.getElementById("timeline");
  if (!table || !table.dataset.liveUrl) { return; }
  var tbody = document.getElementById("timeline-rows");
  var status = document.getElementById("live-status");
  var every = parseInt(table.dataset.pollMs, 10) || 5000;
  var busy = false;

  function say(text) { if (status) { status.textContent = text; } }

  function poll() {
    if (busy || document.hidden) { return; }
    var top = tbody.querySelector("tr.decision");
    var url = table.dataset.liveUrl;
    url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(top ? top.dataset.received : "1970-01-01T00:00:00Z") +
      "&after_id=" + encodeURIComponent(top ? top.dataset.id : "");
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      if (r.status === 401) { say("Your session has ended: reload the page to log in again."); clearInterval(timer); return ""; }
      if (!r.ok) { say("Live updates paused: the server answered " + r.status + "."); return ""; }
      if (r.headers.get("X-Alexis-More") === "true") {
        say("More decisions arrived than live updates show: reload the page to see them all.");
        clearInterval(timer);
        return "";
      }
      return r.text();
    }).then(function (html) {
      if (!html) { return; }
      var t = document.createElement("template");
      t.innerHTML = html;
      var rows = t.content.querySelectorAll("tr.decision");
      for (var i = rows.length - 1; i >= 0; i--) {
        if (!tbody.querySelector('tr.decision[data-id="' + CSS.escape(rows[i].dataset.id) + '"]')) {
          rows[i].classList.add("new");
          tbody.insertBefore(rows[i], tbody.firstChild);
        }
      }
      if (rows.length) {
        say(rows.length + " new decision(s) at " + new Date().toLocaleTimeString() + ".");
        var empty = document.getElementById("timeline-empty");
        if (empty) { empty.remove(); }
      }
    }).catch(function () { say("Live updates paused: the server could not be reached."); })
      .finally(function () { busy = false; });
  }
  var timer = setInterval(poll, every);
})();
