"""What every search backend answers (indexing/backends.py picks one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Hit:
    image_id: int
    gallery_id: int
    score: float  # cosine similarity


class SearchBackend(Protocol):
    name: str

    def top_k(
        self, model_name: str, vector: np.ndarray, k: int, gallery_ids: list[int]
    ) -> list[Hit]: ...

    def above(
        self,
        model_name: str,
        vector: np.ndarray,
        min_score: float,
        gallery_ids: list[int],
        limit: int,
    ) -> list[Hit]:
        """Every hit with score > min_score, best first, at most `limit`."""
        ...
