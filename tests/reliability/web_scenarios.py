"""Scenarios around the web process: killed in the middle of an upload, and a load run."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from tests.reliability import checks
from tests.reliability.client import Api, Reply, accepted_ids, large_image, stream_upload
from tests.reliability.scenarios import Outcome, api_for, finish, probe_upload
from tests.reliability.stack import REPO, Account, Stack
from tests.reliability.traffic import Traffic

# ---------------------------------------------------------------- web kill -9 mid-upload


def _timed_upload(api: Api, gallery: str, name: str, data: bytes, send_s: float) -> tuple:  # type: ignore[type-arg]
    """Start a slow upload in a thread; return (thread, body_sent event, result holder)."""
    sent = threading.Event()
    holder: dict[str, object] = {}

    def run() -> None:
        holder["reply"] = stream_upload(
            api, gallery, name, data, send_seconds=send_s, body_sent=sent
        )
        holder["done_at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, sent, holder


def _intent_committed(stack: Stack, after_id: int, timeout: float = 5) -> bool:
    """Wait until an upload intent newer than `after_id` is committed: from then on the
    server writes the files, until the image row commits and removes the intent."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            query = "SELECT EXISTS (SELECT 1 FROM galleries_pendingupload WHERE id > %s)"
            if conn.execute(query, (after_id,)).fetchone()[0]:  # type: ignore[index]
                return True
            time.sleep(0.002)
    return False


def web_kills(
    stack: Stack,
    account: Account,
    *,
    fractions: tuple[float, ...] = (0.25, 0.5, 0.75),
    at_intent: int = 2,
    send_seconds: float = 1.0,
    size: tuple[int, int] = (4000, 3000),
    seed: int = 7000,
) -> Outcome:
    """SIGKILL the web server (gunicorn master and worker) while a large upload is streamed
    to it or processed: once mid-body, `at_intent` times as soon as the upload's intent row
    is committed (its files are being written), then at fractions of the server's work."""
    api = api_for(stack, account, timeout=60)
    width, height = size
    thread, sent, holder = _timed_upload(
        api, account.gallery, "calibration.bmp", large_image(seed, width, height), send_seconds
    )
    sent.wait()
    body_done = time.monotonic()
    thread.join()
    calibration: Reply = holder["reply"]  # type: ignore[assignment]
    work_s = holder["done_at"] - body_done  # type: ignore[operator]
    accepted = accepted_ids(calibration)
    plan: list[tuple[str, float | None]] = [("while the body streams", -send_seconds / 2)]
    plan += [("as its intent row commits, files being written", None)] * at_intent
    plan += [(f"{f:.0%} into the server's work", f * work_s) for f in fractions]
    attempts: dict[str, int] = {}
    kills = []
    for i, (phase, offset) in enumerate(plan, start=1):
        name = f"large-{i}.bmp"
        attempts[name] = seed + i
        data = large_image(seed + i, width, height)
        last_intent = stack.sql("SELECT coalesce(max(id), 0) FROM galleries_pendingupload")[0][0]
        thread, sent, holder = _timed_upload(api, account.gallery, name, data, send_seconds)
        body_end = None
        if offset is not None and offset < 0:
            time.sleep(send_seconds + offset)
        else:
            sent.wait()
            body_end = time.monotonic()
            if offset is None:
                _intent_committed(stack, last_intent)
            else:
                time.sleep(offset)
        after = "-" if body_end is None else round((time.monotonic() - body_end) * 1000)
        stack.kill("web")
        thread.join()
        reply: Reply = holder["reply"]  # type: ignore[assignment]
        accepted.update(accepted_ids(reply))
        kills.append({"phase": phase, "ms_after_body": after, "client_saw": reply.status})
        stack.start("web")
    intents = stack.sql("SELECT count(*) FROM galleries_pendingupload")[0][0]
    # The restarted server removes the spool folders of the processes that were killed.
    spool = stack.root / "data" / "upload-spool"
    spooled = [p.name for p in spool.rglob("*") if p.is_file()] if spool.exists() else []
    stored_anyway = 0
    for name, number in sorted(attempts.items()):
        if name in accepted:
            continue
        reply = api.upload(account.gallery, [(name, large_image(number, width, height))])
        found = accepted_ids(reply)
        accepted.update(found)
        stored_anyway += bool(found) and reply.body["results"][0]["status"] == "duplicate"  # type: ignore[index]
    outcome = Outcome(
        "Web server kill -9 in the middle of an upload",
        killed="the gunicorn web server (master and worker, SIGKILL to the process group), "
        "started again on the same port",
        how_often=f"{len(kills)} kills, each during a {width}x{height} BMP upload "
        f"({width * height * 3 / 2**20:.0f} MiB): one mid-body, {at_intent} as the upload's "
        "intent row commits, the others at "
        f"{', '.join(f'{f:.0%}' for f in fractions)} of the server's "
        f"{work_s * 1000:.0f} ms of work",
    )
    outcome.figures.update(
        server_work_ms=round(work_s * 1000),
        kill_log=kills,
        intent_rows_left_by_kills=intents,
        spooled_request_bodies_left=len(spooled),
        stored_although_the_reply_was_lost=stored_anyway,
    )
    outcome.checks["a kill landed between an upload's intent and its row"] = intents > 0
    outcome.checks["no spooled request body of a killed server left on disk"] = not spooled
    probe = probe_upload(stack, account, seed + 100)
    accepted.update(accepted_ids(probe))
    outcome.checks["the restarted web server accepts an upload"] = probe.status == 201
    outcome.checks["the restarted web server answers a search"] = (
        api.search("grey", k=5).status == 200
    )
    finish(stack, account, outcome, set(accepted.values()))
    return outcome


# ---------------------------------------------------------------- load


def load_run(
    stack: Stack,
    account: Account,
    *,
    seconds: float = 60,
    searchers: int = 4,
    uploaders: int = 1,
    preload: int = 300,
) -> Outcome:
    """Searches and uploads from a second process for a fixed time; every reply counted."""
    preloader = Traffic(
        api_for(stack, account), account.gallery, per_request=10, seed=2_000_000, prefix="pre"
    )
    while len(preloader.accepted) < preload:
        preloader.upload(preloader._next_files())
    checks.wait_converged(stack, account.gallery_id)
    out = stack.root / "load.json"
    command = [
        sys.executable,
        "-m",
        "tests.reliability.traffic",
        *("--port", str(stack.web_port), "--token", account.token),
        *("--gallery", account.gallery, "--seconds", str(seconds)),
        *("--searchers", str(searchers), "--uploaders", str(uploaders), "--out", str(out)),
    ]
    subprocess.run(command, cwd=REPO, check=True, timeout=seconds + 120)
    result = json.loads(out.read_text())
    outcome = Outcome(
        "Load run",
        killed="nothing",
        how_often=f"{seconds:g} s: {searchers} searching and {uploaders} uploading clients in a "
        f"second process, over {preload} images already indexed",
    )
    summary = result["summary"]
    outcome.figures.update(seconds=result["seconds"], load=summary)
    outcome.checks["zero 5xx"] = all(op["5xx"] == 0 for op in summary.values())
    outcome.checks["every request answered"] = all(op["no_answer"] == 0 for op in summary.values())
    accepted = set(preloader.accepted.values()) | {int(i) for i in result["accepted"].values()}
    finish(stack, account, outcome, accepted)
    return outcome
