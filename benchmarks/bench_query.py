"""Server-side text query latency at 10k and 100k embeddings, split into encode and search.

For each size the script fills one gallery with synthetic images and random
unit vectors (COPY into PostgreSQL), builds the process's FAISS index from
pgvector the way a search process does on start (timed: "index build"),
then runs `search_images(user=..., request=SearchRequest(text=..., k=...))` with varied texts as
the gallery's owner. It reports p50/p99/mean of the encoder time, the search
time and the whole call (from SearchResult.encode_ms / search_ms and a timer
around the call), and, over the same vectors and the same query vectors,
FAISS `index.search` alone next to a NumPy brute-force baseline
(q @ X.T + argpartition).

    python benchmarks/bench_query.py                       # 10k and 100k, 200 queries, 1 thread
    python benchmarks/bench_query.py --sizes 1000,10000 --queries 50 --encoder fake
    python benchmarks/bench_query.py --large-k --sizes 2000,10000 --queries 30 --encoder fake

--large-k times evaluation-sized searches instead (k = 24, 500, 2,000 and the whole
collection), the hit rows loaded the old way, the current way, and not at all
(benchmarks/_large_k.py).

Runs against the separate `cbir_bench` database and deletes what it created.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
from _large_k import print_large_k, run_large_k

_COPY_CHUNK = 20_000

SUBJECTS = [
    "cat",
    "dog",
    "horse",
    "bicycle",
    "red car",
    "pizza",
    "cup of coffee",
    "laptop",
    "bird",
    "train",
    "sailing boat",
    "elephant",
    "giraffe",
    "teddy bear",
    "clock",
    "umbrella",
    "surfer",
    "skateboarder",
    "bowl of fruit",
    "fire hydrant",
    "zebra",
    "bus",
    "kite",
    "sheep",
]
PLACES = [
    "on the beach",
    "in a kitchen",
    "on a busy street",
    "in the snow",
    "on a wooden table",
    "in a green field",
    "at night",
    "next to a window",
    "in a park",
    "at the station",
]
TEMPLATES = [
    "{s}",
    "a {s}",
    "a photo of a {s} {p}",
    "two {s}s {p} on a sunny day",
    "close-up of a {s} {p}",
    "an old black and white picture of a {s} {p} with people in the background",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated index sizes")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per size")
    parser.add_argument("--k", type=int, default=24, help="results per query")
    parser.add_argument("--threads", type=int, default=1, help="torch/FAISS/BLAS threads")
    parser.add_argument(
        "--encoder",
        choices=["auto", "bundled", "fake", "open_clip"],
        default=None,
        help="encoder kind (default: CBIR_ENCODER / settings)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--large-k",
        nargs="?",
        const="24,500,2000",
        default="",
        metavar="KS",
        help="time search_images at these k (and k = the collection) through the hit-row paths",
    )
    args = parser.parse_args()
    args.large_k = [int(k) for k in args.large_k.split(",") if k.strip()]
    args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not args.sizes or args.sizes[0] < args.k:
        parser.error("--sizes must be at least k")
    return args


def query_texts(n: int, seed: int) -> list[str]:
    import numpy as np

    combos = [t.format(s=s, p=p) for t, s, p in itertools.product(TEMPLATES, SUBJECTS, PLACES)]
    combos = list(dict.fromkeys(combos))  # "{s}" templates repeat over places
    order = np.random.default_rng(seed).permutation(len(combos))
    return [combos[i] for i in itertools.islice(itertools.cycle(order), n)]


# ---------------------------------------------------------------- synthetic data


def vector_cursor(connection: Any, *, numpy_loader: bool = False, name: str = "") -> Any:
    """A psycopg cursor on Django's connection that speaks pgvector in binary.

    The adapters are registered on this cursor only: Django's own cursors keep
    returning vectors as text, as the product sees them. numpy_loader=True loads
    binary vectors straight into big-endian NumPy views (no Python float per value).
    A `name` makes it a server-side cursor (use inside a transaction), which gets
    the same fast-start plan (index scan, no sort) as the ORM's iterator().
    """
    import numpy as np
    import psycopg
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.adapt import Loader
    from psycopg.pq import Format
    from psycopg.types import TypeInfo

    class NumpyVectorLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> Any:
            # pgvector's binary format: uint16 dim, uint16 unused, then dim big-endian float4.
            return np.frombuffer(data, dtype=">f4", offset=4)

    connection.ensure_connection()
    raw = connection.connection
    cur = psycopg.ServerCursor(raw, name) if name else psycopg.Cursor(raw)
    info = TypeInfo.fetch(raw, "vector")
    register_vector_info(cur, info)  # type: ignore[arg-type]  # a cursor is an adapt context too: registered for it alone
    if numpy_loader:
        cur.adapters.register_loader(info.oid, NumpyVectorLoader)
    return cur


def insert_synthetic(
    *, gallery: Any, first: int, count: int, dim: int, model_name: str, rng: Any
) -> tuple[Any, Any]:
    """COPY `count` images and their embeddings (random unit vectors) into the gallery.

    Returns (image ids, vectors) in insertion order. The vector COPY is binary
    (pgvector's psycopg dumper, registered on this cursor only so that Django's
    own connection adapters stay as the product uses them).
    """
    import numpy as np
    from django.db import connection, transaction
    from django.utils import timezone

    from galleries.models import Image
    from indexing.encoders.base import l2_normalise
    from indexing.models import Embedding

    vectors = l2_normalise(rng.standard_normal((count, dim), dtype=np.float32))
    now = timezone.now()
    image_cols = (
        "gallery_id, file, thumbnail, original_filename, sha256, byte_size, width, height, "
        "format, status, failure_reason, attempts, created_at, updated_at, embedded_at"
    )
    with transaction.atomic(), vector_cursor(connection) as cur:
        cur.execute(f"SELECT coalesce(max(id), 0) FROM {Image._meta.db_table}")
        (before,) = cur.fetchone()
        with cur.copy(f"COPY {Image._meta.db_table} ({image_cols}) FROM STDIN") as copy:
            for n in range(first, first + count):
                sha = hashlib.sha256(f"bench-{gallery.pk}-{n}".encode()).hexdigest()
                name = f"synthetic-{n:07d}.jpg"
                copy.write_row(
                    (gallery.pk, f"synthetic/{gallery.pk}/{name}", "", name, sha, 1, 1, 1,
                     "JPEG", "ready", "", 1, now, now, now)
                )  # fmt: skip
        cur.execute(
            f"SELECT id FROM {Image._meta.db_table} WHERE gallery_id = %s AND id > %s ORDER BY id",
            (gallery.pk, before),
        )
        ids = np.fromiter((r[0] for r in cur.fetchall()), np.int64)
        if len(ids) != count:
            raise RuntimeError(f"expected {count} new images, found {len(ids)}")
        sql = (
            f"COPY {Embedding._meta.db_table} (image_id, gallery_id, model_name, dim, vector, "
            "created_at, bank_key) FROM STDIN WITH (FORMAT BINARY)"
        )
        with cur.copy(sql) as copy:
            copy.set_types(["int8", "int8", "text", "int2", "vector", "timestamptz", "text"])
            for image_id, vector in zip(ids.tolist(), vectors, strict=True):
                copy.write_row((image_id, gallery.pk, model_name, dim, vector, now, ""))
    with connection.cursor() as cur:
        cur.execute(f"ANALYZE {Image._meta.db_table}; ANALYZE {Embedding._meta.db_table}")
    return ids, vectors


# ---------------------------------------------------------------- index build


def build_index(model_name: str) -> tuple[Any, float, float]:
    """Drop the process's indexes and build this model's from pgvector; (state, s, MiB RSS)."""
    from indexing.index_sync import manager

    manager.clear()
    gc.collect()
    rss = _common.rss_mib()
    started = time.perf_counter()
    state = manager.get(model_name)
    return state, time.perf_counter() - started, _common.rss_mib() - rss


def binary_fetch(model_name: str, *, numpy_loader: bool) -> Any:
    """All of a model's vectors in binary through a server-side cursor, chunk by chunk as the
    product's build reads them, stacked into one float32 matrix."""
    import numpy as np
    from django.db import connection, transaction

    from indexing.index_sync import _LOAD_CHUNK
    from indexing.models import Embedding

    sql = (
        f"SELECT image_id, gallery_id, vector FROM {Embedding._meta.db_table} "
        "WHERE model_name = %s ORDER BY id"
    )
    loaded = []
    with (
        transaction.atomic(),
        vector_cursor(connection, numpy_loader=numpy_loader, name="bench_binary_fetch") as cur,
    ):
        cur.itersize = _LOAD_CHUNK
        cur.execute(sql, (model_name,), binary=True)
        for _image_id, _gallery_id, vector in cur:
            loaded.append(vector if numpy_loader else vector.to_numpy())
    return np.stack(loaded).astype(np.float32, copy=False)


def build_breakdown(model_name: str, dim: int) -> dict[str, float]:
    """Where the build's time goes: the ORM fetch (text vectors parsed in Python), the
    same rows fetched in binary (pgvector's psycopg loader, and a NumPy frombuffer loader:
    candidate fixes), and the FAISS adds alone."""
    import numpy as np

    from indexing.index.faiss_flat import FaissFlatIndex
    from indexing.index_sync import _LOAD_CHUNK
    from indexing.models import Embedding

    out: dict[str, float] = {}
    started = time.perf_counter()
    rows = (
        Embedding.objects.filter(model_name=model_name)
        .order_by("id")
        .values_list("image_id", "gallery_id", "vector")
    )
    ids, vectors = [], []
    for image_id, _gallery_id, vector in rows.iterator(chunk_size=_LOAD_CHUNK):
        ids.append(image_id)
        vectors.append(np.asarray(vector, dtype=np.float32))
    matrix = np.stack(vectors)
    out["orm_text_fetch_s"] = time.perf_counter() - started

    for key, numpy_loader in (("binary_pgvector_fetch_s", False), ("binary_numpy_fetch_s", True)):
        started = time.perf_counter()
        binary = binary_fetch(model_name, numpy_loader=numpy_loader)
        out[key] = time.perf_counter() - started
        if not np.array_equal(binary, matrix):
            raise RuntimeError("binary and text fetches disagree")

    started = time.perf_counter()
    index = FaissFlatIndex(dim)
    id_array = np.asarray(ids, np.int64)
    for start in range(0, len(id_array), _LOAD_CHUNK):
        index.add(id_array[start : start + _LOAD_CHUNK], matrix[start : start + _LOAD_CHUNK])
    out["faiss_add_chunked_s"] = time.perf_counter() - started
    return out


# ---------------------------------------------------------------- queries


def time_search_images(user: Any, texts: list[str], k: int) -> dict[str, list[float]]:
    from search.request import SearchRequest
    from search.services import search_images

    for text in texts[:5]:  # warm-up: first-call costs (query compilation, FAISS buffers)
        search_images(user=user, request=SearchRequest(text=text, k=k))
    out: dict[str, list[float]] = {"encode": [], "search": [], "total": [], "other": []}
    for text in texts:
        started = time.perf_counter()
        result = search_images(user=user, request=SearchRequest(text=text, k=k))
        total = time.perf_counter() - started
        if len(result.hits) != k:
            raise RuntimeError(f"{text!r} returned {len(result.hits)} hits, expected {k}")
        out["encode"].append(result.encode_ms / 1000)
        out["search"].append(result.search_ms / 1000)
        out["total"].append(total)
        out["other"].append(total - (result.encode_ms + result.search_ms) / 1000)
    return out


def time_index_only(
    state: Any, gallery_id: int, queries: Any, ids: Any, matrix: Any, k: int
) -> tuple[dict[str, list[float]], float]:
    """FAISS index.search (filtered as the product does, and unfiltered) and NumPy brute force,
    over the same query vectors. Returns the timings and how often NumPy's top-k ids equal
    FAISS's (exact search: should be 1.0 up to ties)."""
    import numpy as np

    allowed = state.allowed_ids([gallery_id])
    out: dict[str, list[float]] = {"faiss_filtered": [], "faiss_unfiltered": [], "numpy": []}
    agree = 0
    for q in queries:
        q2 = q[None, :]
        started = time.perf_counter()
        filtered = state.index.search(q2, k, allowed)
        out["faiss_filtered"].append(time.perf_counter() - started)

        started = time.perf_counter()
        state.index.search(q2, k, None)
        out["faiss_unfiltered"].append(time.perf_counter() - started)

        started = time.perf_counter()
        scores = (q2 @ matrix.T)[0]
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        numpy_ids = ids[top]
        out["numpy"].append(time.perf_counter() - started)
        agree += int(set(numpy_ids.tolist()) == set(filtered.ids[0].tolist()))
    return out, agree / len(queries)


# ---------------------------------------------------------------- report


def print_size(r: dict[str, Any]) -> None:
    n = r["size"]
    print()
    print(f"== {n:,} embeddings (dim {r['dim']}), {r['queries']} queries, k={r['k']} ==")
    print(
        f"synthetic insert (COPY): {r['insert_s']:.1f} s for {r['inserted']:,} rows "
        f"({r['inserted'] / r['insert_s']:,.0f} rows/s)"
    )
    b = r["build"]
    print(
        f"index build from pgvector: {r['build_s']:.2f} s ({n / r['build_s']:,.0f} vectors/s), "
        f"RSS +{r['build_rss_mib']:.0f} MiB ({r['build_rss_mib'] * 2**20 / n:,.0f} B/image; "
        f"raw float32 {4 * r['dim']} B/image)"
    )
    print(
        f"  breakdown: ORM fetch + text parse {b['orm_text_fetch_s']:.2f} s; "
        f"FAISS adds (chunks of 5000) {b['faiss_add_chunked_s']:.2f} s"
    )
    print(
        f"  candidate fix, same rows fetched in binary: pgvector loader "
        f"{b['binary_pgvector_fetch_s']:.2f} s, np.frombuffer loader "
        f"{b['binary_numpy_fetch_s']:.2f} s "
        f"({b['orm_text_fetch_s'] / b['binary_numpy_fetch_s']:.1f}x faster than the text path)"
    )
    rows = []
    labels = {
        "encode": "encode (SearchResult.encode_ms)",
        "search": "search (SearchResult.search_ms)",
        "other": "other (permissions, hit rows)",
        "total": "search_images() total",
        "faiss_filtered": "FAISS index.search, filtered",
        "faiss_unfiltered": "FAISS index.search, no filter",
        "numpy": "NumPy q @ X.T + argpartition",
    }
    for key, label in labels.items():
        s = r["latency_ms"][key]
        rows.append([label, f"{s['p50']:.2f}", f"{s['p99']:.2f}", f"{s['mean']:.2f}"])
    print(_common.table(rows, ["latency (ms)", "p50", "p99", "mean"]))
    print(
        f"FAISS/NumPy p50 ratio: filtered {r['ratio_faiss_filtered_numpy']:.2f}, "
        f"unfiltered {r['ratio_faiss_unfiltered_numpy']:.2f} (below 1 = FAISS faster); "
        f"top-k agreement {100 * r['topk_agreement']:.0f}%"
    )


class Corpus:
    """The benchmark gallery's synthetic vectors, grown size by size."""

    def __init__(self, gallery: Any, encoder: Any, seed: int):
        import numpy as np

        self.gallery, self.encoder = gallery, encoder
        self.rng = np.random.default_rng(seed)
        self.ids = np.zeros(0, np.int64)
        self.matrix = np.zeros((0, encoder.dim), np.float32)

    def grow_to(self, size: int) -> tuple[int, float]:
        """Insert rows up to `size`; return (rows inserted, seconds)."""
        import numpy as np

        count = size - len(self.ids)
        started = time.perf_counter()
        ids, vectors = insert_synthetic(
            gallery=self.gallery, first=len(self.ids), count=count, dim=self.encoder.dim,
            model_name=self.encoder.name, rng=self.rng,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        self.ids = np.concatenate([self.ids, ids])
        self.matrix = np.ascontiguousarray(np.concatenate([self.matrix, vectors]))
        return count, elapsed


def run_size(size: int, corpus: Corpus, user: Any, texts: list[str], k: int) -> dict[str, Any]:
    encoder = corpus.encoder
    inserted, insert_s = corpus.grow_to(size)
    state, build_s, build_rss = build_index(encoder.name)
    if len(state) != size:
        raise RuntimeError(f"index holds {len(state)} vectors, expected {size}")
    breakdown = build_breakdown(encoder.name, encoder.dim)
    latency = time_search_images(user, texts, k)
    index_only, agreement = time_index_only(
        state, corpus.gallery.pk, encoder.encode_texts(texts), corpus.ids, corpus.matrix, k
    )
    summary = {key: _common.summary_ms(v) for key, v in {**latency, **index_only}.items()}
    numpy_p50 = summary["numpy"]["p50"]
    return {
        "size": size,
        "dim": encoder.dim,
        "queries": len(texts),
        "k": k,
        "inserted": inserted,
        "insert_s": insert_s,
        "build_s": build_s,
        "build_rss_mib": build_rss,
        "build": breakdown,
        "latency_ms": summary,
        "ratio_faiss_filtered_numpy": summary["faiss_filtered"]["p50"] / numpy_p50,
        "ratio_faiss_unfiltered_numpy": summary["faiss_unfiltered"]["p50"] / numpy_p50,
        "topk_agreement": agreement,
    }


def main() -> None:
    args = parse_args()
    _common.limit_threads(args.threads)
    note = _common.configure_open_clip() if args.encoder == "open_clip" else None
    media = _common.django_setup(encoder=args.encoder)
    threads = _common.apply_thread_limits(args.threads)

    from galleries.services import gallery_create
    from indexing.index_sync import manager
    from indexing.runtime import get_encoder

    _common.cleanup_leftovers()
    encoder = get_encoder()
    texts = query_texts(args.queries, args.seed)
    encoder.encode_texts(texts[:8])  # warm-up
    user = _common.bench_user("query")
    gallery = gallery_create(user=user, name="bench query", slug=user.username)
    results: list[dict[str, Any]] = []
    try:
        corpus = Corpus(gallery, encoder, args.seed)
        for size in args.sizes:
            if args.large_k:
                results.append(run_large_k(size, corpus, user, args.queries, args.large_k))
                print_large_k(results[-1])
                continue
            results.append(run_size(size, corpus, user, texts, args.k))
            print_size(results[-1])
    finally:
        manager.clear()
        _common.delete_galleries_fast([gallery.pk])
        user.delete()
        _common.remove_media(media)

    payload = {
        "benchmark": "query-large-k" if args.large_k else "query",
        "encoder": encoder.name,
        "threads": threads,
        "note": note,
        "sizes": results,
        "machine": _common.machine_info(),
        "load_average": os.getloadavg(),
    }
    print(f"\nencoder {encoder.name}, threads {threads}, load average {os.getloadavg()[0]:.1f}")
    print(f"results: {_common.write_results('bench_query', payload)}")


if __name__ == "__main__":
    main()
