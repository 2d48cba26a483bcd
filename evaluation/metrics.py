"""Set-based retrieval metrics: per-query and macro precision, recall, F1; recall@k.

Pure Python/NumPy, no Django. "Macro" here is the mean over queries of each
query's own precision, recall and F1 (not F1 of the mean P and R), as in the
dynamic-threshold paper's evaluation.

An empty returned set has no defined precision. It is scored with
`empty_precision` (default 0.0, as scikit-learn's `zero_division=0`): a
threshold that returns nothing is penalised rather than skipped, so a fit
cannot win by returning nothing for its hard queries. A query with no
relevant items is rejected: its recall is undefined and it should not be in
the evaluation set.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class MacroPRF:
    precision: float
    recall: float
    f1: float
    queries: int
    empty: int  # queries whose returned set was empty
    mean_returned: float  # mean size of the returned sets


def f1_score(precision: float, recall: float) -> float:
    """Harmonic mean; 0 when both are 0."""
    total = precision + recall
    return 0.0 if total <= 0 else 2.0 * precision * recall / total


def set_prf(
    returned: Iterable[int], relevant: Collection[int], *, empty_precision: float = 0.0
) -> PRF:
    """Precision, recall and F1 of one returned set (duplicates count once)."""
    relevant_set = set(relevant)
    if not relevant_set:
        raise ValueError("a query needs at least one relevant item")
    returned_set = set(returned)
    hits = len(returned_set & relevant_set)
    precision = hits / len(returned_set) if returned_set else float(empty_precision)
    recall = hits / len(relevant_set)
    return PRF(precision, recall, f1_score(precision, recall))


def macro_prf(
    returned: Sequence[Iterable[int]],
    relevant: Sequence[Collection[int]],
    *,
    empty_precision: float = 0.0,
) -> MacroPRF:
    """Mean over queries of per-query precision, recall and F1."""
    if len(returned) != len(relevant):
        raise ValueError(f"{len(returned)} returned sets for {len(relevant)} relevant sets")
    if not returned:
        raise ValueError("no queries")
    scores, sizes = [], []
    for got, want in zip(returned, relevant, strict=True):
        got_set = set(got)
        sizes.append(len(got_set))
        scores.append(set_prf(got_set, want, empty_precision=empty_precision))
    return MacroPRF(
        precision=float(np.mean([s.precision for s in scores])),
        recall=float(np.mean([s.recall for s in scores])),
        f1=float(np.mean([s.f1 for s in scores])),
        queries=len(scores),
        empty=sum(1 for n in sizes if n == 0),
        mean_returned=float(np.mean(sizes)),
    )


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """ANN recall@k: mean over queries of |found[:k] ∩ truth[:k]| / |truth[:k]|.

    `found` and `truth` are (n_queries, >= k) id arrays, best first; -1 pads a
    row that has fewer than k results. A query whose true top-k is empty
    (no candidates at all) counts as recall 1 when nothing was found either.
    """
    found = np.atleast_2d(np.asarray(found))
    truth = np.atleast_2d(np.asarray(truth))
    if len(found) != len(truth):
        raise ValueError(f"{len(found)} result rows for {len(truth)} ground-truth rows")
    if k < 1:
        raise ValueError("k must be at least 1")
    if len(found) == 0:
        raise ValueError("no queries")
    values = []
    for got, want in zip(found[:, :k], truth[:, :k], strict=True):
        want_set = {int(i) for i in want if i >= 0}
        got_set = {int(i) for i in got if i >= 0}
        if not want_set:
            values.append(1.0 if not got_set else 0.0)
        else:
            values.append(len(got_set & want_set) / len(want_set))
    return float(np.mean(values))
