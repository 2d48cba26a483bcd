"""Model management: the active model, a candidate catching up, the switch, rollback, prune.

Blue-green. Activating a model makes it the *candidate*: the workers embed every
ready image with it (maintenance queue, one batch per task, resumable: each batch
is "the next ready images it lacks"), and uploads meanwhile are embedded by both
models. Search keeps the active model until the candidate

  - covers CBIR_MODEL_SWITCH_COVERAGE of the ready images,
  - has its statistics (every gallery large enough for one), and
  - has its own fitted cutoffs (search/cutoff_fit.py; a collection too small to
    fit them from, under COLLECTION_MIN_IMAGES images, starts on the defaults),

then one transaction makes it active, retires the old one and moves the feed's
model epoch; every process reads that epoch before its next search and changes
encoder. Nothing is deleted: the retired model's embeddings stay, so rolling
back is activating it again (it catches up on the uploads it missed, then
switches). `prune` deletes what retired models leave behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from cbir_site.config import site_config
from galleries.models import Gallery, Image
from indexing.encoders.base import EncoderUnavailable
from indexing.model_catalogue import KnownModel, catalogue, known_model
from indexing.model_models import ManagedModel
from indexing.model_store import files_size, model_files_present, model_files_remove
from indexing.models import Embedding, HashingThresholds, IndexFeedState
from indexing.runtime import (
    active_model_name,
    selection_invalidate,
    settings_encoder_config,
)
from search.config import search_config
from search.cutoff_models import CutoffCalibration, GalleryCutoffOverride
from search.models import GalleryStatistics

logger = logging.getLogger(__name__)

Role = ManagedModel.Role
CATCH_UP_MARK = "cbir:model-catch-up"
CATCH_UP_MARK_S = 600


class ModelError(ValueError):
    """A model operation that cannot be done; the message says why."""


@dataclass
class Readiness:
    model_name: str
    ready_images: int
    covered: int
    coverage: float
    statistics_missing: list[str] = field(default_factory=list)
    cutoffs: str = ""  # "fitted", "too-small", or "" (missing)
    waiting: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.waiting


# ---------------------------------------------------------------- rows


def model_row(key: str) -> ManagedModel:
    """The row of a catalogue model (created on first use)."""
    existing = ManagedModel.objects.filter(key=key).first()
    if existing is not None:
        return existing
    model = known_model(key)
    row, _ = ManagedModel.objects.get_or_create(
        key=key,
        defaults={"model_name": model.identity(), "config": model.encoder_overrides()},
    )
    return row


def active_row() -> ManagedModel:
    """The active model's row; the first call records the model the settings select."""
    row = ManagedModel.objects.filter(role=Role.ACTIVE).first()
    if row is not None:
        return row
    selection_invalidate()  # no managed active model: the settings' one, not a stale view
    name = active_model_name()
    by_name = ManagedModel.objects.filter(model_name=name).first()
    if by_name is None:
        entry = next((m for m in catalogue().values() if _identity(m) == name), None)
        config = settings_encoder_config()
        if entry is not None:
            key, overrides = entry.key, entry.encoder_overrides()
        else:  # configured by hand (CBIR_OPENCLIP_*, local-dir:, fake in tests)
            key = "configured"
            overrides = {
                "kind": _concrete_kind(config),
                "openclip_model": config.openclip_model,
                "openclip_pretrained": config.openclip_pretrained,
                "openclip_cache_dir": config.openclip_cache_dir,
            }
        by_name, _ = ManagedModel.objects.get_or_create(
            model_name=name, defaults={"key": key, "config": overrides}
        )
    ManagedModel.objects.filter(pk=by_name.pk).update(role=Role.ACTIVE, role_since=timezone.now())
    by_name.refresh_from_db()
    return by_name


def _identity(model: KnownModel) -> str | None:
    try:
        return model.identity()
    except EncoderUnavailable:
        return None


def _concrete_kind(config: Any) -> str:
    from indexing.encoders.base import resolve_kind

    try:
        return resolve_kind(config)
    except EncoderUnavailable:
        return config.kind


def _epoch_bump() -> None:
    IndexFeedState.objects.get_or_create(pk=1)
    IndexFeedState.objects.filter(pk=1).update(model_epoch=F("model_epoch") + 1)
    selection_invalidate()  # this process at once; the others through the feed's epoch
    transaction.on_commit(selection_invalidate)


# ---------------------------------------------------------------- activate / switch


def model_activate(*, key: str, row_config: bool = False) -> ManagedModel:
    """Make `key` the candidate (or cancel a candidate by activating the active model).

    row_config: load it as its row says (a model the settings describe, its weights
    wherever they point), not from the models folder as the catalogue would.
    """
    model = known_model(key) if key in catalogue() and not row_config else None
    row = ManagedModel.objects.filter(key=key).first()
    if model is None and row is None:
        raise ModelError(f"Unknown model {key!r}; known: {', '.join(sorted(catalogue()))}.")
    if model is not None and not model_files_present(model):
        raise ModelError(
            f"{key} is not on this machine: pull it first (manage.py cbir_models pull {key})."
        )
    with transaction.atomic():
        current = active_row()
        row = model_row(key)
        if model is not None:  # the catalogue may know better where its files are now
            row.config = model.encoder_overrides()
            row.save(update_fields=["config"])
        # Lock the rows in play: a concurrent activate or switch waits for this one.
        list(
            ManagedModel.objects.select_for_update().filter(role__in=[Role.ACTIVE, Role.CANDIDATE])
        )
        if row.pk == current.pk:
            cancelled = ManagedModel.objects.filter(role=Role.CANDIDATE)
            cancelled.update(role=Role.RETIRED, role_since=timezone.now(), switch_note="")
            _epoch_bump()
            return current
        ManagedModel.objects.filter(role=Role.CANDIDATE).exclude(pk=row.pk).update(
            role=Role.RETIRED, role_since=timezone.now(), switch_note=""
        )
        row.role, row.role_since = Role.CANDIDATE, timezone.now()
        row.switch_note = "embedding the collection"
        row.save(update_fields=["role", "role_since", "switch_note"])
        _epoch_bump()
        transaction.on_commit(lambda: catch_up_start(force=True), robust=True)
    return row


def model_activate_config(*, config: Any, model_name: str) -> ManagedModel:
    """Make the model an EncoderConfig describes the candidate (a settings change)."""
    overrides = {
        "kind": _concrete_kind(config),
        "openclip_model": config.openclip_model,
        "openclip_pretrained": config.openclip_pretrained,
        "openclip_cache_dir": config.openclip_cache_dir,
    }
    row = ManagedModel.objects.filter(model_name=model_name).first()
    if row is None:
        entry = next((m for m in catalogue().values() if _identity(m) == model_name), None)
        key = entry.key if entry else f"configured-{ManagedModel.objects.count() + 1}"
        row = ManagedModel.objects.create(key=key, model_name=model_name, config=overrides)
    else:
        row.config = overrides
        row.save(update_fields=["config"])
    return model_activate(key=row.key, row_config=True)


def candidate_readiness(row: ManagedModel) -> Readiness:
    """How far the candidate is from taking over, and what it still waits for."""
    from search.cutoff_fit import COLLECTION_MIN_IMAGES

    name = row.model_name
    ready = Image.objects.filter(status=Image.Status.READY)
    total = ready.count()
    covered = Embedding.objects.filter(model_name=name, image__status=Image.Status.READY).count()
    coverage = 1.0 if total == 0 else covered / total
    result = Readiness(name, total, covered, coverage)
    if coverage + 1e-9 < search_config().model_switch_coverage:
        result.waiting.append(
            f"coverage {covered}/{total} ({coverage:.1%}; needs "
            f"{search_config().model_switch_coverage:.0%})"
        )
    minimum = max(search_config().threshold_min_images, 2)
    sized = (
        Embedding.objects.filter(model_name=name)
        .values("gallery_id")
        .annotate(n=Count("id"))
        .filter(n__gte=minimum)
        .values_list("gallery_id", flat=True)
    )
    have = set(
        GalleryStatistics.objects.filter(model_name=name).values_list("gallery_id", flat=True)
    )
    missing = sorted(set(sized) - have)
    if missing:
        slugs = dict(Gallery.objects.filter(pk__in=missing).values_list("pk", "slug"))
        result.statistics_missing = [slugs.get(g, str(g)) for g in missing]
        result.waiting.append(f"statistics of {len(missing)} galleries")
    fitted = CutoffCalibration.objects.filter(
        model_name=name, source__in=CutoffCalibration.FITTED
    ).exists()
    if fitted:
        result.cutoffs = "fitted"
    elif covered < COLLECTION_MIN_IMAGES:
        result.cutoffs = "too-small"  # nothing to fit them from: the defaults
    else:
        result.waiting.append("its own fitted cutoffs")
    return result


def model_switch_if_ready() -> ManagedModel | None:
    """Switch to the candidate if it is ready; returns the new active row, else None."""
    with transaction.atomic():
        candidate = ManagedModel.objects.select_for_update().filter(role=Role.CANDIDATE).first()
        if candidate is None:
            return None
        readiness = candidate_readiness(candidate)
        if not readiness.ready:
            note = "waiting for " + ", ".join(readiness.waiting)
            if note != candidate.switch_note:
                candidate.switch_note = note
                candidate.save(update_fields=["switch_note"])
            return None
        current = ManagedModel.objects.select_for_update().filter(role=Role.ACTIVE).first()
        now = timezone.now()
        if current is not None:
            current.role, current.role_since, current.switch_note = Role.RETIRED, now, ""
            current.save(update_fields=["role", "role_since", "switch_note"])
        candidate.role, candidate.role_since = Role.ACTIVE, now
        candidate.switch_note = (
            f"switched at {readiness.covered}/{readiness.ready_images} images; the collection "
            "was too small to fit cutoffs: the defaults until it grows"
            if readiness.cutoffs == "too-small"
            else f"switched at {readiness.covered}/{readiness.ready_images} images with its "
            "statistics and fitted cutoffs"
        )
        candidate.save(update_fields=["role", "role_since", "switch_note"])
        _epoch_bump()
    logger.info(
        "Search switched from %s to %s", current.model_name if current else "-", candidate.key
    )
    return candidate


# ---------------------------------------------------------------- catching up


def catch_up_start(*, force: bool = False) -> bool:
    """Queue the candidate's re-embedding chain unless one is running; True if queued."""
    if not site_config().background_tasks:
        return False
    if not force and not cache.add(CATCH_UP_MARK, 1, timeout=CATCH_UP_MARK_S):
        return False
    cache.set(CATCH_UP_MARK, 1, timeout=CATCH_UP_MARK_S)
    from search.tasks import model_catch_up

    model_catch_up.delay()
    return True


def catch_up_batch() -> dict[str, Any]:
    """Embed the next batch of ready images the candidate lacks; switch when done."""
    from indexing.embedding import images_embed
    from indexing.runtime import get_candidate_encoder, model_selection

    model_selection(fresh=True)
    candidate = ManagedModel.objects.filter(role=Role.CANDIDATE).first()
    if candidate is None:
        cache.delete(CATCH_UP_MARK)
        return {"candidate": None}
    ids = list(
        Image.objects.filter(status=Image.Status.READY)
        .exclude(embeddings__model_name=candidate.model_name)
        .order_by("id")
        .values_list("id", flat=True)[: search_config().model_reembed_batch]
    )
    if not ids:
        cache.delete(CATCH_UP_MARK)
        switched = model_switch_if_ready()
        return {"candidate": candidate.key, "embedded": 0, "switched": switched is not None}
    try:
        encoder = get_candidate_encoder()
    except EncoderUnavailable as exc:
        ManagedModel.objects.filter(pk=candidate.pk).update(
            switch_note=f"cannot load the candidate here: {exc}"
        )
        cache.delete(CATCH_UP_MARK)
        raise
    if encoder is None or encoder.name != candidate.model_name:
        cache.delete(CATCH_UP_MARK)
        return {"candidate": candidate.key, "embedded": 0, "stale": True}
    report = images_embed(image_ids=ids, encoder=encoder, secondary=True)
    if not report.embedded and not report.skipped:  # every one failed: do not loop on them
        ManagedModel.objects.filter(pk=candidate.pk).update(
            switch_note=f"{len(report.failed)} images could not be embedded by the candidate: "
            + "; ".join(f"{i}: {r}" for i, r in list(report.failed.items())[:5])
        )
        cache.delete(CATCH_UP_MARK)
        return {"candidate": candidate.key, "embedded": 0, "failed": len(report.failed)}
    cache.set(CATCH_UP_MARK, 1, timeout=CATCH_UP_MARK_S)
    return {"candidate": candidate.key, "embedded": len(report.embedded), "more": True}


def candidate_progress() -> list[dict[str, Any]]:
    """Per gallery: ready images and how many the candidate has embedded."""
    candidate = ManagedModel.objects.filter(role=Role.CANDIDATE).first()
    if candidate is None:
        return []
    ready = dict(
        Image.objects.filter(status=Image.Status.READY)
        .values_list("gallery_id")
        .annotate(n=Count("id"))
        .values_list("gallery_id", "n")
    )
    done = dict(
        Embedding.objects.filter(model_name=candidate.model_name, image__status="ready")
        .values_list("gallery_id")
        .annotate(n=Count("id"))
        .values_list("gallery_id", "n")
    )
    slugs = dict(Gallery.objects.filter(pk__in=ready).values_list("pk", "slug"))
    return [
        {
            "gallery": slugs.get(g, str(g)),
            "ready": n,
            "embedded": done.get(g, 0),
            "progress": round(min(done.get(g, 0) / n, 1.0), 4) if n else 1.0,
        }
        for g, n in sorted(ready.items(), key=lambda item: slugs.get(item[0], ""))
    ]


# ---------------------------------------------------------------- prune


@dataclass
class PruneReport:
    model_name: str
    embeddings: int = 0
    statistics: int = 0
    calibrations: int = 0
    overrides: int = 0
    file_bytes: int = 0


def models_prune(*, keys: list[str] | None = None) -> list[PruneReport]:
    """Delete retired models' embeddings, statistics, cutoffs, hashing and downloaded files.

    Never touches the active model or the candidate; afterwards a pruned model can
    only come back through a full re-embedding.
    """
    kept = ManagedModel.objects.filter(role__in=[Role.ACTIVE, Role.CANDIDATE])
    kept_names = set(kept.values_list("model_name", flat=True)) | {active_model_name()}
    kept_repos = {
        known_model(k).repo_id for k in kept.values_list("key", flat=True) if k in catalogue()
    }
    rows = ManagedModel.objects.filter(role=Role.RETIRED)
    if keys:
        rows = ManagedModel.objects.filter(key__in=keys)
        refused = [r.key for r in rows if r.role in (Role.ACTIVE, Role.CANDIDATE)]
        if refused:
            raise ModelError(f"{', '.join(refused)} is in use (active or candidate): not pruned.")
    reports = []
    for row in rows:
        if row.model_name in kept_names:
            continue
        report = PruneReport(row.model_name)
        while True:  # in batches: a large collection is millions of rows
            batch = list(
                Embedding.objects.filter(model_name=row.model_name).values_list("id", flat=True)[
                    :5000
                ]
            )
            if not batch:
                break
            report.embeddings += Embedding.objects.filter(id__in=batch).delete()[0]
        with transaction.atomic():
            report.statistics = GalleryStatistics.objects.filter(
                model_name=row.model_name
            ).delete()[0]
            report.calibrations = CutoffCalibration.objects.filter(
                model_name=row.model_name
            ).delete()[0]
            report.overrides = GalleryCutoffOverride.objects.filter(
                model_name=row.model_name
            ).delete()[0]
            HashingThresholds.objects.filter(model_name=row.model_name).delete()
            _feedback_rows_delete(row.model_name)
            row.role, row.role_since, row.switch_note = Role.NONE, timezone.now(), "pruned"
            row.save(update_fields=["role", "role_since", "switch_note"])
            _epoch_bump()  # processes drop the model's in-memory index
        if row.key in catalogue():
            report.file_bytes = model_files_remove(known_model(row.key), keep_repos=kept_repos)
        reports.append(report)
    return reports


def _feedback_rows_delete(model_name: str) -> None:
    """Per-model derived rows of other apps (refined vectors, cached explanations)."""
    from django.apps import apps

    # Expansions are people's words: kept (their vectors are recomputed per model).
    for label in ("feedback.RefinedVector", "explain.Explanation"):
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if any(f.name == "model_name" for f in model._meta.fields):
            model.objects.filter(model_name=model_name).delete()


# ---------------------------------------------------------------- overview


def models_overview() -> list[dict[str, Any]]:
    """Every known model with its size, presence, identity, role, pull and coverage."""
    rows = {r.key: r for r in ManagedModel.objects.all()}
    if not any(r.role == Role.ACTIVE for r in rows.values()):
        active_name = active_model_name()
    else:
        active_name = next(r.model_name for r in rows.values() if r.role == Role.ACTIVE)
    counts = dict(
        Embedding.objects.values_list("model_name")
        .annotate(n=Count("id"))
        .values_list("model_name", "n")
    )
    out = []
    keys = list(catalogue()) + [k for k in rows if k not in catalogue()]
    for key in keys:
        entry = catalogue().get(key)
        row = rows.get(key)
        identity = row.model_name if row else (_identity(entry) if entry else None)
        role = row.role if row else ""
        if not role and identity == active_name:
            role = "active"
        out.append(
            {
                "key": key,
                "title": entry.title if entry else key,
                "kind": entry.kind if entry else (row.config.get("kind") if row else ""),
                "recommended": bool(entry and entry.recommended),
                "download_bytes": entry.download_bytes if entry else 0,
                "stored_bytes": files_size(entry) if entry else 0,
                "present": model_files_present(entry) if entry else True,
                "identity": identity,
                "role": role,
                "embeddings": counts.get(identity, 0) if identity else 0,
                "pull_state": row.pull_state if row else "idle",
                "pull_done": row.pull_done if row else 0,
                "pull_total": row.pull_total if row else None,
                "pull_message": row.pull_message if row else "",
                "switch_note": row.switch_note if row else "",
                "note": entry.note if entry else "",
            }
        )
    return out


def models_status() -> dict[str, Any]:
    """The active model, the candidate with its readiness and per-gallery progress."""
    active = ManagedModel.objects.filter(role=Role.ACTIVE).first()
    candidate = ManagedModel.objects.filter(role=Role.CANDIDATE).first()
    status: dict[str, Any] = {
        "active": {
            "key": active.key if active else None,
            "model_name": active.model_name if active else active_model_name(),
            "since": active.role_since if active else None,
            "source": "managed" if active else "settings",
        },
        "candidate": None,
        "retired": list(
            ManagedModel.objects.filter(role=Role.RETIRED).values_list("key", flat=True)
        ),
        "switch_coverage": search_config().model_switch_coverage,
    }
    if candidate is not None:
        readiness = candidate_readiness(candidate)
        status["candidate"] = {
            "key": candidate.key,
            "model_name": candidate.model_name,
            "since": candidate.role_since,
            "ready_images": readiness.ready_images,
            "embedded": readiness.covered,
            "coverage": round(readiness.coverage, 4),
            "cutoffs": readiness.cutoffs or "missing",
            "statistics_missing": readiness.statistics_missing,
            "waiting_for": readiness.waiting,
            "note": candidate.switch_note,
            "galleries": candidate_progress(),
        }
    return status
