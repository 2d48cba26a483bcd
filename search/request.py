"""What a search asks for: one frozen request, its options as enums, defaults in one place.

The API's serializer (search/apis.py SearchInput.to_request) and the search page's form
(search/forms.py SearchForm.to_request) both build a SearchRequest; the services
(search/services.py search_images, feedback/services.py search_session_start) take it.
Choices shown by the serializer and the form come from the enums here. The enums are
StrEnums: a member equals its value, so what the database and JSON hold is unchanged.

Defaults that are deployment settings stay None here and are resolved by the service:
k (CBIR_SEARCH_DEFAULT_K), mode (CBIR_SEARCH_DEFAULT_MODE), negative_weight
(CBIR_NEGATIVE_WEIGHT), text_cutoff (CBIR_TEXT_CUTOFF), page_size (k).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from cbir_site import bounds
from cbir_site.errors import InvalidInputError

MAX_QUERY_CHARS = 1000
MAX_EXAMPLES = 16


class Mode(StrEnum):
    """topk: the k best. The others: every hit closer than its gallery's cutoff."""

    AUTO = "auto"  # dynamic where every searched gallery has a statistic, else topk
    TOPK = "topk"
    STATIC = "static"
    DYNAMIC = "dynamic"
    QUERY = "query"  # the query-time cutoff


class Composition(StrEnum):
    SUM = "sum"  # one vector, the weighted sum of the parts
    TWO_PHASE = "two_phase"  # top M by the words, re-ranked by the example images


class Fusion(StrEnum):
    """How rankings are fused (search/fusion.py METHODS)."""

    LOG_VOTE = "log_vote"
    RRF = "rrf"


class QueryKind(StrEnum):
    """The parts a search was made of, as its result reports them (`query`)."""

    TEXT = "text"
    IMAGE = "image"  # an uploaded example image
    IMAGE_ID = "image_id"  # a stored example image
    VECTOR = "vector"  # a query vector already in the model's space (refinement)
    REPHRASINGS = "rephrasings"  # accepted assistant rephrasings, fused


class ModelRole(StrEnum):
    ACTIVE = "active"
    CANDIDATE = "candidate"  # staff only, during a model switch


def values(enum: Iterable[StrEnum]) -> list[str]:
    """The plain values, for serializer and form choices (the schema shows plain strings)."""
    return [member.value for member in enum]


def _member(enum: type[StrEnum], value: Any, message: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise InvalidInputError(message) from None


@dataclass(frozen=True)
class SearchRequest:
    """Every option of one search. Build it with keywords; strings become enum members."""

    # The query: positive parts, then "not like this" ones.
    text: str | None = None
    image_data: bytes | None = None  # one uploaded example image
    image_id: int | None = None  # one stored example image ("find similar")
    image_ids: Sequence[int] = ()  # more stored examples (kept as a tuple)
    negative_text: str | None = None
    negative_image_ids: Sequence[int] = ()
    rephrasings: Sequence[str] = ()  # accepted assistant rephrasings of `text`
    text_weight: float = 1.0
    image_weight: float = 1.0  # shared by all example images
    negative_weight: float | None = None  # shared by all negative parts; None: the setting
    composition: Composition = Composition.SUM
    fusion: Fusion = Fusion.LOG_VOTE  # two_phase and rephrasings
    first_phase: int | None = None  # two_phase: M, the text results re-ranked
    # Where and how much.
    gallery_slugs: Sequence[str] | None = None  # None: every gallery the user may see
    k: int | None = None
    mode: Mode | None = None
    page: int = 1
    page_size: int | None = None
    strict: bool = False  # a cutoff search that keeps nothing stays empty (no closest)
    text_cutoff: str | None = None  # search/text_cutoff.py valid_methods()
    model: ModelRole = ModelRole.ACTIVE
    # Result filters and sort (search/result_filters.py): a mapping or a QueryDict.
    filters: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("image_ids", "negative_image_ids", "rephrasings"):
            set_(self, name, tuple(getattr(self, name) or ()))
        if self.gallery_slugs is not None:
            set_(self, "gallery_slugs", tuple(self.gallery_slugs) or None)
        if self.mode:
            set_(self, "mode", _member(Mode, self.mode, f"mode must be one of {', '.join(Mode)}."))
        else:
            set_(self, "mode", None)
        composition = f"composition must be one of {', '.join(Composition)}."
        set_(self, "composition", _member(Composition, self.composition, composition))
        set_(self, "fusion", _member(Fusion, self.fusion, "fusion must be log_vote or rrf."))
        model = self.model or ModelRole.ACTIVE
        set_(self, "model", _member(ModelRole, model, "model must be active or candidate."))

    @property
    def example_ids(self) -> tuple[int, ...]:
        """The stored example images, `image_id` first, each once."""
        return tuple(dict.fromkeys([*([self.image_id] if self.image_id else []), *self.image_ids]))

    @property
    def negative_share(self) -> float:
        """The weight of the negative parts, once cleaned() has filled in the default."""
        assert self.negative_weight is not None, "cleaned() fills in the default"
        return self.negative_weight

    def cleaned(self, *, default_negative_weight: float) -> SearchRequest:
        """The query checked and normalised: texts stripped, examples once each, weights set.

        InvalidInputError (a 400 through the API) for a query that cannot be searched.
        """
        text = (self.text or "").strip() or None
        negative = (self.negative_text or "").strip() or None
        for value in (text, negative):
            if value is not None and len(value) > MAX_QUERY_CHARS:
                raise InvalidInputError(
                    f"A text query is longer than {MAX_QUERY_CHARS} characters."
                )
        examples = self.example_ids
        if len(examples) + len(self.negative_image_ids) > MAX_EXAMPLES:
            raise InvalidInputError(f"At most {MAX_EXAMPLES} example images per query.")
        if text is None and self.image_data is None and not examples:
            raise InvalidInputError("Give a text query, an example image, or both.")
        if self.composition == Composition.TWO_PHASE and (
            text is None or (self.image_data is None and not examples)
        ):
            raise InvalidInputError("two_phase needs a text query and at least one example image.")
        negative_weight = (
            default_negative_weight if self.negative_weight is None else self.negative_weight
        )
        for name, weight in (
            ("text_weight", self.text_weight),
            ("image_weight", self.image_weight),
            ("negative_weight", negative_weight),
        ):
            bounds.WEIGHT.check(name, weight)
        if self.first_phase is not None:
            bounds.FIRST_PHASE.check("first_phase", self.first_phase)
        return replace(
            self,
            text=text,
            image_id=None,
            image_ids=examples,
            negative_text=negative,
            negative_image_ids=tuple(dict.fromkeys(self.negative_image_ids)),
            negative_weight=negative_weight,
        )
