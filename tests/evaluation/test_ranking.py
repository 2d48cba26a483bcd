"""Rank metrics on hand-computed cases."""

from __future__ import annotations

import pytest

from evaluation.metrics import macro_prf
from evaluation.ranking import (
    average_precision,
    average_precision_at_k,
    first_relevant_rank,
    precision_recall_at_k,
    precision_summary,
    rank_summary,
    without_junk,
)


def test_first_relevant_rank_is_one_based_and_none_when_absent():
    assert first_relevant_rank([5, 3, 9], {9}) == 3
    assert first_relevant_rank([5, 3, 9], {9, 3}) == 2
    assert first_relevant_rank([5, 3], {9}) is None


def test_rank_summary_counts_missing_items_at_n_plus_one():
    summary = rank_summary([1, 3, None, 12], missing_rank=21, ks=(1, 5, 10), curve_to=4)
    assert summary.recall == {1: 0.25, 5: 0.5, 10: 0.5}
    assert summary.median_rank == 7.5  # of 1, 3, 12, 21
    assert summary.mean_rank == pytest.approx(37 / 4)
    assert summary.not_found == 1 and summary.missing_rank == 21
    assert summary.curve == [0.25, 0.25, 0.5, 0.5]


def test_recall_at_k_never_counts_a_missing_item_as_found():
    # missing_rank 3 is within K = 5, but the item was not returned: not a hit
    summary = rank_summary([None, 1], missing_rank=3, ks=(5,))
    assert summary.recall == {5: 0.5}


def test_rank_summary_rejects_bad_input():
    with pytest.raises(ValueError):
        rank_summary([], missing_rank=2)
    with pytest.raises(ValueError):
        rank_summary([0], missing_rank=2)


def test_average_precision_at_k_divides_by_min_relevant_k():
    ranking = ["a", "x", "b", "y", "c"]
    relevant = {"a", "b", "c"}
    # P@1 = 1, P@3 = 2/3, P@5 = 3/5 at the relevant positions
    assert average_precision_at_k(ranking, relevant, 5) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert average_precision_at_k(ranking, relevant, 2) == pytest.approx(1 / 2)
    assert average_precision_at_k(["x", "a"], {"a"}, 1) == 0.0
    assert average_precision_at_k(["a", "b"], {"a", "b"}, 10) == 1.0


def test_full_average_precision_uses_the_roxford_trapezoid_rule():
    # relevant at 0-based positions 0, 2, 4 of 3 relevant:
    # (1 + 1)/2/3 + (1/2 + 2/3)/2/3 + (2/4 + 3/5)/2/3
    expected = (2 / 2 + (1 / 2 + 2 / 3) / 2 + (2 / 4 + 3 / 5) / 2) / 3
    assert average_precision(["a", "x", "b", "y", "c"], {"a", "b", "c"}) == pytest.approx(expected)
    assert average_precision(["a", "b"], {"a", "b"}) == pytest.approx(1.0)
    # a relevant item never returned adds nothing
    assert average_precision(["a"], {"a", "z"}) == pytest.approx(0.5)


def test_junk_is_removed_before_scoring():
    ranking = without_junk(["j", "a", "x", "b"], {"j"})
    assert ranking == ["a", "x", "b"]
    assert average_precision_at_k(ranking, {"a"}, 1) == 1.0


def test_precision_and_recall_at_k():
    assert precision_recall_at_k(["a", "x", "b"], {"a", "b", "c"}, 2) == (0.5, pytest.approx(1 / 3))
    assert precision_recall_at_k(["a"], {"a"}, 10) == (0.1, 1.0)


def test_precision_summary_is_the_mean_over_queries():
    summary = precision_summary([["a", "x"], ["x", "b"]], [{"a"}, {"b"}], ks=(1, 2))
    assert summary.queries == 2
    assert summary.map_at == {1: 0.5, 2: pytest.approx((1 + 0.5) / 2)}
    assert summary.precision_at == {1: 0.5, 2: 0.5}
    assert summary.recall_at == {1: 0.5, 2: 1.0}
    # trapezoid: query 1 AP = 1; query 2 at position 1: (0/1 + 1/2)/2 = 0.25
    assert summary.mean_ap == pytest.approx((1 + 0.25) / 2)


def test_macro_prf_of_thresholded_sets_from_the_shared_metrics():
    result = macro_prf([{1, 2}, set()], [{1, 3}, {4}])
    # query 1: P 1/2, R 1/2, F1 1/2; query 2: nothing returned, P 0, R 0
    assert (result.precision, result.recall, result.f1) == (0.25, 0.25, 0.25)
    assert result.empty == 1
