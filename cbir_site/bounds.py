"""The range of every number a user may send or set, defined once.

Models (validators, so the admin's forms refuse them), DRF serializers
(min_value/max_value, shown in the OpenAPI schema), HTML forms and the services
(for callers that bypass the forms) all take their limits from here, so each
door refuses the same values. Every bound is closed and finite: NaN and the
infinities are outside all of them. README.md ("Numbers and their ranges")
lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

from cbir_site.config import site_config
from cbir_site.errors import InvalidInputError


def validate_finite(value: float) -> None:
    """NaN passes MinValueValidator and MaxValueValidator (every comparison is False)."""
    if value is not None and not math.isfinite(value):
        raise ValidationError("Enter a finite number.", code="invalid")


@dataclass(frozen=True)
class Bound:
    minimum: float
    maximum: float
    integer: bool = False

    @property
    def limits(self) -> dict[str, Any]:
        """min_value/max_value for a DRF serializer field or a Django form field."""
        return {"min_value": self.minimum, "max_value": self.maximum}

    def validators(self) -> list[Any]:
        """Django validators for a model field."""
        return [validate_finite, MinValueValidator(self.minimum), MaxValueValidator(self.maximum)]

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        return f"{kind} from {_plain(self.minimum)} to {_plain(self.maximum)}"

    def contains(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        return math.isfinite(value) and self.minimum <= value <= self.maximum

    def check(self, name: str, value: object) -> None:
        """For services: InvalidInputError (400 through the API) naming the field."""
        if not self.contains(value):
            raise InvalidInputError(f"{name} must be {self.describe()}.", code="out_of_range")


def _plain(number: float) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


# Query weights: each part's share of a composed query (search/compose.py). A negative weight
# would turn "like this" into "not like this", which the negative parts already say; above 10
# one part only drowns the others, which 10 against 1 already does.
WEIGHT = Bound(0.0, 10.0)
# Two-phase: M, the text results the example images re-rank.
FIRST_PHASE = Bound(1, 10_000, integer=True)
# Pages of a thresholded result (at most CBIR_THRESHOLD_MAX_RESULTS hits in all).
PAGE = Bound(1, 1_000_000, integer=True)
# Per-gallery overrides of the dynamic threshold T_g = T_static + w (m_g - M): distances between
# unit vectors lie in [0, 2]; a negative w would lower the cutoff of the galleries whose images
# lie further apart, the opposite of its purpose.
THRESHOLD_STATIC = Bound(0.0, 2.0)
THRESHOLD_WEIGHT = Bound(0.0, 10.0)
THRESHOLD_NEIGHBOURS = Bound(1, 1000, integer=True)
TEXT_RELEVANCE_CENTRE = Bound(-10.0, 20.0)  # log-odds offset, z threshold
TEXT_RELEVANCE_WEIGHT = Bound(0.0, 10.0)
# Rocchio: q' = alpha q + beta centroid(relevant) - gamma centroid(non-relevant).
ROCCHIO_WEIGHT = Bound(0.0, 10.0)
# Pseudo-relevance feedback: the top P results taken as relevant (0: off).
PSEUDO_POSITIVES = Bound(0, 50, integer=True)

# Query assistant: rephrasings asked of the language model (assistant/core.py keeps at most 8).
ASSIST_K = Bound(1, 8, integer=True)


def k_bound() -> Bound:
    """Results per search (and page size): up to the deployment's CBIR_SEARCH_MAX_K."""
    return Bound(1, site_config().search_max_k, integer=True)


MAX_IMAGE_ID = 2**63 - 1  # a bigint primary key: larger numbers would fail in the query


def parse_image_id(text: str) -> int | None:
    """A stored image's id from a request value, or None (also for "²" and 10**30)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_IMAGE_ID:
        return None
    return int(text)
