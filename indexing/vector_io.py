"""Bulk reads of embeddings from pgvector in binary, straight into NumPy.

Going through the ORM, each vector travels as text ("[0.1,0.2,...]") and is
parsed into a Python list: 90% of an index build at 100k vectors (see
benchmarks/README.md). Here rows arrive in pgvector's binary format (uint16
dim, uint16 unused, big-endian float32 values) through a server-side cursor,
and are decoded with np.frombuffer: 5-10x faster.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

from indexing.models import Embedding

_TABLE = Embedding._meta.db_table


class _BinaryVectorLoader(Loader):
    format = Format.BINARY

    def load(self, data) -> np.ndarray:
        return np.frombuffer(data, dtype=">f4", offset=4)


@dataclass(frozen=True)
class EmbeddingChunk:
    image_ids: np.ndarray  # int64
    gallery_ids: np.ndarray  # int64
    vectors: np.ndarray  # float32, (n, dim)

    def __len__(self) -> int:
        return len(self.image_ids)


def iter_embeddings(
    model_name: str,
    *,
    image_ids: Sequence[int] | None = None,
    gallery_ids: Sequence[int] | None = None,
    chunk_size: int = 5000,
) -> Iterator[EmbeddingChunk]:
    """Embeddings of `model_name` (optionally only these images or galleries), in id order."""
    sql = f"SELECT image_id, gallery_id, vector FROM {_TABLE} WHERE model_name = %s"
    params: list[object] = [model_name]
    if image_ids is not None:
        sql += " AND image_id = ANY(%s)"
        params.append(list(image_ids))
    if gallery_ids is not None:
        sql += " AND gallery_id = ANY(%s)"
        params.append(list(gallery_ids))
    sql += " ORDER BY id"
    for rows in stream_rows(sql, params, chunk_size):
        yield EmbeddingChunk(
            image_ids=np.fromiter((r[0] for r in rows), np.int64, len(rows)),
            gallery_ids=np.fromiter((r[1] for r in rows), np.int64, len(rows)),
            vectors=np.stack([r[2] for r in rows]).astype(np.float32),
        )


def stream_rows(sql: str, params: list[object], chunk_size: int) -> Iterator[list[tuple]]:
    connection.ensure_connection()
    raw = connection.connection
    oid = _vector_oid()
    # A named (server-side) cursor streams the rows; it lives inside a transaction.
    with transaction.atomic(), raw.cursor(name=f"cbir_{uuid.uuid4().hex}", binary=True) as cur:
        cur.adapters.register_loader(oid, _BinaryVectorLoader)
        cur.execute(sql, params)
        while rows := cur.fetchmany(chunk_size):
            yield rows


_oids: dict[tuple[str, int, str], int] = {}


def load_vectors(model_name: str, **filters: Sequence[int]) -> EmbeddingChunk:
    """All matching embeddings as one chunk (for one gallery, a few ids)."""
    chunks = list(iter_embeddings(model_name, **filters))  # type: ignore[arg-type]  # iter_embeddings' own id filters, passed through
    if not chunks:
        empty = np.zeros(0, np.int64)
        return EmbeddingChunk(empty, empty, np.zeros((0, 0), np.float32))
    return EmbeddingChunk(
        image_ids=np.concatenate([c.image_ids for c in chunks]),
        gallery_ids=np.concatenate([c.gallery_ids for c in chunks]),
        vectors=np.concatenate([c.vectors for c in chunks]),
    )


def _vector_oid() -> int:
    """The vector type's OID: fixed per database, looked up once."""
    raw = connection.connection
    key = (raw.info.host, raw.info.port, raw.info.dbname)
    if key not in _oids:
        info = TypeInfo.fetch(raw, "vector")
        if info is None:
            raise RuntimeError("The pgvector extension is not installed in this database.")
        _oids[key] = info.oid
    return _oids[key]
