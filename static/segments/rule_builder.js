// Rule builder (templates/segments/components/rule_builder.html): keeps the hidden `rules` input equal
// to the tree the controls describe, and asks the server to re-render the builder when a dropdown
// changes. Serialisation mirrors segments/builder/controls.py tree_from_controls.
(function () {
  if (window.ruleBuilder) return;

  function setPath(root, parts, value) {
    var node = root;
    for (var i = 0; i < parts.length - 1; i++) {
      if (typeof node[parts[i]] !== "object" || node[parts[i]] === null) node[parts[i]] = {};
      node = node[parts[i]];
    }
    node[parts[parts.length - 1]] = value;
  }

  function listify(node) {
    if (Array.isArray(node)) return node.map(listify);
    if (typeof node !== "object" || node === null) return node;
    var keys = Object.keys(node), out = {};
    keys.forEach(function (k) { out[k] = listify(node[k]); });
    if (keys.length && keys.every(function (k) { return /^\d+$/.test(k); })) {
      return keys.map(Number).sort(function (a, b) { return a - b; }).map(function (k) { return out[String(k)]; });
    }
    return out;
  }

  function finalise(node) {
    if (Array.isArray(node)) return node.map(finalise);
    if (typeof node !== "object" || node === null) return node;
    var out = {};
    Object.keys(node).forEach(function (k) { out[k] = finalise(node[k]); });
    if ("second" in out || "side2" in out) {
      var second = out.second === "did_also" ? "did_also" : "did_not";
      out[second] = out.side2 || {};
      delete out.second; delete out.side2;
    }
    if (out.aggregate && typeof out.aggregate === "object" && !out.aggregate.function) delete out.aggregate;
    if ("include_zero" in out) out.include_zero = !!out.include_zero;
    // Dates are typed as the app shows them ("4 Dec 2026"); the rules hold ISO (config/dates.py).
    ["date", "date2"].forEach(function (k) { if (typeof out[k] === "string") out[k] = isoDate(out[k]); });
    if (out.value_type === "date") {
      ["value", "value2"].forEach(function (k) { if (typeof out[k] === "string") out[k] = isoDate(out[k]); });
    }
    return out;
  }

  function isoDate(text) {
    var p = window.dateFields && window.dateFields.parse(text);
    if (!p) return text;
    return p[0] + "-" + (p[1] < 10 ? "0" : "") + p[1] + "-" + (p[2] < 10 ? "0" : "") + p[2];
  }

  function serialise(rb) {
    var root = {};
    rb.querySelectorAll("[name^='rb.']").forEach(function (el) {
      var name = el.name.slice(3), value;
      if (el.type === "checkbox" || el.type === "radio") {
        if (!el.checked) return;
        value = el.value;
      } else if (name.slice(-2) === "[]") {
        name = name.slice(0, -2);
        value = el.multiple ? Array.from(el.selectedOptions).map(function (o) { return o.value; }).filter(Boolean) : [el.value];
      } else {
        value = el.value;
      }
      setPath(root, name.split("."), value);
    });
    var tree = finalise(listify(root));
    if (!Array.isArray(tree.rules)) tree.rules = [];
    if (!tree.op) tree.op = "and";
    return tree;
  }

  function sync(rb, notify) {
    if (!rb.hasAttribute("data-visual")) return;
    var hidden = rb.querySelector("input[name='rules']");
    hidden.value = JSON.stringify(serialise(rb));
    if (notify) htmx.trigger(hidden, "rb-changed");
  }

  function builderOf(el) {
    return el && el.name && el.name.indexOf("rb.") === 0 ? el.closest(".rule-builder") : null;
  }

  document.addEventListener("input", function (e) {
    var rb = builderOf(e.target);
    if (rb && e.target.tagName !== "SELECT") sync(rb, true);
  });
  document.addEventListener("change", function (e) {
    var rb = builderOf(e.target);
    if (!rb) return;
    sync(rb, true);
    if (e.target.tagName === "SELECT" || e.target.type === "checkbox") {
      rb.querySelector("input[name='rb_changed']").value = e.target.name;
      htmx.trigger(rb, "rb-refresh");
    }
  });
  // This script runs where the builder is, while the page is still loading: htmx (a deferred script)
  // may not be there yet, so its onLoad hook is added once the document has been parsed.
  function onHtmxLoad() {
    htmx.onLoad(function (el) {
      var all = el.matches && el.matches(".rule-builder") ? [el] : Array.from(el.querySelectorAll(".rule-builder"));
      all.forEach(function (rb) { sync(rb, false); });
    });
  }
  if (window.htmx) onHtmxLoad();
  else document.addEventListener("DOMContentLoaded", onHtmxLoad);
  // An exact count stays until the rules change: the debounced estimate that typing scheduled
  // just before "Exact count" was clicked would otherwise replace it half a second later.
  function countedFor(rules) {
    var shown = document.getElementById("rule-estimate");
    return shown && shown.hasAttribute("data-counted") && shown.getAttribute("data-counted") === rules;
  }
  function isEstimate(e) {
    return e.detail.elt && e.detail.elt.id === "id_rules" && (e.detail.requestConfig || {}).verb === "post";
  }
  document.addEventListener("htmx:beforeRequest", function (e) {
    if (isEstimate(e) && countedFor(e.detail.elt.value)) e.preventDefault();
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    var sent = e.detail.requestConfig && e.detail.requestConfig.parameters;
    var rules = sent && (typeof sent.get === "function" ? sent.get("rules") : sent.rules);
    if (isEstimate(e) && countedFor(rules)) e.detail.shouldSwap = false;
  });
  window.ruleBuilder = { serialise: serialise, sync: sync };
})();
