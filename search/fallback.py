"""Never a silent empty page: the closest results when no image passes a cutoff.

A cutoff mode (auto, static, dynamic, query) can leave nothing above the cutoff
although the searched galleries hold images; an empty page then reads as "there
is nothing like this here". Instead the search reports the few best-scoring
images of the same ranking without the cutoff, marked as below it, and a plain
notice. Top-k searches never need it; a caller asking for `strict` gets the
empty answer.
"""

from __future__ import annotations

from collections.abc import Sized

CLOSEST_MAX = 12  # a handful to judge the cutoff by, not a second page of results
NOTICE = "No confident match: no image passed the cutoff. The closest results are shown below."


def closest_wanted(*, thresholded: bool, total: int, strict: bool) -> bool:
    """Whether a search needs its closest results: a cutoff search that kept nothing."""
    return thresholded and total == 0 and not strict


def closest_count(k: int) -> int:
    """How many closest results to show for a search of k."""
    return max(1, min(k, CLOSEST_MAX))


def closest_notice(closest: Sized) -> str | None:
    """The plain note that goes with closest results (None when there are none)."""
    return NOTICE if len(closest) else None
