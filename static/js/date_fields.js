// Date fields type and show dates as every page shows them ("4 Dec 2026"), not in the browser's own
// format (a native <input type="date"> shows mm/dd/yyyy in an American browser and cannot be told
// otherwise). Each text input marked data-date-field (data-datetime-field: a date and a time) gets
// a calendar button that opens the browser's own picker and writes the choice back in the app's
// format. The server reads what is typed (config/dates.py); this is only a convenience.
(function () {
  if (window.dateFields) return;
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // "4 Dec 2026" / "4 December 2026 18:30" / "2026-12-04" / "2026-12-04T18:30" -> [y, m, d, "HH:MM"]
  function parse(text) {
    var t = (text || "").replace(/,/g, " ").trim().replace(/\s+/g, " ");
    var m = t.match(/^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{1,2}:\d{2}))?/);
    if (m) return [+m[1], +m[2], +m[3], m[4] || ""];
    m = t.match(/^(\d{1,2}) ([A-Za-z]{3})[A-Za-z]* (\d{4})(?: (\d{1,2}:\d{2}))?$/);
    if (!m) return null;
    var month = MONTHS.map(function (x) { return x.toLowerCase(); }).indexOf(m[2].toLowerCase());
    return month < 0 ? null : [+m[3], month + 1, +m[1], m[4] || ""];
  }

  function display(y, m, d, time) {
    return d + " " + MONTHS[m - 1] + " " + y + (time ? " " + time : "");
  }

  function enhance(input) {
    if (input.dataset.dateFieldReady) return;
    input.dataset.dateFieldReady = "1";
    var withTime = input.hasAttribute("data-datetime-field");
    var picker = document.createElement("input");
    picker.type = withTime ? "datetime-local" : "date";
    picker.tabIndex = -1;
    picker.setAttribute("aria-hidden", "true");
    picker.className = "date-field-picker";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm date-field-button";
    // A drawn calendar, not an emoji: not every machine has an emoji font.
    button.innerHTML = '<svg width="14" height="14" viewBox="0 0 16 16" aria-hidden="true" focusable="false">' +
      '<rect x="1.5" y="3" width="13" height="11.5" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.5"/>' +
      '<path d="M1.5 6.5h13M5 1.5v3M11 1.5v3" stroke="currentColor" stroke-width="1.5" fill="none"/></svg>';
    button.title = "Choose a date";
    button.setAttribute("aria-label", "Calendar");
    button.addEventListener("click", function () {
      var p = parse(input.value);
      if (p) {
        var day = p[0] + "-" + pad(p[1]) + "-" + pad(p[2]);
        picker.value = withTime ? day + "T" + (p[3] ? (p[3].length === 4 ? "0" + p[3] : p[3]) : "09:00") : day;
      }
      if (picker.showPicker) {
        try { picker.showPicker(); return; } catch (e) { /* not allowed here: fall through */ }
      }
      picker.focus();
    });
    // The picker has no name and is not part of the form: its own events stop here, and the text
    // input announces the change as if typed.
    picker.addEventListener("input", function (evt) { evt.stopPropagation(); });
    picker.addEventListener("change", function (evt) {
      evt.stopPropagation();
      var p = parse(picker.value.replace("T", " "));
      if (!p) return;
      input.value = display(p[0], p[1], p[2], withTime ? p[3] : "");
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
    var wrap = document.createElement("span");
    wrap.className = "date-field";
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    wrap.appendChild(button);
    wrap.appendChild(picker);
  }

  function scan(root) {
    (root || document).querySelectorAll("input[data-date-field], input[data-datetime-field]").forEach(enhance);
  }

  window.dateFields = { scan: scan, parse: parse };
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (evt) { scan(evt.target); });
})();
