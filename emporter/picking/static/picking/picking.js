// Picking and receiving: a scanner types the barcode and presses Enter, so the page
// only has to keep the scan box focused. The camera is offered only where the browser
// can read barcodes itself (BarcodeDetector); nothing is loaded from elsewhere.
(function () {
  "use strict";
  var form = document.querySelector("form[data-scan]");
  var printButton = document.querySelector("[data-print]");
  if (printButton) {
    printButton.hidden = false;
    printButton.addEventListener("click", function () { window.print(); });
  }
  if (!form) return;
  var input = form.querySelector("input[name=barcode]");
  // A refused barcode comes back in the box (the page says which one it was): selected,
  // so that the next scan replaces it instead of being typed in front of it.
  if (input.hasAttribute("autofocus") &&
      (document.activeElement === input || !document.activeElement || document.activeElement === document.body)) {
    input.focus();
    input.select();
  }

  // Back to the scan box when a tap lands outside a field, but never while the
  // picker is typing a reason or choosing one.
  function busyElsewhere() {
    var el = document.activeElement;
    return el && el !== input && /^(INPUT|TEXTAREA|SELECT|BUTTON|SUMMARY)$/.test(el.tagName);
  }
  // Only with a mouse: on a phone, focusing the box would pop the keyboard up at every tap.
  var finePointer = window.matchMedia && window.matchMedia("(pointer: fine)").matches;
  if (finePointer) document.addEventListener("click", function () {
    setTimeout(function () { if (!busyElsewhere() && !document.querySelector("details[open]")) input.focus(); }, 0);
  });
  form.addEventListener("submit", function (event) {
    if (!input.value.trim()) { event.preventDefault(); input.focus(); return; }
    if (navigator.vibrate) navigator.vibrate(30);
    if (form.hasAttribute("data-async") && window.fetch) {
      // Saved in the background, one scan after the other: the box is free at once
      // for the next barcode, and nothing the scanner types is lost to a page load.
      event.preventDefault();
      var data = new FormData(form);
      input.value = "";
      input.focus();
      queue = queue.then(function () { return send(data); });
    }
  });
  var queue = Promise.resolve();
  var result = form.querySelector("[data-scan-result]");

  function send(data) {
    return fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (response) {
      // Signed out meanwhile (or any page instead of an answer): reload, which shows why.
      if ((response.headers.get("Content-Type") || "").indexOf("json") < 0) {
        window.location.reload();
        return;
      }
      return response.json().then(function (body) { show(body); });
    }).catch(function () {
      show({ ok: false, message: form.getAttribute("data-offline") });
    });
  }

  function show(body) {
    // "success": into the bag; "warning": handled, but not to bag (its request was
    // cancelled: back on the shelf); "error": refused. Answers without a level (an older
    // server) are read from "ok".
    var level = body.level || (body.ok ? "success" : "error");
    // Emptied, then filled on the next frame: the same message twice is read twice.
    result.textContent = "";
    result.className = "scan-result";
    window.requestAnimationFrame(function () {
      result.className = "scan-result " + level;
      result.textContent = body.message;
    });
    if (level !== "success" && navigator.vibrate) navigator.vibrate([80, 60, 80]);
    if (body.progress) {
      document.querySelector(".progress-line strong").textContent = body.progress;
      var bar = document.querySelector(".progress-line progress");
      if (bar) { bar.max = body.total; bar.value = body.total - body.left; }
    }
    var card = body.line && document.getElementById("line-" + body.line);
    // Only a copy to bag is drawn "Found" in Done; one to put back just leaves "To pull",
    // and the refresh below brings its done line as the server draws it.
    if (card) moveToDone(card, level === "success");
    if (body.ok) showAllDone(body.left);
    // After a refused scan too: it may have come right after the last card shown, whose
    // own refresh then gave way to it, and the next lines would never come.
    scheduleRefresh();
  }

  // The card leaves "To pull" at once and its department's tab counts one less; a copy
  // found for a bag goes to "Done", drawn like the server's done lines (call number,
  // title, outcome).
  function moveToDone(card, found) {
    var tab = document.querySelector('.departments [data-department="' + card.getAttribute("data-department") + '"] [data-left]');
    if (tab) tab.textContent = Math.max(0, parseInt(tab.textContent, 10) - 1);
    card.remove();
    if (!found) return;
    var list = document.querySelector(".done-lines");
    var done = document.createElement("li");
    var cote = document.createElement("span");
    var outcome = document.createElement("strong");
    done.className = "done line-found";
    cote.className = "cote";
    cote.textContent = card.querySelector(".cote").textContent;
    outcome.textContent = list.getAttribute("data-found");
    done.append(cote, " " + card.querySelector("[data-title]").textContent + " — ", outcome);
    list.prepend(done);
    document.querySelector("[data-done-heading]").hidden = false;
  }

  function showAllDone(left) {
    var empty = !document.querySelector(".pick-line");
    document.querySelector("[data-all-done]").hidden = !(empty && left === 0);
  }

  // Once the scans queued so far are saved, the page takes the server's own view of
  // the tabs and done lines (final bag, a line that was not on this page), and the
  // next lines of the walk when the ones shown are all marked. Nothing is replaced
  // that the picker may be using: the pending cards stay unless none is left.
  // Each scan asks for it; only the last one queued gets it done.
  function scheduleRefresh() {
    var mark = queue;
    mark.then(function () {
      if (mark !== queue) return;
      return fetch(window.location.href, { credentials: "same-origin" }).then(function (response) {
        return response.ok ? response.text() : null;
      }).then(function (html) {
        if (html && mark === queue) swapIn(new DOMParser().parseFromString(html, "text/html"));
      });
    }).catch(function () {});
  }

  function swapIn(fresh) {
    [".pick-head .departments", ".done-lines"].forEach(function (selector) {
      var from = fresh.querySelector(selector);
      var to = document.querySelector(selector);
      if (from && to) to.replaceWith(from);
    });
    var pending = document.querySelector(".pick-lines");
    var next = fresh.querySelector(".pick-lines");
    if (pending && next && !pending.querySelector(".pick-line")) {
      pending.replaceWith(next);
      document.querySelector("[data-more-note]").replaceWith(fresh.querySelector("[data-more-note]"));
    }
    var allDone = fresh.querySelector("[data-all-done]");
    document.querySelector("[data-all-done]").hidden = allDone ? allDone.hidden : true;
  }
  var error = document.querySelector(".messages .error, .scan-result.error");
  if (error && navigator.vibrate) navigator.vibrate([80, 60, 80]);

  var cameraButton = form.querySelector("[data-camera]");
  var video = form.querySelector("[data-camera-view]");
  if (!cameraButton || !video || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  cameraButton.hidden = false;
  var stream = null;

  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true;
  }

  cameraButton.addEventListener("click", function () {
    if (stream) { stop(); return; }
    var detector = new window.BarcodeDetector();
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      video.play();
      (function look() {
        if (!stream) return;
        detector.detect(video).then(function (codes) {
          if (codes.length) {
            input.value = codes[0].rawValue;
            stop();
            form.requestSubmit();
          } else {
            setTimeout(look, 200);
          }
        }, function () { setTimeout(look, 400); });
      })();
    }, function () { stop(); });
  });
})();
