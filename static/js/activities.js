// Activities: tick boxes with "select all" and a count, the activity form's kind → type,
// the verify form's hours box. No inline scripts (CSP); the pages work without this file.
(function () {
  "use strict";

  function rosterOf(el) { return el.closest("[data-roster]"); }

  function refresh(roster) {
    var picks = roster.querySelectorAll("input[data-pick]:not(:disabled)");
    var ticked = roster.querySelectorAll("input[data-pick]:checked:not(:disabled)");
    var count = roster.querySelector("[data-pick-count]");
    if (count) count.textContent = String(ticked.length);
    var all = roster.querySelector("input[data-select-all]");
    if (all) {
      all.checked = picks.length > 0 && ticked.length === picks.length;
      all.indeterminate = ticked.length > 0 && ticked.length < picks.length;
    }
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!el.matches) return;
    if (el.matches("input[data-select-all]")) {
      var roster = rosterOf(el);
      roster.querySelectorAll("input[data-pick]:not(:disabled)").forEach(function (box) {
        box.checked = el.checked;
      });
      refresh(roster);
    } else if (el.matches("input[data-pick]")) {
      refresh(rosterOf(el));
    }
  });

  document.querySelectorAll("[data-roster]").forEach(refresh);

  // The activity form: only the types of the chosen kind; a team only for volunteer service.
  var form = document.querySelector("[data-activity-form]");
  if (form) {
    var kind = form.querySelector("select[name=kind]");
    var type = form.querySelector("select[data-type-select]");
    var teamBox = form.querySelector("[data-volunteer-only]");
    var sync = function () {
      var current = kind.value;
      type.querySelectorAll("optgroup").forEach(function (group) {
        var on = group.getAttribute("data-kind") === current;
        group.disabled = !on;
        group.hidden = !on;
      });
      var selected = type.options[type.selectedIndex];
      if (!selected || selected.parentNode.getAttribute("data-kind") !== current) {
        var first = type.querySelector("optgroup[data-kind='" + current + "'] option");
        if (first) first.selected = true;
      }
      if (teamBox) teamBox.hidden = current !== "volunteer";
    };
    kind.addEventListener("change", sync);
    sync();
  }

  // The verify form: the hours box only for "approve fewer hours".
  document.querySelectorAll("[data-verify-form]").forEach(function (verify) {
    var decision = verify.querySelector("select[name=decision]");
    var box = verify.querySelector("[data-hours-box]");
    var sync = function () { box.hidden = decision.value !== "partial"; };
    decision.addEventListener("change", sync);
    sync();
  });
})();
