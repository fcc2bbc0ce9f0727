/* Readerstudy case page: image zoom and pan, condition search, keyboard shortcuts, timing, submit.
 * Vanilla JS, no inline scripts (CSP). The server is authoritative for everything that is stored:
 * the times sent from here are hints it clamps, and it decides whether a case timed out. */
(function () {
  "use strict";

  var MAX_SCALE = 8;
  var state = { conditions: null, loading: null, activeSlot: 0, timer: null, timeoutSent: false };

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

  // --- htmx: show validation errors (422) and refusals (409) in place ----------------------------
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
      dlg.setAttribute("aria-label", "Full-screen image");
      dlg.innerHTML = '<div class="lightbox-bar"><span class="lightbox-label"></span>' +
        '<span class="lightbox-help">Scroll or + / − to zoom · drag to pan · 0 reset · Esc close</span>' +
        '<button type="button" class="lightbox-close" aria-label="Close full screen">Close ✕</button></div>' +
        '<div class="viewer lightbox-viewer" tabindex="0"><img alt="" draggable="false"></div>';
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
  function loadConditions(url) {
    if (!state.loading) {
      state.loading = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (data) {
          state.conditions = data.conditions.map(function (c) {
            return { code: c.code, name: c.name, group: c.group, synonyms: c.synonyms,
                     keys: [c.name].concat(c.synonyms, [c.code]).map(norm) };
          });
          state.conditions.forEach(function (c, i) { c.rank = i; });  // taxonomy order: curated, common first
          return state.conditions;
        })
        .catch(function (err) { state.loading = null; throw err; });
    }
    return state.loading;
  }

  function search(query, exclude) {
    var q = norm(query).trim();
    if (!q || !state.conditions) return [];
    var words = q.split(/\s+/), hits = [];
    state.conditions.forEach(function (c) {
      if (exclude.has(c.code)) return;
      var best = Infinity, via = null;
      c.keys.forEach(function (k, i) {
        if (!words.every(function (w) { return k.indexOf(w) !== -1; })) return;
        var tokens = k.split(/[\s\-/(),]+/);
        var score = k.indexOf(q) === 0 ? 0 : (tokens.some(function (t) { return t.indexOf(words[0]) === 0; }) ? 1 : 2);
        // A match in the condition's own name beats any synonym match at the same level
        // ("naev" -> Melanocytic naevus, not Spider naevus via "naevus araneus").
        if (i > 0) score += 1.5;
        if (score < best) { best = score; via = i > 0 && i <= c.synonyms.length ? c.synonyms[i - 1] : null; }
      });
      if (best < Infinity) hits.push({ c: c, score: best, via: via && norm(via) !== norm(c.name) ? via : null });
    });
    hits.sort(function (a, b) { return a.score - b.score || a.c.rank - b.c.rank; });
    return hits.slice(0, 8);
  }

  function Combo(row, form, onPicked) {
    this.row = row; this.form = form; this.onPicked = onPicked;
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
  Combo.prototype.open = function () {
    var self = this;
    this.results = search(this.input.value, this.others());
    this.list.innerHTML = "";
    if (!this.input.value.trim()) { this.close(); return; }
    if (!this.results.length) {
      var empty = document.createElement("li");
      empty.className = "combo-empty";
      empty.textContent = state.conditions ? "No matching condition" : "Loading conditions…";
      this.list.appendChild(empty);
    }
    this.results.forEach(function (hit, i) {
      var li = document.createElement("li");
      li.id = self.list.id + "-" + i;
      li.setAttribute("role", "option");
      li.className = "combo-option";
      var key = document.createElement("span"); key.className = "combo-key"; key.textContent = i < 5 ? String(i + 1) : "";
      var name = document.createElement("span"); name.className = "combo-name"; name.textContent = hit.c.name;
      li.appendChild(key); li.appendChild(name);
      if (hit.via) {
        var via = document.createElement("span"); via.className = "combo-via"; via.textContent = hit.via;
        li.appendChild(via);
      }
      var group = document.createElement("span"); group.className = "combo-group"; group.textContent = hit.c.group;
      li.appendChild(group);
      li.addEventListener("pointerdown", function (e) { e.preventDefault(); self.pick(hit.c, true); });
      self.list.appendChild(li);
    });
    this.list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.setActive(this.results.length ? 0 : -1);
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
    }
  };
  Combo.prototype.pick = function (c, advance) {
    this.input.value = c.name;
    this.pickedName = c.name;
    this.hidden.value = c.code;
    this.row.classList.remove("invalid");
    this.clearBtn.hidden = false;
    this.close();
    noteInput();
    if (advance) this.onPicked(this);
  };
  Combo.prototype.clear = function () {
    this.input.value = ""; this.hidden.value = ""; this.pickedName = "";
    this.clearBtn.hidden = true; this.close(); this.input.focus();
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
    });
    this.input.addEventListener("keydown", function (e) {
      var openList = !self.list.hidden && self.results.length;
      if (e.key === "ArrowDown") {
        e.preventDefault();
        if (self.list.hidden) self.open(); else if (openList) self.setActive((self.active + 1) % self.results.length);
      } else if (e.key === "ArrowUp") {
        e.preventDefault();
        if (openList) self.setActive((self.active - 1 + self.results.length) % self.results.length);
      } else if (e.key === "Enter" && !(e.ctrlKey || e.metaKey)) {
        e.preventDefault();  // never submit from a search box by accident
        if (openList && self.active >= 0) self.pick(self.results[self.active].c, true);
      } else if (/^[1-5]$/.test(e.key) && openList && !e.ctrlKey && !e.metaKey && !e.altKey) {
        var n = Number(e.key) - 1;
        if (self.results[n]) { e.preventDefault(); self.pick(self.results[n].c, true); }
      } else if (e.key === "Escape") {
        if (!self.list.hidden) { e.preventDefault(); self.close(); }
      }
    });
    this.input.addEventListener("blur", function () {
      window.setTimeout(function () {
        self.close();
        if (self.input.value && !self.hidden.value) {
          var exact = search(self.input.value, self.others()).filter(function (h) {
            return norm(h.c.name) === norm(self.input.value) || (h.via && norm(h.via) === norm(self.input.value));
          });
          if (exact.length === 1) self.pick(exact[0].c, false);
        }
      }, 120);
    });
    this.clearBtn.addEventListener("click", function () { self.clear(); });
  };

  // --- the answer form ------------------------------------------------------------------------------
  function setStatus(form, text, kind) {
    var el = $("[data-submit-status]", form);
    if (!el) return;
    el.textContent = text || "";
    el.className = "submit-status" + (kind ? " " + kind : "");
  }

  function clientProblems(form) {
    var bad = null;
    $all(".dx-row", form).forEach(function (row) {
      var input = row.querySelector(".dx-search"), hidden = row.querySelector('input[name="dx"]');
      var problem = input.value.trim() && !hidden.value;
      row.classList.toggle("invalid", !!problem);
      if (problem && !bad) bad = input;
    });
    if (bad) {
      setStatus(form, "Choose “" + bad.value.trim() + "” from the list of conditions, or clear it.", "error");
      bad.focus();
      return true;
    }
    return false;
  }

  function fillHidden(form) {
    form.elements.namedItem("active_ms").value = String(activeMs());
    form.elements.namedItem("first_input_at").value = timing.firstInput === null ? "" : String(Math.round(timing.firstInput));
    var key = form.elements.namedItem("idempotency_key");
    if (!key.value) key.value = newKey();  // one key per page load, kept on retries
  }

  function initForm(root) {
    var form = $("[data-answer-form]", root);
    if (!form) return;
    var page = root.matches("[data-case-page]") ? root : $("[data-case-page]", root) || root;
    form.setAttribute("data-conditions-url", page.getAttribute("data-conditions-url"));
    loadConditions(page.getAttribute("data-conditions-url")).catch(function () {});
    var combos = [];
    function next(combo) {
      var i = combos.indexOf(combo);
      var empty = combos.slice(i + 1).filter(function (c) { return !c.hidden.value; })[0];
      if (empty) { empty.input.focus(); return; }
      var radio = $('input[name="confidence"]:checked', form) || $('input[name="confidence"]', form) ||
        $('input[name="management"]:checked', form) || $('input[name="management"]', form) || $("[data-submit]", form);
      if (radio) radio.focus();
    }
    $all(".dx-row", form).forEach(function (row) { combos.push(new Combo(row, form, next)); });
    form.addEventListener("change", noteInput);
    form.addEventListener("pointerdown", noteInput);
    var mal = $("[data-malignancy]", form);
    if (mal) {
      var range = $('input[type="range"]', mal), hidden = $('input[name="malignancy"]', mal), out = $("[data-malignancy-output]", mal);
      range.addEventListener("input", function () {
        hidden.value = range.value; out.textContent = range.value + "%"; range.classList.remove("untouched"); noteInput();
      });
    }
    form.addEventListener("htmx:beforeRequest", function () {
      form.setAttribute("aria-busy", "true");
      var btn = $("[data-submit]", form);
      btn.disabled = true;
      btn.setAttribute("data-label", btn.getAttribute("data-label") || btn.textContent);
      btn.textContent = "Saving…";
      setStatus(form, "", "");
    });
    function failed(message) {
      form.removeAttribute("aria-busy");
      var btn = $("[data-submit]", form);
      btn.disabled = false;
      btn.textContent = btn.getAttribute("data-label") || "Submit answer";
      setStatus(form, message, "error");
      state.timeoutSent = false;
    }
    form.addEventListener("htmx:sendError", function () {
      failed("Could not reach the server. Your answer is still here: check your connection and press Submit again.");
    });
    form.addEventListener("htmx:responseError", function () {
      failed("The server could not save this answer. Please press Submit again; if it keeps failing, tell the study coordinator.");
    });
  }

  // Fill timing fields and check the boxes before htmx (or the browser) sends the form.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("[data-answer-form]")) return;
    var timeout = form.elements.namedItem("client_timeout").value === "1";
    if (form.getAttribute("aria-busy") === "true" || (!timeout && clientProblems(form))) {
      e.preventDefault();
      e.stopImmediatePropagation();
      return;
    }
    fillHidden(form);
    if (!window.htmx) { $("[data-submit]", form).disabled = true; form.setAttribute("aria-busy", "true"); }
  }, true);

  function submitForm(form) {
    if (!form) return;
    if (typeof form.requestSubmit === "function") form.requestSubmit($("[data-submit]", form));
    else $("[data-submit]", form).click();
  }

  // --- keyboard shortcuts ---------------------------------------------------------------------------
  document.addEventListener("keydown", function (e) {
    var form = $("[data-answer-form]");
    if (!form || (lightbox && lightbox.dlg.open)) return;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submitForm(form);
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
    if (e.target && e.target.closest && e.target.closest("[data-viewer]")) return;
    if (/^[1-5]$/.test(e.key)) {
      var radio = form.querySelector('input[name="confidence"][value="' + e.key + '"]');
      if (radio) { e.preventDefault(); radio.checked = true; radio.focus(); noteInput(); }
    } else if (e.key === "/") {
      var empty = $all(".dx-search", form).filter(function (i) { return !i.value; })[0] || $(".dx-search", form);
      if (empty) { e.preventDefault(); empty.focus(); }
    }
  });

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
    if (left === 0 && !state.timeoutSent) {
      var form = $("[data-answer-form]");
      if (!form || form.getAttribute("aria-busy") === "true") return;
      state.timeoutSent = true;
      form.elements.namedItem("client_timeout").value = "1";
      setStatus(form, "Time is up: submitting what you entered.", "warn");
      submitForm(form);
    }
  }

  // --- page life cycle ------------------------------------------------------------------------------
  function init(root, swapped) {
    var page = root.matches && root.matches("[data-case-page]") ? root : $("[data-case-page]", root);
    state.timeoutSent = false;
    if (page && !page.hasAttribute("data-ready")) {
      page.setAttribute("data-ready", "1");
      timingStart(page);
      initImages(page);
      initForm(page);
      if (swapped) {
        var side = $(".case-side", page);
        if (side) side.scrollTop = 0;
        window.scrollTo(0, 0);
        var title = $("#case-title", page);
        if (title) title.focus({ preventScroll: true });
      }
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
