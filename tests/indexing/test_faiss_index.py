"""The FAISS flat index against NumPy brute force, with and without a permission filter."""

from __future__ import annotations

import numpy as np
import pytest

from indexing.index.base import cosine_to_euclidean, create_index
from indexing.index.faiss_flat import _BATCH_SELECTOR_MAX


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force(queries, ids, vectors, k, allowed=None):  # type: ignore[no-untyped-def]
    scores = queries @ vectors.T
    if allowed is not None:
        scores[:, ~np.isin(ids, allowed)] = -np.inf
    order = np.argsort(-scores, axis=1)[:, :k]
    return ids[order], np.take_along_axis(scores, order, axis=1)


@pytest.fixture
def data():
    vectors = unit_vectors(6000, 24)
    ids = np.arange(6000, dtype=np.int64) * 7 + 3  # sparse, non-zero-based ids
    index = create_index("faiss-flat", 24)
    index.add(ids, vectors)
    return index, ids, vectors


def test_unfiltered_search_matches_brute_force(data):
    index, ids, vectors = data
    queries = unit_vectors(5, 24, seed=1)
    hits = index.search(queries, 10)
    want_ids, want_scores = brute_force(queries, ids, vectors, 10)
    assert (hits.ids == want_ids).all()
    assert np.allclose(hits.scores, want_scores, atol=1e-5)


@pytest.mark.parametrize("allowed_count", [50, _BATCH_SELECTOR_MAX + 500])
def test_filtered_search_returns_k_allowed_hits(data, allowed_count):
    index, ids, vectors = data
    allowed = np.random.default_rng(2).choice(ids, allowed_count, replace=False)
    queries = unit_vectors(3, 24, seed=3)
    hits = index.search(queries, 20, allowed_ids=allowed)
    want_ids, _ = brute_force(queries, ids, vectors, 20, allowed)
    assert (hits.ids == want_ids).all()
    assert np.isin(hits.ids, allowed).all()  # k results, all allowed: filtered inside the scan


def test_fewer_allowed_than_k_pads_with_minus_one(data):
    index, ids, _ = data
    hits = index.search(unit_vectors(1, 24), 10, allowed_ids=ids[:3])
    assert sorted(hits.ids[0][:3]) == sorted(ids[:3]) and (hits.ids[0][3:] == -1).all()
    assert len(hits.row(0)) == 3


def test_empty_allowed_set_returns_nothing(data):
    index, _, _ = data
    assert index.search(unit_vectors(1, 24), 5, allowed_ids=np.array([], np.int64)).row(0) == []


def test_add_replaces_an_existing_id_and_remove_forgets_it(data):
    index, ids, vectors = data
    query = vectors[:1]
    index.add(ids[:1], -vectors[:1])  # same id, opposite vector
    assert len(index) == 6000
    assert ids[0] not in index.search(query, 5).ids[0]
    assert index.remove(ids[:2]) == 2 and index.remove(ids[:2]) == 0
    assert len(index) == 5998


def test_wrong_dimension_is_refused(data):
    index, _, _ = data
    with pytest.raises(ValueError):
        index.add(np.array([1]), unit_vectors(1, 8))


def test_unknown_backend_fails_loudly():
    with pytest.raises(ValueError, match="CBIR_INDEX_BACKEND"):
        create_index("annoy", 8)


def test_cosine_to_euclidean_on_unit_vectors():
    a, b = unit_vectors(2, 16)
    assert cosine_to_euclidean(float(a @ b)) == pytest.approx(
        float(np.linalg.norm(a - b)), abs=1e-5
    )
    assert cosine_to_euclidean(1.0) == 0.0


def test_range_search_returns_everything_above_the_score_best_first(data):
    index, ids, vectors = data
    query = vectors[10]
    scores = vectors @ query
    want = {int(i) for i in ids[scores > 0.3]}
    hits = index.range_search(query, 0.3)
    assert {i for i, _ in hits} == want
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    allowed = ids[::3]
    filtered = index.range_search(query, 0.3, allowed_ids=allowed)
    assert {i for i, _ in filtered} == want & {int(i) for i in allowed}
    assert index.range_search(query, 0.3, allowed_ids=np.array([], np.int64)) == []
