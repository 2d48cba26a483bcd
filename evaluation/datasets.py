"""Evaluation datasets as small frozen structures, and the adapters that read them.

A Dataset is a set of image files (items, each with a stable key and the
gallery it goes to) plus queries with their ground truth: a text or an item
key (image queries, with an optional bounding box), the relevant item keys,
junk keys the ranking ignores (ROxford) and a split label. No Django here.

Caption adapters live in this module (COCO-format JSON, Karpathy split JSON);
the image-query ones (folder of classes, Revisited Oxford/Paris, plain CSV) in
datasets_images.py. `load_dataset(spec)` picks one by name.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TEXT, IMAGE = "text", "image"
CAPTIONS, CLASSES, LANDMARKS, CSV = "captions", "classes", "landmarks", "csv"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


class DatasetError(ValueError):
    """The dataset files are missing or malformed; the message names the file."""


@dataclass(frozen=True)
class Item:
    key: str  # stable across runs: a file name or relative path
    path: Path
    gallery: str  # the dataset gallery it is loaded into ("" for query-only images)
    labels: tuple[str, ...] = ()  # class, or COCO categories by annotated area (largest first)
    areas: tuple[float, ...] = ()  # COCO: total annotated area of each label


@dataclass(frozen=True)
class Query:
    id: str
    kind: str  # text | image
    relevant: frozenset[str]
    text: str | None = None
    item_key: str | None = None  # image queries: the query image
    bbox: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2 in pixels
    junk: frozenset[str] = frozenset()  # removed from the ranking before scoring
    split: str = ""


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str  # captions | classes | landmarks | csv
    items: tuple[Item, ...]
    queries: tuple[Query, ...]
    query_images: tuple[Item, ...] = ()  # query images that are not in the collection
    source: str = ""
    notes: tuple[str, ...] = ()
    # Names the galleries: datasets that share images share it (COCO val and train+val,
    # the ROxford protocols), so a re-run with another split or protocol reuses them.
    collection: str = ""
    _by_key: dict[str, Item] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Filled once; the dataclass is frozen, the lookup table is derived from its fields.
        for item in (*self.items, *self.query_images):
            self._by_key.setdefault(item.key, item)

    @property
    def gallery_prefix(self) -> str:
        return self.collection or self.name

    @property
    def galleries(self) -> list[str]:
        return sorted({item.gallery for item in self.items})

    def path_of(self, key: str) -> Path:
        return self._by_key[key].path

    def item(self, key: str) -> Item | None:
        """A collection item (not a query-only image) by key."""
        found = self._by_key.get(key)
        return found if found is not None and found.gallery else None


@dataclass(frozen=True)
class DatasetSpec:
    """What the command line names: an adapter and its inputs."""

    kind: str  # coco | karpathy | folder | roxford | csv
    path: Path
    images: Path | None = None  # image folder when it is not implied by `path`
    splits: tuple[str, ...] = ()
    labels: Path | None = None  # folder: "filename label" lines (ImageNet-style val folders)
    protocol: str = "medium"  # roxford: easy | medium | hard
    name: str = ""
    # folder: a text query per class and template, e.g. "a photo of a {}" (--class-text)
    text_templates: tuple[str, ...] = ()


def load_dataset(spec: DatasetSpec) -> Dataset:
    from evaluation import datasets_images

    path = Path(spec.path).expanduser()
    if spec.kind == "coco":
        return coco_captions(path, splits=spec.splits or ("val2017",), name=spec.name)
    if spec.kind == "karpathy":
        images = _required(spec.images, "karpathy needs --images (the image folder)")
        return karpathy_captions(path, images, splits=spec.splits or ("test",), name=spec.name)
    if spec.kind == "folder":
        return datasets_images.folder_of_classes(
            path, labels_file=spec.labels, name=spec.name, text_templates=spec.text_templates
        )
    if spec.kind == "roxford":
        images = _required(spec.images, "roxford needs --images (the jpg folder)")
        return datasets_images.revisited_oxford(
            path, images, protocol=spec.protocol, name=spec.name
        )
    if spec.kind == "csv":
        images = _required(spec.images, "csv needs --images (the folder the keys are paths in)")
        return datasets_images.csv_ground_truth(path, images, name=spec.name)
    raise DatasetError(f"Unknown dataset kind {spec.kind!r}: coco, karpathy, folder, roxford, csv.")


# ---------------------------------------------------------------- COCO captions


def coco_captions(root: Path, *, splits: Sequence[str] = ("val2017",), name: str = "") -> Dataset:
    """MSCOCO layout: annotations/captions_<split>.json and images in <split>/.

    Every caption is a text query whose one relevant item is its image. With
    annotations/instances_<split>.json beside it, each item carries its
    categories ordered by annotated area (the composed-query experiment uses
    the largest). Images missing from disk are left out, with their captions.
    """
    items: list[Item] = []
    queries: list[Query] = []
    notes: list[str] = []
    for split in splits:
        captions = _read_json(root / "annotations" / f"captions_{split}.json")
        categories = _coco_categories(root / "annotations" / f"instances_{split}.json")
        by_id = {}
        for image in captions.get("images", []):
            path = root / split / image["file_name"]
            if path.is_file():
                by_id[image["id"]] = image["file_name"]
        missing = len(captions.get("images", [])) - len(by_id)
        if missing:
            notes.append(f"{split}: {missing} images listed in the JSON are not on disk")
        captioned = set()
        for ann in sorted(captions.get("annotations", []), key=lambda a: a["id"]):
            key = by_id.get(ann["image_id"])
            if key is None:
                continue
            captioned.add(ann["image_id"])
            queries.append(
                Query(
                    id=f"caption-{ann['id']}",
                    kind=TEXT,
                    text=" ".join(str(ann["caption"]).split()),
                    relevant=frozenset([key]),
                    split=split,
                )
            )
        for image_id in sorted(captioned):
            labels = categories.get(image_id, [])
            items.append(
                Item(
                    key=by_id[image_id],
                    path=root / split / by_id[image_id],
                    gallery=split,
                    labels=tuple(n for n, _ in labels),
                    areas=tuple(a for _, a in labels),
                )
            )
    if not items:
        raise DatasetError(f"No captioned images found under {root} for splits {list(splits)}.")
    return Dataset(
        name=name or f"{root.name}-{'+'.join(splits)}",
        kind=CAPTIONS,
        items=tuple(items),
        queries=tuple(queries),
        source=f"coco:{Path(root).name} splits={','.join(splits)}",
        notes=tuple(notes),
        collection=root.name,
    )


def _coco_categories(path: Path) -> dict[int, list[tuple[str, float]]]:
    """image id -> [(category name, total annotated area)], largest area first."""
    if not path.is_file():
        return {}
    data = _read_json(path)
    names = {c["id"]: c["name"] for c in data.get("categories", [])}
    areas: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for ann in data.get("annotations", []):
        areas[ann["image_id"]][names.get(ann["category_id"], str(ann["category_id"]))] += float(
            ann.get("area", 0.0)
        )
    return {
        image_id: sorted(per.items(), key=lambda pair: (-pair[1], pair[0]))
        for image_id, per in areas.items()
    }


# ---------------------------------------------------------------- Karpathy split


def karpathy_captions(
    json_path: Path, images: Path, *, splits: Sequence[str] = ("test",), name: str = ""
) -> Dataset:
    """The Karpathy split JSON (dataset_flickr30k.json, dataset_coco.json).

    images[] have filename, split (train/val/test/restval), optional filepath
    (COCO: val2014/) and sentences[].raw. Items are the images of `splits`,
    all in one gallery; every sentence is a text query.
    """
    data = _read_json(json_path)
    dataset_name = name or str(data.get("dataset") or json_path.stem.removeprefix("dataset_"))
    items: list[Item] = []
    queries: list[Query] = []
    missing = 0
    for image in data.get("images", []):
        if image.get("split") not in splits:
            continue
        relative = Path(image.get("filepath", "")) / image["filename"]
        path = images / relative
        if not path.is_file():
            missing += 1
            continue
        key = relative.as_posix()
        items.append(Item(key=key, path=path, gallery=dataset_name))
        for n, sentence in enumerate(image.get("sentences", [])):
            sentence_id = sentence.get("sentid", f"{key}#{n}")
            queries.append(
                Query(
                    id=f"sentence-{sentence_id}",
                    kind=TEXT,
                    text=" ".join(str(sentence["raw"]).split()),
                    relevant=frozenset([key]),
                    split=str(image["split"]),
                )
            )
    if not items:
        raise DatasetError(f"No images of splits {list(splits)} from {json_path} under {images}.")
    notes = (f"{missing} images of the split are not on disk",) if missing else ()
    return Dataset(
        name=f"{dataset_name}-{'+'.join(splits)}",
        kind=CAPTIONS,
        items=tuple(items),
        queries=tuple(queries),
        source=(
            f"karpathy:{Path(json_path).name} images={Path(images).name} splits={','.join(splits)}"
        ),
        notes=notes,
        collection=dataset_name,
    )


# ---------------------------------------------------------------- helpers


def image_files(root: Path) -> Iterable[Path]:
    """Image-like files under `root`, recursively, hidden ones skipped, in a stable order."""
    for path in sorted(root.rglob("*")):
        hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not hidden:
            yield path


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DatasetError(f"{path} does not exist.") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON: {exc}") from exc


def _required(value: Path | None, message: str) -> Path:
    if value is None:
        raise DatasetError(message)
    return Path(value).expanduser()
