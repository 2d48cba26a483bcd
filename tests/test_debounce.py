"""cbir_site/debounce.py with the real cache (Redis in the tests) and real transactions."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from cbir_site.debounce import clear, debounce

pytestmark = pytest.mark.django_db


@pytest.fixture
def mark():  # type: ignore[no-untyped-def]
    prefix = f"cbir:test-debounce:{uuid.uuid4().hex}"
    yield lambda key: f"{prefix}:{key}"


def test_the_first_change_queues_once_after_commit_and_later_ones_ride_along(
    mark, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    sent: list[list[int]] = []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = debounce([3, 1, 3], mark=mark, delay=5, send=sent.append, what="test work")
        again = debounce([1, 2], mark=mark, delay=5, send=sent.append, what="test work")
        assert sent == []  # nothing leaves before the transaction commits
    assert (first, again) == ([1, 3], [2])
    assert sent == [[1, 3], [2]] and len(callbacks) == 2
    assert cache.get(mark(1)) == 1 and cache.get(mark(2)) == 1  # held until the task starts


def test_a_started_task_clears_its_marks_so_the_next_change_queues_again(mark):  # type: ignore[no-untyped-def]
    assert debounce([7], mark=mark, delay=1, send=lambda keys: None, what="w") == [7]
    assert debounce([7], mark=mark, delay=1, send=lambda keys: None, what="w") == []
    clear([7], mark=mark)
    assert debounce([7], mark=mark, delay=1, send=lambda keys: None, what="w") == [7]


def test_a_failed_queue_drops_the_marks_and_never_fails_the_caller(
    mark, django_capture_on_commit_callbacks, caplog
):  # type: ignore[no-untyped-def]
    def broken(keys: list[int]) -> None:
        raise ConnectionError("broker away")

    with django_capture_on_commit_callbacks(execute=True):
        assert debounce([5, 6], mark=mark, delay=1, send=broken, what="test work") == [5, 6]
    assert cache.get(mark(5)) is None and cache.get(mark(6)) is None
    assert "Could not queue test work for [5, 6]" in caplog.text
