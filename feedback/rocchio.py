"""Rocchio query refinement (Rocchio 1971; the source 002, equation 1).

    q' = alpha * q + beta * centroid(relevant) - gamma * centroid(non-relevant)

then re-normalised to unit length, since every index scores unit vectors.
An empty group contributes nothing. Pseudo-relevance feedback takes the top
P results as relevant (and optionally the bottom P as non-relevant).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RocchioParams:
    alpha: float = 1.0
    beta: float = 0.75
    gamma: float = 0.15


def rocchio(
    query: np.ndarray,
    relevant: np.ndarray,
    non_relevant: np.ndarray,
    params: RocchioParams = RocchioParams(),
) -> np.ndarray:
    q = params.alpha * np.asarray(query, dtype=np.float64).reshape(-1)
    if len(relevant):
        q = q + params.beta * np.asarray(relevant, dtype=np.float64).mean(axis=0)
    if len(non_relevant):
        q = q - params.gamma * np.asarray(non_relevant, dtype=np.float64).mean(axis=0)
    norm = np.linalg.norm(q)
    if not (np.isfinite(norm) and norm >= 1e-12):  # an overflow would divide to zero, too
        raise ValueError(
            "the refined query is the zero vector; lower gamma or add relevant examples"
        )
    return (q / norm).astype(np.float32)


def pseudo_feedback(
    ranked_ids: Sequence[int], positives: int, negatives: bool = False
) -> tuple[list[int], list[int]]:
    """Top P as relevant; with `negatives`, the bottom P as non-relevant (never the same ids)."""
    ids = list(ranked_ids)
    relevant = ids[:positives]
    non_relevant = (
        [i for i in ids[-positives:] if i not in relevant] if negatives and positives else []
    )
    return relevant, non_relevant
