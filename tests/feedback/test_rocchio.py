"""Rocchio refinement against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from feedback.rocchio import RocchioParams, pseudo_feedback, rocchio


def unit(v):  # type: ignore[no-untyped-def]
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_rocchio_matches_the_formula_then_normalises():
    q = unit([1, 0, 0])
    relevant = np.array([unit([0, 1, 0]), unit([0, 1, 1])])
    non_relevant = np.array([unit([0, 0, 1])])
    params = RocchioParams(alpha=1.0, beta=0.5, gamma=0.25)
    expected = q + 0.5 * relevant.mean(axis=0) - 0.25 * non_relevant.mean(axis=0)
    got = rocchio(q, relevant, non_relevant, params)
    assert np.allclose(got, expected / np.linalg.norm(expected), atol=1e-6)
    assert np.linalg.norm(got) == pytest.approx(1.0, abs=1e-6) and got.dtype == np.float32


def test_refined_query_moves_toward_relevant_and_away_from_non_relevant():
    rng = np.random.default_rng(0)
    q = unit(rng.standard_normal(32))
    good = np.array([unit(rng.standard_normal(32)) for _ in range(3)])
    bad = np.array([unit(rng.standard_normal(32)) for _ in range(3)])
    refined = rocchio(q, good, bad)
    assert (good @ refined).mean() > (good @ q).mean()
    assert (bad @ refined).mean() < (bad @ q).mean()


def test_empty_feedback_returns_the_query():
    q = unit([3, 4])
    assert np.allclose(rocchio(q, np.zeros((0, 2)), np.zeros((0, 2))), q)


def test_a_zero_result_is_refused():
    q = unit([1, 0])
    with pytest.raises(ValueError):
        rocchio(q, np.zeros((0, 2)), np.array([q]), RocchioParams(alpha=1.0, beta=0.0, gamma=1.0))


def test_pseudo_feedback_takes_top_and_bottom_p():
    assert pseudo_feedback([5, 4, 3, 2, 1], 2) == ([5, 4], [])
    assert pseudo_feedback([5, 4, 3, 2, 1], 2, negatives=True) == ([5, 4], [2, 1])
    assert pseudo_feedback([5, 4, 3], 2, negatives=True) == ([5, 4], [3])  # never both
    assert pseudo_feedback([], 3, negatives=True) == ([], [])
