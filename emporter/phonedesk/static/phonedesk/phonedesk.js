// Phone desk keyboard helpers. Progressive enhancement only: every action is a plain
// form or link that works without this file.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function navItems(from) {
    var list = from ? from.closest("[data-nav]") : document.querySelector("[data-nav]");
    return list ? Array.prototype.slice.call(list.querySelectorAll("[data-nav-item]")) : [];
  }

  function searchBox() {
    return document.querySelector("[data-search]") || document.getElementById("find-q");
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    var active = document.activeElement;
    // "/" jumps to the catalogue search, as in many web apps: from the results, or with
    // nothing focused (a one-key shortcut works only there, WCAG 2.1.4: on any button it
    // would catch a slash a speech user dictates). Pressed again in that box it selects
    // the query rather than typing a slash before it (« /blues »); a slash inside a query
    // (AC/DC) is still typed. Alt+S works from anywhere.
    var box = searchBox();
    var idle = !active || active === document.body || active.closest("[data-nav]");
    if (event.key === "/" && box && ((idle && !typing(active)) || (active === box && box.selectionStart === 0))) {
      event.preventDefault();
      box.focus();
      box.select();
      return;
    }
    // Esc from the results goes back to the search box with its text selected, so the
    // next title typed replaces the last one instead of being added to it.
    if (event.key === "Escape" && active && active.matches("[data-nav-item]")) {
      var back = searchBox();
      if (back) { event.preventDefault(); back.focus(); back.select(); }
      return;
    }
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    // From a search box, ↓ goes to the first result; within results, ↑/↓ move.
    if (active && active.matches("input[type=search]") && event.key === "ArrowDown") {
      var first = navItems()[0];
      if (first) { event.preventDefault(); first.focus(); }
      return;
    }
    if (!active || !active.matches("[data-nav-item]")) return;
    var items = navItems(active);
    var index = items.indexOf(active) + (event.key === "ArrowDown" ? 1 : -1);
    event.preventDefault();
    if (index < 0) { var box2 = searchBox(); if (box2) box2.focus(); return; }
    if (index < items.length) items[index].focus();
  });

  // A page sent back to one of its parts (#requests after a cancellation) is not given
  // its autofocus: the browser, scrolling to the part, leaves the focus nowhere, and the
  // next title typed was lost. Once it has scrolled, the box takes the focus, staying
  // at that part.
  window.addEventListener("load", function () {
    var autofocus = document.querySelector("[autofocus]");
    var nowhere = !document.activeElement || document.activeElement === document.body;
    if (window.location.hash && autofocus && nowhere) autofocus.focus({preventScroll: true});
  });

  document.addEventListener("DOMContentLoaded", function () {
    // After adding a document, carry on from the next result rather than the top.
    var after = new URLSearchParams(window.location.search).get("after");
    if (after) {
      var hit = document.getElementById("hit-" + after);
      var next = hit && hit.nextElementSibling;
      while (next && !next.querySelector("[data-nav-item]")) next = next.nextElementSibling;
      if (next) next.querySelector("[data-nav-item]").focus();
    }
    // After a confirmation, put the outcome where a screen reader and the eye land.
    var outcomes = document.getElementById("outcomes");
    if (outcomes) outcomes.focus();
    // A second press while the first submit is on its way sends nothing more (the
    // server would replay it harmlessly anyway, thanks to the confirmation key).
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("button[type=submit]");
        if (button) setTimeout(function () { button.disabled = true; }, 0);
      });
    });
  });
})();
