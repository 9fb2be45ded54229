// The 爱心超市 counter: a keyboard-wedge scanner (fast keys ending in Enter), the camera
// (qr-scanner, vendored) or the code box finds the card; the cart is confirmed once per
// Idempotency-Key. No inline code (CSP).
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
    if (camera.wanted) openCamera(); // the camera was in use: ready for the next child
  }

  // The photo beside the name, or the name's first character in a circle.
  var photoTurn = 0;
  function showPhoto(student, code) {
    var img = $("counter-photo"), initial = $("counter-initial");
    var turn = ++photoTurn;
    initial.textContent = Array.from(student.name || "")[0] || "";
    img.classList.add("d-none");
    initial.classList.remove("d-none");
    img.removeAttribute("src");
    // An answer without the field (an older server) may still have a photo at the usual place.
    var url = "photo_url" in student
      ? student.photo_url
      : data.urls.photo.replace("CODE", encodeURIComponent(code));
    if (!url) return;
    img.onload = function () {
      if (turn !== photoTurn) return;
      img.classList.remove("d-none");
      initial.classList.add("d-none");
    };
    img.onerror = function () {
      if (turn !== photoTurn) return;
      img.classList.add("d-none");
      initial.classList.remove("d-none");
    };
    img.src = url;
  }

  // Resolves true when the card was found (the sale screen is shown), false otherwise.
  function lookUp(code) {
    code = (code || "").trim();
    if (!code || state.busy) return Promise.resolve(false);
    clearError();
    state.busy = true;
    return api("GET", data.urls.card.replace("CODE", encodeURIComponent(code))).then(function (res) {
      state.busy = false;
      if (!res.ok) { showError(errorMessage(res.status, res.body)); return false; }
      if (camera.open) closeCamera(true); // serving this child; reopened at "next child"
      state = { code: code, student: res.body, cart: {}, key: null, busy: false, done: false };
      $("counter-name").textContent = res.body.name;
      $("counter-class").textContent = res.body.class_name || T.no_class;
      $("counter-balance").textContent = res.body.balance;
      showPhoto(res.body, code);
      show(sale);
      render();
      return true;
    }, function () { state.busy = false; showError(T.network); return false; });
  }

  // Every scanner (USB, camera) ends here. Mid-cart a stray scan is ignored.
  function scanned(code) {
    if (state.student && !state.done && Object.keys(state.cart).length) {
      return Promise.resolve(false);
    }
    return lookUp(code);
  }

  // ---- The camera: the second way to scan. qr-scanner uses the browser's BarcodeDetector or
  // its worker (served from /static: CSP worker-src 'self'). Cameras need a secure context
  // (HTTPS, or localhost); qr-scanner reports every failure alike, so the reason is asked after.
  var camera = { scanner: null, wanted: false, open: false, badCode: null, badAt: 0 };
  var cameraPanel = $("counter-camera"), cameraMessage = $("counter-camera-message");
  var cameraOpenBtn = $("counter-camera-open");

  function cameraSay(message) {
    cameraMessage.textContent = message || "";
    cameraMessage.classList.toggle("d-none", !message);
  }

  function closeCamera(keepWanted) {
    if (!keepWanted) camera.wanted = false;
    camera.open = false;
    if (camera.scanner) camera.scanner.stop();
    cameraPanel.classList.add("d-none");
    cameraOpenBtn.classList.remove("d-none");
  }

  function cameraFailure() {
    var permission = navigator.permissions && navigator.permissions.query
      ? navigator.permissions.query({ name: "camera" }).then(function (s) { return s.state; },
        function () { return "unknown"; })
      : Promise.resolve("unknown");
    var cameras = navigator.mediaDevices.enumerateDevices
      ? navigator.mediaDevices.enumerateDevices().then(function (devices) {
        return devices.filter(function (d) { return d.kind === "videoinput"; }).length;
      }, function () { return -1; })
      : Promise.resolve(-1);
    return Promise.all([permission, cameras]).then(function (found) {
      if (found[0] === "denied") return T.camera_denied;
      if (found[1] === 0) return T.camera_none;
      return T.camera_failed;
    });
  }

  function onDecode(result) {
    var code = ((result && result.data) || "").trim();
    if (!code || !camera.open || state.busy) return;
    if (code === camera.badCode && Date.now() - camera.badAt < 3000) return; // still in view
    closeCamera(true);
    scanned(code).then(function (found) {
      if (found) return;
      camera.badCode = code;
      camera.badAt = Date.now();
      if (camera.wanted && !state.student) openCamera(); // try the next card
    });
  }

  function openCamera() {
    if (camera.open) return;
    camera.wanted = false;
    if (!window.isSecureContext) { cameraSay(T.camera_insecure); return; }
    if (!window.QrScanner || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraSay(T.camera_unsupported);
      return;
    }
    camera.open = true;
    camera.wanted = true;
    cameraSay(T.camera_starting);
    cameraOpenBtn.classList.add("d-none");
    cameraPanel.classList.remove("d-none"); // visible before the scanner is made (Safari)
    if (!camera.scanner) {
      camera.scanner = new window.QrScanner($("counter-video"), onDecode, {
        returnDetailedScanResult: true,
        preferredCamera: "environment",
        maxScansPerSecond: 10
      });
    }
    camera.scanner.start().then(function () {
      if (camera.open) cameraSay("");
    }, function () {
      closeCamera(false);
      return cameraFailure().then(cameraSay);
    });
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

  // The server's time in the school's zone, as sent ("2026-12-05T12:31:07+08:00"), never the
  // browser's clock; only an answer without it (an older server) falls back to the clock.
  function slipTime(createdAt) {
    var match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(createdAt || "");
    if (match) return match[1] + " " + match[2];
    var now = new Date();
    var two = function (n) { return ("0" + n).slice(-2); };
    return now.getFullYear() + "-" + two(now.getMonth() + 1) + "-" + two(now.getDate()) + " " +
      two(now.getHours()) + ":" + two(now.getMinutes()) + ":" + two(now.getSeconds());
  }

  function printSlip(answer) {
    state.done = true;
    $("slip-name").textContent = state.student.name;
    $("slip-class").textContent = state.student.class_name || "";
    $("slip-time").textContent = slipTime(answer.created_at);
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
    if (target.closest("#counter-camera-open")) { clearError(); openCamera(); return; }
    if (target.closest("#counter-camera-close")) { closeCamera(false); cameraSay(""); return; }
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
        scanned(code);
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
