"""The blue-green switch in-process: candidate, catch-up, readiness, switch, rollback, prune."""

from __future__ import annotations

import pytest

from indexing.embedding import images_embed
from indexing.encoders.fake import FakeEncoder
from indexing.index_sync import feed_state, manager
from indexing.model_models import ManagedModel
from indexing.models import Embedding, IndexFeedState
from indexing.runtime import active_model_name, candidate_model_name, model_selection
from search.model_overview import models_status
from search.model_prune import models_prune
from search.model_switch import (
    ModelError,
    candidate_readiness,
    catch_up_batch,
    model_activate,
    model_switch_if_ready,
)
from search.models import GalleryStatistics
from search.request import SearchRequest
from search.services import search_images
from search.statistics import gallery_statistics_update
from tests.factories import GalleryFactory, png_bytes, upload
from tests.models.conftest import FAKE_KEY, TINY_LOCAL_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def collection(cast, settings):
    settings.CBIR_MODEL_REEMBED_BATCH = 4
    settings.CBIR_THRESHOLD_MIN_IMAGES = 3  # our galleries of 6 get statistics
    other = GalleryFactory(slug="other", organisation=cast.organisation, owner=cast.owner)
    images = []
    for i in range(6):
        images.append(upload(cast.gallery, png_bytes((40 * i, 200 - 30 * i, 90)), name=f"a{i}.png"))
        images.append(upload(other, png_bytes((200 - 30 * i, 40 * i, 20)), name=f"b{i}.png"))
    images_embed(image_ids=[i.pk for i in images])
    for gallery in (cast.gallery, other):
        gallery_statistics_update(gallery_id=gallery.pk, model_name=FakeEncoder.name)
    return images


def _catch_up() -> None:
    for _ in range(20):
        if not catch_up_batch().get("more"):
            return
    raise AssertionError("the catch-up never finished")


def _statistics(model_name: str) -> None:
    for gallery_id in set(Embedding.objects.values_list("gallery_id", flat=True)):
        gallery_statistics_update(gallery_id=gallery_id, model_name=model_name)


def _found(user, **options) -> set[int]:
    result = search_images(
        user=user, request=SearchRequest(text="red", k=100, mode="topk", **options)
    )
    return {hit.image.pk for hit in result.hits}


def test_activate_makes_a_candidate_and_search_keeps_the_active_model(
    cast, collection, managed_models
):
    assert active_model_name() == FakeEncoder.name
    epoch = IndexFeedState.objects.filter(pk=1).values_list("model_epoch", flat=True).first() or 0
    row = model_activate(key=TINY_LOCAL_KEY)
    assert row.role == "candidate"
    assert IndexFeedState.objects.get(pk=1).model_epoch == epoch + 1
    model_selection(fresh=True)
    assert candidate_model_name() == managed_models.identity()
    assert active_model_name() == FakeEncoder.name  # search is unchanged
    assert ManagedModel.objects.get(role="active").key == FAKE_KEY  # recorded for rollback
    everything = {i.pk for i in collection}

    # Half-way through the catch-up, every search still sees every image.
    catch_up_batch()
    covered = Embedding.objects.filter(model_name=managed_models.identity()).count()
    assert 0 < covered < len(collection)
    assert _found(cast.owner) == everything
    readiness = candidate_readiness(row)
    assert not readiness.ready and "coverage" in readiness.waiting[0]
    assert model_switch_if_ready() is None
    # Staff may search with the candidate, over what it has embedded so far; others may not.
    cast.owner.is_staff = True
    cast.owner.save()
    found = search_images(
        user=cast.owner, request=SearchRequest(text="red", k=100, mode="topk", model="candidate")
    )
    assert found.model_name == managed_models.identity() and len(found.hits) == covered
    from cbir_site.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        search_images(user=cast.viewer, request=SearchRequest(text="red", k=10, model="candidate"))


def test_the_switch_waits_for_statistics_and_cutoffs_then_happens_in_one_step(
    cast, collection, managed_models, monkeypatch
):
    import search.cutoff_fit as cutoff_fit
    from search.cutoff_fit import cutoffs_fit_from_collection

    monkeypatch.setattr(cutoff_fit, "COLLECTION_MIN_IMAGES", 10)  # our 12 images can be fitted
    model_activate(key=TINY_LOCAL_KEY)
    _catch_up()
    row = ManagedModel.objects.get(key=TINY_LOCAL_KEY)
    assert row.role == "candidate"  # covered, but no statistics yet
    assert "statistics" in row.switch_note
    _statistics(managed_models.identity())
    assert model_switch_if_ready() is None
    row.refresh_from_db()
    assert row.switch_note == "waiting for its own fitted cutoffs"
    assert model_selection(fresh=True).active.key == FAKE_KEY
    assert cutoffs_fit_from_collection(model_name=managed_models.identity())
    assert _found(cast.owner)  # the fake model's in-memory index is built
    assert FakeEncoder.name in manager.loaded()
    switched = model_switch_if_ready()
    assert switched is not None and switched.key == TINY_LOCAL_KEY
    feed_state()  # what every process reads before a search: the epoch moved
    assert active_model_name() == managed_models.identity()
    assert FakeEncoder.name not in manager.loaded()  # the retired model's memory is freed
    assert ManagedModel.objects.get(key=FAKE_KEY).role == "retired"
    assert _found(cast.owner) == {i.pk for i in collection}
    status = models_status()
    assert status["active"]["key"] == TINY_LOCAL_KEY and status["retired"] == [FAKE_KEY]


def test_rollback_and_prune(cast, collection, managed_models):
    tiny = managed_models.identity()
    model_activate(key=TINY_LOCAL_KEY)
    _catch_up()
    _statistics(tiny)
    assert model_switch_if_ready() is not None  # 12 images: too few to fit, defaults
    model_selection(fresh=True)
    assert active_model_name() == tiny
    # An upload after the switch is embedded by the new model only.
    late = upload(cast.gallery, png_bytes((250, 5, 5)), name="late.png")
    images_embed(image_ids=[late.pk])
    assert not Embedding.objects.filter(image=late, model_name=FakeEncoder.name).exists()

    # Rolling back: the previous model catches up on the one image it missed, then switches.
    with pytest.raises(ModelError, match="in use"):
        models_prune(keys=[TINY_LOCAL_KEY])
    model_activate(key=FAKE_KEY)
    model_selection(fresh=True)
    assert active_model_name() == tiny
    result = catch_up_batch()
    assert result["embedded"] == 1
    _statistics(FakeEncoder.name)
    _catch_up()
    model_selection(fresh=True)
    assert active_model_name() == FakeEncoder.name
    assert _found(cast.owner) == {i.pk for i in collection} | {late.pk}

    # Prune removes the retired model's rows and nothing else.
    fake_rows = Embedding.objects.filter(model_name=FakeEncoder.name).count()
    fake_stats = GalleryStatistics.objects.filter(model_name=FakeEncoder.name).count()
    reports = models_prune()
    assert [r.model_name for r in reports] == [tiny]
    assert reports[0].embeddings == len(collection) + 1
    assert not Embedding.objects.filter(model_name=tiny).exists()
    assert not GalleryStatistics.objects.filter(model_name=tiny).exists()
    assert Embedding.objects.filter(model_name=FakeEncoder.name).count() == fake_rows
    assert GalleryStatistics.objects.filter(model_name=FakeEncoder.name).count() == fake_stats
    assert ManagedModel.objects.get(key=TINY_LOCAL_KEY).role == ""


def test_activating_a_model_that_is_not_here_says_to_pull_it(cast, collection):
    with pytest.raises(ModelError, match="pull it first"):
        model_activate(key="clip-vit-b-32")
    with pytest.raises(ModelError, match="Unknown model"):
        model_activate(key="no-such-model")


def test_a_session_begun_before_a_switch_asks_for_a_new_search(cast, collection, managed_models):
    from cbir_site.errors import ConflictError
    from feedback.services import search_session_refine, search_session_start

    session, _, _ = search_session_start(
        user=cast.owner, request=SearchRequest(text="red", k=5, mode="topk")
    )
    model_activate(key=TINY_LOCAL_KEY)
    _catch_up()
    _statistics(managed_models.identity())
    assert model_switch_if_ready() is not None
    with pytest.raises(ConflictError, match="start a new search"):
        search_session_refine(session=session, user=cast.owner, pseudo_positives=2)
