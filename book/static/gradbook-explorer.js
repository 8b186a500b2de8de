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
 * On page load this script finds every payload and wires its controls to the figure of the same
 * explorer (looked up inside it, by its id): it first shows the setting the controls hold (the
 * one drawn, unless a browser restored other values on reload or back navigation; the controls
 * ask it not to, with autocomplete="off"), and from then on moving a control shows that setting's
 * traces and layout with Plotly.update, and writes the value next to a range control.
 * A payload that cannot be wired (bad JSON, no figure, sizes that do not match) leaves its figure
 * as drawn, disables its controls, writes a <p class="gradbook-explorer-error"> into its explorer
 * and reports the error with console.error; the other explorations are wired all the same.
 * On a page of the Chinese edition (<html lang="zh-CN">, any lang starting with "zh") it first
 * writes each control's Chinese: an <option>'s text and a control's aria-label are replaced by
 * their data-gb-zh attribute (an <option> holds text only, so CSS cannot choose between two
 * spans there as it does for the controls' names). The English stays the default content.
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

  // The payload's shape, so that a bad one fails on page load rather than on a reader's move.
  function check(spec) {
    var dims = spec.sizes.length;
    if (spec.labels.length !== dims || spec.active.length !== dims) {
      throw new Error("the payload's sizes, labels and active differ in length");
    }
    var settings = spec.sizes.reduce(function (a, b) {
      return a * b;
    }, 1);
    if (spec.members.length !== settings || spec.relayouts.length !== settings) {
      throw new Error("the payload holds " + spec.members.length + " settings, its controls " + settings);
    }
    for (var d = 0; d < dims; d++) {
      if (spec.labels[d].length !== spec.sizes[d] || !(spec.active[d] >= 0 && spec.active[d] < spec.sizes[d])) {
        throw new Error("control " + d + " has " + spec.labels[d].length + " labels for " + spec.sizes[d] +
          " grid values, or its first position is outside them");
      }
    }
  }

  // The figure inside this explorer: Plotly's div, whose id the payload names.
  function findFigure(root, id) {
    var plots = root.querySelectorAll(".plotly-graph-div");
    for (var i = 0; i < plots.length; i++) {
      if (plots[i].id === id) {
        return plots[i];
      }
    }
    throw new Error("no figure with id \"" + id + "\" inside this exploration");
  }

  function wire(script, root) {
    var spec = JSON.parse(script.textContent);
    check(spec);
    var figure = findFigure(root, spec.div);
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

    // The controls may hold values the figure does not show (restored by the browser): show
    // theirs. With nothing restored the figure already shows the first setting.
    var restored = positions().some(function (p, d) {
      return p !== spec.active[d];
    });
    if (restored) {
      apply();
    }
    inputs.forEach(function (el) {
      el.addEventListener("input", apply);
      el.addEventListener("change", apply);
    });
  }

  function report(root, err) {
    var message = err && err.message ? err.message : String(err);
    console.error("gradbook-explorer: the controls of " + (root && root.id ? "#" + root.id : "an exploration") +
      " could not be wired:", err);
    if (!root) {
      return;
    }
    Array.prototype.forEach.call(root.querySelectorAll("[data-gb-dim]"), function (el) {
      el.disabled = true;
    });
    var p = document.createElement("p");
    p.className = "gradbook-explorer-error";
    p.textContent = "The controls of this exploration could not be wired: " + message;
    var controls = root.querySelector(".gradbook-controls");
    if (controls) {
      root.insertBefore(p, controls);
    } else {
      root.appendChild(p);
    }
  }

  function wireAll() {
    document.querySelectorAll("script.gradbook-explorer-spec").forEach(function (script) {
      var root = script.closest(".gradbook-explorer");
      try {
        if (!root) {
          throw new Error("its payload is not inside a .gradbook-explorer");
        }
        wire(script, root);
      } catch (err) {
        report(root, err);
      }
    });
  }

  // The Chinese edition: options' text and controls' accessible names from their data-gb-zh.
  function translateControls() {
    var lang = (document.documentElement.lang || "").toLowerCase();
    if (lang.indexOf("zh") !== 0) {
      return;
    }
    document.querySelectorAll(".gradbook-explorer [data-gb-zh]").forEach(function (el) {
      if (el.tagName === "OPTION") {
        el.textContent = el.dataset.gbZh;
      } else {
        el.setAttribute("aria-label", el.dataset.gbZh);
      }
    });
  }

  function start() {
    try {
      translateControls();
    } catch (err) {
      console.error("gradbook-explorer: the controls could not be translated:", err);
    }
    wireAll();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
