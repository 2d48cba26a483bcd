"""The admission rules of collection expansion and the hot-image drift bound."""

from __future__ import annotations

import numpy as np
import pytest

from feedback.expansion import (
    AdmissionRules,
    Tally,
    Vote,
    admitted,
    decay,
    merge_near_duplicates,
    refine_hot,
    tally,
    text_key,
)


def unit(v):  # type: ignore[no-untyped-def]
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_case_punctuation_and_spacing_make_the_same_text():
    assert (
        text_key("  A Cat, on the  SOFA! ") == text_key("a cat on the sofa") == "a cat on the sofa"
    )


def test_support_counts_distinct_users_and_rejections_subtract():
    votes = [
        Vote(1, "cat", True, 0),
        Vote(2, "cat", True, 0),
        Vote(3, "cat", False, 0),
        Vote(1, "dog", True, 0),
    ]
    result = tally(votes, half_life_days=0)
    assert result["cat"] == Tally(support=1.0, supporters=2, rejections=1)
    assert result["dog"] == Tally(support=1.0, supporters=1, rejections=0)


def test_old_support_decays_by_half_life():
    assert decay(0, 30) == 1.0 and decay(30, 30) == pytest.approx(0.5)
    assert decay(60, 30) == pytest.approx(0.25) and decay(60, 0) == 1.0
    votes = [Vote(1, "cat", True, 30), Vote(2, "cat", True, 0)]
    assert tally(votes, 30)["cat"].support == pytest.approx(1.5)


def test_admission_needs_support_from_more_than_one_user():
    rules = AdmissionRules(min_support=2.0, min_supporters=2, max_per_image=5)
    tallies = {
        "single user twice": Tally(2.0, 1, 0),  # support from one user only
        "two users": Tally(2.0, 2, 0),
        "weak": Tally(1.0, 2, 1),
    }
    assert admitted(tallies, rules) == ["two users"]


def test_cap_keeps_the_best_supported_and_counts_approved_captions():
    rules = AdmissionRules(min_support=1.0, min_supporters=1, max_per_image=2)
    tallies = {"a": Tally(5.0, 5, 0), "b": Tally(3.0, 3, 0), "c": Tally(4.0, 4, 0)}
    assert admitted(tallies, rules) == ["a", "c"]
    assert admitted(tallies, rules, reserved=1) == ["a"]
    assert admitted(tallies, rules, reserved=2) == []


def test_near_duplicates_merge_into_the_first_wording():
    keys = ["a red car", "a red automobile", "a blue boat"]
    vectors = np.array([unit([1, 0.05, 0]), unit([1, 0.08, 0]), unit([0, 0, 1])])
    merged = merge_near_duplicates(keys, vectors, min_cosine=0.99)
    assert merged == {
        "a red car": "a red car",
        "a red automobile": "a red car",
        "a blue boat": "a blue boat",
    }


def test_hot_refinement_moves_toward_confirmed_queries():
    original = unit([1, 0, 0])
    confirmed = np.array([unit([0.6, 0.8, 0])])
    rejected = np.array([unit([0.6, 0, 0.8])])
    refined, cosine = refine_hot(original, confirmed, rejected, beta=0.5, gamma=0.2, min_cosine=0.5)
    assert refined @ confirmed[0] > original @ confirmed[0]
    assert refined @ rejected[0] < original @ rejected[0]
    assert np.linalg.norm(refined) == pytest.approx(1.0, abs=1e-6)
    assert cosine == pytest.approx(float(refined @ original), abs=1e-6)


def test_drift_is_bounded():
    original = unit([1, 0, 0])
    confirmed = np.array([unit([0, 1, 0])] * 3)
    refined, cosine = refine_hot(
        original, confirmed, np.zeros((0, 3)), beta=10.0, gamma=0.0, min_cosine=0.9
    )
    assert cosine == pytest.approx(0.9, abs=1e-6)
    assert refined[1] > 0 and refined[2] == pytest.approx(0.0, abs=1e-6)  # still toward the query
    _unbounded, free_cosine = refine_hot(
        original, confirmed, np.zeros((0, 3)), beta=10.0, gamma=0.0, min_cosine=-1.0
    )
    assert free_cosine < 0.2  # without the bound it would have wandered off
