// Relevance feedback on a session page: each ✓ / ✗ click is logged at once through the API.
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
  }

  function recount() {
    const marked = grid.querySelectorAll(".tile.is-relevant, .tile.is-not_relevant").length;
    if (counter) counter.textContent = `(${marked} marked on this page)`;
  }

  grid.addEventListener("click", async (event) => {
    const button = event.target.closest("button.mark");
    if (!button) return;
    const tile = button.closest(".tile");
    // Clicking the current label again withdraws it.
    const label = button.getAttribute("aria-pressed") === "true" ? "withdrawn" : button.dataset.label;
    button.disabled = true;
    try {
      const response = await fetch(grid.dataset.judgeUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": token, "Accept": "application/json" },
        body: JSON.stringify({ image_id: Number(tile.dataset.imageId), label: label, iteration: Number(grid.dataset.iteration) }),
      });
      if (response.ok) {
        setState(tile, label);
        recount();
      } else {
        const payload = await response.json().catch(() => ({}));
        alert(payload.detail || "Could not save the mark.");
      }
    } finally {
      button.disabled = false;
    }
  });
})();
