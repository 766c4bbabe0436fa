/*
 * The configuration page without round trips: only the chosen evidence kind's fields show, a field
 * shows only when it applies (data-shown-when="verification=peer;peer_rule=mean_score"), "Add a
 * question" adds a row in place, Enter saves, and after a failed save the list of problems takes the focus.
 * Without this script every field shows, labelled, and the "add" buttons post the page back.
 */
(function () {
  "use strict";

  function control(scope, name) {
    return scope.querySelector("[name='" + name + "'], [name$='-" + name + "']");
  }

  function holds(scope, condition) {
    var parts = condition.split("="), input = control(scope, parts[0]);
    if (!input) { return true; }
    var value = input.type === "checkbox" ? (input.checked ? "on" : "") : input.value;
    return parts[1].split(",").indexOf(value) !== -1;
  }

  function sync() {
    document.querySelectorAll("[data-requirement-form]").forEach(function (fieldset) {
      var kind = fieldset.querySelector("select[name$='-kind']");
      if (!kind) { return; }
      fieldset.querySelectorAll("[data-kind-field]").forEach(function (field) {
        field.hidden = field.getAttribute("data-kind-field") !== kind.value;
      });
      fieldset.querySelectorAll(".activation-kind-note").forEach(function (note) { note.hidden = true; });
    });
    document.querySelectorAll("[data-shown-when]").forEach(function (field) {
      var scope = field.closest("[data-scope]") || document;
      field.hidden = !field.getAttribute("data-shown-when").split(";").every(function (condition) {
        return holds(scope, condition);
      });
    });
  }

  function blank(row, index, prefix) {
    row.setAttribute("data-row", String(index));
    row.classList.remove("has-error");
    row.querySelectorAll(".activation-errors").forEach(function (error) { error.remove(); });
    row.querySelectorAll("[name]").forEach(function (input) {
      input.name = prefix + "-" + index + "-" + input.name.split("-").pop();
      input.removeAttribute("aria-invalid");
      if (input.type === "checkbox") { input.checked = false; }
      else if (input.tagName === "SELECT") { input.value = "text"; }
      else { input.value = input.type === "number" ? "1" : ""; }
    });
  }

  function addRow(button) {
    var list = button.parentNode.querySelector("[data-rows]");
    var rows = list.querySelectorAll("[data-row]");
    var next = 0;
    rows.forEach(function (row) { next = Math.max(next, Number(row.getAttribute("data-row")) + 1); });
    var row = rows[rows.length - 1].cloneNode(true);
    blank(row, next, list.getAttribute("data-rows"));
    list.appendChild(row);
    sync();
    row.querySelector("input, select, textarea").focus();
  }

  document.addEventListener("change", sync);
  // Enter in a one-line field saves, as in any form; the browser's default would press the first "add" button.
  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key === "Enter" && field.form && field.tagName === "INPUT" && field.type !== "submit") {
      var save = field.form.querySelector("[data-save]");
      if (save) {
        event.preventDefault();
        save.click();
      }
    }
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-row]");
    if (button) {
      event.preventDefault();
      addRow(button);
    }
  });
  sync();
  var summary = document.querySelector("[data-error-summary]");
  if (summary) { summary.focus(); }
}());
