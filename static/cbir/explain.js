// "Why?" on each result of a session page: fetch the explanation (202 while the worker computes
// it), then draw the heat-map overlay over the thumbnail and list the words beside it.
(function () {
  "use strict";
  const POLL_MS = 1000;
  const MAX_POLLS = 120;

  function item(text) {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }

  function fmt(value) {
    return typeof value === "number" ? value.toFixed(3) : String(value);
  }

  function words(data) {
    const list = document.createElement("ul");
    const concepts = data.concepts || [];
    if (concepts.length) {
      list.append(item("matched: " + concepts.map((c) => `${c.name} ${fmt(c.share)}`).join(", ")));
    }
    const parts = data.parts || {};
    (parts.terms || []).forEach((t) => {
      const label = t.kind.startsWith("negative") ? `not “${t.label}”` : `“${t.label}”`;
      list.append(item(`${label} (${t.kind}, weight ${fmt(t.weight)}): ${fmt(t.contribution)}`));
    });
    if (parts.two_phase && parts.two_phase.text_rank) {
      const p = parts.two_phase;
      list.append(item(`words: rank ${p.text_rank}, examples: rank ${p.example_rank} of ${p.among}; fused ${fmt(p.fused_score)}`));
    }
    if (parts.note) list.append(item(parts.note));
    const change = data.rank_change;
    if (change && change.previous_rank && change.rank) {
      list.append(item(`rank ${change.previous_rank} → ${change.rank} since iteration ${change.previous_iteration}`));
    }
    if (data.expansion) {
      const e = data.expansion;
      list.append(item(e.text ? `others found this for “${e.text}”` : "lifted by a query other users confirmed"));
    }
    const method = document.createElement("p");
    method.className = "muted";
    method.textContent = `${data.method}: ${data.passes} pass${data.passes === 1 ? "" : "es"}, ${fmt(data.seconds)} s${data.complete ? "" : " (time budget reached)"}`;
    return [list, method];
  }

  function show(tile, box, data) {
    const img = tile.querySelector("a > img");
    if (!img.dataset.plainSrc) img.dataset.plainSrc = img.getAttribute("src");
    img.setAttribute("src", data.overlay_url);
    tile.classList.add("explained");
    const full = document.createElement("a");
    full.href = `${data.overlay_url}&full=1`;
    full.target = "_blank";
    full.rel = "noopener";
    full.textContent = "heat map on the full image";
    box.replaceChildren(...words(data), full);
    box.dataset.state = "ready";
  }

  async function explain(tile, button, box, polls) {
    let response;
    try {
      response = await fetch(button.dataset.explainUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (error) {
      box.textContent = "Could not reach the server.";
      return;
    }
    const data = await response.json().catch(() => ({}));
    if (button.getAttribute("aria-expanded") !== "true") return; // closed meanwhile
    if (response.status === 202 && polls < MAX_POLLS) {
      box.textContent = "Working out why…";
      box.dataset.state = "pending";
      setTimeout(() => explain(tile, button, box, polls + 1), POLL_MS);
    } else if (response.ok && data.status === "ready") {
      show(tile, box, data);
    } else {
      box.textContent = data.error || data.detail || "No explanation is available.";
      box.dataset.state = "failed";
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.why-toggle");
    if (!button) return;
    const tile = button.closest(".tile");
    const box = tile.querySelector(".why");
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    box.hidden = !open;
    if (open) {
      explain(tile, button, box, 0);
    } else {
      const img = tile.querySelector("a > img");
      if (img.dataset.plainSrc) img.setAttribute("src", img.dataset.plainSrc);
      tile.classList.remove("explained");
    }
  });
})();
