"""The change-feed cursor: never skips an event that commits late, never applies one twice."""

from __future__ import annotations

from indexing.feed import ChangeCursor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_contiguous_events_advance_the_cursor():
    cursor = ChangeCursor(0)
    cursor.advance([1, 2, 3])
    assert cursor.position == 3
    assert cursor.unseen([2, 3, 4]) == [4]


def test_a_gap_holds_the_cursor_until_the_late_event_arrives():
    clock = Clock()
    cursor = ChangeCursor(0, gap_timeout=60, clock=clock)
    cursor.advance([1, 3, 4])  # 2 belongs to a transaction that has not committed yet
    assert cursor.position == 1
    assert cursor.open_gaps == [2]
    assert cursor.unseen([3, 4, 5]) == [5]  # already applied events are not applied again
    cursor.advance([2])
    assert cursor.position == 4 and cursor.open_gaps == []


def test_an_old_gap_is_treated_as_a_rolled_back_transaction():
    clock = Clock()
    cursor = ChangeCursor(10, gap_timeout=30, clock=clock)
    cursor.advance([12, 13])
    assert cursor.position == 10
    clock.now = 29
    cursor.advance([])
    assert cursor.position == 10  # still young: the transaction may yet commit
    clock.now = 31
    cursor.advance([])
    assert cursor.position == 13 and cursor.open_gaps == []


def test_all_gaps_start_their_clock_together():
    clock = Clock()
    cursor = ChangeCursor(0, gap_timeout=5, clock=clock)
    cursor.advance([4])  # 1, 2, 3 missing, all noticed now
    clock.now = 6
    cursor.advance([5])
    assert cursor.position == 5
