"""Static vs dynamic distance thresholds: macro precision, recall and F1 on labelled clip art.

Data: Debian's `openclipart-png` (public-domain clip art, about 8,000 PNGs in
category folders such as animals/mammals, food/fruit). By default the script
fetches it once into benchmarks/results/cache/ (git-ignored):

    cd benchmarks/results/cache && apt-get download openclipart-png
    dpkg-deb -x openclipart-png_*.deb openclipart   # PNGs under usr/share/openclipart/png

and reuses it afterwards; `--data PATH` points at an existing copy (the `png`
folder, or any folder above it).

Design (see benchmarks/README.md):
- a class is a category folder; a folder with fewer than --min-class images
  is folded into its parent, and then only leaf folders (no sub-folder that is
  a class itself) are classes: a parent's own images are a catch-all that
  overlaps its sub-classes ("animals" beside "animals/mammals"). `unsorted` is
  left out. At most --limit images per class (a seeded random sample);
- a gallery is a top-level folder (animals, food, signs_and_symbols, ...) with
  at least two classes, so galleries differ in how tightly they cluster;
- every image is a query against its own gallery, itself excluded; relevant =
  the other images of its class;
- m_g = search.thresholds.mean_neighbour_distance over each gallery (n = 5,
  also 3 and 10), M = mean of m_g, T_g = T_static + w (m_g - M). T_static
  (static) and (T_static, w) (dynamic, query-time) are fitted by grid search
  for macro F1 on a random half of the queries and scored on the other half,
  over --splits random splits.

    python benchmarks/bench_thresholds.py                  # fetch data, embed (cached), evaluate
    python benchmarks/bench_thresholds.py --data /tmp/openclipart --limit 30

Embeddings are cached in the cache folder (.npz keyed by each file's SHA-256
and the encoder's model name): a re-run does not encode again. Needs no
database.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

DEFAULT_CACHE = _common.RESULTS_DIR / "cache"
PACKAGE = "openclipart-png"
EXCLUDED_TOP = {"unsorted"}
NEIGHBOURS = (3, 5, 10)
DEFAULT_N = 5
MAX_PIXELS = 80_000_000  # the product's default CBIR_MAX_IMAGE_PIXELS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="extracted openclipart folder")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download/embeddings")
    parser.add_argument("--limit", type=int, default=60, help="images per class at most")
    parser.add_argument("--min-class", type=int, default=20, help="smallest class kept")
    parser.add_argument("--splits", type=int, default=5, help="random fit/test half splits")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--export-tree",
        type=Path,
        default=None,
        metavar="DIR",
        help="write the selection as DIR/<gallery>/<class>/<file> symlinks (for "
        "`manage.py cbir_evaluate folder DIR`) and stop",
    )
    return parser.parse_args()


# ---------------------------------------------------------------- data


def fetch_openclipart(cache: Path) -> Path:
    """Download and unpack the Debian package once; return the folder of PNG categories."""
    root = cache / "openclipart"
    png = root / "usr" / "share" / "openclipart" / "png"
    if png.is_dir():
        return png
    cache.mkdir(parents=True, exist_ok=True)
    debs = sorted(cache.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        print(f"downloading {PACKAGE} into {cache} (about 130 MB) ...", flush=True)
        subprocess.run(["apt-get", "download", PACKAGE], cwd=cache, check=True)
        debs = sorted(cache.glob(f"{PACKAGE}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True)
    return png


def find_png_root(path: Path) -> Path:
    for candidate in (
        path / "usr/share/openclipart/png",
        path / "openclipart/usr/share/openclipart/png",
        path,
    ):
        if candidate.is_dir() and any(candidate.glob("*/*.png")):
            return candidate
    raise SystemExit(f"no openclipart PNG folders under {path}")


@dataclass(frozen=True)
class Item:
    path: Path
    label: str  # class: the category folder, e.g. "animals/mammals"
    gallery: str  # top-level folder


def collect(root: Path, *, min_class: int, limit: int, seed: int) -> list[Item]:
    """Classes, galleries and a per-class sample, as the module docstring describes."""
    own: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(root.rglob("*.png")):
        folder = path.parent.relative_to(root).as_posix()
        if folder != "." and folder.split("/")[0] not in EXCLUDED_TOP and _uploadable(path):
            own[folder].append(path)
    members: dict[str, list[Path]] = {f: list(p) for f, p in own.items()}
    for folder in list(own):
        parent = folder
        while "/" in parent:
            parent = parent.rsplit("/", 1)[0]
            members.setdefault(parent, [])
    # Deepest first: a folder too small to be a class hands its images to its parent.
    for folder in sorted(members, key=lambda f: -f.count("/")):
        if len(members[folder]) < min_class and "/" in folder:
            members[folder.rsplit("/", 1)[0]].extend(members[folder])
            members[folder] = []
    classes = {f for f, paths in members.items() if len(paths) >= min_class}
    leaves = {f for f in classes if not any(c.startswith(f + "/") for c in classes)}
    by_gallery: dict[str, list[str]] = defaultdict(list)
    for label in sorted(leaves):
        by_gallery[label.split("/")[0]].append(label)
    rng = random.Random(seed)
    items: list[Item] = []
    for gallery, labels in sorted(by_gallery.items()):
        if len(labels) < 2:
            continue
        for label in labels:
            paths = sorted(members[label])
            if len(paths) > limit:
                paths = sorted(rng.sample(paths, limit))
            items.extend(Item(p, label, gallery) for p in paths)
    return items


def export_tree(items: list[Item], out: Path) -> None:
    """The same selection as a folder of classes: gallery folder, class folder, symlinks."""
    out.mkdir(parents=True, exist_ok=True)
    for item in items:
        folder = out / item.gallery / item.label.replace("/", "__")
        folder.mkdir(parents=True, exist_ok=True)
        target = item.path.resolve()
        link, n = folder / item.path.name, 1
        while link.is_symlink() and link.resolve() != target:  # a folded sub-folder's namesake
            link, n = folder / f"{item.path.stem}-{n}{item.path.suffix}", n + 1
        if not link.is_symlink():
            link.symlink_to(target)


# ---------------------------------------------------------------- embeddings


def _uploadable(path: Path) -> bool:
    """Within the product's default pixel limit (CBIR_MAX_IMAGE_PIXELS): a few clip-art PNGs
    are posters of 100-600 megapixels that an upload would reject."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:  # reads the header only
                width, height = img.size
    except (Image.DecompressionBombError, OSError):
        return False
    return width * height <= MAX_PIXELS


# ---------------------------------------------------------------- evaluation


@dataclass
class Collection:
    vectors: Any  # (n, d) float32 unit vectors
    labels: list[str]
    galleries: list[str]
    gallery_names: list[str]
    members: dict[str, Any]  # gallery -> int array of item indices


def build_collection(items: list[Item], vectors: Any) -> Collection:
    import numpy as np

    members: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        members[item.gallery].append(i)
    return Collection(
        vectors=vectors,
        labels=[i.label for i in items],
        galleries=[i.gallery for i in items],
        gallery_names=sorted(members),
        members={g: np.asarray(ix, np.int64) for g, ix in members.items()},
    )


def ranked_lists(col: Collection) -> tuple[Any, Any]:
    """RankedLists over every query (its gallery, itself excluded) and the query order."""
    import numpy as np

    from search.threshold_fit import RankedLists
    from search.thresholds import distance_from_similarity

    labels = np.asarray(col.labels)
    distances, relevant, order = [], [], []
    for gallery in col.gallery_names:
        idx = col.members[gallery]
        block = col.vectors[idx]
        dist = distance_from_similarity(block @ block.T)
        for row, q in enumerate(idx):
            others = np.arange(len(idx)) != row
            distances.append(dist[row, others])
            relevant.append(labels[idx[others]] == labels[q])
            order.append(q)
    return RankedLists.build(distances, relevant), np.asarray(order, np.int64)


@dataclass
class Method:
    name: str
    statistic: Any | None  # per-query m (None: static)
    overall_mean: float
    neighbours: int | None


STATIC_GRID_STEP = 0.0025
WEIGHT_RANGE = (-2.0, 4.0)
WEIGHT_STEP = 0.05


def fit_method(ranked: Any, m: Method, rows: Any | None = None) -> Any:
    """Coarse-to-fine grid fit of (T_static, w) for a method on the given query rows."""
    from search.threshold_fit import fit_thresholds_refined

    stat = None if m.statistic is None else m.statistic if rows is None else m.statistic[rows]
    return fit_thresholds_refined(
        ranked,
        static_step=STATIC_GRID_STEP,
        weight_range=(0.0, 0.0) if m.statistic is None else WEIGHT_RANGE,
        weight_step=WEIGHT_STEP,
        statistic=stat,
        overall_mean=m.overall_mean,
    )


def evaluate_split(ranked: Any, methods: list[Method], fit_q: Any, test_q: Any, k: int) -> dict:
    import numpy as np

    from search.threshold_fit import dynamic_thresholds

    fit_part, test_part = ranked.subset(fit_q), ranked.subset(test_q)
    out: dict[str, Any] = {}
    for m in methods:
        fit = fit_method(fit_part, m, fit_q)
        stat_test = np.zeros(len(test_q)) if m.statistic is None else m.statistic[test_q]
        t = dynamic_thresholds(stat_test, m.overall_mean, fit.static, fit.weight)
        p, r, f1 = test_part.scores_at(t)
        counts = test_part.counts_below(t)
        out[m.name] = {
            "static": fit.static,
            "weight": fit.weight,
            "fit_f1": fit.f1,
            "precision": float(p.mean()),
            "recall": float(r.mean()),
            "f1": float(f1.mean()),
            "empty": int((counts == 0).sum()),
            "mean_returned": float(counts.mean()),
            "per_query_f1": f1,
        }
    p, r, f1 = test_part.scores_top_k(k)
    out[f"top-{k}"] = {
        "precision": float(p.mean()),
        "recall": float(r.mean()),
        "f1": float(f1.mean()),
    }
    # R-precision: k = each query's own number of relevant images (an oracle reference).
    rp = []
    for q in range(len(test_part)):
        _d, rel = test_part.block(q)
        rp.append(rel[: test_part.n_relevant[q]].mean())
    out["oracle top-|relevant|"] = {
        "precision": float(np.mean(rp)),
        "recall": float(np.mean(rp)),
        "f1": float(np.mean(rp)),
    }
    return out


def main() -> None:
    args = parse_args()
    _common.limit_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import numpy as np
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    from search.thresholds import global_mean, mean_neighbour_distance

    root = find_png_root(args.data) if args.data else fetch_openclipart(args.cache)
    items = collect(root, min_class=args.min_class, limit=args.limit, seed=args.seed)
    print(f"data: {root}")
    print(
        f"{len(items)} images, {len(set(i.label for i in items))} classes, "
        f"{len(set(i.gallery for i in items))} galleries (limit {args.limit} per class, "
        f"classes of at least {args.min_class})"
    )
    if args.export_tree:
        export_tree(items, args.export_tree)
        print(f"wrote the selection as a folder of classes under {args.export_tree}")
        return
    load_before = os.getloadavg()
    vectors, model_name, embed_stats = _common.embed_files_cached(
        [item.path for item in items],
        args.cache / "openclipart-embeddings",
        batch_size=args.batch_size,
    )
    if embed_stats["encoded"]:
        rate = embed_stats["encoded"] / embed_stats["encode_s"]
        print(
            f"encoded {embed_stats['encoded']} images in {embed_stats['encode_s']:.0f} s "
            f"({rate:.1f} img/s, torch threads {torch.get_num_threads()}, "
            f"load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f})"
        )
    col = build_collection(items, vectors)
    ranked, order = ranked_lists(col)
    position = np.empty(len(items), np.int64)
    position[order] = np.arange(len(order))  # item index -> row of ranked

    m_g = {
        n: {g: mean_neighbour_distance(col.vectors[col.members[g]], n) for g in col.gallery_names}
        for n in NEIGHBOURS
    }
    overall: dict[int, float] = {}
    for n in NEIGHBOURS:
        mean = global_mean(m_g[n].values())
        assert mean is not None  # every gallery of the collection has its m_g
        overall[n] = mean
    gallery_of_row = np.asarray([col.galleries[i] for i in order])
    methods = [Method("static", None, 0.0, None)]
    for n in NEIGHBOURS:
        stat = np.asarray([m_g[n][g] for g in gallery_of_row])
        methods.append(Method(f"dynamic n={n}", stat, overall[n], n))
        methods.append(Method(f"query-time n={n}", ranked.nearest_mean(n), overall[n], n))

    class_sizes: defaultdict[str, int] = defaultdict(int)
    for label in col.labels:
        class_sizes[label] += 1
    k = round(float(np.mean(list(class_sizes.values()))))
    splits = []
    for s in range(args.splits):
        perm = np.random.default_rng(args.seed + 1000 + s).permutation(len(ranked))
        half = len(perm) // 2
        fit_q, test_q = np.sort(perm[:half]), np.sort(perm[half:])
        started = time.perf_counter()
        splits.append(
            {
                "fit": fit_q,
                "test": test_q,
                "result": evaluate_split(ranked, methods, fit_q, test_q, k),
            }
        )
        print(f"split {s + 1}/{args.splits}: {time.perf_counter() - started:.1f} s", flush=True)

    report(col, ranked, methods, splits, m_g, overall, k, position)
    payload = summary_payload(
        args, col, methods, splits, m_g, overall, k, model_name, embed_stats, ranked
    )
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    print(f"results: {_common.write_results('bench_thresholds', payload)}")


# ---------------------------------------------------------------- report


def method_means(splits: list[dict], name: str) -> dict[str, tuple[float, float]]:
    import numpy as np

    out = {}
    for key in (
        "precision",
        "recall",
        "f1",
        "static",
        "weight",
        "fit_f1",
        "mean_returned",
        "empty",
    ):
        values = [s["result"][name][key] for s in splits if key in s["result"][name]]
        if values:
            out[key] = (float(np.mean(values)), float(np.std(values)))
    return out


def report(col, ranked, methods, splits, m_g, overall, k, position) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from search.threshold_fit import dynamic_thresholds

    names = [m.name for m in methods] + [f"top-{k}", "oracle top-|relevant|"]
    rows = []
    for name in names:
        s = method_means(splits, name)

        def cell(key: str, fmt: str = "{:.3f}", s: dict = s) -> str:
            return (fmt + " ± " + fmt).format(*s[key]) if key in s else ""

        rows.append(
            [
                name,
                cell("precision"),
                cell("recall"),
                cell("f1"),
                cell("fit_f1"),
                cell("static"),
                cell("weight", "{:.2f}"),
                cell("mean_returned", "{:.1f}"),
            ]
        )
    print(f"\n== macro P / R / F1 on the test halves (mean ± sd over {len(splits)} splits) ==")
    print(
        _common.table(
            rows,
            ["method", "precision", "recall", "F1", "F1 (fit half)", "T_static", "w", "returned"],
        )
    )

    static_f1 = np.array([s["result"]["static"]["f1"] for s in splits])
    print("\ndifference in test macro F1 against static (per split, then mean):")
    for m in methods[1:]:
        diffs = np.array([s["result"][m.name]["f1"] for s in splits]) - static_f1
        wins = int((diffs > 0).sum())
        print(
            f"  {m.name:<16} {' '.join(f'{d:+.4f}' for d in diffs)}  mean {diffs.mean():+.4f} "
            f"(better in {wins}/{len(diffs)} splits)"
        )

    # Per gallery, split 0: statistic, thresholds, test F1 static vs dynamic n=5.
    s0 = splits[0]["result"]
    dyn = s0[f"dynamic n={DEFAULT_N}"]
    test_rows = splits[0]["test"]
    print(f"\n== galleries (n={DEFAULT_N}; thresholds and test F1 from split 1) ==")
    rows = []
    for g in col.gallery_names:
        idx = col.members[g]
        labels = {col.labels[i] for i in idx}
        t_g = float(
            dynamic_thresholds(
                np.array([m_g[DEFAULT_N][g]]), overall[DEFAULT_N], dyn["static"], dyn["weight"]
            )[0]
        )
        in_test = np.isin(test_rows, position[idx])
        f1_static = s0["static"]["per_query_f1"][in_test].mean()
        f1_dyn = dyn["per_query_f1"][in_test].mean()
        rows.append(
            [
                g,
                str(len(labels)),
                str(len(idx)),
                " / ".join(f"{m_g[n][g]:.3f}" for n in NEIGHBOURS),
                f"{s0['static']['static']:.3f}",
                f"{t_g:.3f}",
                f"{f1_static:.3f}",
                f"{f1_dyn:.3f}",
            ]
        )
    print(
        _common.table(
            rows,
            [
                "gallery",
                "classes",
                "images",
                "m_g n=3/5/10",
                "T static",
                "T_g dynamic",
                "F1 static",
                "F1 dynamic",
            ],
        )
    )
    print("M (mean of m_g): " + ", ".join(f"n={n}: {overall[n]:.4f}" for n in NEIGHBOURS))


def summary_payload(args, col, methods, splits, m_g, overall, k, model_name, embed_stats, ranked):  # type: ignore[no-untyped-def]
    import numpy as np

    from search.threshold_fit import fit_thresholds

    # Recommended settings: fitted on every query (both halves), n = DEFAULT_N.
    dyn = next(m for m in methods if m.name == f"dynamic n={DEFAULT_N}")
    full_dyn = fit_method(ranked, dyn)
    full_static = fit_method(ranked, methods[0])
    # The coarse-to-fine search against the exhaustive fine grid, once.
    exhaustive = fit_thresholds(
        ranked,
        np.arange(0.0, 2.0 + 1e-9, STATIC_GRID_STEP),
        [round(WEIGHT_RANGE[0] + WEIGHT_STEP * i, 2) for i in range(121)],
        statistic=dyn.statistic,
        overall_mean=dyn.overall_mean,
    )
    print(
        f"\nfit check (dynamic n={DEFAULT_N}, all queries): coarse-to-fine T={full_dyn.static:.4f} "
        f"w={full_dyn.weight:.2f} F1 {full_dyn.f1:.4f}; exhaustive grid T={exhaustive.static:.4f} "
        f"w={exhaustive.weight:.2f} F1 {exhaustive.f1:.4f}"
    )
    print(
        f"\nrecommended for the bundled encoder "
        f"(fitted on all {len(ranked)} queries, n={DEFAULT_N}):"
    )
    print(
        f"  CBIR_THRESHOLD_STATIC_IMAGE={full_dyn.static:.3f}  CBIR_THRESHOLD_WEIGHT="
        f"{full_dyn.weight:.2f}  CBIR_THRESHOLD_NEIGHBOURS={DEFAULT_N}  "
        f"(macro F1 {full_dyn.f1:.3f} on the queries it was fitted on)"
    )
    print(
        f"  static only (w=0): CBIR_THRESHOLD_STATIC_IMAGE={full_static.static:.3f} "
        f"(macro F1 {full_static.f1:.3f})"
    )
    names = [m.name for m in methods] + [f"top-{k}", "oracle top-|relevant|"]
    return {
        "benchmark": "thresholds",
        "encoder": model_name,
        "images": len(col.labels),
        "classes": len(set(col.labels)),
        "galleries": {
            g: {
                "images": len(col.members[g]),
                "classes": len({col.labels[i] for i in col.members[g]}),
                "m_g": {n: m_g[n][g] for n in NEIGHBOURS},
            }
            for g in col.gallery_names
        },
        "overall_mean": overall,
        "top_k": k,
        "options": {k2: str(v) for k2, v in vars(args).items()},
        "embedding": embed_stats,
        "methods": {n: method_means(splits, n) for n in names},
        "splits": [
            {n: {k2: v for k2, v in s["result"][n].items() if k2 != "per_query_f1"} for n in names}
            for s in splits
        ],
        "recommended": {
            "static": full_dyn.static,
            "weight": full_dyn.weight,
            "neighbours": DEFAULT_N,
            "f1": full_dyn.f1,
            "static_only": full_static.static,
        },
        "machine": _common.machine_info(),
        "load_average": os.getloadavg(),
    }


if __name__ == "__main__":
    main()
