import pytest
from django.test import Client
from django.urls import reverse

from feedback.services import judgement_record, search_session_start
from galleries.models import Gallery
from search.embedding import images_embed
from tests.factories import UserFactory, png_bytes, upload

pytestmark = pytest.mark.django_db


def test_probe(cast):
    image = upload(cast.gallery, png_bytes((250, 5, 5)), name="red.png")
    images_embed(image_ids=[image.pk])
    session, _, _ = search_session_start(user=cast.viewer, text="red", mode="topk", k=5)
    judgement_record(session=session, user=cast.viewer, image_id=image.pk, label="relevant")
    cast.owner.is_staff = True
    cast.owner.save()
    for user in (cast.owner,):
        client = Client()
        client.force_login(user)
        page = client.get(reverse("admin:galleries_gallery_delete", args=[cast.gallery.pk]))
        c = page.content.decode()
        print(page.status_code, c[c.find("<h1") :][:1500])
        page = client.post(
            reverse("admin:galleries_gallery_changelist"),
            {"action": "delete_selected", "_selected_action": [cast.gallery.pk]},
        )
        c = page.content.decode()
        print(page.status_code, c[c.find("<h1") :][:1500])
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    page = client.post(
        reverse("admin:galleries_gallery_delete", args=[cast.gallery.pk]), {"post": "yes"}
    )
    print(page.status_code, Gallery.objects.count())
