"""One score scale for people: a 0-100 match, whatever the ranking's own scores are.

A search's raw scores are cosine similarities (whose useful range depends on
the model and on whether the query is words or a picture) or, for two-phase
searches, fused rank scores: values on different scales that mean nothing to
a person side by side. The pages show each result's match instead: its raw
score as a share of the best score of the same ranking, so 100 is the best
result of this search, a result half as close scores 50, and nothing scores
below 0. (Placing scores between the lowest and the highest instead gave the
weakest of two near-identical results a match of 0.) A ranking whose best
score is not positive falls back to that min-max placing. Raw values stay in
the API and in the page's "Details".

No Django here: the views pass the ranking's scores in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class MatchScale:
    low: float
    high: float

    @classmethod
    def of(cls, scores: Iterable[float | None]) -> MatchScale:
        """The scale of one ranking (pinned results have no score and are left out)."""
        known = [float(s) for s in scores if s is not None]
        if not known:
            return cls(0.0, 0.0)
        return cls(min(known), max(known))

    def percent(self, score: float | None) -> int | None:
        """The match of one raw score, 0-100 (None for a pinned result without a score)."""
        if score is None:
            return None
        if self.high > 0:
            share = float(score) / self.high
        elif self.high > self.low:
            share = (float(score) - self.low) / (self.high - self.low)
        else:
            return 100  # one result, or all equal: each is as good as the best
        return round(100 * min(1.0, max(0.0, share)))
