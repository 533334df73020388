/* What the book's pages do in the browser; nothing is loaded from another host.
 *
 * 1. A "Show all code" button for pages whose code cells are folded. Every code cell's input
 *    sits in a closed <details> element (compendium.sphinx_ext folds them at build time), so
 *    each opens on its own without this script. The button, placed under the page heading,
 *    opens or closes all of them at once, and its label follows the cells when a reader opens
 *    or closes them one by one.
 * 2. Long reference tables (class compendium-sortable, compendium.presentation.tables) become
 *    sortable and filterable with DataTables, from the copy the itables package ships, which
 *    the build puts beside this script in _static. It is loaded only on pages that have such a
 *    table; without it (or without JavaScript, or in the PDF) the plain table stays.
 */
(() => {
  "use strict";

  // The address of this script, known only while it first runs: DataTables sits beside it.
  const here = document.currentScript ? document.currentScript.src : "";

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

  // A count is shown with its origin's mark (12†) or, when small, as the disclosure marker
  // (<5); "–" marks an empty cell. DataTables would sort such cells as text (10† before 4†),
  // so each cell of a column of counts gets the number to sort by (data-order): the count
  // itself, a marker just under its bound, and an empty cell below every count.
  const COUNT = /^\s*(\d+(?:\.\d+)?)\s*%?\s*[\u2020\u2021*]?\s*$/;
  const MARKER = /^\s*<\s*(\d+)\s*$/;
  const EMPTY = /^\s*(\u2013|)\s*$/;

  function orderCounts(table) {
    const rows = [...table.tBodies].flatMap((body) => [...body.rows]);
    const width = Math.max(0, ...rows.map((row) => row.cells.length));
    for (let column = 0; column < width; column += 1) {
      const cells = rows.map((row) => row.cells[column]).filter(Boolean);
      const texts = cells.map((cell) => cell.textContent);
      const counts = texts.filter((text) => COUNT.test(text)).length;
      const other = texts.every((text) => COUNT.test(text) || MARKER.test(text) || EMPTY.test(text));
      if (!counts || !other) {
        continue;
      }
      cells.forEach((cell) => {
        const text = cell.textContent;
        const value = COUNT.exec(text) || MARKER.exec(text);
        cell.dataset.order = value
          ? String(Number(value[1]) - (MARKER.test(text) ? 0.5 : 0))
          : "-1";
      });
    }
  }

  function sortTables() {
    const tables = [...document.querySelectorAll("main table.compendium-sortable")];
    if (!tables.length || !here) {
      return;
    }
    const style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = new URL("dt_bundle.css", here).href;
    document.head.appendChild(style);
    import(new URL("dt_bundle.js", here).href).then(({ default: DataTable }) => {
      tables.forEach((table) => {
        orderCounts(table);
        // Every row stays on the page (no paging), in the order the book gives until a reader
        // sorts; a third click on a heading restores that order.
        new DataTable(table, {
          paging: false,
          order: [],
          autoWidth: false,
          // The filter above the table, on the left where reading starts; the count below.
          layout: { topStart: "search", topEnd: null, bottomStart: "info", bottomEnd: null },
          language: {
            search: "Filter rows:",
            info: "_TOTAL_ rows",
            infoFiltered: " (of _MAX_)",
            infoEmpty: "No rows",
            zeroRecords: "No row matches the filter",
          },
        });
        table.dataset.sortable = "ready";
      });
    });
  }

  function start() {
    setUp();
    sortTables();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
