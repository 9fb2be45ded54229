// The 爱心超市 counter: a keyboard-wedge scanner (fast keys ending in Enter) or the code box
// finds the card; the cart is confirmed once per Idempotency-Key. No inline code (CSP).
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // Today's checkouts: Void (reason asked) through the counter API; the day close: Print.
  var voidData = document.getElementById("counter-void-data");
  if (voidData) {
    var VT = JSON.parse(voidData.textContent);
    document.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("[data-void-url]");
      if (!button || button.disabled) return;
      var reason = window.prompt(VT.ask, "");
      if (reason === null || !reason.trim()) return;
      button.disabled = true;
      fetch(button.getAttribute("data-void-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify({ reason: reason.trim() })
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.ok) { window.location.reload(); return; }
          var box = document.getElementById("counter-error");
          box.textContent = (body.error && body.error.message) || VT.error;
          box.classList.remove("d-none");
          button.disabled = false;
        });
      }, function () { button.disabled = false; });
    });
  }
  var dataEl = document.getElementById("counter-data");
  if (!dataEl) {
    document.addEventListener("click", function (event) {
      if (event.target.closest && event.target.closest("[data-counter-print]")) window.print();
    });
    return;
  }
  var data = JSON.parse(dataEl.textContent);
  var T = data.text;
  var items = {};
  data.items.forEach(function (item) { items[item.id] = item; });

  var $ = function (id) { return document.getElementById(id); };
  var scanBox = $("counter-scan"), sale = $("counter-sale"), slip = $("counter-slip");
  var errorBox = $("counter-error"), confirmBtn = $("counter-confirm"), codeInput = $("counter-code");

  var state = { code: null, student: null, cart: {}, key: null, busy: false, done: false };

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.classList.remove("d-none");
  }
  function clearError() { errorBox.classList.add("d-none"); errorBox.textContent = ""; }

  function errorMessage(status, body) {
    var error = (body && body.error) || {};
    if (status === 404) return T.unknown_card;
    if (error.code === "limit_exceeded" && error.message) return error.message;
    return T[error.code] || error.message || T.error;
  }

  function api(method, url, payload, headers) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: Object.assign({ "Accept": "application/json", "X-CSRFToken": csrf }, headers || {})
    };
    if (payload) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { status: response.status, ok: response.ok, body: body };
      });
    });
  }

  function total() {
    var sum = 0;
    Object.keys(state.cart).forEach(function (id) { sum += items[id].points * state.cart[id]; });
    return sum;
  }

  function show(section) {
    [scanBox, sale, slip].forEach(function (el) { el.classList.toggle("d-none", el !== section); });
  }

  function render() {
    if (!state.student) return;
    var left = state.student.balance - total();
    $("counter-total").textContent = total();
    $("counter-left").textContent = left;
    document.querySelectorAll(".ax-counter-item").forEach(function (button) {
      var item = items[button.getAttribute("data-item-id")];
      var inCart = state.cart[item.id] || 0;
      var blocked = item.points > left || inCart >= item.on_hand;
      button.disabled = blocked;
      button.classList.toggle("ax-unaffordable", blocked);
    });
    var list = $("counter-cart");
    list.textContent = "";
    var ids = Object.keys(state.cart);
    if (!ids.length) {
      var empty = document.createElement("li");
      empty.className = "list-group-item text-muted";
      empty.textContent = T.empty;
      list.appendChild(empty);
    }
    ids.forEach(function (id) {
      var item = items[id], qty = state.cart[id];
      var li = document.createElement("li");
      li.className = "list-group-item d-flex justify-content-between align-items-center gap-2";
      var label = document.createElement("span");
      label.textContent = item.name + " × " + qty + " = " + item.points * qty + " " + T.points;
      var group = document.createElement("span");
      group.className = "btn-group btn-group-sm";
      [["−", -1, T.remove], ["+", 1, T.add]].forEach(function (spec) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "btn btn-outline-secondary";
        b.textContent = spec[0];
        b.setAttribute("aria-label", spec[2] + " " + item.name);
        b.setAttribute("data-cart-item", id);
        b.setAttribute("data-cart-step", spec[1]);
        if (spec[1] > 0 && (item.points > left || qty >= item.on_hand)) b.disabled = true;
        group.appendChild(b);
      });
      li.appendChild(label);
      li.appendChild(group);
      list.appendChild(li);
    });
    confirmBtn.disabled = state.busy || !ids.length || left < 0;
  }

  function changeCart(id, step) {
    if (state.busy) return;
    var qty = (state.cart[id] || 0) + step;
    if (qty <= 0) delete state.cart[id]; else state.cart[id] = qty;
    state.key = null; // a different cart is a different request
    render();
  }

  function reset() {
    state = { code: null, student: null, cart: {}, key: null, busy: false, done: false };
    clearError();
    codeInput.value = "";
    show(scanBox);
  }

  function lookUp(code) {
    code = (code || "").trim();
    if (!code || state.busy) return;
    clearError();
    state.busy = true;
    api("GET", data.urls.card.replace("CODE", encodeURIComponent(code))).then(function (res) {
      state.busy = false;
      if (!res.ok) { showError(errorMessage(res.status, res.body)); return; }
      state = { code: code, student: res.body, cart: {}, key: null, busy: false, done: false };
      $("counter-name").textContent = res.body.name;
      $("counter-class").textContent = res.body.class_name || T.no_class;
      $("counter-balance").textContent = res.body.balance;
      show(sale);
      render();
    }, function () { state.busy = false; showError(T.network); });
  }

  function confirmCart() {
    if (state.busy || !state.student || !Object.keys(state.cart).length) return;
    clearError();
    if (!state.key) state.key = newKey(); // kept across retries of this cart
    state.busy = true;
    confirmBtn.disabled = true;
    var lines = Object.keys(state.cart).map(function (id) {
      return { item_id: Number(id), quantity: state.cart[id] };
    });
    api("POST", data.urls.redeem, { card_code: state.code, lines: lines },
        { "Idempotency-Key": state.key }).then(function (res) {
      state.busy = false;
      if (!res.ok) { showError(errorMessage(res.status, res.body)); render(); return; }
      printSlip(res.body);
    }, function () { state.busy = false; showError(T.network); render(); });
  }

  function printSlip(answer) {
    state.done = true;
    $("slip-name").textContent = state.student.name;
    $("slip-class").textContent = state.student.class_name || "";
    $("slip-time").textContent = new Date().toLocaleString(document.documentElement.lang || undefined);
    $("slip-no").textContent = answer.id;
    var body = $("slip-lines");
    body.textContent = "";
    answer.lines.forEach(function (line) {
      var item = items[line.item_id] || { name: "#" + line.item_id };
      var tr = document.createElement("tr");
      [item.name, line.quantity, line.points].forEach(function (value, index) {
        var td = document.createElement("td");
        if (index) td.className = "text-end";
        td.textContent = value;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    $("slip-total").textContent = answer.points_spent;
    $("slip-balance").textContent = answer.balance_after;
    answer.lines.forEach(function (line) {
      if (items[line.item_id]) items[line.item_id].on_hand -= line.quantity;
    });
    show(slip);
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : null;
    if (!target) return;
    var item = target.closest(".ax-counter-item");
    if (item && !item.disabled) { changeCart(item.getAttribute("data-item-id"), 1); return; }
    var step = target.closest("[data-cart-step]");
    if (step) {
      changeCart(step.getAttribute("data-cart-item"), Number(step.getAttribute("data-cart-step")));
      return;
    }
    if (target.closest("#counter-confirm")) { confirmCart(); return; }
    if (target.closest("[data-counter-next]")) { reset(); return; }
    if (target.closest("[data-counter-print]")) { window.print(); }
  });

  $("counter-manual").addEventListener("submit", function (event) {
    event.preventDefault();
    event.stopPropagation();
    lookUp(codeInput.value);
  });

  // The scanner types fast (< 50 ms a key) and ends with Enter; people type slower.
  var buffer = "", last = 0;
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { if (!state.busy) reset(); return; }
    var now = Date.now();
    var fast = now - last < 50;
    last = now;
    if (event.key === "Enter") {
      if (buffer.length >= 4 && fast) {
        event.preventDefault();
        var code = buffer;
        buffer = "";
        if (document.activeElement === codeInput) codeInput.value = "";
        if (state.student && !state.done && Object.keys(state.cart).length) return; // mid-cart
        lookUp(code);
        return;
      }
      buffer = "";
      return;
    }
    if (event.key.length !== 1) return;
    buffer = fast ? buffer + event.key : event.key;
    if (buffer.length > 60) buffer = buffer.slice(-60);
  }, true);

  render();
})();
