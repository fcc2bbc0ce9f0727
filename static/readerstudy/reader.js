/* Readerstudy case page: image zoom and pan, condition search, keyboard shortcuts, timing, submit.
 * Vanilla JS, no inline scripts (CSP). The server is authoritative for everything that is stored:
 * the times sent from here are hints it clamps, and it decides whether a case timed out. */
(function () {
  "use strict";

  var MAX_SCALE = 8;
  var state = { conditions: null, loading: null, activeSlot: 0, timer: null };
  // Schedule items already submitted automatically (time up) in this tab: never a second time,
  // whatever the server answered (kept across reloads in sessionStorage).
  var autoSent = new Set(readJSON("readerstudy:auto-sent", []));
  var RETRY_DELAYS_MS = [600, 1500, 3500];  // a 503 or a lost connection is retried with the same key
  var DRAFT_DELAY_MS = 1200;

  // --- words and times in the reader's language (JavaScriptCatalog at /jsi18n/, loaded first) ----------
  function gettext(msg) { return window.django && window.django.gettext ? window.django.gettext(msg) : msg; }
  function interpolate(text, obj) {
    return text.replace(/%\((\w+)\)s/g, function (m, name) { return String(obj[name]); });
  }
  var LOCALE = document.documentElement.lang || undefined;
  function fmt(msg, values) { return interpolate(msg, values, true); }
  // The browser's time zone, for the pages the server renders (readerstudy.language.TimezoneMiddleware).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) document.cookie = "readerstudy_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
  } catch (err) { /* no Intl: the server shows UTC */ }

  // --- small helpers ----------------------------------------------------------------------------
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }
  function norm(s) {
    return String(s || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  function isTyping(el) {
    if (!el) return false;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || el.isContentEditable) return true;
    return tag === "INPUT" && /^(text|search|number|email|password)$/.test(el.type);
  }
  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function readJSON(key, fallback) {
    try {
      var raw = window.sessionStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) { return fallback; }
  }
  function writeJSON(key, value) {
    try { window.sessionStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }

  // --- htmx: show validation errors (422) and refusals (409) in place; 5xx never replaces the form --
  if (window.htmx) {
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "409|422", swap: true, error: false },
      { code: "[45]..", swap: false, error: true },
      { code: "...", swap: false }
    ];
  }

  // --- timing: first input and visible time, per case ----------------------------------------------
  var timing = { offset: 0, firstInput: null, activeMs: 0, visibleSince: null };

  function timingStart(root) {
    var serverNow = Number(root.getAttribute("data-server-now")) || Date.now();
    timing.offset = serverNow - Date.now();
    timing.firstInput = null;
    timing.activeMs = 0;
    timing.visibleSince = document.visibilityState === "visible" ? performance.now() : null;
  }
  function activeMs() {
    var ms = timing.activeMs;
    if (timing.visibleSince !== null) ms += performance.now() - timing.visibleSince;
    return Math.round(ms);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      if (timing.visibleSince === null) timing.visibleSince = performance.now();
    } else if (timing.visibleSince !== null) {
      timing.activeMs += performance.now() - timing.visibleSince;
      timing.visibleSince = null;
    }
  });
  function noteInput() {
    if (timing.firstInput === null) timing.firstInput = Date.now() + timing.offset;
  }

  // --- image viewers --------------------------------------------------------------------------------
  function Viewer(el, opts) {
    this.el = el;
    this.img = el.querySelector("img");
    this.opts = opts || {};
    this.s = 1; this.x = 0; this.y = 0;
    this.pointers = new Map();
    this.moved = false;
    this.pinch = null;
    this.bind();
  }
  Viewer.prototype.apply = function () {
    this.img.style.transform = "translate(" + this.x + "px," + this.y + "px) scale(" + this.s + ")";
    this.el.classList.toggle("zoomed", this.s > 1.001);
  };
  Viewer.prototype.clampPan = function () {
    var r = this.el.getBoundingClientRect();
    var mx = (this.s - 1) * r.width / 2, my = (this.s - 1) * r.height / 2;
    this.x = clamp(this.x, -mx, mx); this.y = clamp(this.y, -my, my);
  };
  Viewer.prototype.zoomAt = function (factor, cx, cy) {
    var ns = clamp(this.s * factor, 1, MAX_SCALE), k = ns / this.s;
    this.x = cx - (cx - this.x) * k; this.y = cy - (cy - this.y) * k; this.s = ns;
    if (ns === 1) { this.x = 0; this.y = 0; }
    this.clampPan(); this.apply();
    if (ns > 1) this.loadFull();
  };
  Viewer.prototype.zoomCenter = function (factor) { this.zoomAt(factor, 0, 0); };
  Viewer.prototype.pan = function (dx, dy) { this.x += dx; this.y += dy; this.clampPan(); this.apply(); };
  Viewer.prototype.reset = function () { this.s = 1; this.x = 0; this.y = 0; this.apply(); };
  Viewer.prototype.loadFull = function () {
    var img = this.img, full = img.getAttribute("data-full");
    if (!full || img.getAttribute("data-full-loaded") === full) return;
    img.setAttribute("data-full-loaded", full);
    var pre = new Image();
    pre.onload = function () { if (img.getAttribute("data-full") === full) img.src = full; };
    pre.src = full;
  };
  Viewer.prototype.rel = function (e) {
    var r = this.el.getBoundingClientRect();
    return { x: e.clientX - r.left - r.width / 2, y: e.clientY - r.top - r.height / 2 };
  };
  Viewer.prototype.bind = function () {
    var v = this, el = this.el;
    el.addEventListener("wheel", function (e) {
      e.preventDefault();
      var p = v.rel(e);
      v.zoomAt(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0018)), p.x, p.y);
    }, { passive: false });
    el.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) return;
      el.setPointerCapture(e.pointerId);
      v.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      v.moved = false;
      if (v.pointers.size === 2) {
        var pts = Array.from(v.pointers.values());
        v.pinch = { d: Math.hypot(pts[0].x - pts[1].x, pts[0].y - pts[1].y) };
      }
      if (v.opts.onFocus) v.opts.onFocus();
    });
    el.addEventListener("pointermove", function (e) {
      var prev = v.pointers.get(e.pointerId);
      if (!prev) return;
      var cur = { x: e.clientX, y: e.clientY };
      v.pointers.set(e.pointerId, cur);
      if (v.pointers.size === 2 && v.pinch) {
        var pts = Array.from(v.pointers.values());
        var d = Math.hypot(pts[0].x - pts[1].x, pts[0].y - pts[1].y);
        var mid = v.rel({ clientX: (pts[0].x + pts[1].x) / 2, clientY: (pts[0].y + pts[1].y) / 2 });
        if (v.pinch.d > 0) v.zoomAt(d / v.pinch.d, mid.x, mid.y);
        v.pinch.d = d; v.moved = true;
        return;
      }
      var dx = cur.x - prev.x, dy = cur.y - prev.y;
      if (Math.abs(dx) + Math.abs(dy) > 0) {
        if (v.s > 1) v.pan(dx, dy);
        if (Math.hypot(e.clientX - (v.downAt || cur).x, e.clientY - (v.downAt || cur).y) > 4) v.moved = true;
      }
    });
    el.addEventListener("pointerdown", function (e) { v.downAt = { x: e.clientX, y: e.clientY }; });
    function up(e) {
      var wasSingle = v.pointers.size === 1;
      v.pointers.delete(e.pointerId);
      if (v.pointers.size < 2) v.pinch = null;
      if (e.type === "pointerup" && wasSingle && !v.moved && v.opts.onClick) v.opts.onClick(e);
    }
    el.addEventListener("pointerup", up);
    el.addEventListener("pointercancel", up);
    el.addEventListener("keydown", function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      var step = 60, handled = true;
      switch (e.key) {
        case "+": case "=": v.zoomCenter(1.25); break;
        case "-": case "_": v.zoomCenter(0.8); break;
        case "0": v.reset(); break;
        case "ArrowLeft": v.pan(step, 0); break;
        case "ArrowRight": v.pan(-step, 0); break;
        case "ArrowUp": v.pan(0, step); break;
        case "ArrowDown": v.pan(0, -step); break;
        case "Enter": case "f": if (v.opts.onEnter) v.opts.onEnter(); else handled = false; break;
        default: handled = false;
      }
      if (handled) e.preventDefault();
    });
    el.addEventListener("focus", function () { if (v.opts.onFocus) v.opts.onFocus(); });
    this.img.addEventListener("load", function () { v.maybeSharpen(); });
  };
  // Thumbnails are small: load the full image when the frame shows it larger than the thumbnail.
  Viewer.prototype.maybeSharpen = function () {
    var r = this.el.getBoundingClientRect(), n = this.img.naturalWidth;
    if (n && r.width * (window.devicePixelRatio || 1) > n * 1.1) this.loadFull();
  };

  var lightbox = null;
  function openLightbox(src, full, label) {
    if (!lightbox) {
      var dlg = document.createElement("dialog");
      dlg.className = "lightbox";
      dlg.setAttribute("aria-label", gettext("Full-screen image"));
      dlg.innerHTML = '<div class="lightbox-bar"><span class="lightbox-label"></span>' +
        '<span class="lightbox-help"></span>' +
        '<button type="button" class="lightbox-close"></button></div>' +
        '<div class="viewer lightbox-viewer" tabindex="0"><img alt="" draggable="false"></div>';
      dlg.querySelector(".lightbox-help").textContent = gettext("Scroll or + / − to zoom · drag to pan · 0 reset · Esc close");
      var closeButton = dlg.querySelector(".lightbox-close");
      closeButton.setAttribute("aria-label", gettext("Close full screen"));
      closeButton.textContent = gettext("Close") + " ✕";
      document.body.appendChild(dlg);
      var lv = dlg.querySelector(".lightbox-viewer");
      var viewer = new Viewer(lv, {
        onClick: function (e) {
          if (viewer.s > 1.001) viewer.reset();
          else { var p = viewer.rel(e); viewer.zoomAt(2.5, p.x, p.y); }
        }
      });
      dlg.querySelector(".lightbox-close").addEventListener("click", function () { dlg.close(); });
      dlg.addEventListener("close", function () { if (lightbox.returnTo) lightbox.returnTo.focus(); });
      lightbox = { dlg: dlg, viewer: viewer, returnTo: null };
    }
    var img = lightbox.viewer.img;
    img.src = full || src;
    img.alt = label + " image, full screen";
    img.setAttribute("data-full", "");
    lightbox.dlg.querySelector(".lightbox-label").textContent = label;
    lightbox.returnTo = document.activeElement;
    lightbox.viewer.reset();
    lightbox.dlg.showModal();
    lightbox.dlg.querySelector(".lightbox-viewer").focus();
  }

  function initImages(root) {
    var frames = $all("[data-viewer-frame]", root);
    var viewers = frames.map(function (frame, index) {
      var el = frame.querySelector("[data-viewer]");
      var label = function () { return frame.querySelector(".viewer-label").textContent.trim(); };
      var v = new Viewer(el, {
        onFocus: function () { state.activeSlot = index; },
        onClick: function () { openLightbox(v.img.currentSrc || v.img.src, v.img.getAttribute("data-full"), label()); },
        onEnter: function () { openLightbox(v.img.currentSrc || v.img.src, v.img.getAttribute("data-full"), label()); }
      });
      if (v.img.complete) v.maybeSharpen();
      frame.querySelectorAll("[data-zoom]").forEach(function (btn) {
        btn.addEventListener("click", function () {
          var what = btn.getAttribute("data-zoom");
          if (what === "in") v.zoomCenter(1.4);
          else if (what === "out") v.zoomCenter(1 / 1.4);
          else if (what === "reset") v.reset();
          else openLightbox(v.img.currentSrc || v.img.src, v.img.getAttribute("data-full"), label());
        });
      });
      return v;
    });
    $all("[data-thumb]", root).forEach(function (thumb) {
      thumb.addEventListener("click", function () {
        var v = viewers[state.activeSlot] || viewers[0];
        if (!v) return;
        var frame = frames[viewers.indexOf(v)];
        v.img.src = thumb.getAttribute("data-src");
        v.img.setAttribute("data-full", thumb.getAttribute("data-full"));
        v.img.alt = thumb.getAttribute("data-label") + " image";
        frame.querySelector(".viewer-label").textContent = thumb.getAttribute("data-label");
        v.reset();
        $all("[data-thumb]", root).forEach(function (t) { t.classList.remove("active"); });
        thumb.classList.add("active");
      });
    });
    state.activeSlot = 0;
  }

  // --- condition search (combobox) ------------------------------------------------------------------
  var Search = window.ReaderSearch;

  function loadConditions(url) {
    if (!state.loading) {
      state.loading = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (data) { state.conditions = Search.prepare(data.conditions); return state.conditions; })
        .catch(function (err) { state.loading = null; throw err; });
    }
    return state.loading;
  }

  function Combo(row, form, hooks) {
    this.row = row; this.form = form; this.hooks = hooks;
    this.input = row.querySelector(".dx-search");
    this.hidden = row.querySelector('input[name="dx"]');
    this.list = row.querySelector(".combo-list");
    this.clearBtn = row.querySelector("[data-clear]");
    this.results = []; this.active = -1;
    this.pickedName = this.hidden.value ? this.input.value : "";
    this.bind();
  }
  Combo.prototype.others = function () {
    var self = this, codes = new Set();
    $all('input[name="dx"]', this.form).forEach(function (h) { if (h !== self.hidden && h.value) codes.add(h.value); });
    return codes;
  };
  Combo.prototype.option = function (i, label, via, group, onPick, extraClass) {
    var li = document.createElement("li"), self = this;
    li.id = this.list.id + "-" + i;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.className = "combo-option" + (extraClass ? " " + extraClass : "");
    var key = document.createElement("span"); key.className = "combo-key"; key.textContent = i < 5 ? String(i + 1) : "";
    var name = document.createElement("span"); name.className = "combo-name"; name.textContent = label;
    li.appendChild(key); li.appendChild(name);
    if (via) { var v = document.createElement("span"); v.className = "combo-via"; v.textContent = via; li.appendChild(v); }
    if (group) { var g = document.createElement("span"); g.className = "combo-group"; g.textContent = group; li.appendChild(g); }
    li.addEventListener("pointerdown", function (e) { e.preventDefault(); onPick(); });
    self.list.appendChild(li);
  };
  Combo.prototype.open = function () {
    var self = this, others = this.others();
    this.list.innerHTML = "";
    if (!this.input.value.trim()) { this.close(); return; }
    var hits = Search.search(state.conditions, this.input.value, others, 8);
    this.results = hits.map(function (hit) { return { code: hit.c.code, name: hit.c.name }; });
    if (!hits.length) {
      var empty = document.createElement("li");
      empty.className = "combo-empty";
      empty.textContent = state.conditions ? gettext("No matching condition") : gettext("Loading conditions…");
      this.list.appendChild(empty);
    }
    hits.forEach(function (hit, i) {
      self.option(i, hit.c.name, hit.via, hit.c.group, function () { self.pick(self.results[i], true); });
    });
    var other = this.hooks.other;
    if (other && !others.has(other.code)) {  // always offered last: never a silent nearest match
      var i = this.results.length;
      this.results.push({ code: other.code, name: other.label, other: true });
      this.option(i, other.label, null, gettext("describe it"), function () { self.pick(self.results[i], true); }, "combo-other");
    }
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.setActive(-1);
  };
  Combo.prototype.close = function () {
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    this.active = -1;
  };
  Combo.prototype.setActive = function (i) {
    var opts = $all(".combo-option", this.list);
    opts.forEach(function (o, j) { o.setAttribute("aria-selected", j === i ? "true" : "false"); });
    this.active = i;
    if (i >= 0 && opts[i]) {
      this.input.setAttribute("aria-activedescendant", opts[i].id);
      opts[i].scrollIntoView({ block: "nearest" });
    } else {
      this.input.removeAttribute("aria-activedescendant");
    }
  };
  Combo.prototype.pick = function (choice, advance) {
    this.input.value = choice.name;
    this.pickedName = choice.name;
    this.hidden.value = choice.code;
    this.row.classList.remove("invalid");
    this.clearBtn.hidden = false;
    this.close();
    noteInput();
    this.hooks.changed(this);
    if (advance) this.hooks.picked(this, !!choice.other);
  };
  Combo.prototype.clear = function () {
    this.input.value = ""; this.hidden.value = ""; this.pickedName = "";
    this.clearBtn.hidden = true; this.close(); this.input.focus();
    this.hooks.changed(this);
  };
  Combo.prototype.bind = function () {
    var self = this;
    this.input.addEventListener("focus", function () {
      if (!state.conditions) loadConditions(self.form.getAttribute("data-conditions-url")).then(function () {
        if (document.activeElement === self.input && self.input.value && !self.hidden.value) self.open();
      }).catch(function () {});
    });
    this.input.addEventListener("input", function () {
      noteInput();
      if (self.input.value !== self.pickedName) { self.hidden.value = ""; self.pickedName = ""; }
      self.clearBtn.hidden = !self.input.value;
      self.open();
      self.hooks.changed(self);
    });
    this.input.addEventListener("keydown", function (e) {
      var n = self.results.length, openList = !self.list.hidden && n;
      if (e.key === "ArrowDown") {
        e.preventDefault();  // the first press highlights the first match
        if (self.list.hidden) self.open(); else if (openList) self.setActive(Math.min(self.active + 1, n - 1));
      } else if (e.key === "ArrowUp") {
        e.preventDefault();  // above the first match: back to the text
        if (openList) self.setActive(Math.max(self.active - 1, -1));
      } else if (e.key === "Enter" && !(e.ctrlKey || e.metaKey)) {
        e.preventDefault();  // never submit from a search box by accident
        if (openList) self.pick(self.results[Math.max(self.active, 0)], true);
        else if (self.hidden.value) self.hooks.picked(self, false);
      } else if (/^[1-5]$/.test(e.key) && openList && !e.ctrlKey && !e.metaKey && !e.altKey) {
        var hit = self.results[Number(e.key) - 1];
        if (hit) { e.preventDefault(); self.pick(hit, true); }
      } else if (e.key === "Escape") {
        if (!self.list.hidden) { e.preventDefault(); self.close(); }
      }
    });
    this.input.addEventListener("blur", function () {
      window.setTimeout(function () {
        // Focus may be back already (the clear button refocuses the box): a stale blur must not
        // close the list the reader is typing into.
        if (document.activeElement === self.input) return;
        self.close();
        if (self.input.value && !self.hidden.value && state.conditions) {
          var typed = Search.norm(self.input.value);
          var exact = Search.search(state.conditions, self.input.value, self.others(), 8).filter(function (h) {
            return h.level === 0 && (Search.norm(h.c.name) === typed || (h.via && Search.norm(h.via) === typed));
          });
          if (exact.length === 1) self.pick({ code: exact[0].c.code, name: exact[0].c.name }, false);
        }
      }, 120);
    });
    this.clearBtn.addEventListener("click", function () { self.clear(); });
  };

  // --- the answer form: fields, live errors, drafts --------------------------------------------------
  function setStatus(form, text, kind) {
    var el = $("[data-submit-status]", form);
    if (!el) return;
    el.textContent = text || "";
    el.className = "submit-status" + (kind ? " " + kind : "");
  }

  function fieldValid(form, field) {
    var dx = $all('input[name="dx"]', form).map(function (h) { return h.value; });
    switch (field) {
      case "differential": {
        var unresolved = $all(".dx-row", form).some(function (row) {
          return row.querySelector(".dx-search").value.trim() && !row.querySelector('input[name="dx"]').value;
        });
        var last = dx.map(Boolean).lastIndexOf(true);
        var gaps = dx.slice(0, last + 1).some(function (c) { return !c; });
        return !!dx[0] && !unresolved && !gaps;
      }
      case "other_text": {
        var other = form.getAttribute("data-other-code");
        var text = form.elements.namedItem("other_text");
        return dx.indexOf(other) === -1 || !!(text && text.value.trim());
      }
      case "confidence": return !!$('input[name="confidence"]:checked', form);
      case "management": return !!$('input[name="management"]:checked', form);
      case "malignancy": { var m = form.elements.namedItem("malignancy"); return !!(m && m.value !== ""); }
      default: return false;
    }
  }

  // The action bar repeats what still needs fixing; each item disappears once its field is fixed.
  function refreshErrors(form) {
    $all("[data-field].has-error", form).forEach(function (box) {
      if (fieldValid(form, box.getAttribute("data-field"))) {
        box.classList.remove("has-error");
        $all(".error", box).forEach(function (p) { p.remove(); });
      }
    });
    var bar = $("[data-bar-errors]", form);
    if (!bar) return;
    var open = $all("[data-field].has-error", form);
    bar.innerHTML = "";
    bar.hidden = !open.length;
    if (!open.length) return;
    var lead = document.createElement("span");
    lead.textContent = open.length === 1 ? gettext("Still to fix:") : fmt(gettext("%(count)s things to fix:"), { count: open.length });
    bar.appendChild(lead);
    open.forEach(function (box) {
      var link = document.createElement("button");
      link.type = "button"; link.className = "link bar-error";
      link.textContent = box.getAttribute("data-label");
      link.addEventListener("click", function () { focusField(box); });
      bar.appendChild(link);
    });
  }

  function focusField(box) {
    var target = box.querySelector('input[type="radio"]:checked') ||
      box.querySelector('.dx-row.invalid .dx-search, input:not([type="hidden"])');
    if (target) target.focus();
  }

  function showOtherRow(form) {
    var row = $("[data-other-row]", form);
    if (!row) return;
    var chosen = $all('input[name="dx"]', form).some(function (h) { return h.value === form.getAttribute("data-other-code"); });
    row.hidden = !chosen;
    var text = row.querySelector("input");
    if (text) text.disabled = !chosen;
  }

  function groups(form) {
    return $all("[data-field]", form).filter(function (box) { return box.getAttribute("data-field") !== "other_text" || !box.hidden; });
  }

  // Enter on a choice moves to the next question; from the last one, to Submit.
  function nextField(form, from) {
    var list = groups(form), i = list.indexOf(from);
    var target = list[i + 1];
    if (!target) { $("[data-submit]", form).focus(); return; }
    var control = target.querySelector('input[type="radio"]:checked') ||
      target.querySelector('input[type="radio"], input[type="range"], input[type="text"]:not(.dx-search)') ||
      target.querySelector(".dx-search");
    if (control) control.focus();
  }

  // Management: a letter shortcut for each option (the first letter of its label not yet taken).
  function managementKeys(form) {
    var used = new Set(["f"]), keys = {};
    $all('.management .pill', form).forEach(function (pill) {
      var input = pill.querySelector("input"), label = pill.querySelector("span").textContent.trim();
      // Accents off ("Überweisen" -> u); labels with no Latin letter (Chinese) use the option's code.
      var letters = (label.normalize("NFD").toLowerCase() + " " + input.value.toLowerCase()).replace(/[^a-z]/g, "");
      var key = Array.prototype.find.call(letters, function (ch) { return !used.has(ch) && "0123456789/?".indexOf(ch) === -1; });
      if (!key) return;
      used.add(key);
      keys[key] = input;
      if (!pill.querySelector(".pill-key")) {
        var box = pill.querySelector("span"), text = document.createElement("span");
        text.className = "pill-label";
        while (box.firstChild) text.appendChild(box.firstChild);
        box.appendChild(text);
        var k = document.createElement("kbd"); k.className = "pill-key"; k.textContent = key.toUpperCase();
        k.setAttribute("aria-hidden", "true");
        box.appendChild(k);
        input.setAttribute("aria-keyshortcuts", key.toUpperCase());
      }
    });
    return keys;
  }

  function draftData(form, exit) {
    var data = new FormData(form);
    ["idempotency_key", "client_timeout", "active_ms", "first_input_at"].forEach(function (k) { data.delete(k); });
    if (exit) data.set("exit", "1");
    return data;
  }

  function Drafts(form) {
    this.form = form;
    this.url = form.getAttribute("data-draft-url");
    this.dirty = false; this.timer = null; this.saving = null;
  }
  Drafts.prototype.changed = function () {
    var self = this;
    this.dirty = true;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(function () { self.save(); }, DRAFT_DELAY_MS);
  };
  Drafts.prototype.save = function () {
    var self = this, form = this.form;
    window.clearTimeout(this.timer);
    if (!this.url || !this.dirty || !document.body.contains(form) || form.getAttribute("aria-busy") === "true") {
      return Promise.resolve(!this.dirty);
    }
    this.dirty = false;
    var sent = fetch(this.url, { method: "POST", body: draftData(form), credentials: "same-origin", keepalive: true,
                                 headers: { "X-CSRFToken": csrfToken(form) } })
      .then(function (r) {
        if (r.status !== 204) throw new Error("HTTP " + r.status);
        var at = new Date();
        var el = $("[data-draft-state]", form);
        if (el) el.textContent = fmt(gettext("Draft saved %(time)s"), { time: at.toLocaleTimeString(LOCALE, { hour: "2-digit", minute: "2-digit" }) });
        return true;
      })
      .catch(function () { self.dirty = true; return false; });
    this.saving = sent;
    return sent;
  };
  Drafts.prototype.beacon = function () {
    if (!this.url || !this.dirty || !navigator.sendBeacon) return;
    if (navigator.sendBeacon(this.url, draftData(this.form))) this.dirty = false;
  };

  function csrfToken(form) {
    var input = form.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function initForm(root) {
    var form = $("[data-answer-form]", root);
    if (!form) return null;
    var page = root.matches("[data-case-page]") ? root : $("[data-case-page]", root) || root;
    form.setAttribute("data-conditions-url", page.getAttribute("data-conditions-url"));
    loadConditions(page.getAttribute("data-conditions-url")).catch(function () {});
    var drafts = new Drafts(form);
    form._drafts = drafts;
    var otherCode = form.getAttribute("data-other-code");
    var combos = [];
    function changed() { showOtherRow(form); refreshErrors(form); }
    function picked(combo, isOther) {
      if (isOther) { var text = $("[data-other-row] input", form); if (text) { text.focus(); return; } }
      var i = combos.indexOf(combo);
      var empty = combos.slice(i + 1).filter(function (c) { return !c.hidden.value; })[0];
      if (empty) { empty.input.focus(); return; }
      nextField(form, $('[data-field="differential"]', form));
    }
    var hooks = { changed: changed, picked: picked,
                  other: otherCode ? { code: otherCode, label: form.getAttribute("data-other-label") || "Other / not listed" } : null };
    $all(".dx-row", form).forEach(function (row) { combos.push(new Combo(row, form, hooks)); });
    form.addEventListener("change", function () { noteInput(); changed(); drafts.changed(); });
    form.addEventListener("input", function () { changed(); drafts.changed(); });
    form.addEventListener("pointerdown", noteInput);
    var otherInput = $("[data-other-row] input", form);
    if (otherInput) {
      otherInput.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && !(e.ctrlKey || e.metaKey)) { e.preventDefault(); nextField(form, $('[data-field="other_text"]', form)); }
      });
    }
    var mal = $("[data-malignancy]", form);
    if (mal) {
      var range = $('input[type="range"]', mal), hidden = $('input[name="malignancy"]', mal), out = $("[data-malignancy-output]", mal);
      var setRange = function (value) {
        range.value = String(value);
        hidden.value = range.value; out.textContent = range.value + "%"; range.classList.remove("untouched"); noteInput();
      };
      range.addEventListener("input", function () { setRange(range.value); });
      range.addEventListener("keydown", function (e) {
        var delta = { ArrowRight: 5, ArrowUp: 5, ArrowLeft: -5, ArrowDown: -5 }[e.key];
        if (!delta || e.altKey || e.ctrlKey || e.metaKey) return;
        e.preventDefault();  // steps of 5 from the keyboard; the mouse keeps 1
        var base = Number(range.value), snapped = delta > 0 ? Math.floor(base / 5) * 5 : Math.ceil(base / 5) * 5;
        var value = clamp((hidden.value === "" ? 50 : snapped) + delta, 0, 100);
        setRange(value);
        form.dispatchEvent(new Event("input", { bubbles: true }));
      });
    }
    form.addEventListener("keydown", function (e) {
      var t = e.target;
      if (e.key !== "Enter" || e.ctrlKey || e.metaKey || !t.matches('input[type="radio"], input[type="range"]')) return;
      e.preventDefault();
      nextField(form, t.closest("[data-field]"));
    });
    form._managementKeys = managementKeys(form);
    showOtherRow(form);
    refreshErrors(form);
    return form;
  }

  // --- submitting: one automatic submit per item, 503s retried with the same key ---------------------
  function itemId(form) { return form.elements.namedItem("item_id").value; }

  function clientProblems(form) {
    var bad = null;
    $all(".dx-row", form).forEach(function (row) {
      var input = row.querySelector(".dx-search"), hidden = row.querySelector('input[name="dx"]');
      var problem = input.value.trim() && !hidden.value;
      row.classList.toggle("invalid", !!problem);
      if (problem && !bad) bad = input;
    });
    if (bad) {
      setStatus(form, fmt(gettext("Choose “%(text)s” from the list of conditions (or “Other / not listed”), or clear it."), { text: bad.value.trim() }), "error");
      bad.focus();
      return true;
    }
    return false;
  }

  function fillHidden(form) {
    form.elements.namedItem("active_ms").value = String(activeMs());
    form.elements.namedItem("first_input_at").value = timing.firstInput === null ? "" : String(Math.round(timing.firstInput));
    var key = form.elements.namedItem("idempotency_key");
    if (!key.value) key.value = newKey();  // one key per rendered form, kept on every retry
  }

  function setBusy(form, busy, label) {
    var btn = $("[data-submit]", form);
    if (busy) {
      form.setAttribute("aria-busy", "true");
      btn.disabled = true;
      btn.setAttribute("data-label", btn.getAttribute("data-label") || btn.textContent);
      btn.textContent = label || gettext("Saving…");
    } else {
      form.removeAttribute("aria-busy");
      btn.disabled = false;
      btn.textContent = btn.getAttribute("data-label") || "Submit answer";
    }
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("[data-answer-form]")) return;
    var timeout = form.elements.namedItem("client_timeout").value === "1";
    var retry = form.hasAttribute("data-retrying");
    if (form.getAttribute("aria-busy") === "true" || (!timeout && !retry && clientProblems(form))) {
      e.preventDefault();
      e.stopImmediatePropagation();
      return;
    }
    fillHidden(form);
    if (form._drafts) window.clearTimeout(form._drafts.timer);
    if (!window.htmx) setBusy(form, true);
  }, true);

  function submitForm(form) {
    if (!form) return;
    if (typeof form.requestSubmit === "function") form.requestSubmit($("[data-submit]", form));
    else $("[data-submit]", form).click();
  }

  document.addEventListener("htmx:beforeRequest", function (e) {
    var form = e.detail.elt;
    if (!form.matches || !form.matches("[data-answer-form]")) return;
    setBusy(form, true);
    if (!form.hasAttribute("data-retrying")) setStatus(form, "", "");
    state.leaving = rememberCase(form);
  });

  function retryOrGiveUp(form, why) {
    var tries = Number(form.getAttribute("data-tries") || "0");
    setBusy(form, false);
    if (tries < RETRY_DELAYS_MS.length) {
      form.setAttribute("data-tries", String(tries + 1));
      form.setAttribute("data-retrying", "1");
      setBusy(form, true, gettext("Saving…"));
      setStatus(form, why + " " + fmt(gettext("Trying again (%(n)s of %(total)s)…"), { n: tries + 2, total: RETRY_DELAYS_MS.length + 1 }), "warn");
      window.setTimeout(function () {
        if (!document.body.contains(form)) return;
        setBusy(form, false);
        submitForm(form);  // same form, same idempotency key: never a second reading
      }, RETRY_DELAYS_MS[tries]);
      return;
    }
    form.removeAttribute("data-retrying");
    form.setAttribute("data-tries", "0");
    setStatus(form, why + " " + gettext("Your answer is still here: press Submit to try again; if it keeps failing, tell the study coordinator."), "error");
  }

  document.addEventListener("htmx:sendError", function (e) {
    var form = e.detail.elt;
    if (form.matches && form.matches("[data-answer-form]")) retryOrGiveUp(form, gettext("Could not reach the server."));
  });
  document.addEventListener("htmx:responseError", function (e) {
    var form = e.detail.elt;
    if (!form.matches || !form.matches("[data-answer-form]")) return;
    var status = e.detail.xhr.status;
    if (status === 503 || status === 502 || status === 504) retryOrGiveUp(form, gettext("The server is busy."));
    else {  // another 4xx/5xx: never sent again by itself
      setBusy(form, false);
      form.removeAttribute("data-retrying");
      setStatus(form, fmt(gettext("The server could not save this answer (error %(status)s). Your answer is still here; press Submit to try again, and tell the study coordinator if it keeps failing."), { status: status }), "error");
    }
  });

  // What the reader typed but had not picked yet survives a form shown again (422): the server only
  // knows the codes. Read just before the swap, so what was typed while the request ran counts too.
  document.addEventListener("htmx:beforeSwap", function (e) {
    var form = $("[data-answer-form]");
    if (!form || !state.leaving || e.detail.target.id !== "reader-main") return;
    var now = rememberCase(form);
    state.leaving.typed = now.typed; state.leaving.codes = now.codes; state.leaving.focus = now.focus;
  });
  function rememberCase(form) {
    var page = form.closest("[data-case-page]");
    return {
      item: itemId(form),
      number: page ? page.getAttribute("data-case-number") : "",
      phase: page ? page.getAttribute("data-phase") : "",
      ai: !!(page && page.querySelector("[data-ai-panel]")),
      auto: form.elements.namedItem("client_timeout").value === "1",
      typed: $all(".dx-search", form).map(function (i) { return i.value; }),
      codes: $all('input[name="dx"]', form).map(function (i) { return i.value; }),
      focus: document.activeElement && document.activeElement.id
    };
  }

  function restoreTyped(form, before) {
    $all(".dx-row", form).forEach(function (row, i) {
      var input = row.querySelector(".dx-search"), hidden = row.querySelector('input[name="dx"]');
      if (!hidden.value && !input.value && before.typed[i] && !before.codes[i]) {
        input.value = before.typed[i];
        row.classList.add("invalid");
        row.querySelector("[data-clear]").hidden = false;
      }
    });
  }

  // --- notices: saved, time up, AI on/off --------------------------------------------------------------
  function toast(text, kind) {
    var region = $("[data-toasts]");
    if (!region || !text) return;
    region.innerHTML = "";  // one at a time, the newest
    var el = document.createElement("p");
    el.className = "toast" + (kind ? " " + kind : "");
    el.textContent = text;
    region.appendChild(el);
    window.setTimeout(function () { el.classList.add("gone"); }, 6000);
    window.setTimeout(function () { el.remove(); }, 6600);
  }

  function announceChange(page, before) {
    var form = $("[data-answer-form]", page);
    var design = page.getAttribute("data-design");
    var ai = !!page.querySelector("[data-ai-panel]");
    var same = form && before && itemId(form) === before.item;
    if (same) return;
    if (before && before.item) {
      if (before.auto) toast(fmt(gettext("Time was up for case %(number)s: what you had entered was saved."), { number: before.number }), "warn");
      else if (page.getAttribute("data-phase") === "2" && before.phase === "1" && before.number === page.getAttribute("data-case-number")) {
        toast(gettext("First answer saved and locked; the AI suggestion is shown."));
      } else toast(fmt(gettext("Case %(number)s saved."), { number: before.number }), "ok");
    }
    if (!form || (design !== "randomised_blocks" && design !== "crossover")) return;
    var key = "readerstudy:ai:" + page.getAttribute("data-study");
    var last = readJSON(key, null);
    if (last !== null && last !== ai) {
      var text = ai ? gettext("From this case on, an AI suggestion is shown beside the images.")
        : gettext("From this case on, no AI suggestion is shown: answer on your own.");
      var note = $("[data-ai-change]", page);
      if (note) { note.textContent = text; note.hidden = false; }
    }
    writeJSON(key, ai);
  }

  // --- countdown (the server decides what counts as timed out) -----------------------------------------
  function tick() {
    var el = $(".countdown[data-deadline]");
    if (!el) return;
    if (el.getAttribute("data-offset") === null) {
      el.setAttribute("data-offset", String(Number(el.getAttribute("data-server-now")) - Date.now()));
    }
    var now = Date.now() + Number(el.getAttribute("data-offset"));
    var left = Math.max(0, Math.ceil((Number(el.getAttribute("data-deadline")) - now) / 1000));
    var text = String(Math.floor(left / 60)).padStart(2, "0") + ":" + String(left % 60).padStart(2, "0");
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle("warn", left <= 30 && left > 0);
    el.classList.toggle("over", left === 0);
    var form = $("[data-answer-form]");
    if (left > 0 || !form) return;
    var id = itemId(form);
    var banner = $("[data-time-up]");
    if (banner) banner.hidden = false;
    if (autoSent.has(id) || form.getAttribute("aria-busy") === "true") return;
    autoSent.add(id);  // at most one automatic submit per schedule item, whatever comes back
    writeJSON("readerstudy:auto-sent", Array.from(autoSent).slice(-200));
    form.elements.namedItem("client_timeout").value = "1";
    setStatus(form, gettext("Time is up for this case: saving what you entered."), "warn");
    submitForm(form);
  }

  // --- dialogs: shortcuts (?) and the instructions ------------------------------------------------------
  function openDialog(id) {
    var dlg = document.getElementById(id);
    if (!dlg || dlg.open) return;
    dlg._returnTo = document.activeElement;
    dlg.showModal();
  }
  document.addEventListener("click", function (e) {
    var opener = e.target.closest && e.target.closest("[data-open-dialog]");
    if (opener) { e.preventDefault(); openDialog(opener.getAttribute("data-open-dialog")); return; }
    var closer = e.target.closest && e.target.closest("[data-close-dialog]");
    if (closer) { var dlg = closer.closest("dialog"); if (dlg) dlg.close(); }
  });
  document.addEventListener("close", function (e) {
    var dlg = e.target;
    if (dlg && dlg._returnTo && document.body.contains(dlg._returnTo)) dlg._returnTo.focus();
  }, true);
  function anyDialogOpen() { return $all("dialog").some(function (d) { return d.open; }); }

  // --- keyboard shortcuts ---------------------------------------------------------------------------
  document.addEventListener("keydown", function (e) {
    var form = $("[data-answer-form]");
    if (!form || anyDialogOpen()) return;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submitForm(form);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    var emptySearch = t && t.classList && t.classList.contains("dx-search") && !t.value;
    if (isTyping(t) && !emptySearch) return;
    if (t && t.closest && t.closest("[data-viewer]")) return;
    var inManagement = t && t.closest && t.closest(".management");
    if (e.key === "?") {
      e.preventDefault();
      openDialog("shortcuts-dialog");
    } else if (e.key === "/") {
      var empty = $all(".dx-search", form).filter(function (i) { return !i.value; })[0] || $(".dx-search", form);
      if (empty) { e.preventDefault(); empty.focus(); }
    } else if (/^[1-9]$/.test(e.key) && inManagement) {
      var option = $all('input[name="management"]', form)[Number(e.key) - 1];
      if (option) { e.preventDefault(); option.checked = true; option.focus(); option.dispatchEvent(new Event("change", { bubbles: true })); }
    } else if (/^[1-5]$/.test(e.key)) {
      var radio = form.querySelector('input[name="confidence"][value="' + e.key + '"]');
      if (radio) {
        e.preventDefault(); radio.checked = true; radio.focus();
        radio.dispatchEvent(new Event("change", { bubbles: true }));
      }
    } else if (!emptySearch && /^[a-z]$/i.test(e.key) && form._managementKeys) {
      var choice = form._managementKeys[e.key.toLowerCase()];
      if (choice) {
        e.preventDefault(); choice.checked = true; choice.focus();
        choice.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }
  });

  // --- leaving: "Save and exit" keeps a draft; unsaved edits warn ---------------------------------------
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("[data-save-exit]");
    var form = $("[data-answer-form]");
    if (!link || !form || !form._drafts) return;
    e.preventDefault();
    var drafts = form._drafts;
    drafts.dirty = true;  // always keep what is on the page, even if nothing changed since the last save
    link.textContent = gettext("Saving…");
    drafts.save().then(function (ok) {
      if (ok) { state.leavingOnPurpose = true; window.location.href = link.href; return; }
      link.textContent = gettext("Save and exit");
      setStatus(form, gettext("Could not save your unfinished answer. Check your connection and try again."), "error");
    });
  });
  window.addEventListener("beforeunload", function (e) {
    var form = $("[data-answer-form]");
    if (!form || !form._drafts || state.leavingOnPurpose) return;
    if (form.getAttribute("aria-busy") === "true") return;
    if (!form._drafts.dirty) return;
    form._drafts.beacon();  // try to keep the edits, and warn anyway
    e.preventDefault();
    e.returnValue = "";
  });

  // --- times in the reader's own time zone ----------------------------------------------------------
  function localTimes(root) {
    $all("time[data-local]", root).forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.textContent = when.toLocaleString(LOCALE, { weekday: "long", day: "numeric", month: "long", year: "numeric",
                                                 hour: "2-digit", minute: "2-digit" });
      el.title = gettext("Your local time");
    });
  }

  // --- page life cycle ------------------------------------------------------------------------------
  function init(root, swapped) {
    var page = root.matches && root.matches("[data-case-page]") ? root : $("[data-case-page]", root);
    localTimes(root);
    var before = state.leaving;
    state.leaving = null;
    if (page && !page.hasAttribute("data-ready")) {
      page.setAttribute("data-ready", "1");
      var form = $("[data-answer-form]", page);
      var sameItem = before && form && itemId(form) === before.item;
      if (!sameItem) timingStart(page);
      initImages(page);
      initForm(page);
      if (sameItem) {
        restoreTyped(form, before);
        refreshErrors(form);
        if (autoSent.has(before.item)) {
          setStatus(form, gettext("Time is up for this case. Your answer could not be saved automatically: complete the fields marked and press Submit."), "error");
        }
        var wrong = $("[data-field].has-error", form);
        if (wrong) focusField(wrong);
      } else {
        var side = $(".case-side", page);
        if (side) side.scrollTop = 0;
        if (swapped) window.scrollTo(0, 0);
        var first = $("#dx-1", page);
        if (first && !first.disabled) first.focus({ preventScroll: true });
      }
      announceChange(page, before);
    }
    var next = $("[data-next]", root);
    if (next && swapped) next.focus();
    if (!state.timer) state.timer = window.setInterval(tick, 250);
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () { init(document, false); });
  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.target && e.target.id === "reader-main") init(e.target, true);
  });
})();
