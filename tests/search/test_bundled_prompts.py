"""The bundled encoder's prompt sets: each is its own model identity, chosen by a setting."""

from __future__ import annotations

import numpy as np
import pytest

from indexing.encoders.base import EncoderConfig, EncoderUnavailable, model_name_for
from indexing.encoders.bundled import PROMPT_SETS, BundledEncoder, bundled_model_name, class_vectors
from indexing.runtime import active_model_name, get_encoder

OLD_NAME = "bundled:efficientnet-lite0+all-MiniLM-L6-v2/top10"


def test_the_prompt_ensemble_is_a_new_model_and_bare_names_keep_the_old_one():
    assert bundled_model_name(10, "names") == OLD_NAME
    assert bundled_model_name(10, "ensemble") != OLD_NAME
    assert bundled_model_name(10, "ensemble").startswith(OLD_NAME)
    assert len(PROMPT_SETS["ensemble"]) > 1


def test_the_setting_selects_either_identity_without_loading_weights(settings):
    settings.CBIR_ENCODER = "bundled"
    settings.CBIR_BUNDLED_PROMPTS = "names"
    assert active_model_name() == OLD_NAME
    settings.CBIR_BUNDLED_PROMPTS = "ensemble"
    assert active_model_name() == bundled_model_name(10, "ensemble")
    config = EncoderConfig(kind="bundled", bundled_prompts="names", bundled_top_classes=5)
    assert model_name_for(config) == bundled_model_name(5, "names")


def test_class_vectors_average_the_templates():
    def encode(texts):  # type: ignore[no-untyped-def]
        # "x" in the text -> first axis; "photo" adds the second axis.
        return np.asarray([[1.0, 1.0 if "photo" in t else 0.0] for t in texts]) / np.asarray(
            [[np.sqrt(2.0) if "photo" in t else 1.0] for t in texts]
        )

    vectors = class_vectors(encode, ["x"], ("{}", "a photo of {}"))
    expected = np.asarray([1 + 2**-0.5, 2**-0.5])
    assert vectors[0] == pytest.approx(expected / np.linalg.norm(expected))
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0])


def test_an_unknown_prompt_set_names_the_setting():
    with pytest.raises(EncoderUnavailable, match="CBIR_BUNDLED_PROMPTS"):
        BundledEncoder(prompts="poems")


@pytest.mark.slow
@pytest.mark.django_db
def test_the_two_identities_embed_class_names_differently(use_encoder):
    use_encoder("bundled", CBIR_BUNDLED_PROMPTS="names")
    old = get_encoder()
    use_encoder("bundled", CBIR_BUNDLED_PROMPTS="ensemble")
    new = get_encoder()
    assert old.name == OLD_NAME and new.name == bundled_model_name(10, "ensemble")
    assert old._class_vectors.shape == new._class_vectors.shape == (1000, 384)
    similarity = np.sum(old._class_vectors * new._class_vectors, axis=1)
    assert 0.5 < similarity.mean() < 0.999  # the same classes, embedded in sentences
    sentence = new.encode_texts(["a photo of a golden retriever"])[0]
    golden = new.class_names.index("golden retriever")
    assert sentence @ new._class_vectors[golden] > sentence @ old._class_vectors[golden]
