"""Plain retrieval: text→image R@K and ranks (captions), image→image mAP@K and P/R@K.

One row per encoder (and the fused ranking when several are evaluated), as
Table 1 of the source (002) and the mAP tables of the image-retrieval literature.
"""

from __future__ import annotations

from typing import Any

from evaluation.experiments.common import (
    PRECISION_COLUMNS,
    RANK_COLUMNS,
    Context,
    Scored,
    precision_row,
    rank_row,
    score,
)
from evaluation.report import Plot, Section, Series, Table

KIND_TITLES = {"text": "Text → image", "image": "Image → image"}


def retrieval_scores(ctx: Context, *, label: str = "", k: int | None = None) -> dict[str, Scored]:
    """Every usable query searched once (top k, default the whole collection), scored by kind."""
    out = {}
    for kind in ctx.kinds():
        queries = ctx.queries(kind)
        desc = f"retrieval {label or ctx.encoder_label} {kind}"
        rankings = [ctx.search(q, k=k) for q in ctx.bar(queries, desc)]
        out[kind] = score(ctx, kind, queries, rankings)
    return out


def retrieval_section(
    results: dict[str, dict[str, Scored]], *, collection_sizes: dict[str, int]
) -> Section:
    """results: row label (encoder, fused) -> kind -> scores."""
    section = Section(name="retrieval", title="Retrieval")
    kinds = sorted({kind for per in results.values() for kind in per}, key=lambda k: k != "text")
    for kind in kinds:
        rows = {label: per[kind] for label, per in results.items() if kind in per}
        title = KIND_TITLES.get(kind, kind)
        section.tables.append(
            Table(
                title=f"{title}: R@K (a relevant image within the top K) and rank of the "
                "first relevant image",
                columns=["Encoder", "Queries", "N", *RANK_COLUMNS],
                rows=[
                    [label, s.ranks.queries, collection_sizes.get(label), *rank_row(s.ranks)]
                    for label, s in rows.items()
                ],
                notes=_rank_notes(rows),
            )
        )
        precise = {label: s.precision for label, s in rows.items() if s.precision is not None}
        if precise:
            section.tables.append(
                Table(
                    title=f"{title}: mean average precision, precision and set recall at K",
                    columns=["Encoder", *PRECISION_COLUMNS],
                    rows=[[label, *precision_row(p)] for label, p in precise.items()],
                    notes=[
                        "SetR@10: relevant images in the top 10 / all relevant images "
                        "(set recall; R@K in the table above is 'any relevant in the top K'). "
                        "Junk images (ROxford) are removed from the ranking first. "
                        "AP@K divides by min(relevant, K); mAP is the full-ranking AP by "
                        "the Revisited Oxford trapezoid rule."
                    ],
                )
            )
        section.plots.append(recall_plot(f"retrieval-{kind}.png", f"{title}: Recall@K", rows))
    section.data = {
        label: {kind: scored_data(s) for kind, s in per.items()} for label, per in results.items()
    }
    return section


def recall_plot(filename: str, title: str, rows: dict[str, Scored]) -> Plot:
    return Plot(
        filename=filename,
        title=title,
        xlabel="K",
        ylabel="Recall@K (first relevant within the top K)",
        series=[
            Series(label, list(range(1, len(s.ranks.curve) + 1)), s.ranks.curve)
            for label, s in rows.items()
        ],
        log_x=True,
    )


def scored_data(scored: Scored) -> dict[str, Any]:
    return {
        "ranks": scored.ranks,
        "precision": scored.precision,
        "per_query_rank": scored.per_query,
    }


def _rank_notes(rows: dict[str, Scored]) -> list[str]:
    missing = {label: s.ranks.not_found for label, s in rows.items() if s.ranks.not_found}
    notes = [
        "N: images searched. Ranks count from 1; mean and median rank count a relevant image "
        "that was not returned at all as N + 1."
    ]
    if missing:
        notes.append(f"Queries whose relevant image was not returned: {missing}.")
    return notes


def run(ctx: Context) -> Section:
    """One encoder's retrieval section (the runner combines encoders itself)."""
    return retrieval_section(
        {ctx.encoder_label: retrieval_scores(ctx)},
        collection_sizes={ctx.encoder_label: ctx.collection_size},
    )
