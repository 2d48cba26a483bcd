// Drag-and-drop upload through the REST API, and live indexing status.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const statusBox = document.getElementById("status");
  const BATCH = 8; // files per request: keeps each request well under the server's limits

  function csrfToken() {
    const field = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function log(text, cls) {
    const list = document.getElementById("upload-log");
    const item = document.createElement("li");
    item.className = cls;
    item.textContent = text;
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
        log(`${r.filename}: ${note}`, r.status);
      });
    } else {
      const reason = (payload && payload.detail) || response.statusText || "upload failed";
      files.forEach((f) => log(`${f.name}: ${reason}`, "rejected"));
    }
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

  let timer = null;
  async function refreshStatus() {
    if (!statusBox) return;
    const response = await fetch(statusBox.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } });
    if (!response.ok) return;
    const s = await response.json();
    ["total", "ready", "pending", "failed"].forEach((key) => {
      const el = statusBox.querySelector(`[data-count=${key}]`);
      if (el) el.textContent = s[key];
    });
    const bar = statusBox.querySelector("[data-count=progress]");
    if (bar) bar.value = s.progress;
    clearTimeout(timer);
    if (s.pending > 0) timer = setTimeout(refreshStatus, 2000);
  }
  if (statusBox) refreshStatus();
})();
