"""Rank fusion against hand-computed answers."""

from __future__ import annotations

import math

import pytest

from search.fusion import log_vote, log_vote_weight, rrf


def test_log_vote_weights_start_at_two_and_decrease_logarithmically():
    assert log_vote_weight(1) == 2.0
    assert log_vote_weight(3) == pytest.approx(2 / math.log2(4)) == pytest.approx(1.0)
    weights = [log_vote_weight(r) for r in range(1, 50)]
    assert weights == sorted(weights, reverse=True) and min(weights) > 0


def test_log_vote_sums_weights_over_lists():
    fused = dict(log_vote([["a", "b", "c"], ["b", "c"]]))
    assert fused["a"] == pytest.approx(2.0)
    assert fused["b"] == pytest.approx(2 / math.log2(3) + 2.0)
    assert fused["c"] == pytest.approx(1.0 + 2 / math.log2(3))
    assert [item for item, _ in log_vote([["a", "b", "c"], ["b", "c"]])] == ["b", "c", "a"]


def test_rrf_matches_the_formula():
    fused = dict(rrf([["x", "y"], ["y", "z"]], k=60))
    assert fused["x"] == pytest.approx(1 / 61)
    assert fused["y"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["z"] == pytest.approx(1 / 62)
    assert rrf([["x", "y"], ["y", "z"]])[0][0] == "y"


def test_list_weights_scale_a_lists_vote():
    fused = dict(rrf([["a"], ["b"]], k=0, list_weights=[1.0, 3.0]))
    assert fused == {"a": 1.0, "b": 3.0}
    with pytest.raises(ValueError):
        rrf([["a"], ["b"]], list_weights=[1.0])


def test_ties_keep_first_appearance_and_duplicates_count_once():
    assert [i for i, _ in rrf([["a", "b"], ["b", "a"]])] == ["a", "b"]
    assert dict(rrf([["a", "a", "b"]], k=0))["a"] == 1.0


def test_empty_lists_fuse_to_nothing():
    assert log_vote([]) == [] and rrf([[], []]) == []
