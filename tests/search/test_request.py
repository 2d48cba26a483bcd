"""The search request: enums, defaults, checks, and the two doors that build it."""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.http import QueryDict

from cbir_site.errors import InvalidInputError
from search.apis import SearchInput
from search.config import search_config
from search.forms import SearchForm
from search.request import Composition, Fusion, Mode, ModelRole, SearchRequest, values


def test_strings_become_enum_members_that_still_equal_their_values():
    request = SearchRequest(text="red", mode="topk", composition="two_phase", fusion="rrf")
    assert request.mode is Mode.TOPK and request.mode == "topk"
    assert request.composition is Composition.TWO_PHASE
    assert request.fusion is Fusion.RRF
    assert request.model is ModelRole.ACTIVE
    # What the database and JSON hold is unchanged.
    assert json.dumps({"mode": request.mode}) == '{"mode": "topk"}'
    assert f"fusion:{request.fusion}" == "fusion:rrf"


def test_a_blank_mode_is_the_deployment_default_and_lists_become_tuples():
    request = SearchRequest(text="red", mode="", image_ids=[3, 4], gallery_slugs=[])
    assert request.mode is None
    assert request.image_ids == (3, 4)
    assert request.gallery_slugs is None  # no gallery named: every one the user may see


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mode": "sometimes"}, "mode must be one of auto, topk, static, dynamic, query."),
        ({"composition": "product"}, "composition must be one of sum, two_phase."),
        ({"fusion": "borda"}, "fusion must be log_vote or rrf."),
        ({"model": "retired"}, "model must be active or candidate."),
    ],
)
def test_an_unknown_choice_is_refused_with_the_choices(options, message):
    with pytest.raises(InvalidInputError) as raised:
        SearchRequest(text="red", **options)
    assert raised.value.message == message


def test_the_request_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SearchRequest(text="red").k = 5  # type: ignore[misc]


def test_cleaned_strips_merges_the_examples_and_fills_the_negative_weight():
    cleaned = SearchRequest(
        text="  red  ", image_id=7, image_ids=[3, 7], negative_image_ids=[9, 9]
    ).cleaned(default_negative_weight=0.4)
    assert cleaned.text == "red"
    assert cleaned.image_id is None and cleaned.image_ids == (7, 3)
    assert cleaned.negative_image_ids == (9,)
    assert cleaned.negative_weight == 0.4
    given = SearchRequest(text="red", negative_weight=0.9).cleaned(default_negative_weight=0.4)
    assert given.negative_weight == 0.9


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"text": "   "},
        {"text": "red", "composition": "two_phase"},
        {"text": "red", "text_weight": -1.0},
        {"text": "red", "first_phase": 0},
    ],
)
def test_cleaned_refuses_a_query_that_cannot_be_searched(options):
    with pytest.raises(InvalidInputError):
        SearchRequest(**options).cleaned(default_negative_weight=0.5)


def test_the_serializer_offers_the_enum_values():
    fields = SearchInput().fields
    assert list(fields["mode"].choices) == values(Mode)
    assert list(fields["composition"].choices) == values(Composition)
    assert list(fields["fusion"].choices) == values(Fusion)
    assert list(fields["model"].choices) == values(ModelRole)


def test_the_api_and_the_form_build_the_same_request(settings):
    serializer = SearchInput(
        data={
            "text": "red",
            "image_ids": [3],
            "negative_text": "blue",
            "galleries": ["mine"],
            "k": 5,
            "mode": "topk",
            "fusion": "rrf",
        }
    )
    assert serializer.is_valid(), serializer.errors
    form_data = QueryDict(mutable=True)
    form_data.update({"q": "red", "not_q": "blue", "k": "5", "mode": "topk", "fusion": "rrf"})
    form_data.setlist("like", ["3"])
    form_data.setlist("galleries", ["mine"])
    form = SearchForm(form_data, gallery_choices=[("mine", "Mine")])
    assert form.is_valid(), form.errors
    from_api = serializer.to_request()
    from_form = form.to_request()
    assert from_api.filters == {}  # the API's result filters: none given
    assert dataclasses.replace(from_api, filters=None) == from_form
    assert from_form.negative_weight == search_config().negative_weight
