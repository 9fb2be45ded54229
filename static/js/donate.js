// Public donation pages: filter the school list, add and remove "other goods" rows.
// Everything works without this script: all schools are listed and the form has blank rows.
(function () {
  "use strict";

  // ---- /donate: the search box filters schools (and alliances by name) as you type.
  var search = document.querySelector("[data-donate-search]");
  if (search) {
    var input = search.querySelector("input");
    var groups = document.querySelectorAll("[data-donate-group]");
    var nomatch = document.querySelector("[data-donate-nomatch]");
    search.classList.remove("d-none");
    var fold = function (text) { return (text || "").toLowerCase().replace(/\s+/g, ""); };
    input.addEventListener("input", function () {
      var query = fold(input.value);
      var shown = 0;
      groups.forEach(function (group) {
        var groupHit = query && fold(group.getAttribute("data-search")).indexOf(query) !== -1;
        var visible = 0;
        group.querySelectorAll("[data-donate-school]").forEach(function (school) {
          var hit = !query || groupHit || fold(school.getAttribute("data-search")).indexOf(query) !== -1;
          school.classList.toggle("d-none", !hit);
          if (hit) visible += 1;
        });
        group.classList.toggle("d-none", visible === 0);
        shown += visible;
      });
      if (nomatch) nomatch.classList.toggle("d-none", shown > 0);
    });
  }

  // ---- the pledge form: "other goods" rows.
  var box = document.querySelector("[data-other-rows]");
  if (!box) return;
  var addButton = document.querySelector("[data-add-row]");
  var maxRows = parseInt(box.getAttribute("data-max-rows"), 10) || 20;

  function rows() { return box.querySelectorAll("[data-other-row]"); }

  // Rows are named other-0, other-1 …; the server reads them by index, so keep them in order.
  function renumber() {
    rows().forEach(function (row, index) {
      row.querySelectorAll("input, label").forEach(function (el) {
        ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(/^other-\d+/, "other-" + index));
        });
      });
      var error = row.querySelector(".ax-donate-row-error");
      if (error && error.id) error.id = error.id.replace(/^other-\d+/, "other-" + index);
    });
    var count = rows().length;
    if (addButton) addButton.disabled = count >= maxRows;
    rows().forEach(function (row) {
      var remove = row.querySelector("[data-remove-row]");
      if (remove) remove.classList.toggle("invisible", count <= 1);
    });
  }

  function clear(row) {
    row.querySelectorAll("input").forEach(function (el) {
      el.value = "";
      el.classList.remove("is-invalid");
      el.removeAttribute("aria-describedby");
    });
    var error = row.querySelector(".ax-donate-row-error");
    if (error) error.parentNode.removeChild(error);
  }

  box.querySelectorAll("[data-remove-row]").forEach(function (b) { b.classList.remove("d-none"); });
  box.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-row]");
    if (!button) return;
    var row = button.closest("[data-other-row]");
    if (rows().length > 1) {
      row.parentNode.removeChild(row);
    } else {
      clear(row);
    }
    renumber();
  });

  if (addButton) {
    addButton.classList.remove("d-none");
    addButton.addEventListener("click", function () {
      var all = rows();
      if (all.length >= maxRows) return;
      var row = all[all.length - 1].cloneNode(true);
      clear(row);
      box.appendChild(row);
      renumber();
      var first = row.querySelector("input");
      if (first) first.focus();
    });
  }
  renumber();
})();
