"""The negative-word experiment's rule for the default weight, and its small measures."""

from __future__ import annotations

import pytest

from evaluation.experiments.negatives import (
    WeightFigures,
    any_absent,
    choose_weight,
    top_share,
)


def row(weight: float, r10: float, unrelated: float, negated: float) -> WeightFigures:
    return WeightFigures(
        weight=weight,
        queries=100,
        recall={1: 0.0, 5: 0.0, 10: r10},
        median_rank=1.0,
        worse=0.0,
        unrelated=unrelated,
        negated=negated,
        top_score=0.3,
    )


def test_the_rule_takes_the_harmless_weight_that_removes_the_object_best():
    rows = [
        row(0.0, 0.80, 0.30, 0.20),
        row(0.1, 0.80, 0.30, 0.15),
        row(0.2, 0.795, 0.305, 0.10),  # within a point: harmless, and the best suppression
        row(0.5, 0.70, 0.30, 0.02),  # loses the target
        row(1.0, 0.80, 0.45, 0.00),  # fills the page with unrelated images
    ]
    assert choose_weight(rows) == 0.2


def test_ties_go_to_the_smaller_weight_and_no_harmless_weight_means_zero():
    rows = [row(0.0, 0.8, 0.3, 0.2), row(0.1, 0.8, 0.3, 0.1), row(0.2, 0.8, 0.3, 0.1)]
    assert choose_weight(rows) == 0.1
    assert choose_weight([row(0.0, 0.8, 0.3, 0.2), row(0.5, 0.5, 0.6, 0.0)]) == 0.0
    with pytest.raises(ValueError):
        choose_weight([row(0.1, 0.8, 0.3, 0.2)])


def test_top_share_counts_the_head_only():
    assert top_share([1, 2, 3, 4], {2, 4}, top=2) == 0.5
    assert top_share([], {1}) == 0.0


def test_any_absent_never_picks_a_present_category_and_is_stable():
    categories = ["cat", "dog", "horse", "person"]
    picks = {any_absent(f"q{n}", categories, {"dog", "person"}) for n in range(50)}
    assert picks == {"cat", "horse"}
    assert any_absent("q7", categories, set()) == any_absent("q7", categories, set())
