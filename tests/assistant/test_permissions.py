"""The image's description is built only from what the asking user may see."""

from __future__ import annotations

import pytest

from assistant.services import assist_compute
from feedback.models import Expansion
from galleries.models import Membership
from indexing.embedding import images_embed
from tests.factories import GalleryFactory, UserFactory, add_member, png_bytes, upload

pytestmark = pytest.mark.django_db

START = "/api/v1/assist/"
SHOWN = "harbour boats at dawn"
SECRET = "secret zebra caption"
PRIVATE_QUERY = "private query words"


def caption(image, text, *, source=Expansion.Source.CAPTION, status=Expansion.Status.APPROVED):  # type: ignore[no-untyped-def]
    return Expansion.objects.create(
        image=image,
        gallery_id=image.gallery_id,
        model_name="any",
        source=source,
        text=text,
        text_key=text.lower(),
        status=status,
    )


@pytest.fixture
def pictures(cast):
    other_owner = UserFactory(username="hidden-owner")
    hidden = GalleryFactory(slug="hidden", owner=other_owner)
    seen = upload(cast.gallery, png_bytes((200, 30, 30)), name="seen.png")
    twin = upload(hidden, png_bytes((201, 30, 30)), name="twin.png")  # its nearest neighbour
    images_embed(image_ids=[seen.pk, twin.pk])
    caption(seen, SHOWN)
    caption(seen, PRIVATE_QUERY, source=Expansion.Source.QUERY, status=Expansion.Status.ADMITTED)
    caption(twin, SECRET)
    return {"seen": seen, "twin": twin, "hidden": hidden, "other_owner": other_owner}


def composed_prompt(client, llm, image_id: int) -> str:  # type: ignore[no-untyped-def]
    body = client.post(START, {"text": "at night", "image_id": image_id}, format="json").json()
    assist_compute(request_id=body["id"])
    return "\n".join(llm.prompts())


def test_a_viewer_never_sends_captions_of_images_it_cannot_see(
    cast, client_for, assistant_on, pictures
):
    prompt = composed_prompt(client_for(cast.viewer), assistant_on, pictures["seen"].pk)
    assert SHOWN in prompt and "at night" in prompt
    assert SECRET not in prompt
    assert PRIVATE_QUERY not in prompt  # query texts are for the gallery's managers only


def test_a_user_who_sees_both_galleries_gets_the_neighbours_caption(
    cast, client_for, assistant_on, pictures
):
    add_member(pictures["hidden"], cast.viewer, Membership.Role.VIEWER)
    prompt = composed_prompt(client_for(cast.viewer), assistant_on, pictures["seen"].pk)
    assert SECRET in prompt  # the same path as above: what hid it was visibility alone


def test_the_galleries_manager_gets_its_admitted_query_texts(
    cast, client_for, assistant_on, pictures
):
    prompt = composed_prompt(client_for(cast.owner), assistant_on, pictures["seen"].pk)
    assert PRIVATE_QUERY in prompt and SECRET not in prompt


def test_an_image_the_user_cannot_see_is_not_found(cast, client_for, assistant_on, pictures):
    client = client_for(cast.outsider)
    response = client.post(START, {"text": "x", "image_id": pictures["seen"].pk}, format="json")
    assert response.status_code == 404
    assert assistant_on.requests == []
