// A re-render never drops what the person typed (STYLE: HTMX and templates).
//
// A region marked data-keep-typed (a builder section, the rule builder) is re-rendered by HTMX when
// a choice in it changes. The request carries the values of the moment it left; whatever the person
// types while it is in flight is not in it, and the answer would put the old values back. So: note
// the values sent, and when the answer is swapped in, put back every field the person changed
// meanwhile (same name in the same region). A control changed meanwhile that itself re-renders
// something is sent again, so the screen follows the newest choice (hx-sync drops a request made
// while another is in flight).
(function () {
  if (window.keepTyped) return;

  function fields(root) {
    return Array.from(root.querySelectorAll("input[name], select[name], textarea[name]")).filter(function (el) {
      return el.type !== "hidden" && el.type !== "submit" && el.type !== "button" && el.type !== "file";
    });
  }

  // name -> the value(s) shown, as one comparable string
  function values(root) {
    var out = {};
    fields(root).forEach(function (el) {
      var v;
      if (el.type === "checkbox" || el.type === "radio") {
        out[el.name] = out[el.name] || [];
        if (el.checked) out[el.name].push(el.value);
        return;
      }
      v = el.multiple ? Array.from(el.selectedOptions).map(function (o) { return o.value; }) : [el.value];
      out[el.name] = (out[el.name] || []).concat(v);
    });
    Object.keys(out).forEach(function (k) { out[k] = JSON.stringify(out[k]); });
    return out;
  }

  function restore(root, name, encoded) {
    var wanted = JSON.parse(encoded), restored = [], nth = 0;
    fields(root).forEach(function (el) {
      if (el.name !== name) return;
      if (el.type === "checkbox" || el.type === "radio") {
        var on = wanted.indexOf(el.value) !== -1;
        if (el.checked !== on) { el.checked = on; restored.push(el); }
      } else if (el.multiple) {
        Array.from(el.options).forEach(function (o) { o.selected = wanted.indexOf(o.value) !== -1; });
        restored.push(el);
      } else {
        var value = wanted[nth++];  // the n-th field of that name gets the n-th value
        if (value !== undefined && el.value !== value) { el.value = value; restored.push(el); }
      }
    });
    return restored;
  }

  function regionOf(elt) {
    return elt && elt.closest ? elt.closest("[data-keep-typed]") : null;
  }

  // Each request notes its region and the values it sent (on its XHR, so concurrent requests —
  // a re-render and an audience estimate — never mix their notes).
  document.addEventListener("htmx:beforeRequest", function (e) {
    var region = regionOf(e.detail.elt);
    if (!region || !region.id || !e.detail.xhr) return;
    // Removing a row renumbers the rows after it: a value kept by name would land on the wrong row.
    var action = (e.detail.elt.getAttribute("value") || "") + (e.detail.elt.getAttribute("hx-vals") || "");
    if (/remove/.test(action)) return;
    e.detail.xhr.keepTyped = { id: region.id, sent: values(region) };
  });

  document.addEventListener("htmx:beforeSwap", function (e) {
    var note = e.detail.xhr && e.detail.xhr.keepTyped;
    if (!note) return;
    var region = document.getElementById(note.id);
    note.changed = {};
    if (!region) return;
    var now = values(region);
    Object.keys(now).forEach(function (name) {
      if (note.sent[name] !== undefined && note.sent[name] !== now[name]) note.changed[name] = now[name];
    });
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    var note = e.detail.xhr && e.detail.xhr.keepTyped;
    if (!note || !note.changed) return;
    var region = document.getElementById(note.id), restored = [], changed = [];
    if (!region) return;
    Object.keys(note.changed).forEach(function (name) {
      restored = restored.concat(restore(region, name, note.changed[name]));
      changed = changed.concat(fields(region).filter(function (el) {
        return el.name === name && (el.type !== "radio" || el.checked);
      }));
    });
    note.changed = null;
    // Values set by script fire no events: tell the page's own listeners (the rule builder keeps its
    // hidden JSON from them).
    restored.forEach(function (el) { el.dispatchEvent(new Event("input", { bubbles: true })); });
    // A change made while this request was in flight asked for its own re-render, which hx-sync
    // dropped (or this answer overtook): send one change again so the screen follows the newest
    // choice — a choice first (it re-renders the region), else a value with its note.
    var noted = changed.filter(function (el) { return el.closest("[hx-trigger^='change'], .rule-builder"); });
    var choices = noted.filter(function (el) {
      return el.tagName === "SELECT" || el.type === "radio" || el.type === "checkbox";
    });
    var again = choices[0] || noted[noted.length - 1];
    if (again) {
      // Once htmx has wired up the new content.
      setTimeout(function () { again.dispatchEvent(new Event("change", { bubbles: true })); }, 30);
    }
  });

  window.keepTyped = { values: values };
})();
