"""Image files and thumbnails: their own rate, validators, cache headers, and still 404 when
the caller may not see the image (a 304 must not confirm it exists)."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from rest_framework.throttling import SimpleRateThrottle

from galleries.file_http import PRIVATE_MAX_AGE_S, PUBLIC_MAX_AGE_S
from galleries.models import Gallery, Image
from tests.factories import GalleryFactory, jpeg_bytes, png_bytes

pytestmark = pytest.mark.django_db

THUMB = re.compile(r'src="(/api/v1/images/\d+/thumbnail/)"')


@pytest.fixture
def rates(monkeypatch, settings):
    """Throttles on, with the anonymous API rate far below a gallery page's 48 thumbnails.

    tests/conftest.py lifts every rate for the session. DRF's throttles read their rates
    from a class attribute bound at import, so the test sets that as well as the setting.
    """

    def set_rates(**overrides: str) -> dict[str, str]:
        chosen = {
            "anon": "5/min",
            "user": "5/min",
            "search": "5/min",
            "upload": "5/min",
            "login": "5/min",
            "thumbnail": "2000/min",
            **overrides,
        }
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": chosen}
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", chosen)
        cache.clear()  # the throttles' counters live in the default cache (Redis)
        return chosen

    set_rates()
    yield set_rates
    cache.clear()


def upload(gallery: Gallery, data: bytes, *, name: str = "img.png") -> Image:
    """A stored image as the upload service leaves it (file, JPEG thumbnail, row), written
    directly: these tests are about serving, and a gallery page needs 48 of them."""
    digest = hashlib.sha256(data).hexdigest()
    file = default_storage.save(f"test-files/{digest}.png", ContentFile(data))
    thumb = default_storage.save(f"test-files/{digest}-t.jpg", ContentFile(jpeg_bytes()))
    return Image.objects.create(
        gallery=gallery,
        file=file,
        thumbnail=thumb,
        original_filename=name,
        sha256=digest,
        byte_size=len(data),
        width=64,
        height=48,
        format="PNG",
    )


def _gallery(visibility: str, owner, images: int = 1):  # type: ignore[no-untyped-def]
    gallery = GalleryFactory(visibility=visibility, owner=owner)
    stored = [
        upload(gallery, png_bytes(color=(i % 256, i // 256, 7)), name=f"p{i}.png")
        for i in range(images)
    ]
    return gallery, stored


def _thumbnail(image) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/images/{image.pk}/thumbnail/"


def _file(image) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/images/{image.pk}/file/"


def test_anonymous_visitor_of_a_public_gallery_page_gets_every_thumbnail(cast, rates):
    gallery, images = _gallery(Gallery.Visibility.PUBLIC, cast.owner, images=48)
    visitor = Client()
    page = visitor.get(f"/galleries/{gallery.slug}/")
    assert page.status_code == 200
    urls = THUMB.findall(page.content.decode())
    assert sorted(urls) == sorted(_thumbnail(i) for i in images)
    more = [urls[n % len(urls)] for n in range(100)]
    codes = [visitor.get(url).status_code for url in [*urls, *more]]
    assert codes == [200] * 148
    # The anonymous API rate really is 5/min: the thumbnails escaped it, nothing else does.
    listing = [visitor.get("/api/v1/galleries/").status_code for _ in range(6)]
    assert listing[-1] == 429


def test_thumbnail_scope_has_a_limit_of_its_own_for_users_and_visitors(cast, rates):
    rates(thumbnail="3/min", anon="1000/min", user="1000/min")
    _, (image,) = _gallery(Gallery.Visibility.PUBLIC, cast.owner)
    visitor, member = Client(), Client()
    member.force_login(cast.owner)
    for client in (visitor, member):
        codes = [client.get(_thumbnail(image)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
    blocked = visitor.get(_file(image))  # the original shares the scope
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0


def test_a_matching_etag_gets_304_without_the_file_being_read(cast, rates):
    _, (image,) = _gallery(Gallery.Visibility.PUBLIC, cast.owner)
    visitor = Client()
    first = visitor.get(_thumbnail(image))
    assert first.status_code == 200
    assert first["ETag"] == f'"{image.sha256}-thumb"'
    original = visitor.get(_file(image))
    assert original["ETag"] == f'"{image.sha256}"'

    default_storage.delete(image.thumbnail.name)  # from now on, only a 304 can succeed
    again = visitor.get(_thumbnail(image), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == first["Cache-Control"]
    weak_in_a_list = f'"other", W/{first["ETag"]}'
    assert visitor.get(_thumbnail(image), HTTP_IF_NONE_MATCH=weak_in_a_list).status_code == 304
    assert visitor.get(_thumbnail(image)).status_code == 404  # the file really is gone


def test_a_stale_or_foreign_etag_gets_the_full_image(cast, rates):
    _, (image,) = _gallery(Gallery.Visibility.PUBLIC, cast.owner)
    visitor = Client()
    for stale in ('"0000"', f'"{image.sha256}"'):  # the original's tag is not the thumbnail's
        response = visitor.get(_thumbnail(image), HTTP_IF_NONE_MATCH=stale)
        assert response.status_code == 200
        assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"  # a JPEG


def test_an_invisible_image_is_404_even_with_its_correct_etag(cast, rates):
    image = upload(cast.gallery, png_bytes(color=(1, 2, 3)))  # private gallery
    member = Client()
    member.force_login(cast.viewer)
    tag = member.get(_thumbnail(image))["ETag"]
    assert member.get(_thumbnail(image), HTTP_IF_NONE_MATCH=tag).status_code == 304
    outsider = Client()
    outsider.force_login(cast.outsider)
    for client in (Client(), outsider):
        for url, etag in ((_thumbnail(image), tag), (_file(image), f'"{image.sha256}"')):
            for header in (etag, "*"):
                response = client.get(url, HTTP_IF_NONE_MATCH=header)
                assert response.status_code == 404
                assert "ETag" not in response


def test_only_public_galleries_are_cacheable_by_shared_caches(cast, rates):
    public, (shown,) = _gallery(Gallery.Visibility.PUBLIC, cast.owner)
    private_image = upload(cast.gallery, png_bytes(color=(9, 9, 9)))
    org = GalleryFactory(
        visibility=Gallery.Visibility.ORGANISATION, organisation=cast.organisation, owner=cast.owner
    )
    org_image = upload(org, png_bytes(color=(8, 8, 8)))
    member = Client()
    member.force_login(cast.viewer)
    colleague = Client()
    colleague.force_login(cast.org_member)

    public_headers = Client().get(_thumbnail(shown))["Cache-Control"]
    assert public_headers == f"public, max-age={PUBLIC_MAX_AGE_S}, immutable"
    for client, image in ((member, private_image), (colleague, org_image)):
        for url in (_thumbnail(image), _file(image)):
            assert client.get(url)["Cache-Control"] == f"private, max-age={PRIVATE_MAX_AGE_S}"

    public.visibility = Gallery.Visibility.PRIVATE  # made private: no longer public, nor shared
    public.save()
    assert Client().get(_thumbnail(shown)).status_code == 404
    owner = Client()
    owner.force_login(cast.owner)
    assert owner.get(_thumbnail(shown))["Cache-Control"].startswith("private,")


def test_download_asks_the_browser_to_save_the_original(cast):
    cast.gallery.visibility = Gallery.Visibility.PUBLIC
    cast.gallery.save()
    data = png_bytes((10, 200, 10))
    from tests.factories import upload

    image = upload(cast.gallery, data, name="green leaf.png")
    shown = Client().get(f"/api/v1/images/{image.pk}/file/")
    assert shown["Content-Disposition"].startswith("inline;")
    saved = Client().get(f"/api/v1/images/{image.pk}/file/?download=1")
    assert saved.status_code == 200
    assert saved["Content-Disposition"] == "attachment; filename*=UTF-8''green%20leaf.png"
    assert b"".join(saved.streaming_content) == data
    cast.gallery.visibility = Gallery.Visibility.PRIVATE
    cast.gallery.save()
    assert Client().get(f"/api/v1/images/{image.pk}/file/?download=1").status_code == 404
