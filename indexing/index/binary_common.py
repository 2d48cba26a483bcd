"""What the binary (semantic hashing) backends share: encoding, re-ranking, range radius.

A binary index stores only the codes (d/8 bytes per image) and the id
mapping; the float vectors stay in PostgreSQL. Hamming distance picks
candidates; when `options.rerank_source` is given, the candidates' float
vectors are fetched by id and scored exactly, so the returned scores are
true cosine similarities. Without it, scores are the Hamming estimate
(hashing.hamming_to_cosine).

Subclasses supply the Hamming searches, under their own lock; the re-rank
runs outside it, because the source is usually a database round trip and
must not stall other searches or the change feed.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from indexing import hashing
from indexing.index.base import IndexOptions, SearchHits
from indexing.index.faiss_flat import sorted_hits

# FAISS's padding score for a missing result under inner product (-FLT_MAX).
NO_SCORE = float(np.finfo(np.float32).min)
# range_search widens the Hamming radius by this fraction of d: the Hamming estimate
# of a cosine is rough (axis-aligned thresholds, not random hyperplanes), and a true
# neighbour just inside min_score can sit a few bits beyond the nominal radius.
RANGE_SLACK = 0.10


class BinaryIndexBase:
    def __init__(self, dim: int, options: IndexOptions):
        thresholds = options.binary_thresholds
        thresholds = np.zeros(dim, np.float32) if thresholds is None else thresholds
        if np.shape(thresholds) != (dim,):
            raise ValueError(f"binary_thresholds must have shape ({dim},)")
        if options.rerank_factor < 1:
            raise ValueError("rerank_factor must be at least 1")
        self.dim = dim
        self._options = options
        self._thresholds = np.asarray(thresholds, dtype=np.float32)
        self.code_bits = 8 * math.ceil(dim / 8)  # FAISS binary indexes want whole bytes
        # FAISS indexes are not safe for concurrent writes and reads: one at a time.
        self._lock = threading.RLock()

    # Subclasses: Hamming top-k and Hamming range (strictly below radius) over external ids.
    def _hamming_knn(
        self, codes: np.ndarray, k: int, allowed_ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _hamming_range(
        self, code: np.ndarray, radius: int, allowed_ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        return hashing.encode(vectors, self._thresholds)

    def search(
        self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None
    ) -> SearchHits:
        queries = self._queries(queries)
        n = len(queries)
        if k <= 0 or (allowed_ids is not None and len(allowed_ids) == 0):
            return SearchHits(np.full((n, k), -1, np.int64), np.zeros((n, k), np.float32))
        rerank = self._options.rerank_source
        depth = k * self._options.rerank_factor if rerank is not None else k
        with self._lock:
            distances, ids = self._hamming_knn(self.encode(queries), depth, _ids(allowed_ids))
        if rerank is None:
            scores = hashing.hamming_to_cosine(distances, self.dim).astype(np.float32)
            scores[ids < 0] = NO_SCORE
            return SearchHits(ids=ids, scores=scores)
        return self._reranked(queries, ids, k)

    def range_search(
        self, query: np.ndarray, min_score: float, allowed_ids: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        query = self._queries(query)[:1]
        if allowed_ids is not None and len(allowed_ids) == 0:
            return []
        radius = float(hashing.cosine_to_hamming(min_score, self.dim)) + RANGE_SLACK * self.dim
        with self._lock:
            # FAISS keeps distances strictly below the radius: +1 keeps floor(radius) itself.
            distances, ids = self._hamming_range(
                self.encode(query), math.floor(radius) + 1, _ids(allowed_ids)
            )
        if self._options.rerank_source is None:
            scores = hashing.hamming_to_cosine(distances, self.dim).astype(np.float32)
        else:
            scores = self._exact_scores(query[0], ids)
        keep = scores > min_score
        return sorted_hits(ids[keep], scores[keep])

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"expected queries of dimension {self.dim}, got {queries.shape}")
        return queries

    def _reranked(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> SearchHits:
        """The best k of each row of candidates by exact inner product."""
        n = len(queries)
        out_ids = np.full((n, k), -1, np.int64)
        out_scores = np.full((n, k), NO_SCORE, np.float32)
        # One fetch for every query's candidates: one database round trip, not n.
        unique = np.unique(candidates[candidates >= 0])
        vectors = self._fetch(unique)
        for i in range(n):
            row = candidates[i][candidates[i] >= 0]
            scores = vectors[np.searchsorted(unique, row)] @ queries[i]
            known = ~np.isnan(scores)
            row, scores = row[known], scores[known]
            order = np.lexsort((row, -scores))[:k]  # ties by id for stable pages
            out_ids[i, : len(order)] = row[order]
            out_scores[i, : len(order)] = scores[order]
        return SearchHits(ids=out_ids, scores=out_scores)

    def _exact_scores(self, query: np.ndarray, ids: np.ndarray) -> np.ndarray:
        if len(ids) == 0:
            return np.zeros(0, np.float32)
        scores = self._fetch(ids) @ query
        return np.where(np.isnan(scores), -np.inf, scores).astype(np.float32)

    def _fetch(self, ids: np.ndarray) -> np.ndarray:
        """Float vectors for ids from the re-rank source, one row per id, in order.

        A row of NaN marks an id the source no longer has (deleted since the
        index last heard of it); that candidate is dropped, not scored.
        """
        source = self._options.rerank_source
        assert source is not None
        if len(ids) == 0:
            return np.zeros((0, self.dim), np.float32)
        vectors = np.asarray(source(ids), dtype=np.float32)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(
                f"rerank_source returned {vectors.shape} for {len(ids)} ids of dimension {self.dim}"
            )
        return vectors


def _ids(allowed_ids: np.ndarray | None) -> np.ndarray | None:
    return None if allowed_ids is None else np.ascontiguousarray(allowed_ids, dtype=np.int64)
