"""What, in words: the terms a match's score is made of. Pure core (no Django).

- The bundled encoder's image vector is the weighted mean of the vectors of
  its top ImageNet class names (indexing/encoders/bundled.py), so its score
  against a query q is a sum over those classes:
  ``q . x = sum_t w_t (q . v_t) / ||sum_t w_t v_t||``; each class's term is its
  *share* of the match.
- A weighted-sum composed query (search/compose.py) is
  ``q = sum_i w_i v_i / ||sum_i w_i v_i||``, so an image's score is the sum of
  ``w_i (x . v_i) / ||sum_i w_i v_i||`` over the parts: each part's
  *contribution*, negative parts included. They add up to the score.
- Two-phase queries: each phase's rank among the shown results and the
  fused score; Rocchio iterations: the change in rank since the previous one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Concept:
    index: int  # ImageNet class index
    name: str
    weight: float  # its weight in the image's vector (top classes, renormalised)
    similarity: float  # the query's cosine similarity to the class name's vector
    share: float  # its term of the score; the shares add up to the score


@dataclass(frozen=True)
class QueryPart:
    kind: str  # text | example | negative_text | negative_example
    label: str  # the words, or "image 42"
    weight: float  # signed: negative for "not like this"
    vector: np.ndarray


@dataclass(frozen=True)
class Contribution:
    kind: str
    label: str
    weight: float
    similarity: float  # the image's cosine similarity to the part
    contribution: float  # its term of the score


def bundled_concepts(
    probs: np.ndarray,
    class_vectors: np.ndarray,
    class_names: Sequence[str],
    top_classes: int,
    query: np.ndarray,
) -> list[Concept]:
    """The image's top classes, each with its share of the score against `query`, best first."""
    probs = np.asarray(probs, dtype=np.float64).ravel()
    top = np.argsort(-probs, kind="stable")[: max(top_classes, 1)]
    weights = probs[top] / max(float(probs[top].sum()), 1e-12)
    vectors = np.asarray(class_vectors, dtype=np.float64)[top]
    norm = max(float(np.linalg.norm(weights @ vectors)), 1e-12)
    sims = vectors @ np.asarray(query, dtype=np.float64).ravel()
    concepts = [
        Concept(int(i), str(class_names[i]), float(w), float(s), float(w * s / norm))
        for i, w, s in zip(top, weights, sims, strict=True)
    ]
    return sorted(concepts, key=lambda c: -c.share)


def weighted_sum_contributions(
    parts: Sequence[QueryPart], image: np.ndarray
) -> tuple[list[Contribution], float]:
    """Each part's term of the image's score under the weighted sum, and the score."""
    if not parts:
        return [], 0.0
    units = [np.asarray(p.vector, np.float64) / max(np.linalg.norm(p.vector), 1e-12) for p in parts]
    total = sum(p.weight * u for p, u in zip(parts, units, strict=True))
    norm = float(np.linalg.norm(total))
    if norm < 1e-12:
        raise ValueError("the parts cancel out")
    x = np.asarray(image, np.float64).ravel()
    terms = [
        Contribution(p.kind, p.label, p.weight, float(x @ u), float(p.weight * (x @ u) / norm))
        for p, u in zip(parts, units, strict=True)
    ]
    return terms, float(sum(t.contribution for t in terms))


@dataclass(frozen=True)
class PhaseRanks:
    text_rank: int  # by similarity to the words (minus unwanted words), among the shown results
    text_similarity: float
    example_rank: int  # by the example images' score, among the same results
    example_score: float
    fused_score: float | None  # as shown


def two_phase_ranks(
    *,
    image_index: int,
    candidates: np.ndarray,
    text_side: np.ndarray,
    examples: np.ndarray,
    negatives: np.ndarray,
    negative_weight: float,
    fused_score: float | None,
) -> PhaseRanks:
    """Where the image stood in each phase, among `candidates` (the results shown)."""
    from search.compose import example_scores

    text = candidates @ np.asarray(text_side, np.float32)
    second = example_scores(candidates, examples, negatives, negative_weight)
    return PhaseRanks(
        text_rank=_rank_of(text, image_index),
        text_similarity=float(text[image_index]),
        example_rank=_rank_of(second, image_index),
        example_score=float(second[image_index]),
        fused_score=fused_score,
    )


def _rank_of(scores: np.ndarray, index: int) -> int:
    order = np.argsort(-np.asarray(scores), kind="stable")
    return int(np.flatnonzero(order == index)[0]) + 1


@dataclass(frozen=True)
class RankChange:
    previous_iteration: int
    previous_rank: int | None  # None: not among the previous iteration's results
    rank: int | None

    @property
    def moved(self) -> int | None:
        """Places gained (positive) since the previous iteration."""
        if self.previous_rank is None or self.rank is None:
            return None
        return self.previous_rank - self.rank


def rank_change(
    *,
    image_id: int,
    previous_number: int,
    previous: Sequence[Sequence],
    current: Sequence[Sequence],
) -> RankChange:
    """From iterations' stored results ([image_id, rank, score] rows)."""

    def rank_in(rows: Sequence[Sequence]) -> int | None:
        return next((int(row[1]) for row in rows if row[0] == image_id), None)

    return RankChange(previous_number, rank_in(previous), rank_in(current))


@dataclass(frozen=True)
class ExpansionLift:
    text: str | None  # None when the text is private to the gallery's managers
    source: str  # query | caption
    similarity: float  # the query's similarity to the expansion's vector
    own_similarity: float  # to the image's own vector


def expansion_lift(
    *, query: np.ndarray, own: np.ndarray, expansions: Sequence[tuple[str | None, str, np.ndarray]]
) -> ExpansionLift | None:
    """The admitted expansion that scored above the image's own vector (the score is the max)."""
    q = np.asarray(query, np.float64).ravel()
    own_sim = float(np.asarray(own, np.float64) @ q)
    best: ExpansionLift | None = None
    for text, source, vector in expansions:
        sim = float(np.asarray(vector, np.float64) @ q)
        if sim > own_sim and (best is None or sim > best.similarity):
            best = ExpansionLift(text, source, sim, own_sim)
    return best
