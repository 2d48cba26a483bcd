// Everyday conveniences, each a progressive enhancement of a plain form that works without it:
// the gallery picker's "All galleries", an example image dropped or pasted onto the search
// form, and bulk selection on a gallery page.
(function () {
  "use strict";

  // ------------------------------------------------------------ gallery picker
  function setUpPicker(all) {
    const form = all.form || all.closest("form") || document;
    const boxes = () => Array.from(form.querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]`));
    const summary = all.closest("details") && all.closest("details").querySelector("[data-picker-summary]");
    function sync() {
      const items = boxes();
      const ticked = items.filter((b) => b.checked).length;
      all.checked = ticked === items.length;
      all.indeterminate = ticked > 0 && ticked < items.length;
      if (summary) {
        summary.textContent = ticked === 0 || ticked === items.length
          ? `(all ${items.length} you can see)`
          : `(${ticked} of ${items.length} selected)`;
      }
    }
    all.addEventListener("change", () => {
      boxes().forEach((b) => { b.checked = all.checked; });
      sync();
    });
    boxes().forEach((b) => b.addEventListener("change", sync));
    sync();
  }

  // ------------------------------------------------------------ example image: drop or paste
  function setUpExampleDrop(input) {
    const form = input.form;
    if (!form) return;
    const preview = document.createElement("div");
    preview.className = "example-preview";
    preview.dataset.testid = "example-preview";
    preview.setAttribute("aria-live", "polite");
    const hint = document.createElement("span");
    hint.className = "muted small drop-hint";
    hint.textContent = "You can also drop an image on this form, or paste one.";
    // After the input's label, not inside it: a button in a label would open the file chooser.
    (input.closest("label") || input).insertAdjacentElement("afterend", hint);
    hint.insertAdjacentElement("afterend", preview);
    let url = null;

    function show(file) {
      if (url) URL.revokeObjectURL(url);
      preview.replaceChildren();
      if (!file) return;
      url = URL.createObjectURL(file);
      const img = document.createElement("img");
      img.src = url;
      img.alt = `Example image: ${file.name || "pasted image"}`;
      const name = document.createElement("span");
      name.className = "small";
      name.textContent = file.name || "pasted image";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "small";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", `Remove the example image ${file.name || ""}`.trim());
      remove.addEventListener("click", () => { input.value = ""; show(null); input.focus(); });
      preview.append(img, name, remove);
    }

    function take(file) {
      if (!file) return false;
      if (!file.type.startsWith("image/")) {
        preview.replaceChildren();
        const note = document.createElement("span");
        note.className = "errorlist small";
        note.textContent = `${file.name || "That file"} is not an image.`;
        preview.append(note);
        return true;
      }
      const transfer = new DataTransfer();
      transfer.items.add(file.name ? file : new File([file], "pasted-image.png", { type: file.type }));
      input.files = transfer.files;
      show(input.files[0]);
      return true;
    }

    input.addEventListener("change", () => show(input.files[0] || null));
    ["dragenter", "dragover"].forEach((name) => form.addEventListener(name, (e) => {
      if (e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files")) {
        e.preventDefault();
        form.classList.add("drop-over");
      }
    }));
    form.addEventListener("dragleave", (e) => {
      if (!form.contains(e.relatedTarget)) form.classList.remove("drop-over");
    });
    form.addEventListener("drop", (e) => {
      form.classList.remove("drop-over");
      const files = e.dataTransfer ? e.dataTransfer.files : null;
      if (files && files.length) {
        e.preventDefault();
        take(files[0]);
      }
    });
    document.addEventListener("paste", (e) => {
      const items = e.clipboardData ? Array.from(e.clipboardData.items || []) : [];
      const image = items.find((item) => item.kind === "file" && item.type.startsWith("image/"));
      if (image && take(image.getAsFile())) e.preventDefault();
    });
  }

  // ------------------------------------------------------------ bulk selection in a gallery
  function setUpBulk(bar) {
    const form = bar.closest("form") || document.getElementById(bar.dataset.form);
    const grid = document.querySelector(bar.dataset.grid);
    if (!form || !grid) return;
    const count = bar.querySelector("[data-bulk-count]");
    const all = bar.querySelector("[data-bulk-all]");
    const buttons = Array.from(bar.querySelectorAll("button[data-needs-selection]"));
    const boxes = () => Array.from(grid.querySelectorAll("input[type=checkbox][data-bulk-item]"));
    let last = null;

    function sync() {
      const items = boxes();
      bar.hidden = items.length === 0;
      const ticked = items.filter((b) => b.checked);
      count.textContent = ticked.length === 1 ? "1 image selected" : `${ticked.length} images selected`;
      buttons.forEach((b) => { b.disabled = ticked.length === 0; });
      if (all) {
        all.checked = items.length > 0 && ticked.length === items.length;
        all.indeterminate = ticked.length > 0 && ticked.length < items.length;
      }
      items.forEach((b) => b.closest(".tile") && b.closest(".tile").classList.toggle("selected", b.checked));
    }

    // A checkbox for tiles added after the page loaded (new uploads, static/cbir/gallery.js).
    // Like the others it is no tab stop: the tile's link is, and Space on it selects.
    function ensureBox(tile) {
      const id = tile.dataset.imageId;
      if (!id || tile.querySelector("[data-bulk-item]")) return;
      const label = document.createElement("label");
      label.className = "bulk-pick";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.name = "ids";
      box.value = id;
      box.tabIndex = -1;
      box.dataset.bulkItem = "";
      box.setAttribute("form", form.id);
      const img = tile.querySelector("img");
      box.setAttribute("aria-label", `Select ${img && img.alt ? img.alt : `image ${id}`}`);
      label.append(box);
      tile.prepend(label);
    }

    // Shift: every box between the last one used and this one takes this one's state.
    function picked(box, range) {
      if (range && last && last !== box) {
        const items = boxes();
        const [a, b] = [items.indexOf(last), items.indexOf(box)].sort((x, y) => x - y);
        items.slice(a, b + 1).forEach((item) => { item.checked = box.checked; });
      }
      last = box;
      sync();
    }

    grid.addEventListener("click", (e) => {
      const box = e.target.closest("input[data-bulk-item]");
      if (box) picked(box, e.shiftKey);
    });
    // Space on a tile's link (its one tab stop) ticks the tile's box; Shift+Space a range.
    grid.addEventListener("keydown", (e) => {
      if (e.key !== " " || e.ctrlKey || e.metaKey || e.altKey) return;
      const tile = e.target.closest("figure.tile");
      const box = tile && e.target.matches("a.open") && tile.querySelector("input[data-bulk-item]");
      if (!box) return;
      e.preventDefault();
      box.checked = !box.checked;
      picked(box, e.shiftKey);
    });
    if (all) {
      all.addEventListener("change", () => { boxes().forEach((b) => { b.checked = all.checked; }); sync(); });
    }
    new MutationObserver(() => { grid.querySelectorAll(".tile").forEach(ensureBox); sync(); })
      .observe(grid, { childList: true });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && boxes().some((b) => b.checked)) {
        boxes().forEach((b) => { b.checked = false; });
        sync();
      }
    });
    sync();
  }

  function start() {
    document.querySelectorAll("input[data-select-all]").forEach(setUpPicker);
    document.querySelectorAll("form[data-testid=search-form] input[type=file][name=image]").forEach(setUpExampleDrop);
    document.querySelectorAll("[data-bulk-bar]").forEach(setUpBulk);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
