// Relevance feedback on a session page: each ✓ / ✗ is logged at once through the API.
// The tile buttons, the x / c keys (site.js) and the viewer (viewer.js) all call CBIR.judge.
(function () {
  "use strict";
  const grid = document.querySelector("[data-judge-url]");
  if (!grid) return;
  const token = grid.querySelector("input[name=csrfmiddlewaretoken]").value;
  const counter = document.getElementById("marked-count");

  function setState(tile, label) {
    tile.classList.remove("is-relevant", "is-not_relevant");
    if (label !== "withdrawn") tile.classList.add(`is-${label}`);
    tile.querySelectorAll("button.mark").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.label === label)));
    tile.dispatchEvent(new CustomEvent("cbir:judged", { bubbles: true, detail: { label: label } }));
  }

  function recount() {
    const marked = grid.querySelectorAll(".tile.is-relevant, .tile.is-not_relevant").length;
    if (counter) counter.textContent = `${marked} marked on this page`;
  }

  // Mark a tile: `label` again withdraws it. Resolves to the label now stored.
  async function judge(tile, wanted) {
    if (tile.dataset.busy) return null;
    const current = tile.classList.contains("is-relevant") ? "relevant" : tile.classList.contains("is-not_relevant") ? "not_relevant" : null;
    const label = current === wanted ? "withdrawn" : wanted;
    // Busy flag, not `disabled`: disabling the focused button would drop the focus to the page.
    tile.dataset.busy = "1";
    try {
      const response = await fetch(grid.dataset.judgeUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token, "Accept": "application/json" },
        body: JSON.stringify({ image_id: Number(tile.dataset.imageId), label: label, iteration: Number(grid.dataset.iteration) }),
      });
      if (!response.ok) {
        const payload = await response.json().catch(() => ({}));
        alert(payload.detail || "Could not save the mark.");
        return null;
      }
      setState(tile, label);
      recount();
      return label;
    } finally {
      delete tile.dataset.busy;
    }
  }

  window.CBIR = Object.assign(window.CBIR || {}, { judge: judge });

  grid.addEventListener("click", (event) => {
    const button = event.target.closest("button.mark");
    if (!button) return;
    judge(button.closest(".tile"), button.dataset.label);
  });
})();
