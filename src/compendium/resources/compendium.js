/* A "Show all code" button for pages whose code cells are folded.
 *
 * Every code cell's input sits in a closed <details> element (compendium.sphinx_ext folds
 * them at build time), so each opens on its own without this script. The button, placed
 * under the page heading, opens or closes all of them at once, and its label follows the
 * cells when a reader opens or closes them one by one. Nothing is loaded from elsewhere.
 */
(() => {
  "use strict";

  function setUp() {
    const folds = [...document.querySelectorAll("main details.hide.above-input")];
    const heading = document.querySelector("main article h1");
    if (!folds.length || !heading || document.querySelector(".compendium-code-toggle")) {
      return;
    }
    const bar = document.createElement("div");
    bar.className = "compendium-code-bar";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "compendium-code-toggle btn btn-sm";
    const count = folds.length === 1 ? "1 code cell" : `${folds.length} code cells`;
    const refresh = () => {
      const allOpen = folds.every((fold) => fold.open);
      button.textContent = allOpen ? `Hide all code (${count})` : `Show all code (${count})`;
      button.dataset.state = allOpen ? "open" : "closed";
    };
    button.addEventListener("click", () => {
      const open = !folds.every((fold) => fold.open);
      folds.forEach((fold) => {
        fold.open = open;
      });
      refresh();
    });
    folds.forEach((fold) => fold.addEventListener("toggle", refresh));
    refresh();
    bar.appendChild(button);
    heading.insertAdjacentElement("afterend", bar);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
