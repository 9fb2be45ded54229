// Aid pages: suggest a programme's default amount, show the helper field a pairing kind needs,
// "choose all" checkboxes. No inline scripts (CSP); everything works without JavaScript too.
(function () {
  "use strict";

  // Grant form: <form data-amount-hints='{"programme id": {"primary_boarding": 125000, ...}}'>
  var grantForm = document.querySelector("form[data-amount-hints]");
  if (grantForm) {
    var hints = {};
    try { hints = JSON.parse(grantForm.getAttribute("data-amount-hints") || "{}"); } catch (e) { hints = {}; }
    var programme = grantForm.querySelector("select[name=programme_id]");
    var student = grantForm.querySelector("select[data-aid-student]");
    var amount = grantForm.querySelector("input[name=amount]");
    var suggested = "";
    var suggest = function () {
      if (!programme || !student || !amount) return;
      var option = student.options[student.selectedIndex];
      var stage = option ? option.getAttribute("data-stage") : "";
      var fen = (hints[programme.value] || {})[stage];
      if (amount.value === "" || amount.value === suggested) {
        suggested = fen ? (fen / 100).toFixed(2) : "";
        amount.value = suggested;
      }
    };
    if (programme) programme.addEventListener("change", suggest);
    if (student) student.addEventListener("change", suggest);
  }

  // Pairing form: show only the helper field of the chosen kind.
  var pairingForm = document.querySelector("form[data-pairing-form]");
  if (pairingForm) {
    var kind = pairingForm.querySelector("select[name=kind]");
    var show = function () {
      pairingForm.querySelectorAll("[data-helper-for]").forEach(function (box) {
        var kinds = box.getAttribute("data-helper-for").split(" ");
        box.hidden = kinds.indexOf(kind.value) === -1;
      });
    };
    if (kind) { kind.addEventListener("change", show); show(); }
  }

  // <input type=checkbox data-check-all="name"> toggles every checkbox named "name".
  document.querySelectorAll("input[data-check-all]").forEach(function (all) {
    var name = all.getAttribute("data-check-all");
    all.addEventListener("change", function () {
      document.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (box) {
        box.checked = all.checked;
      });
    });
  });
})();
