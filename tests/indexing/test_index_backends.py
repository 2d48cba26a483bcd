"""HNSW and binary (semantic hashing) index backends against NumPy brute force.

Pure: no database. Data are clustered unit vectors with a low-dimensional
spread inside each cluster (20 clusters, 8-d or 16-d variation in 64-d plus
a little isotropic noise), which is closer to real embeddings than isotropic
Gaussians; queries are fresh draws from the same distribution, not stored
points, so a backend cannot score well by finding a query's own copy.
"""

from __future__ import annotations

import numpy as np
import pytest

from indexing import hashing
from indexing.index.base import IndexOptions, create_index
from indexing.index.faiss_binary import FaissBinaryHNSWIndex, FaissBinaryIndex
from indexing.index.faiss_hnsw import FaissHNSWIndex

DIM = 64
BACKENDS = ["faiss-hnsw", "faiss-binary", "faiss-binary-hnsw"]


def clustered(n: int, seed: int, rank: int = 16, noise: float = 0.1) -> np.ndarray:
    structure = np.random.default_rng(1234)  # the same clusters for stored points and queries
    centres = structure.standard_normal((20, DIM))
    spans = structure.standard_normal((20, rank, DIM)) / np.sqrt(rank)
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 20, n)
    x = centres[cluster] + np.einsum("nr,nrd->nd", rng.standard_normal((n, rank)), spans[cluster])
    x += noise * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class Collection:
    """Stored vectors with sparse, non-zero-based ids, and exact answers over them."""

    def __init__(self, n: int = 5000) -> None:
        self.vectors = clustered(n, seed=0)
        self.ids = np.arange(n, dtype=np.int64) * 7 + 3
        self.queries = clustered(200, seed=1)
        self.thresholds = hashing.fit_thresholds([self.vectors], "mean")
        self._row = {int(i): r for r, i in enumerate(self.ids)}

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """The re-rank source: float vectors by id (pgvector's role in production)."""
        return self.vectors[[self._row[int(i)] for i in ids]]

    def exact(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
        scores = queries @ self.vectors.T
        if allowed is not None:
            scores[:, ~np.isin(self.ids, allowed)] = -np.inf
        return self.ids[np.argsort(-scores, axis=1)[:, :k]]

    def exact_range(self, query: np.ndarray, min_score: float) -> set[int]:
        return {int(i) for i in self.ids[self.vectors @ query > min_score]}

    def options(self, rerank: bool = True, **overrides: object) -> IndexOptions:
        values: dict[str, object] = {
            "binary_thresholds": self.thresholds,
            "rerank_source": self.lookup if rerank else None,
        }
        values.update(overrides)
        return IndexOptions(**values)  # type: ignore[arg-type]

    def index(self, backend: str, rerank: bool = True, **overrides: object):  # type: ignore[no-untyped-def]
        index = create_index(backend, DIM, self.options(rerank, **overrides))
        index.add(self.ids, self.vectors)
        return index


@pytest.fixture(scope="module")
def col() -> Collection:
    return Collection()


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


# ------------------------------------------------------------------ hashing


def test_encode_sets_a_bit_where_a_value_exceeds_its_threshold():
    vectors = np.array([[0.5, -0.1, 0.3, 0.0, 0.9, -0.9, 0.2, 0.1, 0.7]], np.float32)
    thresholds = np.array([0, 0, 0.5, 0, 0, 0, 0.1, 0.1, 0], np.float32)
    # Bits 1 0 0 0 1 0 1 0 | 1 (padded with zeros); equal to the threshold is not above it.
    assert hashing.encode(vectors, thresholds).tolist() == [[0b10001010, 0b10000000]]


def test_bit_order_is_pgvector_order_dimension_zero_most_significant():
    only_first = np.zeros((1, 16), np.float32)
    only_first[0, 0] = 1.0
    assert hashing.encode(only_first, np.zeros(16)).tolist() == [[0x80, 0x00]]
    vector = np.random.default_rng(5).standard_normal((1, 20)).astype(np.float32)
    pgvector_literal = "".join("1" if v > 0 else "0" for v in vector[0])  # a bit(20) value
    code = hashing.encode(vector, np.zeros(20))[0]
    assert "".join(f"{byte:08b}" for byte in code)[:20] == pgvector_literal


def test_mean_and_median_thresholds_over_chunks():
    matrix = np.array([[1, 10], [3, 20], [5, 60]], np.float32)
    chunks = [matrix[:2], matrix[2:]]
    assert hashing.fit_thresholds(chunks, "mean").tolist() == [3.0, 30.0]
    assert hashing.fit_thresholds(iter(chunks), "median").tolist() == [3.0, 20.0]
    assert hashing.fit_thresholds(chunks, "mean").dtype == np.float32


def test_median_comes_from_a_uniform_sample_of_the_whole_stream():
    # The rows arrive sorted: a sample favouring early or late rows (or keeping only the
    # first `sample`) would put the median far from the middle.
    values = np.arange(20_000, dtype=np.float32).reshape(-1, 1)
    median = hashing.fit_thresholds(np.split(values, 20), "median", sample=2000)
    assert abs(float(median[0]) - 10_000) < 1000  # the sample median's sd is about 224
    exact = hashing.fit_thresholds(np.split(values, 20), "median", sample=20_000)
    assert float(exact[0]) == 9999.5  # no more rows than the sample: the exact median


def test_threshold_fitting_refuses_unknown_methods_and_empty_input():
    with pytest.raises(ValueError, match="Unknown threshold method"):
        hashing.fit_thresholds([np.zeros((2, 2))], "mode")
    with pytest.raises(ValueError, match="empty"):
        hashing.fit_thresholds([], "mean")


def test_hamming_and_cosine_convert_both_ways():
    d = 512
    assert hashing.hamming_to_cosine(0, d) == pytest.approx(1.0)
    assert hashing.hamming_to_cosine(d, d) == pytest.approx(-1.0)
    assert hashing.hamming_to_cosine(d / 2, d) == pytest.approx(0.0, abs=1e-12)
    h = np.array([0, 17, 100, 256, 400, 512])
    assert np.allclose(hashing.cosine_to_hamming(hashing.hamming_to_cosine(h, d), d), h)
    assert hashing.cosine_to_hamming(1.5, d) == 0.0 and hashing.cosine_to_hamming(-2, d) == d


# ------------------------------------------------------------------ search quality


@pytest.mark.parametrize(
    ("backend", "bound"),
    # Measured on this data: 1.000, 0.976, 0.978 (rerank_factor 10 over 64-bit codes).
    [("faiss-hnsw", 0.95), ("faiss-binary", 0.9), ("faiss-binary-hnsw", 0.9)],
)
def test_recall_at_10_against_brute_force(col, backend, bound):
    index = col.index(backend, exact_below=1)  # exact_below=1: the graph path, not the scan
    hits = index.search(col.queries, 10)
    assert recall(hits.ids, col.exact(col.queries, 10)) >= bound
    # Scores are exact inner products of the returned ids, best first.
    for i in range(0, 200, 20):
        ids, scores = zip(*hits.row(i), strict=True)
        assert np.allclose(scores, col.lookup(np.array(ids)) @ col.queries[i], atol=1e-5)
        assert list(scores) == sorted(scores, reverse=True)


def test_binary_without_rerank_returns_the_hamming_top_k_with_estimated_scores(col):
    index = col.index("faiss-binary", rerank=False)
    query = col.queries[:1]
    hits = index.search(query, 10)
    bits = np.unpackbits(hashing.encode(col.vectors, col.thresholds), axis=1)
    distance = (bits != np.unpackbits(hashing.encode(query, col.thresholds), axis=1)).sum(1)
    returned = np.isin(col.ids, hits.ids[0])
    assert distance[returned].max() <= distance[~returned].min()
    want = hashing.hamming_to_cosine(distance[np.searchsorted(col.ids, hits.ids[0])], DIM)
    assert np.allclose(hits.scores[0], want, atol=1e-6)


# ------------------------------------------------------------------ permission filter


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("allowed_count", [15, 1500])  # below / above exact_below=500
def test_filter_returns_k_allowed_hits(col, backend, allowed_count):
    index = col.index(backend, exact_below=500)
    allowed = np.random.default_rng(allowed_count).choice(col.ids, allowed_count, replace=False)
    queries = col.queries[:20]
    hits = index.search(queries, 10, allowed_ids=allowed)
    assert np.isin(hits.ids, allowed).all()  # k results, every one allowed
    truth = col.exact(queries, 10, allowed)
    # 15 allowed: exact scan (hnsw) or all allowed in the candidates (binary): exact answers.
    assert recall(hits.ids, truth) >= (1.0 if allowed_count == 15 else 0.9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tight_filter_with_the_graph_enabled_still_returns_k(col, backend):
    # exact_below=1 leaves the scan only to the backend's own judgement (a walk that would
    # keep every node, or one that comes back short).
    index = col.index(backend, exact_below=1)
    allowed = col.ids[::400]  # 13 scattered ids, far apart in the graph
    hits = index.search(col.queries[:10], 10, allowed_ids=allowed)
    assert np.isin(hits.ids, allowed).all()
    assert recall(hits.ids, col.exact(col.queries[:10], 10, allowed)) == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_fewer_allowed_than_k_and_unknown_or_empty_allowed(col, backend):
    index = col.index(backend)
    hits = index.search(col.queries[:1], 10, allowed_ids=np.array([col.ids[5], 2]))  # 2 is no id
    assert [i for i, _ in hits.row(0)] == [col.ids[5]] and (hits.ids[0][1:] == -1).all()
    assert index.search(col.queries[:1], 5, allowed_ids=np.zeros(0, np.int64)).row(0) == []


# ------------------------------------------------------------------ add, replace, remove


@pytest.mark.parametrize("backend", BACKENDS)
def test_add_replaces_an_existing_id(col, backend):
    current = dict(zip(col.ids.tolist(), col.vectors, strict=True))  # pgvector's rows

    def source(ids: np.ndarray) -> np.ndarray:
        return np.stack([current[int(i)] for i in ids])

    index = create_index(backend, DIM, col.options(rerank_source=source))
    index.add(col.ids, col.vectors)
    moved = int(col.ids[0])
    current[moved] = -col.vectors[0]
    index.add(np.array([moved]), -col.vectors[:1])  # same id, opposite vector
    assert len(index) == len(col.ids)
    assert moved not in index.search(col.vectors[:1], 20).ids[0]
    assert index.search(-col.vectors[:1], 1).row(0)[0] == (moved, pytest.approx(1.0, abs=1e-5))


@pytest.mark.parametrize("backend", BACKENDS)
def test_removed_ids_never_come_back(col, backend):
    index = col.index(backend, exact_below=1)
    gone = col.ids[:100]
    assert index.remove(np.append(gone, 2)) == 100  # 2 is no id: ignored
    assert index.remove(gone) == 0
    assert len(index) == len(col.ids) - 100
    for allowed in (None, col.ids[:600]):
        hits = index.search(col.vectors[:100], 20, allowed_ids=allowed)
        assert not np.isin(hits.ids, gone).any()
        assert (hits.ids >= 0).all()  # still k results: tombstones do not eat into k
        found = index.range_search(col.vectors[0], 0.5, allowed_ids=allowed)
        assert found and not np.isin([i for i, _ in found], gone).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_compaction_after_removing_over_a_quarter_keeps_results_right(col, backend):
    index = col.index(backend, exact_below=1)
    before = index.memory_bytes()
    gone = col.ids[::3]  # a third: past the 25% tombstone limit
    index.remove(gone)
    assert index.memory_bytes() < 0.8 * before  # the graph was rebuilt without them
    kept = np.setdiff1d(col.ids, gone)
    hits = index.search(col.queries, 10)
    assert not np.isin(hits.ids, gone).any()
    assert recall(hits.ids, col.exact(col.queries, 10, kept)) >= 0.9
    # Ids keep their vectors through the renumbering: each finds itself first.
    probe = kept[:50]
    assert (index.search(col.lookup(probe), 1).ids[:, 0] == probe).all()
    # The id -> label table was renumbered too: filters and later removals still hit.
    allowed = kept[:1500]
    hits = index.search(col.queries[:20], 10, allowed_ids=allowed)
    assert np.isin(hits.ids, allowed).all()
    assert recall(hits.ids, col.exact(col.queries[:20], 10, allowed)) >= 0.9
    assert index.remove(probe[:10]) == 10
    assert not np.isin(index.search(col.lookup(probe[:10]), 5).ids, probe[:10]).any()


def test_repeated_replacement_compacts_hnsw_without_losing_ids(col):
    ids, vectors = col.ids[:2000], col.vectors[:2000]
    fresh = create_index("faiss-hnsw", DIM, IndexOptions(exact_below=1))
    fresh.add(ids, vectors)
    index = create_index("faiss-hnsw", DIM, IndexOptions(exact_below=1))
    index.add(ids, vectors)
    index.add(ids, vectors)  # tombstones every label: 50% dead, past the limit
    assert len(index) == len(ids)
    assert index.memory_bytes() == pytest.approx(fresh.memory_bytes(), rel=0.05)  # compacted
    assert (index.search(vectors[:200], 1).ids[:, 0] == ids[:200]).all()


# ------------------------------------------------------------------ range search


@pytest.mark.parametrize("exact_below", [20_000, 1])  # the exact scan, then the graph walk
def test_hnsw_range_search_against_brute_force(col, exact_below):
    index = col.index("faiss-hnsw", exact_below=exact_below)
    allowed = col.ids[::2]
    for query in col.queries[:10]:
        for allow in (None, allowed):
            want = col.exact_range(query, 0.6)
            if allow is not None:
                want &= {int(i) for i in allow}
            found = index.range_search(query, 0.6, allowed_ids=allow)
            got = {i for i, _ in found}
            assert got <= want  # never a false hit
            assert len(got) >= (len(want) if exact_below > 1 else 0.95 * len(want))
            scores = [s for _, s in found]
            assert scores == sorted(scores, reverse=True) and all(s > 0.6 for s in scores)


@pytest.mark.parametrize("backend", ["faiss-binary", "faiss-binary-hnsw"])
def test_binary_range_search_with_rerank_against_brute_force(col, backend):
    index = col.index(backend, exact_below=1)
    missed = wanted = 0
    for query in col.queries[:20]:
        want = col.exact_range(query, 0.6)
        found = index.range_search(query, 0.6, allowed_ids=col.ids[::2])
        got = {i for i, _ in found}
        assert got <= want & {int(i) for i in col.ids[::2]}
        want &= {int(i) for i in col.ids[::2]}
        missed, wanted = missed + len(want - got), wanted + len(want)
        ids, scores = zip(*found, strict=True) if found else ((), ())
        assert np.allclose(scores, col.lookup(np.array(ids, np.int64)) @ query, atol=1e-5)
    assert wanted > 100 and missed <= 0.05 * wanted  # measured: 4 of 839 missed


def test_binary_range_search_without_rerank_keeps_estimates_above_min_score(col):
    index = col.index("faiss-binary", rerank=False)
    found = index.range_search(col.queries[0], 0.6)
    assert found and all(s > 0.6 for _, s in found)
    codes = np.unpackbits(
        hashing.encode(col.lookup(np.array([i for i, _ in found])), col.thresholds), axis=1
    )
    query = np.unpackbits(hashing.encode(col.queries[:1], col.thresholds), axis=1)
    want = hashing.hamming_to_cosine((codes != query).sum(1), DIM)
    assert np.allclose([s for _, s in found], want, atol=1e-6)


# ------------------------------------------------------------------ construction, memory


def test_backends_are_registered_and_validate_their_options(col):
    assert isinstance(create_index("faiss-hnsw", DIM), FaissHNSWIndex)
    assert isinstance(create_index("faiss-binary", DIM), FaissBinaryIndex)
    assert isinstance(create_index("faiss-binary-hnsw", DIM), FaissBinaryHNSWIndex)
    with pytest.raises(ValueError, match="binary_thresholds"):
        create_index("faiss-binary", DIM, IndexOptions(binary_thresholds=np.zeros(8)))
    with pytest.raises(ValueError):
        create_index("faiss-hnsw", DIM).add(np.array([1, 1]), col.vectors[:2])


def test_binary_index_holds_codes_not_floats(col):
    binary = col.index("faiss-binary")
    assert binary.memory_bytes() == len(col.ids) * (DIM // 8 + 8)  # code + int64 id
    assert binary.memory_bytes() < col.index("faiss-hnsw").memory_bytes() / 10
