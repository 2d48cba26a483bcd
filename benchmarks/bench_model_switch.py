"""How long a model switch takes on this machine: the candidate's catch-up, images/s.

The collection is embedded with the fake encoder (the "current" model), then a
candidate is activated and its catch-up runs here, batch by batch, through the
same code a worker runs (`search.model_switch.catch_up_batch`: read, decode,
forward pass, pgvector write, feed events), followed by its statistics, cutoff
fit and the switch. Figures for larger collections are extrapolated linearly
from the measured rate and printed as such.

    python benchmarks/bench_model_switch.py                     # 1,000 images, bundled
    python benchmarks/bench_model_switch.py --candidate open_clip --images 300

open_clip without weights on the machine uses a random-weight ViT-B-32: the
speed depends only on the architecture. Runs against the separate `cbir_bench`
database and a temporary MEDIA_ROOT, and deletes what it created.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common

DEFAULT_DATA = _common.REPO_ROOT.parent / "shared" / "data" / "coco-mini"
EXTRAPOLATE_TO = (10_000, 100_000)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="collection size")
    parser.add_argument("--candidate", choices=["bundled", "open_clip"], default="bundled")
    parser.add_argument(
        "--data",
        default=os.environ.get("CBIR_BENCH_DATA", str(DEFAULT_DATA)),
        help="COCO-MINI folder (its JPEGs, cycled and made byte-unique); 'none' or missing: "
        "scikit-image's sample photos",
    )
    parser.add_argument("--batch", type=int, default=64, help="CBIR_MODEL_REEMBED_BATCH")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    return parser.parse_args()


def photos(data: str, count: int) -> list[tuple[str, bytes]]:
    """`count` distinct files: the source JPEGs cycled, each copy given its own comment."""
    folder = Path(data) if data and data.lower() != "none" else None
    files = (
        sorted(p for sub in ("train2017", "val2017") for p in (folder / sub).glob("*.jpg"))
        if folder is not None and folder.is_dir()
        else []
    )
    if files:
        sources = [(p.name, p.read_bytes()) for p in files]
    else:
        from galleries.samples import sample_photos

        sources = []
        for name, png in sample_photos():
            from PIL import Image as PILImage

            buffer = io.BytesIO()
            PILImage.open(io.BytesIO(png)).convert("RGB").save(buffer, format="JPEG", quality=90)
            sources.append((name.replace(".png", ".jpg"), buffer.getvalue()))
    out = []
    for i in range(count):
        name, data_bytes = sources[i % len(sources)]
        text = f"bench-copy-{i}".encode()
        comment = b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text  # a JPEG COM segment
        out.append((f"{i:05d}-{name}", data_bytes[:2] + comment + data_bytes[2:]))
    return out


def main() -> None:
    args = parse_args()
    _common.limit_threads(args.threads)
    note = _common.configure_open_clip() if args.candidate == "open_clip" else None
    os.environ["CBIR_BACKGROUND_TASKS"] = "false"
    os.environ["CBIR_MODEL_REEMBED_BATCH"] = str(args.batch)
    os.environ["CBIR_THRESHOLD_MIN_IMAGES"] = "20"
    media = _common.django_setup(encoder="fake")
    from galleries.services import gallery_create
    from indexing.embedding import images_embed
    from indexing.model_catalogue import KnownModel, model_register
    from indexing.model_models import ManagedModel
    from indexing.models import Embedding
    from indexing.runtime import get_candidate_encoder, model_selection, settings_encoder_config
    from search.cutoff_fit import collection_fit_due, cutoffs_fit_from_collection
    from search.model_switch import catch_up_batch, model_activate, model_switch_if_ready
    from search.models import GalleryStatistics
    from search.statistics import gallery_statistics_update

    _common.cleanup_leftovers()
    before = set(ManagedModel.objects.values_list("pk", flat=True))
    roles = dict(ManagedModel.objects.values_list("pk", "role"))
    user = _common.bench_user("switch")
    gallery = gallery_create(user=user, name="bench model switch", slug=user.username)
    key = "bench-candidate"
    try:
        files = photos(args.data, args.images)
        from galleries.services import image_upload

        images = []
        for name, data_bytes in files:
            outcome = image_upload(
                gallery=gallery,
                user=user,
                stream=io.BytesIO(data_bytes),
                filename=name,
                enqueue=False,
            )
            assert outcome.image is not None, outcome.message
            images.append(outcome.image)
        images_embed(image_ids=[i.pk for i in images])  # the current (fake) model
        if args.candidate == "bundled":
            candidate = KnownModel(key=key, title="bench", kind="bundled")
        else:
            config = settings_encoder_config()
            candidate = KnownModel(
                key=key,
                title="bench",
                kind="open_clip",
                openclip_model=os.environ.get("CBIR_OPENCLIP_MODEL", config.openclip_model),
                openclip_pretrained=os.environ.get(
                    "CBIR_OPENCLIP_PRETRAINED", config.openclip_pretrained or ""
                ),
            )
        model_register(candidate)
        ManagedModel.objects.filter(role__in=["active", "candidate"]).update(role="retired")
        row = model_activate(key=key)
        model_selection(fresh=True)
        started = time.perf_counter()
        get_candidate_encoder()  # weights load: once per worker process
        load_s = time.perf_counter() - started
        batches = []
        while True:
            t0 = time.perf_counter()
            result = catch_up_batch()
            if not result.get("more"):
                break
            batches.append((result["embedded"], time.perf_counter() - t0))
        embed_s = sum(s for _, s in batches)
        embedded = sum(n for n, _ in batches)
        t0 = time.perf_counter()
        gallery_statistics_update(gallery_id=gallery.pk, model_name=row.model_name)
        if collection_fit_due(model_name=row.model_name):
            cutoffs_fit_from_collection(model_name=row.model_name)
        switched = model_switch_if_ready()
        finish_s = time.perf_counter() - t0
        rate = embedded / embed_s if embed_s else 0.0
        # The first batch also pays one-time work (the query bank's captions, caches).
        later = batches[1:]
        steady = sum(n for n, _ in later) / sum(t for _, t in later) if later else rate
        info = _common.machine_info()
        print(f"Machine: {info['cpu']}, {info['logical_cpus']} logical CPUs, torch {info['torch']}")
        if note:
            print(f"Note: {note}")
        print(
            f"Candidate {row.model_name}: weights loaded in {load_s:.1f} s; re-embedded "
            f"{embedded} images in {embed_s:.1f} s = {rate:.1f} images/s "
            f"(batches of {args.batch}; {steady:.1f} images/s after the first); statistics + "
            f"cutoff fit + switch {finish_s:.2f} s; "
            f"switched: {switched is not None}"
        )
        rows = [[f"{args.images:,}", f"{embed_s / 60:.1f} min", "measured"]]
        for n in EXTRAPOLATE_TO:  # from the steady rate: one-time work does not scale
            seconds = n / steady if steady else float("nan")
            rows.append([f"{n:,}", f"{seconds / 3600:.1f} h", "extrapolated (linear)"])
        print(_common.table(rows, ["images", "re-embed time", ""]))
        _common.write_results(
            "bench_model_switch",
            {
                "machine": info,
                "candidate": row.model_name,
                "images": embedded,
                "weights_load_s": load_s,
                "embed_s": embed_s,
                "images_per_s": rate,
                "images_per_s_after_first_batch": steady,
                "finish_s": finish_s,
                "switched": switched is not None,
                "note": note,
            },
        )
    finally:
        _common.delete_galleries_fast([gallery.pk])
        name = ManagedModel.objects.filter(key=key).values_list("model_name", flat=True).first()
        if name:
            Embedding.objects.filter(model_name=name).delete()
            GalleryStatistics.objects.filter(model_name=name).delete()
        ManagedModel.objects.exclude(pk__in=before).delete()
        for pk, role in roles.items():
            ManagedModel.objects.filter(pk=pk).update(role=role)
        user.delete()
        _common.remove_media(media)


if __name__ == "__main__":
    main()
