"""The bundled encoder's class-name prompts: text and image retrieval per prompt set (issue 13).

The bundled encoder embeds an image as the probability-weighted mean of its top
ImageNet classes' text vectors. This compares ways to embed those class names
on COCO-MINI (both splits, 159 images), computing the class probabilities once:

- caption -> image: each caption's one relevant image (mean AP = MRR, R@1/5/10);
- class text queries "a photo of a {category}" -> the images annotated with it (mean AP);
- image -> image: relevant = the images sharing the query's largest COCO category (mAP);
- "two sets": images stored with the bare-name vectors for image queries and
  with the prompt vectors for text queries (two vectors per image).

    python benchmarks/bench_bundled_prompts.py --data /path/to/coco-mini
Not a test; needs no database.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from evaluation.datasets import coco_captions
from indexing.encoders.base import l2_normalise
from indexing.encoders.bundled import PROMPT_SETS, BundledEncoder, class_vectors

# Each candidate's class vectors are cached beside the encoder's (--cache-dir), so a
# re-run encodes only new templates (1,000 texts per template).
CANDIDATES: dict[str, tuple[str, ...]] = {**PROMPT_SETS, "photo": ("a photo of a {}.",)}


def average_precision(flags: np.ndarray) -> float:
    hits = np.flatnonzero(flags)
    if not len(hits):
        return 0.0
    return float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))


def image_vectors(probs: np.ndarray, classes: np.ndarray, top: int) -> np.ndarray:
    idx = np.argpartition(-probs, top - 1, axis=1)[:, :top]
    weights = np.take_along_axis(probs, idx, axis=1)
    weights = weights / weights.sum(axis=1, keepdims=True)
    return l2_normalise(np.einsum("nt,ntd->nd", weights, classes[idx]))


def text_scores(images: np.ndarray, texts: np.ndarray, relevant: list[set[int]]) -> dict:
    sims = texts @ images.T
    order = np.argsort(-sims, axis=1)
    aps, ranks = [], []
    for row, wanted in zip(order, relevant, strict=True):
        flags = np.isin(row, list(wanted))
        aps.append(average_precision(flags))
        ranks.append(int(np.flatnonzero(flags)[0]) + 1)
    r = np.asarray(ranks)
    return {
        "mean_ap": float(np.mean(aps)),
        **{f"r@{k}": float((r <= k).mean()) for k in (1, 5, 10)},
    }


def image_map(images: np.ndarray, labels: list[str]) -> float:
    sims = images @ images.T
    aps = []
    for i, label in enumerate(labels):
        others = [j for j in np.argsort(-sims[i]) if j != i]
        flags = np.asarray([labels[j] == label for j in others])
        if flags.any():
            aps.append(average_precision(flags))
    return float(np.mean(aps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None, help="JSON of the figures")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cbir/encoder-cache"))
    args = parser.parse_args()
    dataset = coco_captions(args.data, splits=("val2017", "train2017"))
    items = [i for i in dataset.items if i.labels]
    index = {item.key: n for n, item in enumerate(items)}
    encoder = BundledEncoder(top_classes=args.top, prompts="names")
    probs = encoder.class_probabilities([Image.open(i.path).convert("RGB") for i in items])
    captions = [q for q in dataset.queries if next(iter(q.relevant)) in index]
    caption_vectors = encoder.encode_texts([q.text or "" for q in captions])
    caption_relevant = [{index[next(iter(q.relevant))]} for q in captions]
    categories = sorted({c for i in items for c in i.labels})
    by_category = [{index[i.key] for i in items if c in i.labels} for c in categories]
    kept = [n for n, r in enumerate(by_category) if len(r) >= 2]
    class_queries = encoder.encode_texts([f"a photo of a {categories[n]}" for n in kept])
    labels = [i.labels[0] for i in items]
    results, stored = {}, {}
    for name, templates in CANDIDATES.items():
        path = args.cache_dir / f"bench-prompts-{name}-{len(templates)}.npy"
        if path.is_file():
            classes = np.load(path)
        else:
            classes = class_vectors(encoder.encode_texts, encoder.class_names, templates)
            np.save(path, classes)
        stored[name] = image_vectors(probs, classes, args.top)
        print(f"class vectors: {name}", flush=True)
    for name, vectors in {**stored, "two sets (names + ensemble)": None}.items():
        text_side = stored["ensemble"] if vectors is None else vectors
        image_side = stored["names"] if vectors is None else vectors
        results[name] = {
            "captions": text_scores(text_side, caption_vectors, caption_relevant),
            "class_queries_map": text_scores(
                text_side, class_queries, [by_category[n] for n in kept]
            )["mean_ap"],
            "image_map": image_map(image_side, labels),
        }
        row = results[name]
        print(
            f"{name:32s} caption mAP {row['captions']['mean_ap']:.3f} "
            f"R@1 {row['captions']['r@1']:.3f} R@5 {row['captions']['r@5']:.3f} "
            f"R@10 {row['captions']['r@10']:.3f}  class-text mAP {row['class_queries_map']:.3f}"
            f"  image mAP {row['image_map']:.3f}",
            flush=True,
        )
    meta = {"images": len(items), "captions": len(captions), "class_queries": len(kept)}
    print(meta)
    if args.out:
        args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
