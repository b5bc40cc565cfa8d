/* "Select all" for a table of checkboxes, without inline script (the pages may run under a
   Content-Security-Policy): <input type="checkbox" data-select-all="NAME" hidden> ticks every
   checkbox named NAME in its form. Without JavaScript the box stays hidden. */
"use strict";

document.querySelectorAll("input[type=checkbox][data-select-all]").forEach((master) => {
  const form = master.form;
  if (!form) {
    return;
  }
  const name = master.dataset.selectAll;
  const boxes = () =>
    Array.from(form.querySelectorAll("input[type=checkbox]")).filter((box) => box.name === name);

  master.hidden = false;
  master.addEventListener("change", () => {
    boxes().forEach((box) => {
      box.checked = master.checked;
    });
  });
  form.addEventListener("change", (event) => {
    if (event.target.name !== name) {
      return;
    }
    const all = boxes();
    const ticked = all.filter((box) => box.checked).length;
    master.checked = ticked > 0 && ticked === all.length;
    master.indeterminate = ticked > 0 && ticked < all.length;
  });
});
