// Roster pages: reveal a masked number in place, progress of an import, upload size check.
// No inline scripts (CSP); everything works without this file too (plain form posts).
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function post(form) {
    return fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() }
    });
  }

  // Reveal: <form data-reveal> next to <span data-reveal-target="field">.
  document.querySelectorAll("form[data-reveal]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var field = form.querySelector('input[name="field"]').value;
      var holder = form.parentElement;
      post(form).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      }).then(function (data) {
        var target = holder.querySelector('[data-reveal-target="' + field + '"]');
        if (target) {
          target.textContent = data.value || "—";
          target.classList.add("ax-reg-revealed");
        }
        form.remove();
      }).catch(function () { form.submit(); });
    });
  });

  // Long imports: post in the background and poll the progress file.
  function format(template, done, total) {
    return template.replace("{done}", done.toLocaleString()).replace("{total}", total.toLocaleString());
  }

  document.querySelectorAll("form[data-import-progress]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.fetch) { return; }
      event.preventDefault();
      var box = form.querySelector("[data-progress]");
      var bar = form.querySelector("[data-progress-bar]");
      var text = form.querySelector("[data-progress-text]");
      var button = form.querySelector('button[type="submit"]');
      if (button) { button.disabled = true; }
      if (box) { box.classList.remove("d-none"); }
      if (text) { text.textContent = text.getAttribute("data-label-wait"); }
      var finished = false;
      function poll() {
        if (finished) { return; }
        fetch(form.getAttribute("data-import-progress"), {
          credentials: "same-origin", headers: { "Accept": "application/json" }
        }).then(function (r) { return r.ok ? r.json() : null; }).then(function (p) {
          if (p && p.phase && bar && text && !finished) {
            if (p.total) {
              var percent = Math.min(100, Math.round(100 * p.done / p.total));
              bar.style.width = percent + "%";
              bar.parentElement.setAttribute("aria-valuenow", String(percent));
              text.textContent = format(text.getAttribute("data-label-" + p.phase) || "", p.done, p.total);
            } else {
              // The file does not say how many rows it has: a moving bar and a count.
              bar.style.width = "100%";
              bar.parentElement.removeAttribute("aria-valuenow");
              text.textContent = format(text.getAttribute("data-label-count") || "", p.done, 0);
            }
          }
        }).catch(function () { /* the next poll tries again */ }).then(function () {
          if (!finished) { window.setTimeout(poll, 700); }
        });
      }
      window.setTimeout(poll, 400);
      post(form).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          finished = true;
          if (data.redirect) {
            if (bar) { bar.style.width = "100%"; }
            var target = new URL(data.redirect, window.location.href);
            if (target.pathname === window.location.pathname) {
              // Only the #anchor differs: assign() would not load the page again.
              window.location.hash = target.hash;
              window.location.reload();
            } else {
              window.location.assign(target.href);
            }
            return;
          }
          var message = (data.errors || []).join(" ") || ("Error " + response.status);
          var alert = document.createElement("div");
          alert.className = "alert alert-danger mt-2";
          alert.setAttribute("role", "alert");
          alert.textContent = message;
          form.appendChild(alert);
          if (box) { box.classList.add("d-none"); }
          if (button) { button.disabled = false; }
          form.dataset.submitted = "";
        });
      }).catch(function () {
        finished = true;
        form.dataset.submitted = "";
        form.submit();
      });
    });
  });

  // Refuse a file that is too large before uploading it.
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    input.addEventListener("change", function () {
      var max = parseInt(input.getAttribute("data-max-bytes"), 10);
      var file = input.files && input.files[0];
      input.setCustomValidity(file && file.size > max ? input.getAttribute("data-too-large") : "");
      input.reportValidity();
    });
  });
})();
