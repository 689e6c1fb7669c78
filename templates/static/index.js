/* Index page: the unit cards (search, filter by layer and basis, sort; drawn a page at a time)
   and the interactive layer map. Data: data/index.js (window.ATLAS_INDEX, its shape documented
   in atlas/site/index_data.py) and, per map layer, data/map/SLUG.js and data/tips/SLUG.js
   (window.ATLAS_MAPS, window.ATLAS_TIPS), added as script elements when the map first shows
   that layer or a point of it is first hovered. Plain scripts rather than fetched JSON: the page
   works from file:// under a strict CSP. Nothing from the data is ever parsed as HTML. */
(function () {
  "use strict";
  var D = window.ATLAS_INDEX;
  if (!D) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var grid = $("cards"), q = $("q"), layerSel = $("layer"), basisSel = $("basis");
  var sortSel = $("sort"), count = $("count"), empty = $("empty"), more = $("more");
  var G = D.groups, N = D.act.length, PAGE = D.page || 60;
  var HAS_THUMB = 1, PENDING = 2, NOT_ACCENTED = 4;  // bits of D.flags (index_data.py)
  var START = [], GROUP = new Int32Array(N);
  (function () {
    var s = 0;
    G.forEach(function (g, k) { START.push(s); GROUP.fill(k, s, s + g.n); s += g.n; });
  })();
  var visible = new Uint8Array(N).fill(1), version = 0;

  function unitOf(i) { var k = GROUP[i], j = i - START[k]; return G[k].units ? G[k].units[j] : j; }
  function href(i) { return "units/" + G[GROUP[i]].slug + "/" + unitOf(i) + ".html"; }
  function parts(i) {  // word ids per label kind (data, ablation, accentuation), then the name
    return D.labels[i].split("|").map(function (p) {
      return p ? p.split(",").map(function (x) { return parseInt(x, 36); }) : [];
    });
  }
  function nameOf(i) { var p = parts(i)[3]; return p && p.length ? D.words[p[0]] : ""; }
  function what(i) {  // how a unit is called: "unit 3", "feature 3" or a direction's name
    var g = G[GROUP[i]];
    if (g.kind === "direction" && nameOf(i)) { return nameOf(i); }
    return (g.kind === "channel" ? "unit " : "feature ") + unitOf(i);
  }

  function num(v) {  // atlas.site.env.num: Python's "{:.3g}", integers as they are
    if (v === null || v === undefined) { return "–"; }
    if (Number.isInteger(v) && Math.abs(v) < 1e6) { return String(v); }
    var e = v.toExponential(2).split("e"), exp = +e[1];
    if (exp < -4 || exp >= 3) {
      var a = Math.abs(exp);
      return e[0].replace(/\.?0+$/, "") + "e" + (exp < 0 ? "-" : "+") + (a < 10 ? "0" : "") + a;
    }
    return v.toFixed(2 - exp).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
  }

  // ---- search -------------------------------------------------------------------------------
  var groupText = G.map(function (g) { return (g.name + " " + g.kind).toLowerCase(); });
  var wordsLower = D.words.map(function (w) { return w.toLowerCase(); });
  var OFF = null, IDS = null;  // every unit's word ids, flat (built on the first text search)
  function wordIndex() {
    if (OFF) { return; }
    var ids = [];
    OFF = new Int32Array(N + 1);
    for (var i = 0; i < N; i++) {
      var s = D.labels[i];
      if (s) {
        s.split(/[|,]/).forEach(function (x) { if (x) { ids.push(parseInt(x, 36)); } });
      }
      OFF[i + 1] = ids.length;
    }
    IDS = Int32Array.from(ids);
  }
  function matchWords(t) {  // which words hold the token: any entry that points into D.words
    var ok = new Uint8Array(wordsLower.length);  // (a unit's labels, a direction's name) is
    wordsLower.forEach(function (w, k) { if (w.indexOf(t) >= 0) { ok[k] = 1; } });  // found
    return ok;  // by it
  }
  function test(t) {  // one query token -> does unit i match it?
    var m = /^(.*):(\d+)$/.exec(t);
    if (m) {
      var inG = groupText.map(function (s) { return s.indexOf(m[1]) >= 0; }), n = +m[2];
      return function (i) { return inG[GROUP[i]] && unitOf(i) === n; };
    }
    if (/^#?\d+$/.test(t)) {
      var u = +t.replace("#", "");
      return function (i) { return unitOf(i) === u; };
    }
    wordIndex();
    var okG = groupText.map(function (s) { return s.indexOf(t) >= 0; }), okW = matchWords(t);
    return function (i) {
      if (okG[GROUP[i]]) { return true; }
      for (var k = OFF[i]; k < OFF[i + 1]; k++) { if (okW[IDS[k]]) { return true; } }
      return false;
    };
  }

  var orders = {};  // sort -> every unit index in that order (made once)
  function order(how) {
    if (orders[how]) { return orders[how]; }
    var o = new Int32Array(N);
    for (var i = 0; i < N; i++) { o[i] = i; }
    var act = function (i) { return D.act[i] === null ? -Infinity : D.act[i]; };
    if (how === "act") {
      o.sort(function (a, b) { return act(b) - act(a) || a - b; });
    } else if (how === "div") {
      o.sort(function (a, b) {
        return (D.clusters[b] - D.clusters[a]) || (D.spread[b] - D.spread[a]) || a - b;
      });
    }
    orders[how] = o;
    return o;
  }

  // ---- cards --------------------------------------------------------------------------------
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function card(i) {  // the same markup as index.html's card_html (a browser test compares)
    var g = G[GROUP[i]], u = unitOf(i), f = +D.flags[i], p = parts(i), a = el("a", "card");
    a.setAttribute("href", href(i));
    a.setAttribute("data-i", String(i));
    if (f & HAS_THUMB) {
      var img = el("img");
      img.setAttribute("src", "thumbs/" + g.slug + "/" + u + ".webp");
      img.setAttribute("alt", "");
      img.setAttribute("loading", "lazy");
      a.appendChild(img);
    } else { a.appendChild(el("span", "ph", "no image")); }
    var name = el("span", "name"), label = nameOf(i);  // what it is first: its layer may be cut
    if (g.kind === "direction" && label) { name.append(el("b", "", label)); }
    else { name.append(g.kind === "channel" ? "unit " : "feature ", el("b", "", String(u))); }
    name.append(" · " + g.name);
    a.appendChild(name);
    var c = D.clusters[i];
    a.appendChild(el("span", "meta", "act " + num(D.act[i]) +
                     (c ? " · " + c + " cluster" + (c !== 1 ? "s" : "") : "")));
    if (D.strength[i]) {
      var s = el("span", "strength", "↑ " + D.texts[D.strength[i]]);
      s.setAttribute("title", "strongest accentuation, against this unit's activations on natural images");
      a.appendChild(s);
    }
    for (var k = 0; k < 3; k++) {
      if (p[k] && p[k].length) {
        a.appendChild(el("span", "labels", D.kinds[k] + ": " + p[k].slice(0, 2).map(function (w) {
          return D.words[w];
        }).join(", ")));
        break;
      }
    }
    if (f & PENDING) { a.appendChild(el("span", "pending", "accentuation pending")); }
    else if (f & NOT_ACCENTED) { a.appendChild(el("span", "pending none", "not accentuated")); }
    return a;
  }

  var hits = null, drawn = 0;  // the matching units in order, how many have a card
  function showMore() {
    var frag = document.createDocumentFragment(), end = Math.min(hits.length, drawn + PAGE);
    for (var k = drawn; k < end; k++) { frag.appendChild(card(hits[k])); }
    grid.appendChild(frag);
    drawn = end;
    moreLine();
  }
  function moreLine() {
    var left = hits.length - drawn;
    more.hidden = left <= 0;
    more.textContent = "Show " + Math.min(left, PAGE) + " more (" + left + " not shown)";
    if (seen) { seen.unobserve(more); seen.observe(more); }  // still near? it says so again
  }

  function apply(first) {
    var tests = q.value.toLowerCase().split(/\s+/).filter(Boolean).map(test);
    var lay = layerSel.value, bas = basisSel ? basisSel.value : "", how = sortSel.value;
    var okG = G.map(function (g) {
      return (lay === "" || g.layer === +lay) && (bas === "" || g.basis === +bas);
    });
    var shown = 0;
    for (var i = 0; i < N; i++) {
      var ok = okG[GROUP[i]];
      for (var t = 0; ok && t < tests.length; t++) { ok = tests[t](i); }
      visible[i] = ok ? 1 : 0;
      shown += visible[i];
    }
    var o = order(how), list = new Int32Array(shown), n = 0;
    for (var k = 0; k < N; k++) { if (visible[o[k]]) { list[n++] = o[k]; } }
    hits = list;
    version++;
    var server = grid.querySelectorAll(".card").length;
    if (first && shown === N && how === "order" && server === Math.min(N, D.first)) {
      drawn = server;  // the HTML's own cards are these first ones: keep them
      moreLine();
    } else {
      grid.textContent = "";
      drawn = 0;
      showMore();
    }
    count.textContent = shown === N ? N + " units" : shown + " of " + N + " units";
    empty.hidden = shown > 0;
    if (map) { map.soon(); }
  }

  q.addEventListener("input", function () { apply(false); });
  layerSel.addEventListener("change", function () { apply(false); });
  if (basisSel) { basisSel.addEventListener("change", function () { apply(false); }); }
  sortSel.addEventListener("change", function () { apply(false); });
  more.addEventListener("click", showMore);
  var seen = window.IntersectionObserver ? new IntersectionObserver(function (entries) {
    if (entries[0].isIntersecting && !more.hidden) { showMore(); }
  }, { rootMargin: "600px" }) : null;  // scrolling near the end of the cards shows more
  document.addEventListener("keydown", function (e) {
    var t = e.target.tagName;
    if (e.key === "/" && t !== "INPUT" && t !== "SELECT" && t !== "TEXTAREA") {
      e.preventDefault(); q.focus(); q.select();
    }
  });

  var map = $("map-canvas") ? makeMap() : null;
  apply(true);

  // ---- the layer map ------------------------------------------------------------------------
  function need(table, dir, slug, done) {  // window[table][slug], adding its script once
    var have = window[table];
    if (have && have[slug]) { done(have[slug]); return; }
    var key = dir + slug, waiting = need.waiting || (need.waiting = {});
    if (waiting[key]) { waiting[key].push(done); return; }
    waiting[key] = [done];
    var s = document.createElement("script");
    s.src = dir + slug + ".js";
    var end = function () {
      var got = (window[table] || {})[slug] || null;
      waiting[key].forEach(function (f) { f(got); });
      delete waiting[key];
    };
    s.onload = end; s.onerror = end;
    document.head.appendChild(s);
  }

  function makeMap() {
    var canvas = $("map-canvas"), layerPick = $("map-layer"), basisPick = $("map-basis");
    var tip = $("map-tip"), tipImg = $("map-tip-img"), tipText = $("map-tip-text");
    var tipLabels = $("map-tip-labels"), ctx = canvas.getContext("2d");
    var base = document.createElement("canvas"), painted = -1, inView = true;
    base.className = "map-base";  // the points; the canvas above it shows only the hovered one
    canvas.parentNode.insertBefore(base, canvas);
    var k = -1, pts = [], byX = [], cursor = -1, hover = -1, W = 0, H = 0, PAD = 14;
    var PALETTE = (document.body.getAttribute("data-palette") || "#888888").split(" ");
    var RGB = PALETTE.map(function (c) {
      var n = parseInt(c.slice(1), 16);
      return (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255);
    });

    function group() {  // the group the two selects name (basis: channels without a select)
      var layer = +layerPick.value, basis = basisPick ? +basisPick.value : 0;
      for (var g = 0; g < G.length; g++) {
        if (G[g].map && G[g].layer === layer && G[g].basis === basis) { return g; }
      }
      return -1;
    }
    function syncBasis() {  // offer the bases this layer has a map of
      if (!basisPick) { return; }
      var layer = +layerPick.value, first = null;
      Array.prototype.forEach.call(basisPick.options, function (o) {
        var has = G.some(function (g) { return g.map && g.layer === layer && g.basis === +o.value; });
        o.disabled = !has;
        if (has && first === null) { first = o.value; }
      });
      if (basisPick.selectedOptions[0].disabled && first !== null) { basisPick.value = first; }
    }
    function load() {
      var want = group();
      hideTip();
      if (want < 0) { k = -1; pts = []; redraw(); return; }
      need("ATLAS_MAPS", "data/map/", G[want].slug, function (flat) {
        if (group() !== want) { return; }  // the selects moved on meanwhile
        k = want; pts = flat || [];
        var n = pts.length / 4;
        byX = Array.from({ length: n }, function (_, i) { return i; })
          .sort(function (a, b) { return pts[4 * a] - pts[4 * b]; });
        cursor = -1; hover = -1; painted = -1;
        canvas.setAttribute("data-group", G[k].name);
        redraw();
      });
    }
    function pos(i) {
      return [PAD + pts[4 * i] / 1000 * (W - 2 * PAD), PAD + (1 - pts[4 * i + 1] / 1000) * (H - 2 * PAD)];
    }
    function unitAt(i) { return START[k] + pts[4 * i + 2]; }
    function radius() { var n = pts.length / 4; return n < 300 ? 5 : n < 3000 ? 3.5 : 2.5; }
    function paint() {  // every point into the base canvas, one path per colour and state
      var dpr = window.devicePixelRatio || 1, c = base.getContext("2d"), r = radius();
      base.width = Math.round(W * dpr); base.height = Math.round(H * dpr);
      c.setTransform(dpr, 0, 0, dpr, 0, 0);
      var P = RGB.length, buckets = [];
      for (var b = 0; b < 4 * P; b++) { buckets.push([]); }
      for (var i = 0; i < pts.length / 4; i++) {  // [dim rings, dim dots, rings, dots] x colour
        var state = (visible[unitAt(i)] ? 2 : 0) + (pts[4 * i + 3] < 0 ? 0 : 1);
        buckets[state * P + pts[4 * i + 2] % P].push(i);
      }
      buckets.forEach(function (list, b) {
        if (!list.length) { return; }
        var state = Math.floor(b / P), on = state >= 2, ring = state % 2 === 0;
        c.beginPath();
        list.forEach(function (i) { var xy = pos(i); c.moveTo(xy[0] + r, xy[1]); c.arc(xy[0], xy[1], r, 0, 6.2832); });
        if (ring) {
          c.strokeStyle = "rgba(" + RGB[b % P] + "," + (on ? 0.95 : 0.15) + ")"; c.lineWidth = 2; c.stroke();
        } else {
          c.fillStyle = "rgba(" + RGB[b % P] + "," + (on ? 0.85 : 0.12) + ")"; c.fill();
        }
      });
      painted = version;
    }
    function redraw() {  // the points when they changed (and the map is in view), then the hover
      var dpr = window.devicePixelRatio || 1;
      var w = canvas.clientWidth, h = canvas.clientHeight;
      if (w !== W || h !== H) { W = w; H = h; painted = -1; }
      if (painted !== version && inView) { paint(); }
      if (canvas.width !== Math.round(W * dpr)) { canvas.width = Math.round(W * dpr); }
      if (canvas.height !== Math.round(H * dpr)) { canvas.height = Math.round(H * dpr); }
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, W, H);
      if (hover >= 0) {
        var xy = pos(hover), r = radius();
        ctx.beginPath(); ctx.arc(xy[0], xy[1], r + 2.5, 0, 6.2832);
        ctx.fillStyle = "rgba(" + RGB[pts[4 * hover + 2] % RGB.length] + ",1)"; ctx.fill();
        ctx.beginPath(); ctx.arc(xy[0], xy[1], r + 5, 0, 6.2832);
        ctx.strokeStyle = getComputedStyle(document.body).color; ctx.lineWidth = 2; ctx.stroke();
      }
    }
    function nearest(x, y) {
      var best = -1, bd = 14 * 14;
      for (var i = 0; i < pts.length / 4; i++) {
        if (!visible[unitAt(i)]) { continue; }
        var xy = pos(i), d = (xy[0] - x) * (xy[0] - x) + (xy[1] - y) * (xy[1] - y);
        if (d < bd) { bd = d; best = i; }
      }
      return best;
    }
    function showTip(i) {
      var u = unitAt(i), rank = pts[4 * i + 3], g = G[k], p = parts(u);
      hover = i; redraw();
      tipImg.hidden = true;
      need("ATLAS_TIPS", "data/tips/", g.slug, function (t) {
        var mid = t && t[2][pts[4 * i + 2]] && t[2][pts[4 * i + 2]][rank];
        if (hover !== i || G[k] !== g) { return; }  // moved on meanwhile
        if (mid !== undefined && mid !== null) {
          tipImg.src = t[0] + mid + t[1]; tipImg.hidden = false;
        }
      });
      tipText.textContent = g.name + " · " + what(u) + (rank < 0
        ? " · placed by its top natural images" : " · accentuation #" + rank);
      tipLabels.textContent = p.slice(0, 3).map(function (ids, kind) {
        return ids.length ? D.kinds[kind] + ": " + ids.map(function (w) { return D.words[w]; }).join(", ") : "";
      }).filter(Boolean).join(" · ");
      var xy = pos(i), left = xy[0] + 14, top = xy[1] + 14;
      if (left + 160 > W) { left = xy[0] - 164; }
      if (top + 190 > H) { top = Math.max(0, xy[1] - 200); }
      tip.style.left = left + "px"; tip.style.top = top + "px";
      tip.hidden = false;
    }
    function hideTip() { tip.hidden = true; if (hover >= 0) { hover = -1; redraw(); } }
    function open(i) {
      var u = unitAt(i), rank = pts[4 * i + 3];
      window.location.href = href(u) + (rank < 0 ? "" : "#u-" + G[k].slug + "-" + unitOf(u) + "-acc-" + rank);
    }
    function at(e) { var r = canvas.getBoundingClientRect(); return nearest(e.clientX - r.left, e.clientY - r.top); }
    canvas.addEventListener("mousemove", function (e) {
      var i = at(e);
      if (i === hover) { return; }
      if (i >= 0) { showTip(i); } else { hideTip(); }
    });
    canvas.addEventListener("mouseleave", hideTip);
    canvas.addEventListener("click", function (e) { var i = at(e); if (i >= 0) { open(i); } });
    canvas.addEventListener("keydown", function (e) {
      if (!byX.length) { return; }
      var step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
      if (step) {
        e.preventDefault();
        for (var n = 0; n < byX.length; n++) {
          cursor = (cursor + step + byX.length) % byX.length;
          if (visible[unitAt(byX[cursor])]) { break; }
        }
        showTip(byX[cursor]);
      } else if (e.key === "Enter" && hover >= 0) { open(hover); }
      else if (e.key === "Escape") { hideTip(); }
    });
    canvas.addEventListener("blur", hideTip);
    layerPick.addEventListener("change", function () { syncBasis(); load(); });
    if (basisPick) { basisPick.addEventListener("change", load); }
    window.addEventListener("resize", redraw);
    if (window.IntersectionObserver) {  // off screen, a search need not draw the points
      new IntersectionObserver(function (entries) {
        inView = entries[0].isIntersecting;
        if (inView) { redraw(); }
      }).observe(canvas);
    }
    syncBasis();
    load();
    var due = false;
    function soon() {  // after the next frame: the cards and count of a search show first
      if (due) { return; }
      due = true;
      requestAnimationFrame(function () { setTimeout(function () { due = false; redraw(); }, 0); });
    }
    return { soon: soon };
  }
})();
