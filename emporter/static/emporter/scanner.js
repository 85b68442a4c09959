// Barcode scanners are keyboards: they type a barcode's characters, then Enter, into
// whatever has focus, at a speed of their own (a USB wedge a few milliseconds apart, a
// Bluetooth one or a remote desktop up to a hundred or more). On a scan page, what is
// typed where no text goes (a button, a tick box, a "not found" reason, the page) is a
// scan as soon as it is one:
// - a second character typed fast after the first: both go on in the scan box;
// - an Enter right after characters typed at a scanner's pace, however slow (up to a
//   quarter of a second apart): they are sent as a scan. Left to the focused button,
//   that Enter lent the previous patron's bag or marked another line.
// A key pressed alone stays where it is (no one-key shortcut anyone would have to turn
// off: WCAG 2.1.4). In another text field (a "not found" line's details), keys stay
// unless they come as only a scanner types them (six or more, each within 80 ms, then
// Enter): that code is sent as a scan, not as the details of another line.
(function () {
  "use strict";
  var FAST_MS = 150;  // faster than people type two keys, slower than any scanner
  var RUN_MS = 250;  // characters further apart than this are not one scan
  var CHARACTER = /^[\p{L}\p{N}]$/u;  // a letter (accented too) or a digit
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
      if (CHARACTER.test(event.key) && !event.ctrlKey && !event.metaKey && !event.altKey) {
        burst = now - burstAt < SCANNER_MS ? burst + event.key : event.key;
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
      var el = document.activeElement;
      var now = Date.now();
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
      if (CHARACTER.test(event.key)) {
        if (typed && now - typedAt < FAST_MS) {
          // Focused while the key is down, the box gets this character after the others.
          box.value = typed;
          box.focus();
          typed = "";
        } else {
          typed += event.key;
        }
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
