// Inventory pages: print the count sheet, confirm before finalising a stocktake, and show the
// item list of a new stocktake only when "only the items I choose" is picked. No inline scripts.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var printer = event.target.closest && event.target.closest("[data-print]");
    if (printer) {
      window.print();
      return;
    }
    // A submit button that asks first (the form may have other buttons that do not).
    var button = event.target.closest && event.target.closest("button[data-confirm-click]");
    if (button && !window.confirm(button.getAttribute("data-confirm-click"))) {
      event.preventDefault();
    }
  });

  var scopes = document.querySelectorAll("input[data-stocktake-scope]");
  var items = document.querySelector("[data-stocktake-items]");
  if (scopes.length && items) {
    var update = function () {
      var chosen = document.querySelector("input[data-stocktake-scope]:checked");
      items.classList.toggle("d-none", !chosen || chosen.value !== "chosen");
    };
    scopes.forEach(function (input) { input.addEventListener("change", update); });
    update();
  }
})();
