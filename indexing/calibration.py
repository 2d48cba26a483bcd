"""The query bank: each image's mean and spread of similarity to a bank of generic captions.

Querybank normalisation (QB-Norm, Bogolin et al., CVPR 2022; the CSLS idea of
Conneau et al., ICLR 2018) needs, for every image, how close it is to an
arbitrary caption: the mean and spread of its similarity to a fixed bank of
generic captions (querybank/generic_captions.txt). The worker stores them with
each embedding (querybank_store.py); search turns a text query's score into a
z-score with them (search/text_cut_methods.py).

Pure NumPy, no Django.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BANK_PATH = Path(__file__).resolve().parent / "querybank" / "generic_captions.txt"
_MIN_SPREAD = 1e-4  # an image equally close to every caption: avoid dividing by ~0


def load_bank(path: Path = BANK_PATH) -> list[str]:
    """The bank's captions: one a line; blank lines and # comments skipped."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def bank_statistics(vectors: np.ndarray, bank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image's (mean, standard deviation) of cosine similarity to the bank's captions.

    `vectors` (n x d) and `bank` (b x d) are unit rows of the same model's space.
    """
    images = np.asarray(vectors, dtype=np.float64).reshape(-1, np.shape(bank)[-1])
    sims = images @ np.asarray(bank, dtype=np.float64).T
    if sims.shape[1] == 0:
        raise ValueError("the query bank is empty")
    return sims.mean(axis=1), np.maximum(sims.std(axis=1), _MIN_SPREAD)
