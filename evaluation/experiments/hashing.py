"""Semantic hashing (the source 002 section 3.6, Table 4): binary codes vs float vectors.

hashing_fit (mean or median thresholds per dimension) re-codes the model's
embeddings, then the search runs on the faiss-binary backend, with and
without re-ranking the Hamming candidates by their float vectors, against
faiss-flat. The in-memory indexes are dropped between configurations.

Without re-rank the whole collection is ranked by Hamming distance (k = N),
so every rank is known. With re-rank, k is the size of a real request
(max(CBIR_SEARCH_DEFAULT_K, the largest K reported)): only the Hamming top
k x CBIR_BINARY_RERANK_FACTOR are re-scored, which is what the feature does;
ranks beyond k are not known there, so those rows report no mean/median rank
and no full mAP.
"""

from __future__ import annotations

from typing import Any

from django.test.utils import override_settings

from evaluation.experiments.common import (
    PRECISION_COLUMNS,
    RANK_COLUMNS,
    Context,
    Scored,
    precision_row,
    rank_row,
)
from evaluation.experiments.retrieval import KIND_TITLES, recall_plot, retrieval_scores
from evaluation.ranking import MAP_KS, RANK_KS
from evaluation.report import Section, Table
from indexing.config import indexing_config
from indexing.hashing_store import hashing_fit
from indexing.index_sync import manager
from search.config import search_config

# (label, backend, hashing method, re-rank)
CONFIGS = (
    ("float (faiss-flat)", "faiss-flat", None, False),
    ("mean hash", "faiss-binary", "mean", False),
    ("mean hash + re-rank", "faiss-binary", "mean", True),
    ("median hash", "faiss-binary", "median", False),
    ("median hash + re-rank", "faiss-binary", "median", True),
)


def run(ctx: Context) -> Section:
    section = Section(name="hashing", title="Semantic hashing: binary codes vs float vectors")
    needed = max(MAP_KS) if "image" in ctx.kinds() else max(RANK_KS)
    rerank_k = min(max(search_config().default_k, needed), ctx.k)
    results: dict[str, dict[str, Scored]] = {}
    ks: dict[str, int] = {}
    for label, backend, method, rerank in CONFIGS:
        if method is not None:
            hashing_fit(model_name=ctx.model_name, method=method)
        with override_settings(CBIR_INDEX_BACKEND=backend, CBIR_BINARY_RERANK=rerank):
            manager.clear()  # indexes are built under the backend of their time
            ks[label] = rerank_k if rerank else ctx.k
            results[label] = retrieval_scores(ctx, label=label, k=ks[label])
        manager.clear()
    for kind in ctx.kinds():
        title = KIND_TITLES.get(kind, kind)
        section.tables.append(
            Table(
                title=f"{title}: Recall@K and ranks",
                columns=["Index", "k", *RANK_COLUMNS],
                rows=[
                    [label, ks[label], *_ranks(ks[label], ctx.k, per[kind])]
                    for label, per in results.items()
                ],
                notes=_notes(rerank_k, ctx.k, ctx.collection_size),
            )
        )
        precise = {label: per[kind].precision for label, per in results.items()}
        if all(p is not None for p in precise.values()):
            section.tables.append(
                Table(
                    title=f"{title}: mAP and P/R at K",
                    columns=["Index", *PRECISION_COLUMNS],
                    rows=[
                        [label, *_precision(ks[label], ctx.k, p)] for label, p in precise.items()
                    ],
                )
            )
        section.plots.append(
            recall_plot(
                f"hashing-{kind}.png",
                f"{title}: Recall@K with hashing",
                {label: per[kind] for label, per in results.items()},
            )
        )
    section.data = {
        "configs": [
            {"label": label, "backend": b, "method": m, "rerank": r, "k": ks[label]}
            for label, b, m, r in CONFIGS
        ],
        "rerank_factor": indexing_config().binary_rerank_factor,
        "results": {
            label: {kind: {"ranks": s.ranks, "precision": s.precision} for kind, s in per.items()}
            for label, per in results.items()
        },
    }
    return section


def _ranks(k: int, full: int, scored: Scored) -> list[Any]:
    row = rank_row(scored.ranks)
    return row if k >= full else [*row[:3], None, None]


def _precision(k: int, full: int, summary: Any) -> list[Any]:
    row = precision_row(summary)
    if k < full:
        row[len(MAP_KS)] = None  # full mAP needs the whole ranking
    return row


def _notes(rerank_k: int, k: int, size: int) -> list[str]:
    factor = indexing_config().binary_rerank_factor
    notes = [
        f"Re-rank rows ask for k = {rerank_k} (a real request): the Hamming top {rerank_k} x "
        f"{factor} = {rerank_k * factor} of N = {size} are re-scored with the float vectors."
    ]
    if rerank_k * factor >= size:
        notes.append("That is every image here, so re-ranking is exact on this collection.")
    if rerank_k < k:
        notes.append("Ranks beyond k are unknown there: no median/mean rank or full mAP.")
    notes.append(
        "Hashing thresholds are fitted over every embedding of the model in this database "
        "(all evaluation datasets loaded into it)."
    )
    return notes
