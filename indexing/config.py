"""The indexing app's knobs: the encoder, embedding work, the search backends (cbir_site/config.py).

The collection-expansion switches live here too, not in feedback/config.py: the index
(a lower layer than feedback) asks them whether to add the expansion vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

from cbir_site.config import build, config_builder, knob
from cbir_site.env import env_bool, env_choice, env_float, env_int, env_list, env_str

_BACKENDS = {"faiss-flat", "faiss-hnsw", "faiss-binary", "faiss-binary-hnsw", "pgvector"}


@dataclass(frozen=True)
class IndexingConfig:
    # Encoder: auto = open_clip when its weights are on this machine, else the bundled encoder.
    encoder: str = knob(
        "CBIR_ENCODER", env_choice, "auto", {"auto", "open_clip", "bundled", "fake"}
    )
    openclip_model: str = knob("CBIR_OPENCLIP_MODEL", env_str, "ViT-B-32")
    # A pretrained tag, a local checkpoint file, or empty with a local-dir: model.
    openclip_pretrained: str = knob("CBIR_OPENCLIP_PRETRAINED", env_str, "laion2b_s34b_b79k")
    openclip_cache_dir: str | None = knob("CBIR_OPENCLIP_CACHE_DIR", lambda n: env_str(n) or None)
    text_prompt: str = knob("CBIR_TEXT_PROMPT", env_str, "a photo of {}")
    encoder_device: str = knob("CBIR_ENCODER_DEVICE", env_str, "cpu")
    encoder_threads: int = knob("CBIR_ENCODER_THREADS", env_int, 0, minimum=0)  # 0: torch's
    # What runs the image tower: torch, or ONNX Runtime (onnx: fp32, onnx-int8: 8-bit weights,
    # its own model name) from a graph exported once into CBIR_DATA_DIR/models/onnx.
    encoder_runtime: str = knob(
        "CBIR_ENCODER_RUNTIME", env_choice, "torch", {"torch", "onnx", "onnx-int8"}
    )
    bundled_top_classes: int = knob(
        "CBIR_BUNDLED_TOP_CLASSES", env_int, 10, minimum=1, maximum=1000
    )
    # ensemble = several "a photo of a {}" templates averaged; names = the bare class names.
    bundled_prompts: str = knob(
        "CBIR_BUNDLED_PROMPTS", env_choice, "ensemble", {"ensemble", "names"}
    )
    # Query texts remembered per process and encoder (0: off); ~2 KB each at 512 dimensions.
    text_cache_size: int = knob("CBIR_TEXT_CACHE_SIZE", env_int, 2048, minimum=0, maximum=1_000_000)
    # Fuse the rankings of several encoders ("bundled,open_clip"); empty: the active one alone.
    fusion_encoders: tuple[str, ...] = knob("CBIR_FUSION_ENCODERS", env_list, [])
    # How long to wait for the Hugging Face hub (or the HF_ENDPOINT mirror).
    model_hub_timeout_s: float = knob(
        "CBIR_MODEL_HUB_TIMEOUT_S", env_float, 3.0, minimum=0.1, maximum=120
    )
    # Embedding work.
    pending_retry_after_s: int = knob("CBIR_PENDING_RETRY_AFTER_S", env_int, 600, minimum=1)
    embed_max_attempts: int = knob("CBIR_EMBED_MAX_ATTEMPTS", env_int, 5, minimum=1)
    index_event_retention_s: int = knob(
        "CBIR_INDEX_EVENT_RETENTION_S", env_int, 7 * 24 * 3600, minimum=60
    )
    # faiss-flat (exact), faiss-hnsw (approximate), faiss-binary / faiss-binary-hnsw (semantic
    # hashing, re-ranked from pgvector), pgvector (in PostgreSQL).
    index_backend: str = knob("CBIR_INDEX_BACKEND", env_choice, "faiss-flat", _BACKENDS)
    hnsw_m: int = knob("CBIR_HNSW_M", env_int, 32, minimum=4, maximum=256)
    hnsw_ef_construction: int = knob("CBIR_HNSW_EF_CONSTRUCTION", env_int, 80, minimum=8)
    # efSearch 256: recall@10 0.96 at 1M vectors, p99 2.4 ms on one core (benchmarks/README.md).
    hnsw_ef_search: int = knob("CBIR_HNSW_EF_SEARCH", env_int, 256, minimum=8)
    # Allowed sets smaller than this are scanned exactly rather than through the graph.
    hnsw_exact_below: int = knob("CBIR_HNSW_EXACT_BELOW", env_int, 20_000, minimum=0)
    hnsw_max_graph_ef: int = knob("CBIR_HNSW_MAX_GRAPH_EF", env_int, 2_000, minimum=8)
    hashing_method: str = knob("CBIR_HASHING_METHOD", env_choice, "mean", {"mean", "median"})
    binary_rerank: bool = knob("CBIR_BINARY_RERANK", env_bool, True)
    # x20: recall@10 0.967 at 100k (x50 for 0.968 at 1M); benchmarks/README.md.
    binary_rerank_factor: int = knob(
        "CBIR_BINARY_RERANK_FACTOR", env_int, 20, minimum=1, maximum=1000
    )
    # pgvector backend: graph breadth per query and how far an iterative scan may go for
    # filtered queries (pgvector >= 0.8).
    pgvector_ef_search: int = knob("CBIR_PGVECTOR_EF_SEARCH", env_int, 100, minimum=1, maximum=1000)
    pgvector_max_scan_tuples: int = knob(
        "CBIR_PGVECTOR_MAX_SCAN_TUPLES", env_int, 20_000, minimum=100
    )
    # Memory for building an HNSW index: with PostgreSQL's 64 MB default the graph spills after
    # ~23k rows and the build of 100k takes 4x longer (benchmarks/README.md).
    pgvector_build_memory: str = knob("CBIR_PGVECTOR_BUILD_MEMORY", env_str, "1GB")
    # How long a gap in the index change feed may stay open (a transaction still running)
    # before it is taken to be a rolled-back id and skipped.
    index_feed_gap_timeout_s: float = knob(
        "CBIR_INDEX_FEED_GAP_TIMEOUT_S", env_float, 60.0, minimum=0.0
    )
    warm_on_start: bool = knob("CBIR_WARM_ON_START", env_bool, True)
    # A process whose in-memory index is not built yet answers from pgvector while it builds.
    index_build_in_background: bool = knob("CBIR_INDEX_BUILD_IN_BACKGROUND", env_bool, True)
    # Collection expansion (feedback/): confirmed query texts become extra vectors of an image,
    # at most this many per image; hot refinement moves an image's search vector instead.
    expansion: bool = knob("CBIR_EXPANSION", env_bool, True)
    expansion_max_per_image: int = knob("CBIR_EXPANSION_MAX_PER_IMAGE", env_int, 5, minimum=0)
    hot_refinement: bool = knob("CBIR_HOT_REFINEMENT", env_bool, False)


@config_builder
def indexing_config() -> IndexingConfig:
    return build(IndexingConfig)
