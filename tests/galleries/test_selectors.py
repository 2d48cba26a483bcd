"""Who sees and changes what, decided in one place."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from cbir_site.errors import NotFoundError, PermissionDeniedError
from galleries import selectors
from galleries.models import Gallery
from tests.factories import GalleryFactory, UserFactory, upload

pytestmark = pytest.mark.django_db


def visible_slugs(user) -> set[str]:
    return set(selectors.galleries_visible_to(user).values_list("slug", flat=True))


def test_private_gallery_is_visible_to_members_only(cast):
    for member in (cast.owner, cast.editor, cast.viewer):
        assert "private" in visible_slugs(member)
    for stranger in (cast.org_member, cast.outsider, AnonymousUser()):
        assert "private" not in visible_slugs(stranger)


def test_organisation_gallery_is_visible_to_organisation_members(cast):
    GalleryFactory(
        slug="shared", visibility=Gallery.Visibility.ORGANISATION, organisation=cast.organisation
    )
    assert "shared" in visible_slugs(cast.org_member)
    assert "shared" not in visible_slugs(cast.outsider)
    assert "shared" not in visible_slugs(AnonymousUser())


def test_public_gallery_is_visible_to_everyone_including_anonymous(cast):
    GalleryFactory(slug="open", visibility=Gallery.Visibility.PUBLIC)
    for user in (cast.outsider, cast.viewer, AnonymousUser()):
        assert "open" in visible_slugs(user)


def test_inactive_user_sees_only_public_galleries(cast):
    GalleryFactory(slug="open", visibility=Gallery.Visibility.PUBLIC)
    cast.viewer.is_active = False
    assert visible_slugs(cast.viewer) == {"open"}


def test_superuser_sees_every_gallery(cast):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert "private" in visible_slugs(admin)


def test_visible_galleries_are_not_repeated_by_joins(cast):
    GalleryFactory(
        slug="shared", visibility=Gallery.Visibility.ORGANISATION, organisation=cast.organisation
    )
    slugs = list(selectors.galleries_visible_to(cast.owner).values_list("slug", flat=True))
    assert len(slugs) == len(set(slugs))


def test_edit_rights_belong_to_owners_and_editors(cast):
    editable = selectors.galleries_editable_by
    assert editable(cast.owner).filter(pk=cast.gallery.pk).exists()
    assert editable(cast.editor).filter(pk=cast.gallery.pk).exists()
    assert not editable(cast.viewer).filter(pk=cast.gallery.pk).exists()
    assert not editable(AnonymousUser()).exists()


def test_invisible_gallery_is_not_found_not_forbidden(cast):
    with pytest.raises(NotFoundError):
        selectors.gallery_get_visible(cast.outsider, slug="private")
    with pytest.raises(PermissionDeniedError):
        selectors.gallery_get_editable(cast.viewer, slug="private")
    with pytest.raises(PermissionDeniedError):
        selectors.gallery_get_managed(cast.editor, slug="private")


def test_images_follow_their_gallery(cast):
    image = upload(cast.gallery)
    assert selectors.image_get_visible(cast.viewer, image_id=image.pk) == image
    with pytest.raises(NotFoundError):
        selectors.image_get_visible(cast.outsider, image_id=image.pk)
    with pytest.raises(PermissionDeniedError):
        selectors.image_get_editable(cast.viewer, image_id=image.pk)
    assert selectors.image_get_editable(cast.editor, image_id=image.pk) == image
