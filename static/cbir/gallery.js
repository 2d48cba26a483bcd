// Drag-and-drop upload through the REST API, and live indexing status: the status bar, the
// tiles' badges and the upload log change together while images are being indexed.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const statusBox = document.getElementById("status");
  const BATCH = 8; // files per request: keeps each request well under the server's limits

  function csrfToken() {
    const field = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function log(text, cls, imageId) {
    const list = document.getElementById("upload-log");
    const item = document.createElement("li");
    item.className = cls;
    item.textContent = text;
    if (imageId) item.dataset.imageId = imageId;
    list.prepend(item);
  }

  async function uploadBatch(files) {
    const body = new FormData();
    files.forEach((f) => body.append("files", f, f.name));
    const response = await fetch(form.dataset.apiUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
    });
    let payload = null;
    try { payload = await response.json(); } catch (e) { payload = null; }
    if (payload && payload.results) {
      payload.results.forEach((r) => {
        const note = r.status === "created" ? "uploaded, indexing" : r.message;
        log(`${r.filename}: ${note}`, r.status, r.status === "created" && r.image ? r.image.id : null);
        if (r.status === "created" && r.image) addTile(r.image);
      });
    } else {
      const reason = (payload && payload.detail) || response.statusText || "upload failed";
      files.forEach((f) => log(`${f.name}: ${reason}`, "rejected"));
    }
  }

  // Show a new upload in the grid at once (newest first), without reloading the page.
  function addTile(image) {
    const grid = document.querySelector("[data-testid=image-grid]");
    if (!grid) return;
    const empty = grid.querySelector(":scope > p");
    if (empty) empty.remove();
    const tile = document.createElement("figure");
    tile.className = "tile";
    tile.dataset.imageId = image.id;
    tile.dataset.status = image.status;
    const link = document.createElement("a");
    link.className = "open";
    link.href = `/images/${image.id}/`;
    const img = document.createElement("img");
    img.src = image.thumbnail_url;
    img.alt = image.original_filename;
    link.appendChild(img);
    const caption = document.createElement("figcaption");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = image.original_filename;
    const badge = document.createElement("span");
    badge.className = `badge ${image.status}`;
    badge.textContent = image.status;
    caption.append(name, badge);
    tile.append(link, caption);
    grid.prepend(tile);
  }

  async function uploadAll(fileList) {
    const files = Array.from(fileList);
    for (let i = 0; i < files.length; i += BATCH) {
      await uploadBatch(files.slice(i, i + BATCH));
    }
    refreshStatus();
  }

  if (form) {
    const zone = document.getElementById("dropzone");
    const input = document.getElementById("file-input");
    ["dragenter", "dragover"].forEach((ev) => zone.addEventListener(ev, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((ev) => zone.addEventListener(ev, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
    zone.addEventListener("drop", (e) => uploadAll(e.dataTransfer.files));
    input.addEventListener("change", () => { uploadAll(input.files); input.value = ""; });
  }

  // Pending tiles (and their log lines) take the status of their image once the counts move.
  async function refreshTiles() {
    const pending = document.querySelectorAll("[data-testid=image-grid] figure.tile[data-status=pending]");
    for (const tile of pending) {
      let image;
      try {
        const response = await fetch(`/api/v1/images/${tile.dataset.imageId}/`, { credentials: "same-origin", headers: { "Accept": "application/json" } });
        if (!response.ok) continue;
        image = await response.json();
      } catch (error) {
        return; // the next status poll tries again
      }
      if (image.status === "pending") continue;
      tile.dataset.status = image.status;
      const badge = tile.querySelector(".badge");
      if (badge) {
        badge.className = `badge ${image.status}`;
        badge.textContent = image.status;
        if (image.failure_reason) badge.title = image.failure_reason;
      }
      const line = document.querySelector(`#upload-log li[data-image-id="${image.id}"]`);
      if (line) {
        line.className = image.status;
        line.textContent = `${image.original_filename}: ${image.status === "ready" ? "ready, searchable" : `failed: ${image.failure_reason || "could not be indexed"}`}`;
      }
    }
  }

  let timer = null;
  let lastCounts = null;
  async function refreshStatus() {
    if (!statusBox) return;
    let s;
    try {
      const response = await fetch(statusBox.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } });
      if (!response.ok) throw new Error(response.statusText);
      s = await response.json();
    } catch (error) {
      // A restart or a dropped connection: try again a little later.
      clearTimeout(timer);
      timer = setTimeout(refreshStatus, 5000);
      return;
    }
    ["total", "ready", "pending", "failed"].forEach((key) => {
      const el = statusBox.querySelector(`[data-count=${key}]`);
      if (el) el.textContent = s[key];
    });
    const bar = statusBox.querySelector("[data-count=progress]");
    if (bar) bar.value = s.progress;
    const counts = `${s.ready}/${s.failed}`;
    if (counts !== lastCounts) {
      lastCounts = counts;
      await refreshTiles();
    }
    clearTimeout(timer);
    if (s.pending > 0) timer = setTimeout(refreshStatus, 2000);
  }
  if (statusBox) refreshStatus();
})();
