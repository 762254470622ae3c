/* Ségur Sandbox console: the live exchange log and a few keyboard helpers. Plain JavaScript, no build step.
 *
 * Live log: every .live[data-live-url] box polls "<url>?since_id=N&<filters>" once a second; the server answers
 * {latest_id, count, truncated, reset, rows} where rows is the HTML of the new <tr>s, newest first, rendered by
 * the same template as the page. Polling (not SSE) survives proxies, server restarts and several workers.
 */
(function () {
  "use strict";
  var POLL_MS = 1000;

  function startLive(box) {
    var url = box.getAttribute("data-live-url");
    if (!url) { return; }
    var since = Number(box.getAttribute("data-since") || 0);
    var query = box.getAttribute("data-query") || "";
    var tbody = box.querySelector("tbody");
    var message = box.querySelector(".live-msg");
    var toggle = box.querySelector(".live-toggle");
    var empty = box.querySelector(".empty");
    var running = true;
    var busy = false;
    var timer = null;

    function announce(text) { if (message) { message.textContent = text; } }
    function schedule() { clearTimeout(timer); timer = setTimeout(poll, POLL_MS); }

    function poll() {
      if (!running || busy) { return schedule(); }
      busy = true;
      fetch(url + "?since_id=" + since + (query ? "&" + query : ""), {
        headers: { "accept": "application/json" }, cache: "no-store", credentials: "same-origin"
      }).then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      }).then(function (data) {
        if (data.reset) { window.location.reload(); return; }  /* the log was emptied: ids start over */
        if (data.count > 0) {
          tbody.insertAdjacentHTML("afterbegin", data.rows);
          if (empty) { empty.hidden = true; }
          announce(data.count + (data.count > 1 ? " nouveaux échanges" : " nouvel échange") +
                   (data.truncated ? " (et d'autres : rechargez la page pour tout voir)" : ""));
        }
        since = Math.max(since, data.latest_id);
        box.setAttribute("data-since", String(since));
        box.classList.remove("offline");
      }).catch(function (error) {
        box.classList.add("offline");
        announce("Suivi interrompu (" + error.message + "), nouvel essai dans une seconde…");
      }).then(function () { busy = false; schedule(); });
    }

    if (toggle) {
      toggle.addEventListener("click", function () {
        running = !running;
        toggle.setAttribute("aria-pressed", running ? "true" : "false");
        toggle.textContent = running ? "Suivi en direct : activé" : "Suivi en direct : en pause";
        if (running) { poll(); }
      });
    }
    schedule();
  }

  /* A finding's location link: open what hides the marked element, move the focus to it, make it flash. */
  function locate(event) {
    var link = event.target.closest("a.locate");
    if (!link) { return; }
    var target = document.getElementById(link.getAttribute("data-target"));
    if (!target) { return; }
    event.preventDefault();
    for (var node = target.parentElement; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") { node.open = true; }
    }
    target.classList.remove("flash");
    void target.offsetWidth;  /* restart the animation */
    target.classList.add("flash");
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "center" });
    history.replaceState(null, "", "#" + target.id);
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".live[data-live-url]"), startLive);
    document.addEventListener("click", locate);
  });
})();
