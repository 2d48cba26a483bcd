"""Embeddings cached on disk by (model name, file SHA-256), so a re-run encodes nothing twice.

One .npz per model under the work dir. Writes go to a temporary file that
replaces the old one, so an interrupted run leaves the last complete cache.
No Django here.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np


class VectorCache:
    def __init__(self, folder: Path, model_name: str):
        self.model_name = model_name
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", model_name).strip("-")[:60]
        digest = hashlib.sha256(model_name.encode()).hexdigest()[:12]
        self.path = Path(folder) / f"{safe}-{digest}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path) as data:
                if str(data["model_name"]) == model_name:
                    self._vectors = dict(
                        zip(
                            data["sha256"].tolist(), data["vectors"].astype(np.float32), strict=True
                        )
                    )

    def __len__(self) -> int:
        return len(self._vectors)

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self._vectors

    def get(self, sha256: str) -> np.ndarray | None:
        return self._vectors.get(sha256)

    def stack(self, hashes: Iterable[str]) -> np.ndarray:
        return np.stack([self._vectors[h] for h in hashes]).astype(np.float32)

    def update(self, vectors: Mapping[str, np.ndarray]) -> None:
        self._vectors.update({h: np.asarray(v, dtype=np.float32) for h, v in vectors.items()})

    def save(self) -> None:
        if not self._vectors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.stem}.{os.getpid()}.tmp.npz")
        np.savez(
            partial,
            model_name=np.array(self.model_name),
            sha256=np.array(list(self._vectors)),
            vectors=np.stack(list(self._vectors.values())),
        )
        partial.replace(self.path)
