"""Collection expansion and hot-image refinement, learned from the judgement log."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from feedback import tasks
from feedback.models import Expansion, Judgement, RefinedVector
from feedback.services import judgement_record, search_session_start
from indexing.embedding import images_embed
from indexing.models import Embedding
from search.request import SearchRequest
from search.services import search_images
from tests.factories import UserFactory, add_member, png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def rules(settings):
    settings.CBIR_EXPANSION = True
    settings.CBIR_EXPANSION_MIN_SUPPORT = 2.0
    settings.CBIR_EXPANSION_MIN_SUPPORTERS = 2
    settings.CBIR_EXPANSION_MAX_PER_IMAGE = 2
    settings.CBIR_EXPANSION_HALF_LIFE_DAYS = 30
    settings.CBIR_HOT_REFINEMENT = False


@pytest.fixture
def scene(cast):
    images = {
        name: upload(cast.gallery, png_bytes(rgb), name=f"{name}.png")
        for name, rgb in {"red": (250, 5, 5), "green": (5, 250, 5), "blue": (5, 5, 250)}.items()
    }
    images_embed(image_ids=[i.pk for i in images.values()])
    return images


def judge(user, text, image, label="relevant"):  # type: ignore[no-untyped-def]
    session, _, _ = search_session_start(
        user=user, request=SearchRequest(text=text, mode="topk", k=3)
    )
    judgement_record(session=session, user=user, image_id=image.pk, label=label)
    return session


def learn(*images) -> None:  # type: ignore[no-untyped-def]
    tasks.update_expansions.run([i.pk for i in images])


def top(user, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    hits = search_images(user=user, request=SearchRequest(text=text, mode="topk", k=3)).hits
    return [h.image.original_filename[:-4] for h in hits]


@pytest.mark.parametrize("backend", ["faiss-flat", "faiss-hnsw", "pgvector"])
def test_a_query_confirmed_by_two_users_lifts_the_image(cast, scene, settings, backend):
    settings.CBIR_INDEX_BACKEND = backend
    assert top(cast.viewer, "red")[0] == "red"
    judge(cast.viewer, "red", scene["blue"])
    learn(scene["blue"])
    assert top(cast.viewer, "red")[0] == "red"  # one user is not enough
    judge(cast.editor, "RED!", scene["blue"])  # the same text, written differently
    learn(scene["blue"])
    row = Expansion.objects.get(image=scene["blue"])
    assert (row.status, row.supporters, row.support) == ("admitted", 2, pytest.approx(2.0))
    assert top(cast.viewer, "red")[0] == "blue"
    assert top(cast.viewer, "red").count("blue") == 1  # once per image, at its best vector


def test_contradicting_feedback_removes_support(cast, scene):
    for user in (cast.viewer, cast.editor):
        judge(user, "red", scene["blue"])
    learn(scene["blue"])
    assert top(cast.viewer, "red")[0] == "blue"
    judge(cast.owner, "red", scene["blue"], label="not_relevant")
    learn(scene["blue"])
    row = Expansion.objects.get(image=scene["blue"])
    assert row.status == "candidate" and row.rejections == 1 and row.vector is None
    assert top(cast.viewer, "red")[0] == "red"


def test_a_withdrawn_judgement_no_longer_counts(cast, scene):
    sessions = [judge(user, "red", scene["blue"]) for user in (cast.viewer, cast.editor)]
    judgement_record(
        session=sessions[1], user=cast.editor, image_id=scene["blue"].pk, label="withdrawn"
    )
    learn(scene["blue"])
    assert Expansion.objects.get(image=scene["blue"]).status == "candidate"


def test_old_support_decays(cast, scene):
    for user in (cast.viewer, cast.editor):
        judge(user, "red", scene["blue"])
    Judgement.objects.update(created_at=timezone.now() - timedelta(days=60))  # two half-lives
    learn(scene["blue"])
    row = Expansion.objects.get(image=scene["blue"])
    assert row.support == pytest.approx(0.5, abs=0.01) and row.status == "candidate"


def test_each_image_keeps_at_most_the_best_supported_few(cast, scene):
    voters = [cast.viewer, cast.editor, cast.owner, UserFactory(), UserFactory()]
    for user in voters[3:]:
        add_member(cast.gallery, user, "viewer")
    plan = {"red": 5, "green": 3, "white": 2}  # text -> how many users confirm it
    for text, count in plan.items():
        for user in voters[:count]:
            judge(user, text, scene["blue"])
    learn(scene["blue"])
    statuses = dict(Expansion.objects.filter(image=scene["blue"]).values_list("text_key", "status"))
    assert statuses == {"red": "admitted", "green": "admitted", "white": "candidate"}


def test_expansion_never_shows_an_image_to_someone_who_may_not_see_it(cast, scene):
    from tests.factories import GalleryFactory

    own = GalleryFactory(slug="outsiders-own", owner=cast.outsider)  # the outsider sees this only
    theirs = upload(own, png_bytes((240, 240, 240)), name="white.png")
    images_embed(image_ids=[theirs.pk])
    for user in (cast.viewer, cast.editor):
        judge(user, "red", scene["blue"])
    learn(scene["blue"])
    assert Expansion.objects.get(image=scene["blue"]).status == "admitted"
    viewer = search_images(
        user=cast.viewer, request=SearchRequest(text="red", mode="topk", k=2)
    ).hits
    assert scene["blue"].pk in [h.image.pk for h in viewer]  # the expansion is in use
    outsider = search_images(
        user=cast.outsider, request=SearchRequest(text="red", mode="topk", k=10)
    ).hits
    assert [h.image.pk for h in outsider] == [theirs.pk]


def test_query_texts_are_never_shown_only_manager_captions_are(cast, client_for, scene):
    for user in (cast.viewer, cast.editor):
        judge(user, "a secret phrase", scene["blue"])
    learn(scene["blue"])
    viewer = client_for(cast.viewer)
    detail = viewer.get(f"/api/v1/images/{scene['blue'].pk}/").content
    captions = viewer.get(f"/api/v1/images/{scene['blue'].pk}/captions/")
    assert b"secret" not in detail and captions.json() == []
    refused = viewer.post(
        f"/api/v1/images/{scene['blue'].pk}/captions/", {"text": "x"}, format="json"
    )
    assert refused.status_code == 403
    added = client_for(cast.owner).post(
        f"/api/v1/images/{scene['blue'].pk}/captions/", {"text": "a blue square"}, format="json"
    )
    assert added.status_code == 201
    assert [
        c["text"] for c in viewer.get(f"/api/v1/images/{scene['blue'].pk}/captions/").json()
    ] == ["a blue square"]
    assert (
        client_for(cast.outsider).get(f"/api/v1/images/{scene['blue'].pk}/captions/").status_code
        == 404
    )


def test_a_manager_caption_is_searchable_at_once_and_removable(cast, client_for, scene):
    owner = client_for(cast.owner)
    url = f"/api/v1/images/{scene['green'].pk}/captions/"
    caption = owner.post(url, {"text": "red"}, format="json").json()
    assert top(cast.viewer, "red")[0] == "green"
    assert owner.delete(f"{url}{caption['id']}/").status_code == 204
    assert top(cast.viewer, "red")[0] == "red"


@pytest.mark.parametrize("backend", ["faiss-flat", "pgvector"])
def test_hot_images_move_toward_their_queries_within_the_drift_bound(
    cast, scene, settings, backend
):
    settings.CBIR_INDEX_BACKEND = backend
    settings.CBIR_HOT_REFINEMENT = True
    settings.CBIR_HOT_MIN_CONFIRMATIONS = 3
    settings.CBIR_HOT_BETA = 5.0
    settings.CBIR_HOT_MIN_COSINE = 0.8
    settings.CBIR_EXPANSION = False  # the refined vector alone
    for user in (cast.viewer, cast.editor, cast.owner):
        judge(user, "red", scene["blue"])
    original = np.asarray(Embedding.objects.get(image=scene["blue"]).vector)
    before = next(
        h.score
        for h in search_images(user=cast.viewer, request=SearchRequest(text="red", k=3)).hits
        if h.image == scene["blue"]
    )
    learn(scene["blue"])
    refined = RefinedVector.objects.get(image=scene["blue"])
    assert refined.cosine_to_original == pytest.approx(0.8, abs=1e-4)  # the bound held
    assert np.allclose(np.asarray(Embedding.objects.get(image=scene["blue"]).vector), original)
    after = next(
        h.score
        for h in search_images(user=cast.viewer, request=SearchRequest(text="red", k=3)).hits
        if h.image == scene["blue"]
    )
    assert after > before

    settings.CBIR_HOT_REFINEMENT = False  # switched off: dropped, and the index follows
    learn(scene["blue"])
    assert not RefinedVector.objects.exists()
    again = next(
        h.score
        for h in search_images(user=cast.viewer, request=SearchRequest(text="red", k=3)).hits
        if h.image == scene["blue"]
    )
    assert again == pytest.approx(before, abs=1e-5)


def test_judging_schedules_a_debounced_update(
    cast, scene, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        judge(cast.viewer, "red", scene["blue"])
        judge(cast.editor, "red", scene["blue"])
    queued = broker.lrange(django_settings.CBIR_EMBED_QUEUE, 0, -1)
    tasks_queued = [raw for raw in queued if b"update_expansions" in raw]
    assert len(tasks_queued) == 1


def test_the_index_command_recomputes_expansions_from_the_log(cast, scene, settings):
    import io

    from django.core.management import call_command

    for user in (cast.viewer, cast.editor):
        judge(user, "red", scene["blue"])
    learn(scene["blue"])
    assert Expansion.objects.get(image=scene["blue"]).status == "admitted"
    settings.CBIR_EXPANSION_MIN_SUPPORTERS = 3  # stricter rules: recompute everything
    out = io.StringIO()
    call_command("cbir_index", "expansions", "--no-progress", stdout=out)
    assert "1 images with feedback recomputed" in out.getvalue() and "1 changed" in out.getvalue()
    assert Expansion.objects.get(image=scene["blue"]).status == "candidate"


def test_an_approved_query_holds_one_place_of_the_cap_not_two(cast, scene):
    from feedback.expansion_service import expansion_set_status

    voters = [cast.viewer, cast.editor, cast.owner, UserFactory(), UserFactory()]
    for user in voters[3:]:
        add_member(cast.gallery, user, "viewer")
    for user in voters:
        judge(user, "red", scene["blue"])
    learn(scene["blue"])
    expansion_set_status(
        expansion=Expansion.objects.get(image=scene["blue"], text_key="red"), status="approved"
    )
    for text, count in {"green": 3, "white": 2}.items():
        for user in voters[:count]:
            judge(user, text, scene["blue"])
    learn(scene["blue"])  # cap 2: the approved "red" and the best supported of the rest
    statuses = dict(Expansion.objects.filter(image=scene["blue"]).values_list("text_key", "status"))
    assert statuses == {"red": "approved", "green": "admitted", "white": "candidate"}
