// Users: show the alliance or the school field only for the roles that need it.
// Without JavaScript both stay visible and the server ignores the one the role does not use.
(function () {
  "use strict";
  var role = document.querySelector("select[name='role']");
  if (!role) return;
  var parts = document.querySelectorAll("[data-scope-for]");
  function update() {
    parts.forEach(function (part) {
      var roles = part.getAttribute("data-scope-for").split(" ");
      part.classList.toggle("d-none", roles.indexOf(role.value) === -1);
    });
  }
  role.addEventListener("change", update);
  update();
})();
