"""What every experiment shares: the run's context, query requests, ranked searches, scoring.

Searches go through search.services.search_images as the evaluation user, so
the measured code is the code the API runs. Top-k searches ask for the
whole searched collection (k = N, capped at 5000) so that every relevant
item gets a rank.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tqdm import tqdm

from evaluation.datasets import IMAGE, Dataset, Query
from evaluation.loading import LoadedDataset, Log
from evaluation.ranking import (
    MAP_KS,
    RANK_KS,
    PrecisionSummary,
    RankSummary,
    first_relevant_rank,
    precision_summary,
    rank_summary,
    without_junk,
)
from galleries.decoding import image_decode
from indexing.models import Embedding
from search.request import Mode, SearchRequest
from search.services import search_images

MAX_K = 5000
CURVE_TO = 100  # recall@K curves are kept for K = 1 .. 100


@dataclass(frozen=True)
class Options:
    positives: tuple[int, ...] = (3, 5)  # feedback: P pseudo-positives
    breaking_ranks: tuple[int, ...] = (1, 5, 10)
    iterations: int = 2


@dataclass
class Context:
    dataset: Dataset
    loaded: LoadedDataset
    encoder_label: str
    model_name: str
    options: Options = field(default_factory=Options)
    max_queries: int | None = None
    progress: bool = True
    log: Log = print
    _queries: list[Query] | None = None

    @cached_property
    def collection_size(self) -> int:
        """N: images of the searched galleries that have this model's embedding."""
        return Embedding.objects.filter(
            model_name=self.model_name,
            gallery_id__in=[g.pk for g in self.loaded.galleries.values()],
        ).count()

    @property
    def k(self) -> int:
        return max(1, min(self.collection_size, MAX_K))

    def queries(self, kind: str | None = None) -> list[Query]:
        """The dataset's queries that can be asked here (image loaded, a relevant item loaded)."""
        if self._queries is None:
            usable = [q for q in self.dataset.queries if self.relevant(q)]
            usable = [q for q in usable if q.kind != IMAGE or self._image_available(q)]
            self._queries = subsample(usable, self.max_queries)
        return [q for q in self._queries if kind is None or q.kind == kind]

    def kinds(self) -> list[str]:
        return sorted({q.kind for q in self.queries()}, key=lambda k: (k != "text", k))

    def stored_id(self, query: Query) -> int | None:
        """The query image's id when it is in the collection and used whole (no box)."""
        if query.kind != IMAGE or query.bbox is not None or query.item_key is None:
            return None
        if self.dataset.item(query.item_key) is None:
            return None
        return self.loaded.image_ids.get(query.item_key)

    def relevant(self, query: Query) -> set[int]:
        own = self.stored_id(query)
        return self.loaded.ids(query.relevant) - {own}

    def junk(self, query: Query) -> set[int]:
        return self.loaded.ids(query.junk) - self.relevant(query)

    def request(self, query: Query) -> dict[str, Any]:
        """SearchRequest keyword arguments for the query itself."""
        if query.kind != IMAGE:
            return {"text": query.text}
        own = self.stored_id(query)
        if own is not None:
            return {"image_ids": [own]}  # "find similar": the platform leaves it out of results
        return {"image_data": self._upload_bytes(query)}

    def search(self, query: Query, k: int | None = None, **extra: Any) -> list[int]:
        """Image ids best first, as the evaluation user, over the dataset's galleries."""
        result = search_images(
            user=self.loaded.user,
            load_hits=False,  # scored by `ranked` alone: no image rows
            request=SearchRequest(
                gallery_slugs=self.loaded.slugs,
                k=k or self.k,
                mode=Mode.TOPK,
                **{**self.request(query), **extra},
            ),
        )
        return [image_id for image_id, _ in result.ranked]

    def bar(self, items: Sequence[Any], desc: str) -> Iterable[Any]:
        return tqdm(items, desc=desc, unit="query", disable=not self.progress)

    def _image_available(self, query: Query) -> bool:
        if self.stored_id(query) is not None:
            return True
        try:
            return query.item_key is not None and self.dataset.path_of(query.item_key).is_file()
        except KeyError:
            return False

    def _upload_bytes(self, query: Query) -> bytes:
        assert query.item_key is not None
        data = self.dataset.path_of(query.item_key).read_bytes()
        if query.bbox is None:
            return data
        # The guarded decode: a dataset file gets the same limits as an upload.
        img = image_decode(data, min_side=0)
        crop = img.crop(tuple(round(v) for v in query.bbox))  # type: ignore[arg-type]  # a query's box is four numbers, PIL's crop box
        out = io.BytesIO()
        crop.save(out, format="PNG")  # lossless: the crop is the query, not a re-encoding
        return out.getvalue()


def subsample[T](items: list[T], limit: int | None) -> list[T]:
    """Evenly spaced, deterministic: the same limit picks the same queries every run."""
    if limit is None or limit >= len(items):
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


@dataclass(frozen=True)
class Scored:
    """One group of queries scored: ranks, and AP / P / R where several items are relevant."""

    kind: str
    ranks: RankSummary
    precision: PrecisionSummary | None
    per_query: dict[str, int | None]  # query id -> first relevant rank (None: not returned)


def score(
    ctx: Context,
    kind: str,
    queries: Sequence[Query],
    rankings: Sequence[Sequence[int]],
    *,
    ks: Iterable[int] = RANK_KS,
    with_precision: bool | None = None,
) -> Scored:
    cleaned = [without_junk(r, ctx.junk(q)) for q, r in zip(queries, rankings, strict=True)]
    relevant = [ctx.relevant(q) for q in queries]
    ranks = [first_relevant_rank(r, rel) for r, rel in zip(cleaned, relevant, strict=True)]
    summary = rank_summary(
        ranks,
        missing_rank=ctx.collection_size + 1,
        ks=ks,
        curve_to=min(CURVE_TO, ctx.collection_size),
    )
    if with_precision is None:
        with_precision = kind == IMAGE or any(len(rel) > 1 for rel in relevant)
    precision = precision_summary(cleaned, relevant, ks=MAP_KS) if with_precision else None
    per_query = {q.id: r for q, r in zip(queries, ranks, strict=True)}
    return Scored(kind, summary, precision, per_query)


def rank_row(summary: RankSummary) -> list[Any]:
    return [
        *(summary.recall[k] for k in RANK_KS),
        summary.median_rank,
        summary.mean_rank,
    ]


# R@K: a relevant image within the top K (caption retrieval's measure). Set recall at 10
# (relevant in the top 10 / all relevant) is another figure: "SetR@10", never "R@10".
RANK_COLUMNS = ["R@1", "R@5", "R@10", "Med r", "Mean r"]
PRECISION_COLUMNS = [f"mAP@{k}" for k in MAP_KS] + ["mAP", "P@10", "SetR@10"]


def precision_row(summary: PrecisionSummary) -> list[Any]:
    return [
        *(summary.map_at[k] for k in MAP_KS),
        summary.mean_ap,
        summary.precision_at.get(10),
        summary.recall_at.get(10),
    ]


Runner = Callable[[Context], Any]
