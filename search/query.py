"""A search's query encoded into vectors.

A query (search/request.py SearchRequest) has positive parts (text, uploaded
example images, stored example images) and negative ones ("not like this":
text, stored images), each with a weight. They are encoded once; the
composition (weighted sum or two-phase) decides how the vectors are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from cbir_site.errors import InvalidInputError, PayloadTooLargeError
from galleries import selectors
from galleries.decoding import image_decode
from galleries.imaging import ImageRejected
from galleries.models import Image
from indexing.encoders.base import Encoder
from indexing.models import Embedding
from indexing.runtime import encode_query_texts
from search.compose import Part, weighted_sum
from search.request import QueryKind, SearchRequest


@dataclass(frozen=True)
class EncodedQuery:
    text: np.ndarray | None
    examples: np.ndarray  # (n, d) uploaded and stored examples
    negative_text: np.ndarray | None
    negatives: np.ndarray  # (m, d) stored negative examples
    example_images: list[Image] = field(default_factory=list)
    kinds: list[QueryKind] = field(default_factory=list)

    @property
    def excluded_ids(self) -> set[int]:
        """Stored examples are not results of their own query."""
        return {i.pk for i in self.example_images}

    def text_side(self, spec: SearchRequest) -> np.ndarray:
        """The words, minus the unwanted words (the first phase of two_phase)."""
        assert self.text is not None
        parts = [Part(self.text, spec.text_weight)]
        if self.negative_text is not None:
            parts.append(Part(self.negative_text, -spec.negative_share))
        try:
            return weighted_sum(parts)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc

    def summed(self, spec: SearchRequest) -> np.ndarray:
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
            parts.append(Part(vector, -spec.negative_share / len(negatives)))
        try:
            return weighted_sum(parts)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc


def encode_query(
    spec: SearchRequest, encoder: Encoder, user: AbstractBaseUser | AnonymousUser
) -> EncodedQuery:
    stored = [selectors.image_get_visible(user, image_id=i) for i in spec.image_ids]
    unwanted = [selectors.image_get_visible(user, image_id=i) for i in spec.negative_image_ids]
    texts = [t for t in (spec.text, spec.negative_text) if t is not None]
    # encode_query_texts remembers the texts' vectors per process.
    vectors: np.ndarray | list[np.ndarray] = encode_query_texts(encoder, texts) if texts else []
    text_vectors = dict(zip(texts, vectors, strict=True))
    examples = []
    kinds = [QueryKind.TEXT] if spec.text else []
    if spec.image_data is not None:
        examples.append(encoder.encode_images([_decode_upload(spec.image_data, encoder)])[0])
        kinds.append(QueryKind.IMAGE)
    examples += [_stored_vector(encoder, image) for image in stored]
    kinds += [QueryKind.IMAGE_ID] * len(stored)
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
