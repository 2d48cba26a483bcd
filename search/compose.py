"""Composed queries: words plus example images, and what the user does not want.

weighted_sum: one query vector, the weighted sum of the normalised parts
(text, example images, negative text and images with negative weights),
normalised again. It works with every search mode.

two_phase (the source 002, section 6.2): retrieve the top M by the text, then
rank those M by their similarity to the example images (minus their
similarity to negative examples), and fuse the two rankings. It keeps what
the words found while letting the pictures decide the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from search.fusion import METHODS


@dataclass(frozen=True)
class Part:
    vector: np.ndarray  # unit vector
    weight: float  # negative for "not like this"


def weighted_sum(parts: Sequence[Part]) -> np.ndarray:
    if not parts:
        raise ValueError("nothing to compose")
    total = np.zeros_like(np.asarray(parts[0].vector, dtype=np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        for part in parts:
            vector = np.asarray(part.vector, dtype=np.float64)
            total += part.weight * vector / max(np.linalg.norm(vector), 1e-12)
        norm = np.linalg.norm(total)
    # An overflow (weights far beyond cbir_site/bounds.py's, from a caller that skipped them)
    # gives an infinite norm, and total / inf is the zero vector: every score 0. Refused like
    # a sum that cancels out, never searched with.
    if not (np.isfinite(norm) and norm >= 1e-12 and np.isfinite(total).all()):
        raise ValueError("the parts cancel out; change their weights")
    return (total / norm).astype(np.float32)


def example_scores(
    candidates: np.ndarray, examples: np.ndarray, negatives: np.ndarray, negative_weight: float
) -> np.ndarray:
    """Each candidate's mean similarity to the examples, minus the weighted mean to negatives."""
    scores = (candidates @ np.asarray(examples).T).mean(axis=1) if len(examples) else 0.0
    if len(negatives):
        scores = scores - negative_weight * (candidates @ np.asarray(negatives).T).mean(axis=1)
    return np.asarray(scores, dtype=np.float64)


def two_phase(
    first_ids: Sequence[int],
    candidate_vectors: np.ndarray,
    examples: np.ndarray,
    negatives: np.ndarray,
    *,
    negative_weight: float = 0.5,
    fusion: str = "log_vote",
) -> list[tuple[int, float]]:
    """Fuse the text ranking `first_ids` with the example-image ranking of the same items."""
    ids = list(first_ids)
    if not ids:
        return []
    scores = example_scores(candidate_vectors, examples, negatives, negative_weight)
    order = np.argsort(-scores, kind="stable")
    second = [ids[i] for i in order]
    return [(int(i), float(s)) for i, s in METHODS[fusion]([ids, second])]
