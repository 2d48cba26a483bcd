"""Redis and PostgreSQL restarted while clients upload and search: every request either
succeeds or fails with a clear JSON error, nothing is left half-done, pending work completes
after recovery and the web process's index converges to pgvector."""

from __future__ import annotations

import pytest

from tests.reliability.outages import postgres_restart, redis_restart

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(240)]


def test_redis_restart_loses_no_upload_and_searches_keep_answering(stack, account):
    outcome = redis_restart(stack, account)
    assert outcome.ok, outcome.describe()


def test_postgres_restart_answers_503_then_recovers_by_itself(stack, account):
    outcome = postgres_restart(stack, account)
    assert outcome.ok, outcome.describe()
    assert outcome.figures["unexpected_exits"] == [], "a process died with the database"
