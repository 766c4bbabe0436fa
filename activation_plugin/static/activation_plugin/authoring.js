/* Show only the fields of the chosen evidence kind; without this script every kind's fields show, labelled. */
(function () {
  "use strict";
  function sync(fieldset) {
    var kind = fieldset.querySelector("select[name$='-kind']");
    if (!kind) { return; }
    fieldset.querySelectorAll("[data-kind-field]").forEach(function (field) {
      field.hidden = field.getAttribute("data-kind-field") !== kind.value;
    });
    fieldset.querySelectorAll(".activation-kind-note").forEach(function (note) { note.hidden = true; });
  }
  document.querySelectorAll("[data-requirement-form]").forEach(function (fieldset) {
    sync(fieldset);
    fieldset.addEventListener("change", function (event) {
      if (event.target.name && /-kind$/.test(event.target.name)) { sync(fieldset); }
    });
  });
}());
