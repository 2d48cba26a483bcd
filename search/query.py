"""What a search asks for, and its encoding into vectors.

A query has positive parts (text, uploaded example images, stored example
images) and negative ones ("not like this": text, stored images), each with
a weight. They are encoded once; the composition (weighted sum or two-phase)
decides how the vectors are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from cbir_site import bounds
from cbir_site.errors import InvalidInputError, PayloadTooLargeError
from galleries import selectors
from galleries.decoding import image_decode
from galleries.imaging import ImageRejected
from galleries.models import Image
from indexing.encoders.base import Encoder
from indexing.models import Embedding
from indexing.runtime import encode_query_texts
from search.compose import Part, weighted_sum
from search.config import search_config

MAX_QUERY_CHARS = 1000
MAX_EXAMPLES = 16
COMPOSITIONS = ("sum", "two_phase")


@dataclass(frozen=True)
class QuerySpec:
    text: str | None = None
    image_data: bytes | None = None  # one uploaded example image
    image_id: int | None = None  # one stored example image ("find similar")
    image_ids: Sequence[int] = ()  # more stored examples
    negative_text: str | None = None
    negative_image_ids: Sequence[int] = ()
    text_weight: float = 1.0
    image_weight: float = 1.0  # shared by all example images
    # Shared by all negative parts; default CBIR_NEGATIVE_WEIGHT.
    negative_weight: float = field(default_factory=lambda: search_config().negative_weight)
    composition: str = "sum"  # sum | two_phase
    fusion: str = "log_vote"  # two_phase: log_vote | rrf
    first_phase: int | None = None  # two_phase: M, the text results re-ranked

    def cleaned(self) -> QuerySpec:
        text = (self.text or "").strip() or None
        negative = (self.negative_text or "").strip() or None
        for value in (text, negative):
            if value is not None and len(value) > MAX_QUERY_CHARS:
                raise InvalidInputError(
                    f"A text query is longer than {MAX_QUERY_CHARS} characters."
                )
        examples = list(
            dict.fromkeys([*([self.image_id] if self.image_id else []), *self.image_ids])
        )
        if len(examples) + len(self.negative_image_ids) > MAX_EXAMPLES:
            raise InvalidInputError(f"At most {MAX_EXAMPLES} example images per query.")
        if text is None and self.image_data is None and not examples:
            raise InvalidInputError("Give a text query, an example image, or both.")
        if self.composition not in COMPOSITIONS:
            raise InvalidInputError(f"composition must be one of {', '.join(COMPOSITIONS)}.")
        if self.composition == "two_phase" and (
            text is None or (self.image_data is None and not examples)
        ):
            raise InvalidInputError("two_phase needs a text query and at least one example image.")
        if self.fusion not in ("log_vote", "rrf"):
            raise InvalidInputError("fusion must be log_vote or rrf.")
        for name in ("text_weight", "image_weight", "negative_weight"):
            bounds.WEIGHT.check(name, getattr(self, name))
        if self.first_phase is not None:
            bounds.FIRST_PHASE.check("first_phase", self.first_phase)
        return QuerySpec(
            text=text,
            image_data=self.image_data,
            image_ids=tuple(examples),
            negative_text=negative,
            negative_image_ids=tuple(dict.fromkeys(self.negative_image_ids)),
            text_weight=self.text_weight,
            image_weight=self.image_weight,
            negative_weight=self.negative_weight,
            composition=self.composition,
            fusion=self.fusion,
            first_phase=self.first_phase,
        )


@dataclass(frozen=True)
class EncodedQuery:
    text: np.ndarray | None
    examples: np.ndarray  # (n, d) uploaded and stored examples
    negative_text: np.ndarray | None
    negatives: np.ndarray  # (m, d) stored negative examples
    example_images: list[Image] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    @property
    def excluded_ids(self) -> set[int]:
        """Stored examples are not results of their own query."""
        return {i.pk for i in self.example_images}

    def text_side(self, spec: QuerySpec) -> np.ndarray:
        """The words, minus the unwanted words (the first phase of two_phase)."""
        assert self.text is not None
        parts = [Part(self.text, spec.text_weight)]
        if self.negative_text is not None:
            parts.append(Part(self.negative_text, -spec.negative_weight))
        try:
            return weighted_sum(parts)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc

    def summed(self, spec: QuerySpec) -> np.ndarray:
        """Every part in one vector: the weighted sum."""
        parts = []
        if self.text is not None:
            parts.append(Part(self.text, spec.text_weight))
        for vector in self.examples:
            parts.append(Part(vector, spec.image_weight / len(self.examples)))
        negatives = [
            *([self.negative_text] if self.negative_text is not None else []),
            *self.negatives,
        ]
        for vector in negatives:
            parts.append(Part(vector, -spec.negative_weight / len(negatives)))
        try:
            return weighted_sum(parts)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc


def encode_query(
    spec: QuerySpec, encoder: Encoder, user: AbstractBaseUser | AnonymousUser
) -> EncodedQuery:
    stored = [selectors.image_get_visible(user, image_id=i) for i in spec.image_ids]
    unwanted = [selectors.image_get_visible(user, image_id=i) for i in spec.negative_image_ids]
    texts = [t for t in (spec.text, spec.negative_text) if t is not None]
    vectors = encode_query_texts(encoder, texts) if texts else []  # remembered per process
    text_vectors = dict(zip(texts, vectors, strict=True))
    examples = []
    kinds = ["text"] if spec.text else []
    if spec.image_data is not None:
        examples.append(encoder.encode_images([_decode_upload(spec.image_data, encoder)])[0])
        kinds.append("image")
    examples += [_stored_vector(encoder, image) for image in stored]
    kinds += ["image_id"] * len(stored)
    dim = encoder.dim
    return EncodedQuery(
        text=text_vectors.get(spec.text) if spec.text else None,
        examples=np.asarray(examples, dtype=np.float32).reshape(-1, dim),
        negative_text=text_vectors.get(spec.negative_text) if spec.negative_text else None,
        negatives=np.asarray(
            [_stored_vector(encoder, image) for image in unwanted], dtype=np.float32
        ).reshape(-1, dim),
        example_images=stored,
        kinds=kinds,
    )


def _decode_upload(data: bytes, encoder: Encoder):  # type: ignore[no-untyped-def]
    try:
        return image_decode(data, min_side=encoder.image_size)
    except ImageRejected as exc:
        error = PayloadTooLargeError if exc.code == "too_large" else InvalidInputError
        raise error(f"The example image was rejected: {exc.message}", code=exc.code) from exc


def _stored_vector(encoder: Encoder, image: Image) -> np.ndarray:
    row = (
        Embedding.objects.filter(image=image, model_name=encoder.name)
        .values_list("vector", flat=True)
        .first()
    )
    if row is not None:
        return np.asarray(row, dtype=np.float32)
    with image.file.open("rb") as fh:
        picture = image_decode(fh.read(), min_side=encoder.image_size)
    return encoder.encode_images([picture])[0]
