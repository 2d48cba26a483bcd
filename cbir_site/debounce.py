"""Debounced background work: the first change in a quiet period queues one delayed task.

Gallery statistics (search/statistics.py) and expansion texts (feedback/expansion_service.py)
are recomputed this way. The first caller for a key wins an atomic `cache.add` mark and
queues the task to run after `delay` seconds, once the transaction commits; later changes
before the task starts are covered by it. The task clears its marks when it starts, so
changes during the computation queue another run. A mark expires on its own in case the
queued task is lost; if queuing fails, the marks are dropped and the error logged (the
periodic refreshes catch up) and the caller never fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

# A mark outlives the delay by this much before it expires on its own.
MARK_GRACE_S = 600


def debounce[Key: (int, str)](
    keys: Iterable[Key],
    *,
    mark: Callable[[Key], str],
    delay: float,
    send: Callable[[list[Key]], None],
    what: str,
) -> list[Key]:
    """Queue `send(keys not already pending)` after commit; return the keys it covers."""
    scheduled = [
        k for k in sorted(set(keys)) if cache.add(mark(k), 1, timeout=delay + MARK_GRACE_S)
    ]
    if scheduled:

        def queue() -> None:
            try:
                send(scheduled)
            except Exception:  # the periodic refresh catches up; never fail the caller
                cache.delete_many([mark(k) for k in scheduled])
                logger.exception("Could not queue %s for %s", what, scheduled)

        transaction.on_commit(queue, robust=True)
    return scheduled


def clear[Key: (int, str)](keys: Iterable[Key], *, mark: Callable[[Key], str]) -> None:
    """The task started: later changes queue another run."""
    cache.delete_many([mark(k) for k in keys])
