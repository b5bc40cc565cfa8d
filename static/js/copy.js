/* "Copy" for a block of text, without inline script (the pages run under a Content-Security-
   Policy): <button data-copy="ID" data-copied="Copied" hidden> copies the text of the element
   with that id. Without JavaScript (or a clipboard) the button stays hidden; the text can
   still be selected, and the page offers a download. */
"use strict";

document.querySelectorAll("button[data-copy]").forEach((button) => {
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) {
    return;
  }
  const label = button.textContent;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(source.innerText.trim());
      button.textContent = button.dataset.copied || label;
    } catch (error) {
      button.textContent = label;
    }
  });
});
