"""run_evaluation: load a dataset, embed it with each encoder, run the experiments, write reports.

It works on whatever database Django is configured with: the management
command is what makes sure that is a separate *_eval database (tests point
it at the test database). Settings changed for the run (no background
tasks, k up to the collection size, each encoder in turn) are overridden
in-process and restored afterwards.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.test.utils import override_settings

from cbir_site.config import configs_snapshot, site_config
from evaluation.datasets import Dataset, DatasetSpec, load_dataset
from evaluation.experiments import EXPERIMENTS
from evaluation.experiments.common import MAX_K, Context, Options, Scored
from evaluation.experiments.retrieval import retrieval_scores, retrieval_section
from evaluation.loading import LoadedDataset, Log, dataset_load, embeddings_ensure
from evaluation.report import Section, write_outputs
from indexing.config import indexing_config
from indexing.encoders.base import EncoderUnavailable, registered_kinds, resolve_kind
from indexing.runtime import encoder_config, get_encoder
from search.request import Fusion

RANDOM_FLOOR = "random-floor"
RANDOM_FLOOR_LABEL = "random-vit-b-32"


@dataclass(frozen=True)
class EvaluationConfig:
    dataset: DatasetSpec
    experiments: tuple[str, ...] = ("retrieval",)
    encoders: tuple[str, ...] = ()  # kinds (bundled, open_clip, fake) or random-floor; () = active
    random_floor: bool = False
    work_dir: Path = Path(".cbir/evaluation")
    out_dir: Path | None = None  # default CBIR_DATA_DIR/evaluation/reports/<dataset>-<encoders>
    max_queries: int | None = None
    options: Options = field(default_factory=Options)
    batch_size: int = 32
    progress: bool = True


@dataclass(frozen=True)
class EncoderChoice:
    label: str
    kind: str
    overrides: dict[str, Any]


@dataclass
class EvaluationResult:
    out_dir: Path
    files: dict[str, Path]
    header: dict[str, Any]
    sections: list[Section]


def run_evaluation(config: EvaluationConfig, *, log: Log = print) -> EvaluationResult:
    unknown = [e for e in config.experiments if e not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"Unknown experiments {unknown}; known: {', '.join(EXPERIMENTS)}.")
    started = time.perf_counter()
    dataset = load_dataset(config.dataset)
    choices = encoder_choices(config)
    max_k = max(site_config().search_max_k, min(len(dataset.items), MAX_K))
    # Every query must hit the backend under test: no pgvector answers while an index builds.
    with override_settings(
        CBIR_BACKGROUND_TASKS=False, CBIR_SEARCH_MAX_K=max_k, CBIR_INDEX_BUILD_IN_BACKGROUND=False
    ):
        loaded = dataset_load(dataset=dataset, progress=config.progress, log=log)
        encoders, retrieval, sizes, sections, notes = _run_encoders(config, loaded, choices, log)
        snapshot = settings_snapshot()
    if retrieval:
        sections.insert(0, retrieval_section(retrieval, collection_sizes=sizes))
    # Not docs/evaluation/ (tracked): a run is published there only when --out names it.
    out_dir = config.out_dir or site_config().data_dir / "evaluation" / "reports" / (
        f"{dataset.name}-{'+'.join(e['label'] for e in encoders)}"
    )
    header = _header(config, dataset, loaded, encoders, notes, time.perf_counter() - started)
    header["settings"] = snapshot  # as the run saw them (per-encoder overrides: "encoders")
    files = write_outputs(out_dir, "evaluation", header, sections)
    log(f"Wrote {', '.join(str(p) for p in files.values())}")
    return EvaluationResult(out_dir, files, header, sections)


def _run_encoders(
    config: EvaluationConfig, loaded: LoadedDataset, choices: list[EncoderChoice], log: Log
) -> tuple[
    list[dict[str, Any]], dict[str, dict[str, Scored]], dict[str, int], list[Section], list[str]
]:
    encoders: list[dict[str, Any]] = []
    retrieval: dict[str, dict[str, Scored]] = {}
    sizes: dict[str, int] = {}
    sections: list[Section] = []
    notes: list[str] = []
    usable: list[EncoderChoice] = []
    for choice in choices:
        with override_settings(**choice.overrides):
            try:
                encoder = get_encoder()
            except EncoderUnavailable as exc:
                notes.append(f"Encoder {choice.label} skipped: {exc}")
                log(notes[-1])
                continue
            report = embeddings_ensure(
                loaded=loaded,
                encoder=encoder,
                cache_dir=config.work_dir / "embeddings",
                batch_size=config.batch_size,
                progress=config.progress,
                log=log,
            )
            encoders.append(
                {
                    "label": choice.label,
                    "kind": choice.kind,
                    "model_name": encoder.name,
                    "dim": encoder.dim,
                    "embeddings": report,
                    "overrides": choice.overrides,
                }
            )
            ctx = _context(config, loaded, choice.label, encoder.name, log)
            sizes[choice.label] = ctx.collection_size
            with one_thread_per_query():
                if "retrieval" in config.experiments:
                    retrieval[choice.label] = retrieval_scores(ctx)
                if not usable:  # the first encoder runs every other experiment
                    for name in config.experiments:
                        if name != "retrieval":
                            log(f"Experiment {name} ({choice.label})")
                            sections.append(EXPERIMENTS[name].runner()(ctx))
            usable.append(choice)
    if not usable:
        raise EncoderUnavailable("No encoder could be loaded: " + " / ".join(notes))
    if "retrieval" in config.experiments and len(usable) > 1:
        _fused(config, loaded, usable, retrieval, sizes, notes, log)
    return encoders, retrieval, sizes, sections, notes


def _fused(
    config: EvaluationConfig,
    loaded: LoadedDataset,
    usable: list[EncoderChoice],
    retrieval: dict[str, dict[str, Scored]],
    sizes: dict[str, int],
    notes: list[str],
    log: Log,
) -> None:
    """The rankings of every encoder fused by the platform (CBIR_FUSION_ENCODERS)."""
    kinds = [c.kind for c in usable]
    if len(set(kinds)) < len(kinds):
        notes.append("Fusion skipped: two encoders of one kind cannot be fused by the platform.")
        return
    overrides: dict[str, Any] = {}
    for choice in reversed(usable):  # the first (active) encoder's settings win
        overrides.update(choice.overrides)
    for method in (Fusion.RRF, Fusion.LOG_VOTE):
        label = f"fused {'+'.join(c.label for c in usable)} ({method})"
        with (
            override_settings(**overrides, CBIR_FUSION_ENCODERS=kinds, CBIR_FUSION_METHOD=method),
            one_thread_per_query(),
        ):
            ctx = _context(config, loaded, label, get_encoder().name, log)
            sizes[label] = ctx.collection_size
            retrieval[label] = retrieval_scores(ctx)


@contextmanager
def one_thread_per_query() -> Iterator[None]:
    """PyTorch and FAISS intra-op threads pinned to 1 while the experiments search.

    The experiments ask one query at a time, one vector each: an OpenMP team per
    search buys nothing there, and on shared cores every team waits at its barrier
    for descheduled members (a FAISS search over 79 vectors took 11 ms with 2 threads
    on a loaded 2-core machine, 0.01 ms with 1). Web workers are pinned the same way
    (cbir_site/gunicorn_conf.py). The rankings do not depend on the thread count.
    """
    import faiss
    import torch

    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        faiss.omp_set_num_threads(before[1])


def _context(
    config: EvaluationConfig, loaded: LoadedDataset, label: str, model_name: str, log: Log
) -> Context:
    return Context(
        dataset=loaded.dataset,
        loaded=loaded,
        encoder_label=label,
        model_name=model_name,
        options=config.options,
        max_queries=config.max_queries,
        progress=config.progress,
        log=log,
    )


def encoder_choices(config: EvaluationConfig) -> list[EncoderChoice]:
    names = list(dict.fromkeys(config.encoders or (indexing_config().encoder,)))
    if config.random_floor and RANDOM_FLOOR not in names:
        names.append(RANDOM_FLOOR)
    choices = []
    for name in names:
        if name == RANDOM_FLOOR:
            folder = random_floor_model(config.work_dir)
            overrides = {
                "CBIR_ENCODER": "open_clip",
                "CBIR_OPENCLIP_MODEL": f"local-dir:{folder}",
                "CBIR_OPENCLIP_PRETRAINED": "",
            }
            choices.append(EncoderChoice(RANDOM_FLOOR_LABEL, "open_clip", overrides))
        elif name == "auto":
            kind = resolve_kind(encoder_config())
            choices.append(EncoderChoice(kind, kind, {"CBIR_ENCODER": kind}))
        elif name in registered_kinds():
            choices.append(EncoderChoice(name, name, {"CBIR_ENCODER": name}))
        else:
            known = ", ".join([*registered_kinds(), RANDOM_FLOOR])
            raise ValueError(f"Unknown encoder {name!r}; use one of {known}.")
    return choices


def random_floor_model(work_dir: Path) -> Path:
    """A random-weight ViT-B-32 (seed 0) written once under the work dir: the floor."""
    from indexing.encoders.random_openclip import write_random_openclip

    folder = (work_dir / "models" / RANDOM_FLOOR_LABEL).resolve()
    if not (folder / "open_clip_pytorch_model.bin").is_file():
        write_random_openclip(folder, base="ViT-B-32", seed=0)
    return folder


def _header(
    config: EvaluationConfig,
    dataset: Dataset,
    loaded: LoadedDataset,
    encoders: list[dict[str, Any]],
    notes: list[str],
    seconds: float,
) -> dict[str, Any]:
    used = Context(dataset, loaded, "", "", max_queries=config.max_queries)
    return {
        "dataset": {
            "name": dataset.name,
            "kind": dataset.kind,
            "source": dataset.source,
            "items": len(dataset.items),
            "galleries": [
                {"name": n, "slug": g.slug, "images": g.images.count()}
                for n, g in loaded.galleries.items()
            ],
            "queries": len(dataset.queries),
            "queries_used": len(used.queries()),
            "load": {"counts": loaded.counts, "rejected": loaded.rejected},
            "notes": list(dataset.notes),
        },
        "encoders": encoders,
        "experiments": list(config.experiments),
        "config": asdict(config),
        "database": settings.DATABASES["default"].get("NAME"),
        "git": git_state(),
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(seconds, 1),
        "notes": [*dataset.notes, *notes],
    }


def settings_snapshot() -> dict[str, Any]:
    """The product settings (CBIR_*) as the run sees them, minus anything credential-like."""
    private = ("URL", "PASSWORD", "SECRET", "TOKEN")
    values = {key: getattr(settings, key) for key in dir(settings) if key.startswith("CBIR_")}
    values.update(configs_snapshot())  # the knobs of every app's config.py
    return {
        key: value
        for key, value in sorted(values.items())
        if not any(word in key for word in private)
    }


def git_state() -> dict[str, Any]:
    root = Path(settings.BASE_DIR)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}
