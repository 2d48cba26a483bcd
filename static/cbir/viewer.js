// The result viewer: a full-screen dialog over the results. Previous / next by the buttons, the
// arrow keys and a swipe; ✓ / ✗ (session pages), "more like this", download, captions and the
// image's galleries. Closing it (Esc, ✕) returns to the same tile at the same scroll position.
(function () {
  "use strict";
  const dialog = document.getElementById("viewer");
  const dataNode = document.getElementById("viewer-data");
  if (!dialog || !dataNode || typeof dialog.showModal !== "function") return;
  const items = JSON.parse(dataNode.textContent);
  const $ = (id) => dialog.querySelector(`[data-testid=${id}]`);
  const stage = $("viewer-stage");
  const img = $("viewer-image");
  const prev = $("viewer-prev");
  const next = $("viewer-next");
  const sizeButton = $("viewer-size");
  let list = [];
  let index = -1;
  let scrollY = 0;

  const tiles = () => Array.from(document.querySelectorAll("[data-testid=results] figure.tile"));

  function link(role, href) {
    const a = dialog.querySelector(`[data-role=${role}]`);
    if (!a) return;
    if (href) { a.href = href; a.hidden = false; } else { a.removeAttribute("href"); a.hidden = true; }
  }

  function fillList(section, entries) {
    const ul = section.querySelector("ul");
    ul.replaceChildren(...entries);
    section.hidden = entries.length === 0;
  }

  function label(tile) {
    if (tile.classList.contains("is-relevant")) return "relevant";
    if (tile.classList.contains("is-not_relevant")) return "not_relevant";
    return null;
  }

  function showMarks(tile) {
    dialog.querySelectorAll("button.mark").forEach((b) => {
      b.setAttribute("aria-pressed", String(label(tile) === b.dataset.label));
      b.setAttribute("aria-label", `Mark ${tile.dataset.name} ${b.dataset.label === "relevant" ? "relevant" : "not relevant"}`);
    });
  }

  function show(at) {
    index = at;
    const tile = list[at];
    const item = items[tile.dataset.imageId] || {};
    const name = item.name || tile.dataset.name || "";
    img.src = item.file || tile.querySelector("img").src;
    img.alt = name;
    $("viewer-title").textContent = name;
    const score = tile.querySelector(".score");
    const rank = tile.querySelector(".rank");
    $("viewer-position").textContent = `${at + 1} of ${list.length}` +
      (rank ? ` · result ${rank.textContent.replace("#", "")}` : "") +
      (score && score.dataset.raw ? ` · match ${score.firstChild.textContent.trim()} of 100` : "") +
      (tile.dataset.belowCutoff ? " · below the cutoff" : "") +
      (tile.dataset.unchecked ? " · not checked: small gallery" : "");
    $("viewer-meta").textContent = item.width ? `${item.width} × ${item.height} pixels` : "";
    prev.disabled = at === 0;
    next.disabled = at === list.length - 1;
    const like = tile.querySelector("a.like");
    const unlike = tile.querySelector("a.unlike");
    link("like", like && like.href);
    link("unlike", unlike && unlike.href);
    link("download", item.download);
    link("similar", `/search/?image_id=${tile.dataset.imageId}`);
    link("detail", tile.querySelector("a.open").href);
    fillList($("viewer-captions"), (item.captions || []).map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
    fillList($("viewer-galleries"), (item.galleries || []).map((g) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = g.url;
      a.textContent = g.name;
      li.append(a);
      return li;
    }));
    showMarks(tile);
    // The neighbours load in the background: the next click shows them at once.
    [at - 1, at + 1].forEach((n) => {
      const other = list[n] && items[list[n].dataset.imageId];
      if (other) new Image().src = other.file;
    });
  }

  function open(tile) {
    list = tiles();
    scrollY = window.scrollY;
    show(list.indexOf(tile));
    dialog.showModal();
    $("viewer-close").focus();
  }

  function step(by) {
    const to = index + by;
    if (to >= 0 && to < list.length) show(to);
  }

  dialog.addEventListener("close", () => {
    const tile = list[index];
    stage.classList.remove("natural");
    sizeButton.setAttribute("aria-pressed", "false");
    if (tile) {
      tile.querySelector("a.open").focus({ preventScroll: true });
      tiles().forEach((t) => t.classList.toggle("current", t === tile));
    }
    // After the browser's own focus restoring, which may scroll to the tile that opened it.
    window.scrollTo(0, scrollY);
    requestAnimationFrame(() => window.scrollTo(0, scrollY));
  });

  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-testid=results] figure.tile a.open");
    if (!opener || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    open(opener.closest("figure.tile"));
  });

  prev.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  $("viewer-close").addEventListener("click", () => dialog.close());
  sizeButton.addEventListener("click", () => {
    const natural = stage.classList.toggle("natural");
    sizeButton.setAttribute("aria-pressed", String(natural));
    sizeButton.textContent = natural ? "Fit to screen" : "Actual size";
  });

  async function mark(wanted) {
    const tile = list[index];
    if (!tile || !window.CBIR || !window.CBIR.judge) return;
    await window.CBIR.judge(tile, wanted);
    showMarks(tile);
  }
  dialog.querySelectorAll("button.mark").forEach((b) => b.addEventListener("click", () => mark(b.dataset.label)));

  dialog.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "ArrowLeft") { event.preventDefault(); step(-1); }
    else if (event.key === "ArrowRight") { event.preventDefault(); step(1); }
    else if (dialog.dataset.judge && (event.key === "x" || event.key === "c")) {
      event.preventDefault();
      mark(event.key === "x" ? "relevant" : "not_relevant");
    }
  });

  // A horizontal swipe on the image: right for the previous, left for the next.
  let start = null;
  stage.addEventListener("touchstart", (event) => {
    if (event.touches.length === 1) start = { x: event.touches[0].clientX, y: event.touches[0].clientY };
  }, { passive: true });
  stage.addEventListener("touchend", (event) => {
    if (!start || stage.classList.contains("natural")) { start = null; return; }
    const touch = event.changedTouches[0];
    const dx = touch.clientX - start.x;
    const dy = touch.clientY - start.y;
    start = null;
    if (Math.abs(dx) > 50 && Math.abs(dx) > Math.abs(dy)) step(dx < 0 ? 1 : -1);
  });
})();
