"""The whole library on tiny datasets with the fake encoder: load, embed, search, report."""

from __future__ import annotations

import json

import pytest

from evaluation import EvaluationConfig, run_evaluation
from evaluation.datasets import DatasetSpec
from evaluation.experiments.common import Options
from evaluation.runner import encoder_choices
from feedback.models import SearchSession
from tests.evaluation.fixtures import make_classes, make_coco

pytestmark = pytest.mark.django_db(transaction=False)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def quiet(_message: str) -> None:
    pass


def run(tmp_path, spec: DatasetSpec, experiments: tuple[str, ...], **extra):  # type: ignore[no-untyped-def]
    config = EvaluationConfig(
        dataset=spec,
        experiments=experiments,
        encoders=("fake",),
        work_dir=tmp_path / "work",
        out_dir=tmp_path / "out",
        options=Options(positives=(2, 3), breaking_ranks=(1, 3), iterations=2),
        progress=False,
        **extra,
    )
    result = run_evaluation(config, log=quiet)
    payload = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    return result, payload, (tmp_path / "out" / "evaluation.md").read_text()


def section(payload, name):  # type: ignore[no-untyped-def]
    return next(s for s in payload["sections"] if s["name"] == name)


def assert_ranks_consistent(ranks: dict, queries: int | None = None) -> None:
    recall = {int(k): v for k, v in ranks["recall"].items()}
    assert all(0.0 <= v <= 1.0 for v in recall.values())
    assert recall[1] <= recall[5] <= recall[10]
    assert 1.0 <= ranks["median_rank"] <= ranks["missing_rank"]
    assert 1.0 <= ranks["mean_rank"] <= ranks["missing_rank"]
    assert ranks["curve"] == sorted(ranks["curve"])  # R@K never falls as K grows
    if queries is not None:
        assert ranks["queries"] == queries


def test_captions_retrieval_feedback_and_composed(tmp_path):
    root = make_coco(tmp_path / "coco-tiny")
    result, payload, markdown = run(
        tmp_path, DatasetSpec("coco", root), ("retrieval", "feedback", "composed")
    )
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"evaluation.json", "evaluation.md", "retrieval-text.png", "composed.png"} <= files
    assert {"feedback-text-p2.png", "feedback-text-p3.png"} <= files
    for png in (tmp_path / "out").glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    assert payload["dataset"]["items"] == 8 and payload["dataset"]["queries_used"] == 20
    assert payload["encoders"][0]["model_name"] == "fake:colour-v1"
    assert payload["encoders"][0]["embeddings"]["encoded"] == 8
    assert "commit" in payload["git"] and payload["settings"]["CBIR_BACKGROUND_TASKS"] is False

    retrieval = section(payload, "retrieval")["data"]["fake"]["text"]["ranks"]
    assert_ranks_consistent(retrieval, queries=20)
    # the 16 colour captions find their own image first; the 4 colourless ones do not
    assert retrieval["recall"]["1"] == pytest.approx(16 / 20)

    feedback = section(payload, "feedback")["data"]["configs"]
    assert len(feedback) == 2 * 2 * 3  # P x b x iterations 0-2
    for config in feedback:
        assert_ranks_consistent(config["ranks"], queries=20)
        if config["iteration"] == 0:
            assert config["ranks"] == retrieval and config["refined"] == 0
    assert any(c["refined"] for c in feedback if c["iteration"] == 1)
    assert SearchSession.objects.filter(user__username="cbir-evaluation").exists()

    composed = section(payload, "composed")["data"]["results"]
    assert list(composed) == ["text alone", "sum", "two_phase log_vote", "two_phase rrf"]
    for method in composed.values():
        assert_ranks_consistent(method["ranks"], queries=20)
    assert "| text alone | 20 |" in markdown and "## Iterative retrieval" in markdown
    assert result.out_dir == tmp_path / "out"


def test_image_queries_with_thresholds_and_hashing(tmp_path):
    root = make_classes(tmp_path / "colours")
    _result, payload, markdown = run(
        tmp_path, DatasetSpec("folder", root), ("retrieval", "thresholds", "hashing")
    )
    image = section(payload, "retrieval")["data"]["fake"]["image"]
    assert_ranks_consistent(image["ranks"], queries=12)
    precision = image["precision"]
    assert all(0.0 <= v <= 1.0 for v in precision["map_at"].values())
    assert 0.0 < precision["mean_ap"] <= 1.0
    assert image["ranks"]["recall"]["1"] == 1.0  # a same-colour image is always nearest

    thresholds = section(payload, "thresholds")["data"]
    assert thresholds["fit_queries"] == 6 and thresholds["test_queries"] == 6
    assert len(thresholds["gallery_means"]) == 2
    for method in ("static", "dynamic", "query-time"):
        measured = thresholds["methods"][method]
        assert 0.0 <= measured["test"]["f1"] <= 1.0
        # the platform's searches return exactly what the fitted cutoffs predict
        assert measured["test"]["f1"] == pytest.approx(measured["offline_test_f1"], abs=1e-9)
    assert (tmp_path / "out" / "thresholds-pr.png").is_file()

    hashing = section(payload, "hashing")["data"]["results"]
    assert list(hashing) == [
        "float (faiss-flat)",
        "mean hash",
        "mean hash + re-rank",
        "median hash",
        "median hash + re-rank",
    ]
    flat = hashing["float (faiss-flat)"]["image"]["ranks"]
    assert hashing["mean hash + re-rank"]["image"]["ranks"]["recall"] == flat["recall"]
    assert "| mean hash |" in markdown


def test_a_second_run_reuses_images_and_embeddings(tmp_path):
    root = make_classes(tmp_path / "colours")
    run(tmp_path, DatasetSpec("folder", root), ("retrieval",))
    _result, payload, _markdown = run(
        tmp_path, DatasetSpec("folder", root), ("retrieval",), max_queries=5
    )
    assert payload["dataset"]["load"]["counts"] == {"reused": 12}
    embeddings = payload["encoders"][0]["embeddings"]
    assert (embeddings["in_database"], embeddings["encoded"]) == (12, 0)
    assert section(payload, "retrieval")["data"]["fake"]["image"]["ranks"]["queries"] == 5


def test_encoder_choices(tmp_path, monkeypatch):
    config = EvaluationConfig(dataset=DatasetSpec("folder", tmp_path), encoders=("fake", "bundled"))
    assert [(c.label, c.overrides) for c in encoder_choices(config)] == [
        ("fake", {"CBIR_ENCODER": "fake"}),
        ("bundled", {"CBIR_ENCODER": "bundled"}),
    ]
    monkeypatch.setattr("evaluation.runner.random_floor_model", lambda work_dir: tmp_path / "vit")
    floor = encoder_choices(
        EvaluationConfig(
            dataset=DatasetSpec("folder", tmp_path), encoders=("fake",), random_floor=True
        )
    )[1]
    assert floor.label == "random-vit-b-32" and floor.kind == "open_clip"
    assert floor.overrides["CBIR_OPENCLIP_MODEL"] == f"local-dir:{tmp_path / 'vit'}"
    with pytest.raises(ValueError, match="Unknown encoder"):
        encoder_choices(EvaluationConfig(dataset=DatasetSpec("folder", tmp_path), encoders=("x",)))


def test_collection_expansion_from_simulated_feedback(tmp_path):
    from feedback.models import Judgement

    root = make_coco(tmp_path / "coco-expansion")  # odd images have three captions
    _result, payload, markdown = run(tmp_path, DatasetSpec("coco", root), ("expansion",))
    data = section(payload, "expansion")["data"]
    results = data["results"]
    assert next(iter(results)) == "no expansion"
    stored = {label: r["stored"] for label, r in results.items()}
    assert stored["no expansion"] == {"admitted expansions": 0, "refined vectors": 0}
    # both wordings of a colour merge into one expansion per image (4 images with 3 captions)
    assert (
        stored["text expansion (default rules: 2 users, support 2, cap 5)"]["admitted expansions"]
        == 4
    )
    assert (
        stored["text expansion, 3 users needed (admits nothing here)"]["admitted expansions"] == 0
    )
    assert stored["hot-image refinement (beta 0.5, cosine >= 0.9)"]["refined vectors"] == 4
    for r in results.values():
        assert_ranks_consistent(r["ranks"], queries=4)
    assert (
        Judgement.objects.filter(user__username__startswith="cbir-eval-supporter-").count() == 2 * 8
    )
    assert "## Collection expansion from logged feedback" in markdown
