"""A cursor over the index change feed that tolerates out-of-order commits.

Event ids come from a sequence: a transaction that took id 10 may commit
after one that took id 11. A reader that jumped to 11 would never see 10.
The cursor therefore only advances over contiguous applied ids; a missing id
(a gap) holds it back until the gap fills or has stayed open longer than
`gap_timeout` seconds (a rolled-back transaction leaves a permanent gap).
Ids above the cursor that were already applied are remembered so they are
not applied again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


class ChangeCursor:
    def __init__(
        self,
        position: int = 0,
        *,
        gap_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.position = position  # every event id <= position has been applied
        self.gap_timeout = gap_timeout
        self._clock = clock
        self._applied_above: set[int] = set()
        self._gaps: dict[int, float] = {}  # missing id -> when it was first noticed

    def unseen(self, ids: Iterable[int]) -> list[int]:
        return [i for i in ids if i > self.position and i not in self._applied_above]

    def advance(self, applied: Iterable[int]) -> None:
        self._applied_above.update(i for i in applied if i > self.position)
        if not self._applied_above:
            return
        now = self._clock()
        highest = max(self._applied_above)
        for missing in range(self.position + 1, highest):
            if missing not in self._applied_above:
                self._gaps.setdefault(missing, now)
        while self._applied_above:
            following = self.position + 1
            if following in self._applied_above:
                self._applied_above.discard(following)
            elif now - self._gaps.get(following, now) >= self.gap_timeout:
                pass  # the gap is old: its transaction rolled back
            else:
                break
            self._gaps.pop(following, None)
            self.position = following

    @property
    def open_gaps(self) -> list[int]:
        return sorted(self._gaps)
