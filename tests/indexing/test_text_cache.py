"""Query texts are encoded once per process and encoder, in a bounded LRU."""

from __future__ import annotations

import numpy as np
import pytest

from indexing import runtime
from indexing.encoders.fake import FakeEncoder
from search.request import SearchRequest
from search.services import search_images


class Counting(FakeEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []

    def encode_texts(self, texts):  # type: ignore[no-untyped-def]
        self.encoded += list(texts)
        return super().encode_texts(texts)


@pytest.fixture(autouse=True)
def fresh(settings):
    settings.CBIR_TEXT_CACHE_SIZE = 3
    runtime.reset_for_tests()
    yield
    runtime.reset_for_tests()


def test_a_repeated_text_is_encoded_once_and_gives_the_same_vector():
    encoder = Counting()
    first = runtime.encode_query_texts(encoder, ["a red car", "blue"])
    again = runtime.encode_query_texts(encoder, ["blue", "a red car", "blue"])
    assert encoder.encoded == ["a red car", "blue"]
    np.testing.assert_array_equal(again, first[[1, 0, 1]])
    np.testing.assert_array_equal(first, FakeEncoder().encode_texts(["a red car", "blue"]))
    again[0] = 0  # callers get their own array: the remembered vector is untouched
    np.testing.assert_array_equal(runtime.encode_query_texts(encoder, ["blue"])[0], first[1])


def test_the_least_recently_used_text_goes_first_when_full():
    encoder = Counting()
    for text in ("red", "green", "blue", "red", "white"):  # "red" was used again: green goes
        runtime.encode_query_texts(encoder, [text])
    encoder.encoded.clear()
    runtime.encode_query_texts(encoder, ["red", "blue", "white"])
    assert encoder.encoded == []
    runtime.encode_query_texts(encoder, ["green"])
    assert encoder.encoded == ["green"]


def test_exact_text_and_encoder_both_make_the_key(settings):
    one, other = Counting(), Counting()
    runtime.encode_query_texts(one, ["Red"])
    runtime.encode_query_texts(one, ["red"])
    runtime.encode_query_texts(other, ["red"])
    assert one.encoded == ["Red", "red"] and other.encoded == ["red"]
    settings.CBIR_TEXT_CACHE_SIZE = 0  # off: every call encodes
    runtime.encode_query_texts(other, ["red"])
    assert other.encoded == ["red", "red"]


@pytest.mark.django_db
def test_a_search_repeated_or_paged_does_not_encode_its_text_again(cast, monkeypatch):
    encoded: list[str] = []
    texts = FakeEncoder.encode_texts
    monkeypatch.setattr(
        FakeEncoder, "encode_texts", lambda self, t: encoded.extend(t) or texts(self, t)
    )
    search_images(user=cast.viewer, request=SearchRequest(text="something green", k=3))
    search_images(user=cast.viewer, request=SearchRequest(text="something green", k=3, page=2))
    search_images(
        user=cast.viewer,
        request=SearchRequest(text="something red", negative_text="something green", k=3),
    )
    assert encoded == ["something green", "something red"]
