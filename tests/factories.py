"""factory_boy factories and image builders for tests."""

from __future__ import annotations

import io

import factory
from django.contrib.auth import get_user_model
from PIL import Image as PILImage

from galleries import services
from galleries.models import Gallery, Membership, Organisation

PASSWORD = "correct horse battery staple"


def png_bytes(color=(255, 0, 0), size=(64, 48), fmt: str = "PNG", **save_kwargs) -> bytes:  # type: ignore[no-untyped-def]
    img = PILImage.new("RGB", size, color)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()


def jpeg_bytes(color=(0, 0, 255), size=(64, 48)) -> bytes:  # type: ignore[no-untyped-def]
    return png_bytes(color, size, fmt="JPEG", quality=90)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password(PASSWORD)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class GalleryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Gallery
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Gallery {n}")
    slug = factory.Sequence(lambda n: f"gallery-{n}")
    visibility = Gallery.Visibility.PRIVATE

    @factory.post_generation
    def owner(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create and extracted is not None:
            Membership.objects.create(gallery=self, user=extracted, role=Membership.Role.OWNER)


def add_member(gallery: Gallery, user, role: str) -> Membership:  # type: ignore[no-untyped-def]
    return Membership.objects.create(gallery=gallery, user=user, role=role)


def upload(gallery: Gallery, data: bytes | None = None, *, name: str = "img.png", user=None):  # type: ignore[no-untyped-def]
    """Store an image through the real upload service (no enqueue); return the Image."""
    outcome = services.image_upload(
        gallery=gallery,
        user=user,
        stream=io.BytesIO(data if data is not None else png_bytes()),
        filename=name,
        enqueue=False,
    )
    assert outcome.status == "created", outcome
    return outcome.image
