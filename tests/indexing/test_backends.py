"""Every search backend against exact search, with the permission filter inside the search."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import timezone

from galleries.models import Image
from indexing.backends import get_backend
from indexing.hashing import encode
from indexing.hashing_store import hash_codes, hashing_fit, hashing_thresholds_for
from indexing.models import Embedding, HashingThresholds
from tests.factories import GalleryFactory

pytestmark = pytest.mark.django_db(transaction=True)  # pgvector's index build, rebuild threads
MODEL = "synthetic:test"
DIM = 128  # binary codes need realistic dimensions: 32 bits rank too coarsely
BACKENDS = ["faiss-flat", "faiss-hnsw", "faiss-binary", "faiss-binary-hnsw", "pgvector"]


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((12, DIM))
    x = centres[rng.integers(0, 12, n)] + 0.35 * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def store(gallery, vectors: np.ndarray, start: int) -> list[int]:  # type: ignore[no-untyped-def]
    images = Image.objects.bulk_create(
        [
            Image(
                gallery=gallery,
                file=f"x/{start + i}.png",
                sha256=f"{start + i:064d}",
                byte_size=1,
                width=1,
                height=1,
                format="PNG",
                status="ready",
                embedded_at=timezone.now(),
            )
            for i in range(len(vectors))
        ]
    )
    Embedding.objects.bulk_create(
        [
            Embedding(image=img, gallery_id=gallery.pk, model_name=MODEL, dim=DIM, vector=v)
            for img, v in zip(images, vectors, strict=True)
        ]
    )
    return [img.pk for img in images]


@pytest.fixture
def collection(cast):
    visible = cast.gallery
    hidden = GalleryFactory(slug="hidden", owner=cast.outsider)
    small = GalleryFactory(slug="small", owner=cast.owner)
    data = {}
    for gallery, n, seed in ((visible, 600, 1), (hidden, 900, 2), (small, 15, 3)):
        vectors = clustered(n, seed)
        data[gallery.pk] = (np.asarray(store(gallery, vectors, seed * 10_000)), vectors)
    return data


def exact(data, gallery_ids, query, k):  # type: ignore[no-untyped-def]
    ids = np.concatenate([data[g][0] for g in gallery_ids])
    vectors = np.concatenate([data[g][1] for g in gallery_ids])
    scores = vectors @ query
    order = np.argsort(-scores)[:k]
    return ids[order].tolist(), scores[order]


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_matches_exact_search_inside_the_callers_galleries(
    backend, settings, collection, cast
):
    settings.CBIR_INDEX_BACKEND = backend
    settings.CBIR_HNSW_EXACT_BELOW = 100  # the 600-image gallery goes through the graph
    # Tight synthetic clusters rank poorly in Hamming space: re-rank 300 candidates for k=10.
    settings.CBIR_BINARY_RERANK_FACTOR = 30
    if backend.startswith("faiss-binary"):
        hashing_fit(model_name=MODEL)
    allowed = [cast.gallery.pk]
    queries = clustered(20, seed=99)
    recalls = []
    for query in queries:
        want, want_scores = exact(collection, allowed, query, 10)
        hits = get_backend().top_k(MODEL, query, 10, allowed)
        assert len(hits) == 10  # k results: the filter is inside the search
        assert {h.gallery_id for h in hits} == {cast.gallery.pk}  # never the hidden gallery
        recalls.append(len({h.image_id for h in hits} & set(want)) / 10)
        if backend == "faiss-flat":
            assert [h.image_id for h in hits] == want
            assert np.allclose([h.score for h in hits], want_scores, atol=1e-5)
    assert np.mean(recalls) >= (1.0 if backend == "faiss-flat" else 0.9), np.mean(recalls)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tiny_allowed_gallery_still_returns_k(backend, settings, collection, cast):
    settings.CBIR_INDEX_BACKEND = backend
    small = next(g for g in collection if len(collection[g][0]) == 15)
    query = collection[small][1][0]
    hits = get_backend().top_k(MODEL, query, 10, [small])
    assert len(hits) == 10 and {h.gallery_id for h in hits} == {small}
    assert hits[0].image_id == collection[small][0][0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_threshold_search_returns_everything_above_the_cutoff(backend, settings, collection, cast):
    settings.CBIR_INDEX_BACKEND = backend
    if backend.startswith("faiss-binary"):
        hashing_fit(model_name=MODEL)
    allowed = [cast.gallery.pk]
    query = collection[cast.gallery.pk][1][5]
    ids, vectors = collection[cast.gallery.pk]
    want = set(ids[vectors @ query > 0.8].tolist())
    hits = get_backend().above(MODEL, query, 0.8, allowed, limit=10_000)
    got = {h.image_id for h in hits}
    assert got <= set(ids.tolist())
    assert all(h.score > 0.8 - 1e-5 for h in hits)
    assert len(got & want) >= 0.9 * len(want) > 0


def test_hashing_fit_stores_thresholds_and_codes_matching_the_python_encoder(collection, cast):
    row = hashing_fit(model_name=MODEL, method="median")
    assert row.method == "median" and row.image_count == 1515
    thresholds = hashing_thresholds_for(MODEL)
    assert thresholds.shape == (DIM,)
    embedding = Embedding.objects.filter(model_name=MODEL).first()
    stored = embedding.code if isinstance(embedding.code, str) else embedding.code.to_text()
    expected = np.unpackbits(encode(np.asarray(embedding.vector)[None, :], thresholds)[0])[:DIM]
    assert stored == "".join(str(b) for b in expected)
    assert hash_codes(np.asarray(embedding.vector)[None, :], thresholds) == [stored]
    assert HashingThresholds.objects.count() == 1


def test_index_command_reports_and_maintains(collection, cast):
    import io

    from django.core.management import call_command

    from indexing.index_sync import feed_state
    from indexing.pgvector_backend import index_name

    out = io.StringIO()
    call_command("cbir_index", "fit-hashing", "--model", MODEL, stdout=out)
    assert "fitted on 1515 embeddings" in out.getvalue()
    generation = feed_state().generation
    call_command("cbir_index", "rebuild", "--model", MODEL, stdout=io.StringIO())
    assert feed_state().generation == generation + 1
    call_command("cbir_index", "ensure-pgvector", "--model", MODEL, stdout=io.StringIO())
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index_name(MODEL)])
        definition = cursor.fetchone()[0]
    assert "hnsw" in definition and "vector(128)" in definition and MODEL in definition
    out = io.StringIO()
    call_command("cbir_index", "status", "--model", MODEL, stdout=out)
    assert f"{MODEL}: 1515 embeddings" in out.getvalue() and "mean hashing" in out.getvalue()


def test_pgvector_queries_use_the_models_hnsw_index(collection, cast, settings):
    from django.db import connection, transaction

    from indexing.pgvector_backend import (
        _branch,
        _embeddings_sql,
        embedding_index_ensure,
        index_name,
    )

    settings.CBIR_INDEX_BACKEND = "pgvector"
    embedding_index_ensure(MODEL, DIM)
    literal = "[" + ",".join("0.1" for _ in range(DIM)) + "]"
    sql, params = _branch(_embeddings_sql(), DIM, literal, MODEL, [cast.gallery.pk], None, 10)
    with transaction.atomic(), connection.cursor() as cursor:
        # On a table this small the planner rightly prefers scanning it; forbid the plans that
        # do not deliver rows in distance order to see that the HNSW index serves the query.
        for switch in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {switch} = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index_name(MODEL) in plan, plan


def test_hashing_is_fitted_by_the_statistics_task_and_refitted_only_after_a_large_change(cast):
    from indexing.hashing_store import hashing_refit_if_stale
    from search.tasks import update_gallery_statistics

    store(cast.gallery, clustered(100, seed=3), start=0)
    assert hashing_thresholds_for(MODEL) is None
    update_gallery_statistics.run(cast.gallery.pk, MODEL)  # what every gallery change queues
    first = HashingThresholds.objects.get(model_name=MODEL)
    assert first.image_count == 100
    assert not Embedding.objects.filter(model_name=MODEL, code__isnull=True).exists()
    store(cast.gallery, clustered(20, seed=4), start=100)  # +20%: the fit still stands
    assert hashing_refit_if_stale(model_name=MODEL) is None
    store(cast.gallery, clustered(40, seed=5), start=120)  # +60% since the fit: refitted
    again = hashing_refit_if_stale(model_name=MODEL)
    assert again is not None and again.image_count == 160
    assert not Embedding.objects.filter(model_name=MODEL, code__isnull=True).exists()
