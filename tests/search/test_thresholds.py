"""The dynamic-threshold formulas on constructed galleries whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from search.thresholds import (
    ThresholdParams,
    distance_from_similarity,
    dynamic_threshold,
    global_mean,
    mean_neighbour_distance,
    query_statistic,
    similarity_cutoff,
)


def unit(v):  # type: ignore[no-untyped-def]
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def ring(count: int, angle_step: float) -> np.ndarray:
    """Points on a circle, neighbours `angle_step` radians apart."""
    angles = np.arange(count) * angle_step
    return unit(np.stack([np.cos(angles), np.sin(angles), np.zeros(count)], axis=1))


def chord(angle: float) -> float:
    return 2 * np.sin(angle / 2)  # Euclidean distance between unit vectors `angle` apart


def test_mean_neighbour_distance_on_a_ring_is_the_chord_length():
    # Interior points have neighbours at +-step; with n=2 both are one chord away.
    points = ring(50, 0.01)
    expected_ends = (chord(0.01) + chord(0.02)) / 2  # the two end points see step and 2*step
    expected = (48 * chord(0.01) + 2 * expected_ends) / 50
    assert mean_neighbour_distance(points, 2) == pytest.approx(expected, rel=1e-3)


def test_self_is_excluded_even_with_exact_duplicates():
    points = unit([[1, 0, 0], [1, 0, 0], [0, 1, 0]])
    # nearest non-self neighbour: the twin (distance 0) for rows 0, 1; row 2 -> sqrt(2)
    assert mean_neighbour_distance(points, 1) == pytest.approx(np.sqrt(2) / 3, abs=1e-5)


def test_tight_gallery_has_a_smaller_statistic_than_a_loose_one():
    tight, loose = ring(40, 0.005), ring(40, 0.05)
    assert mean_neighbour_distance(tight, 3) < mean_neighbour_distance(loose, 3)


def test_sampling_estimates_the_full_statistic():
    rng = np.random.default_rng(3)
    points = unit(rng.standard_normal((3000, 16)))
    full = mean_neighbour_distance(points, 5)
    sampled = mean_neighbour_distance(points, 5, sample=400, seed=1)
    assert sampled == pytest.approx(full, rel=0.03)


def test_neighbour_count_is_capped_by_gallery_size():
    points = unit([[1, 0], [0, 1]])
    assert mean_neighbour_distance(points, 10) == pytest.approx(np.sqrt(2), abs=1e-6)
    with pytest.raises(ValueError):
        mean_neighbour_distance(points[:1], 3)


def test_dynamic_threshold_formula_and_clipping():
    params = ThresholdParams(static=0.8, weight=0.5, neighbours=5)
    assert dynamic_threshold(params, gallery_mean=0.6, overall_mean=0.4) == pytest.approx(0.9)
    assert dynamic_threshold(params, gallery_mean=0.2, overall_mean=0.4) == pytest.approx(0.7)
    assert dynamic_threshold(params, gallery_mean=0.4, overall_mean=0.4) == pytest.approx(0.8)
    assert dynamic_threshold(ThresholdParams(1.9, 2.0, 5), 1.0, 0.5) == 2.0
    assert dynamic_threshold(ThresholdParams(0.1, 2.0, 5), 0.0, 0.5) == 0.0


def test_global_mean_of_gallery_statistics():
    assert global_mean([0.2, 0.4, 0.9]) == pytest.approx(0.5)
    assert global_mean([]) is None


def test_cutoff_and_distance_are_inverse():
    for t in (0.0, 0.3, 1.0, 1.41, 2.0):
        assert float(distance_from_similarity(similarity_cutoff(t))) == pytest.approx(t, abs=1e-6)
    assert similarity_cutoff(np.sqrt(2)) == pytest.approx(0.0, abs=1e-9)


def test_query_statistic_uses_the_best_n_scores():
    scores = np.array([0.1, 0.9, 0.5, 0.8])
    expected = float(np.mean(distance_from_similarity(np.array([0.9, 0.8]))))
    assert query_statistic(scores, 2) == pytest.approx(expected)
    assert query_statistic(np.array([]), 3) is None
