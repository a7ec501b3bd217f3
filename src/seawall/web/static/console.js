/* Seawall console keyboard shortcuts: an enhancement only; every page works without script.
 *
 * On a case page one key picks a decision and moves focus to its button, Enter confirms it:
 * the common decision (violating, labels pre-filled from the matched banks) is two key presses,
 * and the next case opens by itself. Keys are ignored while typing in a field.
 */
(function () {
  "use strict";
  var keys = {
    v: "#decide-violating", n: "#decide-not-violating", e: "#escalate",
    u: "#appeal-uphold", j: "#appeal-reject"
  };
  var clicks = { t: "#take", r: "#reveal", g: "#next-case" };

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function announce(text) {
    var live = document.getElementById("key-status");
    if (live) live.textContent = text;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    var key = ev.key.toLowerCase();
    if (key === "?") {
      var help = document.getElementById("shortcuts");
      if (help) { help.scrollIntoView({ block: "center" }); help.focus(); }
      return;
    }
    var target = keys[key] && document.querySelector(keys[key]);
    if (target) {
      ev.preventDefault();
      target.focus();
      target.scrollIntoView({ block: "center" });
      announce(target.textContent.trim() + ": press Enter to confirm, Escape to cancel");
      return;
    }
    var button = clicks[key] && document.querySelector(clicks[key]);
    if (button) {
      ev.preventDefault();
      button.click();
    }
  });

  document.documentElement.setAttribute("data-keys", "on");

  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && document.activeElement && document.activeElement.matches("button, a")) {
      document.activeElement.blur();
      announce("");
    }
  });
})();
