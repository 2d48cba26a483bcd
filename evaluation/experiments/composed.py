"""Composed queries: a caption plus an example image (the source 002 section 6.2, and 003).

For COCO-format data with instance annotations, each caption's example image
is another collection image that contains the target's most prominent
category (largest annotated area): the one where that category covers the
most area, never the target itself. So the example says "something like
this" about the main object without giving the answer away.

Compared: the text alone, the weighted sum of text and example vectors
(composition="sum"), and two-phase retrieval (top M by the text re-ranked by
the example, rankings fused with log_vote or rrf). The example image is left
out of the results by the platform, as for any stored example.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from evaluation.datasets import Dataset, Query
from evaluation.experiments.common import RANK_COLUMNS, Context, rank_row, score
from evaluation.experiments.retrieval import recall_plot
from evaluation.report import Section, Table
from search.request import Composition, Fusion

METHODS: dict[str, dict[str, Any]] = {
    "text alone": {},
    "sum": {"composition": Composition.SUM},
    "two_phase log_vote": {"composition": Composition.TWO_PHASE, "fusion": Fusion.LOG_VOTE},
    "two_phase rrf": {"composition": Composition.TWO_PHASE, "fusion": Fusion.RRF},
}


def run(ctx: Context) -> Section:
    section = Section(name="composed", title="Composed queries: caption + example image")
    queries = ctx.queries("text")
    by_target = examples_by_target(ctx.dataset, ctx.loaded.image_ids)
    examples = {q.id: example_for(q, by_target) for q in queries}
    usable = [q for q in queries if examples[q.id] is not None]
    skipped = len(queries) - len(usable)
    if not usable:
        section.notes.append(
            "No caption query has an example image: the dataset needs COCO instance annotations "
            "(instances_<split>.json) with another image sharing the target's main category."
        )
        return section
    results = {}
    for method, extra in METHODS.items():
        rankings = []
        for query in ctx.bar(usable, f"composed {method}"):
            example = ctx.loaded.image_ids[examples[query.id]]  # type: ignore[index]  # usable queries have an example (filtered above)
            composed = {"image_ids": [example], **extra} if extra else {}
            rankings.append(ctx.search(query, **composed))
        results[method] = score(ctx, "text", usable, rankings, with_precision=False)
    section.tables.append(
        Table(
            title="Recall@K and ranks of the target image",
            columns=["Query", "Queries", *RANK_COLUMNS],
            rows=[[m, s.ranks.queries, *rank_row(s.ranks)] for m, s in results.items()],
            notes=[
                f"Two-phase re-ranks the text's top M = max(CBIR_TWO_PHASE_CANDIDATES, k) = "
                f"{_first_phase(ctx.k)} of N = {ctx.collection_size}. The sum weighs text and "
                "example equally (text_weight = image_weight = 1).",
                *(
                    [f"{skipped} caption queries had no example image and were left out."]
                    if skipped
                    else []
                ),
            ],
        )
    )
    section.plots.append(recall_plot("composed.png", "Composed queries: Recall@K", results))
    section.data = {
        "methods": METHODS,
        "skipped": skipped,
        "examples": {q.id: examples[q.id] for q in usable},
        "results": {
            m: {"ranks": s.ranks, "per_query_rank": s.per_query} for m, s in results.items()
        },
    }
    return section


def examples_by_target(dataset: Dataset, loaded: dict[str, int]) -> dict[str, str]:
    """target key -> the key of another loaded image with the most area of its main category."""
    ranked: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for item in dataset.items:
        if item.key in loaded:
            for label, area in zip(
                item.labels, item.areas or [0.0] * len(item.labels), strict=True
            ):
                ranked[label].append((-area, item.key))
    for candidates in ranked.values():
        candidates.sort()
    out = {}
    for target in dataset.items:
        if not target.labels or target.key not in loaded:
            continue
        for _area, key in ranked[target.labels[0]]:
            # Not the target, nor the same file under another name: either gives the answer away.
            if loaded[key] != loaded[target.key]:
                out[target.key] = key
                break
    return out


def example_for(query: Query, examples: dict[str, str]) -> str | None:
    if len(query.relevant) != 1:
        return None
    return examples.get(next(iter(query.relevant)))


def _first_phase(k: int) -> int:
    from search.config import search_config

    return max(search_config().two_phase_candidates, k)
