"""Where the cutoff fit reads relevance marks from (registered by the app that logs them).

Search fits cutoffs from judgements (cutoff_fit.py) but does not own the
judgement log: feedback does, and sits above search. Feedback registers a
source in its `AppConfig.ready()`; without one there are no marks, and the
fit from judgements has nothing to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Mark:
    id: int  # increasing: the newest mark read is remembered
    session: object
    image: int
    relevant: bool | None  # None: the mark was withdrawn
    score: float  # the similarity the image was shown with
    gallery: int
    text_query: bool  # words only (no example image)
    query_vector: np.ndarray | None = None  # the query the image was scored against


class MarkSource(Protocol):
    def latest_per_model(self) -> Iterable[tuple[str, int]]:
        """(model name, newest mark id) for every model with marks."""
        ...

    def newest_marks(self, model_name: str, limit: int) -> Iterable[Mark]:
        """The model's marks with a similarity score, newest first, at most `limit`."""
        ...


_sources: list[MarkSource] = []


def register(source: MarkSource) -> None:
    if source not in _sources:
        _sources.append(source)


def latest_per_model() -> Iterator[tuple[str, int]]:
    for source in list(_sources):
        yield from source.latest_per_model()


def newest_marks(model_name: str, limit: int) -> Iterator[Mark]:
    for source in list(_sources):
        yield from source.newest_marks(model_name, limit)
