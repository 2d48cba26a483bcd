"""docs/reliability.md from the results of scripts/reliability.py."""

from __future__ import annotations

from typing import Any

_PHASE_COLUMNS = ["requests", "ok", "5xx", "5xx_json", "no_answer", "p50_ms", "p95_ms", "max_ms"]
_LOAD_COLUMNS = ["requests", "ok", "4xx", "5xx", "no_answer", "per_second", "files_per_second"]
_LOAD_COLUMNS += ["p50_ms", "p95_ms", "p99_ms", "max_ms"]
_SKIP = {"phases", "load", "kill_log", "audit", "index", "unexpected_exits", "unclear_errors"}

_MECHANISMS = """\
What the checks rely on:

- **Uploads**: an intent row (`PendingUpload`) is committed before a file is written and deleted
  in the transaction that creates the image row; the janitor deletes the files of intents whose
  row never came (`uploads_abandoned_cleanup`; the scenarios run it with `older_than_s=0` once
  all uploads are over). Embedding is queued after commit; a failed publish is logged, never
  fails the upload. Request bodies too large for memory spool into a folder of the web
  process's own; the next web process to start deletes the folders of dead ones
  (`cbir_site/upload_spool.py`).
- **Embedding**: tasks are `acks_late` with `reject_on_worker_lost` and prefetch 1, take ids,
  skip images that already have the model's embedding, and the unique (image, model) constraint
  absorbs a concurrent duplicate. The periodic sweep re-queues images left pending (here after
  `CBIR_PENDING_RETRY_AFTER_S`), which is what recovers the tasks a restarted Redis lost.
- **Redis away**: the Django cache (throttle counters, debounce marks) fails open
  (`cbir_site/cache.py`); Celery publishes retry briefly, then the sweep takes over.
- **PostgreSQL away**: the API maps `OperationalError`/`InterfaceError` to a 503 JSON answer
  with `Retry-After` (`cbir_site/api.py`); Django drops broken connections after the request;
  Celery retries the task with backoff.
- **Search index**: every web process keeps its FAISS index in step with pgvector through the
  `IndexEvent` feed; the last check searches with k = every embedded image and compares the ids.
"""


def markdown(doc: dict[str, Any]) -> str:
    machine, results = doc["machine"], doc["results"]
    passed = sum(r["ok"] for r in results)
    services = machine.get("services") or {}
    lines = [
        "# Reliability: failure tests with figures",
        "",
        f"Produced by `{doc['command']}` on {doc['date']} (commit {machine['commit']}); "
        "re-run it to refresh this page. The raw figures are in `reliability.json` beside it. "
        f"**{passed} of {len(results)} scenarios passed.**",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB, "
        f"{machine['os']}, Python {machine['python']}; "
        + ", ".join(f"{k} {v}" for k, v in {**services, **machine["packages"]}.items())
        + f". Load average when the run started: {machine['load_average_at_start']} "
        "(the machine is shared; latencies are those of this machine at that time).",
        "",
        "## The stack",
        "",
        "Each scenario starts a private stack of real processes on loopback in a temporary "
        "folder (`tests/reliability/stack.py`): the embedded PostgreSQL+pgvector in a fresh data "
        "directory, migrated with `manage.py migrate`; `redis-server` on a fixed port without "
        "persistence (a restart loses every queued task); two gunicorn servers (web and web-2, "
        "each with its own in-memory index; the web-kill scenario kills web); Celery beat; two "
        "Celery workers. Each process is a process group of its own, so a kill takes its children "
        "with it. Settings:",
        "",
        *[f"- `{k}` = {v}" for k, v in doc["settings"].items() if k != "arguments"],
        "",
        "The fake encoder (a deterministic colour embedding) replaces a real model; in the workers "
        "it takes `model_seconds_per_batch` per batch, so that a kill lands while a batch is "
        "being worked on (`tests/reliability/celery_main.py`). Every client request opens its own "
        "connection; a refused or reset connection counts as *no answer*.",
        "",
        _MECHANISMS,
        "## Summary",
        "",
        "| Scenario | What was killed or restarted | How often | Checks held | Result |",
        "|---|---|---|---|---|",
        *[
            f"| {r['name']} | {r['killed']} | {r['how_often']} | "
            f"{sum(r['checks'].values())}/{len(r['checks'])} | {'PASS' if r['ok'] else 'FAIL'} |"
            for r in results
        ],
        "",
    ]
    for result in results:
        lines += _scenario(result)
    lines += _hostile_inputs(doc.get("hostile_inputs") or [])
    lines += _capacity(doc.get("capacity") or {})
    return "\n".join(lines).rstrip() + "\n"


def _hostile_inputs(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    return [
        "## Hostile inputs",
        "",
        "Produced by `python scripts/hostile_inputs.py`. Each file goes, in a fresh process, "
        "through what an upload does (header checks, one decode at the thumbnail's scale, the "
        "thumbnail) and what the embedding worker and search by example do (the guarded decode "
        "at the model's side, then the bundled encoder's Resize(256) + CenterCrop(224)), under "
        "the default limits: sides 16 to 30,000 pixels, aspect ratio at most 20:1, 80 megapixels, "
        "1,000 frames. *Peak* is the process's peak resident memory above what it held after "
        "its imports. Before these checks, the 148-byte 70000x1 strip took a web worker to "
        "20 GB and 163 s.",
        "",
        "| Input | Bytes | Answer | Time (ms) | Peak (MB) |",
        "|---|---|---|---|---|",
        *[
            f"| {r['input']} | {r['bytes']:,} | {r['outcome']} | {r['ms']} | {r['peak_mb']} |"
            for r in rows
        ],
        "",
    ]


def _capacity(figures: dict[str, Any]) -> list[str]:
    if not figures:
        return []
    runs = figures.get("runs") or {"": figures}  # one run per kind (benchmarks/bench_load.py)
    lines = ["## Capacity", ""]
    for label, run in runs.items():
        if label:
            lines += [f"### {label}", ""]
        lines += [str(run.get("summary", "")), ""]
        if run.get("reading"):  # what the figures say, written by whoever recorded the run
            lines += [str(run["reading"]), ""]
        for title, operations in (run.get("phases") or {}).items():
            lines += [
                f"#### {title}",
                "",
                *_operations(operations, list(next(iter(operations.values())))),
            ]
    return lines


def _scenario(result: dict[str, Any]) -> list[str]:
    figures = result["figures"]
    lines = [
        f"## {result['name']}",
        "",
        f"*Killed:* {result['killed']}. *How often:* {result['how_often']}. "
        f"Ran in {result['seconds']} s.",
        "",
        "What was checked:",
        "",
        *[
            f"- {'PASS' if held else '**FAIL**'}: {check}"
            for check, held in result["checks"].items()
        ],
        "",
    ]
    scalars = {k: v for k, v in figures.items() if k not in _SKIP}
    if scalars:
        lines += ["Figures:", "", *[f"- {k.replace('_', ' ')}: {v}" for k, v in scalars.items()]]
    if "audit" in figures:
        audit = figures["audit"]
        lines.append(
            f"- database after convergence: {audit['rows']} image rows for {audit['accepted']} "
            f"accepted uploads; images embedded more than once (a batch interrupted after "
            f"claiming them): {audit['retried_images']}; most attempts on one image: "
            f"{audit['max_attempts']}; problems: {audit['problems'] or 'none'}"
        )
    if "index" in figures:
        lines.append(f"- web index against pgvector: {figures['index']}")
    if figures.get("unexpected_exits") is not None:
        lines.append(f"- processes that exited by themselves: {figures['unexpected_exits'] or 0}")
    lines.append("")
    if "kill_log" in figures:
        lines += _table(figures["kill_log"])
    if "phases" in figures:
        lines += _phases(figures["phases"])
    if "load" in figures:
        lines += _operations(figures["load"], _LOAD_COLUMNS)
    if result["notes"]:
        lines += ["Notes:", "", *[f"- {n}" for n in result["notes"]], ""]
    return lines


def _phases(phases: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "Requests by phase (*outage*: in flight at some moment while the service was down; "
        "latencies of successful requests):",
        "",
        "| Phase | Operation | " + " | ".join(_PHASE_COLUMNS) + " |",
        "|---|---|" + "---|" * len(_PHASE_COLUMNS),
    ]
    for phase, operations in phases.items():
        for op, row in operations.items():
            cells = " | ".join(str(row[c]) for c in _PHASE_COLUMNS)
            lines.append(f"| {phase} | {op} | {cells} |")
    return [*lines, ""]


def _operations(operations: dict[str, dict[str, Any]], columns: list[str]) -> list[str]:
    lines = [
        "| Operation | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
        *[
            f"| {op} | " + " | ".join(str(row[c]) for c in columns) + " |"
            for op, row in operations.items()
        ],
    ]
    return [*lines, ""]


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    keys = list(rows[0])
    return [
        "| " + " | ".join(k.replace("_", " ") for k in keys) + " |",
        "|" + "---|" * len(keys),
        *["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows],
        "",
    ]
