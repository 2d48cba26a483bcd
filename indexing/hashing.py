"""Semantic hashing: one bit per embedding dimension.

Source (`seeds/002`): bit j of an image is 1 when its value in dimension j
exceeds that dimension's mean (or median) over the collection. 512 float32
dimensions (2 KB) become 64 bytes, searched by Hamming distance.

The bit order is NumPy's `packbits` default (big-endian within a byte):
dimension 0 is the most significant bit of byte 0. That is the order of a
pgvector `bit(d)` literal read left to right, so codes computed here and
codes stored in PostgreSQL compare bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

METHODS = ("mean", "median")


def fit_thresholds(
    chunks: Iterable[np.ndarray], method: str = "mean", sample: int = 100_000, seed: int = 0
) -> np.ndarray:
    """Per-dimension thresholds (float32, shape (d,)) over all rows of `chunks`.

    "mean" is exact: one streaming pass accumulating float64 sums, so any
    collection size fits in memory. "median" is the median of a uniform
    reservoir sample of at most `sample` rows (Algorithm R): exact when the
    collection has no more rows than `sample`, an estimate beyond that (the
    sample median's error shrinks as 1/sqrt(sample), far below the spread of
    one dimension at the default).
    """
    if method not in METHODS:
        raise ValueError(f"Unknown threshold method {method!r}; use one of {METHODS}.")
    if sample < 1:
        raise ValueError("sample must be at least 1")
    if method == "mean":
        return _streaming_mean(chunks)
    return np.asarray(np.median(_reservoir(chunks, sample, seed), axis=0), dtype=np.float32)


def encode(vectors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Binary codes, uint8 (n, ceil(d/8)); bit = value > threshold, dimension 0 first."""
    vectors = np.atleast_2d(np.asarray(vectors))
    thresholds = np.asarray(thresholds)
    if vectors.ndim != 2 or thresholds.shape != (vectors.shape[1],):
        raise ValueError(f"thresholds {thresholds.shape} do not fit vectors {vectors.shape}")
    # Padding bits of the last byte (d not a multiple of 8) are zero in every code,
    # so they never add to a Hamming distance.
    return np.packbits(vectors > thresholds, axis=1)


def hamming_to_cosine(h: np.ndarray | float, d: int) -> np.ndarray:
    """Estimated cosine similarity from a Hamming distance between d-bit codes.

    cos(pi * h / d) is the angle estimate of sign random projections
    (Charikar 2002): a fraction h/d of differing bits estimates angle/pi. Here
    the hyperplanes are the coordinate axes shifted to the thresholds, not
    random ones, so this is a monotone estimate for ranking and display, not
    an unbiased one; re-rank with the float vectors when the number matters.
    """
    return np.cos(np.pi * np.asarray(h, dtype=np.float64) / d)


def cosine_to_hamming(s: np.ndarray | float, d: int) -> np.ndarray:
    """The inverse of hamming_to_cosine: d * arccos(s) / pi, within [0, d]."""
    angle = np.arccos(np.clip(np.asarray(s, dtype=np.float64), -1.0, 1.0))
    return np.clip(d * angle / np.pi, 0.0, float(d))


def _streaming_mean(chunks: Iterable[np.ndarray]) -> np.ndarray:
    total: np.ndarray | None = None
    count = 0
    for chunk in chunks:
        rows = _rows(chunk, None if total is None else len(total))
        # float64 accumulation: a float32 running sum over millions of rows loses digits.
        part = rows.sum(axis=0, dtype=np.float64)
        total = part if total is None else total + part
        count += len(rows)
    if total is None or count == 0:
        raise ValueError("cannot fit thresholds on an empty collection")
    return (total / count).astype(np.float32)


def _reservoir(chunks: Iterable[np.ndarray], size: int, seed: int) -> np.ndarray:
    """A uniform sample of at most `size` rows, drawn in one pass (Algorithm R, vectorised)."""
    rng = np.random.default_rng(seed)
    reservoir: np.ndarray | None = None
    seen = 0
    for chunk in chunks:
        rows = _rows(chunk, None if reservoir is None else reservoir.shape[1])
        if reservoir is None:
            reservoir = np.empty((size, rows.shape[1]), np.float32)
        fill = min(max(size - seen, 0), len(rows))
        reservoir[seen : seen + fill] = rows[:fill]
        rest = rows[fill:]
        if len(rest):
            # Row number t (0-based, over the whole stream) replaces slot r ~ U[0, t] when r < size.
            positions = seen + fill + np.arange(len(rest))
            slots = rng.integers(0, positions + 1)
            hit = np.flatnonzero(slots < size)
            # Within one chunk a later row must win a slot drawn twice, as in the
            # sequential algorithm: keep each slot's last occurrence.
            last_slots, first_in_reversed = np.unique(slots[hit][::-1], return_index=True)
            winners = hit[::-1][first_in_reversed]
            reservoir[last_slots] = rest[winners]
        seen += len(rows)
    if reservoir is None or seen == 0:
        raise ValueError("cannot fit thresholds on an empty collection")
    return reservoir[: min(seen, size)]


def _rows(chunk: np.ndarray, dim: int | None) -> np.ndarray:
    rows = np.asarray(chunk, dtype=np.float32)
    if rows.ndim != 2 or (dim is not None and rows.shape[1] != dim):
        raise ValueError(f"expected a 2-D chunk with {dim or 'd'} columns, got {rows.shape}")
    return rows
