"""manage.py cbir_explain_evaluate COCO_ROOT: the pointing game for every heat-map method.

    manage.py cbir_explain_evaluate /data/coco-mini --encoders bundled,random-vit

A command of its own rather than a `cbir_evaluate` experiment: the pointing
game reads the COCO annotations and the images directly and needs no
database, gallery or index, while cbir_evaluate's experiments all run on an
indexed *_eval database. Writes report.md and results.json (default
docs/evaluation/explanations/).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cbir_site.config import site_config
from explain.config import explain_config
from explain.heatmaps import Budget, explain_heatmap, methods_for
from explain.pointing import Pair, Tally, by_image, coco_pairs, hits, peak_pixel, random_hit_rate
from galleries.decoding import image_decode
from indexing.encoders.base import EncoderConfig, create_encoder

WORKING_SIDE = 1024
ENCODERS = ("bundled", "random-vit")


class Command(BaseCommand):
    help = "Pointing game (Zhang et al. 2016) of the explanation heat maps on COCO annotations."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("root", type=Path, help="COCO folder: annotations/ and <split>/")
        parser.add_argument("--split", default="val2017")
        parser.add_argument("--encoders", default="bundled,random-vit")
        parser.add_argument("--methods", default="", help="default: every method per encoder")
        parser.add_argument("--max-images", type=int, default=0, help="0: all")
        parser.add_argument("--max-passes", type=int, default=explain_config().max_passes)
        parser.add_argument("--time-budget", type=float, default=explain_config().time_budget_s)
        parser.add_argument("--work-dir", type=Path, default=Path(".cbir/evaluation/explain"))
        parser.add_argument("--out", type=Path, default=Path("docs/evaluation/explanations"))

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        root: Path = options["root"]
        if not (root / "annotations" / f"instances_{options['split']}.json").is_file():
            raise CommandError(f"{root} has no annotations/instances_{options['split']}.json.")
        pairs = coco_pairs(root, options["split"])
        groups = list(by_image(pairs))
        if options["max_images"]:
            keep = np.linspace(0, len(groups) - 1, options["max_images"]).round().astype(int)
            groups = [groups[i] for i in sorted(set(keep))]
        pairs = [p for _, group in groups for p in group]
        budget = Budget(max_passes=options["max_passes"], time_s=options["time_budget"])
        results: dict[str, Any] = {
            "pairs": len(pairs),
            "images": len(groups),
            "budget": budget.__dict__,
        }
        results["baselines"] = self._baselines(pairs)
        results["methods"] = []
        wanted = [m for m in options["methods"].split(",") if m]
        for name in [e for e in options["encoders"].split(",") if e]:
            encoder = self._encoder(name, options["work_dir"])
            for method in [m for m in methods_for(encoder) if not wanted or m in wanted]:
                self.stdout.write(f"{name} / {method}: {len(pairs)} pairs")
                results["methods"].append(
                    {"encoder": name, "model": encoder.name, "method": method}
                    | self._play(encoder, method, groups, budget)
                )
        results["agreement"] = agreement(results["methods"], budget.grid)
        out: Path = options["out"]
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2))
        (out / "report.md").write_text(report(results, options["split"]))
        self.stdout.write(self.style.SUCCESS(f"Report in {out / 'report.md'}"))

    def _encoder(self, name: str, work_dir: Path):  # type: ignore[no-untyped-def]
        if name not in ENCODERS:
            raise CommandError(f"--encoders: one of {', '.join(ENCODERS)}.")
        if name == "bundled":
            cache = str(site_config().data_dir / "encoder-cache")
            return create_encoder(EncoderConfig(kind="bundled", cache_dir=cache))
        from indexing.encoders.random_openclip import write_random_openclip

        folder = write_random_openclip(work_dir.resolve() / "random-vit", seed=0)
        return create_encoder(
            EncoderConfig(
                kind="open_clip",
                openclip_model=f"local-dir:{folder}",
                openclip_pretrained="",
                text_prompt="{}",
            )
        )

    def _baselines(self, pairs: list[Pair]) -> dict:
        centre, random = Tally(), Tally()
        for pair in pairs:
            centre.add(hits(pair, pair.width / 2, pair.height / 2), pair.difficult)
            random.add(random_hit_rate(pair), pair.difficult)
        return {"centre": centre.rates(), "random": random.rates()}

    def _play(self, encoder, method: str, groups, budget: Budget) -> dict:  # type: ignore[no-untyped-def]
        tally, seconds, first, passes, incomplete = Tally(), [], [], [], 0
        peaks: list[tuple[float, float, bool]] = []  # (x, y) as fractions, and the hit
        encoder = _Memo(encoder)  # an image's other categories reuse its masked copies' vectors
        texts = sorted({p.category for _, group in groups for p in group})
        queries = dict(
            zip(texts, encoder.encode_texts([f"a photo of a {t}" for t in texts]), strict=True)
        )
        for n, (path, group) in enumerate(groups, start=1):
            picture = _picture(path, encoder.image_size)
            for k, pair in enumerate(group):
                started = time.perf_counter()
                heat = explain_heatmap(
                    method,
                    encoder,
                    picture,
                    queries[pair.category],
                    budget=budget,
                    text=f"a photo of a {pair.category}",
                )
                seconds.append(time.perf_counter() - started)
                if k == 0:
                    first.append(seconds[-1])
                passes.append(heat.passes)
                incomplete += not heat.complete
                x, y = peak_pixel(heat.grid, pair.width, pair.height)
                tally.add(hits(pair, x, y), pair.difficult)
                peaks.append((x / pair.width, y / pair.height, hits(pair, x, y)))
            if n % 10 == 0:
                self.stdout.write(f"  {n}/{len(groups)} images, hit rate {tally.rates()[0]:.3f}")
        return {
            "hit_rate": tally.rates(),
            "seconds_p50": float(np.percentile(seconds, 50)),
            "seconds_p95": float(np.percentile(seconds, 95)),
            "first_seconds_p50": float(np.percentile(first, 50)),
            "first_seconds_p95": float(np.percentile(first, 95)),
            "passes_mean": float(np.mean(passes)),
            "passes_max": int(np.max(passes)),
            "incomplete": incomplete,
            "difficult_pairs": tally.total_difficult,
            "peaks": peaks,
        }


class _Memo:
    """The encoder, remembering image vectors by pixels: the same masked copy is encoded once.

    Occlusion's masked copies do not depend on the query, so an image's second and later
    categories cost no forward pass; the report gives the uncached cost (each image's
    first explanation) beside the amortised one.
    """

    def __init__(self, encoder):  # type: ignore[no-untyped-def]
        self._encoder = encoder
        self._vectors: dict[bytes, np.ndarray] = {}

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._encoder, name)

    def encode_images(self, images):  # type: ignore[no-untyped-def]
        import hashlib

        keys = [hashlib.sha1(img.tobytes()).digest() for img in images]
        missing = [i for i, key in enumerate(keys) if key not in self._vectors]
        if missing:
            vectors = self._encoder.encode_images([images[i] for i in missing])
            self._vectors.update({keys[i]: v for i, v in zip(missing, vectors, strict=True)})
        if len(self._vectors) > 4096:
            self._vectors.clear()
        return np.stack([self._vectors[key] for key in keys])


def _picture(path: Path, min_side: int):  # type: ignore[no-untyped-def]
    picture = image_decode(path.read_bytes(), min_side=min_side)  # the guarded path
    picture.thumbnail((WORKING_SIDE, WORKING_SIDE))
    return picture.convert("RGB")


def agreement(methods: list[dict], grid: int) -> list[dict]:
    """Each fast method against occlusion of the same encoder, on the same pairs."""
    rows = []
    for m in methods:
        reference = next(
            (o for o in methods if o["encoder"] == m["encoder"] and o["method"] == "occlusion"),
            None,
        )
        if reference is None or m is reference:
            continue
        a, b = np.asarray(m["peaks"], float), np.asarray(reference["peaks"], float)
        near = np.max(np.abs(a[:, :2] - b[:, :2]), axis=1) <= 1.0 / grid
        rows.append(
            {
                "encoder": m["encoder"],
                "method": m["method"],
                "peak_within_a_cell": float(near.mean()),
                "same_verdict": float((a[:, 2] == b[:, 2]).mean()),
            }
        )
    return rows


def report(results: dict, split: str) -> str:
    centre, random = results["baselines"]["centre"], results["baselines"]["random"]
    lines = [
        "# Explanations: the pointing game on COCO-MINI",
        "",
        f"{results['pairs']} (image, category) pairs from {results['images']} images of "
        f'{split}; query "a photo of a <category>"; hit = the heat map\'s maximum within 15 px '
        "of a box of that category (Zhang et al., ECCV 2016). Difficult: the category's boxes "
        "cover under a quarter of the image and another category is present.",
        "",
        "| encoder | method | hit rate | difficult | vs centre | s p50 / p95 (uncached) "
        "| s p50 / p95 (amortised) | passes (mean / max) |",
        "|---|---|---|---|---|---|---|---|",
        f"| — | centre point | {centre[0]:.3f} | {centre[1]:.3f} | — | 0 | 0 | 0 |",
        f"| — | random point (expected) | {random[0]:.3f} | {random[1]:.3f} | — | 0 | 0 | 0 |",
    ]
    for m in results["methods"]:
        rate, hard = m["hit_rate"]
        verdict = "better" if rate > centre[0] else "**no better than the centre**"
        label = m["encoder"] + (
            " (random weights: meaningless)" if m["encoder"] == "random-vit" else ""
        )
        lines.append(
            f"| {label} | {m['method']} | {rate:.3f} | {hard:.3f} | {verdict} | "
            f"{m['first_seconds_p50']:.3f} / {m['first_seconds_p95']:.3f} | "
            f"{m['seconds_p50']:.3f} / {m['seconds_p95']:.3f} | "
            f"{m['passes_mean']:.1f} / {m['passes_max']} |"
        )
    lines += [
        "",
        "Checked against occlusion on the same pairs: how often the peak lies within one "
        "occlusion cell (1/grid of each side) of occlusion's peak, and how often both hit or "
        "both miss.",
        "",
        "| encoder | method | peak within a cell of occlusion's | same hit/miss |",
        "|---|---|---|---|",
    ]
    for row in results["agreement"]:
        lines.append(
            f"| {row['encoder']} | {row['method']} | {row['peak_within_a_cell']:.3f} | "
            f"{row['same_verdict']:.3f} |"
        )
    return "\n".join(lines) + "\n"
