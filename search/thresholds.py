"""Per-gallery dynamic similarity thresholds (Dynamic Threshold for Image Retrieval, CSoNet 2024).

A static distance cutoff fails because galleries differ in how tightly their
images cluster: the best match of a query in one gallery sits where another
gallery's noise does. For each gallery g:

    m_g = mean over its images of the mean distance to their top-n nearest
          neighbours inside g (self excluded; a sample of images for large g)
    M   = mean of m_g over the deployment's galleries
    T_g = T_static + w * (m_g - M)

and a hit x is returned when d(q, x) < T_g. Distances here are Euclidean
distances between unit vectors, d = sqrt(2 - 2 s) for cosine similarity s.

The query-time variant replaces m_g with m_q,g, the mean distance from the
query itself to its top-n in g.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import faiss
import numpy as np

_QUERY_CHUNK = 1024  # rows of the similarity matrix held at once


@dataclass(frozen=True)
class ThresholdParams:
    static: float  # T_static: a Euclidean distance in [0, 2]
    weight: float  # w
    neighbours: int  # n


def distance_from_similarity(similarity: np.ndarray | float) -> np.ndarray:
    return np.sqrt(np.maximum(2.0 - 2.0 * np.asarray(similarity, dtype=np.float64), 0.0))


def similarity_cutoff(distance_threshold: float) -> float:
    """The cosine similarity s with d(s) = T: d < T exactly when s > this."""
    return 1.0 - float(distance_threshold) ** 2 / 2.0


def mean_neighbour_distance(
    vectors: np.ndarray, neighbours: int, *, sample: int | None = None, seed: int = 0
) -> float:
    """m_g for one gallery's unit vectors (n x d).

    With `sample`, only that many randomly chosen images act as queries; their
    neighbours are still searched among all of the gallery's images, so the
    estimate stays unbiased. Needs at least two images.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count = len(vectors)
    if count < 2:
        raise ValueError("a gallery needs at least two images for a neighbour statistic")
    n = max(1, min(neighbours, count - 1))
    queries = np.arange(count)
    if sample is not None and sample < count:
        queries = np.sort(np.random.default_rng(seed).choice(count, sample, replace=False))
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    means = []
    for start in range(0, len(queries), _QUERY_CHUNK):
        rows = queries[start : start + _QUERY_CHUNK]
        scores, ids = index.search(vectors[rows], n + 1)
        means.append(_without_self(rows, scores, ids, n))
    return float(np.mean(np.concatenate(means)))


def _without_self(rows: np.ndarray, scores: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Mean distance to the top-n neighbours of each query row, its own entry dropped.

    The query is normally its own first hit; with exact duplicates it may come
    second, so it is dropped by id, falling back to the last column when absent.
    """
    is_self = ids == rows[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), n)
    keep = np.ones_like(scores, dtype=bool)
    keep[np.arange(len(rows)), drop] = False
    kept = scores[keep].reshape(len(rows), n)
    return distance_from_similarity(kept).mean(axis=1)


def global_mean(statistics: Iterable[float]) -> float | None:
    """M: the mean of the galleries' m_g (None when there is none yet)."""
    values = [float(v) for v in statistics]
    return float(np.mean(values)) if values else None


def dynamic_threshold(params: ThresholdParams, gallery_mean: float, overall_mean: float) -> float:
    """T_g = T_static + w * (m_g - M), clipped to the range of unit-vector distances."""
    return float(np.clip(params.static + params.weight * (gallery_mean - overall_mean), 0.0, 2.0))


def query_statistic(top_scores: np.ndarray, neighbours: int) -> float | None:
    """m_q,g: the mean distance from a query to its top-n hits in one gallery."""
    scores = np.sort(np.asarray(top_scores, dtype=np.float64))[::-1][:neighbours]
    return float(distance_from_similarity(scores).mean()) if len(scores) else None
