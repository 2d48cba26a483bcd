"""Rank-based retrieval metrics (pure Python/NumPy, no Django).

Recall@K here is the caption-retrieval measure of the sources (002 section
4.3): the fraction of queries whose relevant item is within the top K (with
several relevant items, the first one counts). It is not metrics.recall_at_k,
which compares an approximate top-k with the exact one.

A relevant item the search did not return at all is given the rank
`missing_rank` (the collection size + 1) for the mean and median, so a
mean rank is a lower bound when searches were cut at k < collection size.

Average precision follows Revisited Oxford (Radenović et al., CVPR 2018):
junk items are removed from the ranking first, and the full AP uses their
trapezoid rule. AP@K divides by min(|relevant|, K), so a query with more
relevant items than K can still reach 1.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

RANK_KS = (1, 5, 10)
MAP_KS = (5, 10, 20, 50)


@dataclass(frozen=True)
class RankSummary:
    queries: int
    recall: dict[int, float]  # K -> fraction of queries with a relevant item in the top K
    median_rank: float
    mean_rank: float
    not_found: int  # queries whose relevant items were not returned at all
    missing_rank: int  # the rank those were counted at
    curve: list[float] = field(default_factory=list)  # R@1 .. R@len(curve)


@dataclass(frozen=True)
class PrecisionSummary:
    queries: int
    map_at: dict[int, float]  # K -> mAP@K
    mean_ap: float  # full mAP (trapezoid rule, as ROxford's compute_ap)
    precision_at: dict[int, float]  # K -> mean P@K
    recall_at: dict[int, float]  # K -> mean set recall@K (relevant found in the top K / relevant)


def without_junk(ranking: Sequence[Hashable], junk: Collection[Hashable]) -> list[Hashable]:
    return [item for item in ranking if item not in junk] if junk else list(ranking)


def first_relevant_rank(ranking: Sequence[Hashable], relevant: Collection[Hashable]) -> int | None:
    """1-based rank of the first relevant item, or None when none was returned."""
    for rank, item in enumerate(ranking, start=1):
        if item in relevant:
            return rank
    return None


def rank_summary(
    ranks: Sequence[int | None],
    *,
    missing_rank: int,
    ks: Iterable[int] = RANK_KS,
    curve_to: int = 0,
) -> RankSummary:
    """R@K, median and mean rank of per-query first-relevant ranks (None: not returned)."""
    if not ranks:
        raise ValueError("no queries")
    filled = np.asarray([missing_rank if r is None else r for r in ranks], dtype=np.float64)
    if np.any(filled < 1):
        raise ValueError("ranks start at 1")
    found = np.array([r is not None for r in ranks], dtype=np.bool_)
    return RankSummary(
        queries=len(ranks),
        recall={k: float(np.mean(found & (filled <= k))) for k in ks},
        median_rank=float(np.median(filled)),
        mean_rank=float(np.mean(filled)),
        not_found=int((~found).sum()),
        missing_rank=missing_rank,
        curve=[float(np.mean(found & (filled <= k))) for k in range(1, curve_to + 1)],
    )


def average_precision_at_k(
    ranking: Sequence[Hashable], relevant: Collection[Hashable], k: int
) -> float:
    """sum over the top k of P@i at each relevant item, divided by min(|relevant|, k)."""
    if not relevant:
        raise ValueError("a query needs at least one relevant item")
    if k < 1:
        raise ValueError("k must be at least 1")
    hits, total = 0, 0.0
    for i, item in enumerate(ranking[:k], start=1):
        if item in relevant:
            hits += 1
            total += hits / i
    return total / min(len(relevant), k)


def average_precision(ranking: Sequence[Hashable], relevant: Collection[Hashable]) -> float:
    """Full AP by the trapezoid rule of the Revisited Oxford code (compute_ap).

    Each relevant item found at 0-based position r (the j-th found, 0-based)
    adds (j / r + (j + 1) / (r + 1)) / 2 / |relevant| (j / r read as 1 at r = 0);
    relevant items never returned add nothing.
    """
    if not relevant:
        raise ValueError("a query needs at least one relevant item")
    positions = [r for r, item in enumerate(ranking) if item in relevant]
    step = 1.0 / len(relevant)
    total = 0.0
    for j, r in enumerate(positions):
        before = 1.0 if r == 0 else j / r
        total += (before + (j + 1) / (r + 1)) * step / 2.0
    return total


def precision_recall_at_k(
    ranking: Sequence[Hashable], relevant: Collection[Hashable], k: int
) -> tuple[float, float]:
    """P@K = relevant in the top k / k; R@K = relevant in the top k / |relevant|."""
    if not relevant:
        raise ValueError("a query needs at least one relevant item")
    hits = sum(1 for item in ranking[:k] if item in relevant)
    return hits / k, hits / len(relevant)


def precision_summary(
    rankings: Sequence[Sequence[Hashable]],
    relevant: Sequence[Collection[Hashable]],
    *,
    ks: Iterable[int] = MAP_KS,
) -> PrecisionSummary:
    """Mean over queries of AP@K, AP, P@K and R@K (rankings already without junk)."""
    if len(rankings) != len(relevant):
        raise ValueError(f"{len(rankings)} rankings for {len(relevant)} relevant sets")
    if not rankings:
        raise ValueError("no queries")
    ks = list(ks)
    pairs = list(zip(rankings, relevant, strict=True))
    pr = {k: [precision_recall_at_k(r, rel, k) for r, rel in pairs] for k in ks}
    return PrecisionSummary(
        queries=len(pairs),
        map_at={
            k: float(np.mean([average_precision_at_k(r, rel, k) for r, rel in pairs])) for k in ks
        },
        mean_ap=float(np.mean([average_precision(r, rel) for r, rel in pairs])),
        precision_at={k: float(np.mean([p for p, _ in pr[k]])) for k in ks},
        recall_at={k: float(np.mean([r for _, r in pr[k]])) for k in ks},
    )
