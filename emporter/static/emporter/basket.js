// The basket's warnings under each document ("… lends only its own copies, and has none
// of this document", "you will join the waiting list") are for the library chosen to
// collect at. Choosing another one in the list asks the server for the list of documents
// as that library would take them (?part=list: nothing else changes on the server), puts
// it in place of this one, and has what it says read out, each with its title. The page
// itself stays where it is: a choice in a list must not take the patron elsewhere.
// Without this script, the warnings are for the library first selected, and confirming
// says the rest.
(function () {
  "use strict";
  var select = document.getElementById("pickup");
  if (!select) return;
  var asked = 0;

  function list() {
    return document.querySelector("[data-basket-list]");
  }

  function said(fresh) {
    var lines = [];
    fresh.querySelectorAll("li").forEach(function (item) {
      var notes = item.querySelectorAll(".warn, .waiting-list");
      if (!notes.length) return;
      var text = item.querySelector("strong").textContent.trim();
      notes.forEach(function (note) { text += " — " + note.textContent.replace(/\s+/g, " ").trim(); });
      lines.push(text);
    });
    return lines.length ? lines.join(" ") : fresh.getAttribute("data-nothing-said");
  }

  function refresh() {
    var current = list();
    if (!select.value || !current || current.getAttribute("data-pickup") === select.value) return;
    var url = new URL(window.location.href);
    url.searchParams.set("pickup", select.value);
    url.searchParams.set("part", "list");
    var mine = ++asked;
    current.setAttribute("aria-busy", "true");
    fetch(url.toString(), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (mine !== asked) return; // a later choice answers instead
        var old = list();
        old.removeAttribute("aria-busy");
        if (html === null) return;
        var answer = new DOMParser().parseFromString(html, "text/html");
        var fresh = answer.querySelector("[data-basket-list]");
        if (!fresh) return;
        fresh = document.importNode(fresh, true);
        old.replaceWith(fresh);
        // The Remove buttons' forms come with the list: a document added in another
        // tab since this page was shown has its own.
        var removes = answer.querySelector("[data-basket-removes]");
        var oldRemoves = document.querySelector("[data-basket-removes]");
        if (removes && oldRemoves) oldRemoves.replaceWith(document.importNode(removes, true));
        if (window.emporterAnnounce) window.emporterAnnounce(said(fresh));
      })
      .catch(function () { list().removeAttribute("aria-busy"); }); // offline: the first library's warnings stay
  }

  // The list starts with the library the page selected: autocomplete="off" keeps a
  // reload from putting back another one beside the first one's warnings.
  select.addEventListener("change", refresh);
})();
