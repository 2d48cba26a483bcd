"""Pulls recorded on the model's row, so the admin, the API and the console can follow them."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from indexing.model_catalogue import known_model
from indexing.model_models import ManagedModel
from indexing.model_store import ModelPullError, model_pull
from search.model_switch import ModelError, model_activate, model_row

logger = logging.getLogger(__name__)
PullState = ManagedModel.PullState


def model_pull_queue(*, key: str, activate: bool = False) -> ManagedModel:
    """Queue a background pull (refused when one is already queued or running)."""
    known_model(key)
    with transaction.atomic():
        row = model_row(key)
        row = ManagedModel.objects.select_for_update().get(pk=row.pk)
        if row.pull_state in (PullState.QUEUED, PullState.RUNNING):
            raise ModelError(f"{key} is already being pulled ({row.pull_state}).")
        row.pull_state, row.pull_message = PullState.QUEUED, ""
        row.pull_done, row.pull_total, row.pull_file = 0, None, ""
        row.save(
            update_fields=["pull_state", "pull_message", "pull_done", "pull_total", "pull_file"]
        )

        def send() -> None:
            from search.tasks import model_pull_task

            model_pull_task.delay(key, activate)

        transaction.on_commit(send)
    return row


def model_pull_recorded(
    *, key: str, activate: bool = False, show_bar: bool = False
) -> dict[str, Any]:
    """Pull `key` now, writing progress (at most twice a second) and the outcome to its row."""
    model = known_model(key)
    row = model_row(key)
    totals: dict[str, int] = {}
    last = [0.0]

    def progress(name: str, done: int, total: int | None) -> None:
        totals[name] = done
        now = time.monotonic()
        if now - last[0] < 0.5 and (total is None or done < total):
            return
        last[0] = now
        ManagedModel.objects.filter(pk=row.pk).update(
            pull_file=name, pull_done=sum(totals.values()), pull_total=total_bytes
        )

    total_bytes = model.download_bytes or None
    ManagedModel.objects.filter(pk=row.pk).update(
        pull_state=PullState.RUNNING,
        pull_started_at=timezone.now(),
        pull_finished_at=None,
        pull_message="",
    )
    try:
        files = model_pull(model, progress=progress, show_bar=show_bar)
    except ModelPullError as exc:
        _finish(row, PullState.FAILED, str(exc))
        return {"key": key, "state": "failed", "reason": exc.reason, "message": str(exc)}
    except Exception as exc:
        _finish(row, PullState.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    size = sum(f.size for f in files)
    ManagedModel.objects.filter(pk=row.pk).update(pull_done=size, pull_total=size)
    _finish(row, PullState.DONE, f"{len(files)} files, {size} bytes, checksums verified")
    result: dict[str, Any] = {"key": key, "state": "done", "bytes": size}
    if activate:
        try:
            result["role"] = model_activate(key=key).role
        except ModelError as exc:
            result["activate_error"] = str(exc)
    return result


def _finish(row: ManagedModel, state: str, message: str) -> None:
    ManagedModel.objects.filter(pk=row.pk).update(
        pull_state=state, pull_message=message[:4000], pull_finished_at=timezone.now()
    )
