// Barcode scanners are keyboards: they type a barcode's characters, then Enter, into
// whatever has focus, at a speed of their own (a USB wedge in a few milliseconds, a
// Bluetooth one or a remote desktop far slower). On a scan page, a letter or digit typed
// where no text can go (a button, a tick box, a "not found" reason, the page itself) is
// typed in the scan box instead, so the scanner's Enter sends the scan. Left where it
// was, that Enter pressed the focused button: the previous patron's bag lent, another
// line marked found or missing. No key does anything there, so none is taken from anyone.
(function () {
  "use strict";
  function takesText(el) {
    return el && (el.isContentEditable || /^(TEXTAREA|SELECT)$/.test(el.tagName) ||
      (el.tagName === "INPUT" && !/^(checkbox|radio|submit|button|reset|image)$/.test(el.type)));
  }
  window.emporterScanBox = function (box) {
    if (!box) return;
    // Capturing: before the page's own keys, and before the key reaches the button.
    document.addEventListener("keydown", function (event) {
      var el = document.activeElement;
      if (el === box || takesText(el)) return;
      if (event.ctrlKey || event.metaKey || event.altKey || !/^[0-9A-Za-z]$/.test(event.key)) return;
      // Focused while the key is down, the box gets its character. Selected, what the box
      // still shows (a barcode refused earlier) is replaced, not added to.
      box.focus();
      box.select();
    }, true);
  };
})();
