/* Index page: the search box also filters the list of class pages (templates/_classes_index.html). */
(function () {
  "use strict";
  var q = document.getElementById("q"), list = document.getElementById("class-list");
  if (!q || !list) { return; }
  var items = Array.prototype.slice.call(list.querySelectorAll("li"));
  var count = document.getElementById("class-count"), empty = document.getElementById("class-empty");
  function apply() {
    var tokens = q.value.toLowerCase().split(/\s+/).filter(Boolean), shown = 0;
    items.forEach(function (li) {
      var name = li.getAttribute("data-name") || "";
      var ok = tokens.every(function (t) { return name.indexOf(t) >= 0; });
      li.hidden = !ok;
      if (ok) { shown++; }
    });
    count.textContent = shown === items.length ? items.length + " classes" : shown + " of " + items.length + " classes";
    empty.hidden = shown > 0;
  }
  q.addEventListener("input", apply);
  apply();
})();
