/* Unit page: arrow keys go to the previous/next unit; a frame strip becomes a player in the
   "seed → accentuation" tile (the strip stays as the no-script fallback); each large
   accentuation flips to its seed in place, so a change too small to see side by side shows
   as a blink. */
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

  /* Flip: a mouse over the image shows the other one while it stays; the button (keyboard,
     mouse, touch) or a tap on the image pins the flip until flipped back. The state is a class
     on the figure and the stylesheet decides what shows (the report, which has no script,
     flips on hover alone). */
  Array.prototype.forEach.call(document.querySelectorAll(".flip"), function (fig) {
    var stage = fig.querySelector(".flip-stage"), btn = fig.querySelector(".flip-btn");
    if (!stage || !btn || !stage.querySelector("img.flip-seed") || !stage.querySelector("img.flip-accent")) { return; }
    var pinned = false, peek = false, pointer = "";
    function render() {
      fig.classList.toggle("seed", pinned !== peek);
      btn.setAttribute("aria-pressed", pinned ? "true" : "false");
    }
    fig.classList.add("js");
    btn.hidden = false;
    btn.addEventListener("click", function () { pinned = !pinned; render(); });
    stage.addEventListener("pointerdown", function (e) { pointer = e.pointerType; });
    stage.addEventListener("pointerenter", function (e) { if (e.pointerType === "mouse") { peek = true; render(); } });
    stage.addEventListener("pointerleave", function (e) { if (e.pointerType === "mouse") { peek = false; render(); } });
    stage.addEventListener("click", function () { if (pointer !== "mouse") { pinned = !pinned; render(); } });
  });

  /* The image view (heatmap / photo / crop) is a radio group the stylesheet reads; remember
     the choice across units and visits (storage may be refused on file://: then per page). */
  var KEY = "atlas-view";
  function saved() { try { return window.localStorage.getItem(KEY); } catch (e) { return null; } }
  function save(v) { try { window.localStorage.setItem(KEY, v); } catch (e) { /* per page */ } }
  var want = saved();
  Array.prototype.forEach.call(document.querySelectorAll("input.vw"), function (r) {
    if (want && r.value === want) { r.checked = true; }
    r.addEventListener("change", function () { if (r.checked) { save(r.value); } });
  });
})();
