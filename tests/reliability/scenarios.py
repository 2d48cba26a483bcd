"""The failure scenarios, each on a running stack, each returning what it did and found.

The tests in this folder assert on the returned `Outcome`; scripts/reliability.py
runs the same functions and writes docs/reliability.md from them.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from dataclasses import asdict, dataclass, field

from tests.reliability import checks
from tests.reliability.client import Api, Reply, accepted_ids, png_batches, small_png
from tests.reliability.processes import Service
from tests.reliability.stack import Account, Stack


@dataclass
class Outcome:
    name: str
    killed: str  # what was killed or restarted, and how
    how_often: str
    checks: dict[str, bool] = field(default_factory=dict)  # what was checked -> held
    figures: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def failed(self) -> list[str]:
        return [name for name, held in self.checks.items() if not held]

    def describe(self) -> str:
        """For an assertion message: what failed, and everything measured."""
        return f"failed: {self.failed()}\n{json.dumps(asdict(self), indent=1, default=str)}"


def api_for(stack: Stack, account: Account, timeout: float = 30, port: int | None = None) -> Api:
    return Api("127.0.0.1", port or stack.web_port, account.token, timeout=timeout)


def finish(stack: Stack, account: Account, outcome: Outcome, accepted: set[int]) -> None:
    """Wait for pending work, run the janitor, then check every guarantee."""
    try:
        outcome.figures["converged_after_s"] = checks.wait_converged(stack, account.gallery_id)
    except TimeoutError as exc:  # the audit below says what is missing
        outcome.figures["converged_after_s"] = None
        outcome.notes.append(str(exc))
    removed = stack.janitor()
    audit = checks.audit(stack, gallery_id=account.gallery_id, accepted=accepted)
    index = {
        name: checks.index_matches_database(stack, api_for(stack, account, port=port))
        for name, port in stack.web_ports.items()
    }
    outcome.figures.update(janitor_removed_files=len(removed), audit=audit.summary(), index=index)
    outcome.checks.update(
        {
            "every accepted upload has its row": not audit.missing_rows,
            "no row the client was not told of": not audit.extra_rows,
            "every row has its file and thumbnail on disk": not audit.missing_files,
            "every image ready": not audit.not_ready,
            "exactly one embedding of the active model per image": not audit.embeddings_not_one,
            "no file on disk without a row (after the janitor)": not audit.orphan_files,
            "no upload intent left (after the janitor)": not audit.pending_uploads,
            "each web process's index returns exactly the embedded images": all(
                bool(i["converged"]) for i in index.values()
            ),
        }
    )


# ---------------------------------------------------------------- worker kill -9

_TASK = re.compile(
    r"Task indexing\.tasks\.embed_images\[([0-9a-f-]+)\] (received|succeeded|retry|raised)"
)


def in_flight(service: Service, finished: set[str]) -> str | None:
    """An embed_images task the worker received and has not finished, from its log."""
    open_tasks: dict[str, int] = {}
    for task_id, what in _TASK.findall(service.log_text()):
        open_tasks[task_id] = open_tasks.get(task_id, 0) + (1 if what == "received" else -1)
    busy = [t for t, n in open_tasks.items() if n > 0 and t not in finished]
    return busy[-1] if busy else None


def _wait_in_flight(service: Service, finished: set[str], timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            return None
        task = in_flight(service, finished)
        if task:
            return task
        time.sleep(0.005)
    return None


def worker_kills(
    stack: Stack,
    account: Account,
    *,
    images: int = 500,
    per_request: int = 10,
    pace_s: float = 0.15,
    interval_s: tuple[float, float] = (1.0, 2.0),
    min_kills: int = 5,
    seed: int = 0,
) -> Outcome:
    """SIGKILL Celery workers in the middle of embedding batches during a bulk upload.

    Kills alternate between the workers and between the whole worker (its process
    group, as when a container dies; started again at once) and only its prefork
    child (the worker's parent notices and the broker redelivers the task)."""
    api = api_for(stack, account)
    rng = random.Random(seed)
    accepted: dict[str, int] = {}
    statuses: list[int] = []

    def upload_all() -> None:
        for batch in png_batches(images, per_request, prefix="bulk", seed=seed):
            reply = api.upload(account.gallery, batch)
            statuses.append(reply.status)
            accepted.update(accepted_ids(reply))
            time.sleep(pace_s)

    uploader = threading.Thread(target=upload_all, name="bulk-upload", daemon=True)
    started = time.monotonic()
    uploader.start()
    kills: list[dict[str, object]] = []
    finished: set[str] = set()
    while (uploader.is_alive() or len(kills) < min_kills) and len(kills) < 100:
        time.sleep(rng.uniform(*interval_s))
        i = len(kills) % stack.workers
        name = f"worker-{i}"
        service = stack.services[name]
        if not service.alive():
            stack.start(name)
        task = _wait_in_flight(service, finished, timeout=3.0)
        if task:
            time.sleep(rng.uniform(0.05, 0.25))  # the child claims the batch, the model starts
        whole = (len(kills) // stack.workers) % 2 == 0
        if whole:
            stack.kill(name)
            stack.start(name, wait=False)
        else:
            service.kill_child()
        if task:
            finished.add(task)
        kills.append(
            {
                "at_s": round(time.monotonic() - started, 1),
                "worker": name,
                "what": "worker process group" if whole else "prefork child",
                "mid_batch": task is not None,
            }
        )
    uploader.join()
    upload_s = time.monotonic() - started
    restarted = stack.supervise()
    outcome = Outcome(
        "Celery worker kill -9 during a bulk upload",
        killed="Celery workers (2, prefork, one child each), SIGKILL: alternately the whole "
        "worker (process group, restarted at once) and only its prefork child",
        how_often=f"{len(kills)} kills, every {interval_s[0]:g}-{interval_s[1]:g} s, "
        f"during an upload of {images} images ({per_request} per request)",
    )
    mid = sum(bool(k["mid_batch"]) for k in kills)
    outcome.figures.update(
        images=images,
        requests=len(statuses),
        upload_seconds=round(upload_s, 1),
        kills=len(kills),
        kills_mid_batch=mid,
        kills_of_whole_worker=sum(k["what"] == "worker process group" for k in kills),
        kills_of_prefork_child=sum(k["what"] == "prefork child" for k in kills),
        unexpected_exits=restarted,
        kill_log=kills,
    )
    outcome.checks["every upload request answered 201"] = set(statuses) == {201}
    outcome.checks[f"all {images} images accepted"] = len(accepted) == images
    outcome.checks[f"at least {min_kills} kills, most with a batch in flight"] = len(
        kills
    ) >= min_kills and mid * 2 >= len(kills)
    finish(stack, account, outcome, set(accepted.values()))
    return outcome


def probe_upload(stack: Stack, account: Account, seed: int) -> Reply:
    return api_for(stack, account).upload(account.gallery, [(f"probe-{seed}.png", small_png(seed))])
