// The query assistant's panel on the search page (assistant/templates/assistant/panel.html).
// Suggestions come from a language model: untrusted text, only ever set through textContent.
(function () {
  "use strict";
  var panel = document.getElementById("assistant-panel");
  var form = document.querySelector("[data-testid=search-form]");
  if (!panel || !form) return;
  var chips = panel.querySelector("[data-testid=assistant-chips]");
  var status = panel.querySelector("[data-testid=assistant-status]");
  var ask = panel.querySelector("[data-testid=assistant-ask]");
  var apply = panel.querySelector("[data-testid=assistant-apply]");
  var POLL_MS = 1000, MAX_POLLS = 90;

  function field(name) { return form.querySelector("[name=" + name + "]"); }
  function csrf() { var el = field("csrfmiddlewaretoken"); return el ? el.value : ""; }
  function say(text) { status.textContent = text; }

  function chip(kind, text) {
    var item = document.createElement("span");
    item.className = "chip accepted chip-" + kind;
    item.dataset.kind = kind;
    item.dataset.text = text;
    item.setAttribute("data-testid", "assistant-chip");
    var label = document.createElement("button");
    label.type = "button";
    label.className = "chip-label";
    label.textContent = (kind === "negative" ? "not: " : kind === "merged" ? "use: " : "") + text;
    label.title = "Accept or leave out";
    label.addEventListener("click", function () { item.classList.toggle("accepted"); });
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.textContent = "\u00d7";
    remove.setAttribute("aria-label", "Remove");
    remove.addEventListener("click", function () { item.remove(); showApply(); });
    item.append(label, remove);
    return item;
  }

  function showApply() { apply.hidden = !chips.querySelector(".chip"); }

  function show(body) {
    chips.replaceChildren();
    (body.rephrasings || []).forEach(function (t) { chips.append(chip("rephrasing", t)); });
    (body.negative_suggestions || []).forEach(function (t) { chips.append(chip("negative", t)); });
    if (body.merged) chips.append(chip("merged", body.merged));
    showApply();
    say(chips.childElementCount ? "Click an idea to leave it out, \u00d7 to remove it." :
      "No ideas this time; your search is unchanged.");
  }

  function poll(url, left) {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); })
      .then(function (pair) {
        var body = pair[1];
        if (pair[0] === 202 && left > 0) { setTimeout(function () { poll(url, left - 1); }, POLL_MS); }
        else if (pair[0] === 200 && body.status === "ready") { show(body); }
        else { fail((body && (body.message || body.detail)) || "The assistant took too long."); }
      })
      .catch(function () { fail("The assistant could not be reached."); });
  }

  function fail(message) {
    ask.disabled = false;
    say("No ideas: " + message + " Your search is unchanged.");
  }

  ask.addEventListener("click", function () {
    var payload = { text: (field("q") || {}).value || "" };
    var example = field("image_id");
    if (example && example.value) payload.image_id = parseInt(example.value, 10);
    ask.disabled = true;
    say("Thinking\u2026");
    fetch(panel.dataset.startUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
      body: JSON.stringify(payload),
    })
      .then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); })
      .then(function (pair) {
        var body = pair[1];
        if (pair[0] !== 202 && pair[0] !== 200) { fail(body.detail || body.message || "Refused."); return; }
        ask.disabled = false;
        if (body.status === "pending") poll(panel.dataset.startUrl + body.id + "/", MAX_POLLS);
        else if (body.status === "ready") show(body);
        else fail(body.message || "No suggestion.");
      })
      .catch(function () { fail("The assistant could not be reached."); });
  });

  apply.addEventListener("click", function () {
    var accepted = Array.prototype.slice.call(chips.querySelectorAll(".chip.accepted"));
    function texts(kind) {
      return accepted.filter(function (c) { return c.dataset.kind === kind; })
        .map(function (c) { return c.dataset.text; });
    }
    var merged = texts("merged");
    if (merged.length && field("q")) field("q").value = merged[0];
    var negatives = texts("negative");
    var notQ = field("not_q");
    if (notQ && negatives.length) {
      notQ.value = [notQ.value.trim()].concat(negatives).filter(Boolean).join(", ");
    }
    var hidden = field("rephrasings");
    if (hidden) hidden.value = texts("rephrasing").join("\n");
    form.requestSubmit ? form.requestSubmit() : form.submit();
  });
})();
