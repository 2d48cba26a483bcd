"""Who gets what from every REST endpoint: one row per endpoint, one column per role.

Objects a caller may not see answer 404 (their existence is not leaked);
objects a caller may see but not change answer 403; a caller without
credentials is told to authenticate with 401 and `WWW-Authenticate: Token`
(TokenAuthentication is the first authentication class, so DRF answers 401
rather than 403, see "Unauthorized and Forbidden responses" in DRF's
authentication guide).
"""

from __future__ import annotations

import io

import pytest
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.test import APIClient

from cbir_site import api_urls
from galleries.models import Gallery, Image, Membership
from indexing.embedding import images_embed
from tests.factories import PASSWORD, GalleryFactory, png_bytes, upload

pytestmark = pytest.mark.django_db

ROLES = ("owner", "editor", "viewer", "org_member", "outsider", "anonymous")
MEMBERS = ("owner", "editor", "viewer")
NOT_SEEN = ("org_member", "outsider", "anonymous")
HANDLED = ("get", "post", "put", "patch", "delete")

# 401 for every request that needs credentials and has none.
UNAUTHENTICATED = 401
ASSISTANT_OFF = 404  # "The query assistant is off." (code assistant_off)


def _read(ok: int = 200) -> dict[str, int]:
    """A read on the private gallery: members may, everybody else finds nothing."""
    return {**{r: ok for r in MEMBERS}, **{r: 404 for r in NOT_SEEN}}


def _write(owner: int, editor: int) -> dict[str, int]:
    """A write on the private gallery: the viewer sees it but may not change it."""
    return {
        "owner": owner,
        "editor": editor,
        "viewer": 403,
        "org_member": 404,
        "outsider": 404,
        "anonymous": UNAUTHENTICATED,
    }


def _members_only(ok: int) -> dict[str, int]:
    """Member lists need a signed-in caller first, then a member of the gallery."""
    return {
        **{r: ok for r in MEMBERS},
        "org_member": 404,
        "outsider": 404,
        "anonymous": UNAUTHENTICATED,
    }


def _anyone(ok: int) -> dict[str, int]:
    return {r: ok for r in ROLES}


def _signed_in(ok: int) -> dict[str, int]:
    return {**{r: ok for r in ROLES if r != "anonymous"}, "anonymous": UNAUTHENTICATED}


def _owners_session(ok: int) -> dict[str, int]:
    """A search session is its user's alone (here the owner's): anyone else finds nothing."""
    return {**{r: 404 for r in ROLES}, "owner": ok, "anonymous": UNAUTHENTICATED}


def _staff_only() -> dict[str, int]:
    return {**{r: 403 for r in ROLES}, "anonymous": UNAUTHENTICATED}


# (url name, method): {role: expected status}
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("api:token-obtain", "post"): {**_anyone(200), "anonymous": 400},
    ("api:token-revoke", "delete"): _signed_in(204),
    ("api:gallery-list", "get"): _anyone(200),
    ("api:gallery-list", "post"): _signed_in(201),
    ("api:gallery-detail", "get"): _read(),
    ("api:gallery-detail", "patch"): _write(owner=200, editor=403),
    ("api:gallery-detail", "delete"): _write(owner=204, editor=403),
    ("api:gallery-members", "get"): _members_only(200),
    ("api:gallery-members", "post"): _write(owner=201, editor=403),
    ("api:gallery-member-detail", "patch"): _write(owner=200, editor=403),
    ("api:gallery-member-detail", "delete"): _write(owner=204, editor=403),
    ("api:gallery-images", "get"): _read(),
    ("api:gallery-images", "post"): _write(owner=201, editor=201),
    ("api:gallery-status", "get"): _read(),
    ("api:image-detail", "get"): _read(),
    ("api:image-detail", "delete"): _write(owner=204, editor=204),
    ("api:image-file", "get"): _read(),
    ("api:image-thumbnail", "get"): _read(),
    ("api:image-captions", "get"): _read(),
    ("api:image-captions", "post"): _write(owner=201, editor=403),
    ("api:image-caption-detail", "delete"): _write(owner=204, editor=403),
    ("api:search", "post"): _read(),  # restricted to the private gallery by slug
    ("api:encoder", "get"): _anyone(200),
    ("api:session-list", "get"): _signed_in(200),
    ("api:session-detail", "get"): _owners_session(200),
    ("api:session-detail", "delete"): _owners_session(204),
    ("api:gallery-images-delete", "post"): _write(owner=200, editor=200),
    ("api:gallery-images-download", "post"): _read(),
    ("api:session-iteration", "get"): _owners_session(200),
    ("api:session-judgements", "post"): _owners_session(201),
    ("api:session-refine", "post"): _owners_session(201),
    # Explanations of a session's result: its owner only (pending until the worker draws it).
    ("api:session-explain", "get"): _owners_session(202),
    ("api:session-explain-overlay", "get"): _owners_session(409),
    # Staff only: the cutoff calibrations of a model (no role here is staff).
    ("api:cutoffs", "get"): _signed_in(403),
    # The query assistant is off unless configured: signed-in callers are told so.
    ("api:assist", "post"): _signed_in(ASSISTANT_OFF),
    ("api:assist-detail", "get"): _signed_in(404),  # an unknown request id
    # Model management: staff only (none of these roles is staff).
    ("api:model-list", "get"): _staff_only(),
    ("api:model-status", "get"): _staff_only(),
    ("api:model-prune", "post"): _staff_only(),
    ("api:model-pull", "post"): _staff_only(),
    ("api:model-verify", "post"): _staff_only(),
    ("api:model-activate", "post"): _staff_only(),
}


def _user(cast, role: str):  # type: ignore[no-untyped-def]
    return None if role == "anonymous" else getattr(cast, role)


def _request(cast, image: Image, name: str, method: str, role: str) -> dict:  # type: ignore[no-untyped-def]
    """URL and body for one cell of the matrix."""
    slug = cast.gallery.slug
    session = _owners_session_for(cast, image) if name.startswith("api:session-") else None
    kwargs = {
        "api:gallery-detail": {"slug": slug},
        "api:gallery-members": {"slug": slug},
        "api:gallery-member-detail": {"slug": slug, "user_id": cast.viewer.pk},
        "api:gallery-images": {"slug": slug},
        "api:gallery-status": {"slug": slug},
        "api:gallery-images-delete": {"slug": slug},
        "api:gallery-images-download": {"slug": slug},
        "api:image-detail": {"image_id": image.pk},
        "api:image-file": {"image_id": image.pk},
        "api:image-thumbnail": {"image_id": image.pk},
        "api:image-captions": {"image_id": image.pk},
        "api:image-caption-detail": {
            "image_id": image.pk,
            "caption_id": _caption_for(image) if name == "api:image-caption-detail" else 0,
        },
        "api:session-detail": {"session_id": getattr(session, "pk", None)},
        "api:session-iteration": {"session_id": getattr(session, "pk", None), "number": 0},
        "api:session-judgements": {"session_id": getattr(session, "pk", None)},
        "api:session-refine": {"session_id": getattr(session, "pk", None)},
        "api:session-explain": {
            "session_id": getattr(session, "pk", None),
            "number": 0,
            "image_id": image.pk,
        },
        "api:session-explain-overlay": {
            "session_id": getattr(session, "pk", None),
            "number": 0,
            "image_id": image.pk,
        },
        "api:assist-detail": {"request_id": "00000000-0000-4000-8000-000000000000"},
        "api:model-pull": {"key": "bundled"},
        "api:model-verify": {"key": "bundled"},
        "api:model-activate": {"key": "bundled"},
    }.get(name, {})
    bodies = {
        ("api:token-obtain", "post"): {
            "username": getattr(_user(cast, role), "username", "nobody"),
            "password": PASSWORD,
        },
        ("api:gallery-list", "post"): {"name": "New gallery"},
        ("api:gallery-detail", "patch"): {"description": "changed"},
        ("api:gallery-members", "post"): {"username": cast.org_member.username, "role": "viewer"},
        ("api:gallery-member-detail", "patch"): {"role": "editor"},
        ("api:search", "post"): {"text": "red", "galleries": [slug]},
        ("api:session-judgements", "post"): {"image_id": image.pk, "label": "relevant"},
        ("api:image-captions", "post"): {"text": "a red square"},
        ("api:session-refine", "post"): {"pseudo_positives": 1},
        ("api:gallery-images-delete", "post"): {"ids": [image.pk]},
        ("api:gallery-images-download", "post"): {"ids": [image.pk]},
        ("api:assist", "post"): {"text": "a red square"},
    }
    request = {"path": reverse(name, kwargs=kwargs)}
    if (name, method) == ("api:gallery-images", "post"):
        request.update(
            data={"files": [_file(png_bytes((10, 200, 30)), "new.png")]}, format="multipart"
        )
    elif (name, method) in bodies:
        request.update(data=bodies[(name, method)], format="json")
    return request


def _caption_for(image: Image) -> int:
    from feedback.expansion_service import caption_add
    from indexing.runtime import get_encoder

    return caption_add(image=image, text="a caption", user=None, encoder=get_encoder()).pk


def _owners_session_for(cast, image: Image):  # type: ignore[no-untyped-def]
    from feedback.services import search_session_start
    from search.request import SearchRequest

    images_embed(image_ids=[image.pk])
    session, _, _ = search_session_start(
        user=cast.owner, request=SearchRequest(text="red", gallery_slugs=["private"])
    )
    return session


def _file(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


@pytest.fixture
def image(cast) -> Image:  # type: ignore[no-untyped-def]
    return upload(cast.gallery, png_bytes((250, 10, 10)), name="red.png", user=cast.owner)


def _patterns(patterns: list) -> list[URLPattern]:  # type: ignore[type-arg]
    """Every route, with the apps' own url modules (explain, assistant) included."""
    flat = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            flat.extend(_patterns(pattern.url_patterns))
        else:
            assert isinstance(pattern, URLPattern)
            flat.append(pattern)
    return flat


def test_matrix_covers_every_api_endpoint_and_method():
    routed = set()
    for pattern in _patterns(api_urls.urlpatterns):
        view = pattern.callback.view_class
        for method in HANDLED:
            if hasattr(view, method):
                routed.add((f"api:{pattern.name}", method))
    assert routed == set(MATRIX)


@pytest.mark.parametrize(
    ("name", "method", "role", "expected"),
    [(n, m, r, s) for (n, m), row in MATRIX.items() for r, s in row.items()],
    ids=lambda v: v.removeprefix("api:") if isinstance(v, str) else str(v),
)
def test_each_role_gets_the_expected_status_from_every_endpoint(
    cast, client_for, image, name, method, role, expected
):  # type: ignore[no-untyped-def]
    client = client_for(_user(cast, role))
    response = getattr(client, method)(**_request(cast, image, name, method, role))
    assert response.status_code == expected, getattr(response, "data", response)


def test_unauthenticated_write_asks_for_a_token(cast, client_for):
    response = client_for(None).patch(
        reverse("api:gallery-detail", args=["private"]), {"description": "x"}, format="json"
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert Gallery.objects.get(slug="private").description == ""


def test_browser_session_still_works_and_still_needs_the_csrf_token(cast):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(cast.owner)
    url = reverse("api:gallery-detail", args=["private"])
    assert client.get(url).status_code == 200
    refused = client.patch(url, {"description": "no csrf"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.data["detail"]
    assert Gallery.objects.get(slug="private").description == ""


def test_denied_writes_change_nothing(cast, client_for, image):
    for role in ("viewer", "org_member", "outsider", "anonymous"):
        client = client_for(_user(cast, role))
        client.patch(
            reverse("api:gallery-detail", args=["private"]), {"name": "hacked"}, format="json"
        )
        client.delete(reverse("api:image-detail", args=[image.pk]))
        client.delete(reverse("api:gallery-member-detail", args=["private", cast.owner.pk]))
    assert Gallery.objects.get(slug="private").name != "hacked"
    assert Image.objects.filter(pk=image.pk).exists()
    assert Membership.objects.filter(gallery=cast.gallery, user=cast.owner, role="owner").exists()


def test_outsider_cannot_tell_a_hidden_gallery_from_a_missing_one(cast, client_for):
    client = client_for(cast.outsider)
    hidden = client.get(reverse("api:gallery-detail", args=["private"]))
    missing = client.get(reverse("api:gallery-detail", args=["no-such-gallery"]))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.data["code"] == missing.data["code"] == "not_found"


def test_gallery_list_shows_only_galleries_the_caller_may_see(cast, client_for):
    def slugs(role: str) -> set[str]:
        response = client_for(_user(cast, role)).get(reverse("api:gallery-list"))
        return {g["slug"] for g in response.data["results"]}

    for role in MEMBERS:
        assert "private" in slugs(role)
    for role in NOT_SEEN:
        assert "private" not in slugs(role)


# ---------------------------------------------------------------- organisation and public galleries


@pytest.fixture
def org_gallery(cast) -> Gallery:  # type: ignore[no-untyped-def]
    return GalleryFactory(
        slug="team",
        visibility=Gallery.Visibility.ORGANISATION,
        organisation=cast.organisation,
        owner=cast.owner,
    )


def test_organisation_gallery_is_readable_by_organisation_member_not_outsider(
    cast, client_for, org_gallery
):  # type: ignore[no-untyped-def]
    image = upload(org_gallery, png_bytes((0, 255, 0)))
    paths = [
        reverse("api:gallery-detail", args=["team"]),
        reverse("api:gallery-images", args=["team"]),
        reverse("api:gallery-status", args=["team"]),
        reverse("api:image-detail", args=[image.pk]),
        reverse("api:image-file", args=[image.pk]),
    ]
    member, outsider = client_for(cast.org_member), client_for(cast.outsider)
    for path in paths:
        assert member.get(path).status_code == 200, path
        assert outsider.get(path).status_code == 404, path


def test_organisation_member_may_read_but_not_change_an_organisation_gallery(
    cast, client_for, org_gallery
):  # type: ignore[no-untyped-def]
    client = client_for(cast.org_member)
    patch = client.patch(reverse("api:gallery-detail", args=["team"]), {"name": "x"}, format="json")
    post = client.post(
        reverse("api:gallery-images", args=["team"]),
        {"files": [_file(png_bytes(), "a.png")]},
        format="multipart",
    )
    assert (patch.status_code, post.status_code) == (403, 403)
    assert not org_gallery.images.exists()


def test_public_gallery_is_readable_by_anonymous_but_not_writable(cast, client_for):
    gallery = GalleryFactory(slug="open", visibility=Gallery.Visibility.PUBLIC, owner=cast.owner)
    image = upload(gallery, png_bytes((0, 0, 255)))
    anonymous = client_for(None)
    for path in (
        reverse("api:gallery-detail", args=["open"]),
        reverse("api:gallery-images", args=["open"]),
        reverse("api:image-detail", args=[image.pk]),
        reverse("api:image-file", args=[image.pk]),
        reverse("api:image-thumbnail", args=[image.pk]),
    ):
        assert anonymous.get(path).status_code == 200, path
    assert (
        anonymous.delete(reverse("api:image-detail", args=[image.pk])).status_code
        == UNAUTHENTICATED
    )
    # A signed-in stranger sees it too, and still may not change it.
    outsider = client_for(cast.outsider)
    assert outsider.get(reverse("api:gallery-detail", args=["open"])).status_code == 200
    assert outsider.delete(reverse("api:image-detail", args=[image.pk])).status_code == 403
    assert Image.objects.filter(pk=image.pk).exists()


# ---------------------------------------------------------------- search respects visibility


def _search(client, **body) -> list[dict]:  # type: ignore[no-untyped-def]
    response = client.post(reverse("api:search"), body, format="json")
    assert response.status_code == 200, response.data
    return [hit["image"] for hit in response.data["results"]]


@pytest.fixture
def red_world(cast):  # type: ignore[no-untyped-def]
    """The reddest images sit in the private gallery; paler reds in a public one.

    Sizes differ so that images of one colour are distinct files (the fake
    encoder only sees the mean colour).
    """
    hidden = [
        upload(cast.gallery, png_bytes((255, 0, 0), size=(20 + i, 20)), name=f"hidden{i}.png")
        for i in range(5)
    ]
    public = GalleryFactory(slug="open", visibility=Gallery.Visibility.PUBLIC, owner=cast.owner)
    visible = [
        upload(public, png_bytes((200, 90 + 10 * i, 90 + 10 * i)), name=f"pale{i}.png")
        for i in range(3)
    ]
    blue = upload(public, png_bytes((0, 0, 255)), name="blue.png")
    images_embed(image_ids=[i.pk for i in (*hidden, *visible, blue)])
    return {"hidden": hidden, "visible": visible, "blue": blue}


def test_search_never_returns_images_from_galleries_the_caller_may_not_see(
    cast, client_for, red_world
):  # type: ignore[no-untyped-def]
    hidden = {i.pk for i in red_world["hidden"]}
    for role in NOT_SEEN:
        found = {hit["id"] for hit in _search(client_for(_user(cast, role)), text="red", k=50)}
        assert found and not found & hidden, role
    # The same query from a member does reach them: the filter, not the data, hid them.
    found = {hit["id"] for hit in _search(client_for(cast.viewer), text="red", k=50)}
    assert hidden <= found


def test_search_returns_k_visible_images_when_closer_hidden_images_exist(
    cast, client_for, red_world
):  # type: ignore[no-untyped-def]
    k = 3
    hits = _search(client_for(cast.outsider), text="red", k=k)
    assert [hit["id"] for hit in hits] == [i.pk for i in red_world["visible"]]
    assert all(hit["gallery"] == "open" for hit in hits)


def test_search_restricted_to_a_hidden_gallery_is_not_found(cast, client_for, red_world):
    response = client_for(cast.outsider).post(
        reverse("api:search"), {"text": "red", "galleries": ["private"]}, format="json"
    )
    assert response.status_code == 404


def test_search_by_example_of_a_hidden_image_is_not_found(cast, client_for, red_world):
    response = client_for(cast.outsider).post(
        reverse("api:search"), {"image_id": red_world["hidden"][0].pk}, format="json"
    )
    assert response.status_code == 404
