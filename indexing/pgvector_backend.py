"""The pgvector search backend: HNSW inside PostgreSQL, the permission filter in SQL.

For collections beyond one machine's memory, or several web machines without
an in-memory index each. The embedding column has no fixed dimension (models
of different sizes live side by side), so each model gets a partial HNSW
expression index over `vector::vector(d)`, and queries use the same
expression so the planner can use it. pgvector 0.8's iterative index scans
keep a filtered query going until it has k rows (or has scanned
CBIR_PGVECTOR_MAX_SCAN_TUPLES), so a tight gallery filter still returns k.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np
from django.db import DatabaseError, connection, transaction
from psycopg import sql

from indexing.backend_base import Hit
from indexing.config import indexing_config
from indexing.models import Embedding

logger = logging.getLogger(__name__)

_TABLE = Embedding._meta.db_table
_ensured: set[tuple[str, int]] = set()


def index_name(model_name: str) -> str:
    return "emb_hnsw_" + hashlib.sha256(model_name.encode()).hexdigest()[:16]


def embedding_index_ensure(model_name: str, dim: int) -> str:
    """Create the model's HNSW index if it is missing (idempotent; blocks writes while building).

    Run it from a maintenance task or `manage.py cbir_index ensure` on a big
    table: building an HNSW index over millions of rows takes a while.
    """
    name = index_name(model_name)
    # The same expression index on the expansion vectors (collection expansion).
    for index, table in ((name, _TABLE), (name.replace("emb_", "exp_"), "feedback_expansion")):
        statement = sql.SQL(
            "CREATE INDEX IF NOT EXISTS {name} ON {table} USING hnsw "
            "((vector::vector({dim})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
            "WHERE model_name = {model}"
        ).format(
            name=sql.Identifier(index),
            table=sql.Identifier(table),
            dim=sql.Literal(int(dim)),
            model=sql.Literal(model_name),
        )
        with transaction.atomic(), connection.cursor() as cursor:
            # SET LOCAL: the build's memory, for this transaction only.
            cursor.execute(
                "SET LOCAL maintenance_work_mem = %s", [indexing_config().pgvector_build_memory]
            )
            cursor.execute(statement.as_string(connection.connection))
    _ensured.add((model_name, dim))
    return name


def _try_index_ensure(model_name: str, dim: int) -> None:
    """Create the model's index on first use; a search never fails for want of it.

    (Inside a transaction with pending trigger events PostgreSQL refuses CREATE
    INDEX; the query is then answered by a scan and the index made later, e.g.
    by `manage.py cbir_index ensure-pgvector`.)
    """
    try:
        with transaction.atomic():
            embedding_index_ensure(model_name, dim)
    except DatabaseError:
        logger.warning("Could not create the HNSW index of %s yet", model_name, exc_info=True)


class PgvectorBackend:
    name = "pgvector"

    def top_k(
        self, model_name: str, vector: np.ndarray, k: int, gallery_ids: list[int]
    ) -> list[Hit]:
        return self._query(model_name, vector, gallery_ids, limit=k, min_score=None)

    def above(
        self,
        model_name: str,
        vector: np.ndarray,
        min_score: float,
        gallery_ids: list[int],
        limit: int,
    ) -> list[Hit]:
        return self._query(model_name, vector, gallery_ids, limit=limit, min_score=min_score)

    def _query(
        self,
        model_name: str,
        vector: np.ndarray,
        gallery_ids: list[int],
        *,
        limit: int,
        min_score: float | None,
    ) -> list[Hit]:
        if not gallery_ids or limit <= 0:
            return []
        dim = int(np.asarray(vector).reshape(-1).shape[0])
        if (model_name, dim) not in _ensured:
            _try_index_ensure(model_name, dim)
        literal = "[" + ",".join(f"{float(v):.9g}" for v in np.asarray(vector).reshape(-1)) + "]"
        branches = [
            _branch(_embeddings_sql(), dim, literal, model_name, gallery_ids, min_score, limit)
        ]
        if indexing_config().expansion:
            wanted = limit * max(indexing_config().expansion_max_per_image, 1)
            branches.append(
                _branch(_EXPANSIONS_SQL, dim, literal, model_name, gallery_ids, min_score, wanted)
            )
        if indexing_config().hot_refinement:
            branches.append(
                _branch(_REFINED_SQL, dim, literal, model_name, gallery_ids, min_score, limit)
            )
        sql = " UNION ALL ".join(f"({b[0]})" for b in branches)
        params = [p for b in branches for p in b[1]]
        with transaction.atomic(), connection.cursor() as cursor:
            # SET LOCAL: these apply to this transaction only.
            cursor.execute("SET LOCAL hnsw.ef_search = %s", [indexing_config().pgvector_ef_search])
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute(
                "SET LOCAL hnsw.max_scan_tuples = %s", [indexing_config().pgvector_max_scan_tuples]
            )
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        # An image counts once, at its best vector; relaxed_order may also return rows
        # slightly out of order: sort them.
        best: dict[int, tuple[int, float]] = {}
        for image_id, gallery_id, score in rows:
            if image_id not in best or score > best[image_id][1]:
                best[image_id] = (gallery_id, score)
        hits = [Hit(int(i), int(g), float(s)) for i, (g, s) in best.items()]
        return sorted(hits, key=lambda h: (-h.score, h.image_id))[:limit]


# Each branch selects (image_id, gallery_id, vector) rows of the model in the galleries.
def _embeddings_sql() -> str:
    sql = f"SELECT image_id, gallery_id, vector FROM {_TABLE} e WHERE e.model_name = %s"
    if indexing_config().hot_refinement:
        # A hot image's refined vector replaces its embedding.
        sql += (
            " AND NOT EXISTS (SELECT 1 FROM feedback_refinedvector r "
            "WHERE r.image_id = e.image_id AND r.model_name = e.model_name)"
        )
    return sql


_EXPANSIONS_SQL = (
    "SELECT image_id, gallery_id, vector FROM feedback_expansion e WHERE e.model_name = %s "
    "AND e.status IN ('admitted', 'approved') AND e.vector IS NOT NULL"
)
_REFINED_SQL = (
    "SELECT r.image_id, i.gallery_id, r.vector FROM feedback_refinedvector r "
    "JOIN galleries_image i ON i.id = r.image_id WHERE r.model_name = %s"
)


def _branch(
    source: str,
    dim: int,
    literal: str,
    model_name: str,
    gallery_ids: list[int],
    min_score: float | None,
    limit: int,
) -> tuple[str, list[object]]:
    """One source's nearest rows, ordered by the indexed expression so HNSW can serve it."""
    distance = f"(vector::vector({dim}) <=> %s::vector({dim}))"
    sql = (
        f"SELECT image_id, gallery_id, 1 - {distance} AS score FROM ({source}) s "
        "WHERE gallery_id = ANY(%s)"
    )
    params: list[object] = [literal, model_name, list(gallery_ids)]
    if min_score is not None:
        sql += f" AND {distance} < %s"
        params += [literal, 1.0 - float(min_score)]
    sql += f" ORDER BY {distance} LIMIT %s"
    params += [literal, int(limit)]
    return sql, params
