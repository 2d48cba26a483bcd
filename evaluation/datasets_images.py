"""Image-query dataset adapters: folder of classes, Revisited Oxford/Paris, plain CSV.

See datasets.py for the structures. No Django here.
"""

from __future__ import annotations

import csv
import pickle
from collections import defaultdict
from pathlib import Path
from typing import Any

from evaluation.datasets import (
    CLASSES,
    CSV,
    IMAGE,
    LANDMARKS,
    TEXT,
    Dataset,
    DatasetError,
    Item,
    Query,
    image_files,
)

FIT, TEST = "fit", "test"
PROTOCOLS = ("easy", "medium", "hard")


# ---------------------------------------------------------------- folder of classes


CLASS_TEXT_TEMPLATES = ("a photo of a {}", "a drawing of {}", "{}")


def folder_of_classes(
    root: Path,
    *,
    labels_file: Path | None = None,
    name: str = "",
    text_templates: tuple[str, ...] = (),
) -> Dataset:
    """Class = the leaf folder an image sits in (or its line in `labels_file`).

    root/<class>/<image> puts everything in one gallery; root/<gallery>/.../<class>/<image>
    (PACS-style domains) makes the first folder the gallery. Every image is a
    query; its relevant items are the other images of its class, in any gallery.
    Queries alternate between the fit and test splits within each class, so a
    threshold fitted on one half is measured on the other.

    With `text_templates`, each class also gets a text query per template, the
    class's name filled in (class_text), relevant = every image of the class;
    classes alternate between the fit and test splits.
    """
    dataset_name = name or root.name
    notes: list[str] = []
    if labels_file is not None:
        items = _labelled_items(root, Path(labels_file), dataset_name)
    else:
        items, loose = [], 0
        for path in image_files(root):
            parts = path.relative_to(root).parts
            if len(parts) < 2:
                loose += 1
                continue
            gallery = parts[0] if len(parts) >= 3 else dataset_name
            key = Path(*parts).as_posix()
            items.append(Item(key=key, path=path, gallery=gallery, labels=(parts[-2],)))
        if loose:
            notes.append(f"{loose} images directly in {root} have no class folder: left out")
    if not items:
        raise DatasetError(f"No images in class folders under {root}.")
    by_class: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_class[item.labels[0]].append(item.key)
    queries, alone = [], 0
    for label in sorted(by_class):
        keys = by_class[label]
        if len(keys) < 2:
            alone += len(keys)
            continue
        for n, key in enumerate(keys):
            relevant = frozenset(keys) - {key}
            queries.append(
                Query(
                    id=f"image-{key}",
                    kind=IMAGE,
                    item_key=key,
                    relevant=relevant,
                    split=FIT if n % 2 == 0 else TEST,
                )
            )
    if alone:
        notes.append(f"{alone} images are the only one of their class: not used as queries")
    queries += class_text_queries(by_class, text_templates)
    source = f"folder:{Path(root).name}" + (
        f" labels={Path(labels_file).name}" if labels_file else ""
    )
    return Dataset(dataset_name, CLASSES, tuple(items), tuple(queries), (), source, tuple(notes))


def class_text(label: str) -> str:
    """A class folder's name as words: "food__breads_and_carbs" -> "breads and carbs"."""
    return label.rsplit("__", 1)[-1].replace("_", " ").replace("-", " ").strip()


def class_text_queries(by_class: dict[str, list[str]], templates: tuple[str, ...]) -> list[Query]:
    queries = []
    for n, label in enumerate(sorted(by_class)):
        for template in templates:
            text = template.format(class_text(label))
            queries.append(
                Query(
                    id=f"text-{label}-{template}",
                    kind=TEXT,
                    text=text,
                    relevant=frozenset(by_class[label]),
                    split=FIT if n % 2 == 0 else TEST,
                )
            )
    return queries


def _labelled_items(root: Path, labels_file: Path, gallery: str) -> list[Item]:
    """ImageNet-style: files in `root`, one "filename label" line each in `labels_file`."""
    items = []
    try:
        lines = labels_file.read_text().splitlines()
    except FileNotFoundError as exc:
        raise DatasetError(f"{labels_file} does not exist.") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 2:
            raise DatasetError(f"{labels_file}:{number}: expected 'filename label'.")
        path = root / fields[0]
        if path.is_file():
            items.append(Item(key=fields[0], path=path, gallery=gallery, labels=(fields[1],)))
    return items


# ---------------------------------------------------------------- Revisited Oxford / Paris


def revisited_oxford(
    gnd_path: Path, images: Path, *, protocol: str = "medium", name: str = ""
) -> Dataset:
    """gnd_roxford5k.pkl / gnd_rparis6k.pkl of Radenović et al. (CVPR 2018).

    The pickle holds imlist (database names), qimlist (query names) and gnd,
    one dict per query with easy, hard and junk (indexes into imlist) and bbx
    (the query's box, x1 y1 x2 y2). Protocols: easy = easy relevant, hard and
    junk ignored; medium = easy + hard relevant, junk ignored; hard = hard
    relevant, easy and junk ignored. Ignored images are removed from the
    ranking before scoring (the official evaluation does the same).
    """
    if protocol not in PROTOCOLS:
        raise DatasetError(f"protocol must be one of {', '.join(PROTOCOLS)}.")
    data = _read_pickle(gnd_path)
    imlist, qimlist, gnd = list(data["imlist"]), list(data["qimlist"]), list(data["gnd"])
    if len(gnd) != len(qimlist):
        raise DatasetError(f"{gnd_path}: {len(gnd)} gnd entries for {len(qimlist)} queries.")
    dataset_name = name or gnd_path.stem.removeprefix("gnd_")
    items = [Item(str(n), images / f"{n}.jpg", dataset_name) for n in imlist]
    database = set(imlist)
    query_images = [Item(str(n), images / f"{n}.jpg", "") for n in qimlist if n not in database]
    queries, empty = [], 0
    for number, (qname, entry) in enumerate(zip(qimlist, gnd, strict=True)):
        easy, hard, junk = (
            frozenset(str(imlist[int(i)]) for i in entry.get(part, ()))
            for part in ("easy", "hard", "junk")
        )
        relevant, ignored = {
            "easy": (easy, hard | junk),
            "medium": (easy | hard, junk),
            "hard": (hard, easy | junk),
        }[protocol]
        if not relevant:
            empty += 1
            continue
        bbx = entry.get("bbx")
        queries.append(
            Query(
                id=f"query-{number}-{qname}",
                kind=IMAGE,
                item_key=str(qname),
                bbox=tuple(float(v) for v in bbx) if bbx is not None else None,  # type: ignore[arg-type]  # a stored box is four numbers
                relevant=relevant,
                junk=ignored - relevant,
                split="query",
            )
        )
    notes = (f"{empty} queries have no relevant image under {protocol}",) if empty else ()
    return Dataset(
        name=f"{dataset_name}-{protocol}",
        kind=LANDMARKS,
        items=tuple(items),
        queries=tuple(queries),
        query_images=tuple(query_images),
        source=f"roxford:{Path(gnd_path).name} images={Path(images).name} protocol={protocol}",
        notes=notes,
        collection=dataset_name,
    )


def _read_pickle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            # Ground-truth files are data the operator chose to evaluate on, not user uploads.
            data = pickle.load(fh)
    except FileNotFoundError as exc:
        raise DatasetError(f"{path} does not exist.") from exc
    if not isinstance(data, dict) or not {"imlist", "qimlist", "gnd"} <= set(data):
        raise DatasetError(f"{path} is not a Revisited Oxford/Paris ground-truth pickle.")
    return data


# ---------------------------------------------------------------- plain CSV


def csv_ground_truth(csv_path: Path, images: Path, *, name: str = "") -> Dataset:
    """query,relevant[,split] rows over every image under `images` (keys: relative paths).

    query is an item key (an image query) or "text:<words>"; relevant is a
    space-separated list of item keys. An unknown key is an error, not a skip.
    """
    dataset_name = name or csv_path.stem
    items = [Item(p.relative_to(images).as_posix(), p, dataset_name) for p in image_files(images)]
    known = {item.key for item in items}
    queries = []
    try:
        rows = list(csv.DictReader(csv_path.read_text().splitlines()))
    except FileNotFoundError as exc:
        raise DatasetError(f"{csv_path} does not exist.") from exc
    for number, row in enumerate(rows, start=2):
        query, relevant = (row.get("query") or "").strip(), (row.get("relevant") or "").split()
        if not query or not relevant:
            raise DatasetError(f"{csv_path}:{number}: needs a query and relevant keys.")
        unknown = [k for k in relevant if k not in known]
        if not query.startswith("text:") and query not in known:
            unknown.insert(0, query)
        if unknown:
            raise DatasetError(f"{csv_path}:{number}: unknown image keys {unknown}.")
        is_text = query.startswith("text:")
        wanted = frozenset(relevant) - {query}  # an image is not a result of its own query
        if not wanted:
            raise DatasetError(f"{csv_path}:{number}: the query is its only relevant image.")
        queries.append(
            Query(
                id=f"row-{number}",
                kind=TEXT if is_text else IMAGE,
                text=query.removeprefix("text:").strip() if is_text else None,
                item_key=None if is_text else query,
                relevant=wanted,
                split=row.get("split") or "",
            )
        )
    if not queries:
        raise DatasetError(f"{csv_path} has no rows (header: query,relevant).")
    return Dataset(
        dataset_name, CSV, tuple(items), tuple(queries), (), f"csv:{csv_path} images={images}"
    )
