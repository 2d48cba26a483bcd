"""Pruning a model reaches the apps above search through `model_pruned` (search/signals.py):
feedback's refined vectors and explain's cached explanations of that model go, others stay."""

from __future__ import annotations

import pytest

from explain.models import Explanation
from feedback.models import RefinedVector
from search.signals import model_pruned
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db


def _rows(image, model_name: str) -> None:  # type: ignore[no-untyped-def]
    RefinedVector.objects.create(
        image=image,
        model_name=model_name,
        vector=[0.6, 0.8],
        cosine_to_original=0.9,
        confirmed=3,
        rejected=0,
    )
    Explanation.objects.create(image=image, model_name=model_name, query_hash="q", requested="auto")


def test_a_pruned_models_refined_vectors_and_explanations_go_and_others_stay(cast):
    image = upload(cast.gallery, png_bytes((10, 200, 30)), name="one.png")
    _rows(image, "retired-model")
    _rows(image, "active-model")
    model_pruned.send(object, model_name="retired-model")
    for model in (RefinedVector, Explanation):
        names = set(model.objects.values_list("model_name", flat=True))
        assert names == {"active-model"}, model.__name__
