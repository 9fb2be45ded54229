// Donations: the receiving form. Without JavaScript the form still works: it has five empty
// lines, and the server fills an empty expiry date from the item's shelf life.
(function () {
  "use strict";
  var form = document.querySelector("form.ax-don-receive");
  if (!form) return;
  var today = form.getAttribute("data-today");

  function addDays(isoDate, days) {
    var parts = isoDate.split("-");
    var date = new Date(Date.UTC(+parts[0], +parts[1] - 1, +parts[2] + days));
    return date.toISOString().slice(0, 10);
  }

  // Choosing an item with a shelf life proposes an expiry date, unless one was entered.
  form.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-item-select]")) return;
    var line = select.closest("[data-line]");
    if (!line) return;
    var expiry = line.querySelector("input[data-expiry]");
    var option = select.options[select.selectedIndex];
    var unit = line.querySelector("[data-unit-label]");
    if (unit) {
      unit.textContent = (option && option.getAttribute("data-unit")) || "";
      unit.classList.toggle("d-none", !unit.textContent);
    }
    var days = parseInt(option && option.getAttribute("data-shelf-life"), 10);
    if (expiry && days > 0 && today && (!expiry.value || expiry.dataset.proposed === "1")) {
      expiry.value = addDays(today, days);
      expiry.dataset.proposed = "1";
    }
  });
  form.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input[data-expiry]")) {
      event.target.dataset.proposed = "";
    }
  });

  // Walk-in and purchase forms: add and remove lines.
  var add = form.querySelector("[data-add-line]");
  var template = document.getElementById("line-template");
  var lines = form.querySelector("[data-lines]");
  if (!add || !template || !lines) return;
  var next = parseInt(add.getAttribute("data-next-index"), 10) || 0;
  var max = parseInt(add.getAttribute("data-max"), 10) || 200;

  function showRemoveButtons() {
    var rows = lines.querySelectorAll("[data-line]");
    rows.forEach(function (row) {
      var button = row.querySelector("[data-remove-line]");
      if (button) button.classList.toggle("d-none", rows.length <= 1);
    });
    add.disabled = rows.length >= max;
  }

  add.classList.remove("d-none");
  add.addEventListener("click", function () {
    if (lines.querySelectorAll("[data-line]").length >= max) return;
    var html = template.innerHTML.replace(/__index__/g, String(next));
    next += 1;
    lines.insertAdjacentHTML("beforeend", html);
    var added = lines.lastElementChild;
    var first = added && added.querySelector("select, input:not([type=hidden])");
    if (first) first.focus();
    showRemoveButtons();
  });
  lines.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-remove-line]");
    if (!button) return;
    var row = button.closest("[data-line]");
    if (row && lines.querySelectorAll("[data-line]").length > 1) row.remove();
    showRemoveButtons();
  });
  showRemoveButtons();
})();
