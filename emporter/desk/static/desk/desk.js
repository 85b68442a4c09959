// Door screens: a scanner types the card or barcode and presses Enter, so the page only
// keeps the scan box focused, offers printing, counts the ticked documents on the
// hand-over button, greys that button out once pressed (the server refuses a second
// hand-over anyway: this only spares a reload), and keeps the list of who is at the
// door up to date between patrons.
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      setTimeout(function () { button.disabled = true; }, 0);
    });
  });
  document.querySelectorAll("button[data-count-labels]").forEach(function (button) {
    // The server wrote the label for every count, in the page's language and plurals.
    var boxes = button.form.querySelectorAll("input[type=checkbox][name=requests]");
    function update() {
      var ticked = Array.prototype.filter.call(boxes, function (box) { return box.checked; }).length;
      var label = button.getAttribute("data-label-" + ticked);
      if (label !== null) button.textContent = label;
      button.disabled = ticked === 0;
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    update();  // boxes the browser restored unticked (back button, reload)
  });
  // The box the barcode or card is typed in: never the form's hidden fields (the first
  // <input> of a POST form is its CSRF token, which a scan would overwrite).
  var scan = document.querySelector("form[data-scan] input:not([type=hidden])");
  if (!scan) return;
  // Between patrons the door lists who says "I'm here". Every 20 seconds, while the scan
  // box is empty, the page is fetched again and only the part of the list that changed
  // is swapped in: a reload would take a screen reader (or the keyboard) back to the
  // top. A part holding the focus waits for the next round; a change in how many wait
  // at the door is said, politely, and nothing else.
  var arrivals = document.querySelector("[data-arrivals]");
  if (arrivals && window.fetch && window.DOMParser) {
    var fetching = false;
    // When the list could not be refreshed, the page says since when, rather than
    // showing an old list as if it were today's: signed out (the session ended, or in
    // another tab), at once; no answer (the network, the server), after two rounds.
    var stale = arrivals.querySelector("[data-arrivals-stale]");
    var fetchedAt = new Date();
    var failures = 0;
    setInterval(function () {
      if (scan.value || fetching) return;
      fetching = true;
      fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.redirected) return null;  // to the sign-in page
          return response.ok ? response.text() : "";
        })
        .then(function (html) {
          var fresh = html && new DOMParser().parseFromString(html, "text/html").querySelector("[data-arrivals]");
          if (!fresh) {
            failures += 1;
            if (html === null) sayStale("data-signed-out");
            else if (failures >= 2) sayStale("data-no-answer");
            return;
          }
          failures = 0;
          fetchedAt = new Date();
          sayStale(null);
          if (!scan.value) swapChanged(arrivals, fresh);
        })
        .catch(function () {
          failures += 1;
          if (failures >= 2) sayStale("data-no-answer");
        })
        .then(function () { fetching = false; });
    }, 20000);
  }
  // Into a status region: said once when it changes, not at every round.
  function sayStale(attribute) {
    if (!stale || stale.getAttribute("data-saying") === String(attribute)) return;
    stale.setAttribute("data-saying", String(attribute));
    stale.textContent = "";
    if (!attribute) return;
    var time = ("0" + fetchedAt.getHours()).slice(-2) + ":" + ("0" + fetchedAt.getMinutes()).slice(-2);
    var item = document.createElement("li");
    item.className = "error";
    item.textContent = stale.getAttribute(attribute).replace("{time}", time);
    if (attribute === "data-signed-out") {
      var link = document.createElement("a");
      link.href = stale.getAttribute("data-sign-in-url");
      link.textContent = stale.getAttribute("data-sign-in");
      item.append(" ", link);
    }
    var list = document.createElement("ul");
    list.append(item);
    stale.append(list);
  }
  function swapChanged(section, fresh) {
    section.querySelectorAll("[data-arrivals-part]").forEach(function (part) {
      var name = part.getAttribute("data-arrivals-part");
      var next = fresh.querySelector('[data-arrivals-part="' + name + '"]');
      if (!next || (next.innerHTML === part.innerHTML &&
          next.getAttribute("data-count-text") === part.getAttribute("data-count-text"))) return;
      if (part.contains(document.activeElement)) return;
      var counted = part.getAttribute("data-count") !== next.getAttribute("data-count");
      part.replaceWith(document.importNode(next, true));
      var text = next.getAttribute("data-count-text");
      if (counted && text && window.emporterAnnounce) window.emporterAnnounce(text);
    });
  }
  // After a patron is shown, focus stays on the scan box only while nothing else is
  // being used (the librarian may be unticking documents with the keyboard). Where the
  // page puts the focus in the box, a barcode shown again after a refusal is selected:
  // the next scan replaces it instead of being typed in front of it.
  if (document.activeElement === scan ||
      (scan.hasAttribute("autofocus") && (!document.activeElement || document.activeElement === document.body))) {
    scan.focus();
    scan.select();
  }
  window.emporterScanBox(scan);
})();
