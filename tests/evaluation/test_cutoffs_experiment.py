"""Text queries for folders of classes and the cutoffs experiment (fake colour encoder)."""

from __future__ import annotations

import json

import pytest
from django.core.management.base import CommandError

from evaluation import EvaluationConfig, run_evaluation
from evaluation.datasets import TEXT, DatasetSpec
from evaluation.datasets_images import class_text, folder_of_classes
from evaluation.management.commands.cbir_evaluate import _templates
from search.cutoff_models import CutoffCalibration, ModelScoreStatistics
from tests.evaluation.fixtures import make_classes, solid


def test_class_names_become_words():
    assert class_text("food__breads_and_carbs") == "breads and carbs"
    assert class_text("transportation__aiga-symbols") == "aiga symbols"
    assert class_text("red") == "red"


def test_the_folder_adapter_adds_a_text_query_per_class_and_template(tmp_path):
    root = make_classes(tmp_path / "colours")
    plain = folder_of_classes(root)
    dataset = folder_of_classes(root, text_templates=("a photo of a {}", "{}"))
    texts = [q for q in dataset.queries if q.kind == TEXT]
    assert len(dataset.queries) == len(plain.queries) + 6
    assert sorted(q.text or "" for q in texts) == sorted(
        [f"a photo of a {c}" for c in ("blue", "green", "red")] + ["blue", "green", "red"]
    )
    red = next(q for q in texts if q.text == "red")
    assert red.relevant == {k for k in (i.key for i in dataset.items) if "/red/" in k}
    # a class's templates stay in one split; classes alternate
    assert {q.split for q in texts if q.text and q.text.endswith("green")} == {"test"}
    assert {q.split for q in texts} == {"fit", "test"}


def test_class_text_templates_need_a_placeholder():
    assert _templates("a photo of a {};{}") == ("a photo of a {}", "{}")
    assert _templates("") == ()
    with pytest.raises(CommandError, match="for the class name"):
        _templates("a photo")


def _run(tmp_path, root):  # type: ignore[no-untyped-def]
    config = EvaluationConfig(
        dataset=DatasetSpec("folder", root, text_templates=("{}", "a photo of a {}")),
        experiments=("cutoffs",),
        encoders=("fake",),
        work_dir=tmp_path / "work",
        out_dir=tmp_path / "out",
        progress=False,
    )
    run_evaluation(config, log=lambda _m: None)
    payload = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    cutoffs = next(s for s in payload["sections"] if s["name"] == "cutoffs")
    return cutoffs, (tmp_path / "out" / "evaluation.md").read_text()


@pytest.mark.django_db
def test_the_cutoffs_report_covers_each_query_kind_and_mode(tmp_path):
    cutoffs, markdown = _run(tmp_path, make_classes(tmp_path / "colours"))
    text, image = cutoffs["data"]["text"], cutoffs["data"]["image"]
    for label in ("top-10", "static (fitted)", "dynamic", "qbnorm (shipped z)", "autocut"):
        assert label in text
    assert "mixture" in text and "autocut" not in image  # calibration is for text only
    for row in (*text.values(), *image.values()):
        assert 0.0 <= row["F1"] <= 1.0 and 0.0 <= row["P@10"] <= 1.0
    # The colour encoder ranks a class's images first for its name: autocut keeps them.
    assert text["autocut"]["empty, relevant in top 10"] == 0
    for label in ("expected_f1 (shipped centre)", "expected_f1 (fitted centre)"):
        assert text[label]["empty"] == 0 and label not in image  # never empty, text only
    assert text["expected_f1 (fitted centre)"]["parameter"].startswith("c = ")
    assert "auto (default: expected_f1)" in text
    assert text["top-1"]["P"] == 1.0
    assert "average precision per query" in markdown and "| a photo of a " in markdown
    assert "by construction" not in markdown  # two galleries


@pytest.mark.django_db
def test_one_gallery_says_dynamic_equals_static(tmp_path):
    root = tmp_path / "single"
    for label, rgb in (("red", (250, 0, 0)), ("blue", (0, 0, 250))):
        for n in range(3):
            solid(root / label / f"{label}-{n}.png", (rgb[0] - 9 * n, 9 * n, rgb[2] - 9 * n))
    _cutoffs, markdown = _run(tmp_path, root)
    assert "dynamic cutoff equals the static one by construction" in markdown


@pytest.mark.django_db
def test_the_default_after_judgements_is_fitted_on_the_fit_split_and_then_forgotten(tmp_path):
    root = tmp_path / "many"
    colours = {
        "warm": {"red": (250, 0, 0), "orange": (250, 140, 0)},
        "cold": {"blue": (0, 0, 250), "green": (0, 200, 0)},
    }
    for gallery, classes in colours.items():
        for label, (r, g, b) in classes.items():
            for n in range(6):  # 24 images: enough for the model's score statistics
                shade = (max(r - 12 * n, 0), min(g + 7 * n, 255), max(b - 12 * n, 0))
                solid(root / gallery / label / f"{label}-{n}.png", shade)
    cutoffs, _markdown = _run(tmp_path, root)
    text = cutoffs["data"]["text"]
    judged = [label for label in text if label.startswith("auto after judgements")]
    assert judged == ["auto after judgements (top 20)", "auto after judgements (top 50)"]
    for label in judged:
        assert text[label]["parameter"].endswith("a = 0.75")
        assert text[label]["empty"] == 0
    image = cutoffs["data"]["image"]
    assert "dynamic after judgements (top 20)" in image
    assert image["dynamic after judgements (top 20)"]["parameter"].startswith(
        "240 marks: T = "
    )  # 12 fit queries x 20
    # Fitted on a copy of the fit split's marks, then removed: the next run starts from
    # the shipped defaults, whatever dataset it measures under the same model.
    assert not CutoffCalibration.objects.filter(source="fitted_judgements").exists()
    assert not ModelScoreStatistics.objects.exists()  # computed over this dataset, then dropped
