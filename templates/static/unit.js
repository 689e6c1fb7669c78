/* Unit page: arrow keys go to the previous/next unit; a frame strip becomes a player in the
   "seed → accentuation" tile (the strip stays as the no-script fallback). */
(function () {
  "use strict";
  document.addEventListener("keydown", function (e) {
    var t = e.target.tagName;
    if (e.altKey || e.ctrlKey || e.metaKey || t === "INPUT" || t === "SELECT" || t === "TEXTAREA") { return; }
    var rel = { ArrowLeft: "prev", ArrowRight: "next" }[e.key];
    var link = rel && document.querySelector('a[rel="' + rel + '"]');
    if (link) { window.location.href = link.href; }
  });

  var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  Array.prototype.forEach.call(document.querySelectorAll(".accent"), function (box) {
    var tile = box.querySelector(".anim.player"), strip = box.querySelector(".frames");
    var img = tile && tile.querySelector("img");
    if (!img || !strip) { return; }
    var srcs = Array.prototype.map.call(strip.querySelectorAll(".strip img"), function (im) { return im.src; });
    if (srcs.length < 2) { return; }
    var bar = document.createElement("div"), btn = document.createElement("button");
    var range = document.createElement("input");
    bar.className = "controls-mini";
    btn.type = "button";
    range.type = "range"; range.min = 0; range.max = srcs.length - 1;
    range.setAttribute("aria-label", "optimization step");
    bar.appendChild(btn); bar.appendChild(range);
    tile.appendChild(bar);
    strip.hidden = true;
    srcs.forEach(function (s) { new Image().src = s; });  // preload: smooth first loop
    var timer = null, i = srcs.length - 1;
    function show(k) { i = k; img.src = srcs[k]; range.value = k; }
    function stop() { clearInterval(timer); timer = null; btn.textContent = "▶"; btn.setAttribute("aria-label", "play"); }
    function play() {
      btn.textContent = "❚❚"; btn.setAttribute("aria-label", "pause");
      timer = setInterval(function () { show((i + 1) % srcs.length); }, 300);
    }
    btn.addEventListener("click", function () { if (timer) { stop(); } else { play(); } });
    range.addEventListener("input", function () { stop(); show(+range.value); });
    stop(); show(i);
    if (!still) { play(); }
  });
})();
