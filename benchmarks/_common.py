"""Shared set-up for the benchmark scripts (not product code, not a test).

Each benchmark runs against its own database (`cbir_bench` in the embedded
PostgreSQL, or whatever DATABASE_URL names if the caller sets it) and a
temporary MEDIA_ROOT, so users' galleries are never touched. Thread limits
must be set before NumPy / PyTorch / FAISS are imported, hence the order of
the functions here: `limit_threads`, then `django_setup`.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
BENCH_DB_NAME = "cbir_bench"
BENCH_PREFIX = "bench-"  # usernames and gallery slugs this code creates (and may clean up)

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def limit_threads(threads: int) -> None:
    """Pin BLAS/OpenMP pools to `threads` (0 = leave the libraries' defaults).

    Must run before numpy/torch/faiss are imported for the env vars to count;
    torch and faiss are also set explicitly afterwards in `apply_thread_limits`.
    """
    if threads > 0:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
        os.environ["CBIR_ENCODER_THREADS"] = str(threads)


def apply_thread_limits(threads: int) -> dict[str, int]:
    import faiss
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
        faiss.omp_set_num_threads(threads)
    return {"torch": torch.get_num_threads(), "faiss": faiss.omp_get_max_threads()}


def django_setup(*, encoder: str | None = None, batch_size: int | None = None) -> Path:
    """Configure Django on the benchmark database and a temp MEDIA_ROOT; migrate.

    Returns the temporary media folder (the caller removes it with `remove_media`).
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cbir_site.settings")
    os.environ["CBIR_EMBEDDED_DB_NAME"] = BENCH_DB_NAME
    media = temp_dir("cbir-bench-media-")
    os.environ["CBIR_MEDIA_ROOT"] = str(media)
    os.environ.setdefault("CBIR_LOG_LEVEL", "WARNING")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if encoder:
        os.environ["CBIR_ENCODER"] = encoder
    if batch_size:
        os.environ["CBIR_EMBED_BATCH_SIZE"] = str(batch_size)

    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    name = str(settings.DATABASES["default"].get("NAME", ""))
    if "bench" not in name:
        # DATABASE_URL wins over CBIR_EMBEDDED_DB_NAME: never write into a real database.
        raise SystemExit(
            f"Refusing to run against database {name!r}: unset DATABASE_URL (the embedded "
            f"{BENCH_DB_NAME} database is used) or point it at a database named *bench*."
        )
    call_command("migrate", verbosity=0)
    return media


def configure_open_clip() -> str | None:
    """Use configured open_clip weights when present; otherwise a random-weight ViT-B-32.

    Speed does not depend on the weights' values, only on the architecture, so a
    random ViT-B-32 (model hubs are unreachable here) measures the real code path.
    Returns a note for the report, or None when real weights are used.
    """
    from indexing.encoders.base import EncoderConfig
    from indexing.encoders.openclip import openclip_weights_present

    config = EncoderConfig(
        kind="open_clip",
        openclip_model=os.environ.get("CBIR_OPENCLIP_MODEL", "ViT-B-32"),
        openclip_pretrained=os.environ.get("CBIR_OPENCLIP_PRETRAINED", "laion2b_s34b_b79k"),
        openclip_cache_dir=os.environ.get("CBIR_OPENCLIP_CACHE_DIR") or None,
    )
    if openclip_weights_present(config):
        return None
    from indexing.encoders.random_openclip import write_random_openclip

    folder = temp_dir("cbir-bench-openclip-") / "ViT-B-32-random"
    write_random_openclip(folder, base="ViT-B-32")
    os.environ["CBIR_OPENCLIP_MODEL"] = f"local-dir:{folder}"
    return f"no open_clip weights on this machine: random-weight ViT-B-32 from {folder}"


def temp_dir(prefix: str) -> Path:
    """A temporary folder removed when the process exits (even after an error)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def remove_media(media: Path) -> None:
    shutil.rmtree(media, ignore_errors=True)


def bench_user(tag: str):  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    name = f"{BENCH_PREFIX}{tag}-{os.getpid()}-{int(time.time())}"
    return get_user_model().objects.create_user(username=name, password=None)


def delete_galleries_fast(gallery_ids: list[int]) -> None:
    """Delete benchmark galleries with plain SQL (the ORM collector is slow at 100k images).

    Only for rows the benchmark created: synthetic images have no feedback or other
    dependents besides embeddings and feed events.
    """
    from django.db import connection, transaction

    from galleries.models import Gallery, Image
    from indexing.models import Embedding, IndexEvent

    if not gallery_ids:
        return
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"DELETE FROM {IndexEvent._meta.db_table} WHERE image_id IN "
            f"(SELECT id FROM {Image._meta.db_table} WHERE gallery_id = ANY(%s))",
            [gallery_ids],
        )
        cur.execute(
            f"DELETE FROM {Embedding._meta.db_table} WHERE gallery_id = ANY(%s)", [gallery_ids]
        )
        cur.execute(f"DELETE FROM {Image._meta.db_table} WHERE gallery_id = ANY(%s)", [gallery_ids])
        Gallery.objects.filter(id__in=gallery_ids).delete()


def cleanup_leftovers() -> int:
    """Remove galleries and users left by an earlier benchmark run that was interrupted."""
    from django.contrib.auth import get_user_model

    from galleries.models import Gallery

    stale = list(Gallery.objects.filter(slug__startswith=BENCH_PREFIX).values_list("id", flat=True))
    delete_galleries_fast(stale)
    get_user_model().objects.filter(username__startswith=BENCH_PREFIX).delete()
    return len(stale)


def summary_ms(values_s: list[float]) -> dict[str, float]:
    """p50 / p99 / mean / min / max of durations given in seconds, returned in milliseconds."""
    import numpy as np

    ms = np.asarray(values_s, dtype=np.float64) * 1000.0
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "mean": float(statistics.fmean(ms)),
        "min": float(ms.min()),
        "max": float(ms.max()),
        "n": len(ms),
    }


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import faiss
    import numpy
    import torch

    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "faiss": faiss.__version__,
    }


def rss_mib() -> float:
    """Resident set size of this process now (Linux /proc; NaN elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])


def embed_files_cached(
    paths: list[Path], store_prefix: Path, *, batch_size: int = 16
) -> tuple[Any, str, dict[str, Any]]:
    """Bundled-encoder vectors (n x d float32) of image files, cached by content.

    The cache is `<store_prefix>-<hash of the model name>.npz`, keyed by each file's
    SHA-256: a re-run encodes only files it has not seen (identical files once).
    Decoding is the product's (galleries.imaging.decode_rgb: EXIF orientation,
    transparency onto white). Returns (vectors, model name, counts and seconds).
    """
    import hashlib

    import numpy as np

    from galleries.imaging import decode_rgb
    from indexing.encoders.base import EncoderConfig, create_encoder

    cache = store_prefix.parent
    encoder = create_encoder(
        EncoderConfig(kind="bundled", batch_size=batch_size, cache_dir=str(cache / "encoder"))
    )
    key = hashlib.sha256(encoder.name.encode()).hexdigest()[:12]
    store = store_prefix.with_name(f"{store_prefix.name}-{key}.npz")
    known: dict[str, Any] = {}
    if store.is_file():
        data = np.load(store)
        known = dict(zip(data["sha256"].tolist(), data["vectors"], strict=True))
    blobs = [path.read_bytes() for path in paths]
    hashes = [hashlib.sha256(b).hexdigest() for b in blobs]
    first = {h: i for i, h in reversed(list(enumerate(hashes)))}
    todo = sorted(i for h, i in first.items() if h not in known)
    started = time.perf_counter()
    for n, start in enumerate(range(0, len(todo), 32)):
        chunk = todo[start : start + 32]
        images = [decode_rgb(blobs[i], min_side=encoder.image_size) for i in chunk]
        known.update(zip((hashes[i] for i in chunk), encoder.encode_images(images), strict=True))
        if n % 8 == 7 or start + 32 >= len(todo):
            done = start + len(chunk)
            rate = done / (time.perf_counter() - started)
            print(f"  embedded {done}/{len(todo)} ({rate:.1f} img/s)", flush=True)
            _save_vectors(store, known)  # an interrupted run keeps its work
    stats = {
        "encoded": len(todo),
        "cached": len(paths) - len(todo),
        "encode_s": time.perf_counter() - started,
    }
    return np.stack([known[h] for h in hashes]).astype(np.float32), encoder.name, stats


def _save_vectors(store: Path, known: dict[str, Any]) -> None:
    import numpy as np

    store.parent.mkdir(parents=True, exist_ok=True)
    partial = store.with_name(f"{store.stem}.{os.getpid()}.tmp.npz")
    np.savez(partial, sha256=np.array(list(known)), vectors=np.stack(list(known.values())))
    partial.replace(store)
