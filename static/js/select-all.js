/* "Select all" for a table of checkboxes, without inline script (the pages may run under a
   Content-Security-Policy): <input type="checkbox" data-select-all="NAME" hidden> ticks every
   checkbox named NAME in its form, and <output data-selected-count="NAME" hidden> in the form
   says how many are ticked. Without JavaScript both stay hidden. */
"use strict";

document.querySelectorAll("input[type=checkbox][data-select-all]").forEach((master) => {
  const form = master.form;
  if (!form) {
    return;
  }
  const name = master.dataset.selectAll;
  const boxes = () =>
    Array.from(form.querySelectorAll("input[type=checkbox]")).filter((box) => box.name === name);

  const counter = form.querySelector(`output[data-selected-count="${name}"]`);
  const count = () => {
    const all = boxes();
    const ticked = all.filter((box) => box.checked).length;
    master.checked = ticked > 0 && ticked === all.length;
    master.indeterminate = ticked > 0 && ticked < all.length;
    if (counter) {
      counter.hidden = false;
      counter.value = String(ticked);
    }
  };

  master.hidden = false;
  master.addEventListener("change", () => {
    boxes().forEach((box) => {
      box.checked = master.checked;
    });
    count();
  });
  form.addEventListener("change", (event) => {
    if (event.target.name === name) {
      count();
    }
  });
  count();
});
