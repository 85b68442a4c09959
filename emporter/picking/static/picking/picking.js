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
  window.emporterScanBox(input);
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
      waiting.push(new FormData(form));
      input.value = "";
      input.focus();
      if (leaving) keepForReload();  // scanned while the page reloads: said on the next one
      else if (waiting.length === 1) sendNext();
      else showSending();
    }
  });
  var result = form.querySelector("[data-scan-result]");
  var lostBox = form.querySelector("[data-scan-lost]");
  var sending = form.querySelector("[data-scan-sending]");
  // The scans not answered yet, oldest first: the first one is on its way.
  var waiting = [];
  // Counts the scans sent: a refresh of the page started before the last one is dropped.
  var sent = 0;
  var leaving = false;
  // A request with no answer after this long is given up (the wifi dropped after
  // sending): a stalled scan would otherwise hold every later one behind it, unsaid.
  var TIME_LIMIT_MS = 10000;
  // The scans a reload would lose (see keepForReload): per page, in this tab only.
  var KEPT = "emporter-unsaved-scans:" + window.location.pathname;

  function sendNext() {
    showSending();
    if (!waiting.length) { scheduleRefresh(); return; }
    sent += 1;
    send(waiting[0]).catch(function (error) {
      window.setTimeout(function () { throw error; });  // a bug here must not stop the queue
      return false;
    }).then(function (reloading) {
      if (reloading) return;  // the page goes: the scans waiting were kept for the next one
      waiting.shift();
      sendNext();
    });
  }

  var sendingTimer = null;
  function showSending() {
    window.clearTimeout(sendingTimer);
    if (!waiting.length) { sending.hidden = true; return; }
    sending.textContent = sending.getAttribute("data-text") + (waiting.length > 1 ? " (" + waiting.length + ")" : "");
    // Not for a scan answered at once: the line would flicker at every scan.
    if (waiting.length > 1) sending.hidden = false;
    else if (sending.hidden) sendingTimer = window.setTimeout(function () { sending.hidden = false; }, 700);
  }

  // fetch, and read the body, within the time limit (where the browser can cancel a
  // request). Resolves to {response, text}; rejects when no whole answer came.
  function fetchWithin(url, options) {
    var timer = null;
    if (window.AbortController) {
      var controller = new AbortController();
      timer = window.setTimeout(function () { controller.abort(); }, TIME_LIMIT_MS);
      options.signal = controller.signal;
    }
    return fetch(url, options).then(function (response) {
      return response.text().then(function (text) { return { response: response, text: text }; });
    }).finally(function () { window.clearTimeout(timer); });
  }

  // Resolves to true when the page is being reloaded.
  function send(data) {
    var barcode = data.get("barcode");
    return fetchWithin(form.action, {
      method: "POST", body: data, credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (got) {
      var response = got.response;
      var body = null;
      if ((response.headers.get("Content-Type") || "").indexOf("json") >= 0) {
        try { body = JSON.parse(got.text); } catch (e) { body = null; }
      }
      if (body) {
        answered(barcode);
        show(body);
        return false;
      }
      // Signed out meanwhile (the sign-in page), or the form's token no longer valid (a
      // sign-in in another tab): the server did nothing. A reload shows why and brings a
      // valid token; the scans not saved are said on the page it brings.
      if (response.redirected || response.status === 403) {
        leaving = true;
        keepForReload();
        window.location.reload();
        return true;
      }
      lost(barcode, "data-no-answer");  // another page (a proxy's error): saved or not?
      return false;
    }, function () {
      // No answer: offline, cut off after sending, or past the time limit. The server
      // may have saved it all the same; scanned again, it is only said to be done.
      lost(barcode, navigator.onLine === false ? "data-offline" : "data-no-answer");
      return false;
    });
  }

  function message(attribute, barcode) {
    return form.getAttribute(attribute).replace("{barcode}", function () { return barcode; });
  }

  // A scan the server may not have: said at once, and kept in a list under the box
  // until that barcode is answered (the next scan's result does not replace it).
  function lost(barcode, attribute) {
    var text = message(attribute, barcode);
    show({ ok: false, message: text });
    keepLost(barcode, text);
  }

  function keepLost(barcode, text) {
    answered(barcode);
    var item = document.createElement("li");
    item.className = "error";
    item.setAttribute("data-barcode", barcode);
    item.textContent = text;
    lostBox.querySelector("ul").append(item);
    lostBox.hidden = false;
  }

  function answered(barcode) {
    lostBox.querySelectorAll("li").forEach(function (item) {
      if (item.getAttribute("data-barcode") === barcode) item.remove();
    });
    lostBox.hidden = !lostBox.querySelector("li");
  }

  function keepForReload() {
    var kept = [];
    lostBox.querySelectorAll("li").forEach(function (item) {
      kept.push([item.getAttribute("data-barcode"), item.textContent]);
    });
    waiting.forEach(function (data) {
      kept.push([data.get("barcode"), message("data-not-saved", data.get("barcode"))]);
    });
    try { window.sessionStorage.setItem(KEPT, JSON.stringify(kept)); } catch (e) { /* storage refused */ }
  }

  // After such a reload: the scans not saved go in the list, and are said.
  (function restore() {
    if (!lostBox) return;  // a scan page that does not send in the background
    var kept;
    try {
      kept = JSON.parse(window.sessionStorage.getItem(KEPT) || "[]");
      window.sessionStorage.removeItem(KEPT);
    } catch (e) { return; }
    if (!kept.length) return;
    // One line per barcode, its last word: a scan lost, scanned again, then caught by
    // the reload was said twice, with two verdicts.
    var last = {}, order = [];
    kept.forEach(function (entry) {
      if (!(entry[0] in last)) order.push(entry[0]);
      last[entry[0]] = entry[1];
    });
    order.forEach(function (barcode) { keepLost(barcode, last[barcode]); });
    var text = order.map(function (barcode) { return last[barcode]; }).join(" ");
    result.className = "scan-result error";
    result.textContent = text;
    // A live region filled with the page is often not read out: said once the page is in.
    window.addEventListener("load", function () {
      window.setTimeout(function () { if (window.emporterAnnounce) window.emporterAnnounce(text, true); }, 600);
    });
  })();

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

  // Once the scans queued so far are answered (refused or lost ones too: one may have
  // come right after the last card shown), the page takes the server's own view of the
  // tabs and done lines (final bag, a line that was not on this page), and the next
  // lines of the walk when the ones shown are all marked. Nothing is replaced that the
  // picker may be using: the pending cards stay unless none is left. A scan sent
  // meanwhile drops this refresh: the next one will come after it.
  function scheduleRefresh() {
    var mark = sent;
    fetchWithin(window.location.href, { credentials: "same-origin" }).then(function (got) {
      // Not the sign-in page (signed out meanwhile): the next scan will say so.
      if (!got.response.ok || got.response.redirected || mark !== sent || waiting.length) return;
      swapIn(new DOMParser().parseFromString(got.text, "text/html"));
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
