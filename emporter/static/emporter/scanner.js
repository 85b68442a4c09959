// Barcode scanners are keyboards: they type a barcode's characters, then Enter, into
// whatever has focus, at a speed of their own (a USB wedge a few milliseconds apart, a
// Bluetooth one or a remote desktop far slower, and unevenly). On a scan page, what is
// typed where no text goes (a button, a tick box, a "not found" reason, the page) goes
// to the scan box as soon as it is more than one key: at the second character, or at an
// Enter after a first one. Left to the focused button, that Enter lent the previous
// patron's bag or marked another line. A key pressed alone stays where it is (no
// one-key shortcut anyone would have to turn off: WCAG 2.1.4). In another text field (a
// "not found" line's details), keys stay unless they come as only a scanner types them
// (six or more, each within 80 ms, then Enter): that code is sent as a scan, not as the
// details of another line. A code starts with a letter or a digit; it may go on with
// any sign a barcode holds (PDI-0042, 31/000123).
(function () {
  "use strict";
  var RUN_MS = 1500;  // characters further apart than this are not typed together
  var CHARACTER = /^[\p{L}\p{N}]$/u;  // a letter (accented too) or a digit
  function goesOn(key) { return key.length === 1 && key !== " "; }  // a letter, digit or sign
  // Pressed with a character (a scanner holds Shift for capitals): no key of their own.
  var MODIFIER = /^(Shift|CapsLock|Control|Alt|AltGraph|Meta|Dead)$/;
  var SCANNER_MS = 80;
  var SCANNED_LENGTH = 6;
  function takesText(el) {
    return el && (el.isContentEditable || /^(TEXTAREA|SELECT)$/.test(el.tagName) ||
      (el.tagName === "INPUT" && !/^(checkbox|radio|submit|button|reset|image)$/.test(el.type)));
  }
  window.emporterScanBox = function (box) {
    if (!box) return;
    var typed = "";
    var typedAt = 0;
    var burst = "";  // typed in another text field as fast as a scanner
    var burstAt = 0;
    function scan(code) {
      box.value = code;
      box.focus();
      if (box.form.requestSubmit) box.form.requestSubmit();
      else box.form.submit();
    }
    function inField(event, field, now) {
      var fast = burst && now - burstAt < SCANNER_MS;
      if (!event.ctrlKey && !event.metaKey && !event.altKey && (fast ? goesOn(event.key) : CHARACTER.test(event.key))) {
        burst = fast ? burst + event.key : event.key;
        burstAt = now;
      } else if (event.key === "Enter" && burst.length >= SCANNED_LENGTH && now - burstAt < SCANNER_MS &&
                 field.value.slice(-burst.length) === burst) {
        event.preventDefault();
        field.value = field.value.slice(0, -burst.length);
        var code = burst;
        burst = "";
        scan(code);
      } else {
        burst = "";
      }
    }
    // Capturing: before the page's own keys, and before the key reaches the button.
    document.addEventListener("keydown", function (event) {
      if (MODIFIER.test(event.key)) return;
      var el = document.activeElement;
      // When the key was pressed, not when this page got round to it: a page busy
      // drawing a long list handles a scanner's keys late, and unevenly.
      var now = event.timeStamp;
      if (el !== box && takesText(el)) {
        typed = "";
        inField(event, el, now);
        return;
      }
      if (el === box || event.ctrlKey || event.metaKey || event.altKey) {
        typed = "";
        return;
      }
      if (now - typedAt > RUN_MS) typed = "";
      if (typed && goesOn(event.key)) {
        // The second key: the first joins it in the box, where this one is typed (the
        // box, focused while the key is down, gets it).
        box.value = typed;
        box.focus();
        typed = "";
      } else if (CHARACTER.test(event.key)) {
        typed = event.key;
        typedAt = now;
      } else if (event.key === "Enter" && typed) {
        event.preventDefault();
        var code = typed;
        typed = "";
        scan(code);
      } else {
        typed = "";
      }
    }, true);
  };
})();
