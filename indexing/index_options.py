"""Options of a new in-memory index of a model: HNSW sizes, binary thresholds, re-ranking."""

from __future__ import annotations

import numpy as np

from indexing.config import indexing_config
from indexing.hashing_store import hashing_thresholds_for
from indexing.index.base import IndexOptions
from indexing.models import Embedding
from indexing.vector_io import load_vectors


def index_options(model_name: str) -> IndexOptions:
    """Options for a new in-memory index of `model_name` (binary thresholds, re-rank source)."""

    def rerank_source(image_ids: np.ndarray) -> np.ndarray:
        loaded = load_vectors(model_name, image_ids=image_ids.tolist())
        order = {int(i): n for n, i in enumerate(loaded.image_ids)}
        dim = loaded.vectors.shape[1] if len(loaded) else _model_dim(model_name)
        # NaN rows mark ids deleted meanwhile: the re-ranker skips them (a zero vector would
        # score 0 and take a place among the k).
        out = np.full((len(image_ids), dim), np.nan, dtype=np.float32)
        for row, image_id in enumerate(image_ids.tolist()):
            if image_id in order:
                out[row] = loaded.vectors[order[image_id]]
        return out

    config = indexing_config()
    binary = config.index_backend.startswith("faiss-binary")
    return IndexOptions(
        hnsw_m=config.hnsw_m,
        hnsw_ef_construction=config.hnsw_ef_construction,
        hnsw_ef_search=config.hnsw_ef_search,
        exact_below=config.hnsw_exact_below,
        max_graph_ef=config.hnsw_max_graph_ef,
        binary_thresholds=hashing_thresholds_for(model_name) if binary else None,
        rerank_source=rerank_source if binary and config.binary_rerank else None,
        rerank_factor=config.binary_rerank_factor,
    )


def _model_dim(model_name: str) -> int:
    dim = Embedding.objects.filter(model_name=model_name).values_list("dim", flat=True).first()
    return int(dim or 0)
