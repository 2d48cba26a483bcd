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
    ids = [1, 2]
    vectors = np.array([unit([1, 0]), unit([0, 1])])
    examples = np.array([unit([1, 1])])  # likes both equally
    negatives = np.array([unit([1, 0])])  # but not item 1
    fused = two_phase(ids, vectors, examples, negatives, negative_weight=1.0)
    assert fused[0][0] in (1, 2)
    assert dict(fused)[2] > dict(fused)[1] - 1e-9  # item 2 wins the example ranking
    assert two_phase([], np.zeros((0, 2)), examples, negatives) == []
