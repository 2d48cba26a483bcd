"""Negative words: "<caption>, not <object>" at several weights of the "not like this" part.

For COCO-format data with instance annotations. Each caption query gets a
negative word: a COCO category absent from its target image. Two choices of
it: the absent category whose name is closest to the caption (as the words
of the query see it: "a dog on grass", not "horse", the case people meet),
and an absent category picked by a fixed hash of the query (any object).
Every query is searched (top k over the whole collection) without the
negative and with it at each weight, through the platform's search.

What is measured, per weight:
- the target's rank (Recall@K, median rank), and how often it is worse than
  without the negative;
- "unrelated in the top 10": the share of the top 10 that shares no
  category with the target (what a bad negative weight fills the page with);
- "negated in the top 10": the share of the top 10 showing the negated
  object (what the negative is for);
- the top result's score: a negative that cancels the words drags every score
  towards 0, where cutoffs keep nothing.

The default is chosen by a rule written here (choose_weight): among the
weights that keep Recall@10 and "unrelated in the top 10" within a point of
the query without the negative, the one that removes the negated object best.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import mean, median
from typing import Any

import numpy as np

from evaluation.datasets import Query
from evaluation.experiments.common import Context
from evaluation.report import Plot, Section, Series, Table
from search.request import Mode, SearchRequest
from search.services import search_images

WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)
CHOICES = ("near", "any")  # how the absent object is picked
TOLERANCE = 0.01  # "within a point": the no-harm margin of choose_weight
TOP = 10


@dataclass(frozen=True)
class WeightFigures:
    weight: float
    queries: int
    recall: dict[int, float]  # K -> share of queries with the target in the top K
    median_rank: float
    worse: float  # share of queries whose target ranks lower than without the negative
    unrelated: float  # mean share of the top 10 sharing no category with the target
    negated: float  # mean share of the top 10 showing the negated category
    top_score: float  # mean score of the first result


def run(ctx: Context) -> Section:
    section = Section(name="negatives", title='Negative words: "<caption>, not <object>"')
    labels = _labels_by_id(ctx)
    categories = sorted({label for found in labels.values() for label in found})
    targets = {q.id: _target_labels(ctx, q, labels) for q in ctx.queries("text")}
    queries = [q for q in ctx.queries("text") if targets[q.id]]
    if not queries or len(categories) < 2:
        section.notes.append(
            "No caption query has a target with instance annotations (instances_<split>.json): "
            "nothing to negate."
        )
        return section
    words = _closest_absent(queries, targets, categories)
    figures: dict[str, list[WeightFigures]] = {}
    for choice in CHOICES:
        negatives = {
            q.id: words[q.id] if choice == "near" else any_absent(q.id, categories, targets[q.id])
            for q in queries
        }
        figures[choice] = _measure(ctx, queries, negatives, (labels, targets), choice)
    chosen = {choice: choose_weight(rows) for choice, rows in figures.items()}
    for choice, rows in figures.items():
        section.tables.append(_table(choice, rows, chosen[choice], len(categories)))
    section.plots.append(_plot(figures))
    section.data = {
        "weights": list(WEIGHTS),
        "tolerance": TOLERANCE,
        "categories": len(categories),
        "chosen": chosen,
        "figures": {c: [r.__dict__ for r in rows] for c, rows in figures.items()},
        "examples": {q.text: words[q.id] for q in queries[:10]},
    }
    return section


def any_absent(query_id: str, categories: Sequence[str], present: set[str]) -> str:
    """An absent category picked by a fixed hash of the query id (the same every run)."""
    absent = [c for c in categories if c not in present]
    digest = int(hashlib.sha256(query_id.encode()).hexdigest(), 16)
    return absent[digest % len(absent)]


def top_share(ranking: Sequence[int], matches: set[int], top: int = TOP) -> float:
    """The share of the first `top` results that are in `matches` (0 for an empty ranking)."""
    head = list(ranking[:top])
    return sum(1 for i in head if i in matches) / len(head) if head else 0.0


def choose_weight(rows: Sequence[WeightFigures], tolerance: float = TOLERANCE) -> float:
    """The weight that removes the negated object best without harming the query.

    rows[0] must be weight 0 (no negative). Harmless: Recall@10 at most `tolerance`
    below it and "unrelated in the top 10" at most `tolerance` above it. Among the
    harmless weights, the lowest "negated in the top 10" wins; ties go to the smaller
    weight. With no harmless non-zero weight, 0.
    """
    base = rows[0]
    if base.weight != 0:
        raise ValueError("the first row must be the query without its negative (weight 0)")
    harmless = [
        r
        for r in rows[1:]
        if r.recall[10] >= base.recall[10] - tolerance and r.unrelated <= base.unrelated + tolerance
    ]
    if not harmless:
        return 0.0
    return min(harmless, key=lambda r: (round(r.negated, 6), r.weight)).weight


def _measure(
    ctx: Context,
    queries: list[Query],
    negatives: dict[str, str],
    truth: tuple[dict[int, set[str]], dict[str, set[str]]],
    choice: str,
) -> list[WeightFigures]:
    labels, targets = truth
    rows, baseline = [], {}
    for weight in WEIGHTS:
        ranks, worse, unrelated, negated, scores = [], 0, [], [], []
        for query in ctx.bar(queries, f"negatives {choice} w={weight}"):
            extra = {"negative_text": negatives[query.id], "negative_weight": weight}
            ranking, top = _search(ctx, query, extra if weight else {})
            target = targets[query.id]
            rank = _rank(ranking, ctx.relevant(query))
            if weight == 0:
                baseline[query.id] = rank
            worse += int(rank > baseline[query.id])
            ranks.append(rank)
            unrelated.append(
                top_share(ranking, {i for i, found in labels.items() if not found & target})
            )
            negated.append(
                top_share(ranking, {i for i, f in labels.items() if negatives[query.id] in f})
            )
            scores.append(top)
        rows.append(
            WeightFigures(
                weight=weight,
                queries=len(queries),
                recall={k: mean(r <= k for r in ranks) for k in (1, 5, 10)},
                median_rank=float(median(ranks)),
                worse=worse / len(queries),
                unrelated=mean(unrelated),
                negated=mean(negated),
                top_score=mean(scores),
            )
        )
    return rows


def _search(ctx: Context, query: Query, extra: dict[str, Any]) -> tuple[list[int], float]:
    result = search_images(
        user=ctx.loaded.user,
        load_hits=False,  # scored by `ranked` alone: no image rows
        request=SearchRequest(
            gallery_slugs=ctx.loaded.slugs, k=ctx.k, mode=Mode.TOPK, text=query.text, **extra
        ),
    )
    ranking = [image_id for image_id, _ in result.ranked]
    return ranking, result.ranked[0][1] if result.ranked else 0.0


def _rank(ranking: list[int], relevant: set[int]) -> int:
    for rank, image_id in enumerate(ranking, start=1):
        if image_id in relevant:
            return rank
    return len(ranking) + 1


def _labels_by_id(ctx: Context) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for item in ctx.dataset.items:
        image_id = ctx.loaded.image_ids.get(item.key)
        if image_id is not None:
            out.setdefault(image_id, set()).update(item.labels)
    return out


def _target_labels(ctx: Context, query: Query, labels: dict[int, set[str]]) -> set[str]:
    relevant = ctx.relevant(query)
    return set().union(*(labels.get(i, set()) for i in relevant)) if relevant else set()


def _closest_absent(
    queries: list[Query], targets: dict[str, set[str]], categories: list[str]
) -> dict[str, str]:
    """query id -> the absent category whose name's text vector is closest to the caption's."""
    from indexing.runtime import get_encoder

    encoder = get_encoder()
    names = encoder.encode_texts(list(categories))
    captions = encoder.encode_texts([q.text or "" for q in queries])
    out = {}
    for query, vector in zip(queries, captions, strict=True):
        present = targets[query.id]
        similarity = names @ np.asarray(vector)
        order = np.argsort(-similarity, kind="stable")
        out[query.id] = next(categories[i] for i in order if categories[i] not in present)
    return out


def _table(choice: str, rows: list[WeightFigures], chosen: float, categories: int) -> Table:
    how = (
        "the absent category whose name is closest to the caption"
        if choice == "near"
        else "an absent category picked by a hash of the query"
    )
    return Table(
        title=f"Negative word = {how}",
        columns=[
            "Weight",
            "R@1",
            "R@5",
            "R@10",
            "Med r",
            "Worse",
            "Unrelated@10",
            "Negated@10",
            "Top score",
        ],
        rows=[
            [
                r.weight,
                r.recall[1],
                r.recall[5],
                r.recall[10],
                r.median_rank,
                r.worse,
                r.unrelated,
                r.negated,
                r.top_score,
            ]
            for r in rows
        ],
        notes=[
            f"{rows[0].queries} caption queries, {categories} categories; weight 0 is the "
            "caption alone. Worse: share of queries whose target ranks lower than with the "
            "caption alone. Unrelated@10: share of the top 10 sharing no category with the "
            "target. Negated@10: share of the top 10 showing the negated object.",
            f"Chosen by the rule (harmless: R@10 and Unrelated@10 within {TOLERANCE:.0%} of "
            f"weight 0; then the lowest Negated@10): {chosen}.",
        ],
    )


def _plot(figures: dict[str, list[WeightFigures]]) -> Plot:
    series = []
    for choice, rows in figures.items():
        x = [r.weight for r in rows]
        series.append(Series(f"{choice}: unrelated@10", x, [r.unrelated for r in rows]))
        series.append(Series(f"{choice}: negated@10", x, [r.negated for r in rows]))
        series.append(Series(f"{choice}: R@10", x, [r.recall[10] for r in rows]))
    return Plot(
        filename="negatives.png",
        title='"<caption>, not <object>": negative weight',
        xlabel="negative weight",
        ylabel="share",
        series=series,
    )
