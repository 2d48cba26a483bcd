"""The pure calibration functions of text-query cutoffs, on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from indexing.calibration import bank_statistics, load_bank
from search.text_cut_methods import (
    autocut,
    cut_score,
    expected_f1_cut,
    mixture_cut,
    upper_posterior,
    z_scores,
)


def _unit(rows: list[list[float]]) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_bank_statistics_are_the_mean_and_spread_of_similarity_to_the_bank():
    bank = _unit([[1, 0], [0, 1]])
    images = _unit([[1, 0], [1, 1]])
    means, spreads = bank_statistics(images, bank)
    # image 1: similarities 1 and 0; image 2: both 1/sqrt(2) (no spread: floored)
    assert means == pytest.approx([0.5, 2**-0.5])
    assert spreads[0] == pytest.approx(0.5)
    assert 0 < spreads[1] < 1e-3


def test_an_empty_bank_is_refused():
    with pytest.raises(ValueError):
        bank_statistics(np.ones((2, 3)), np.zeros((0, 3)))


def test_z_scores_remove_each_images_own_offset():
    # A "hub" image close to every caption (mean 0.6) scores 0.65: not remarkable.
    # A shy image (mean 0.1, spread 0.05) scoring 0.3 is four spreads above its usual.
    z = z_scores(np.array([0.65, 0.3]), np.array([0.6, 0.1]), np.array([0.1, 0.05]))
    assert z == pytest.approx([0.5, 4.0])
    assert z[1] > z[0]


def test_autocut_keeps_the_scores_above_the_largest_gap():
    assert autocut(np.array([0.9, 0.88, 0.86, 0.5, 0.48, 0.47])) == 3
    assert autocut(np.array([0.5, 0.86, 0.9, 0.48])) == 2  # order of the input is irrelevant
    assert autocut(np.array([0.9, 0.2])) == 1
    assert autocut(np.array([0.7])) == 1
    assert autocut(np.array([])) == 0


def test_the_mixture_separates_two_clear_groups():
    rng = np.random.default_rng(0)
    high = rng.normal(0.8, 0.01, 12)
    low = rng.normal(0.3, 0.02, 60)
    scores = np.concatenate([low, high])
    assert mixture_cut(scores) == 12
    posterior = upper_posterior(np.sort(scores)[::-1])
    assert (posterior[:12] > 0.99).all() and (posterior[12:] < 0.01).all()


def test_the_mixture_keeps_everything_it_cannot_split():
    assert mixture_cut(np.array([0.5, 0.5, 0.5, 0.5])) == 4
    assert mixture_cut(np.array([0.9, 0.1])) == 2


def test_expected_f1_stops_after_one_standout_match():
    # A caption with one match: the best image far above its usual (z 8), the rest ordinary.
    scores = np.linspace(0.6, 0.2, 20)
    z = np.array([8.0, 1.0] + [0.0] * 18)
    assert expected_f1_cut(scores, z - 5.0) == 1


def test_expected_f1_goes_as_deep_as_a_class_of_many_matches():
    # A class name: 30 images clearly above their usual (z 7), then 100 ordinary ones.
    scores = np.linspace(0.7, 0.1, 130)
    z = np.array([7.0] * 30 + [0.0] * 100)
    assert expected_f1_cut(scores, z - 5.0) == 30
    # Equally likely images are kept or dropped together, whatever the centre.
    assert expected_f1_cut(scores, z - 12.0) == 30


def test_a_higher_centre_keeps_only_the_more_remarkable_images():
    scores = np.linspace(0.7, 0.1, 130)
    z = np.concatenate([np.linspace(9.0, 5.0, 30), np.zeros(100)])
    kept = [expected_f1_cut(scores, z - c) for c in (5.0, 7.0, 9.0, 12.0)]
    assert kept == sorted(kept, reverse=True) and kept[0] == 30 and kept[-1] <= 2


def test_expected_f1_cuts_the_raw_ranking_not_the_z_ranking():
    # The best raw score is ordinary, the next two remarkable: keeping them means keeping it.
    assert expected_f1_cut(np.array([0.9, 0.8, 0.7]), np.array([0.0, 8.0, 8.0]) - 5.0) == 3
    # The input order is irrelevant: z travels with its score.
    assert expected_f1_cut(np.array([0.7, 0.9, 0.8]), np.array([8.0, 0.0, 8.0]) - 5.0) == 3


def test_expected_f1_never_empties_a_result_and_ignores_unknown_statistics():
    assert expected_f1_cut(np.array([0.5, 0.4]), np.array([np.nan, np.nan]) - 5.0) == 1
    # An image without statistics counts as improbable: the remarkable one after it is kept.
    z = np.array([np.nan, 9.0, 0.0, 0.0])
    assert expected_f1_cut(np.array([0.9, 0.8, 0.3, 0.2]), z - 5.0) == 2
    assert expected_f1_cut(np.array([]), np.array([]) - 5.0) == 0


def test_cut_score_lies_between_the_last_kept_and_the_first_dropped():
    scores = np.array([0.9, 0.8, 0.4])
    assert cut_score(scores, 2) == pytest.approx(0.6)
    assert cut_score(scores, 3) < 0.4  # all kept
    assert cut_score(scores, 0) == pytest.approx(0.9)  # none kept: nothing is above the best
    kept = scores[scores > cut_score(scores, 1)]
    assert kept.tolist() == [0.9]


def test_the_shipped_bank_has_many_distinct_captions():
    captions = load_bank()
    assert len(captions) >= 100
    assert len(set(captions)) == len(captions)
    assert not any(c.startswith("#") for c in captions)
