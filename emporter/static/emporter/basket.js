// The basket's warnings under each document ("… lends only its own copies, and has none
// of this document") are for the library chosen to collect at. Choosing another one in
// the list asks the basket page again for that library, puts its list of documents in
// place of this one and has its warnings said. The page itself stays where it is: a
// choice in a list must not take the patron elsewhere. Without this script, the
// warnings are for the library first selected, and confirming says the rest.
(function () {
  "use strict";
  var select = document.getElementById("pickup");
  if (!select) return;
  var asked = 0;
  select.addEventListener("change", function () {
    if (!select.value) return;
    var url = new URL(window.location.href);
    url.searchParams.set("pickup", select.value);
    var mine = ++asked;
    fetch(url.toString(), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null || mine !== asked) return; // a later choice answers instead
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-basket-list]");
        var list = document.querySelector("[data-basket-list]");
        if (!fresh || !list) return;
        list.replaceWith(document.importNode(fresh, true));
        var said = [];
        document.querySelectorAll("[data-basket-list] .warn").forEach(function (warning) {
          said.push(warning.textContent.replace(/\s+/g, " ").trim());
        });
        if (said.length && window.emporterAnnounce) window.emporterAnnounce(said.join(" "));
      })
      .catch(function () {}); // offline: the warnings stay those of the first library
  });
})();
