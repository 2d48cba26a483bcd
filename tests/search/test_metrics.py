"""Evaluation helpers on hand-computed cases: set metrics, recall@k, threshold fits."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.metrics import f1_score, macro_prf, recall_at_k, set_prf
from search.threshold_fit import (
    RankedLists,
    ThresholdFit,
    dynamic_thresholds,
    fit_thresholds,
    fit_thresholds_refined,
)
from search.thresholds import ThresholdParams, dynamic_threshold

# ---------------------------------------------------------------- set metrics


def test_set_prf_counts_hits_against_returned_and_relevant():
    # 2 of 4 returned are relevant; 2 of 3 relevant are found.
    score = set_prf([1, 2, 3, 4], {2, 4, 9})
    assert score.precision == pytest.approx(0.5)
    assert score.recall == pytest.approx(2 / 3)
    assert score.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))  # 4/7


def test_set_prf_counts_duplicate_returned_ids_once():
    assert set_prf([1, 1, 2], {1}).precision == pytest.approx(0.5)


def test_empty_returned_set_scores_zero_precision_by_default():
    score = set_prf([], {1, 2})
    assert (score.precision, score.recall, score.f1) == (0.0, 0.0, 0.0)


def test_empty_returned_set_precision_can_be_chosen():
    assert set_prf([], {1}, empty_precision=1.0).precision == 1.0


def test_query_without_relevant_items_is_rejected():
    with pytest.raises(ValueError, match="relevant"):
        set_prf([1], set())


def test_f1_of_zero_precision_and_recall_is_zero():
    assert f1_score(0.0, 0.0) == 0.0
    assert f1_score(1.0, 0.5) == pytest.approx(2 / 3)


def test_macro_prf_averages_per_query_scores_not_pooled_counts():
    # Query 1: P=1, R=1/2, F1=2/3.  Query 2: returned nothing -> P=0, R=0, F1=0.
    # Query 3: P=1/4, R=1, F1=0.4.
    result = macro_prf(
        [[1], [], [7, 8, 9, 10]],
        [{1, 2}, {5}, {10}],
    )
    assert result.precision == pytest.approx((1 + 0 + 0.25) / 3)
    assert result.recall == pytest.approx((0.5 + 0 + 1) / 3)
    assert result.f1 == pytest.approx((2 / 3 + 0 + 0.4) / 3)
    assert result.queries == 3
    assert result.empty == 1
    assert result.mean_returned == pytest.approx(5 / 3)


def test_macro_prf_needs_one_relevant_set_per_query():
    with pytest.raises(ValueError):
        macro_prf([[1], [2]], [{1}])
    with pytest.raises(ValueError):
        macro_prf([], [])


# ---------------------------------------------------------------- recall@k


def test_recall_at_k_is_the_overlap_of_the_top_k_sets():
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    found = np.array([[3, 2, 9], [7, 8, 9]])  # order inside the top-k does not matter
    assert recall_at_k(found, truth, 3) == pytest.approx((2 / 3 + 0) / 2)


def test_recall_at_k_looks_at_the_first_k_columns_only():
    truth = np.array([[1, 2, 3, 4]])
    found = np.array([[1, 9, 2, 3]])
    assert recall_at_k(found, truth, 2) == pytest.approx(0.5)  # {1, 9} vs {1, 2}


def test_recall_at_k_ignores_padding_when_fewer_than_k_exist():
    # Only two allowed items exist: the truth row is padded with -1.
    truth = np.array([[5, 6, -1]])
    assert recall_at_k(np.array([[6, 5, -1]]), truth, 3) == 1.0
    assert recall_at_k(np.array([[6, -1, -1]]), truth, 3) == pytest.approx(0.5)


def test_recall_at_k_of_an_empty_truth_is_one_only_when_nothing_was_found():
    empty = np.array([[-1, -1]])
    assert recall_at_k(np.array([[-1, -1]]), empty, 2) == 1.0
    assert recall_at_k(np.array([[3, -1]]), empty, 2) == 0.0


# ---------------------------------------------------------------- ranked lists and fits


def two_queries() -> RankedLists:
    # Query 0: candidates at 0.1 (rel), 0.3 (rel), 0.5, 0.7 (rel); given unsorted.
    # Query 1: candidates at 0.2, 0.4 (rel), 0.9.
    return RankedLists.build(
        [np.array([0.5, 0.1, 0.7, 0.3]), np.array([0.9, 0.2, 0.4])],
        [np.array([False, True, True, True]), np.array([False, False, True])],
    )


def test_ranked_lists_sort_each_query_and_count_relevant():
    ranked = two_queries()
    d, rel = ranked.block(0)
    assert d.tolist() == [0.1, 0.3, 0.5, 0.7]
    assert rel.tolist() == [True, True, False, True]
    assert ranked.n_relevant.tolist() == [3, 1]
    assert len(ranked) == 2


def test_scores_at_a_threshold_match_the_set_metrics():
    ranked = two_queries()
    # t = 0.45 keeps {0.1, 0.3} for query 0 (P=1, R=2/3) and {0.2, 0.4} for query 1 (P=1/2, R=1).
    p, r, f1 = ranked.scores_at(np.array([0.45, 0.45]))
    assert p.tolist() == pytest.approx([1.0, 0.5])
    assert r.tolist() == pytest.approx([2 / 3, 1.0])
    expected_f1 = [set_prf([0, 1], {0, 1, 3}).f1, set_prf([0, 1], {1}).f1]
    assert f1.tolist() == pytest.approx(expected_f1)


def test_a_candidate_exactly_at_the_threshold_is_not_returned():
    # A hit needs d < T (search.thresholds): at t = 0.3 query 0 keeps only 0.1.
    p, r, _ = two_queries().scores_at(np.array([0.3, 0.0]))
    assert p[0] == 1.0 and r[0] == pytest.approx(1 / 3)
    assert p[1] == 0.0 and r[1] == 0.0  # nothing returned: precision 0


def test_scores_at_accept_a_grid_of_thresholds():
    grid = np.array([[0.45, 0.45], [1.0, 1.0]])
    _p, r, _f1 = two_queries().scores_at(grid)
    assert r.shape == (2, 2)
    assert r[1].tolist() == [1.0, 1.0]  # everything returned


def test_top_k_keeps_the_k_nearest():
    p, r, _ = two_queries().scores_top_k(2)
    assert p.tolist() == pytest.approx([1.0, 0.5])
    assert r.tolist() == pytest.approx([2 / 3, 1.0])


def test_nearest_mean_is_the_mean_of_the_n_smallest_distances():
    assert two_queries().nearest_mean(2).tolist() == pytest.approx([0.2, 0.3])


def test_subset_keeps_the_chosen_queries():
    sub = two_queries().subset(np.array([1]))
    assert len(sub) == 1
    assert sub.block(0)[0].tolist() == [0.2, 0.4, 0.9]


def test_query_without_relevant_candidates_is_rejected():
    with pytest.raises(ValueError, match="relevant"):
        RankedLists.build([np.array([0.1])], [np.array([False])])


def test_dynamic_thresholds_agree_with_the_product_formula():
    stats = np.array([0.4, 0.9, 3.0])
    got = dynamic_thresholds(stats, 0.6, 0.8, 1.5)
    params = ThresholdParams(static=0.8, weight=1.5, neighbours=5)
    assert got.tolist() == pytest.approx([dynamic_threshold(params, s, 0.6) for s in stats])
    assert got[2] == 2.0  # clipped


def test_static_fit_finds_the_best_single_threshold():
    # By hand: t in (0.4, 0.5] gives F1 (0.8 + 2/3) / 2 = 0.733; t in (0.7, 0.9] keeps all
    # of query 0 (P 3/4, R 1, F1 6/7) and two of query 1 (F1 2/3): 0.762, the best;
    # above 0.9 query 1 falls to F1 1/2. Ties go to the smallest t on the grid: 0.75.
    ranked = two_queries()
    fit = fit_thresholds(ranked, np.round(np.arange(0, 1.01, 0.05), 2))
    assert fit.weight == 0.0
    assert fit.static == pytest.approx(0.75)
    assert fit.f1 == pytest.approx((6 / 7 + 2 / 3) / 2)


def test_dynamic_fit_uses_the_statistic_to_separate_galleries():
    # Gallery A (statistic 0.2): relevant at 0.1, irrelevant at 0.3.
    # Gallery B (statistic 0.6): relevant at 0.5, irrelevant at 0.7.
    # No single threshold is perfect; T = 0.4 + 1.0 * (m - 0.4) is.
    ranked = RankedLists.build(
        [np.array([0.1, 0.3]), np.array([0.5, 0.7])],
        [np.array([True, False]), np.array([True, False])],
    )
    statistic = np.array([0.2, 0.6])
    static = fit_thresholds(ranked, np.arange(0, 1.001, 0.05))
    dynamic = fit_thresholds(
        ranked,
        np.arange(0, 1.001, 0.05),
        [0.0, 0.5, 1.0],
        statistic=statistic,
        overall_mean=0.4,
    )
    assert static.f1 < 1.0
    assert dynamic.f1 == pytest.approx(1.0)
    assert dynamic.weight > 0


def test_dynamic_fit_prefers_weight_zero_when_the_statistic_does_not_help():
    ranked = two_queries()
    grid = np.round(np.arange(0, 1.01, 0.05), 2)
    fit = fit_thresholds(
        ranked, grid, [-1.0, 0.0, 1.0], statistic=np.array([0.5, 0.5]), overall_mean=0.5
    )
    assert fit == ThresholdFit(fit_thresholds(ranked, grid).static, 0.0, pytest.approx(fit.f1))


def test_a_weight_without_a_statistic_is_rejected():
    with pytest.raises(ValueError, match="statistic"):
        fit_thresholds(two_queries(), np.array([0.5]), [1.0])


def test_refined_fit_matches_the_exhaustive_grid_on_separable_galleries():
    # Three galleries of different spread; relevant items sit below 0.8 * m.
    rng = np.random.default_rng(0)
    distances, relevant, statistic = [], [], []
    for m in (0.3, 0.6, 0.9):
        for _ in range(20):
            d = rng.uniform(0, 2 * m, 30)
            distances.append(d)
            relevant.append(d < 0.8 * m)
            statistic.append(m)
    ranked = RankedLists.build(distances, relevant)
    stats = np.array(statistic)
    exhaustive = fit_thresholds(
        ranked,
        np.arange(0, 2.0001, 0.01),
        [round(-1 + 0.1 * i, 1) for i in range(31)],
        statistic=stats,
        overall_mean=0.6,
    )
    refined = fit_thresholds_refined(
        ranked,
        static_step=0.01,
        weight_range=(-1.0, 2.0),
        weight_step=0.1,
        statistic=stats,
        overall_mean=0.6,
    )
    assert refined.f1 == pytest.approx(exhaustive.f1)
    assert refined.weight > 0.5  # thresholds should grow with the gallery's spread
