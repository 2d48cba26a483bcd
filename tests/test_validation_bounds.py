"""Every number a user may send or set is finite and in its range (cbir_site/bounds.py).

The same values are refused at each door: the REST API (400 with detail and code), the
HTML forms (a form error), the admin (a field error, nothing saved), the model's own
validation and the services (for callers that bypass all of those).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from cbir_site import bounds
from cbir_site.errors import InvalidInputError
from feedback.models import SearchSession
from feedback.rocchio import RocchioParams, rocchio
from feedback.services import search_session_refine, search_session_start
from indexing.runtime import active_model_name
from search.compose import Part, weighted_sum
from search.cutoffs import gallery_overrides
from search.query import EncodedQuery
from search.request import SearchRequest
from search.services import search_images

pytestmark = pytest.mark.django_db

# Values no weight may take: overflowing, not numbers, infinite, negative.
BAD_WEIGHTS = [1e308, "1e308", "NaN", "nan", "Infinity", "-inf", -1, -1e308, 10.5]
BAD_INTEGERS = {
    "k": [0, 10**9, -1],
    "page": [0, -1, 10**9],
    "page_size": [0, 10**9],
    "first_phase": [0, 10**9],
}


def search_api(client, **fields):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/search/", {"text": "red", **fields}, format="json")


# ---------------------------------------------------------------- the bounds themselves


def test_a_bound_refuses_non_finite_and_out_of_range_values():
    assert bounds.WEIGHT.contains(0) and bounds.WEIGHT.contains(10.0)
    for value in (math.nan, math.inf, -math.inf, -0.001, 10.001, 1e308, True, "1", None):
        assert not bounds.WEIGHT.contains(value), value
    assert not bounds.PAGE.contains(1.0)  # integer bounds want integers
    with pytest.raises(InvalidInputError, match="text_weight must be a number from 0 to 10"):
        bounds.WEIGHT.check("text_weight", 1e308)


# ---------------------------------------------------------------- the REST API


@pytest.mark.parametrize("name", ["text_weight", "image_weight", "negative_weight"])
@pytest.mark.parametrize("value", BAD_WEIGHTS)
def test_the_search_api_refuses_a_bad_weight(client_for, name, value):
    response = search_api(client_for(None), **{name: value})
    assert response.status_code == 400, response.content
    body = response.json()
    assert name in body and body["code"] == "invalid" and body["detail"].startswith(name)


def test_the_search_api_accepts_the_ends_of_the_weight_range(client_for):
    response = search_api(client_for(None), text_weight=10, negative_weight=0, mode="topk")
    assert response.status_code == 200, response.content


def test_a_json_nan_literal_is_refused_by_the_parser(client_for):
    body = '{"text": "red", "text_weight": NaN}'
    response = client_for(None).post("/api/v1/search/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_multipart_weights_are_bounded_too(client_for):
    response = client_for(None).post(
        "/api/v1/search/", {"text": "red", "text_weight": "inf"}, format="multipart"
    )
    assert response.status_code == 400 and "text_weight" in response.json()


@pytest.mark.parametrize(
    "name, value", [(n, v) for n, values in BAD_INTEGERS.items() for v in values]
)
def test_the_search_api_refuses_out_of_range_integers(client_for, name, value):
    response = search_api(client_for(None), **{name: value})
    assert response.status_code == 400, response.content
    assert name in response.json() and response.json()["code"] == "invalid"


@pytest.fixture
def session_id(cast, client_for) -> str:  # type: ignore[no-untyped-def]
    response = search_api(client_for(cast.viewer), mode="topk")
    assert response.status_code == 200, response.content
    return response.json()["session"]


@pytest.mark.parametrize("name", ["alpha", "beta", "gamma"])
@pytest.mark.parametrize("value", BAD_WEIGHTS)
def test_the_refine_api_refuses_a_bad_rocchio_weight(cast, client_for, session_id, name, value):
    response = client_for(cast.viewer).post(
        f"/api/v1/search/sessions/{session_id}/refine/", {name: value}, format="json"
    )
    assert response.status_code == 400 and name in response.json()
    assert SearchSession.objects.get(pk=session_id).iterations.count() == 1


@pytest.mark.parametrize("value", [-1, 51, 10**9])
def test_the_refine_api_bounds_pseudo_feedback(cast, client_for, session_id, value):
    response = client_for(cast.viewer).post(
        f"/api/v1/search/sessions/{session_id}/refine/",
        {"pseudo_positives": value},
        format="json",
    )
    assert response.status_code == 400 and "pseudo_positives" in response.json()


@pytest.mark.parametrize("query", [{"page": "0"}, {"page": "-1"}, {"page_size": str(10**9)}])
def test_iteration_pages_are_bounded_like_search_pages(cast, client_for, session_id, query):
    response = client_for(cast.viewer).get(
        f"/api/v1/search/sessions/{session_id}/iterations/0/", query
    )
    assert response.status_code == 400 and response.json()["code"] == "out_of_range"
    assert next(iter(query)) in response.json()["detail"]


def test_the_openapi_schema_documents_the_ranges(client_for):
    response = client_for(None).get("/api/schema/", {"format": "json"})
    schemas = json.loads(response.content)["components"]["schemas"]
    search = schemas["SearchInputRequest"]["properties"]
    assert search["text_weight"]["minimum"] == 0 and search["text_weight"]["maximum"] == 10
    assert search["k"]["maximum"] == bounds.k_bound().maximum
    assert search["page"]["maximum"] == bounds.PAGE.maximum
    refine = schemas["RefineInputRequest"]["properties"]
    assert refine["gamma"]["maximum"] == 10 and refine["pseudo_positives"]["maximum"] == 50


# ---------------------------------------------------------------- the HTML forms


@pytest.mark.parametrize("name", ["text_weight", "image_weight", "negative_weight"])
@pytest.mark.parametrize("value", ["1e308", "NaN", "Infinity", "-1", "-1e308"])
def test_the_search_page_shows_a_bad_weight_as_a_form_error(db, name, value):
    response = Client().get("/search/", {"q": "red", "mode": "topk", name: value})
    assert response.status_code == 400
    assert f'name="{name}"' in response.content.decode()
    assert "errorlist" in response.content.decode()


@pytest.mark.parametrize("name, value", [("k", "0"), ("k", str(10**9)), ("page", "-1")])
def test_the_search_page_refuses_out_of_range_integers(db, name, value):
    response = Client().get("/search/", {"q": "red", "mode": "static", name: value})
    assert response.status_code == 400 and "errorlist" in response.content.decode()


@pytest.mark.parametrize("value", ["1e308", "NaN", "Infinity", "-1"])
def test_the_refine_form_refuses_a_bad_weight(cast, session_id, value):
    client = Client()
    client.force_login(cast.viewer)
    data = {"source": "marks", "judged": "none", "pseudo_positives": 3}
    data.update({"alpha": value, "beta": 0.75, "gamma": 0.15})
    response = client.post(f"/search/sessions/{session_id}/refine/", data, follow=True)
    assert "Check the refinement settings" in response.content.decode()
    assert SearchSession.objects.get(pk=session_id).iterations.count() == 1


# ---------------------------------------------------------------- the model and the admin


@pytest.mark.parametrize(
    "field, value",
    [
        ("threshold_static_text", -5.0),
        ("threshold_static_image", 2.5),
        ("threshold_weight", -1e308),
        ("threshold_weight", math.nan),
        ("threshold_weight", math.inf),
        ("threshold_neighbours", 0),
        ("threshold_neighbours", 5000),
    ],
)
def test_the_model_refuses_out_of_range_thresholds(cast, field, value):
    setattr(cast.gallery, field, value)
    with pytest.raises(ValidationError) as raised:
        cast.gallery.full_clean()
    assert field in raised.value.message_dict


@pytest.fixture
def staff(cast):  # type: ignore[no-untyped-def]
    """The gallery's owner, staff without model permissions: a collection manager."""
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(cast.owner)
    return client


def _change_form(client: Client, page: str, **changes: str) -> dict[str, str]:
    """The change form as the admin renders it (members included), with `changes` applied."""
    context = client.get(page).context
    forms = [context["adminform"].form]
    for inline in context["inline_admin_formsets"]:
        forms.append(inline.formset.management_form)
        forms += [f for f in inline.formset.forms if f.instance.pk]  # not the blank extra rows
    data = {}
    for form in forms:
        for field in form:
            value = field.value()
            if value not in (None, False):
                data[field.html_name] = "" if value is True else str(value)
    for inline in context["inline_admin_formsets"]:
        total = sum(1 for f in inline.formset.forms if f.instance.pk)
        data[f"{inline.formset.prefix}-TOTAL_FORMS"] = str(total)
    return {**data, **changes}


@pytest.mark.parametrize(
    "field, value",
    [
        ("threshold_static_text", "-5"),
        ("threshold_static_image", "2.01"),
        ("threshold_weight", "-1e308"),
        ("threshold_weight", "1e308"),
        ("threshold_weight", "NaN"),
        ("threshold_static_text", "Infinity"),
        ("threshold_neighbours", "0"),
        ("threshold_neighbours", "1001"),
    ],
)
def test_the_admin_refuses_bad_threshold_overrides(cast, staff, field, value):
    page = reverse("admin:galleries_gallery_change", args=[cast.gallery.pk])
    response = staff.post(page, _change_form(staff, page, **{field: value}))
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    cast.gallery.refresh_from_db()
    assert getattr(cast.gallery, field) is None


def test_the_admin_saves_thresholds_in_range(cast, staff):
    page = reverse("admin:galleries_gallery_change", args=[cast.gallery.pk])
    form = _change_form(
        staff,
        page,
        threshold_static_text="2",
        threshold_static_image="0",
        threshold_weight="10",
        threshold_neighbours="1000",
    )
    response = staff.post(page, form)
    assert response.status_code == 302
    # Stored as overrides of the active model, not on the gallery's row (search/cutoffs.py).
    overrides = gallery_overrides(gallery=cast.gallery, model_name=active_model_name())
    assert overrides == {"static_text": 2, "static_image": 0, "weight": 10, "neighbours": 1000}
    cast.gallery.refresh_from_db()
    assert cast.gallery.threshold_weight is None


# ---------------------------------------------------------------- the services


@pytest.mark.parametrize("name", ["text_weight", "image_weight", "negative_weight"])
@pytest.mark.parametrize("value", [1e308, math.nan, math.inf, -1.0])
def test_the_search_service_refuses_a_bad_weight(db, name, value):
    with pytest.raises(InvalidInputError, match=name) as raised:
        search_images(user=AnonymousUser(), request=SearchRequest(text="red", **{name: value}))
    assert raised.value.code == "out_of_range"


@pytest.mark.parametrize("value", [0, 10**9])
def test_the_search_service_refuses_a_bad_first_phase(cast, value):
    with pytest.raises(InvalidInputError, match="first_phase"):
        search_images(
            user=cast.viewer, request=SearchRequest(text="red", image_ids=[1], first_phase=value)
        )


@pytest.mark.parametrize(
    "params, pseudo",
    [
        (RocchioParams(alpha=math.nan), 0),
        (RocchioParams(beta=1e308), 0),
        (RocchioParams(gamma=-1.0), 0),
        (None, 10**9),
        (None, -1),
    ],
)
def test_the_refine_service_refuses_bad_parameters(cast, params, pseudo):
    session, _, _ = search_session_start(
        user=cast.viewer, request=SearchRequest(text="red", mode="topk")
    )
    with pytest.raises(InvalidInputError):
        search_session_refine(
            session=session, user=cast.viewer, params=params, pseudo_positives=pseudo
        )
    assert session.iterations.count() == 1


# ---------------------------------------------------------------- the arithmetic


def test_an_overflowing_sum_is_refused_like_parts_that_cancel_out():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    with pytest.raises(ValueError, match="cancel out"):
        weighted_sum([Part(a, 1e308), Part(b, 1e308)])
    with pytest.raises(ValueError, match="cancel out"):
        weighted_sum([Part(a, math.nan)])
    assert np.allclose(weighted_sum([Part(a, 10.0), Part(b, 10.0)]), [0.7071, 0.7071], atol=1e-4)


def test_a_spec_that_skipped_cleaning_still_cannot_search_with_a_zero_vector():
    encoded = EncodedQuery(
        text=np.array([1.0, 0.0], dtype=np.float32),
        examples=np.array([[0.0, 1.0]], dtype=np.float32),
        negative_text=None,
        negatives=np.zeros((0, 2), dtype=np.float32),
    )
    spec = SearchRequest(text="red", text_weight=1e308, image_weight=1e308)  # not .cleaned()
    with pytest.raises(InvalidInputError, match="cancel out"):
        encoded.summed(spec)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_rocchio_refuses_an_overflowing_query():
    with pytest.raises(ValueError, match="zero vector"):
        rocchio(
            np.array([1.0, 0.0]),
            np.array([[1.0, 0.0]]),
            np.zeros((0, 2)),
            RocchioParams(alpha=1e308, beta=1e308),
        )
