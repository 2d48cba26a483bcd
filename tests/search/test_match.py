"""The 0-100 match people see (search/match.py): one scale for any ranking's raw scores."""

from __future__ import annotations

from search.match import MatchScale


def test_the_best_result_is_100_and_the_rest_a_share_of_it():
    scale = MatchScale.of([0.31, 0.155, 0.0, -0.05])
    assert [scale.percent(s) for s in (0.31, 0.155, 0.0, -0.05)] == [100, 50, 0, 0]


def test_cosine_and_fused_scores_land_on_the_same_scale():
    cosine = MatchScale.of([0.353, 0.30])
    fused = MatchScale.of([2.408, 2.047])
    assert cosine.percent(0.30) == fused.percent(2.047) == 85


def test_a_ranking_without_a_positive_score_falls_back_to_its_range():
    scale = MatchScale.of([-0.1, -0.3, -0.5])
    assert [scale.percent(s) for s in (-0.1, -0.3, -0.5)] == [100, 50, 0]


def test_pinned_results_have_no_match_and_a_lone_result_is_100():
    assert MatchScale.of([None, 0.4]).percent(None) is None
    assert MatchScale.of([-0.2]).percent(-0.2) == 100
    assert MatchScale.of([]).percent(0.3) == 100
