"""The web server killed with SIGKILL in the middle of large uploads: no orphan file, no row
without a file, and the restarted server serves again. A short load run has no 5xx."""

from __future__ import annotations

import pytest

from tests.reliability.web_scenarios import load_run, web_kills

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(240)]


def test_killed_web_server_leaves_no_orphan_file_or_row(stack, account):
    outcome = web_kills(stack, account)
    assert outcome.ok, outcome.describe()


def test_concurrent_searches_and_uploads_get_no_server_error(stack, account, long_run):
    outcome = load_run(
        stack, account, seconds=60 if long_run else 10, preload=300 if long_run else 50
    )
    assert outcome.ok, outcome.describe()
