"""Celery workers killed with SIGKILL in the middle of embedding batches, during a bulk upload:
afterwards every accepted upload has its file, its row and exactly one embedding."""

from __future__ import annotations

import pytest

from tests.reliability.scenarios import worker_kills

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(240)]


def test_killed_workers_lose_and_duplicate_nothing(stack, account, long_run):
    outcome = worker_kills(
        stack, account, images=1500 if long_run else 500, min_kills=20 if long_run else 5
    )
    assert outcome.ok, outcome.describe()
    assert outcome.figures["kills"] >= 5
    assert outcome.figures["audit"]["retried_images"] > 0, "no kill interrupted a claimed batch"
