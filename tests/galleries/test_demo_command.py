"""manage.py cbir_demo seeds real photos once, and never in production."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from galleries.models import Gallery
from galleries.samples import SAMPLE_PHOTOS

pytestmark = pytest.mark.django_db


def test_demo_creates_a_signed_in_able_user_and_a_gallery_of_sample_photos():
    call_command("cbir_demo", stdout=io.StringIO())
    gallery = Gallery.objects.get(slug="sample-photos")
    assert gallery.images.count() == len(SAMPLE_PHOTOS)
    assert gallery.visibility == "organisation" and gallery.organisation.slug == "demo"
    assert authenticate(username="demo", password="demo-password") is not None


def test_running_the_demo_twice_adds_nothing():
    call_command("cbir_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command("cbir_demo", stdout=out)
    assert Gallery.objects.get(slug="sample-photos").images.count() == len(SAMPLE_PHOTOS)
    assert "0 new photos" in out.getvalue()


def test_demo_refuses_to_run_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="development only"):
        call_command("cbir_demo", stdout=io.StringIO())
    assert not Gallery.objects.exists()
