"""An uploaded example kept for its browser session (search/example_store.py): edit, pages,
"more like this" keep it; nobody else can use its token."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from feedback.models import SearchSession
from galleries.models import Gallery
from indexing.embedding import images_embed
from search.example_store import MAX_KEPT, SESSION_KEY
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def reds(cast):  # type: ignore[no-untyped-def]
    cast.gallery.visibility = Gallery.Visibility.PUBLIC
    cast.gallery.save()
    images = [
        upload(cast.gallery, png_bytes((250 - 30 * i, 0, 30 * i)), name=f"r{i}.png")
        for i in range(3)
    ]
    images_embed(image_ids=[i.pk for i in images])
    return images


def _post(client: Client, **fields):  # type: ignore[no-untyped-def]
    picture = SimpleUploadedFile("q.png", png_bytes((0, 0, 200)), content_type="image/png")
    return client.post("/search/", {"image": picture, "mode": "topk", **fields})


def test_a_signed_in_search_records_its_token_and_edit_search_carries_it(cast, reds):
    client = Client()
    client.force_login(cast.viewer)
    response = _post(client, q="blue")
    assert response.status_code == 302
    session = SearchSession.objects.get()
    token = session.params["example"]
    page = client.get(response["Location"]).content.decode()
    assert f"/search/example/{token}/" in page  # the thumbnail
    edit = next(
        part.split('"')[0] for part in page.split('href="')[1:] if "edit=1" in part.split('"')[0]
    )
    query = parse_qs(urlsplit(edit.replace("&amp;", "&")).query)
    assert query["example"] == [token] and query["q"] == ["blue"]
    thumb = client.get(f"/search/example/{token}/")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert thumb["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_another_user_cannot_use_or_see_the_token(cast, reds):
    owner = Client()
    owner.force_login(cast.viewer)
    _post(owner)
    token = SearchSession.objects.get().params["example"]
    stranger = Client()
    stranger.force_login(cast.editor)
    assert stranger.get(f"/search/example/{token}/").status_code == 404
    refused = stranger.get("/search/", {"example": token, "mode": "topk"})
    assert refused.status_code == 400 and "no longer kept" in refused.content.decode()
    assert SearchSession.objects.count() == 1  # no search ran


def test_a_browser_session_keeps_its_last_few_uploads_only(cast, reds):
    client = Client()
    for _ in range(MAX_KEPT + 2):
        _post(client)
    kept = client.session[SESSION_KEY]
    assert len(kept) == MAX_KEPT
    assert client.get(f"/search/example/{kept[0]}/").status_code == 200


def test_history_shows_the_kept_example_to_the_browser_that_uploaded_it_only(cast, reds):
    uploader = Client()
    uploader.force_login(cast.viewer)
    _post(uploader, q="blue")
    token = SearchSession.objects.get().params["example"]
    history = uploader.get("/search/sessions/").content.decode()
    assert f'src="/search/example/{token}/"' in history
    assert 'data-testid="history-example"' in history
    # The same member signed in elsewhere: the row stays, the picture is not offered.
    elsewhere = Client()
    elsewhere.force_login(cast.viewer)
    other = elsewhere.get("/search/sessions/").content.decode()
    assert 'data-testid="history-row"' in other
    assert token not in other and 'data-testid="history-example"' not in other
