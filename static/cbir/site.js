// Every page: the header's Menu button on narrow screens, keyboard shortcuts and the sheet
// that lists them, and keyboard movement in a grid of results (one tab stop per tile).
(function () {
  "use strict";

  // Header: below 720 px the links fold behind a Menu button (without script they wrap).
  const bar = document.querySelector(".topbar");
  const toggle = bar && bar.querySelector(".menu-toggle");
  if (toggle) {
    bar.classList.add("collapsible");
    toggle.hidden = false;
    toggle.addEventListener("click", () => {
      const open = !bar.classList.contains("open");
      bar.classList.toggle("open", open);
      toggle.setAttribute("aria-expanded", String(open));
    });
  }

  const sheet = document.getElementById("shortcuts");
  function showSheet() { if (sheet && !sheet.open) sheet.showModal(); }
  document.querySelectorAll(".shortcuts-open").forEach((b) => b.addEventListener("click", showSheet));

  // Results and a gallery's images: each tile's image link is its one tab stop; the tile's
  // other controls are reached with the keys below, in the viewer, or (a gallery's select
  // boxes) with Space (static/cbir/everyday.js). Arrow keys move by row and column, j / k in order.
  const GRIDS = "[data-testid=results], [data-testid=image-grid]";
  const TILE = "[data-testid=results] figure.tile, [data-testid=image-grid] figure.tile";
  document.querySelectorAll(GRIDS).forEach((grid) => {
    grid.querySelectorAll("figure.tile").forEach((tile) => {
      tile.querySelectorAll("button, input, a:not(.open)").forEach((el) => el.setAttribute("tabindex", "-1"));
    });
  });

  function current() {
    const active = document.activeElement;
    return active && active.closest ? active.closest(TILE) : null;
  }

  function tiles() {
    const at = current();
    const grid = at ? at.closest(GRIDS) : document.querySelector(GRIDS);
    return grid ? Array.from(grid.querySelectorAll("figure.tile")).filter((t) => t.querySelector("a.open")) : [];
  }

  function focusTile(tile) {
    if (!tile) return;
    tiles().forEach((t) => t.classList.toggle("current", t === tile));
    tile.querySelector("a.open").focus();
  }

  function columns(list) {
    if (list.length < 2) return 1;
    const top = list[0].getBoundingClientRect().top;
    const n = list.findIndex((t) => t.getBoundingClientRect().top > top + 1);
    return n === -1 ? list.length : n;
  }

  function move(step) {
    const list = tiles();
    if (!list.length) return;
    const at = list.indexOf(current());
    if (at === -1) { focusTile(list[0]); return; }
    focusTile(list[Math.max(0, Math.min(list.length - 1, at + step))]);
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (typing(event.target) || document.querySelector("dialog[open]")) return;
    const tile = current();
    const key = event.key;
    if (key === "/") {
      const box = document.querySelector("input[name=q]");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    } else if (key === "?") {
      event.preventDefault();
      showSheet();
    } else if (key === "j" || key === "k") {
      event.preventDefault();
      move(key === "j" ? 1 : -1);
    } else if (tile && (key === "ArrowRight" || key === "ArrowLeft")) {
      event.preventDefault();
      move(key === "ArrowRight" ? 1 : -1);
    } else if (tile && (key === "ArrowDown" || key === "ArrowUp")) {
      event.preventDefault();
      const n = columns(tiles());
      move(key === "ArrowDown" ? n : -n);
    } else if (tile && key === "w" && tile.querySelector("button.why-toggle")) {
      event.preventDefault();
      tile.querySelector("button.why-toggle").click();
    } else if (tile && (key === "x" || key === "c") && window.CBIR && window.CBIR.judge) {
      event.preventDefault();
      window.CBIR.judge(tile, key === "x" ? "relevant" : "not_relevant");
    }
  });

  document.addEventListener("focusin", (event) => {
    const tile = current();
    if (tile) tiles().forEach((t) => t.classList.toggle("current", t === tile));
  });
})();
