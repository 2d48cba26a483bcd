"""Composed queries: weighted sums and the two-phase re-ranking."""

from __future__ import annotations

import numpy as np
import pytest

from search.compose import Part, two_phase, weighted_sum


def unit(v):  # type: ignore[no-untyped-def]
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_weighted_sum_normalises_parts_then_the_total():
    a, b = np.array([2.0, 0, 0]), np.array([0, 3.0, 0])
    got = weighted_sum([Part(a, 1.0), Part(b, 1.0)])
    assert np.allclose(got, unit([1, 1, 0]), atol=1e-6)


def test_negative_weight_pushes_away_from_what_is_not_wanted():
    beach, people = unit([1, 0.2, 0]), unit([0.2, 1, 0])
    query = weighted_sum([Part(beach, 1.0), Part(people, -0.5)])
    assert query @ people < beach @ people
    assert query @ beach > 0.8


def test_parts_that_cancel_are_refused():
    v = unit([1, 1])
    with pytest.raises(ValueError):
        weighted_sum([Part(v, 1.0), Part(v, -1.0)])


def test_two_phase_reorders_the_text_results_by_the_examples():
    ids = [10, 11, 12]  # the text ranking
    vectors = np.array([unit([1, 0, 0]), unit([0, 1, 0]), unit([0, 0.2, 1])])
    example = np.array([unit([0, 0, 1])])
    fused = two_phase(ids, vectors, example, np.zeros((0, 3)), fusion="rrf")
    # text ranks 10, 11, 12; the example ranks 12 first, then 10 and 11 (tied at 0, stable)
    scores = dict(fused)
    assert scores[10] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[11] == pytest.approx(1 / 62 + 1 / 63)
    assert scores[12] == pytest.approx(1 / 63 + 1 / 61)
    assert [i for i, _ in fused] == [10, 12, 11]


def test_two_phase_negative_examples_push_items_down():
    ids = [1, 2, 3]  # the text's ranking
    vectors = np.array([unit([1, 0]), unit([0, 1]), unit([0.6, 0.8])])
    examples = np.array([unit([1, 1])])  # example scores 0.707, 0.707, 0.990: ranks 3, 1, 2
    negatives = np.array([unit([1, 0])])  # minus 1.0, 0, 0.6: ranks 2, 3, 1
    liked = two_phase(ids, vectors, examples, np.zeros((0, 2)), negative_weight=1.0)
    # log_vote, w(r) = 1 / log2(r + 1): 1 gets w1 + w2, 3 gets w3 + w1, 2 gets w2 + w3
    assert [i for i, _ in liked] == [1, 3, 2]
    fused = two_phase(ids, vectors, examples, negatives, negative_weight=1.0)
    # now 2 gets w2 + w1, 1 gets w1 + w3, 3 gets w3 + w2: the unwanted item 1 loses first place
    assert [i for i, _ in fused] == [2, 1, 3]
    assert two_phase([], np.zeros((0, 2)), examples, negatives) == []
