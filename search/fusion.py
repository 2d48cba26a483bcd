"""Rank fusion: combine ranked lists (two models, two query phases) into one ranking.

log_vote is the source's "ranking aggregation" (002, section 3.3): each list
gives the item at rank r a weight that decreases with log(r), the top item
weighing 2.0, and an item's weights are summed over the lists. The source
prints the weight as log(1/(i + 1)), which is zero or negative for every rank
but the first (an item low in a list would score below one missing from it);
we read it as the usual logarithmic discount scaled to that top weight,
w(r) = 2 / log2(r + 1): 2.0, 1.26, 1.0, 0.86, ... always positive.

rrf is reciprocal rank fusion (Cormack et al., 2009): w(r) = 1 / (k + r),
k = 60. Both are deterministic: ties keep the order of first appearance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

RankedList = Sequence[Hashable]


def log_vote_weight(rank: int, top: float = 2.0) -> float:
    return top / math.log2(rank + 1)


def rrf_weight(rank: int, k: int = 60) -> float:
    return 1.0 / (k + rank)


def fuse[T: Hashable](
    lists: Sequence[Sequence[T]],
    weight: Callable[[int], float],
    list_weights: Sequence[float] | None = None,
) -> list[tuple[T, float]]:
    """Sum each item's rank weights over the lists (rank 1 = first); best first."""
    if list_weights is None:
        list_weights = [1.0] * len(lists)
    if len(list_weights) != len(lists):
        raise ValueError("one weight per list")
    totals: dict[T, float] = {}
    for ranked, factor in zip(lists, list_weights, strict=True):
        seen: set[T] = set()
        for rank, item in enumerate(ranked, start=1):
            if item in seen:  # an item counts once per list, at its best rank
                continue
            seen.add(item)
            totals[item] = totals.get(item, 0.0) + factor * weight(rank)
    # sorted() is stable: equal totals keep the order in which items first appeared.
    return sorted(totals.items(), key=lambda pair: -pair[1])


def log_vote[T: Hashable](
    lists: Sequence[Sequence[T]], list_weights: Sequence[float] | None = None
) -> list[tuple[T, float]]:
    return fuse(lists, log_vote_weight, list_weights)


def rrf[T: Hashable](
    lists: Sequence[Sequence[T]], k: int = 60, list_weights: Sequence[float] | None = None
) -> list[tuple[T, float]]:
    return fuse(lists, lambda rank: rrf_weight(rank, k), list_weights)


class Fusion(Protocol):
    """A fusion method: ranked lists of any items in, (item, score) best first out."""

    def __call__[T: Hashable](
        self, lists: Sequence[Sequence[T]], *, list_weights: Sequence[float] | None = None
    ) -> list[tuple[T, float]]: ...


METHODS: dict[str, Fusion] = {"log_vote": log_vote, "rrf": rrf}
