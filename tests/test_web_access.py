"""Who gets what from every page of the web UI and the admin.

One row per page, one column per role: owner / editor / viewer of the
private gallery, a member of its organisation who is not in the gallery, an
outsider, and an anonymous visitor. Pages of objects one may not see answer
404; pages that need an account send anonymous visitors to sign in (302).
The REST API has its own matrix (tests/galleries/test_api_permissions.py).
"""

from __future__ import annotations

import pytest
from django.test import Client

from feedback.services import search_session_start
from indexing.embedding import images_embed
from search.request import SearchRequest
from tests.factories import GalleryFactory, png_bytes, upload

pytestmark = pytest.mark.django_db

ROLES = ("owner", "editor", "viewer", "org_member", "outsider", "anonymous")
LOGIN = 302  # anonymous: redirected to the sign-in page


def row(owner, editor, viewer, org_member, outsider, anonymous):  # type: ignore[no-untyped-def]
    return dict(zip(ROLES, (owner, editor, viewer, org_member, outsider, anonymous), strict=True))


# (method, path template): expected status per role. {image}, {session}: the cast's objects.
PAGES = {
    ("get", "/"): row(302, 302, 302, 302, 302, 302),
    ("get", "/healthz"): row(200, 200, 200, 200, 200, 200),
    ("get", "/accounts/login/"): row(200, 200, 200, 200, 200, 200),
    ("get", "/galleries/"): row(200, 200, 200, 200, 200, 200),
    ("get", "/galleries/private/"): row(200, 200, 200, 404, 404, 404),
    ("post", "/galleries/private/upload/"): row(302, 302, 403, 404, 404, LOGIN),
    ("get", "/images/{image}/"): row(200, 200, 200, 404, 404, 404),
    ("post", "/images/{image}/delete/"): row(302, 302, 403, 404, 404, LOGIN),
    ("get", "/search/"): row(200, 200, 200, 200, 200, 200),
    # An uploaded example's thumbnail: only for the browser session that uploaded it
    # (tests/search/test_kept_example.py); a token no session of theirs holds is 404 for all.
    ("get", "/search/example/not-kept/"): row(404, 404, 404, 404, 404, 404),
    ("get", "/search/sessions/"): row(200, 200, 200, 200, 200, LOGIN),
    ("get", "/search/sessions/{session}/"): row(200, 404, 404, 404, 404, LOGIN),
    ("post", "/search/sessions/{session}/refine/"): row(302, 404, 404, 404, 404, LOGIN),
    ("post", "/search/sessions/{session}/delete/"): row(302, 404, 404, 404, 404, LOGIN),
    # Bulk actions: delete (owners and editors), download (anyone who sees the gallery).
    ("post", "/galleries/private/bulk/"): row(302, 302, 403, 404, 404, 404),
    ("post", "/galleries/shared/bulk/"): row(200, 200, 200, 200, 404, 404),
    ("post", "/galleries/open/bulk/"): row(200, 200, 200, 200, 200, 200),
    ("get", "/api/docs/"): row(200, 200, 200, 200, 200, 200),
    ("get", "/api/schema/"): row(200, 200, 200, 200, 200, 200),
    ("post", "/accounts/logout/"): row(302, 302, 302, 302, 302, 302),
    # A gallery shared with the organisation (the owner's only; the others are org members)
    ("get", "/galleries/shared/"): row(200, 200, 200, 200, 404, 404),
    ("post", "/galleries/shared/upload/"): row(302, 403, 403, 403, 404, LOGIN),
    ("get", "/images/{shared_image}/"): row(200, 200, 200, 200, 404, 404),
    ("post", "/images/{shared_image}/delete/"): row(302, 403, 403, 403, 404, LOGIN),
    # A public gallery (the owner's only)
    ("get", "/galleries/open/"): row(200, 200, 200, 200, 200, 200),
    ("post", "/galleries/open/upload/"): row(302, 403, 403, 403, 403, LOGIN),
    ("get", "/images/{public_image}/"): row(200, 200, 200, 200, 200, 200),
    ("post", "/images/{public_image}/delete/"): row(302, 403, 403, 403, 403, LOGIN),
    # The admin: staff only (the owner is made staff below, the others are not).
    ("get", "/admin/"): row(200, 302, 302, 302, 302, 302),
    ("get", "/admin/login/"): row(302, 200, 200, 200, 200, 200),  # staff: on to the admin
    ("get", "/admin/galleries/gallery/"): row(200, 302, 302, 302, 302, 302),
    ("get", "/admin/galleries/gallery/{gallery}/change/"): row(200, 302, 302, 302, 302, 302),
    ("get", "/admin/galleries/image/{image}/change/"): row(200, 302, 302, 302, 302, 302),
    ("get", "/admin/feedback/judgement/"): row(200, 302, 302, 302, 302, 302),
    ("get", "/admin/feedback/searchsession/"): row(403, 302, 302, 302, 302, 302),
    ("get", "/admin/galleries/organisation/"): row(403, 302, 302, 302, 302, 302),
}


@pytest.fixture
def objects(cast):  # type: ignore[no-untyped-def]
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    image = upload(cast.gallery, png_bytes((250, 0, 0)), name="red.png")
    images_embed(image_ids=[image.pk])
    session, _, _ = search_session_start(
        user=cast.owner, request=SearchRequest(text="red", mode="topk")
    )
    shared = GalleryFactory(
        slug="shared", organisation=cast.organisation, owner=cast.owner, visibility="organisation"
    )
    public = GalleryFactory(slug="open", owner=cast.owner, visibility="public")
    return {
        "image": image.pk,
        "session": session.pk,
        "gallery": cast.gallery.pk,
        "shared_image": upload(shared, png_bytes((0, 250, 0)), name="green.png").pk,
        "public_image": upload(public, png_bytes((0, 0, 250)), name="blue.png").pk,
    }


def client(cast, role: str) -> Client:  # type: ignore[no-untyped-def]
    c = Client()
    if role != "anonymous":
        c.force_login(getattr(cast, role))
    return c


BODIES = {
    "/galleries/private/upload/": {},
    "/galleries/private/bulk/": {"action": "delete-confirmed", "ids": "{image}"},
    "/galleries/shared/bulk/": {"action": "download", "ids": "{shared_image}"},
    "/galleries/open/bulk/": {"action": "download", "ids": "{public_image}"},
    "/search/sessions/{session}/refine/": {
        "source": "pseudo",
        "judged": "none",
        "pseudo_positives": 1,
        "alpha": 1,
        "beta": 0.75,
        "gamma": 0.15,
    },
}


@pytest.mark.parametrize(
    ("method", "path", "role", "expected"),
    [(m, p, r, s) for (m, p), statuses in PAGES.items() for r, s in statuses.items()],
)
def test_each_role_gets_the_expected_status_from_every_page(
    cast, objects, method, path, role, expected
):  # type: ignore[no-untyped-def]
    url = path.format(**objects)
    if method == "post":
        body = {k: str(v).format(**objects) for k, v in BODIES.get(path, {}).items()}
        response = client(cast, role).post(url, body)
    else:
        response = client(cast, role).get(url)
    assert response.status_code == expected, (url, role, response.status_code)
    if expected == LOGIN and method == "post" and role == "anonymous":
        assert "/accounts/login/" in response["Location"] or "/admin/login/" in response["Location"]


def test_a_refused_delete_leaves_the_image(cast, objects):
    from galleries.models import Image

    for role in ("viewer", "org_member", "outsider", "anonymous"):
        for image in ("image", "shared_image", "public_image"):
            client(cast, role).post(f"/images/{objects[image]}/delete/")
        for slug, image in (
            ("private", "image"),
            ("shared", "shared_image"),
            ("open", "public_image"),
        ):
            body = {"action": "delete-confirmed", "ids": objects[image]}
            client(cast, role).post(f"/galleries/{slug}/bulk/", body)
    assert Image.objects.count() == 3


def test_every_web_route_has_a_row():
    """A new page must join the matrix (admin routes are covered by their model admins)."""
    from django.urls import get_resolver

    def walk(patterns, prefix=""):  # type: ignore[no-untyped-def]
        for p in patterns:
            route = prefix + str(p.pattern)
            if hasattr(p, "url_patterns"):
                if route.startswith(("admin/", "api/v1/")):
                    continue
                yield from walk(p.url_patterns, route)
            else:
                yield route

    covered = {path for _, path in PAGES}
    templates = {
        "": "/",
        "galleries/": "/galleries/",
        "galleries/<slug:slug>/": "/galleries/private/",
        "galleries/<slug:slug>/upload/": "/galleries/private/upload/",
        "images/<int:image_id>/": "/images/{image}/",
        "images/<int:image_id>/delete/": "/images/{image}/delete/",
        "search/": "/search/",
        "search/sessions/": "/search/sessions/",
        "search/example/<str:token>/": "/search/example/not-kept/",
        "search/sessions/<uuid:session_id>/": "/search/sessions/{session}/",
        "search/sessions/<uuid:session_id>/refine/": "/search/sessions/{session}/refine/",
        "search/sessions/<uuid:session_id>/delete/": "/search/sessions/{session}/delete/",
        "galleries/<slug:slug>/bulk/": "/galleries/private/bulk/",
        "accounts/login/": "/accounts/login/",
        "admin/login/": "/admin/login/",  # ahead of the admin's own routes: rate-limited
        "accounts/logout/": "/accounts/logout/",
        "api/schema/": "/api/schema/",
        "api/docs/": "/api/docs/",
        "healthz": "/healthz",
        "readyz": None,  # covered by tests/test_health.py
    }
    routes = set(walk(get_resolver().url_patterns))
    assert routes == set(templates), routes ^ set(templates)
    assert {t for t in templates.values() if t} <= covered
