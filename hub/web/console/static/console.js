// Hookhub console: small enhancements over plain HTML forms (everything works without them).
(function () {
  "use strict";

  // Copy buttons: <button data-copy="ID"> copies the value of the input #ID.
  function copy(button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    var status = document.querySelector('[data-copy-status="' + input.id + '"]');
    function done(ok) { if (status) { status.textContent = ok ? "Copied." : "Select the URL and copy it."; } }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () { done(false); });
    } else {
      input.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      done(ok);
    }
  }

  // The connection form: show the settings of the chosen provider and channel only. Hidden
  // sections are disabled too, so they are neither submitted nor in the tab order.
  function showChosen(select) {
    var kind = select.name;
    document.querySelectorAll('[data-section-kind="' + kind + '"]').forEach(function (section) {
      var chosen = section.getAttribute("data-section-name") === select.value;
      section.hidden = !chosen;
      section.disabled = !chosen;
    });
  }

  // Match and target rows: "Add a rule" / "Add a target" copy the last row, empty, under the next number.
  function addRow(fieldset, button) {
    var kind = fieldset.getAttribute("data-rows");
    var rows = fieldset.querySelectorAll("[data-row]");
    var last = rows[rows.length - 1];
    var pattern = new RegExp("^" + kind + "-(\\d+)-");
    var next = 0;
    fieldset.querySelectorAll("[name]").forEach(function (el) {
      var found = pattern.exec(el.getAttribute("name"));
      if (found) { next = Math.max(next, parseInt(found[1], 10) + 1); }
    });
    var copy = last.cloneNode(true);
    copy.querySelectorAll(".row-error").forEach(function (el) { el.remove(); });
    copy.querySelectorAll("input, select, textarea, label").forEach(function (el) {
      ["id", "name", "for"].forEach(function (attr) {
        var value = el.getAttribute(attr);
        if (value) { el.setAttribute(attr, value.replace(pattern, kind + "-" + next + "-")); }
      });
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
      if (el.tagName === "SELECT") { el.selectedIndex = 0; } else if (el.tagName !== "LABEL") { el.value = ""; }
    });
    fieldset.insertBefore(copy, button);
    copy.querySelector("input, select, textarea").focus();
  }

  // The route editor's live preview: the form as typed, posted (with its CSRF token) a moment after
  // the last keystroke; the answer is a fragment rendered by the server. Older answers are dropped.
  function livePreview(form) {
    var shown = document.getElementById("route-preview");
    var url = form.getAttribute("data-preview-url");
    var timer = null;
    var latest = 0;
    function show(html) { shown.innerHTML = html; }
    function run() {
      var mine = ++latest;
      var data = new FormData(form);
      shown.setAttribute("aria-busy", "true");
      fetch(url, {method: "POST", body: data, credentials: "same-origin",
                  headers: {"X-CSRFToken": data.get("csrf_token")}})
        .then(function (answer) {
          if (!answer.ok) { throw new Error("HTTP " + answer.status); }
          return answer.text();
        })
        .then(function (html) { if (mine === latest) { show(html); } })
        .catch(function (error) {
          if (mine !== latest) { return; }
          var note = document.createElement("p");
          note.className = "error-box";
          note.textContent = "The preview is unavailable right now (" + error.message + ").";
          shown.replaceChildren(note);
        })
        .finally(function () { if (mine === latest) { shown.setAttribute("aria-busy", "false"); } });
    }
    function soon() { clearTimeout(timer); timer = setTimeout(run, 350); }
    // The controls of what to preview against sit beside the preview, outside the form (form="…").
    var editor = form.closest("[data-preview-of]") || form;
    editor.addEventListener("input", soon);
    editor.addEventListener("change", soon);
    var button = editor.querySelector("button[name=full]");
    if (button) {
      button.addEventListener("click", function (event) { event.preventDefault(); clearTimeout(timer); run(); });
    }
    run();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("fieldset[data-rows]").forEach(function (fieldset) {
      // The empty row kept for adding one without the script: "Add a …" does that here.
      fieldset.querySelectorAll("[data-row][data-spare]").forEach(function (row) { row.remove(); });
      var button = fieldset.querySelector("button[data-add-row]");
      button.hidden = false;
      button.addEventListener("click", function () { addRow(fieldset, button); });
    });
    document.querySelectorAll("form[data-preview-url]").forEach(livePreview);
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () { copy(button); });
    });
    document.querySelectorAll(".connection-form select[name=provider], .connection-form select[name=channel]")
      .forEach(function (select) {
        showChosen(select);
        select.addEventListener("change", function () { showChosen(select); });
      });
  });
}());
