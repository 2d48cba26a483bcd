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
from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

from search.backends import Hit
from search.models import Embedding

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
    statement = sql.SQL(
        "CREATE INDEX IF NOT EXISTS {name} ON {table} USING hnsw "
        "((vector::vector({dim})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
        "WHERE model_name = {model}"
    ).format(
        name=sql.Identifier(name),
        table=sql.Identifier(_TABLE),
        dim=sql.Literal(int(dim)),
        model=sql.Literal(model_name),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection))
    _ensured.add((model_name, dim))
    return name


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
            embedding_index_ensure(model_name, dim)
        literal = "[" + ",".join(f"{float(v):.9g}" for v in np.asarray(vector).reshape(-1)) + "]"
        distance = f"(vector::vector({dim}) <=> %s::vector({dim}))"
        where = "model_name = %s AND gallery_id = ANY(%s)"
        params: list[object] = [model_name, list(gallery_ids)]
        if min_score is not None:
            where += f" AND {distance} < %s"
            params += [literal, 1.0 - float(min_score)]
        query = (
            f"SELECT image_id, gallery_id, 1 - {distance} AS score FROM {_TABLE} "
            f"WHERE {where} ORDER BY {distance} LIMIT %s"
        )
        params = [literal, *params, literal, int(limit)]
        with transaction.atomic(), connection.cursor() as cursor:
            # SET LOCAL: these apply to this transaction only.
            cursor.execute("SET LOCAL hnsw.ef_search = %s", [settings.CBIR_PGVECTOR_EF_SEARCH])
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute(
                "SET LOCAL hnsw.max_scan_tuples = %s", [settings.CBIR_PGVECTOR_MAX_SCAN_TUPLES]
            )
            cursor.execute(query, params)
            rows = cursor.fetchall()
        # relaxed_order may return rows slightly out of order: sort them.
        hits = [Hit(int(i), int(g), float(s)) for i, g, s in rows]
        return sorted(hits, key=lambda h: (-h.score, h.image_id))
