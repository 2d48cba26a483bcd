"""Extra vectors that join the index, supplied by the apps above indexing.

Indexing loads embeddings itself; two kinds of vectors come from elsewhere
(feedback, at present): *expansions* (query texts admitted for an image, each
searchable in the expansion index) and *refined vectors* (a hot image's vector
moved by its judgements, which replaces its embedding). Indexing never imports
the app that stores them: that app registers a provider in its
`AppConfig.ready()`, and the loader (index_sync.py) asks the registry.

Without a provider there are no extra vectors (indexing alone still serves
every embedding).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ExpansionChunk:
    ids: np.ndarray  # expansion ids
    image_ids: np.ndarray
    gallery_ids: np.ndarray
    vectors: np.ndarray


class ExtraVectorProvider(Protocol):
    def expansions(
        self, model_name: str, *, image_ids: Sequence[int] | None
    ) -> Iterator[ExpansionChunk]:
        """Searchable expansion vectors of `model_name` (all, or of these images)."""
        ...

    def refined(self, model_name: str, *, image_ids: Sequence[int] | None) -> dict[int, np.ndarray]:
        """Refined vectors of `model_name` by image id (all, or of these images)."""
        ...


_providers: list[ExtraVectorProvider] = []


def register(provider: ExtraVectorProvider) -> None:
    """Add a provider (idempotent: registering the same object twice keeps one)."""
    if provider not in _providers:
        _providers.append(provider)


def expansions(
    model_name: str, *, image_ids: Sequence[int] | None = None
) -> Iterator[ExpansionChunk]:
    for provider in list(_providers):
        yield from provider.expansions(model_name, image_ids=image_ids)


def refined(model_name: str, *, image_ids: Sequence[int] | None = None) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for provider in list(_providers):
        out.update(provider.refined(model_name, image_ids=image_ids))
    return out
