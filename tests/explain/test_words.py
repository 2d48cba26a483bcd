"""The words of an explanation: terms that add up to the score they explain (pure NumPy)."""

from __future__ import annotations

import numpy as np
import pytest

from explain.words import (
    QueryPart,
    bundled_concepts,
    expansion_lift,
    rank_change,
    two_phase_ranks,
    weighted_sum_contributions,
)
from search.compose import Part, weighted_sum

rng = np.random.default_rng(7)


def unit(d: int = 12) -> np.ndarray:
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v)


def test_weighted_sum_contributions_add_up_to_the_score_of_the_composed_query():
    parts = [
        QueryPart("text", "a cat", 1.0, unit()),
        QueryPart("example", "image 3", 0.35, unit()),
        QueryPart("example", "image 4", 0.35, unit()),
        QueryPart("negative_text", "a dog", -0.25, unit()),
        QueryPart("negative_example", "image 9", -0.25, unit()),
    ]
    image = unit()
    query = weighted_sum([Part(p.vector, p.weight) for p in parts])
    terms, score = weighted_sum_contributions(parts, image)
    assert score == pytest.approx(float(image @ query), abs=1e-6)
    assert sum(t.contribution for t in terms) == pytest.approx(float(image @ query), abs=1e-6)
    negative = terms[3]
    assert np.sign(negative.contribution) == -np.sign(negative.similarity)


def test_cancelling_parts_are_refused():
    v = unit()
    with pytest.raises(ValueError):
        weighted_sum_contributions(
            [QueryPart("text", "a", 1.0, v), QueryPart("negative_text", "a", -1.0, v)], v
        )


def test_bundled_concepts_shares_add_up_to_the_bundled_score():
    classes = np.stack([unit(8) for _ in range(20)])
    probs = rng.dirichlet(np.ones(20))
    query = unit(8)
    concepts = bundled_concepts(probs, classes, [f"c{i}" for i in range(20)], 5, query)
    top = np.argsort(-probs)[:5]
    weights = probs[top] / probs[top].sum()
    image = weights @ classes[top]
    image /= np.linalg.norm(image)
    assert sum(c.share for c in concepts) == pytest.approx(float(image @ query), abs=1e-6)
    assert {c.index for c in concepts} == set(top.tolist())
    assert [c.share for c in concepts] == sorted([c.share for c in concepts], reverse=True)


def test_rank_change_counts_places_gained():
    change = rank_change(
        image_id=5, previous_number=0, previous=[[1, 1, 0.9], [5, 4, 0.5]], current=[[5, 1, 0.8]]
    )
    assert (change.previous_rank, change.rank, change.moved) == (4, 1, 3)
    assert (
        rank_change(image_id=6, previous_number=0, previous=[], current=[[6, 2, 0.1]]).moved is None
    )


def test_the_expansion_that_beat_the_images_own_vector_is_named():
    query = unit()
    own = -query
    lift = expansion_lift(
        query=query, own=own, expansions=[("black cat", "query", query), (None, "query", unit())]
    )
    assert lift is not None and lift.text == "black cat" and lift.similarity == pytest.approx(1.0)
    assert expansion_lift(query=query, own=query, expansions=[("x", "caption", unit())]) is None


def test_two_phase_ranks_are_those_of_each_phase():
    text = np.array([1.0, 0, 0])
    example = np.array([0, 1.0, 0])
    candidates = np.array([[0.9, 0.1, 0], [0.5, 0.8, 0], [0.1, 0.99, 0]])
    ranks = two_phase_ranks(
        image_index=2,
        candidates=candidates,
        text_side=text,
        examples=example[None],
        negatives=np.zeros((0, 3)),
        negative_weight=0.5,
        fused_score=1.5,
    )
    assert (ranks.text_rank, ranks.example_rank, ranks.fused_score) == (3, 1, 1.5)
