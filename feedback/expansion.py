"""Collection expansion from logged feedback: the rules, as pure functions.

The source (002, section 5.3) found that attaching every caption to the
collection lowered R@1 (43.2 -> 39.2): unbounded expansion is noise. So a
confirmed query text is admitted only with enough support, from more than
one user; a later "not relevant" for the same text removes support; old
support decays; near-identical texts count as one; each image keeps at most
a few expansion texts, the best supported.

The alternative the source proposes, "hot image" refinement, moves a much
judged image's search vector toward the queries that found it, with the
drift bounded so the image never stops looking like itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

_NOT_WORD = re.compile(r"[^\w\s]+")
_SPACES = re.compile(r"\s+")


def text_key(text: str) -> str:
    """Case, punctuation and spacing do not make a different text."""
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", text.lower())).strip()[:300]


@dataclass(frozen=True)
class Vote:
    user_id: int
    key: str  # text_key of the query
    relevant: bool  # the user's latest judgement of the image for that query
    age_days: float


@dataclass(frozen=True)
class Tally:
    support: float  # decayed confirmations minus decayed rejections
    supporters: int  # distinct users whose latest vote confirms
    rejections: int  # distinct users whose latest vote rejects


@dataclass(frozen=True)
class AdmissionRules:
    min_support: float = 2.0
    min_supporters: int = 2
    max_per_image: int = 5
    half_life_days: float = 180.0  # 0: no decay


def decay(age_days: float, half_life_days: float) -> float:
    if half_life_days <= 0:
        return 1.0
    return float(0.5 ** (max(age_days, 0.0) / half_life_days))


def tally(votes: Iterable[Vote], half_life_days: float) -> dict[str, Tally]:
    """One vote per user and text (callers pass each user's latest), weighted by age."""
    support: dict[str, float] = {}
    supporters: dict[str, set[int]] = {}
    rejecters: dict[str, set[int]] = {}
    for vote in votes:
        weight = decay(vote.age_days, half_life_days)
        support[vote.key] = support.get(vote.key, 0.0) + (weight if vote.relevant else -weight)
        group = supporters if vote.relevant else rejecters
        group.setdefault(vote.key, set()).add(vote.user_id)
    return {
        key: Tally(value, len(supporters.get(key, ())), len(rejecters.get(key, ())))
        for key, value in support.items()
    }


def admitted(tallies: dict[str, Tally], rules: AdmissionRules, reserved: int = 0) -> list[str]:
    """Keys that pass the rules, best supported first, at most max_per_image - reserved.

    `reserved` places are taken by texts a manager approved.
    """
    passing = [
        (key, t)
        for key, t in tallies.items()
        if t.support >= rules.min_support and t.supporters >= rules.min_supporters
    ]
    passing.sort(key=lambda kt: (-kt[1].support, -kt[1].supporters, kt[0]))
    return [key for key, _ in passing[: max(rules.max_per_image - reserved, 0)]]


def merge_near_duplicates(
    keys: list[str], vectors: np.ndarray, min_cosine: float
) -> dict[str, str]:
    """Map each key to the first earlier key whose text vector is at least this similar.

    Callers order keys by importance (support), so the best supported wording
    of a query survives and the others add their support to it.
    """
    canonical: dict[str, str] = {}
    kept: list[int] = []
    for i, key in enumerate(keys):
        match = next((j for j in kept if float(vectors[i] @ vectors[j]) >= min_cosine), None)
        if match is None:
            kept.append(i)
            canonical[key] = key
        else:
            canonical[key] = keys[match]
    return canonical


def refine_hot(
    original: np.ndarray,
    confirmed: np.ndarray,
    rejected: np.ndarray,
    *,
    beta: float,
    gamma: float,
    min_cosine: float,
) -> tuple[np.ndarray, float]:
    """The refined unit vector and its cosine to the original (never below min_cosine)."""
    o = np.asarray(original, dtype=np.float64)
    o = o / np.linalg.norm(o)
    v = o.copy()
    if len(confirmed):
        v = v + beta * np.asarray(confirmed, dtype=np.float64).mean(axis=0)
    if len(rejected):
        v = v - gamma * np.asarray(rejected, dtype=np.float64).mean(axis=0)
    norm = np.linalg.norm(v)
    v = o if norm < 1e-12 else v / norm
    cosine = float(v @ o)
    if cosine < min_cosine:
        # Rotate back toward the original, along the great circle, to the allowed angle.
        orthogonal = v - cosine * o
        length = np.linalg.norm(orthogonal)
        if length < 1e-12:
            v, cosine = o, 1.0
        else:
            angle = float(np.arccos(np.clip(min_cosine, -1.0, 1.0)))
            v = np.cos(angle) * o + np.sin(angle) * orthogonal / length
            cosine = float(v @ o)
    return v.astype(np.float32), cosine
