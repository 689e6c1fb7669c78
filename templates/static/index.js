/* Index page: search, filter and sort the unit cards; the interactive layer map.
   Data comes from data/index.js (window.ATLAS_INDEX) and data/map.js (window.ATLAS_MAP), plain
   scripts rather than fetched JSON so the page works from file:// under a strict CSP. */
(function () {
  "use strict";
  var D = window.ATLAS_INDEX, M = window.ATLAS_MAP;
  if (!D) { return; }
  var $ = function (id) { return document.getElementById(id); };
  var grid = $("cards"), q = $("q"), layerSel = $("layer"), sortSel = $("sort");
  var count = $("count"), empty = $("empty");
  var cards = Array.prototype.slice.call(grid.querySelectorAll(".card"));
  // units: [layer index, unit, top activation, clusters, spread, label names by kind (search)]
  var U = D.units;
  var hay = U.map(function (u) { return (D.layers[u[0]] + " " + u[5]).toLowerCase(); });
  var visible = U.map(function () { return true; });

  function href(i) { return "units/" + D.slugs[U[i][0]] + "/" + U[i][1] + ".html"; }

  function matches(i, tokens, layer) {
    var u = U[i];
    if (layer !== "" && u[0] !== +layer) { return false; }
    return tokens.every(function (t) {
      var m = /^(.*):(\d+)$/.exec(t);
      if (m) { return u[1] === +m[2] && D.layers[u[0]].toLowerCase().indexOf(m[1]) >= 0; }
      if (/^#?\d+$/.test(t)) { return u[1] === +t.replace("#", ""); }
      return hay[i].indexOf(t) >= 0;
    });
  }

  function key(i, how) {
    var u = U[i];
    if (how === "act") { return [-(u[2] === null ? -Infinity : u[2]), i]; }
    if (how === "div") { return [-(u[3] || 0), -(u[4] || 0), i]; }
    return [i];
  }

  function cmp(a, b) {
    for (var k = 0; k < a.length; k++) { if (a[k] !== b[k]) { return a[k] < b[k] ? -1 : 1; } }
    return 0;
  }

  var sorted = "order";  // the cards' current order: moved only when the sort changes

  function apply() {
    var tokens = q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var layer = layerSel.value, how = sortSel.value, shown = 0;
    U.forEach(function (u, i) {
      var ok = matches(i, tokens, layer);
      visible[i] = ok;
      if (cards[i].hidden === ok) { cards[i].hidden = !ok; }  // touch only what changes
      if (ok) { shown++; }
    });
    if (how !== sorted) {
      var order = U.map(function (u, i) { return i; });
      order.sort(function (a, b) { return cmp(key(a, how), key(b, how)); });
      var frag = document.createDocumentFragment();
      order.forEach(function (i) { frag.appendChild(cards[i]); });
      grid.appendChild(frag);
      sorted = how;
    }
    count.textContent = shown === U.length ? U.length + " units" : shown + " of " + U.length + " units";
    empty.hidden = shown > 0;
    if (map) { map.draw(); }
  }

  q.addEventListener("input", apply);
  layerSel.addEventListener("change", apply);
  sortSel.addEventListener("change", apply);
  document.addEventListener("keydown", function (e) {
    var t = e.target.tagName;
    if (e.key === "/" && t !== "INPUT" && t !== "SELECT" && t !== "TEXTAREA") {
      e.preventDefault(); q.focus(); q.select();
    }
  });

  var map = M && $("map-canvas") ? makeMap() : null;
  apply();

  function makeMap() {
    var canvas = $("map-canvas"), sel = $("map-layer"), tip = $("map-tip");
    var tipImg = $("map-tip-img"), tipText = $("map-tip-text"), tipLabels = $("map-tip-labels");
    var ctx = canvas.getContext("2d");
    var pts = [], byX = [], cursor = -1, hover = -1, W = 0, H = 0, PAD = 14;

    var PALETTE = (document.body.getAttribute("data-palette") || "#888888").split(" ");
    function colour(i, alpha) {  // the charts' palette (atlas/site/svg.py), repeating
      var n = parseInt(PALETTE[i % PALETTE.length].slice(1), 16);
      return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
    }
    function pos(p) { return [PAD + p[0] / 1000 * (W - 2 * PAD), PAD + (1 - p[1] / 1000) * (H - 2 * PAD)]; }
    function load() {
      var flat = M.layers[sel.value] || [];
      pts = [];
      for (var k = 0; k + 3 < flat.length; k += 4) { pts.push([flat[k], flat[k + 1], flat[k + 2], flat[k + 3]]); }
      byX = pts.map(function (p, i) { return i; }).sort(function (a, b) { return pts[a][0] - pts[b][0]; });
      cursor = -1; hover = -1; hideTip(); draw();
    }
    function draw() {
      var dpr = window.devicePixelRatio || 1;
      W = canvas.clientWidth; H = canvas.clientHeight;
      if (canvas.width !== Math.round(W * dpr)) { canvas.width = Math.round(W * dpr); }
      if (canvas.height !== Math.round(H * dpr)) { canvas.height = Math.round(H * dpr); }
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, W, H);
      var radius = pts.length < 300 ? 5 : pts.length < 3000 ? 3.5 : 2.5;
      [false, true].forEach(function (on) {
        pts.forEach(function (p, i) {
          if (visible[p[2]] !== on) { return; }
          var xy = pos(p);
          ctx.beginPath();
          ctx.arc(xy[0], xy[1], i === hover ? radius + 2.5 : radius, 0, 6.2832);
          if (p[3] < 0) {  // the unit's own point (placed by its top images): a ring
            ctx.strokeStyle = colour(p[2], on ? 0.95 : 0.15); ctx.lineWidth = 2; ctx.stroke();
          } else {
            ctx.fillStyle = colour(p[2], on ? 0.85 : 0.12);
            ctx.fill();
          }
        });
      });
      if (hover >= 0) {
        var xy = pos(pts[hover]);
        ctx.beginPath(); ctx.arc(xy[0], xy[1], radius + 5, 0, 6.2832);
        ctx.strokeStyle = getComputedStyle(document.body).color; ctx.lineWidth = 2; ctx.stroke();
      }
    }
    function nearest(x, y) {
      var best = -1, bd = 14 * 14;
      pts.forEach(function (p, i) {
        if (!visible[p[2]]) { return; }
        var xy = pos(p), d = (xy[0] - x) * (xy[0] - x) + (xy[1] - y) * (xy[1] - y);
        if (d < bd) { bd = d; best = i; }
      });
      return best;
    }
    function showTip(i) {
      var p = pts[i], u = U[p[2]], m = M.media[p[2]], mid = m && m[2][p[3]];
      var media = mid === undefined ? null : m[0] + mid + m[1];
      hover = i; draw();
      if (media) { tipImg.src = media; tipImg.hidden = false; } else { tipImg.hidden = true; }
      tipText.textContent = D.layers[u[0]] + " · unit " + u[1] + (p[3] < 0
        ? " · placed by its top natural images" : " · accentuation #" + p[3]);
      tipLabels.textContent = u[5].split("|").map(function (t, k) {
        return t ? ["data", "ablation", "accentuation"][k] + ": " + t : "";
      }).filter(Boolean).join(" · ");
      var xy = pos(p), left = xy[0] + 14, top = xy[1] + 14;
      if (left + 160 > W) { left = xy[0] - 164; }
      if (top + 190 > H) { top = Math.max(0, xy[1] - 200); }
      tip.style.left = left + "px"; tip.style.top = top + "px";
      tip.hidden = false;
    }
    function hideTip() { tip.hidden = true; if (hover >= 0) { hover = -1; draw(); } }
    function open(i) {
      var p = pts[i];
      window.location.href = href(p[2]) + (p[3] < 0 ? "" : "#u-" + D.slugs[U[p[2]][0]] + "-" + U[p[2]][1] + "-acc-" + p[3]);
    }
    function at(e) { var r = canvas.getBoundingClientRect(); return nearest(e.clientX - r.left, e.clientY - r.top); }
    canvas.addEventListener("mousemove", function (e) { var i = at(e); if (i >= 0) { showTip(i); } else { hideTip(); } });
    canvas.addEventListener("mouseleave", hideTip);
    canvas.addEventListener("click", function (e) { var i = at(e); if (i >= 0) { open(i); } });
    canvas.addEventListener("keydown", function (e) {
      if (!pts.length) { return; }
      var step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
      if (step) {
        e.preventDefault();
        for (var n = 0; n < byX.length; n++) {
          cursor = (cursor + step + byX.length) % byX.length;
          if (visible[pts[byX[cursor]][2]]) { break; }
        }
        showTip(byX[cursor]);
      } else if (e.key === "Enter" && hover >= 0) { open(hover); }
      else if (e.key === "Escape") { hideTip(); }
    });
    canvas.addEventListener("blur", hideTip);
    sel.addEventListener("change", load);
    window.addEventListener("resize", draw);
    var api = { draw: draw };
    setTimeout(load, 0);
    return api;
  }
})();
