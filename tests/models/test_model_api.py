"""/api/v1/models/: staff only, documented, clear 4xx."""

from __future__ import annotations

import pytest

from indexing.model_models import ManagedModel
from tests.factories import UserFactory
from tests.models.conftest import KEY, TINY_LOCAL_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client_for):
    return client_for(UserFactory(username="admin-user", is_staff=True))


def test_only_staff_may_use_the_models_api(client_for, cast):
    client = client_for(cast.owner)
    for method, url in [
        ("get", "/api/v1/models/"),
        ("get", "/api/v1/models/status/"),
        ("post", "/api/v1/models/bundled/activate/"),
        ("post", "/api/v1/models/clip-vit-b-32/pull/"),
        ("post", "/api/v1/models/prune/"),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == 403, (url, response.content)
        assert "staff" in response.json()["detail"]


def test_list_and_status(staff):
    listed = {m["key"]: m for m in staff.get("/api/v1/models/").json()}
    assert listed["clip-vit-b-32"]["recommended"] and not listed["clip-vit-b-32"]["present"]
    assert listed["clip-vit-b-32"]["identity"] == "open_clip:ViT-B-32/laion2b_s34b_b79k"
    assert listed["bundled"]["present"]
    status = staff.get("/api/v1/models/status/").json()
    assert status["active"]["model_name"] == "fake:colour-v1"
    assert status["candidate"] is None


def test_unknown_model_is_404_and_absent_weights_409(staff):
    response = staff.post("/api/v1/models/nope/activate/")
    assert response.status_code == 404 and "nope" in response.json()["detail"]
    response = staff.post("/api/v1/models/clip-vit-b-32/activate/")
    assert response.status_code == 409 and "pull it first" in response.json()["detail"]


def test_pull_is_queued_once_and_refused_offline(staff, hub, monkeypatch):
    response = staff.post(f"/api/v1/models/{KEY}/pull/", {"activate": False}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["pull_state"] == "queued"
    assert ManagedModel.objects.get(key=KEY).pull_state == "queued"
    again = staff.post(f"/api/v1/models/{KEY}/pull/")
    assert again.status_code == 409
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = staff.post("/api/v1/models/clip-vit-b-32/pull/")
    assert offline.status_code == 400
    assert "by hand" in offline.json()["detail"]
    bundled = staff.post("/api/v1/models/bundled/pull/")
    assert bundled.status_code == 400


def test_pulled_model_can_be_verified_and_activated(staff, hub, cast):
    from search.model_jobs import model_pull_recorded

    assert model_pull_recorded(key=KEY)["state"] == "done"
    row = ManagedModel.objects.get(key=KEY)
    assert row.pull_state == "done" and row.pull_done == row.pull_total > 0
    checks = staff.post(f"/api/v1/models/{KEY}/verify/").json()
    assert checks and all(c["ok"] for c in checks)
    status = staff.post(f"/api/v1/models/{KEY}/activate/").json()
    assert status["candidate"]["key"] == KEY
    assert status["active"]["model_name"] == "fake:colour-v1"


def test_candidate_search_through_the_api(staff, client_for, cast, managed_models):
    from indexing.embedding import images_embed
    from tests.factories import png_bytes, upload

    image = upload(cast.gallery, png_bytes((200, 10, 10)), name="r.png")
    images_embed(image_ids=[image.pk])
    assert staff.post(f"/api/v1/models/{TINY_LOCAL_KEY}/activate/").status_code == 200
    body = staff.post(
        "/api/v1/search/", {"text": "red", "model": "candidate", "k": 5}, format="json"
    ).json()
    assert body.get("model_name") == managed_models.identity(), body
    assert body["results"] == []
    refused = client_for(cast.owner).post(
        "/api/v1/search/", {"text": "red", "model": "candidate"}, format="json"
    )
    assert refused.status_code == 403


def test_schema_documents_the_models_api(staff):
    schema = staff.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/models/{key}/activate/" in text and "/api/v1/models/status/" in text


def test_admin_models_page_shows_the_catalogue_and_activates(client, cast, managed_models):
    from indexing.embedding import images_embed
    from tests.factories import png_bytes, upload

    images_embed(image_ids=[upload(cast.gallery, png_bytes((9, 9, 200)), name="b.png").pk])
    admin_user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    page = client.get("/admin/indexing/managedmodel/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "clip-vit-b-32" in text and "(recommended)" in text and TINY_LOCAL_KEY in text
    response = client.post(f"/admin/indexing/managedmodel/{TINY_LOCAL_KEY}/activate/")
    assert response.status_code == 302
    assert ManagedModel.objects.get(key=TINY_LOCAL_KEY).role == "candidate"
    page = client.get("/admin/indexing/managedmodel/").content.decode()
    assert 'id="candidate"' in page and cast.gallery.slug in page  # progress per gallery

    looker = UserFactory(username="looker", is_staff=True)
    client.force_login(looker)
    assert client.get("/admin/indexing/managedmodel/").status_code == 200
    assert (
        client.post(f"/admin/indexing/managedmodel/{TINY_LOCAL_KEY}/activate/").status_code == 403
    )


def test_gallery_status_shows_the_candidates_progress(client, client_for, cast, managed_models):
    from indexing.embedding import images_embed
    from search.model_switch import catch_up_batch, model_activate
    from tests.factories import png_bytes, upload

    images = [upload(cast.gallery, png_bytes((i * 40, 9, 9)), name=f"{i}.png") for i in range(3)]
    images_embed(image_ids=[i.pk for i in images])
    url = f"/api/v1/galleries/{cast.gallery.slug}/status/"
    assert client_for(cast.viewer).get(url).json()["candidate"] is None
    model_activate(key=TINY_LOCAL_KEY)
    status = client_for(cast.viewer).get(url).json()
    assert status["candidate"] == {
        "model_name": managed_models.identity(),
        "indexed": 0,
        "progress": 0.0,
    }
    catch_up_batch()
    status = client_for(cast.viewer).get(url).json()
    assert status["candidate"]["indexed"] == 3 and status["candidate"]["progress"] == 1.0
    assert status["indexed"] == 3 and status["model_name"] == "fake:colour-v1"
    client.force_login(cast.viewer)
    page = client.get(f"/galleries/{cast.gallery.slug}/")
    assert 'data-testid="candidate-progress"' in page.content.decode()


def test_search_page_offers_the_candidate_to_staff_only(client, cast, managed_models):
    from indexing.embedding import images_embed
    from search.model_switch import catch_up_batch, model_activate
    from tests.factories import png_bytes, upload

    image = upload(cast.gallery, png_bytes((220, 10, 10)), name="red.png")
    images_embed(image_ids=[image.pk])
    client.force_login(cast.owner)
    assert 'data-testid="model-choice"' not in client.get("/search/").content.decode()
    model_activate(key=TINY_LOCAL_KEY)
    catch_up_batch()
    assert 'data-testid="model-choice"' not in client.get("/search/").content.decode()
    cast.owner.is_staff = True
    cast.owner.save()
    assert 'data-testid="model-choice"' in client.get("/search/").content.decode()
    page = client.get("/search/", {"q": "red", "model": "candidate", "mode": "topk"})
    assert page.status_code == 200  # results on the page: no feedback session for a check
    text = page.content.decode()
    assert managed_models.identity() in text and "red.png" in text
