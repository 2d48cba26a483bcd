"""Fusing the rankings of two encoders (fake colours + a tiny random open_clip)."""

from __future__ import annotations

import pytest

from indexing import tasks
from indexing.embedding import images_embed
from indexing.models import Embedding
from indexing.runtime import get_encoder
from search.fusion import rrf
from search.request import SearchRequest
from search.services import search_images
from tests.factories import png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_models(settings, tmp_path_factory):
    from indexing.encoders.random_openclip import write_random_openclip

    folder = write_random_openclip(tmp_path_factory.mktemp("fusion-clip"), seed=3)
    settings.CBIR_ENCODER = "fake"
    settings.CBIR_OPENCLIP_MODEL = f"local-dir:{folder}"
    settings.CBIR_FUSION_ENCODERS = ["fake", "open_clip"]
    settings.CBIR_FUSION_METHOD = "rrf"
    return get_encoder("fake"), get_encoder("open_clip")


def test_the_worker_embeds_with_every_fused_model(cast, two_models):
    image = upload(cast.gallery, png_bytes((250, 0, 0)))
    tasks.embed_images.run([image.pk])
    names = set(Embedding.objects.filter(image=image).values_list("model_name", flat=True))
    assert names == {m.name for m in two_models}


def test_top_k_is_the_fusion_of_both_models_rankings(cast, two_models):
    fake, clip = two_models
    images = [
        upload(cast.gallery, png_bytes(c), name=f"{n}.png")
        for n, c in enumerate([(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0)])
    ]
    for encoder in two_models:
        images_embed(image_ids=[i.pk for i in images], encoder=encoder)

    fused = search_images(user=cast.viewer, request=SearchRequest(text="red", k=4, mode="topk"))
    assert fused.metric == "fusion:rrf"

    from indexing.backends import get_backend

    rankings = []
    for encoder in (fake, clip):
        vector = encoder.encode_texts(["red"])[0]
        hits = get_backend().top_k(encoder.name, vector, 4, [cast.gallery.pk])
        rankings.append([h.image_id for h in hits])
    expected = rrf(rankings)
    assert [(h.image.pk, pytest.approx(h.score)) for h in fused.hits] == [
        (i, pytest.approx(s)) for i, s in expected
    ]
