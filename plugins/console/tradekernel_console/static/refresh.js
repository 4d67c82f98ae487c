// Refreshes the list in #live every data-refresh seconds while the operator is not
// typing in it (no field focused or filled). The pages work the same without it.
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-refresh")) || 0;
  var live = document.getElementById("live");
  if (!seconds || !live || !window.fetch || !window.DOMParser) return;
  function busy() {
    var fields = live.querySelectorAll("input[name=reason]");
    for (var i = 0; i < fields.length; i++) if (fields[i].value) return true;
    return live.contains(document.activeElement);
  }
  setInterval(function () {
    if (busy() || document.hidden) return;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null || busy()) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
      })
      .catch(function () {});
  }, seconds * 1000);
})();
