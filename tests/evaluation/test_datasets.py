"""Dataset adapters on tiny generated fixtures (no database)."""

from __future__ import annotations

import json

import pytest

from evaluation.datasets import (
    CAPTIONS,
    IMAGE,
    TEXT,
    DatasetError,
    DatasetSpec,
    coco_captions,
    karpathy_captions,
    load_dataset,
)
from evaluation.datasets_images import (
    csv_ground_truth,
    folder_of_classes,
    revisited_oxford,
)
from tests.evaluation.fixtures import make_classes, make_coco, make_roxford, solid


def test_coco_captions_give_one_text_query_per_caption_with_its_image(tmp_path):
    root = make_coco(tmp_path / "coco-tiny")
    dataset = coco_captions(root)
    assert dataset.name == "coco-tiny-val2017" and dataset.collection == "coco-tiny"
    assert dataset.kind == CAPTIONS and len(dataset.items) == 8
    assert dataset.galleries == ["val2017"]
    assert len(dataset.queries) == 8 * 2 + 4  # two captions each, "a square" on four
    first = next(q for q in dataset.queries if q.id == "caption-201")
    assert first.kind == TEXT and first.text == "A RED SQUARE thing"  # whitespace collapsed
    assert first.relevant == frozenset({"000000000001.jpg"}) and first.split == "val2017"


def test_coco_items_carry_categories_largest_area_first(tmp_path):
    root = make_coco(tmp_path / "coco")
    item = coco_captions(root).item("000000000003.jpg")
    assert item is not None and item.labels == ("sky", "person")
    assert item.areas == (930.0, 50.0)


def test_coco_leaves_out_images_missing_from_disk(tmp_path):
    root = make_coco(tmp_path / "coco")
    (root / "val2017" / "000000000002.jpg").unlink()
    dataset = coco_captions(root)
    assert len(dataset.items) == 7
    assert all("000000000002.jpg" not in q.relevant for q in dataset.queries)
    assert any("not on disk" in note for note in dataset.notes)


def test_coco_without_the_split_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match=r"captions_train2017\.json"):
        coco_captions(make_coco(tmp_path / "coco"), splits=("train2017",))


def test_karpathy_split_keeps_the_chosen_split_and_every_sentence(tmp_path):
    images = tmp_path / "images"
    solid(images / "val2014" / "a.jpg", (255, 0, 0))
    solid(images / "val2014" / "b.jpg", (0, 0, 255))
    data = {
        "dataset": "coco",
        "images": [
            {"filename": "a.jpg", "filepath": "val2014", "split": "test",
             "sentences": [{"raw": "a red one", "sentid": 1}, {"raw": "red", "sentid": 2}]},
            {"filename": "b.jpg", "filepath": "val2014", "split": "train",
             "sentences": [{"raw": "blue", "sentid": 3}]},
        ],
    }  # fmt: skip
    path = tmp_path / "dataset_coco.json"
    path.write_text(json.dumps(data))
    dataset = karpathy_captions(path, images)
    assert dataset.name == "coco-test" and [i.key for i in dataset.items] == ["val2014/a.jpg"]
    assert [(q.id, q.text) for q in dataset.queries] == [
        ("sentence-1", "a red one"),
        ("sentence-2", "red"),
    ]
    assert all(q.relevant == {"val2014/a.jpg"} and q.split == "test" for q in dataset.queries)


def test_folder_of_classes_relevant_is_the_same_class_in_any_gallery(tmp_path):
    root = make_classes(tmp_path / "colours")
    solid(root / "stray.png", (1, 2, 3))  # no class folder
    dataset = folder_of_classes(root)
    assert len(dataset.items) == 12 and dataset.galleries == ["loose", "tight"]
    query = next(q for q in dataset.queries if q.item_key == "tight/red/red-0.png")
    assert query.kind == IMAGE
    assert query.relevant == {"tight/red/red-1.png", "loose/red/red-0.png", "loose/red/red-1.png"}
    assert {q.split for q in dataset.queries} == {"fit", "test"}
    assert sum(q.split == "fit" for q in dataset.queries) == 6
    assert any("no class folder" in note for note in dataset.notes)


def test_folder_with_one_level_is_one_gallery_and_single_images_are_not_queries(tmp_path):
    solid(tmp_path / "pets" / "cat" / "a.png", (9, 9, 9))
    solid(tmp_path / "pets" / "cat" / "b.png", (8, 8, 8))
    solid(tmp_path / "pets" / "dog" / "c.png", (7, 7, 7))
    dataset = folder_of_classes(tmp_path / "pets")
    assert dataset.galleries == ["pets"]
    assert sorted(q.item_key for q in dataset.queries) == ["cat/a.png", "cat/b.png"]


def test_folder_with_a_label_file_takes_classes_from_it(tmp_path):
    for name, rgb in (("v1.png", (1, 1, 1)), ("v2.png", (2, 2, 2)), ("v3.png", (3, 3, 3))):
        solid(tmp_path / "val" / name, rgb)
    labels = tmp_path / "labels.txt"
    labels.write_text("# filename label\nv1.png 7\nv2.png 7\nv3.png 9\nmissing.png 7\n")
    dataset = folder_of_classes(tmp_path / "val", labels_file=labels)
    assert [(i.key, i.labels) for i in dataset.items] == [
        ("v1.png", ("7",)),
        ("v2.png", ("7",)),
        ("v3.png", ("9",)),
    ]
    assert {q.item_key: q.relevant for q in dataset.queries} == {
        "v1.png": {"v2.png"},
        "v2.png": {"v1.png"},
    }


@pytest.mark.parametrize(
    ("protocol", "relevant", "junk"),
    [
        ("easy", {"oxford_001", "oxford_002"}, {"oxford_003", "oxford_004"}),
        ("medium", {"oxford_001", "oxford_002", "oxford_003"}, {"oxford_004"}),
        ("hard", {"oxford_003"}, {"oxford_001", "oxford_002", "oxford_004"}),
    ],
)
def test_revisited_oxford_protocols(tmp_path, protocol, relevant, junk):
    gnd, images = make_roxford(tmp_path)
    dataset = revisited_oxford(gnd, images, protocol=protocol)
    assert dataset.name == f"toyford-{protocol}" and len(dataset.items) == 6
    first = dataset.queries[0]
    assert first.item_key == "oxford_000" and first.bbox == (1.0, 2.0, 30.0, 25.0)
    assert first.relevant == relevant and first.junk == junk


def test_revisited_oxford_query_images_outside_the_database_and_empty_queries(tmp_path):
    gnd, images = make_roxford(tmp_path)
    easy = revisited_oxford(gnd, images, protocol="easy")
    assert len(easy.queries) == 1 and "no relevant image" in easy.notes[0]
    medium = revisited_oxford(gnd, images, protocol="medium")
    second = medium.queries[1]
    assert second.item_key == "query_only" and second.bbox is None
    assert second.relevant == {"oxford_005"} and second.junk == {"oxford_000", "oxford_001"}
    assert [i.key for i in medium.query_images] == ["query_only"]
    assert medium.path_of("query_only") == images / "query_only.jpg"
    assert medium.item("query_only") is None  # not in the collection
    with pytest.raises(DatasetError, match="protocol"):
        revisited_oxford(gnd, images, protocol="medium-rare")


def test_csv_text_and_image_queries(tmp_path):
    images = tmp_path / "imgs"
    for name, rgb in (("a.png", (1, 0, 0)), ("b.png", (0, 1, 0)), ("sub/c.png", (0, 0, 1))):
        solid(images / name, rgb)
    path = tmp_path / "truth.csv"
    path.write_text("query,relevant\ntext:a red thing,a.png sub/c.png\na.png,a.png b.png\n")
    dataset = csv_ground_truth(path, images)
    text, image = dataset.queries
    assert text.kind == TEXT and text.text == "a red thing"
    assert text.relevant == {"a.png", "sub/c.png"}
    assert image.kind == IMAGE and image.item_key == "a.png" and image.relevant == {"b.png"}


def test_csv_unknown_keys_are_errors_with_the_line(tmp_path):
    solid(tmp_path / "imgs" / "a.png", (1, 0, 0))
    path = tmp_path / "truth.csv"
    path.write_text("query,relevant\ntext:x,a.png\nnope.png,a.png\n")
    with pytest.raises(DatasetError, match=r"truth.csv:3: unknown image keys \['nope.png'\]"):
        csv_ground_truth(path, tmp_path / "imgs")


def test_load_dataset_dispatches_by_kind(tmp_path):
    root = make_coco(tmp_path / "coco")
    assert load_dataset(DatasetSpec("coco", root)).kind == CAPTIONS
    assert load_dataset(DatasetSpec("folder", make_classes(tmp_path / "c"))).kind == "classes"
    with pytest.raises(DatasetError, match="--images"):
        load_dataset(DatasetSpec("roxford", tmp_path / "gnd.pkl"))
    with pytest.raises(DatasetError, match="Unknown dataset kind"):
        load_dataset(DatasetSpec("tfrecord", root))
