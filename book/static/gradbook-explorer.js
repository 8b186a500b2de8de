/*
 * gradbook: the working controls of each exploration's static face in the built book.
 *
 * gradbook.widgets writes, for each exploration, a <div class="gradbook-explorer"> holding its
 * controls (<input type="range"> or <select> with a data-gb-dim attribute), a Plotly figure with
 * the traces of every precomputed setting, and a JSON payload:
 *
 *   <script type="application/json" class="gradbook-explorer-spec">
 *     {"div": figure id, "n": number of traces, "sizes": grid size per control,
 *      "labels": grid labels per control, "active": grid position per control shown first,
 *      "members": trace indices per setting, "relayouts": layout keys per setting}
 *   </script>
 *
 * Settings are numbered mixed-radix over the controls, the first control most significant.
 * On page load this script finds every payload and wires its controls: moving one shows that
 * setting's traces and layout with Plotly.update, and writes the value next to a range control.
 * Loaded by every page through _config.yml (sphinx html_js_files), after plotly.js.
 */
(function () {
  "use strict";

  function settingIndex(spec, positions) {
    var k = 0;
    for (var d = 0; d < spec.sizes.length; d++) {
      k = k * spec.sizes[d] + positions[d];
    }
    return k;
  }

  function wire(script) {
    var spec = JSON.parse(script.textContent);
    var root = script.closest(".gradbook-explorer");
    var figure = document.getElementById(spec.div);
    if (!root || !figure) {
      return;
    }
    var inputs = Array.prototype.slice.call(root.querySelectorAll("[data-gb-dim]"));

    function positions() {
      var pos = spec.active.slice();
      inputs.forEach(function (el) {
        pos[Number(el.dataset.gbDim)] = Number(el.value);
      });
      return pos;
    }

    function apply() {
      var pos = positions();
      var k = settingIndex(spec, pos);
      var visible = new Array(spec.n).fill(false);
      spec.members[k].forEach(function (t) {
        visible[t] = true;
      });
      window.Plotly.update(figure, { visible: visible }, spec.relayouts[k]);
      inputs.forEach(function (el) {
        var d = Number(el.dataset.gbDim);
        var out = root.querySelector("[data-gb-value='" + d + "']");
        if (out) {
          out.textContent = spec.labels[d][pos[d]];
        }
      });
    }

    inputs.forEach(function (el) {
      el.addEventListener("input", apply);
      el.addEventListener("change", apply);
    });
  }

  function wireAll() {
    document.querySelectorAll("script.gradbook-explorer-spec").forEach(wire);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wireAll);
  } else {
    wireAll();
  }
})();
