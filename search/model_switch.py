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
from indexing.model_store import model_files_present
from indexing.models import Embedding, IndexFeedState
from indexing.runtime import (
    active_model_name,
    selection_invalidate,
    settings_encoder_config,
)
from search.config import search_config
from search.cutoff_models import CutoffCalibration
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
        entry = next((m for m in catalogue().values() if model_identity(m) == name), None)
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


def model_identity(model: KnownModel) -> str | None:
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


def epoch_bump() -> None:
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
            epoch_bump()
            return current
        ManagedModel.objects.filter(role=Role.CANDIDATE).exclude(pk=row.pk).update(
            role=Role.RETIRED, role_since=timezone.now(), switch_note=""
        )
        row.role, row.role_since = Role.CANDIDATE, timezone.now()
        row.switch_note = "embedding the collection"
        row.save(update_fields=["role", "role_since", "switch_note"])
        epoch_bump()
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
        entry = next((m for m in catalogue().values() if model_identity(m) == model_name), None)
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
        epoch_bump()
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
