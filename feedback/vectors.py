"""Feedback's vectors for the index: admitted expansions and hot images' refined vectors.

Registered with indexing's provider registry (indexing/providers.py) in
`FeedbackConfig.ready()`; read in binary through indexing's row stream, in
chunks, like the embeddings themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from feedback.models import Expansion, RefinedVector
from indexing.providers import ExpansionChunk
from indexing.vector_io import stream_rows

# The statuses whose vectors are searchable (reviewed, or admitted by the rules).
SEARCHABLE = (Expansion.Status.ADMITTED, Expansion.Status.APPROVED)


class FeedbackVectors:
    def expansions(
        self, model_name: str, *, image_ids: Sequence[int] | None
    ) -> Iterator[ExpansionChunk]:
        sql = (
            f"SELECT id, image_id, gallery_id, vector FROM {Expansion._meta.db_table} "
            "WHERE model_name = %s AND status = ANY(%s) AND vector IS NOT NULL"
        )
        params: list[object] = [model_name, [str(s) for s in SEARCHABLE]]
        if image_ids is not None:
            sql += " AND image_id = ANY(%s)"
            params.append(list(image_ids))
        for rows in stream_rows(sql + " ORDER BY id", params, 5000):
            yield ExpansionChunk(
                ids=np.fromiter((r[0] for r in rows), np.int64, len(rows)),
                image_ids=np.fromiter((r[1] for r in rows), np.int64, len(rows)),
                gallery_ids=np.fromiter((r[2] for r in rows), np.int64, len(rows)),
                vectors=np.stack([r[3] for r in rows]).astype(np.float32),
            )

    def refined(self, model_name: str, *, image_ids: Sequence[int] | None) -> dict[int, np.ndarray]:
        sql = f"SELECT image_id, vector FROM {RefinedVector._meta.db_table} WHERE model_name = %s"
        params: list[object] = [model_name]
        if image_ids is not None:
            sql += " AND image_id = ANY(%s)"
            params.append(list(image_ids))
        out: dict[int, np.ndarray] = {}
        for rows in stream_rows(sql, params, 5000):
            out.update({int(r[0]): np.asarray(r[1], dtype=np.float32) for r in rows})
        return out


provider = FeedbackVectors()
