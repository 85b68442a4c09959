// Says what the page reports after an action. A message shown with the page (« 3
// documents remis », « Réservé : … ») is in its live region from the start, and screen
// readers only read what changes in one: a moment after the load, its text is copied
// into an empty live region, which they do read. Other scripts say short news the same
// way: window.emporterAnnounce(text[, urgent]).
(function () {
  "use strict";
  function announce(text, urgent) {
    var region = document.getElementById(urgent ? "announce-urgent" : "announce-polite");
    if (!region || !text) return;
    // Emptied first: the same words twice in a row are said twice.
    region.textContent = "";
    setTimeout(function () { region.textContent = text; }, 100);
  }
  window.emporterAnnounce = announce;
  function sayMessages() {
    var polite = [];
    var urgent = [];
    // A page's messages, and what a scan did (a block marked data-announce: the bag a
    // returned document goes into, a card with nothing ready).
    document.querySelectorAll("[data-flash] li, [data-announce]").forEach(function (item) {
      var text = item.textContent.replace(/[ \t\r\n]+/g, " ").trim();
      var box = item.closest("[data-flash]") || item;
      if (text) (box.getAttribute("role") === "alert" ? urgent : polite).push(text);
    });
    if (urgent.length) announce(urgent.join(" "), true);
    if (polite.length) announce(polite.join(" "));
  }
  // After the screen reader has taken in the new page (its title, the focused field).
  function later() { setTimeout(sayMessages, 500); }
  if (document.readyState === "complete") later();
  else window.addEventListener("load", later);
})();
