"""Prune: delete what retired models leave behind (embeddings, statistics, cutoffs, files).

Apps above search that keep rows per model (refined vectors, cached explanations)
delete theirs on the `model_pruned` signal (search/signals.py), in the same
transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from indexing.model_catalogue import catalogue, known_model
from indexing.model_models import ManagedModel
from indexing.model_store import model_files_remove
from indexing.models import Embedding, HashingThresholds
from indexing.runtime import (
    active_model_name,
)
from search.cutoff_models import CutoffCalibration, GalleryCutoffOverride, ModelScoreStatistics
from search.model_switch import ModelError, epoch_bump
from search.models import GalleryStatistics
from search.signals import model_pruned

logger = logging.getLogger(__name__)

Role = ManagedModel.Role

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
            ModelScoreStatistics.objects.filter(model_name=row.model_name).delete()
            model_pruned.send(ManagedModel, model_name=row.model_name)  # apps above: theirs
            row.role, row.role_since, row.switch_note = Role.NONE, timezone.now(), "pruned"
            row.save(update_fields=["role", "role_since", "switch_note"])
            epoch_bump()  # processes drop the model's in-memory index
        if row.key in catalogue():
            report.file_bytes = model_files_remove(known_model(row.key), keep_repos=kept_repos)
        reports.append(report)
    return reports
